"""Everything a `smartsync-tui` command writes to the terminal goes through here.

Values from AD, Identity, the settings file or the state store may carry
terminal escapes (an OSC 52 clipboard write, the 8-bit CSI ``\\x9b``), bidi
overrides or newlines that would forge a line. So:

- :func:`say` prints each record on one line through the one rule,
  :func:`smartsync_tui.core.text.printable` (and cuts very long lines: the
  whole value is in ``--json``); :func:`ask` and the secret prompts do the
  same to their prompt;
- :func:`print_json` escapes every character outside ASCII (``ensure_ascii``):
  the bytes carry no control or bidi character, and a script still reads the
  exact value back;
- :func:`report_error` gives every error one shape: ``error: ...`` on standard
  error, or ``{"error": ..., "kind": ...}`` on standard output with
  ``--json``, and returns the kind's exit code (the same either way).
"""

from __future__ import annotations

import json
import sys

from smartsync_tui.cli import exit_codes
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.text import printable
from smartsync_tui.i18n import _

#: The longest line :func:`say` prints; a longer one ends with '…' (3 MB attributes exist).
LINE_LIMIT = 2000


class CliError(UserError):
    """A command's own refusal or usage error; ``kind`` is one of :data:`exit_codes.KINDS`."""

    def __init__(self, message: str, *, kind: str) -> None:
        if kind not in exit_codes.KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(message, kind=kind)


def tolerant_streams() -> None:
    """A character the terminal's encoding cannot carry (a lone surrogate from a hand-edited
    settings file) is printed as '?' instead of stopping the command with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def safe(text: str) -> str:
    """``text`` as one terminal line: controls, separators and bidi marks as '?', cut at :data:`LINE_LIMIT`."""
    return printable(text, limit=LINE_LIMIT)


def say(*records: str, err: bool = False, flush: bool = False) -> None:
    """Print each record on a line of its own, through :func:`safe`."""
    stream = sys.stderr if err else sys.stdout
    for record in records:
        print(safe(record), file=stream, flush=flush)


def ask(prompt: str) -> str:
    """A line typed at the terminal; the prompt (it names a directory) goes through :func:`safe`."""
    return input(safe(prompt))


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=True))


def report_error(message: str, kind: str, *, json_output: bool) -> int:
    """Write an error the way the command was asked to (``--json`` or not); returns its exit code."""
    kind = exit_codes.kind_of(kind)
    if json_output:
        # One line: a script reads one JSON document, whatever the message holds.
        print(json.dumps({"error": message, "kind": kind}, ensure_ascii=True), flush=True)
    else:
        first, *rest = message.split("\n")
        # The core writes some messages over several lines (one per problem in a settings
        # file); the ones after the first are indented, so no line of a message can pass
        # for a line of its own.
        say(_("error: {message}").format(message=first), *(line if line[:1].isspace() else f"  {line}" for line in rest), err=True)
    return exit_codes.KINDS[kind]

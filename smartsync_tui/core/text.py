"""Text from outside (a login, a server's message, a log line) made safe to show.

One rule for every place that shows such text, in a terminal or a log file:
:data:`CONTROL` matches the C0 and C1 controls (C1 holds the 8-bit CSI
``\\x9b`` that terminals act on and ``\\x85``, a line break), the line and
paragraph separators (a fake new log line) and the bidi marks, overrides and
isolates (a line that reads other than it is), and lone surrogates (half a
character: writing one raises). Two renderings of that one rule:

- :func:`printable`, for screens: each such character becomes ``?`` and long
  values are cut (a table cell, a notification).
- :func:`escaped`, for logs: each becomes a visible escape (``\\n``, ``\\r``,
  ``\\t``, ``\\x1b``, ``\\x9b``, ``\\u202e``), so a log line keeps what was
  there for whoever reads it, but can neither end the line early (a forged
  record) nor reach a terminal that ``cat``\\s, ``tail -f``\\s or exports the log.
  :func:`continuation` renders the lines after a record's first one (a
  traceback) so that none of them can pass for a record.

Decisions, and why:

- Per character. Replacing ESC (or CSI ``\\x9b``, or BEL) itself is enough to
  neutralise a whole escape sequence (CSI, OSC 52 clipboard writes, title
  changes): what follows it is plain printable text, shown as it is.
- The backslash is not escaped, so ``\\n`` in the log may also have been a
  backslash and an ``n``: the rendering is for reading, not for decoding, and
  doubling every backslash would make each ``DOMAIN\\user`` of an AD log
  harder to read.
- Zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are left alone: they
  move no cursor, break no line and reorder nothing, and the joiners are part
  of real names (Persian, Indic scripts, emoji). A name that differs from
  another only by one is a spoofing question, not a terminal or log one.

Nothing here imports textual.
"""

from __future__ import annotations

import re

# Surrogates (U+D800-U+DFFF) too: alone in a str (a JSON escape "\\ud800", a file name decoded
# with surrogateescape) they are half a character that no terminal, file or log can be written.
CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)

# What starts every line of :func:`continuation`: not a digit, so never a record's
# timestamp (the export and the log pane's file follower start a record there), and
# not only spaces, so a viewer that trims lines still shows it as part of the record above.
CONTINUATION_PREFIX = "  | "

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with each control, separator or bidi character as ``?``; over ``limit`` characters, cut with '…'."""
    text = CONTROL.sub("?", text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escaped(text: str) -> str:
    """``text`` with each control, separator or bidi character as a visible escape: one line, nothing a terminal acts on."""
    return CONTROL.sub(_escape, text)


def continuation(text: str) -> str:
    """The lines after a record's first one (a traceback, a stack), each :func:`escaped` and prefixed.

    Only ``\\n`` separates lines (how :mod:`traceback` joins them); any other
    break or control inside a line is escaped. A line break that came from an
    exception's message therefore starts a prefixed line too: it reads as part
    of the traceback, never as a record of its own.
    """
    return "\n".join(CONTINUATION_PREFIX + escaped(line) for line in text.rstrip("\n").split("\n"))

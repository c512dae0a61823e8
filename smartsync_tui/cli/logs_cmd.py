"""`smartsync-tui logs export --log application|console [--since T] [--until T] -o FILE [--force]`.

A period without lines is not a failure (a nightly export of a quiet night):
the file holds one header line saying so, the command says it on standard
error and exits 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smartsync_tui.cli.exit_codes import OK
from smartsync_tui.cli.output import CliError, print_json, say
from smartsync_tui.cli.context import CliContext
from smartsync_tui.core.errors import InputError, SettingsError
from smartsync_tui.core.event_log import ExportExists, describe_period, export_log, parse_when
from smartsync_tui.i18n import day_first, detect_language


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    # `export` is the only action today; argparse refuses any other.
    dates_day_first = day_first(detect_language(_language_setting(ctx)))
    since = _when("since", args.since, end=False, day_first=dates_day_first)
    until = _when("until", args.until, end=True, day_first=dates_day_first)
    path = Path(args.output).expanduser().absolute()
    try:
        lines = export_log(ctx.home, args.log, since, until, path, overwrite=args.force, empty_ok=True)
    except ExportExists as exc:
        raise CliError(
            f"{exc.path} already exists: choose another file name, or pass --force to replace it.", kind="refused",
        ) from None
    period = describe_period(since, until)
    if lines == 0:
        say(f"The {args.log} log has no lines {period}; {path} holds only a header line saying so.", err=True)
    if args.json:
        print_json({"ok": True, "log": args.log, "file": str(path), "lines": lines})
    elif lines:
        say(f"Wrote {lines} lines of the {args.log} log ({period}) to {path}")
    return OK


def _language_setting(ctx: CliContext) -> str | None:
    """The `language` setting; None (the locale decides) when the settings file is broken:
    exporting the logs is how an admin finds out why, so it must not need the settings."""
    try:
        return ctx.settings().language
    except SettingsError:
        return None


def _when(flag: str, text: str | None, *, end: bool, day_first: bool):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    try:
        return parse_when(text, end=end, day_first=day_first)
    except InputError as exc:
        raise InputError(flag, f"--{flag}: {exc}") from None

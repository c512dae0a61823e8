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
from smartsync_tui.cli.context import CliContext, home_language
from smartsync_tui.core.errors import InputError
from smartsync_tui.logs.event_log import ExportExists, describe_period, export_log, parse_when
from smartsync_tui.i18n import N_, _, day_first, ngettext

# The two logs, as a sentence names them.
_LOG_NAMES = {"application": N_("application log"), "console": N_("console log")}


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    # `export` is the only action today; argparse refuses any other.
    # Dates are read as the admin's language writes them, even with --json (whose output is English).
    dates_day_first = day_first(home_language(ctx.home))
    since = _when("since", args.since, end=False, day_first=dates_day_first)
    until = _when("until", args.until, end=True, day_first=dates_day_first)
    path = Path(args.output).expanduser().absolute()
    try:
        lines = export_log(ctx.home, args.log, since, until, path, overwrite=args.force, empty_ok=True)
    except ExportExists as exc:
        raise CliError(
            _("{file} already exists: choose another file name, or pass --force to replace it.").format(file=exc.path),
            kind="refused",
        ) from None
    period = describe_period(since, until)
    log_name = _(_LOG_NAMES[args.log])
    if lines == 0:
        say(_("The {log} has no lines {period}; {file} holds only a header line saying so.").format(  # not a count
            log=log_name, period=period, file=path), err=True)
    if args.json:
        print_json({"ok": True, "log": args.log, "file": str(path), "lines": lines})
    elif lines:
        say(ngettext("Wrote {lines} line of the {log} ({period}) to {file}",
                     "Wrote {lines} lines of the {log} ({period}) to {file}", lines).format(
            lines=lines, log=log_name, period=period, file=path))
    return OK


def _when(flag: str, text: str | None, *, end: bool, day_first: bool):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    try:
        return parse_when(text, end=end, day_first=day_first)
    except InputError as exc:
        raise InputError(flag, f"--{flag}: {exc}") from None

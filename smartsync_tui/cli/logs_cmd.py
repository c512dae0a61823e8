"""`smartsync-tui logs export --log application|console [--since T] [--until T] -o FILE [--force]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartsync_tui.cli.context import CliContext, print_json
from smartsync_tui.core.errors import InputError
from smartsync_tui.core.event_log import ExportExists, NothingToExport, describe_period, export_log, parse_when

EXIT_OK, EXIT_FAILED = 0, 1


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    # `export` is the only action today; argparse refuses any other.
    since = _when("since", args.since, end=False)
    until = _when("until", args.until, end=True)
    path = Path(args.output).expanduser().absolute()
    try:
        lines = export_log(ctx.home, args.log, since, until, path, overwrite=args.force)
    except ExportExists as exc:
        print(f"error: {exc.path} already exists: choose another file name, or pass --force to replace it.", file=sys.stderr)
        return EXIT_FAILED
    except NothingToExport as exc:
        if args.json:
            print_json({"ok": False, "log": args.log, "lines": 0, "error": str(exc)})
        else:
            print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print_json({"ok": True, "log": args.log, "file": str(path), "lines": lines})
    else:
        print(f"Wrote {lines} lines of the {args.log} log ({describe_period(since, until)}) to {path}")
    return EXIT_OK


def _when(flag: str, text: str | None, *, end: bool):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    try:
        return parse_when(text, end=end)
    except InputError as exc:
        raise InputError(flag, f"--{flag}: {exc}") from None

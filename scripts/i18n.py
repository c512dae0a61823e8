#!/usr/bin/env python3
"""The console's translations: ``update`` the catalogues from the code, or ``check`` them.

    python scripts/i18n.py update   # extract _()/ngettext() strings, merge into every .po, compile the .mo files
    python scripts/i18n.py check    # exit 1 listing what is missing or stale

After ``update``, translate the entries with an empty ``msgstr`` in
smartsync_tui/locale/pt_BR/LC_MESSAGES/smartsync.po and run ``update`` again
(it recompiles the .mo). Standard library only; the work is done by
scripts/catalogue.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import catalogue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("update", "check"))
    args = parser.parse_args(argv)
    if args.command == "update":
        written, problems = catalogue.update()
        for problem in problems:
            print(f"{'error' if problem.fatal else 'warning'}: {problem.location}: {problem.text}", file=sys.stderr)
        for path in written:
            print(f"wrote {path}")
        if not written:
            print("catalogues already up to date")
        errors, _warnings = catalogue.check()
        untranslated = [e for e in errors if "has no translation" in e or "fuzzy" in e]
        if untranslated:
            print(f"{len(untranslated)} string(s) to translate; run `python scripts/i18n.py check` for the list")
        return 1 if any(p.fatal for p in problems) else 0
    errors, warnings = catalogue.check()
    for warning in warnings:
        print(f"warning: {warning}")
    for error in errors:
        print(f"error: {error}")
    if errors:
        print(f"{len(errors)} problem(s); fix the code or translate, then run: python scripts/i18n.py update")
        return 1
    print("catalogues complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())

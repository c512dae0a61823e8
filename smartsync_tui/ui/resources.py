"""Where the console's stylesheets are.

In a checkout they sit in the top-level ``styles/``; an installed wheel
carries the same folder inside the package (pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def styles_dir() -> Path:
    for candidate in (_PACKAGE / "styles", _PACKAGE.parent / "styles"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the console's styles/ folder is missing from this installation; reinstall smartsync-tui")


def stylesheets() -> list[Path]:
    return sorted(styles_dir().glob("*.tcss"))

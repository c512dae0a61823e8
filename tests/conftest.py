"""Test-wide set-up: real servers (a Samba AD DC, the Identity emulator) and
SVG snapshots under the top-level snapshots/ folder."""

from __future__ import annotations

from pathlib import Path

import pytest_textual_snapshot

pytest_plugins = [
    name
    for name in ("tests.support.samba", "tests.support.emulator", "tests.support.sync_env")
    if (Path(__file__).parent / "support" / f"{name.rsplit('.', 1)[1]}.py").exists()
]

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


class _TopLevelSnapshots(pytest_textual_snapshot.SVGImageExtension):
    """Store each module's snapshots in snapshots/<test module>/ (not tests/__snapshots__)."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOTS / Path(test_location.filepath).stem)


# The plugin looks this name up when its fixture runs (pytest-textual-snapshot 1.1.0, pinned).
pytest_textual_snapshot.SVGImageExtension = _TopLevelSnapshots

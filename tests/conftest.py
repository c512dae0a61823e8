"""Test-wide set-up: real servers (a Samba AD DC, the Identity emulator) and
SVG snapshots under the top-level snapshots/ folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_textual_snapshot

pytest_plugins = [
    name
    for name in ("tests.support.samba", "tests.support.emulator", "tests.support.sync_env", "tests.support.scim_server")
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


# The suite runs on two pytest-xdist workers (pyproject's addopts: -n 2 --dist loadgroup), since
# most tests wait on servers and subprocesses rather than compute. What cannot be doubled stays on
# one worker: the Samba DC (one per machine: its ports are fixed), and the snapshot modules that
# share a fixed home folder (its path is drawn on screen, so it cannot be made unique per worker).
_SHARED_HOME_MODULES = frozenset({
    "test_console_dialogs", "test_console_home", "test_console_portuguese", "test_console_shell",
    "test_console_wizard",
})


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "samba_dc" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("samba-dc"))
        elif item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in _SHARED_HOME_MODULES:
            item.add_marker(pytest.mark.xdist_group("snapshot-homes"))


@pytest.fixture(autouse=True)
def _restore_smartsync_logging():
    """Tests that set up the agent's logging in-process (the console, the CLI's
    context) must not leave handlers or propagate=False behind for the next test."""
    import logging

    loggers = [logging.getLogger(name) for name in ("smartsync", "smartsync.audit")]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    yield
    for lg, handlers, propagate, level in saved:
        for handler in list(lg.handlers):
            if handler not in handlers:
                lg.removeHandler(handler)
                handler.close()
        lg.propagate, lg.level = propagate, level


@pytest.fixture
def portuguese():
    """The product in Brazilian Portuguese for one test, then English again even if it fails."""
    from smartsync_tui.i18n import set_language

    set_language("pt_BR")
    try:
        yield
    finally:
        set_language("en")


@pytest.fixture
def english():
    """The product in English whatever the machine's locale (the catalogue is cached per language)."""
    from smartsync_tui.i18n import set_language

    set_language("en")
    yield

"""The console tells the truth about a failed run and about which engine syncs.

A run that fails on AD (a port nothing listens on) after Identity answered
shows Failed, when it was tried and Identity ✓ (it answered); one that Identity
refuses shows Identity ✗; the run is recorded with the mode it ran in. An
attached console names the engine and its pid in the header (at 80 columns)
and in Home's status.
"""

from __future__ import annotations

import socket

import pytest
from textual.widgets import DataTable, Static

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    load_settings,
    save_settings,
)
from smartsync_tui.engine.results import SyncResult
from smartsync_tui.engine.plan import PlannedOp, SyncPlan
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.preview import PreviewScreen
from smartsync_tui.ui.screens.row_view import FULL_LIMIT, RowView
from tests.support.hostile import plain, screen_lines
from tests.support.tables import directory_row, row_cells
from tests.support.waiting import settle


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _console(env) -> SmartSyncApp:  # type: ignore[no-untyped-def]
    return SmartSyncApp(env.home, load_settings(env.home.settings_file), secrets=env.secrets, scheduler=False)


async def _sync_now(app: SmartSyncApp, pilot) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Press s on the Active Directory tab and read the row once the run ended."""
    await pilot.press("d", "s")
    await settle(app)
    await pilot.pause()
    return directory_row(app)


@pytest.mark.samba
async def test_a_run_failed_on_ad_says_when_it_was_tried_and_that_identity_answered(sync_env):
    settings = load_settings(sync_env.home.settings_file, environment=False)
    settings.directories[0] = settings.directories[0].model_copy(update={"server": "127.0.0.1", "port": _closed_port(),
                                                                         "tls": "plain"})
    save_settings(sync_env.home.settings_file, settings)
    app = _console(sync_env)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        cells = await _sync_now(app, pilot)
        assert cells["sync"] == "Failed"
        assert cells["last"] == "tried just now", "a failed run is not a sync"
        assert cells["target"] == "Identity ✓", "Identity answered the directory's record before AD failed"
        await pilot.press("enter")
        await pilot.pause()
        run = row_cells(app.screen.query_one("#runs-table", DataTable))
        assert run["Outcome"] == "failed" and run["Mode"] == "full", "the first run of a directory is a full one"
        assert "127.0.0.1" in run["Error"]


@pytest.mark.samba
async def test_a_run_identity_refuses_shows_identity_disconnected(sync_env):
    sync_env.emulator.revoke_token(sync_env.identity_directory)
    app = _console(sync_env)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        cells = await _sync_now(app, pilot)
        assert (cells["sync"], cells["target"]) == ("Failed", "Identity ✗")
        assert cells["last"].startswith("tried")


def _home(tmp_path):  # type: ignore[no-untyped-def]
    home = resolve_home(tmp_path / "home").ensure()
    settings = AppSettings(directories=[DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example",
                                                          bind_user="svc@corp.example", base_dn="DC=corp,DC=example")])
    save_settings(home.settings_file, settings)
    return home, settings


async def test_an_attached_console_names_the_engine_and_its_pid_at_80_columns(tmp_path):
    home, settings = _home(tmp_path)
    app = SmartSyncApp(home, settings, attached_pid=48213, attached_mode="run")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "pid 48213" in screen_lines(app)[0], "the header's first row shows the engine's pid"
        status = str(app.query_one("#status-info", Static).render())
        assert "smartsync-tui run (pid 48213)" in status


async def test_a_console_that_is_the_engine_says_so_in_home(tmp_path):
    home, settings = _home(tmp_path)
    app = SmartSyncApp(home, settings, scheduler=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "this console (pid " in str(app.query_one("#status-info", Static).render())


async def test_a_huge_attribute_is_cut_in_the_preview_and_bounded_in_its_row_view(tmp_path):
    """A 3 MB value: the table's cell and the row view each show a bounded part of it."""
    home, settings = _home(tmp_path)
    huge = "x" * 3_000_000
    op = PlannedOp("g1", "user", "update", "CN=Big,DC=corp,DC=example", {"login": "big"},
                   changes=[("first_name", "a", huge)])
    result = SyncResult("corp", dry_run=True, outcome="ok", plan=SyncPlan("corp", "delta", "test", ops=[op]))
    app = SmartSyncApp(home, settings, scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(PreviewScreen(result))
        await pilot.pause()
        table = app.screen.query_one("#plan-table", DataTable)
        assert len(plain(table.get_row_at(0)[2])) <= 200
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RowView)
        shown = [plain(s.render()) for s in app.screen.query(".row-view-value").results(Static)]
        assert max(map(len, shown)) <= FULL_LIMIT


@pytest.mark.samba
async def test_a_create_identity_refused_is_not_counted_as_created(sync_env):
    ad = sync_env.ad
    dns = [ad.add_user(f"u{i}", f"Nome{i}", "Silva") for i in range(3)]
    sync_env.emulator.refuse(sync_env.identity_directory, ad.guid(dns[0]), "refused for this test")
    app = _console(sync_env)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        cells = await _sync_now(app, pilot)
        assert cells["sync"] == "Partial"
        await pilot.press("enter")
        await pilot.pause()
        run = row_cells(app.screen.query_one("#runs-table", DataTable))
        assert run["Changes"] == "created 2, not applied 1"

"""The Active Directory tab driven by keys, against the live DC and emulator."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Checkbox, DataTable

from smartsync_tui.config.settings import load_settings
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.confirm_delete import ConfirmDeleteDialog
from smartsync_tui.ui.screens.confirm_quit import ConfirmQuitDialog
from smartsync_tui.ui.screens.details import DirectoryDetails
from smartsync_tui.ui.screens.preview import PreviewScreen
from smartsync_tui.ui.screens.threshold import ThresholdDialog
from tests.support.tables import directory_row, row_cells
from tests.support.waiting import settle
from tests.test_sync_engine import seed_basic

pytestmark = pytest.mark.samba


def console(env) -> SmartSyncApp:
    return SmartSyncApp(env.home, load_settings(env.home.settings_file), secrets=env.secrets, scheduler=False)


def row(app: SmartSyncApp) -> list[str]:
    return directory_row(app)


async def test_sync_now_turns_the_row_synced_with_the_counts(sync_env):
    seed_basic(sync_env)
    app = console(sync_env)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d", "s")
        await settle(app)
        await pilot.pause()
        cells = row(app)
        assert (cells["target"], cells["sync"], cells["users"], cells["groups"]) == ("Identity ✓", "Synced", "3", "2")
        assert cells["base_dn"] == sync_env.ad.ou
        assert len(sync_env.identity_users()) == 3

        await pilot.press("enter")
        await pilot.pause()
        details = app.screen
        assert isinstance(details, DirectoryDetails)
        runs = details.query_one("#runs-table", DataTable)
        assert runs.row_count == 1 and "created 3" in row_cells(runs)["Changes"]
        skipped = details.query_one("#skipped-table", DataTable)
        assert skipped.row_count == 2
        await pilot.press("escape")


async def test_preview_shows_a_pending_change_and_changes_nothing(sync_env):
    dns = seed_basic(sync_env)
    assert sync_env.sync().outcome == "ok"
    sync_env.ad.modify(dns["ana"], sn="Lima")
    app = console(sync_env)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d", "p")
        await settle(app)
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)
        table = app.screen.query_one("#plan-table", DataTable)
        cells = [str(c) for c in table.get_row_at(0)]
        assert cells[0] == "update" and cells[1] == sync_env.ad.login("ana.goncalves")
        assert cells[2] == "last name: Gonçalves → Lima"
        await pilot.press("escape")
    assert sync_env.by_login()["ana.goncalves"]["last_name"] == "Gonçalves"


async def test_threshold_dialog_allows_the_held_disables(sync_env):
    seed_basic(sync_env)
    assert sync_env.sync().outcome == "ok"
    def nobody(settings):
        settings.directories[0].user_filter = "(&(objectCategory=person)(sAMAccountName=nobody-at-all))"
    app = console(sync_env)
    async with app.run_test(size=(120, 40)) as pilot:
        app.change_settings(nobody)
        await pilot.press("d", "s")
        await settle(app)
        await pilot.pause()
        assert isinstance(app.screen, ThresholdDialog)
        held = app.screen.query_one("#held-table", DataTable)
        assert held.row_count == 3
        assert row(app)["sync"] == "Held back"
        assert all(u["active"] for u in sync_env.identity_users().values())
        await pilot.click("#allow")
        await pilot.pause()
        await settle(app)
        await pilot.pause()
        assert row(app)["sync"] == "Synced"
    assert not any(u["active"] for u in sync_env.identity_users().values())


async def test_delete_needs_the_checkbox_ticked(sync_env):
    app = console(sync_env)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d", "x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDeleteDialog)
        assert dialog.query_one("#delete", Button).disabled
        await pilot.click("#delete")
        await pilot.pause()
        assert app.screen is dialog  # unticked: nothing happens
        assert load_settings(sync_env.home.settings_file).directories
        dialog.query_one("#understood", Checkbox).value = True
        await pilot.pause()
        await pilot.click("#delete")
        await pilot.pause()
        assert load_settings(sync_env.home.settings_file).directories == []
        await settle(app)  # its secrets and rows go once no batch is in flight
        assert "directory/corp/" not in sync_env.home.secrets_file.read_text()
        assert sync_env.state.runs("corp") == []
        assert app.query_one("#directory-table", DataTable).row_count == 0


async def test_the_log_pane_shows_the_engine_lines_live(sync_env):
    import logging

    from smartsync_tui.ui.widgets.log_pane import LogPane

    seed_basic(sync_env)
    logging.getLogger("smartsync").setLevel(logging.INFO)  # what `smartsync-tui` sets up
    app = console(sync_env)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l", "d", "s")
        await settle(app)
        await pilot.pause(0.3)  # the pane drains its buffer every 100 ms
        shown = "\n".join(app.query_one(LogPane).shown)
        assert "sync corp: full (first sync of this directory)" in shown
        assert "sync corp full: ok" in shown and "create 3" in shown
        assert sync_env.ad.dc.admin_password not in shown


async def test_quitting_mid_sync_stops_between_batches_and_loses_nothing(sync_env):
    import asyncio

    for i in range(30):
        sync_env.ad.add_user(f"q{i:02d}", "Quit", f"Q {i}")
    app = console(sync_env)
    sync_env.emulator.faults(latency_ms=150)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            def small_batches(settings):
                settings.sync.batch_size = 3
                settings.sync.concurrency = 1
            app.change_settings(small_batches)
            await pilot.press("d", "s")
            for _ in range(200):
                await asyncio.sleep(0.05)
                if len(sync_env.identity_users()) >= 6:
                    break
            await pilot.press("q")  # a sync runs here: the console asks first
            await pilot.pause()
            assert isinstance(app.screen, ConfirmQuitDialog)
            await pilot.press("q")  # q again: quit
            await pilot.pause()
            assert not app.is_running, "the second q quits"
        worker_threads_done = not any(w.is_running for w in app.workers)
    finally:
        sync_env.emulator.clear_faults()
    assert worker_threads_done
    landed = len(sync_env.identity_users())
    assert 6 <= landed < 30
    # What Identity confirmed is recorded; the rest is pending and the next run finishes it.
    assert sync_env.state.counts("corp")["users"] + len(sync_env.state.pending("corp")) == 30
    assert sync_env.sync().outcome == "ok"
    assert len(sync_env.identity_users()) == 30

"""Snapshots of the Active Directory tab's dialogs (fixed data, no servers)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, DirectorySettings, save_settings
from smartsync_tui.store.state_store import LoginCheckRecord, PendingOp, StateStore
from smartsync_tui.engine.results import SyncResult
from smartsync_tui.engine.plan import GONE_FROM_SCOPE, PlannedOp, SyncPlan
from smartsync_tui.i18n import _
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.confirm_delete import ConfirmDeleteDialog
from smartsync_tui.ui.screens import details
from smartsync_tui.ui.screens.details import DirectoryDetails, login_check_summary, skipped_reason
from smartsync_tui.ui.screens.confirm_quit import ConfirmQuitDialog
from smartsync_tui.ui.screens.preview import PreviewScreen
from smartsync_tui.ui.screens.threshold import ThresholdDialog
from smartsync_tui.ui.widgets.home_tab import HomeTab
from tests.support.plans import engine_reason, held_planner

HOME = Path(tempfile.gettempdir()) / "smartsync-dialog-snapshot-home"
SIZES = [(80, 24), (120, 40)]
CORP = DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                         base_dn="DC=corp,DC=example")


def _app(monkeypatch) -> SmartSyncApp:
    monkeypatch.setattr(HomeTab, "default_clock", lambda: 1_800_000_000.0)
    shutil.rmtree(HOME, ignore_errors=True)
    home = resolve_home(HOME).ensure()
    settings = AppSettings(directories=[CORP])
    save_settings(home.settings_file, settings)
    with StateStore(home.state_db) as state:
        run = state.start_run("corp", "full", dry_run=False)
        state.finish_run(run, outcome="ok", counts={"create": 182, "group_create": 45}, mode="full")
        state.set_skipped("corp", [("g-1", "CN=Sem Email,OU=Staff,DC=corp,DC=example",
                                    "missing mail (Identity requires first name, last name and e-mail)")], replace_all=True)
        state.add_pending("corp", [PendingOp("g-2", "user", "create", "CN=Ana,OU=Staff,DC=corp,DC=example", {})])
        now = time.time()
        for i, (login, outcome, reason, ms) in enumerate([
            ("maria.silva@corp.example", "allowed", None, 84.2), ("CORP\\joao.conceicao", "denied", "invalid_credentials", 41.0),
            ("roberto.bastos", "denied", "account_disabled", 38.5), ("ivan.petrov", "allowed", None, 90.1),
            ("ana.lima", "expired", "expired", 0.4),
        ]):
            state.record_login_check("corp", LoginCheckRecord(now - 60 * (5 - i), login, outcome, reason, ms))
    return SmartSyncApp(home, settings, scheduler=False)


def _engine_state():  # type: ignore[no-untyped-def]
    """A scratch state store: the plan's reason and held note come from the engine's own code,
    so each language's snapshot shows what an admin reads."""
    folder = Path(tempfile.mkdtemp(prefix="smartsync-plan-"))
    return StateStore(folder / "state.db")


def _plan() -> SyncPlan:
    with _engine_state() as state:
        mode, reason = engine_reason(state)
    plan = SyncPlan("corp", mode, reason, users_read=3, groups_read=1)
    plan.ops = [
        PlannedOp("g-a", "user", "create", "CN=João Conceição,OU=Staff,DC=corp,DC=example",
                  {"login": "joao.conceicao@corp.example"}),
        PlannedOp("g-b", "user", "update", "CN=Ana Lima,OU=Staff,DC=corp,DC=example",
                  {"login": "ana.lima@corp.example"}, [("last_name", "Gonçalves", "Lima")]),
        PlannedOp("g-c", "group", "group-update", "CN=TI,OU=Groups,DC=corp,DC=example", {"name": "TI"},
                  [("members-", ["ivan.petrov@corp.example"], None)]),
    ]
    return plan


def _held_result() -> SyncResult:
    with _engine_state() as state:
        mode, reason = engine_reason(state, filters_changed=True)
        plan = held_planner(state, 12, max_count=10, mode=mode, reason=reason, why=_(GONE_FROM_SCOPE)).plan
    return SyncResult("corp", mode="full", outcome="held", plan=plan)


# -- what each snapshot opens (module level: the Portuguese snapshots open the same)


async def open_delete(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.push_screen(ConfirmDeleteDialog(CORP))
    await pilot.pause()


async def open_threshold(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.push_screen(ThresholdDialog(_held_result()))
    await pilot.pause()


async def open_preview(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.push_screen(PreviewScreen(SyncResult("corp", dry_run=True, mode="delta", outcome="ok", plan=_plan())))
    await pilot.pause()


def login_checks_opener(monkeypatch):  # type: ignore[no-untyped-def]
    async def open_it(pilot) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setattr("smartsync_tui.ui.screens.details._when",
                            lambda ts, short=False: "08:00:00" if short else "2027-01-15 08:00:00")
        pilot.app.push_screen(DirectoryDetails(CORP, pilot.app.state))
        await pilot.pause()
        await pilot.press("2")  # the footer's key for the Login checks tab
        await pilot.pause()

    return open_it


def details_opener(monkeypatch):  # type: ignore[no-untyped-def]
    async def open_it(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        # Run times vary; show a fixed one.
        monkeypatch.setattr("smartsync_tui.ui.screens.details._when", lambda ts, short=False: "2027-01-15 08:00:00")
        app.push_screen(DirectoryDetails(CORP, app.state))
        await pilot.pause()

    return open_it


async def open_row_view(pilot) -> None:  # type: ignore[no-untyped-def]
    plan = _plan()
    plan.ops[1].changes.append(("department", "Tecnologia da Informação e Infraestrutura",
                                "Projetos [/2019] e Compras [SP]: " + "muito longo " * 12))
    pilot.app.push_screen(PreviewScreen(SyncResult("corp", dry_run=True, mode="delta", outcome="ok", plan=plan)))
    await pilot.pause()
    await pilot.press("down", "enter")
    await pilot.pause()


HELP_KEYS = ["d", "question_mark"]


def quit_question_opener(reasons: list[str]):  # type: ignore[no-untyped-def]
    async def open_it(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(ConfirmQuitDialog(reasons))
        await pilot.pause()

    return open_it


QUIT_REASON = "A sync of corp runs in this console: it stops between batches."


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_delete_dialog(snap_compare, monkeypatch, size):
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=open_delete)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_threshold_dialog(snap_compare, monkeypatch, size):
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=open_threshold)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_preview_screen(snap_compare, monkeypatch, size):
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=open_preview)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_details_login_checks(snap_compare, monkeypatch, size):
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=login_checks_opener(monkeypatch))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_details_screen(snap_compare, monkeypatch, size):
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=details_opener(monkeypatch))


async def test_the_details_keys_switch_tabs_and_the_tables_follow_new_checks(monkeypatch):
    monkeypatch.setattr(DirectoryDetails, "REFRESH_SECONDS", 0.1)
    app = _app(monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(DirectoryDetails(CORP, app.state))
        await pilot.pause()
        screen = app.screen
        tabs = screen.query_one("#details-tabs", TabbedContent)
        for key, tab in (("2", "login-checks"), ("3", "skipped"), ("1", "runs"), ("2", "login-checks")):
            await pilot.press(key)
            assert tabs.active == tab
        table = screen.query_one("#login-checks-table", DataTable)
        assert table.row_count == 5
        table.focus()
        await pilot.press("down", "down")  # on the third newest: roberto.bastos
        assert str(table.get_row_at(table.cursor_row)[1]) == "roberto.bastos"
        app.state.record_login_check("corp", LoginCheckRecord(time.time(), "nova.pessoa", "allowed", None, 50.0))
        await pilot.pause(0.5)
        assert table.row_count == 6 and str(table.get_row_at(0)[1]) == "nova.pessoa"
        assert str(table.get_row_at(table.cursor_row)[1]) == "roberto.bastos"  # the cursor stayed on its check
        assert "6 checks" in str(screen.query_one("#login-check-summary", Static).render())


def test_the_rate_is_over_the_time_the_checks_cover():
    now = 1_800_000_000.0
    burst = [LoginCheckRecord(now - i, "a", "allowed", None, 10.0) for i in range(10)]  # 10 checks in 10 s
    assert "(10.0/min)" in login_check_summary(burst, now)
    spread = [LoginCheckRecord(now - 60 * i, "a", "allowed", None, 10.0) for i in range(1, 31)]  # 30 in 30 min
    assert "(1.0/min)" in login_check_summary(spread, now)


def test_run_modes_outcomes_and_skip_reasons_are_words_to_translate():
    assert skipped_reason("missing mail (Identity requires first name, last name and e-mail)") == (
        "missing mail (Identity requires first name, last name and e-mail)")
    assert skipped_reason("something new") == "something new"
    assert {"full", "delta"} <= set(details.RUN_MODES)
    assert {"ok", "partial", "held", "cancelled", "failed"} <= set(details.RUN_OUTCOMES)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_row_view(snap_compare, monkeypatch, size):
    """Enter on a preview row: every column whole, wrapped."""
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=open_row_view)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, monkeypatch, size):
    """? on the Active Directory tab: the keys that work there."""
    assert snap_compare(_app(monkeypatch), terminal_size=size, press=HELP_KEYS)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_bracketed_names_in_the_table(snap_compare, monkeypatch, size):
    """Names as real directories have them, shown as typed (they once ended the console)."""
    app = _app(monkeypatch)
    settings = app.settings
    settings.directories = [
        CORP.model_copy(update={"display_name": "Compras [SP]", "base_dn": "OU=Projetos [/2019],DC=corp,DC=example"}),
        CORP.model_copy(update={"id": "ti", "display_name": "[TI] Suporte [b]x[/b] [@click=app.quit]"}),
    ]
    save_settings(app.home.settings_file, settings)
    assert snap_compare(app, terminal_size=size, press=["d"])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quit_question(snap_compare, monkeypatch, size):
    assert snap_compare(_app(monkeypatch), terminal_size=size, run_before=quit_question_opener([QUIT_REASON]))
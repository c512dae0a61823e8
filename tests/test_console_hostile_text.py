"""Outside text is data on every screen of the console: never markup, never a terminal escape.

Hostile strings (tests/support/hostile.py) reach the console the ways real ones
do: a directory's name in the settings file, what the state store keeps (a
failed run's error, a login typed at Identity's login page, a skipped object's
DN), what a sync reads from AD (the in-memory directory here, Samba in
test_console_hostile_samba.py), a notification. The walk opens every screen;
after each step nothing on screen is a control character, and nothing holding
outside text reached a markup parser (the canary watch), whichever widget
shows it.
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import DataTable

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, DirectorySettings, ProxySettings, save_settings
from smartsync_tui.store.state_store import LoginCheckRecord, PendingOp, StateStore
from smartsync_tui.engine.results import SyncResult
from smartsync_tui.engine.plan import PlannedOp, SyncPlan
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.literal import clean
from smartsync_tui.ui.screens.details import DirectoryDetails
from smartsync_tui.ui.screens.row_view import RowView
from smartsync_tui.ui.screens.threshold import ThresholdDialog, held_result
from tests.support.hostile import CANARY, MarkupWatch, hostile_text, plain, screen_lines, screen_problems

HOSTILE = hostile_text()


def _home(tmp_path, name: str, base_dn: str = "DC=corp,DC=test"):  # type: ignore[no-untyped-def]
    home = resolve_home(tmp_path / f"home-{uuid.uuid4().hex[:6]}").ensure()
    settings = AppSettings(
        proxy=ProxySettings(mode="none"),
        directories=[DirectorySettings(id="corp", display_name=name, server="dc1.corp.test", bind_user="svc@corp.test",
                                       base_dn=base_dn)],
    )
    save_settings(home.settings_file, settings)
    return home, settings


def _store(home, text: str) -> None:  # type: ignore[no-untyped-def]
    """What a sync and the login checks keep, each carrying ``text``."""
    with StateStore(home.state_db) as state:
        run = state.start_run("corp", "delta", dry_run=False)
        state.finish_run(run, outcome="failed", counts={}, error=f"Identity refused: {text}")
        for outcome, reason in (("denied", "unknown_user"), ("error", text)):
            state.record_login_check("corp", LoginCheckRecord(time.time(), text, outcome, reason, 12.0))
        state.set_skipped("corp", [(str(uuid.uuid4()), f"CN={text},OU=Staff,DC=corp,DC=test", f"missing {text}")],
                          replace_all=True)
        state.hold("corp", [PendingOp(str(uuid.uuid4()), "user", "disable", f"CN={text},DC=corp,DC=test",
                                      {"login": text})])


def _plan(text: str) -> SyncResult:
    """A preview's plan whose names, values and DNs carry ``text`` (as one read from AD would)."""
    ops = [
        PlannedOp(str(uuid.uuid4()), "user", "create", f"CN={text},DC=corp,DC=test", {"login": text}),
        PlannedOp(str(uuid.uuid4()), "user", "update", "CN=x,DC=corp,DC=test", {"login": "x"},
                  changes=[("first_name", "old", text)]),
    ]
    plan = SyncPlan("corp", mode="delta", mode_reason=text, ops=ops)
    return SyncResult("corp", dry_run=True, mode="delta", outcome="ok", plan=plan)


def _check(app, watch: MarkupWatch, where: str) -> None:  # type: ignore[no-untyped-def]
    assert not screen_problems(app), f"{where}: a control character reaches the terminal: {screen_problems(app)[:2]}"
    assert not watch.parsed, f"{where}: outside text was read as markup: {watch.parsed[0]!r}"


def _on_screen(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(screen_lines(app))


async def walk_every_screen(app: SmartSyncApp, pilot, watch: MarkupWatch, text: str) -> None:  # type: ignore[no-untyped-def]
    """Open each screen the console has over ``text``-laden data, checking after each step."""
    await pilot.press("d")
    await pilot.pause()
    _check(app, watch, "directory table")
    table = app.query_one("#directory-table", DataTable)
    assert plain(table.get_row_at(0)[0]).startswith(clean(text)[:20])
    assert CANARY in _on_screen(app)

    await pilot.press("enter")
    await pilot.pause()
    details = app.screen
    assert isinstance(details, DirectoryDetails)
    _check(app, watch, "details: runs")
    for tab, table_id in (("1", "runs-table"), ("2", "login-checks-table"), ("3", "skipped-table")):
        await pilot.press(tab)
        await pilot.pause()
        _check(app, watch, f"details tab {tab}")
        rows = details.query_one(f"#{table_id}", DataTable)
        assert rows.row_count >= 1
        assert any(CANARY in plain(cell) for cell in rows.get_row_at(0)), table_id
        rows.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RowView), table_id
        _check(app, watch, f"row view of {table_id}")
        assert CANARY in _on_screen(app)
        await pilot.press("escape")
        await pilot.pause()
    await pilot.press("escape")
    await pilot.pause()

    app.show_preview(_plan(text))
    await pilot.pause()
    _check(app, watch, "preview")
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, RowView)
    _check(app, watch, "preview row")
    await pilot.press("escape", "escape")
    await pilot.pause()

    app.show_threshold(held_result("corp", app.state.held("corp"), 4242))
    await pilot.pause()
    assert isinstance(app.screen, ThresholdDialog)
    _check(app, watch, "threshold dialog")
    await pilot.press("escape")
    await pilot.pause()

    await pilot.press("x")
    await pilot.pause()
    _check(app, watch, "delete dialog")
    await pilot.press("escape")
    await pilot.pause()

    await pilot.press("e")
    await pilot.pause()
    await pilot.pause()
    _check(app, watch, "edit dialog")
    await pilot.press("escape")
    await pilot.pause()

    app.notify(text, title=text, severity="error")
    app.notify(f"Sync of corp failed: {text}")
    await pilot.pause()
    _check(app, watch, "notifications")

    logging.getLogger("smartsync.test").warning("from AD: %s", text)
    await pilot.press("l")
    await pilot.pause(0.3)
    _check(app, watch, "log pane")

    await pilot.press("h")
    await pilot.pause()
    _check(app, watch, "home tab")

    await pilot.press("ctrl+p")
    await pilot.pause()
    _check(app, watch, "palette")
    await pilot.press("escape")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=HOSTILE, size=st.sampled_from([(80, 24), (120, 40)]))
async def test_stored_outside_text_is_shown_literally_on_every_screen(tmp_path, text, size):
    home, app_settings = _home(tmp_path, text)
    _store(home, text)
    app = SmartSyncApp(home, app_settings, secrets=SecretStore(home.secrets_file), scheduler=False)
    watch = MarkupWatch()
    with watch.watching():
        async with app.run_test(size=size, notifications=True) as pilot:
            await walk_every_screen(app, pilot, watch, text)
            assert app.is_running


@pytest.mark.parametrize("name", ["Compras [SP]", "[TI] Suporte", "Projetos [/2019]", "[/x] maria", "[b]bold",
                                  "[@click=app.quit]x", "[link=https://evil.invalid]y[/link]"])
async def test_a_bracketed_name_is_shown_as_typed(tmp_path, name):
    """The names that crashed the console: shown character for character, and the app stays up."""
    home, app_settings = _home(tmp_path, name, base_dn="OU=Projetos [/2019],DC=corp,DC=test")
    _store(home, name)
    app = SmartSyncApp(home, app_settings, secrets=SecretStore(home.secrets_file), scheduler=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("d")
        await pilot.pause()
        cells = [plain(c) for c in app.query_one("#directory-table", DataTable).get_row_at(0)]
        assert cells[0] == name
        assert "OU=Projetos [/2019],DC=corp,DC=test" in cells
        assert name in _on_screen(app)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        checks = app.screen.query_one("#login-checks-table", DataTable)
        assert name in [plain(checks.get_row_at(i)[1]) for i in range(checks.row_count)]
        await pilot.press("escape")
        app.notify(name)
        await pilot.pause()
        assert app.is_running


# -- the guard that holds for widgets written later

#: Calls that put text on screen, and the argument positions that are text.
_SINKS = {"update": None, "Static": None, "Label": None, "add_row": None, "add_rows": None, "update_cell": {2},
          "Button": {0}, "Checkbox": {0}, "RadioButton": {0}, "TabPane": {0}}


def _builds_text(node) -> bool:  # type: ignore[no-untyped-def]
    """An expression that builds a string from values: an f-string, '...'.format(...), str(x), '%s' % x, a + b."""
    import ast

    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("format", "join"):
            return True
        return isinstance(func, ast.Name) and func.id == "str"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return True
    if isinstance(node, ast.IfExp):
        return _builds_text(node.body) or _builds_text(node.orelse)
    return False


def test_no_widget_is_handed_text_built_from_values():
    """Every sentence with values in it reaches a widget through ui/literal.py (literal or filled), so a
    value is never read as markup; a widget written later that formats a str itself fails here."""
    import ast
    from pathlib import Path

    import smartsync_tui.ui as ui

    offenders = []
    for path in sorted(Path(ui.__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in _SINKS:
                continue
            positions = _SINKS[name]
            for index, arg in enumerate(node.args):
                if (positions is None or index in positions) and _builds_text(arg):
                    offenders.append(f"{path.name}:{node.lineno} {name}(...) gets {ast.unparse(arg)[:70]}")
    assert not offenders, "text built from values, handed to a widget as str:\n" + "\n".join(offenders)

"""The Home tab: Identity test and edit, proxy edit, log export, status; against the emulator."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from textual.widgets import Input, RadioSet, Select, Static

from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY, SecretStore
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    ProxySettings,
    load_settings,
    save_settings,
)
from smartsync_tui.store.state_store import (
    RunRecord,
    StateStore,
    SyncedObject,
    Watermark,
)
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.i18n import set_language
from smartsync_tui.ui.screens.identity_edit import IdentityEditScreen
from smartsync_tui.ui.screens.proxy_edit import ProxyEditScreen
from smartsync_tui.ui.screens.replace_file import ReplaceFileScreen
from smartsync_tui.ui.widgets.home_tab import HomeTab, next_runs
from smartsync_tui.ui.widgets.directory_fields import FieldRow
from tests.support.forms import activate, choose
from tests.support.logs import close_file_logging, emit_at
from tests.support.waiting import settle

SIZES = [(80, 24), (120, 40)]
PROXY_SECRET = "Pr0xy-S3cret-home-tab"
# Snapshots show the home's paths and a date: a fixed home and a fixed clock keep them deterministic.
SNAPSHOT_HOME = Path(tempfile.gettempdir()) / "smartsync-home-tab-snapshot-home"
FIXED_NOW = datetime(2026, 11, 27, 14, 30, tzinfo=timezone.utc).timestamp()


CONSOLE = SmartSyncApp


def _settings(environment: str) -> AppSettings:
    settings = AppSettings(
        identity=IdentitySettings(protocol="http", environment=environment),
        # Loopback only: no proxy from the environment in the way.
        proxy=ProxySettings(mode="none"),
    )
    settings.directories.append(
        DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                          base_dn="DC=corp,DC=example")
    )
    return settings


def _home(root: Path, settings: AppSettings) -> Home:
    home = resolve_home(root).ensure()
    save_settings(home.settings_file, settings)
    return home


@pytest.fixture
def console_home(tmp_path, emulator):
    """A home whose Identity is the emulator, with the real log files."""
    home = _home(tmp_path / "home", _settings(emulator.url.removeprefix("http://")))
    setup_logging(home)
    yield home
    close_file_logging()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.query_one(selector, Static).content)


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot.app)
    await pilot.pause()


# -- Identity


@pytest.mark.parametrize("size", SIZES)
async def test_test_connection_shows_reachable(console_home, emulator, size):
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=size) as pilot:
        assert "http://" + emulator.url.removeprefix("http://") in _text(app, "#identity-info")
        await activate(pilot, "#identity-test")
        await _settle(pilot)
        result = _text(app, "#identity-result")
        assert result.startswith(f"✓ {emulator.url} reachable (") and result.endswith(" ms)")
        assert app.query_one("#identity-result").has_class("-ok")
        # The proxy section's Test goes the same way, through the saved proxy (none here).
        await activate(pilot, "#proxy-test")
        await _settle(pilot)
        assert _text(app, "#proxy-result").startswith(f"✓ {emulator.url} reachable (")
    assert f"identity test ok: {emulator.url} in " in (console_home.log_dir / "application.log").read_text()


async def test_a_closed_port_shows_why_it_is_unreachable(tmp_path):
    port = _closed_port()
    home = _home(tmp_path / "home", _settings(f"127.0.0.1:{port}"))
    app = CONSOLE(home, load_settings(home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await activate(pilot, "#identity-test")
        await _settle(pilot)
        assert _text(app, "#identity-result") == (
            f"✗ http://127.0.0.1:{port} not reachable: Cannot reach Identity at 127.0.0.1:{port}: the connection "
            "was refused (nothing accepts connections on that address and port). Check the address, DNS, the "
            "firewall and the proxy settings."
        )
        assert app.query_one("#identity-result").has_class("-error")


async def test_editing_the_environment_saves_appsettings(console_home, emulator):
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await activate(pilot, "#identity-edit")
        assert isinstance(app.screen, IdentityEditScreen)
        # The wizard's fields: the emulator's address is "another host".
        assert app.screen.query_one("#identity-environment", Select).value == "other"
        host = app.screen.query_one("#identity-host", Input)
        assert host.value == emulator.url.removeprefix("http://")

        # Refused inline, with the reason; the dialog stays and nothing is saved.
        host.value = "https://identity.example.com/app"
        await pilot.pause()
        assert "without 'https://'" in app.screen.query_one("#row-identity-host", FieldRow).error
        host.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, IdentityEditScreen)
        assert load_settings(console_home.settings_file).identity.environment == emulator.url.removeprefix("http://")

        host.value = "identity.example.com:8443"
        await choose(pilot, app.screen.query_one("#identity-protocol", Select), "https")
        await activate(pilot, "#identity-save")
        assert not isinstance(app.screen, IdentityEditScreen)

        saved = json.loads(console_home.settings_file.read_text())["identity"]
        assert (saved["protocol"], saved["environment"]) == ("https", "identity.example.com:8443")
        assert app.settings.identity.base_url == "https://identity.example.com:8443"
        assert "https://identity.example.com:8443" in _text(app, "#identity-info")
        assert _text(app, "#identity-result") == "Saved: https://identity.example.com:8443"
    console = (console_home.log_dir / "console.log").read_text()
    assert f"identity.changed: Identity environment changed from {emulator.url} to https://identity.example.com:8443" in console
    assert "identity.changed" not in (console_home.log_dir / "application.log").read_text()


async def test_escape_leaves_the_environment_as_it_was(console_home):
    before = console_home.settings_file.read_text()
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await activate(pilot, "#identity-edit")
        app.screen.query_one("#identity-host", Input).value = "other.example.com"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, IdentityEditScreen)
    assert console_home.settings_file.read_text() == before


# -- proxy


async def test_proxy_edit_stores_the_password_only_in_secrets(console_home):
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await activate(pilot, "#proxy-edit")
        dialog = app.screen
        assert isinstance(dialog, ProxyEditScreen)
        assert dialog.query_one("#proxy-fields").disabled  # mode "none": no host to type
        dialog.query_one("#proxy-mode", RadioSet).focus()
        await pilot.press("left", "enter")  # none -> manual
        await pilot.pause()
        assert not dialog.query_one("#proxy-fields").disabled

        # Missing port: said, and focused.
        dialog.query_one("#proxy-host", Input).value = "proxy.example.com"
        await activate(pilot, "#proxy-save")
        assert app.screen is dialog and app.focused is dialog.query_one("#proxy-port", Input)
        assert "port" in _text(dialog, "#proxy-error")

        dialog.query_one("#proxy-port", Input).value = "3128"
        dialog.query_one("#proxy-user", Input).value = "alice"
        dialog.query_one("#proxy-password", Input).value = PROXY_SECRET
        await activate(pilot, "#proxy-save")
        assert not isinstance(app.screen, ProxyEditScreen)
        assert _text(app, "#proxy-info").endswith("Manual: proxy.example.com:3128, user alice (password stored)")

        settings_text = console_home.settings_file.read_text()
        assert json.loads(settings_text)["proxy"] == {"mode": "manual", "host": "proxy.example.com", "port": 3128, "user": "alice"}
        assert PROXY_SECRET not in settings_text
        assert SecretStore(console_home.secrets_file).get(PROXY_PASSWORD_KEY).get_secret_value() == PROXY_SECRET

        # Editing again: the password field may stay empty (the stored one is kept) for the same proxy ...
        await activate(pilot, "#proxy-edit")
        assert app.screen.query_one("#proxy-password", Input).placeholder == "(stored: empty keeps it)"
        await activate(pilot, "#proxy-save")
        assert not isinstance(app.screen, ProxyEditScreen)
        assert SecretStore(console_home.secrets_file).get(PROXY_PASSWORD_KEY).get_secret_value() == PROXY_SECRET
        # ... but not for another port (tests/test_proxy_password_destination.py): typed again, it is saved.
        await activate(pilot, "#proxy-edit")
        app.screen.query_one("#proxy-port", Input).value = "8080"
        await activate(pilot, "#proxy-save")
        assert isinstance(app.screen, ProxyEditScreen)
        assert _text(app.screen, "#proxy-error").startswith("Type the password of alice again")
        app.screen.query_one("#proxy-password", Input).value = PROXY_SECRET
        await activate(pilot, "#proxy-save")
        assert load_settings(console_home.settings_file).proxy.port == 8080
        assert SecretStore(console_home.secrets_file).get(PROXY_PASSWORD_KEY).get_secret_value() == PROXY_SECRET
        # ... and a proxy without a user needs no password: it is removed.
        await activate(pilot, "#proxy-edit")
        app.screen.query_one("#proxy-mode", RadioSet).focus()
        await pilot.press("left", "enter")  # manual -> system
        await activate(pilot, "#proxy-save")
        assert _text(app, "#proxy-info").endswith("System default (HTTPS_PROXY / NO_PROXY)")
    assert load_settings(console_home.settings_file).proxy == ProxySettings(mode="system")
    assert SecretStore(console_home.secrets_file).get(PROXY_PASSWORD_KEY) is None
    for log in console_home.log_dir.iterdir():
        assert PROXY_SECRET not in log.read_text()
    console = (console_home.log_dir / "console.log").read_text()
    assert "proxy.changed: proxy set to manual proxy.example.com:3128 (mode=manual, proxy_user=alice, password_changed=True" in console
    assert "proxy.changed: proxy set to system (mode=system" in console


async def test_proxy_test_in_the_dialog_uses_what_was_typed(console_home):
    port = _closed_port()
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await activate(pilot, "#proxy-edit")
        dialog = app.screen
        dialog.query_one("#proxy-mode", RadioSet).focus()
        await pilot.press("left", "enter")
        dialog.query_one("#proxy-host", Input).value = "127.0.0.1"
        dialog.query_one("#proxy-port", Input).value = str(port)
        await activate(pilot, "#proxy-dialog-test")
        await _settle(pilot)
        assert f"cannot reach the proxy at 127.0.0.1:{port}: the connection was refused" in _text(dialog, "#proxy-dialog-result")
        await pilot.press("escape")
        await pilot.pause()
    # Testing saved nothing.
    assert load_settings(console_home.settings_file).proxy.mode == "none"


# -- event logs


@pytest.mark.parametrize("size", SIZES)
async def test_exporting_the_application_log_writes_the_file(console_home, tmp_path, size):
    import logging

    for i in range(5):
        logging.getLogger("smartsync.engine").info("home tab export line %d", i)
    target = tmp_path / "exported.txt"
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=size) as pilot:
        home_tab = app.query_one(HomeTab)
        # Offered in the agent's home (its data dir), not the OS user's.
        offered = Path(home_tab.query_one("#log-path", Input).value).expanduser()
        assert offered.parent == console_home.export_dir and offered.name.startswith("smartsync-application-")
        home_tab.query_one("#log-path", Input).value = str(target)
        await activate(pilot, "#log-export")
        await _settle(pilot)
        lines = target.read_text(encoding="utf-8").splitlines()
        assert [line.split(" ", 3)[3] for line in lines if "home tab export line" in line] == [
            f"home tab export line {i}" for i in range(5)
        ]
        result = _text(app, "#export-result")
        assert result.startswith(f"✓ Wrote {len(lines)} lines (between ") and result.endswith(f" to {target}")

        # Again: the file exists, so the tab asks first; Escape keeps it.
        target.write_text("keep\n")
        await activate(pilot, "#log-export")
        assert isinstance(app.screen, ReplaceFileScreen)
        await pilot.press("escape")
        await _settle(pilot)
        assert target.read_text() == "keep\n"
        # ... and Replace replaces it.
        await activate(pilot, "#log-export")
        await activate(pilot, "#replace-yes")
        await _settle(pilot)
        assert "home tab export line 4" in target.read_text()


async def test_export_choices_and_refusals(console_home, tmp_path):
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        home_tab = app.query_one(HomeTab)
        path = home_tab.query_one("#log-path", Input)
        home_tab.query_one("#log-choice", RadioSet).focus()
        await pilot.press("right", "enter")  # console
        await pilot.pause()
        assert Path(path.value).expanduser().parent == console_home.export_dir
        assert Path(path.value).name.startswith("smartsync-console-")

        home_tab.query_one("#log-since", Input).value = "last week"
        await activate(pilot, "#log-export")
        assert "'last week' is not a time" in _text(app, "#export-result")

        # A slashed date is not guessed in English (01/12 is January 12 to some, 1 December to others).
        home_tab.query_one("#log-since", Input).value = "01/12/2026"
        await activate(pilot, "#log-export")
        assert _text(app, "#export-result").endswith("write the date year first, as 2026-12-01 or 2026-01-12")

        home_tab.query_one("#log-since", Input).value = "2020-01-01"
        home_tab.query_one("#log-until", Input).value = "2020-01-02"
        path.value = str(tmp_path / "console.txt")
        await activate(pilot, "#log-path")  # Enter in the path exports too
        await _settle(pilot)
        assert "console log has no lines between 2020-01-01" in _text(app, "#export-result")
        assert app.query_one("#export-result").has_class("-error")
        assert not (tmp_path / "console.txt").exists()

        # Shown as typed: brackets in a path are not markup.
        path.value = str(tmp_path / "[bold]missing" / "x.txt")
        await activate(pilot, "#log-export")
        assert f"The folder {tmp_path / '[bold]missing'} does not exist" in _text(app, "#export-result")
        assert "[bold]missing" in str(app.query_one("#export-result", Static).render())


async def test_in_portuguese_the_period_is_typed_day_first(console_home, tmp_path):
    for label, when in [("30-nov", datetime(2026, 11, 30, 23, 59)), ("1-dez-0h", datetime(2026, 12, 1, 0, 0)),
                        ("1-dez-14h30", datetime(2026, 12, 1, 14, 30)), ("1-dez-23h59", datetime(2026, 12, 1, 23, 59)),
                        ("2-dez", datetime(2026, 12, 2, 0, 0)), ("12-jan", datetime(2026, 1, 12, 12, 0))]:
        emit_at("smartsync.engine", when.astimezone(), f"evento {label}")  # local times, as the admin types them
    set_language("pt_BR")
    try:
        app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            home_tab = app.query_one(HomeTab)
            assert _text(app, ".home-hint") == "Formatos: 27/11/2026, 27/11/2026 14:30, agora ou relativos: -2h, -7d"
            since, until = home_tab.query_one("#log-since", Input), home_tab.query_one("#log-until", Input)
            assert app.query_one(".home-hint").size.height == 1  # one line at 80 columns
            assert since.placeholder == "27/11/2026 14:30"
            assert until.value == until.placeholder == "agora"  # the word parse_when reads in pt_BR
            target = tmp_path / "dezembro.txt"
            home_tab.query_one("#log-path", Input).value = str(target)

            def exported() -> list[str]:
                return [line.split("evento ", 1)[1] for line in target.read_text(encoding="utf-8").splitlines()
                        if "evento " in line]

            since.value, until.value = "01/12/2026", "01/12/2026"
            await activate(pilot, "#log-export")
            await _settle(pilot)
            assert not app.query_one("#export-result").has_class("-error"), _text(app, "#export-result")
            assert exported() == ["1-dez-0h", "1-dez-14h30", "1-dez-23h59"]

            target.unlink()
            since.value, until.value = "01/12/2026 14:30", "1/12/2026 23:58"
            await activate(pilot, "#log-export")
            await _settle(pilot)
            assert exported() == ["1-dez-14h30"]

            since.value = "31/02/2026"
            await activate(pilot, "#log-export")
            assert _text(app, "#export-result") == "'31/02/2026' não é uma data: fevereiro de 2026 tem 28 dias"
            assert app.query_one("#export-result").has_class("-error")

            since.value = "ontem"
            await activate(pilot, "#log-export")
            assert _text(app, "#export-result") == (
                "'ontem' não é uma data ou hora válida: use um dos formatos listados abaixo dos campos De e Até")

            since.value = "-99999999d"
            await activate(pilot, "#log-export")
            assert _text(app, "#export-result").startswith("'-99999999d' está mais longe de hoje do que qualquer log")
    finally:
        set_language("en")


# -- keyboard and status


async def test_every_control_is_reachable_by_tab(console_home):
    app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        seen: list[str] = []
        for _step in range(20):
            await pilot.press("tab")
            if app.focused is not None and app.focused.id:
                seen.append(app.focused.id)
        wanted = ["identity-edit", "identity-test", "proxy-edit", "proxy-test", "log-choice", "log-since",
                  "log-until", "log-path", "log-export"]
        assert [i for i in seen if i in wanted][: len(wanted)] == wanted


def _record_history(home: Home, now: float) -> None:
    """A delta run that ended 20 s ago, a full read 1 h ago, 3 users (one disabled) and 2 groups."""
    with StateStore(home.state_db) as state:
        run = state.start_run("corp", "delta", dry_run=False)
        state.finish_run(run, outcome="ok", counts={})
        state.set_watermark("corp", Watermark("dc1.corp.example", "inv-1", 1000, "hash", now - 3600))
        state.record_applied("corp", [
            SyncedObject(f"g-{i}", kind, f"CN={i},DC=corp,DC=example", None, "h", {}, active)
            for i, (kind, active) in enumerate(
                [("user", True), ("user", True), ("user", False), ("group", True), ("group", True)]
            )
        ])
    with sqlite3.connect(home.state_db) as db:
        db.execute("UPDATE run SET started_at = ?, ended_at = ?", (now - 25, now - 20))


async def test_status_shows_next_runs_and_totals(tmp_path, monkeypatch):
    monkeypatch.setattr(HomeTab, "default_clock", lambda: FIXED_NOW)
    home = _home(tmp_path / "home", _settings("identity.example.com"))
    _record_history(home, FIXED_NOW)
    app = CONSOLE(home, load_settings(home.settings_file), scheduler=False)
    async with app.run_test(size=(120, 40)):
        status = _text(app, "#status-info")
        assert "Next delta   in 10 s (every 30 s)" in status
        assert "Next full    in 23 h (every 24 h)" in status
        assert "Totals       1 directory, 3 users, 2 groups" in status
        assert Path(app.query_one("#log-path", Input).value).expanduser() == home.export_dir / "smartsync-application-2026-11-27.txt"


class _RunsOnly:
    """A state store with run history and no full read yet."""

    def __init__(self, runs: list[RunRecord]) -> None:
        self._runs = runs

    def runs(self, directory_id: str, limit: int = 20) -> list[RunRecord]:
        return self._runs[:limit]

    def watermark(self, directory_id: str) -> None:
        return None


def test_next_runs_ignore_previews_and_runs_never_finished():
    settings = _settings("identity.example.com")
    now = FIXED_NOW
    history = [
        RunRecord(3, "corp", "delta", True, now - 2, now - 1, "ok", {}, None),  # a preview
        RunRecord(2, "corp", "delta", False, now - 100, None, None, {}, None),  # killed mid-run
        RunRecord(1, "corp", "delta", False, now - 30, now - 25, "ok", {}, None),
    ]
    assert next_runs(settings, _RunsOnly(history), now) == ("in 5 s (every 30 s)", "with the first sync (every 24 h)")
    assert next_runs(settings, _RunsOnly(history), now, frozenset({"corp"}))[0] == "running now (every 30 s)"
    assert next_runs(settings, _RunsOnly([]), now)[0] == "due now (every 30 s)"
    settings.directories[0].enabled = False
    assert next_runs(settings, _RunsOnly(history), now) == ("no directory to sync", "no directory to sync")


# -- snapshots


def _snapshot_app(monkeypatch) -> SmartSyncApp:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(HomeTab, "default_clock", lambda: FIXED_NOW)
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
    home = _home(SNAPSHOT_HOME, _settings("identity.example.com"))
    _record_history(home, FIXED_NOW)
    return CONSOLE(home, load_settings(home.settings_file), scheduler=False)


async def _no_blink(pilot) -> None:  # type: ignore[no-untyped-def]
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def test_home_tab_snapshot_80x24(monkeypatch, snap_compare):
    assert snap_compare(_snapshot_app(monkeypatch), terminal_size=(80, 24))


def test_home_tab_snapshot_120x40(monkeypatch, snap_compare):
    assert snap_compare(_snapshot_app(monkeypatch), terminal_size=(120, 40))


async def open_identity_dialog(pilot) -> None:  # type: ignore[no-untyped-def]
    await activate(pilot, "#identity-edit")
    host = pilot.app.screen.query_one("#identity-host", Input)
    host.value = "https://identity.example.com"  # refused inline: the protocol has its own field
    host.action_end()
    await _no_blink(pilot)


async def open_proxy_dialog(pilot) -> None:  # type: ignore[no-untyped-def]
    await activate(pilot, "#proxy-edit")
    pilot.app.screen.query_one("#proxy-mode", RadioSet).focus()
    await pilot.press("left", "enter")
    pilot.app.screen.query_one("#proxy-host", Input).value = "proxy.example.com"
    await activate(pilot, "#proxy-save")  # no port: refused inline
    await _no_blink(pilot)


EARLIER_EXPORT = SNAPSHOT_HOME / "exported.txt"


def _app_with_an_earlier_export(monkeypatch) -> SmartSyncApp:  # type: ignore[no-untyped-def]
    app = _snapshot_app(monkeypatch)
    EARLIER_EXPORT.write_text("an earlier export\n")
    return app


async def export_again(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.query_one("#log-path", Input).value = str(EARLIER_EXPORT)
    await activate(pilot, "#log-export")
    await _no_blink(pilot)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_identity_dialog_snapshot(monkeypatch, snap_compare, size):
    assert snap_compare(_snapshot_app(monkeypatch), terminal_size=size, run_before=open_identity_dialog)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_proxy_dialog_snapshot(monkeypatch, snap_compare, size):
    assert snap_compare(_snapshot_app(monkeypatch), terminal_size=size, run_before=open_proxy_dialog)


def test_replace_file_dialog_snapshot(monkeypatch, snap_compare):
    assert snap_compare(_app_with_an_earlier_export(monkeypatch), terminal_size=(80, 24), run_before=export_again)


async def test_in_portuguese_the_home_dialogs_keys_are_portuguese(console_home):
    """Their BINDINGS are built at import, before the language is set: the palette over them must
    still say Cancelar."""
    from smartsync_tui.ui.screens.identity_edit import IdentityEditScreen

    set_language("pt_BR")
    try:
        app = CONSOLE(console_home, load_settings(console_home.settings_file), scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(IdentityEditScreen(app.settings.identity))
            await pilot.pause()
            commands = {command.title: command.help for command in app.get_system_commands(app.screen)}
            assert commands["Cancelar (escape)"] == "Fechar sem salvar"
            assert not {"Cancel (escape)", "Theme", "Keys", "Quit"} & set(commands)
    finally:
        set_language("en")


@pytest.mark.parametrize("tab, sync_key", [("home", False), ("directories", True)])
async def test_the_footers_first_frame_lists_the_keys_of_the_tab_it_opens_on(tmp_path, monkeypatch, tab, sync_key):
    """The main screen's footer lists its keys in its first compose (ui/widgets/footer.py), before the
    tabs exist: what it lists then must already be true (no "s Sync now" on the Home tab)."""
    from smartsync_tui.ui.widgets.footer import ConsoleFooter

    frames: list[list[str]] = []
    compose = ConsoleFooter.compose

    def recorded(self):  # type: ignore[no-untyped-def]
        shown = list(compose(self))
        if shown:
            frames.append([getattr(key, "action", "") for key in shown])
        return iter(shown)

    monkeypatch.setattr(ConsoleFooter, "compose", recorded)
    home = _home(tmp_path / "home", _settings("127.0.0.1:9"))
    app = CONSOLE(home, load_settings(home.settings_file), scheduler=False, initial_tab=tab)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        assert frames, "the footer listed no key"
        first, last = frames[0], frames[-1]
        assert {"show_tab('home')", "quit"} <= set(first)
        assert ("sync_now" in first) is sync_key and ("sync_now" in last) is sync_key, frames


def test_a_console_that_cannot_start_leaves_garbage_collection_on(tmp_path, capsys):
    """The console turns the collector off until its first frame (cli/main.py): a settings file that
    does not load stops it before any frame, and the collector is on again for what follows."""
    import gc

    from smartsync_tui.cli.main import main

    home = resolve_home(tmp_path / "home").ensure()
    home.settings_file.write_text('{"identity": {"protocol": "gopher"}}\n')
    assert gc.isenabled()
    assert main(["--home", str(home.root), "console"]) == 2
    assert gc.isenabled()
    said = capsys.readouterr().out
    assert said.startswith("error: ") and "protocol" in said and "Traceback" not in said

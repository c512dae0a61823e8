"""The setup wizard and the add/edit directory dialog, driven like an admin
drives them (keys, Enter, Tab), against the live Samba DC and the emulator;
and their snapshots at 80x24 and 120x40."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    load_settings,
    save_settings,
)
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog
from smartsync_tui.ui.screens.wizard import DiscardDialog, SetupWizard
from smartsync_tui.ui.widgets.directory_fields import FieldRow
from tests.support.forms import choose
from tests.support.waiting import settle as engine_settled

# -- set-up


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch):
    """The admin's SMARTSYNC_* variables must not leak into what the tests save and read."""
    import os

    for name in [n for n in os.environ if n.startswith("SMARTSYNC_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path) -> Home:
    """A fresh home per test (the emulator refuses one AD directory read twice by the same agent)."""
    home = resolve_home(tmp_path / "home").ensure()
    handler = setup_logging(home)
    yield home
    logging.getLogger("smartsync").removeHandler(handler)
    handler.close()


def console(home: Home) -> SmartSyncApp:
    return SmartSyncApp(home, load_settings(home.settings_file), scheduler=False)


def identity_of(emulator) -> IdentitySettings:
    return IdentitySettings(protocol="http", environment=urlparse(emulator.url).netloc)


def settings_file(home: Home) -> dict:
    return json.loads(home.settings_file.read_text()) if home.settings_file.exists() else {}


def secrets_file(home: Home) -> dict:
    return json.loads(home.secrets_file.read_text()) if home.secrets_file.exists() else {}


def everything_written(home: Home) -> str:
    """appsettings.json and every log: what must never hold a secret."""
    root = home.config_dir.parent
    return "\n".join(
        p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.name != "secrets.json" and not p.name.startswith("state")
    )


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*text)


async def paste(pilot: Pilot, text: str) -> None:
    """What a terminal sends when the admin pastes (a token copied from Identity, a path)."""
    pilot.app.focused.post_message(events.Paste(text))
    await pilot.pause()


def row(screen, field_id: str) -> FieldRow:
    return screen.query_one(f"#row-{field_id}", FieldRow)


def fill(screen, **values: str) -> None:
    for field_id, value in values.items():
        screen.query_one(f"#{field_id.replace('_', '-')}", Input).value = value


def directory_values(samba_dc, token: str, **changes: str) -> dict[str, str]:
    values = {
        "server": samba_dc.host, "ca_file": str(samba_dc.ca_file), "tls_server_name": samba_dc.tls_server_name,
        "bind_user": samba_dc.admin_user, "password": samba_dc.admin_password, "base_dn": samba_dc.base_dn,
        "token": token,
    }
    values.update(changes)
    return values


async def settle(app: SmartSyncApp, pilot: Pilot) -> None:
    await engine_settled(app)
    await pilot.pause()
    await pilot.pause()


async def open_wizard(app: SmartSyncApp, pilot: Pilot, results: list) -> SetupWizard:
    wizard = SetupWizard()
    app.push_screen(wizard, results.append)
    await pilot.pause()
    return wizard


async def to_directory_step(pilot: Pilot, wizard: SetupWizard, emulator) -> None:
    """Identity: http + the emulator's host (other host); proxy: none."""
    await choose(pilot, wizard.query_one("#identity-protocol", Select), "http")
    await choose(pilot, wizard.query_one("#identity-environment", Select), "other")
    wizard.query_one("#identity-host", Input).value = urlparse(emulator.url).netloc
    await pilot.press("ctrl+n")
    wizard.query_one("#proxy-none").value = True
    await pilot.pause()
    await pilot.press("ctrl+n")
    await pilot.pause()
    assert wizard.query_one("#wizard-switcher").current == "step-directory"


# -- the wizard against the live DC and the emulator


@pytest.mark.samba
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_first_run_through_the_wizard_saves_the_directory(samba_dc, emulator_clean, home, size):
    emulator = emulator_clean
    _directory_id, token = emulator.create_directory("Corp")
    app = console(home)
    results: list = []
    async with app.run_test(size=size) as pilot:
        wizard = await open_wizard(app, pilot, results)
        # Step 1 asks first where the users go (TOTVS Identity, already chosen), then Identity's fields.
        assert app.focused is wizard.query_one("#wizard-target")
        assert wizard.query_one("#wizard-target", Select).value == "identity"
        await pilot.press("tab")
        assert app.focused is wizard.query_one("#identity-protocol")

        # Step 1 by keyboard: protocol, environment, host, then Test.
        await choose(pilot, wizard.query_one("#identity-protocol", Select), "http")
        await pilot.press("tab")
        await choose(pilot, wizard.query_one("#identity-environment", Select), "other")
        await pilot.press("tab")
        assert app.focused is wizard.query_one("#identity-host")
        await type_text(pilot, urlparse(emulator.url).netloc)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        result = str(wizard.query_one("#identity-result", Static).render())
        assert result.startswith(f"✓ {emulator.url} reachable (")
        await pilot.press("enter")  # Enter in the step's last field: Next
        assert wizard.query_one("#wizard-switcher").current == "step-proxy"

        # Back keeps what was typed; Next again.
        await pilot.click("#back")
        assert wizard.query_one("#identity-host", Input).value == urlparse(emulator.url).netloc
        assert wizard.query_one("#identity-protocol", Select).value == "http"
        await pilot.press("ctrl+n")
        assert app.focused is wizard.query_one("#proxy-mode")
        await pilot.press("ctrl+n")  # the system's proxy settings (none here)

        # Step 3 typed key by key (the path and the token pasted), Tab between fields.
        assert app.focused is wizard.query_one("#server")
        for text, how, skip in ((samba_dc.host, type_text, 3), (str(samba_dc.ca_file), paste, 1),
                                (samba_dc.tls_server_name, type_text, 1), (samba_dc.admin_user, type_text, 1),
                                (samba_dc.admin_password, type_text, 1), (samba_dc.base_dn, type_text, 1),
                                (token, paste, 1)):
            await how(pilot, text)
            await pilot.press(*["tab"] * skip)
        # Tab passed Target by: step 1's choice, read-only here.
        assert wizard.query_one("#target", Select).value == "identity" and wizard.query_one("#target").disabled
        assert app.focused is wizard.query_one("#display-name")
        emulator.faults(latency_ms=700)  # slow enough to see the busy state
        await pilot.press("ctrl+n")  # Finish
        assert "Checking" in str(wizard.query_one("#wizard-status", Static).render())
        assert wizard.query_one("#wizard-busy").display
        assert wizard.query_one("#next").disabled and wizard.query_one("#token").is_disabled
        await settle(app, pilot)
        assert results == [True]
        assert app.screen is not wizard

    saved = settings_file(home)
    assert saved["identity"] == {"protocol": "http", "environment": urlparse(emulator.url).netloc, "ca_file": None}
    assert saved["proxy"]["mode"] == "system"
    (directory,) = saved["directories"]
    assert directory["id"] == "smartsync-test"
    assert (directory["server"], directory["tls"], directory["base_dn"], directory["tls_server_name"]) == (
        samba_dc.host, "ldaps", samba_dc.base_dn, samba_dc.tls_server_name)
    assert directory["display_name"] == "Corp"  # Identity's name for it, the name field being empty
    secrets = secrets_file(home)
    assert secrets["directory/smartsync-test/bind_password"] == samba_dc.admin_password
    assert secrets["directory/smartsync-test/token"] == token
    assert secrets["directory/smartsync-test/agent_key"]
    assert oct(home.secrets_file.stat().st_mode & 0o777) == "0o600"
    written = everything_written(home)
    assert "directory.added: Directory smartsync-test added in the console" in written
    for secret in secrets.values():
        assert secret not in written


@pytest.mark.parametrize("server, reason", [
    ("LDAP://x", "without 'LDAP://'"),
    ("dc1.corp.example:389", "without the port"),
])
async def test_a_bad_server_is_refused_inline_and_finish_does_nothing(home, server, reason):
    app = console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(app, pilot, [])
        await pilot.press("ctrl+n", "ctrl+n")
        await type_text(pilot, server)
        await pilot.pause()
        server_row = row(wizard, "server")
        assert reason in server_row.error
        assert wizard.query_one("#server", Input).has_class("-invalid")
        fill(wizard, bind_user="svc@corp.example", password="Passw0rd!", base_dn="DC=corp,DC=example",
             token="idt_0123456789abcdef0123")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert not any(w.group == "setup-wizard-finish" for w in app.workers)
        assert app.screen is wizard and app.focused is wizard.query_one("#server")
        assert reason in server_row.error
        assert "Fix the fields marked in red" in str(wizard.query_one("#wizard-status", Static).render())
    assert not home.settings_file.exists() and not home.secrets_file.exists()


async def test_empty_required_fields_are_named_on_finish_not_while_typing(home):
    app = console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(app, pilot, [])
        await pilot.press("ctrl+n", "ctrl+n")
        assert row(wizard, "server").error == ""
        await pilot.press("tab", "tab")  # passing through a field refuses nothing yet
        assert row(wizard, "server").error == ""
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert row(wizard, "server").error.startswith("Give the IP address or name")
        assert row(wizard, "token").error.startswith("Paste the directory's token")
        assert app.focused is wizard.query_one("#server")


@pytest.mark.samba
async def test_a_bad_password_is_refused_with_ads_reason_and_nothing_saved(samba_dc, emulator, home):
    _directory_id, token = emulator.create_directory("Corp")
    # Identity was set before (by the CLI, or a wizard left half way): the file must stay as it is.
    save_settings(home.settings_file, AppSettings(identity=identity_of(emulator)))
    before = home.settings_file.read_bytes()
    app = console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(app, pilot, [])
        assert wizard.query_one("#identity-environment", Select).value == "other"  # filled from the settings
        await pilot.press("ctrl+n", "ctrl+n")
        typed = directory_values(samba_dc, token, password="Wrong-Passw0rd-123")
        fill(wizard, **typed)
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        assert app.screen is wizard
        assert "the user name or the password is wrong" in row(wizard, "password").error
        report = str(wizard.query_one("#check-report", Static).render())
        assert "password is wrong" in report and "token is valid" in report
        assert "Nothing was saved" in str(wizard.query_one("#wizard-status", Static).render())
        assert app.focused is wizard.query_one("#password")
        # Every field kept as typed, and the buttons usable again.
        assert {k: wizard.query_one(f"#{k.replace('_', '-')}", Input).value for k in typed} == typed
        assert not wizard.query_one("#next").disabled
    assert home.settings_file.read_bytes() == before
    assert not home.secrets_file.exists()
    assert "Wrong-Passw0rd-123" not in everything_written(home)


@pytest.mark.samba
async def test_a_revoked_token_is_refused_with_generate_a_new_one(samba_dc, emulator, home):
    directory_id, token = emulator.create_directory("Revoked")
    emulator.revoke_token(directory_id)
    save_settings(home.settings_file, AppSettings(identity=identity_of(emulator)))
    before = home.settings_file.read_bytes()
    app = console(home)
    async with app.run_test(size=(120, 40)) as pilot:
        wizard = await open_wizard(app, pilot, [])
        await pilot.press("ctrl+n", "ctrl+n")
        fill(wizard, **directory_values(samba_dc, token))
        await pilot.click("#next")
        await settle(app, pilot)
        assert app.screen is wizard
        assert "generate a new token in Identity" in row(wizard, "token").error
        assert app.focused is wizard.query_one("#token")
        assert wizard.query_one("#token", Input).value == token
    assert home.settings_file.read_bytes() == before
    assert not home.secrets_file.exists()
    assert token not in everything_written(home)


@pytest.mark.samba
async def test_esc_asks_before_discarding_and_the_wizard_keeps_what_was_typed(emulator, home):
    app = console(home)
    results: list = []
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(app, pilot, results)
        await to_directory_step(pilot, wizard, emulator)
        await type_text(pilot, "dc1.corp.example")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DiscardDialog)
        await pilot.press("escape")  # keep editing
        await pilot.pause()
        assert app.screen is wizard and wizard.query_one("#server", Input).value == "dc1.corp.example"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.click("#discard-yes")
        await pilot.pause()
        assert results == [False]
    assert not home.settings_file.exists()


# -- the add/edit dialog


@pytest.mark.samba
async def test_add_then_edit_a_directory_in_the_dialog(samba_dc, emulator, home):
    _directory_id, token = emulator.create_directory("Corp")
    save_settings(home.settings_file, AppSettings(identity=identity_of(emulator)))
    app = console(home)
    results: list = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(DirectoryFormDialog(), results.append)
        await pilot.pause()
        dialog = app.screen
        assert app.focused is dialog.query_one("#server")
        fill(dialog, **directory_values(samba_dc, token))
        dialog.query_one("#display-name", Input).value = "Corp"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert results == ["smartsync-test"]
        assert [d.id for d in app.settings.directories] == ["smartsync-test"]
        secrets_after_add = secrets_file(home)
        assert secrets_after_add["directory/smartsync-test/bind_password"] == samba_dc.admin_password

        # The same server and base DN cannot be added a second time.
        app.push_screen(DirectoryFormDialog(), results.append)
        await pilot.pause()
        dialog = app.screen
        fill(dialog, **directory_values(samba_dc, token))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "already reads" in row(dialog, "base-dn").error
        assert not any(w.group == "directory-form-save" for w in app.workers)
        await pilot.press("escape")  # something was typed: asks
        await pilot.pause()
        await pilot.click("#discard-yes")
        await pilot.pause()
        assert results == ["smartsync-test", None]

        # Edit: a new name; password and token left empty keep the stored ones.
        existing = app.settings.directory("smartsync-test")
        app.push_screen(DirectoryFormDialog(existing), results.append)
        await pilot.pause()
        dialog = app.screen
        assert dialog.query_one("#server", Input).value == samba_dc.host
        assert dialog.query_one("#password", Input).value == ""
        name = dialog.query_one("#display-name", Input)
        name.focus()
        name.value = ""
        await type_text(pilot, "Corp HQ")
        await pilot.press("enter")  # Enter in the last field saves
        await settle(app, pilot)
        assert results == ["smartsync-test", None, "smartsync-test"]

    (saved,) = settings_file(home)["directories"]
    assert saved["display_name"] == "Corp HQ" and saved["server"] == samba_dc.host
    assert secrets_file(home) == secrets_after_add  # same password, same token, no new agent key
    written = everything_written(home)
    assert "directory.edited: Directory smartsync-test saved in the console" in written
    for secret in secrets_after_add.values():
        assert secret not in written


@pytest.mark.samba
async def test_edit_with_a_wrong_new_password_changes_nothing(samba_dc, emulator, home):
    _directory_id, token = emulator.create_directory("Corp")
    save_settings(home.settings_file, AppSettings(identity=identity_of(emulator)))
    app = console(home)
    results: list = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(DirectoryFormDialog(), results.append)
        await pilot.pause()
        fill(app.screen, **directory_values(samba_dc, token))
        await pilot.click("#save")
        await settle(app, pilot)
        assert results == ["smartsync-test"]
        before = (home.settings_file.read_bytes(), home.secrets_file.read_bytes())

        app.push_screen(DirectoryFormDialog(app.settings.directory("smartsync-test")), results.append)
        await pilot.pause()
        dialog = app.screen
        fill(dialog, password="Not-The-Passw0rd", display_name="Renamed")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is dialog and results == ["smartsync-test"]
        assert "password is wrong" in row(dialog, "password").error
    assert (home.settings_file.read_bytes(), home.secrets_file.read_bytes()) == before


# -- the save rule shared with the CLI (checks/directory_setup.py)


def test_settings_and_secrets_change_together_or_not_at_all(home):
    from pydantic import SecretStr

    from smartsync_tui.checks.directory_setup import PendingSecrets, save_checked_directory, unique_directory_id
    from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY, SecretStore

    secrets = SecretStore(home.secrets_file)
    secrets.set_many({"directory/corp/bind_password": "Old-Passw0rd", PROXY_PASSWORD_KEY: "Old-Proxy-Pw"})
    before = home.secrets_file.read_bytes()
    directory = DirectorySettings(id="corp", server="dc1.corp.example", bind_user="svc@corp.example",
                                  base_dn="DC=corp,DC=example")

    def failing_save() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        save_checked_directory(AppSettings(), secrets, directory, password=SecretStr("New-Passw0rd"), token=None,
                               proxy_password=SecretStr("New-Proxy-Pw"), save=failing_save)
    assert home.secrets_file.read_bytes() == before

    saved: list[str] = []
    save_checked_directory(AppSettings(), secrets, directory, password=SecretStr("New-Passw0rd"), token=None,
                           proxy_password=None, save=lambda: saved.append("settings"))
    assert saved == ["settings"]
    assert secrets.get("directory/corp/bind_password").get_secret_value() == "New-Passw0rd"
    assert secrets.get(PROXY_PASSWORD_KEY) is None

    pending = PendingSecrets(secrets, {PROXY_PASSWORD_KEY: SecretStr("Typed-Proxy-Pw")})
    assert pending.get(PROXY_PASSWORD_KEY).get_secret_value() == "Typed-Proxy-Pw"
    assert secrets.get(PROXY_PASSWORD_KEY) is None  # nothing written through it
    taken = AppSettings(directories=[directory.model_copy(update={"id": "corp-example"})])
    assert unique_directory_id(taken, "DC=corp,DC=example") == "corp-example-2"


# -- snapshots (no servers: nothing is checked)

# Snapshots show paths and the Identity address: a fixed home keeps them deterministic.
SNAPSHOT_HOME = Path(tempfile.gettempdir()) / "smartsync-wizard-snapshot-home"
SIZES = [(80, 24), (120, 40)]


def _snapshot_app() -> SmartSyncApp:
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
    home = resolve_home(SNAPSHOT_HOME).ensure()
    return SmartSyncApp(home, AppSettings(), scheduler=False)


def _showing(screen_factory, *then: str):
    async def run_before(pilot: Pilot) -> None:
        pilot.app.push_screen(screen_factory())
        await pilot.pause()
        await pilot.press(*then)
        await pilot.pause()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # no blink phase in the picture
        await pilot.pause()

    return run_before


EXISTING = DirectorySettings(
    id="corp", display_name="Corp", server="10.0.0.5", tls_server_name="dc1.corp.example",
    bind_user="svc-smartsync@corp.example", base_dn="DC=corp,DC=example",
)


# The manual proxy: its fields typed; the refusal: a server written as a URL, then Next.
MANUAL_PROXY_KEYS = ["ctrl+n", "down", "enter", "tab", *"proxy.corp.example", "tab", *"3128", "tab", *"alice", "tab",
                     *"secret"]
REFUSAL_KEYS = ["ctrl+n", "ctrl+n", *"LDAP://dc1:389", "ctrl+n"]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("step", [0, 1, 2], ids=["identity", "proxy", "directory"])
def test_wizard_step_snapshot(snap_compare, step, size):
    assert snap_compare(_snapshot_app(), terminal_size=size, run_before=_showing(SetupWizard, *["ctrl+n"] * step))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_wizard_manual_proxy_snapshot(snap_compare, size):
    assert snap_compare(_snapshot_app(), terminal_size=size, run_before=_showing(SetupWizard, *MANUAL_PROXY_KEYS))


def test_wizard_refusal_snapshot(snap_compare):
    assert snap_compare(_snapshot_app(), terminal_size=(80, 24), run_before=_showing(SetupWizard, *REFUSAL_KEYS))


def test_wizard_discard_question_snapshot(snap_compare):
    assert snap_compare(_snapshot_app(), terminal_size=(80, 24), run_before=_showing(SetupWizard, "escape"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_add_directory_dialog_snapshot(snap_compare, size):
    assert snap_compare(_snapshot_app(), terminal_size=size, run_before=_showing(DirectoryFormDialog))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_edit_directory_dialog_snapshot(snap_compare, size):
    assert snap_compare(_snapshot_app(), terminal_size=size, run_before=_showing(lambda: DirectoryFormDialog(EXISTING)))


# SCIM chosen in step 1 (the Select opened, one down, chosen), then the same wizard at step 3.
SCIM_KEYS = ["enter", "down", "enter"]


@pytest.mark.parametrize("then", [[], ["ctrl+n", "ctrl+n"]], ids=["target", "directory"])
def test_wizard_scim_snapshot(snap_compare, then):
    assert snap_compare(_snapshot_app(), terminal_size=(80, 24),
                        run_before=_showing(SetupWizard, *SCIM_KEYS, *then))

"""The console's forms tell the truth and fit (issue 10, sections 2 and 3), driven as an admin
drives them at 80x24 and 120x40: a Test result goes when what it tested changes; a DC that
accepts and never answers is advised under the port; one Identity editor; the wizard's Back key;
the delete dialog's box and footer; exports offered in the agent's home; console wording of
the core's fixes; the add dialog's fields at 80x24."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, RadioSet, Select, Static
from textual.widgets._footer import FooterKey

from smartsync_tui.checks import directory as directory_check
from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.core.remedy import SecretMissing, remedies, secret_command
from smartsync_tui.config.settings import (
    PRODUCTION_ENVIRONMENT,
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    ProxySettings,
    load_settings,
    save_settings,
)
from smartsync_tui.ui.advice import in_console
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.confirm_delete import ConfirmDeleteDialog
from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog
from smartsync_tui.ui.screens.wizard import SetupWizard
from smartsync_tui.ui.widgets.directory_fields import FieldRow
from smartsync_tui.ui.screens.identity_edit import IdentityEditScreen
from smartsync_tui.ui.screens.proxy_edit import ProxyEditScreen
from smartsync_tui.ui.widgets.home_tab import HomeTab
from tests.support.forms import activate, choose, opened
from tests.support.logs import close_file_logging
from tests.support.waiting import settle as engine_settled

SIZES = [(80, 24), (120, 40)]
CORP = DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                         base_dn="DC=corp,DC=example")


@pytest.fixture
def home(tmp_path, emulator) -> Iterator[Home]:
    """A home whose Identity is the emulator (no proxy in the way), with one directory and the real logs."""
    home = resolve_home(tmp_path / "home").ensure()
    settings = AppSettings(identity=IdentitySettings(protocol="http", environment=urlparse(emulator.url).netloc),
                           proxy=ProxySettings(mode="none"), directories=[CORP])
    save_settings(home.settings_file, settings)
    setup_logging(home)
    yield home
    close_file_logging()


def console(home: Home) -> SmartSyncApp:
    return SmartSyncApp(home, load_settings(home.settings_file), scheduler=False)


def text_of(screen, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one(selector, Static).render())


def footer_keys(screen) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {key.description: key.key_display for key in screen.query(FooterKey)}


def row(screen, field_id: str) -> FieldRow:  # type: ignore[no-untyped-def]
    return screen.query_one(f"#row-{field_id}", FieldRow)


async def settle(pilot: Pilot) -> None:
    await engine_settled(pilot.app)
    await pilot.pause()
    await pilot.pause()


async def type_into(pilot: Pilot, field: Input, text: str) -> None:
    """Type at the end of what the field holds (focusing it selects its text)."""
    field.focus()
    await pilot.press("end", *text)
    await pilot.pause()


# -- stale results go away


@pytest.mark.parametrize("size", SIZES)
async def test_a_wizard_test_result_goes_when_a_field_it_tested_changes(home, emulator, size):
    app = console(home)
    async with app.run_test(size=size) as pilot:
        wizard = await opened(pilot, SetupWizard())
        assert wizard.query_one("#identity-environment", Select).value == "other"
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert text_of(wizard, "#identity-result").startswith(f"✓ {emulator.url} reachable (")
        host = wizard.query_one("#identity-host", Input)
        await type_into(pilot, host, "0")  # now another port: the result said nothing about it
        assert text_of(wizard, "#identity-result") == ""

        await pilot.press("backspace", "ctrl+n")  # the proxy step, tested, then another mode
        await activate(pilot, "#proxy-test")
        await settle(pilot)
        assert text_of(wizard, "#proxy-result").startswith(f"✓ {emulator.url} reachable (")
        wizard.query_one("#proxy-mode", RadioSet).focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert text_of(wizard, "#proxy-result") == ""


async def test_a_test_that_finishes_after_its_field_changed_is_not_shown(home, emulator):
    emulator.faults(latency_ms=600)
    try:
        app = console(home)
        async with app.run_test(size=(80, 24)) as pilot:
            wizard = await opened(pilot, SetupWizard())
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert text_of(wizard, "#identity-result").startswith("Testing")
            await choose(pilot, wizard.query_one("#identity-environment", Select), "production")
            await settle(pilot)
            assert text_of(wizard, "#identity-result") == ""
    finally:
        emulator.clear_faults()


@pytest.mark.parametrize("size", SIZES)
async def test_home_tests_go_when_the_settings_they_tested_change(home, emulator, size):
    app = console(home)
    async with app.run_test(size=size) as pilot:
        tab = app.query_one(HomeTab)
        await activate(pilot, "#identity-test")
        await settle(pilot)
        await activate(pilot, "#proxy-test")
        await settle(pilot)
        assert text_of(tab, "#proxy-result").startswith(f"✓ {emulator.url} reachable (")

        # The proxy dialog's own Test: gone once a field changes.
        await activate(pilot, "#proxy-edit")
        dialog = app.screen
        assert isinstance(dialog, ProxyEditScreen)
        await activate(pilot, "#proxy-dialog-test")
        await settle(pilot)
        assert text_of(dialog, "#proxy-dialog-result").startswith(f"✓ {emulator.url} reachable (")
        dialog.query_one("#proxy-mode", RadioSet).focus()
        await pilot.press("left", "enter")  # none -> manual
        await pilot.pause()
        assert text_of(dialog, "#proxy-dialog-result") == ""
        await pilot.press("escape")
        await pilot.pause()

        # Another environment saved: neither result of the tab is about it.
        await activate(pilot, "#identity-edit")
        host = app.screen.query_one("#identity-host", Input)
        host.value = "127.0.0.2"  # another environment (plain http stays on this machine)
        await activate(pilot, "#identity-save")
        assert not isinstance(app.screen, IdentityEditScreen)
        assert text_of(tab, "#identity-result") == "Saved: http://127.0.0.2"
        assert not tab.query_one("#proxy-result").display or text_of(tab, "#proxy-result") == ""


# -- one Identity editor


@pytest.mark.parametrize("size", SIZES)
async def test_home_edit_is_the_wizards_identity_editor_with_test(home, emulator, size):
    app = console(home)
    async with app.run_test(size=size) as pilot:
        await activate(pilot, "#identity-edit")
        dialog = app.screen
        assert isinstance(dialog, IdentityEditScreen)
        environment = dialog.query_one("#identity-environment", Select)
        assert [value for _label, value in environment._options] == ["production", "test", "other"]
        assert app.focused is environment and environment.value == "other"

        await activate(pilot, "#identity-test")
        await settle(pilot)
        assert text_of(dialog, "#identity-result").startswith(f"✓ {emulator.url} reachable (")

        # Test environment: a host outside customerfi.com is refused under the field, and not tested.
        await choose(pilot, environment, "test")
        assert text_of(dialog, "#identity-result") == ""
        await activate(pilot, "#identity-test")
        assert "ends in .customerfi.com" in row(dialog, "identity-host").error
        assert app.focused is dialog.query_one("#identity-host")

        await choose(pilot, environment, "production")
        assert not row(dialog, "identity-host").display
        # Production over plain http is refused (only an emulator on this machine may use it).
        await activate(pilot, "#identity-save")
        assert isinstance(app.screen, IdentityEditScreen)
        await choose(pilot, dialog.query_one("#identity-protocol", Select), "https")
        await activate(pilot, "#identity-save")
        assert not isinstance(app.screen, IdentityEditScreen)
    saved = load_settings(home.settings_file).identity
    assert (saved.protocol, saved.environment) == ("https", PRODUCTION_ENVIRONMENT)


# -- a DC that accepts and never answers


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener on 127.0.0.1 that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("tls, what", [("ldaps", "the TLS handshake"), ("plain", "the login (bind)")])
@pytest.mark.parametrize("size", SIZES)
async def test_a_silent_dc_gets_advice_under_the_port(home, emulator, silent_port, monkeypatch, size, tls, what):
    # The check's wait is short here (and the message says how long it waited).
    monkeypatch.setattr(directory_check, "CHECK_TIMEOUT_SECONDS", 1.0)
    _directory_id, token = emulator.create_directory("Silent")
    app = console(home)
    async with app.run_test(size=size) as pilot:
        dialog = await opened(pilot, DirectoryFormDialog())
        if tls != "ldaps":
            await choose(pilot, dialog.query_one("#tls", Select), tls)
        for field_id, value in (("server", "127.0.0.1"), ("port", str(silent_port)), ("bind-user", "svc@corp.example"),
                                ("password", "Passw0rd!"), ("base-dn", "DC=corp,DC=example"), ("token", token)):
            dialog.query_one(f"#{field_id}", Input).value = value
        started = time.monotonic()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert time.monotonic() - started < 15
        advice = row(dialog, "port").error
        assert f"127.0.0.1:{silent_port} accepts connections but did not answer {what} within 1 s" in advice
        assert "firewall" in advice
        assert ("usually 636 for LDAPS" if tls == "ldaps" else "usually 389 for plain LDAP") in advice
        assert row(dialog, "server").error == "" and row(dialog, "password").error == ""
        assert app.focused is dialog.query_one("#port")
        assert app.screen is dialog and load_settings(home.settings_file).directories == [CORP]

        # The report above the fields is marked old as soon as a field changes.
        report = dialog.query_one("#check-report", Static)
        assert report.has_class("-shown") and not report.has_class("-stale")
        await type_into(pilot, dialog.query_one("#port", Input), "9")
        assert report.has_class("-stale") and report.border_title.startswith("Old:")


# -- inline refusals that say what was typed


@pytest.mark.parametrize("size", SIZES)
async def test_a_domain_as_base_dn_and_a_typed_scheme_are_named(home, size):
    app = console(home)
    async with app.run_test(size=size) as pilot:
        dialog = await opened(pilot, DirectoryFormDialog())
        await type_into(pilot, dialog.query_one("#base-dn", Input), "corp.example.test")
        assert row(dialog, "base-dn").error == (
            "'corp.example.test' is a domain name, not a DN: write it as DC=corp,DC=example,DC=test")
        await type_into(pilot, dialog.query_one("#server", Input), "ldaps://dc1")
        assert "without 'ldaps://'" in row(dialog, "server").error
        await pilot.press("escape")
        await pilot.pause()
        await pilot.click("#discard-yes")
        await pilot.pause()

        await activate(pilot, "#identity-edit")
        host = app.screen.query_one("#identity-host", Input)
        host.value = ""
        await type_into(pilot, host, "https://host")
        assert "without 'https://'" in row(app.screen, "identity-host").error


# -- small ones


@pytest.mark.parametrize("size", SIZES)
async def test_the_wizard_has_a_back_key_in_its_footer(home, size):
    app = console(home)
    async with app.run_test(size=size) as pilot:
        wizard = await opened(pilot, SetupWizard())
        assert "Back" not in footer_keys(wizard)  # nothing before the first step
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert wizard.query_one("#wizard-switcher").current == "step-proxy"
        assert "Back" in footer_keys(wizard)
        await pilot.press("alt+left")
        await pilot.pause()
        assert wizard.query_one("#wizard-switcher").current == "step-identity"
        await pilot.press("ctrl+n", "ctrl+n")
        await pilot.pause()
        wizard.query_one("#server", Input).value = "dc1.corp.example"
        await pilot.press("alt+b")  # Option+B on a Mac terminal
        await pilot.pause()
        assert wizard.query_one("#wizard-switcher").current == "step-proxy"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert wizard.query_one("#server", Input).value == "dc1.corp.example"


@pytest.mark.parametrize("size", SIZES)
async def test_the_delete_box_reads_ticked_or_not_and_the_dialog_has_a_footer(home, size):
    app = console(home)
    results: list = []
    async with app.run_test(size=size) as pilot:
        dialog = await opened(pilot, ConfirmDeleteDialog(CORP), results.append)
        box = dialog.query_one("#understood", Checkbox)
        assert "✓" not in str(box.render())
        assert footer_keys(dialog) == {"Cancel": "esc", "Tick the box": "t"}
        await pilot.press("space")  # the box has focus
        await pilot.pause()
        assert box.value and "✓" in str(box.render())
        assert not dialog.query_one("#delete", Button).disabled
        await pilot.press("t")  # and again from anywhere in the dialog
        await pilot.pause()
        assert not box.value and "✓" not in str(box.render())
        assert dialog.query_one("#delete", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
    assert results == [False]


@pytest.mark.parametrize("size", SIZES)
async def test_exports_are_offered_in_the_agents_home(home, size):
    logging.getLogger("smartsync.engine").info("a line to export")
    app = console(home)
    async with app.run_test(size=size) as pilot:
        tab = app.query_one(HomeTab)
        offered = Path(tab.query_one("#log-path", Input).value).expanduser()
        assert offered.parent == home.export_dir
        assert not home.export_dir.exists()  # made by the first export, not before
        await activate(pilot, "#log-export")
        await settle(pilot)
        assert text_of(tab, "#export-result").endswith(f" to {offered}")
    assert offered.is_file()
    assert oct(home.export_dir.stat().st_mode & 0o777) == "0o700"


# -- the core's fixes, worded for the console


def test_a_missing_secret_says_the_cli_command_and_the_console_its_key():
    error = SecretMissing("password", "corp", "password")
    assert str(error) == ("The password of directory 'corp' is missing from the secret store: set it with "
                          "`smartsync-tui directory edit corp --password-stdin`.")
    assert in_console(str(error)) == (
        "The password of directory 'corp' is missing from the secret store: press e on the Active Directory tab "
        "to edit directory 'corp' and type its password.")
    # What `run` stored as text is found again: the console words it the same way.
    stored = f"The agent key of directory 'hq-2' is missing from the secret store: set it with {secret_command('hq-2', 'token')}."
    assert [f.kind for f in remedies(stored)] == ["token"]
    assert "`" not in in_console(stored) and "paste its token from Identity" in in_console(stored)
    option = "set the TLS server name to the name on the certificate (--tls-server-name dc1.corp.example)."
    assert in_console(option) == "set the TLS server name to the name on the certificate."
    assert in_console("Nothing to fix here (really).") == "Nothing to fix here (really)."


@pytest.mark.samba
async def test_a_name_mismatch_is_advised_with_the_field_not_the_option(samba_dc, emulator, home):
    _directory_id, token = emulator.create_directory("Corp")
    app = console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await opened(pilot, DirectoryFormDialog())
        for field_id, value in (("server", samba_dc.host), ("ca-file", str(samba_dc.ca_file)),
                                ("bind-user", samba_dc.admin_user), ("password", samba_dc.admin_password),
                                ("base-dn", samba_dc.base_dn), ("token", token)):
            dialog.query_one(f"#{field_id}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        advice = row(dialog, "tls-server-name").error
        assert "set the TLS server name to the name on the certificate" in advice
        assert "--tls-server-name" not in advice and "--" not in text_of(dialog, "#check-report")
        assert app.focused is dialog.query_one("#tls-server-name")


# -- forms fit at 80x24


async def test_the_add_dialog_shows_most_of_its_fields_at_80x24(home):
    app = console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await opened(pilot, DirectoryFormDialog())
        form = dialog.query_one("#directory-dialog-form")
        visible = [r.field.id for r in dialog.query(FieldRow)
                   if r.display and r.region.y >= form.region.y and r.region.bottom <= form.region.bottom]
        assert len(visible) >= 8, visible
        assert visible[:4] == ["server", "tls", "port", "ca-file"]


@pytest.mark.samba
@pytest.mark.parametrize("tls, port, says", [
    ("ldaps", 389, "Port 389 is plain LDAP, not LDAPS"),
    ("starttls", 636, "Port 636 is the LDAPS port"),
])
async def test_a_tls_mode_on_the_other_port_is_advised_under_the_port(samba_dc, emulator, home, tls, port, says):
    _directory_id, token = emulator.create_directory("Corp")
    app = console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await opened(pilot, DirectoryFormDialog())
        await choose(pilot, dialog.query_one("#tls", Select), tls)
        for field_id, value in (("server", samba_dc.host), ("port", str(port)), ("ca-file", str(samba_dc.ca_file)),
                                ("tls-server-name", samba_dc.tls_server_name), ("bind-user", samba_dc.admin_user),
                                ("password", samba_dc.admin_password), ("base-dn", samba_dc.base_dn), ("token", token)):
            dialog.query_one(f"#{field_id}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert says in row(dialog, "port").error
        assert row(dialog, "ca-file").error == "" and app.focused is dialog.query_one("#port")

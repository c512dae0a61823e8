"""The console with a SCIM directory: the add dialog and the setup wizard offer the target, check the SCIM
endpoint for real (Samba and scim2-server) and save; the table says SCIM, and a sync from the console lands in
the provider."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input, Select, Static

from smartsync_tui.config.settings import load_settings
from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog
from tests.support.forms import choose, opened
from tests.support.tables import directory_row
from tests.support.waiting import settle
from tests.test_console_forms import console, home, row  # noqa: F401 (the fixture)
from tests.test_console_wizard import _showing, _snapshot_app

pytestmark = pytest.mark.samba


async def _fill(pilot, dialog, samba_dc, ou: str, url: str, token: str) -> None:  # type: ignore[no-untyped-def]
    await choose(pilot, dialog.query_one("#target", Select), "scim")
    await pilot.pause()
    assert dialog.query_one("#scim-url", Input).display and dialog.query_one("#row-scim-url").display
    for field_id, value in (("server", samba_dc.host), ("ca-file", str(samba_dc.ca_file)),
                            ("tls-server-name", samba_dc.tls_server_name), ("bind-user", samba_dc.admin_user),
                            ("password", samba_dc.admin_password), ("base-dn", ou), ("scim-url", url), ("token", token),
                            ("display-name", "Corp SCIM")):
        dialog.query_one(f"#{field_id}", Input).value = value
    await choose(pilot, dialog.query_one("#scim-profile", Select), "entra-id")


async def test_a_scim_directory_added_in_the_console_is_checked_saved_and_synced(home, samba_dc, scim_gate,  # noqa: F811
                                                                                 scim_tenant):
    ou = samba_dc.make_ou()
    from tests.support.sync_env import AdEditor

    ad = AdEditor(samba_dc, ou)
    ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    ad.close()
    app = console(home)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        dialog = await opened(pilot, DirectoryFormDialog())
        await _fill(pilot, dialog, samba_dc, ou, scim_gate.url, "wrong-token-123456")
        await pilot.press("ctrl+s")
        await settle(app)
        # The provider refused the token: said under the token, nothing saved.
        assert "refused the bearer token" in row(dialog, "token").error
        assert app.screen is dialog and len(load_settings(home.settings_file).directories) == 1
        dialog.query_one("#token", Input).value = scim_tenant.server.token
        await pilot.press("ctrl+s")
        await settle(app)
        assert app.screen is not dialog
        saved = {d.id: d for d in load_settings(home.settings_file).directories}
        [scim] = [d for d in saved.values() if d.target == "scim"]
        assert (scim.scim.base_url, scim.scim.profile, scim.display_name) == (scim_gate.url, "entra-id", "Corp SCIM")
        secrets = json.loads(home.secrets_file.read_text())
        assert secrets[f"directory/{scim.id}/token"] == scim_tenant.server.token
        await pilot.press("d")
        await pilot.pause()
        cells = directory_row(app, 1)
        assert cells["target"] == "SCIM"
        app.start_sync(scim.id)
        await settle(app)
        await pilot.pause()
        cells = directory_row(app, 1)
        assert (cells["sync"], cells["target"], cells["users"]) == ("Synced", "SCIM ✓", "1"), cells
        # Its details speak of the provider, and login checks do not apply to it (only Identity asks).
        from smartsync_tui.ui.screens.details import DirectoryDetails

        app.push_screen(DirectoryDetails(scim, app.state))
        await pilot.pause()
        counts = str(app.screen.query_one("#details-counts", Static).render())
        assert counts == "1 user (0 disabled) and 0 groups in the SCIM provider; 0 operations pending"
        assert str(app.screen.query_one("#login-check-summary", Static).render()).startswith(
            "Login checks do not apply: this directory syncs to a SCIM provider")
    assert [u["userName"] for u in scim_tenant.users().values()] == [ad.login("ana.goncalves")]


def test_the_add_dialog_with_scim_chosen_snapshot(snap_compare):
    async def scim_chosen(pilot):  # type: ignore[no-untyped-def]
        await _showing(DirectoryFormDialog)(pilot)
        await choose(pilot, pilot.app.screen.query_one("#target", Select), "scim")
        pilot.app.screen.query_one("#server", Input).focus()
        await pilot.pause()

    assert snap_compare(_snapshot_app(), terminal_size=(80, 24), run_before=scim_chosen)


async def test_the_wizard_sets_up_a_scim_directory_by_keyboard(home, samba_dc, scim_gate, scim_tenant):  # noqa: F811
    from smartsync_tui.ui.screens.wizard import SetupWizard
    from tests.test_console_wizard import open_wizard, paste, type_text

    before = home.settings_file.read_bytes()
    identity = load_settings(home.settings_file).identity  # the emulator's: set up before, to be left alone
    ou = samba_dc.make_ou()
    app = console(home)
    results: list = []
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(app, pilot, results)
        assert isinstance(wizard, SetupWizard) and app.focused is wizard.query_one("#wizard-target")
        # Identity's host spoilt first (refused inline), then SCIM chosen: the spoilt host is neither
        # checked (Next goes on) nor saved.
        await pilot.press("tab", "tab", "tab", "end", *"/x")
        assert app.focused is wizard.query_one("#identity-host") and row(wizard, "identity-host").error
        await pilot.press("shift+tab", "shift+tab", "shift+tab")
        assert app.focused is wizard.query_one("#wizard-target")
        await pilot.press("enter", "down", "enter")  # a SCIM 2.0 provider
        await pilot.pause()
        assert not wizard.query_one("#wizard-identity").display and wizard.query_one("#wizard-scim-note").display
        await pilot.press("ctrl+t")  # Test reaches Identity: not offered for SCIM
        await pilot.pause()
        assert not any(w.group == "connection-test" for w in app.workers)
        await pilot.press("ctrl+n")
        assert wizard.query_one("#wizard-switcher").current == "step-proxy"
        assert not wizard.query_one("#proxy-test-line").display
        assert "SCIM provider" in str(wizard.query_one("#proxy-intro", Static).render())
        await pilot.press("ctrl+n")  # the proxy as saved (none)

        # Step 3: Target is step 1's choice, read-only (Tab passes it by).
        assert wizard.query_one("#wizard-switcher").current == "step-directory"
        assert wizard.query_one("#target", Select).value == "scim" and wizard.query_one("#target").disabled
        assert app.focused is wizard.query_one("#server")
        for text, how, skip in ((samba_dc.host, type_text, 3), (str(samba_dc.ca_file), paste, 1),
                                (samba_dc.tls_server_name, type_text, 1), (samba_dc.admin_user, type_text, 1),
                                (samba_dc.admin_password, type_text, 1), (ou, type_text, 1),
                                (scim_gate.url, type_text, 1)):
            await how(pilot, text)
            await pilot.press(*["tab"] * skip)
        assert app.focused is wizard.query_one("#scim-profile")
        await choose(pilot, wizard.query_one("#scim-profile", Select), "entra-id")
        await pilot.press("tab")
        assert app.focused is wizard.query_one("#token")
        await paste(pilot, "wrong-token-123456")
        await pilot.press("ctrl+n")  # Finish
        await settle(app)
        await pilot.pause()
        # The provider refused the token: said under the token, which has the focus; nothing saved.
        assert "refused the bearer token" in row(wizard, "token").error
        assert app.screen is wizard and app.focused is wizard.query_one("#token")
        assert "Nothing was saved" in str(wizard.query_one("#wizard-status", Static).render())
        assert home.settings_file.read_bytes() == before
        await pilot.press("end", "ctrl+u")
        await paste(pilot, scim_tenant.server.token)
        await pilot.press("ctrl+n")
        await settle(app)
        assert results == [True], str(wizard.query_one("#wizard-status", Static).render())
    saved = load_settings(home.settings_file)
    assert saved.identity == identity  # not asked, not checked, not changed
    assert saved.proxy.mode == "none"
    [scim] = [d for d in saved.directories if d.target == "scim"]
    assert (scim.scim.base_url, scim.scim.profile, scim.base_dn) == (scim_gate.url, "entra-id", ou)
    assert [d.id for d in saved.directories if d.target == "identity"] == ["corp"]  # kept, as it was
    secrets = json.loads(home.secrets_file.read_text())
    assert secrets[f"directory/{scim.id}/token"] == scim_tenant.server.token
    assert secrets[f"directory/{scim.id}/bind_password"] == samba_dc.admin_password

"""The stored proxy password never follows a changed proxy (host, port or user).

The attack: the console's proxy dialog and the wizard say "empty keeps the
stored one"; pointing the proxy at a listener of one's own and pressing Test
or Save would hand it ``Proxy-Authorization: Basic <user:password>``. Each
path is driven here against a listener on 127.0.0.1 that records every byte.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from textual.widgets import Input

from smartsync_tui.checks.connection import save_proxy
from smartsync_tui.core.errors import InputError
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY, SecretStore
from smartsync_tui.config.settings import (
    AppSettings,
    IdentitySettings,
    ProxySettings,
    load_settings,
    proxy_password_moves,
    save_settings,
)
from tests.support.forms import activate
from tests.support.listener import RecordingListener
from tests.support.waiting import settle

STORED = "Pr0xy-Stored-S3cret"
HERE = ProxySettings(mode="manual", host="proxy.corp.example", port=3128, user="svc")


def _home(tmp_path: Path) -> Home:
    home = resolve_home(tmp_path / "home").ensure()
    save_settings(home.settings_file, AppSettings(
        identity=IdentitySettings(protocol="https", environment="identity.corp.example"), proxy=HERE))
    SecretStore(home.secrets_file).set(PROXY_PASSWORD_KEY, STORED)
    return home


def _leaked(listener: RecordingListener) -> bool:
    sent = listener.received
    return STORED.encode() in sent or base64.b64encode(f"svc:{STORED}".encode()) in sent


@pytest.mark.parametrize("change", [
    {"host": "127.0.0.1"}, {"port": 8080}, {"user": "other"}, {"host": "PROXY.corp.example."},
], ids=["host", "port", "user", "same-host-spelled-otherwise"])
def test_a_changed_proxy_or_user_needs_the_password_typed_again(tmp_path, change):
    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    new = HERE.model_copy(update=change)
    saved: list[str] = []
    moves = proxy_password_moves(HERE, new)
    if "host" in change and change["host"].lower().rstrip(".") == HERE.host:
        assert not moves  # the same proxy, written in capitals or with the root dot
        return
    assert moves
    with pytest.raises(InputError, match="type the password of .* again") as refused:
        save_proxy(SecretStore(home.secrets_file), new, None, lambda: saved.append("saved"), previous=HERE)
    assert STORED not in str(refused.value)
    assert saved == [] and home.settings_file.read_bytes() == before
    # Typed again, it is the admin's choice for the new proxy.
    save_proxy(SecretStore(home.secrets_file), new, SecretStr("New-Pw-1"), lambda: saved.append("saved"), previous=HERE)
    assert saved == ["saved"]
    assert SecretStore(home.secrets_file).get(PROXY_PASSWORD_KEY).get_secret_value() == "New-Pw-1"


def test_the_same_proxy_keeps_the_stored_password(tmp_path):
    home = _home(tmp_path)
    saved: list[str] = []
    save_proxy(SecretStore(home.secrets_file), HERE.model_copy(), None, lambda: saved.append("saved"), previous=HERE)
    assert saved == ["saved"]
    assert SecretStore(home.secrets_file).get(PROXY_PASSWORD_KEY).get_secret_value() == STORED


@pytest.fixture
def clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("SMARTSYNC_")]:
        monkeypatch.delenv(name)


async def test_the_console_proxy_dialog_never_sends_the_stored_password_to_another_proxy(tmp_path, clean_env):
    from smartsync_tui.ui.app import SmartSyncApp
    from smartsync_tui.ui.screens.proxy_edit import ProxyEditScreen

    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    app = SmartSyncApp(home, load_settings(home.settings_file), scheduler=False)
    with RecordingListener() as listener:
        async with app.run_test(size=(80, 24)) as pilot:
            await activate(pilot, "#proxy-edit")
            dialog = app.screen
            assert isinstance(dialog, ProxyEditScreen)
            dialog.query_one("#proxy-host", Input).value = "127.0.0.1"
            dialog.query_one("#proxy-port", Input).value = str(listener.port)
            for button in ("#proxy-dialog-test", "#proxy-save"):
                await activate(pilot, button)
                await settle(app)
                await pilot.pause()
                assert app.screen is dialog, button
                error = str(dialog.query_one("#proxy-error").render())
                assert error.startswith("Type the password of svc again: the proxy's host, port or user changed"), error
                assert app.focused is dialog.query_one("#proxy-password", Input)
    assert listener.connections == 0 and not _leaked(listener)
    assert home.settings_file.read_bytes() == before
    assert SecretStore(home.secrets_file).get(PROXY_PASSWORD_KEY).get_secret_value() == STORED


async def test_the_wizard_never_sends_the_stored_proxy_password_to_another_proxy(tmp_path, clean_env):
    from smartsync_tui.ui.app import SmartSyncApp
    from smartsync_tui.ui.screens.wizard import SetupWizard
    from smartsync_tui.ui.widgets.directory_fields import FieldRow

    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    app = SmartSyncApp(home, load_settings(home.settings_file), scheduler=False)
    with RecordingListener() as listener:
        async with app.run_test(size=(120, 40)) as pilot:
            wizard = SetupWizard()
            app.push_screen(wizard)
            await pilot.pause()
            await pilot.press("ctrl+n")  # Identity as saved
            await pilot.pause()
            assert wizard.query_one("#wizard-switcher").current == "step-proxy"
            wizard.query_one("#proxy-host", Input).value = "127.0.0.1"
            wizard.query_one("#proxy-port", Input).value = str(listener.port)
            await pilot.press("ctrl+t")  # Test through the proxy as typed
            await settle(app)
            await pilot.pause()
            await pilot.press("ctrl+n")  # Next: refused under the password
            await pilot.pause()
            assert wizard.query_one("#wizard-switcher").current == "step-proxy"
            error = wizard.query_one("#row-proxy-password", FieldRow).error
            assert error.startswith("Type the password of svc again: the proxy's host, port or user changed"), error
    assert not _leaked(listener)
    assert home.settings_file.read_bytes() == before

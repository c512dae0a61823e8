"""A stored bind password never follows a changed destination.

The attack: `directory edit corp --server ATTACKER --tls plain` (or the
console's edit, password "left empty to keep") made the check bind to the
new server with the stored AD service password, in the clear. Here the new
server is a listener of the test's own on 127.0.0.1 that records every byte;
it must never see the stored password (nor, for a refused edit, anyone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from smartsync_tui.cli.exit_codes import COULD_NOT_RUN
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import SecretStore, directory_password_key, directory_token_key
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    ProxySettings,
    load_settings,
    password_destination_changes,
    save_settings,
)
from tests.support.forms import choose
from tests.support.listener import RecordingListener
from tests.support.waiting import settle

ROOT = Path(__file__).resolve().parents[1]
STORED = "Stored-Service-Passw0rd"
TOKEN = "idt_" + "t" * 40
CORP = DirectorySettings(id="corp", server="dc1.corp.example", tls="ldaps", bind_user="svc@corp.example",
                         base_dn="DC=corp,DC=example")


def _home(tmp_path: Path, directory: DirectorySettings = CORP) -> Home:
    home = resolve_home(tmp_path / "home").ensure()
    save_settings(home.settings_file, AppSettings(
        identity=IdentitySettings(protocol="http", environment="127.0.0.1:1"),  # away: the check's 2nd half fails
        proxy=ProxySettings(mode="none"),
        directories=[directory],
    ))
    SecretStore(home.secrets_file).set_many({directory_password_key("corp"): STORED, directory_token_key("corp"): TOKEN})
    return home


def _cli(home: Home, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home.config_dir.parent), *argv],
        input=stdin, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT,
    )


def _unchanged(home: Home, before: bytes) -> None:
    assert home.settings_file.read_bytes() == before
    assert SecretStore(home.secrets_file).get(directory_password_key("corp")).get_secret_value() == STORED


def test_edit_to_a_listener_over_plain_never_sends_it_the_stored_password(tmp_path):
    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    with RecordingListener() as listener:
        done = _cli(home, "directory", "edit", "corp", "--server", "127.0.0.1", "--port", str(listener.port),
                    "--tls", "plain")
    assert done.returncode == COULD_NOT_RUN, done.stdout + done.stderr
    assert "--tls plain would send the stored password of 'corp' unencrypted" in done.stderr
    assert "--password-stdin" in done.stderr and "Traceback" not in done.stderr
    assert listener.connections == 0 and STORED.encode() not in listener.received
    _unchanged(home, before)


@pytest.mark.parametrize("change", [
    ("--server", "127.0.0.1", "--port", "{port}"),
    ("--port", "{port}"),
    ("--tls", "starttls"),
    ("--tls-server-name", "other.corp.example"),
    ("--user", "someone-else@corp.example"),
    ("--ca-file", "{ca}"),
])
def test_any_change_of_where_or_as_whom_needs_the_password_typed_again(tmp_path, change):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    with RecordingListener() as listener:
        argv = [a.format(port=listener.port, ca=ca) for a in change]
        done = _cli(home, "directory", "edit", "corp", *argv, "--json")
    assert done.returncode == COULD_NOT_RUN, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer["kind"] == "input" and argv[0] in answer["error"], answer
    assert "Pass --password-stdin and type it again" in answer["error"]
    assert listener.connections == 0
    _unchanged(home, before)


def test_a_typed_password_over_plain_is_the_admins_choice_as_add_allows(tmp_path):
    """Consistent with `directory add --tls plain`: the typed password goes; the stored one never does."""
    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    with RecordingListener() as listener:
        done = _cli(home, "directory", "edit", "corp", "--server", "127.0.0.1", "--port", str(listener.port),
                    "--tls", "plain", "--password-stdin", stdin="Typed-For-This-Server\n")
    assert done.returncode != 0  # the listener is no DC: the check fails and nothing is saved
    assert b"Typed-For-This-Server" in listener.received
    assert STORED.encode() not in listener.received
    _unchanged(home, before)


def test_an_edit_that_keeps_the_destination_keeps_the_stored_password(tmp_path):
    with RecordingListener() as listener:
        here = CORP.model_copy(update={"server": "127.0.0.1", "port": listener.port, "tls": "plain"})
        home = _home(tmp_path, here)
        done = _cli(home, "directory", "edit", "corp", "--name", "Corp HQ", "--server", "127.0.0.1")
    assert "password" not in done.stderr.split("\n")[0], done.stderr  # not refused for the password
    assert STORED.encode() in listener.received  # the same server it was checked with, as before


def test_destination_changes_compare_what_decides_where_the_password_goes():
    assert password_destination_changes(CORP, CORP.model_copy(update={"display_name": "x", "base_dn": "DC=x"})) == []
    assert password_destination_changes(CORP, CORP.model_copy(update={"server": "DC1.Corp.Example.", "port": 636})) == []
    moved = CORP.model_copy(update={"server": "evil.example", "tls": "plain", "port": 389})
    assert password_destination_changes(CORP, moved) == ["server", "port", "tls"]


# -- the console's edit dialog


async def test_the_console_edit_asks_for_the_password_when_the_server_changes(tmp_path, monkeypatch):
    from smartsync_tui.ui.app import SmartSyncApp
    from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog
    from smartsync_tui.ui.widgets.directory_fields import FieldRow

    for name in [n for n in os.environ if n.startswith("SMARTSYNC_")]:
        monkeypatch.delenv(name)
    home = _home(tmp_path)
    before = home.settings_file.read_bytes()
    app = SmartSyncApp(home, load_settings(home.settings_file), scheduler=False)
    results: list = []
    with RecordingListener() as listener:
        async with app.run_test(size=(120, 40)) as pilot:
            dialog = DirectoryFormDialog(app.settings.directory("corp"))
            app.push_screen(dialog, results.append)
            await pilot.pause()
            password = dialog.query_one("#password", Input)
            assert password.placeholder == "leave empty to keep the stored one"
            dialog.query_one("#server", Input).value = "127.0.0.1"
            dialog.query_one("#port", Input).value = str(listener.port)
            await choose(pilot, dialog.query_one("#tls", Select), "plain")
            await pilot.pause()
            assert password.placeholder == "required: Server, Port, TLS changed"
            await pilot.press("ctrl+s")
            await settle(app)
            await pilot.pause()
            error = dialog.query_one("#row-password", FieldRow).error
            assert error.startswith("Type the password: the stored one is never sent over plain LDAP"), error
            assert app.screen is dialog and app.focused is password and results == []
            assert not any(w.group == "directory-form-save" for w in app.workers)

            # Back to LDAPS on the new server: still another destination, still asked for.
            await choose(pilot, dialog.query_one("#tls", Select), "ldaps")
            await pilot.press("ctrl+s")
            await settle(app)
            await pilot.pause()
            error = dialog.query_one("#row-password", FieldRow).error
            assert error.startswith("Type the password again: Server, Port changed"), error
            assert not any(w.group == "directory-form-save" for w in app.workers)
    assert listener.connections == 0 and STORED.encode() not in listener.received
    _unchanged(home, before)

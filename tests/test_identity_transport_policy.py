"""Where the token may go (docs/security.md): plain http only to this machine, and no stored
token or agent key sent to a new Identity environment; in the CLI and in the console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from textual.widgets import Input, Select, Static

from smartsync_tui.targets.identity.environment import is_plain_http_elsewhere
from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import SecretStore, directory_agent_key, directory_token_key
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    ProxySettings,
    load_settings,
    save_settings,
)
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.widgets.directory_fields import FieldRow
from smartsync_tui.ui.screens.identity_edit import IdentityEditScreen
from tests.support import hostile_http
from tests.support.cli import run_main
from tests.support.forms import activate, choose
from tests.support.logs import close_file_logging

TOKEN = "idt_policy-test-token-0123456789"
AGENT_KEY = "iak_policy-test-agent-key-0123456789"


def _home(root: Path, environment: str = "127.0.0.1:9", protocol: str = "http") -> Home:
    home = resolve_home(root).ensure()
    settings = AppSettings(identity=IdentitySettings(protocol=protocol, environment=environment),  # type: ignore[arg-type]
                           proxy=ProxySettings(mode="none"))
    settings.directories.append(DirectorySettings(id="corp", server="dc1.corp.example", bind_user="svc@corp.example",
                                                  base_dn="DC=corp,DC=example"))
    save_settings(home.settings_file, settings)
    SecretStore(home.secrets_file).set_many({directory_token_key("corp"): TOKEN, directory_agent_key("corp"): AGENT_KEY})
    return home


def _identity(home: Home) -> dict:
    return json.loads(home.settings_file.read_text())["identity"]


# -- plain http


def test_http_to_another_host_is_refused_unless_insecure_http_says_so(tmp_path, capsys):
    home = _home(tmp_path / "home")
    before = home.settings_file.read_text()
    code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "identity", "set",
                              "--environment", "identity.corp.example")
    assert code == 1, out + err
    assert "refused: over http the directory token and the agent key would travel in clear to identity.corp.example" in err
    assert "--insecure-http" in err and "Traceback" not in err
    assert home.settings_file.read_text() == before  # nothing half-written
    assert SecretStore(home.secrets_file).get(directory_token_key("corp")) is not None

    code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "identity", "set",
                              "--environment", "identity.corp.example", "--insecure-http")
    assert code == 0, out + err
    assert _identity(home) == {"protocol": "http", "environment": "identity.corp.example", "ca_file": None}
    assert "warning: plain http to a host that is not this machine" in err
    console = (home.log_dir / "console.log").read_text()
    assert "insecure_http=True" in console


def test_http_to_this_machine_needs_no_flag_and_https_anywhere_is_fine(tmp_path, capsys):
    _home(tmp_path / "home", protocol="https", environment="identity.corp.example")
    for args in (["--protocol", "http", "--environment", "127.0.0.1:8080"], ["--environment", "localhost:5000"],
                 ["--protocol", "https", "--environment", "app.fluigidentity.com"]):
        code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "identity", "set", *args)
        assert code == 0, (args, out, err)
        assert "warning" not in err


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.one_of(
    st.tuples(st.just(True), st.builds(lambda b, c, d: f"127.{b}.{c}.{d}", *[st.integers(0, 255)] * 3)),
    st.tuples(st.just(True), st.sampled_from(["localhost", "LOCALHOST", "localhost."])),
    st.tuples(st.just(False), st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", st.integers(1, 126) | st.integers(
        128, 223), *[st.integers(0, 255)] * 3)),
    st.tuples(st.just(False), st.from_regex(r"[a-z][a-z0-9]{0,20}\.(example|corp|localhost\.evil)\.com", fullmatch=True)),
), st.none() | st.integers(1, 65535))
def test_only_loopback_hosts_may_be_reached_over_http(case, port):
    loopback, host = case
    environment = f"{host}:{port}" if port else host
    identity = IdentitySettings(protocol="http", environment=environment)
    assert is_plain_http_elsewhere(identity) is (not loopback)
    assert not is_plain_http_elsewhere(IdentitySettings(protocol="https", environment=environment))


def test_an_existing_http_setting_keeps_working_with_a_warning_in_the_log(tmp_path, capsys):
    home = _home(tmp_path / "home", environment="identity.invalid")  # written before this release
    code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "identity", "test")
    assert code == 1 and "does not resolve" in out  # it was tried, not refused
    log = (home.log_dir / "application.log").read_text()
    assert "Identity at identity.invalid is reached over plain http: the directory token and the agent key travel " \
           "in clear" in log


# -- the token does not follow a changed environment


def test_a_new_environment_does_not_receive_the_stored_token(tmp_path, capsys):
    home = _home(tmp_path / "home")
    with hostile_http.HostileServer(hostile_http.json_answer({"service": "identity-agent-api"})) as server:
        code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "identity", "set",
                                  "--environment", server.host)
        assert code == 0, out + err
        assert "The token and agent key of corp were removed: they were given for http://127.0.0.1:9 and are never " \
               f"sent to {server.url}" in out
        assert "smartsync-tui directory edit corp --token-stdin" in out
        secrets = SecretStore(home.secrets_file)
        assert secrets.get(directory_token_key("corp")) is None and secrets.get(directory_agent_key("corp")) is None
        code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "directory", "list", "--json")
        assert json.loads(out)[0]["token_set"] is False
        # What would send it (the directory's check) has nothing to send: the new host never sees it.
        run_main(capsys, "--home", str(tmp_path / "home"), "directory", "test", "corp")
        assert all(TOKEN not in r.headers.get("authorization", "") and AGENT_KEY not in r.headers.get("x-agent-key", "")
                   for r in server.requests)
    console = (home.log_dir / "console.log").read_text()
    assert "credentials_removed=corp" in console and TOKEN not in console


def test_the_same_environment_keeps_the_token(tmp_path, capsys):
    home = _home(tmp_path / "home")
    code, out, err = run_main(capsys, "--home", str(tmp_path / "home"), "identity", "set", "--environment",
                              "127.0.0.1:9", "--json")
    assert code == 0 and json.loads(out)["credentials_removed"] == []
    assert SecretStore(home.secrets_file).get(directory_token_key("corp")) is not None


# -- the console


@pytest.fixture
def console_home(tmp_path):
    home = _home(tmp_path / "home")
    setup_logging(home)
    yield home
    close_file_logging()


async def test_the_console_refuses_http_to_another_host(console_home):
    app = SmartSyncApp(console_home, load_settings(console_home.settings_file), scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await activate(pilot, "#identity-edit")
        app.screen.query_one("#identity-host", Input).value = "identity.corp.example"
        await activate(pilot, "#identity-save")
        assert isinstance(app.screen, IdentityEditScreen)
        error = app.screen.query_one("#row-identity-protocol", FieldRow).error
        assert "HTTP sends the directory token and the agent key in clear" in error
        assert _identity(console_home)["environment"] == "127.0.0.1:9"

        await choose(pilot, app.screen.query_one("#identity-protocol", Select), "https")
        assert app.screen.query_one("#row-identity-protocol", FieldRow).error == ""
        await activate(pilot, "#identity-save")
        assert not isinstance(app.screen, IdentityEditScreen)
        result = str(app.query_one("#identity-result", Static).content)
        assert result.startswith("Saved: https://identity.corp.example")
        assert "The token and agent key of corp were removed" in result
    assert _identity(console_home) == {"protocol": "https", "environment": "identity.corp.example", "ca_file": None}
    secrets = SecretStore(console_home.secrets_file)
    assert secrets.get(directory_token_key("corp")) is None and secrets.get(directory_agent_key("corp")) is None

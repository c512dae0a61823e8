"""Reaching an HTTPS Identity through a real proxy: Debian's Squid on 127.0.0.1
with Basic auth, tunnelling (CONNECT) to the emulator behind TLS with a
throw-away CA, in the `manual` and `system` proxy modes.

Each case is checked as the admin sees it, from `smartsync-tui identity test`
(the real command in a subprocess), and in Squid's own access log; the proxy
password never shows in the output or in the home's logs.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from smartsync_tui.targets.identity.access import identity_client
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import (
    PROXY_PASSWORD_KEY,
    SecretStore,
    directory_token_key,
)
from smartsync_tui.config.settings import (
    AppSettings,
    IdentitySettings,
    ProxySettings,
    load_settings,
)
from tests.support.squid import Squid, start_squid
from tests.support.tls import ThrowAwayCA, TlsFront, make_ca

PROXY_USER = "smartsync-agent"
# ':', '@', '/', '%' and a space: each must survive the trip through the proxy URL's quoting.
PROXY_PASSWORD = "pr0xy:S3cret @/%!"
WRONG_PASSWORD = "Wr0ng-pr0xy-Pw"
_PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


# --------------------------------------------------------------------------- the servers, one set per module


@pytest.fixture(scope="module")
def identity_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowAwayCA:
    return make_ca(tmp_path_factory.mktemp("tls"))


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def https_identity(emulator, identity_ca) -> Iterator[TlsFront]:
    """The emulator behind HTTPS (certificate by ``identity_ca``)."""
    front = TlsFront(_port(emulator.url), identity_ca)
    yield front
    front.close()


@pytest.fixture(scope="module")
def fenced_identity(emulator, identity_ca) -> Iterator[TlsFront]:
    """The same emulator on another HTTPS port: one the proxy refuses to CONNECT to."""
    front = TlsFront(_port(emulator.url), identity_ca)
    yield front
    front.close()


@pytest.fixture(scope="module")
def squid(https_identity, fenced_identity) -> Iterator[Squid]:
    with start_squid(user=PROXY_USER, password=PROXY_PASSWORD, deny_connect_to=[fenced_identity.port]) as proxy:
        print(f"squid: PID {proxy.pid} on {proxy.address}, listening {proxy.start_seconds} s after its start")
        yield proxy


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- the command, as an admin runs it


def cli(home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``smartsync-tui --home HOME ARGS`` in a subprocess; no proxy in its environment but ``env``'s."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_") and k not in _PROXY_ENV}
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), *args],
        input=stdin, capture_output=True, text=True, env={**base, **(env or {})}, timeout=120, check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return done


def set_identity(home: Path, identity: TlsFront, ca: ThrowAwayCA) -> None:
    ok(cli(home, "identity", "set", "--protocol", "https", "--environment", f"127.0.0.1:{identity.port}",
           "--ca-file", str(ca.ca_file)))


def set_manual_proxy(home: Path, port: int, password: str) -> None:
    ok(cli(home, "proxy", "set", "manual", "--host", "127.0.0.1", "--port", str(port), "--user", PROXY_USER,
           "--password-stdin", stdin=password + "\n"))


def logs_of(home: Path) -> str:
    folder = resolve_home(home).log_dir
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def assert_no_password(home: Path, *outputs: subprocess.CompletedProcess[str], passwords=(PROXY_PASSWORD,)) -> None:
    logs = logs_of(home)
    assert logs, "the commands wrote no log at all: nothing was scanned"
    for password in passwords:
        for done in outputs:
            assert password not in done.stdout and password not in done.stderr
        assert password not in logs, "the proxy password reached the home's logs"


@pytest.fixture
def home(tmp_path, https_identity, identity_ca) -> Path:
    """A home whose Identity is the HTTPS emulator, trusted through the test CA."""
    home = tmp_path / "home"
    set_identity(home, https_identity, identity_ca)
    return home


# --------------------------------------------------------------------------- manual mode


def test_manual_proxy_with_the_right_password_reaches_identity_through_a_tunnel(home, squid, https_identity):
    set_manual_proxy(home, squid.port, PROXY_PASSWORD)
    before = len(squid.connects())

    tested = ok(cli(home, "identity", "test"))
    assert tested.stdout.startswith(f"Identity at https://127.0.0.1:{https_identity.port}: reachable (")
    assert tested.stdout.rstrip().endswith("proxy: manual)")
    as_json = ok(cli(home, "proxy", "test", "--json"))
    assert json.loads(as_json.stdout)["ok"] is True

    # Squid saw both, as tunnels opened for the agent's proxy user.
    lines = squid.wait_for_connects(before + 2)[before:]
    assert len(lines) == 2, lines
    assert all("TCP_TUNNEL/200" in line and f"CONNECT 127.0.0.1:{https_identity.port} {PROXY_USER} " in line
               for line in lines), lines
    assert_no_password(home, tested, as_json)


def test_the_agent_api_works_through_the_proxy(home, squid, emulator, https_identity):
    """What a sync and the login checks do: register, read the directory, send users and groups, long-poll."""
    set_manual_proxy(home, squid.port, PROXY_PASSWORD)
    directory_id, token = emulator.create_directory("Through Squid")
    paths = resolve_home(home)
    settings, secrets = load_settings(paths.settings_file), SecretStore(paths.secrets_file)
    secrets.set(directory_token_key(directory_id), token)
    before = len(squid.connects())

    with identity_client(settings, secrets, directory_id=directory_id) as client:
        client.register_agent("agent behind squid")
        assert client.get_directory().name == "Through Squid"
        user_id, group_id = str(uuid.uuid4()), str(uuid.uuid4())
        user = {"external_id": user_id, "login": "ana@corp.example", "first_name": "Ana", "last_name": "Souza",
                "display_name": "Ana Souza", "email": "ana@corp.example", "active": True}
        assert [r["status"] for r in client.upsert_users([user])] == ["created"]
        group = {"external_id": group_id, "name": "TI", "members": [user_id]}
        assert [r["status"] for r in client.upsert_groups([group])] == ["created"]
        assert client.poll_commands(0.5) == []

    assert [u["login"] for u in emulator.users(directory_id)] == ["ana@corp.example"]
    lines = squid.wait_for_connects(before + 1)[before:]
    assert lines and all(f"CONNECT 127.0.0.1:{https_identity.port} {PROXY_USER} " in line for line in lines)


def test_a_wrong_proxy_password_says_the_proxy_refused_the_credentials(home, squid):
    set_manual_proxy(home, squid.port, WRONG_PASSWORD)
    before = len(squid.connects())

    tested = cli(home, "identity", "test")
    assert tested.returncode == 1
    assert (f"the proxy at {squid.address} refused the credentials. Check the proxy user and password "
            f"(`smartsync-tui proxy set manual --host 127.0.0.1 --port {squid.port} --user USER --password-stdin`, "
            "or Proxy > Edit on the console's Home tab).") in tested.stdout
    as_json = cli(home, "identity", "test", "--json")
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["kind"], report["reason"]) == (False, "check_failed", "identity-unreachable")

    assert any("TCP_DENIED/407" in line for line in squid.wait_for_connects(before + 1)[before:])
    assert_no_password(home, tested, as_json, passwords=(WRONG_PASSWORD,))


def test_a_proxy_that_is_down_is_named(home):
    port = _closed_port()
    set_manual_proxy(home, port, PROXY_PASSWORD)

    tested = cli(home, "identity", "test")
    assert tested.returncode == 1
    assert f"cannot reach the proxy at 127.0.0.1:{port}: the connection was refused" in tested.stdout
    assert ("Check that the proxy is up, and the proxy settings (`smartsync-tui proxy show`, or Proxy on the "
            "console's Home tab).") in tested.stdout
    assert_no_password(home, tested)


def test_a_proxy_that_refuses_the_tunnel_says_so(tmp_path, squid, fenced_identity, identity_ca):
    home = tmp_path / "home"
    set_identity(home, fenced_identity, identity_ca)
    set_manual_proxy(home, squid.port, PROXY_PASSWORD)
    before = len(squid.connects())

    tested = cli(home, "identity", "test")
    assert tested.returncode == 1
    assert (f"the proxy at {squid.address} refused to open a tunnel (CONNECT) to 127.0.0.1:{fenced_identity.port} "
            "(HTTP 403). Ask the proxy's admin to allow HTTPS to that host and port") in tested.stdout
    assert any("TCP_DENIED/403" in line for line in squid.wait_for_connects(before + 1)[before:])
    assert_no_password(home, tested)


def test_identity_down_behind_a_working_proxy_is_not_blamed_on_the_proxy(tmp_path, squid, identity_ca):
    home = tmp_path / "home"
    port = _closed_port()
    ok(cli(home, "identity", "set", "--protocol", "https", "--environment", f"127.0.0.1:{port}",
           "--ca-file", str(identity_ca.ca_file)))
    set_manual_proxy(home, squid.port, PROXY_PASSWORD)

    tested = cli(home, "identity", "test")
    assert tested.returncode == 1
    assert f"the proxy at {squid.address} could not connect to 127.0.0.1:{port} (HTTP 503)" in tested.stdout
    assert_no_password(home, tested)


# --------------------------------------------------------------------------- system mode


def test_system_mode_uses_https_proxy_with_its_credentials_and_respects_no_proxy(home, squid, https_identity):
    ok(cli(home, "proxy", "set", "system"))
    before = len(squid.connects())

    through = ok(cli(home, "identity", "test", env={"HTTPS_PROXY": squid.url()}))
    assert through.stdout.rstrip().endswith("proxy: system)")
    lines = squid.wait_for_connects(before + 1)[before:]
    assert len(lines) == 1 and "TCP_TUNNEL/200" in lines[0] and f" {PROXY_USER} " in lines[0], lines

    # NO_PROXY sends Identity's host straight past the proxy: even wrong credentials are never tried.
    wrong = squid.url(WRONG_PASSWORD)
    bypassed = ok(cli(home, "identity", "test", env={"HTTPS_PROXY": wrong, "NO_PROXY": "localhost,127.0.0.1"}))
    assert "reachable" in bypassed.stdout
    refused = cli(home, "identity", "test", env={"HTTPS_PROXY": wrong})
    assert refused.returncode == 1
    assert (f"the proxy at {squid.address} refused the credentials. Check the user and password in the "
            "HTTPS_PROXY environment variable.") in refused.stdout
    lines = squid.wait_for_connects(before + 2)[before:]
    assert len(lines) == 2 and "TCP_DENIED/407" in lines[1], lines  # the bypassed test left no line
    assert_no_password(home, through, bypassed, refused, passwords=(PROXY_PASSWORD, WRONG_PASSWORD))


def test_system_mode_names_the_environment_proxy_that_is_down(home):
    port = _closed_port()
    ok(cli(home, "proxy", "set", "system"))
    tested = cli(home, "identity", "test", env={"HTTPS_PROXY": f"http://{PROXY_USER}:{quote(PROXY_PASSWORD, safe='')}@127.0.0.1:{port}"})
    assert tested.returncode == 1
    assert f"cannot reach the proxy at 127.0.0.1:{port}: the connection was refused" in tested.stdout
    assert "the HTTPS_PROXY and NO_PROXY environment variables" in tested.stdout
    assert_no_password(home, tested)


# --------------------------------------------------------------------------- any password


_new_user = itertools.count(1)
_typed = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))  # what one can type on one line


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=st.text(_typed, min_size=1, max_size=30))
@example(password="Senha:çã€ 😀@/%")
@example(password="%41%3A already quoted")
@example(password=" spaced out ")
def test_any_typed_password_reaches_the_proxy_intact(password, squid, https_identity, identity_ca, tmp_path_factory):
    """The settings and secret store build the proxy URL; Squid checks what arrives against its file."""
    user = f"agent-{next(_new_user)}"  # a user per example: Squid caches a user's checked credentials
    squid.add_user(user, password)
    store = SecretStore(tmp_path_factory.mktemp("secrets") / "secrets.json")
    store.set(PROXY_PASSWORD_KEY, SecretStr(password))
    app = AppSettings(
        identity=IdentitySettings(protocol="https", environment=f"127.0.0.1:{https_identity.port}",
                                  ca_file=str(identity_ca.ca_file)),
        proxy=ProxySettings(mode="manual", host="127.0.0.1", port=squid.port, user=user),
    )
    with identity_client(app, store, max_retries=0) as client:
        assert client.ping()["service"] == "identity-agent-api"

"""The engine's control channel: protocol, who may use it, stale sockets, bad requests.

A fake handler stands in for the engine: no Samba, no emulator.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from smartsync_tui.channel import control_channel, transport as channel_transport
from smartsync_tui.targets.identity.pass_through import CommandLoop
from smartsync_tui.channel.control_channel import (
    ChannelError,
    ControlServer,
    request,
)
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    load_settings,
    save_settings,
)
from smartsync_tui.store.state_store import PendingOp, StateStore
from smartsync_tui.engine.results import SyncResult
from smartsync_tui.engine.events import RunFinished, RunStarted
from smartsync_tui.engine.service import EngineService, forget_when_idle

pytestmark = pytest.mark.skipif(not control_channel.available(), reason="no Unix sockets on this system")


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def status(self) -> dict[str, dict[str, Any]]:
        return {"corp": {"running": False, "last_outcome": "ok"}}

    def sync(self, directory: str, *, full: bool, allow_deletes: bool) -> None:
        if directory == "nope":
            raise InputError("directory", "there is no directory 'nope' (known: corp)")
        if directory == "boom":
            raise RuntimeError("secret-ish detail")
        self.calls.append(("sync", directory, full, allow_deletes))

    def forget(self, directory: str) -> None:
        self.calls.append(("forget", directory))

    def reload(self) -> bool:
        self.calls.append(("reload",))
        return True


@pytest.fixture
def home():
    # A short path: Unix socket paths are limited to 107 bytes, and pytest's tmp_path can be long.
    with tempfile.TemporaryDirectory(prefix="cc-") as root:
        yield resolve_home(root)


@pytest.fixture
def served(home):
    engine = FakeEngine()
    server = ControlServer(home, engine)
    server.start()
    try:
        yield home, engine, server
    finally:
        server.close()


def raw_exchange(path: Path, *lines: bytes) -> list[dict[str, Any]]:
    """Send raw lines on one connection, read one reply per line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        reader = sock.makefile("rb")
        replies = []
        for line in lines:
            sock.sendall(line)
            replies.append(json.loads(reader.readline()))
        return replies


def test_ping_status_sync_forget_reload(served):
    home, engine, _server = served
    pong = request(home, {"op": "ping"})
    assert pong["ok"] and pong["pid"] == os.getpid() and pong["protocol"] == control_channel.PROTOCOL_VERSION
    assert request(home, {"op": "status"})["directories"] == {"corp": {"running": False, "last_outcome": "ok"}}
    request(home, {"op": "sync", "directory": "corp", "full": True})
    request(home, {"op": "sync", "directory": "corp", "allow_deletes": True})
    request(home, {"op": "forget", "directory": "corp"})
    assert request(home, {"op": "reload"})["changed"] is True
    assert engine.calls == [("sync", "corp", True, False), ("sync", "corp", False, True), ("forget", "corp"), ("reload",)]


def test_socket_is_private_and_removed_on_close(home):
    server = ControlServer(home, FakeEngine())
    path = server.start()
    assert path == home.data_dir / "engine.sock"
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    assert stat.S_IMODE(home.data_dir.stat().st_mode) == 0o700
    server.close()
    assert not path.exists()
    with pytest.raises(ChannelError, match=r"the engine \(pid 42\) has no control channel at .*is it still running"):
        request(home, {"op": "ping"}, engine_pid=42)


def test_a_data_dir_open_to_others_is_made_private(home):
    home.ensure()
    os.chmod(home.data_dir, 0o755)
    with ControlServer(home, FakeEngine()) as server:
        server.start()
        assert stat.S_IMODE(home.data_dir.stat().st_mode) == 0o700


def test_bad_requests_get_an_error_reply_and_the_server_goes_on(served):
    home, engine, server = served
    replies = raw_exchange(
        server.path,
        b"this is not json\n",
        b"[1, 2]\n",
        b'{"op": "launch-missiles"}\n',
        b'{"op": "sync"}\n',
        b'{"op": "sync", "directory": "corp", "full": "yes"}\n',
        b'{"op": "sync", "directory": "nope"}\n',
        b'{"op": "sync", "directory": "boom"}\n',
        b'\xff\xfe\n',
        b'{"op": "ping"}\n',
    )
    assert [r["ok"] for r in replies] == [False] * 8 + [True]
    assert "not a JSON object" in replies[0]["error"] and replies[0]["kind"] == "protocol"
    assert "not a JSON object" in replies[1]["error"]
    assert "unknown op 'launch-missiles'" in replies[2]["error"]
    assert "needs \"directory\"" in replies[3]["error"]
    assert "must be true or false" in replies[4]["error"]
    assert replies[5]["error"] == "there is no directory 'nope' (known: corp)" and replies[5]["kind"] == "input"
    # An unexpected error names its kind, never its text (it might carry anything).
    assert replies[6]["error"].startswith("the engine failed on 'sync': unexpected RuntimeError")
    assert "secret-ish" not in replies[6]["error"]
    assert engine.calls == []
    with pytest.raises(ChannelError, match=r"the engine \(pid 7\) could not do it: there is no directory 'nope'"):
        request(home, {"op": "sync", "directory": "nope"}, engine_pid=7)


def test_a_request_too_long_is_refused(served):
    _home, _engine, server = served
    big = b'{"op": "ping", "x": "' + b"a" * (control_channel.MAX_LINE_BYTES + 10) + b'"}\n'
    (reply,) = raw_exchange(server.path, big)
    assert not reply["ok"] and "longer than" in reply["error"]


def test_another_uid_is_refused(served, monkeypatch):
    home, engine, _server = served
    # Simulated: the kernel's answer to SO_PEERCRED, as if another user connected.
    monkeypatch.setattr(channel_transport, "peer_uid", lambda conn: os.geteuid() + 1)
    with pytest.raises(ChannelError, match="refused this user .*open the console as the user the engine runs as"):
        request(home, {"op": "sync", "directory": "corp"}, engine_pid=9)
    assert engine.calls == []


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="SO_PEERCRED is Linux's")
def test_peer_uid_is_the_callers(served):
    _home, _engine, server = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(server.path))
        assert control_channel.peer_uid(client) == os.geteuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_real_user_cannot_connect(served):
    home, engine, _server = served
    os.chmod(home.data_dir.parent, 0o755)  # let nobody reach the data dir's parent
    code = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect({str(socket_path := home.data_dir / 'engine.sock')!r})\n"
        "except PermissionError:\n"
        "    sys.exit(3)\n"
        "sys.exit(0)\n"
    )
    assert socket_path.exists()
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=30).returncode == 3
    assert engine.calls == []


def test_a_stale_socket_is_replaced(home):
    home.ensure()
    path = home.data_dir / "engine.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a killed engine leaves
    assert path.exists()
    with ControlServer(home, FakeEngine()) as server:
        server.start()
        assert request(home, {"op": "ping"})["ok"]


def test_a_socket_someone_answers_on_is_left_alone(served):
    home, _engine, _server = served
    with pytest.raises(ChannelError, match="another process answers on .*second engine"):
        ControlServer(home, FakeEngine()).start()
    assert request(home, {"op": "ping"})["ok"]  # the first one still serves


def test_a_file_that_is_not_a_socket_is_left_alone(home):
    home.ensure()
    (home.data_dir / "engine.sock").write_text("mine")
    with pytest.raises(ChannelError, match="is not a socket"):
        ControlServer(home, FakeEngine()).start()
    assert (home.data_dir / "engine.sock").read_text() == "mine"


def test_an_engine_that_does_not_answer(home):
    home.ensure()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home.data_dir / "engine.sock"))
    listener.listen(1)  # accepts, never replies
    try:
        with pytest.raises(ChannelError, match=r"the engine \(pid 5\) does not answer on .*no reply in 0.3 s"):
            request(home, {"op": "ping"}, engine_pid=5, timeout=0.3)
    finally:
        listener.close()
    with pytest.raises(ChannelError, match=r"does not answer on .*is it still running"):
        request(home, {"op": "ping"}, engine_pid=5)  # the file is left, nobody listens


def test_no_unix_sockets(home, monkeypatch):
    monkeypatch.setattr(channel_transport.UnixSocketTransport, "available", lambda self: False)
    with pytest.raises(control_channel.ChannelUnavailable, match="not available on this system"):
        ControlServer(home, FakeEngine()).start()
    with pytest.raises(control_channel.ChannelUnavailable, match="not available on this system"):
        request(home, {"op": "ping"})
    assert control_channel.serve(home, FakeEngine()) is None


def test_a_path_too_long_says_so(tmp_path):
    home = resolve_home(tmp_path / ("x" * 120))
    with pytest.raises(control_channel.ChannelUnavailable, match="longer than Unix sockets allow"):
        ControlServer(home, FakeEngine()).start()


# -- the engine service's handler (no directory ever runs: the service is not started)


def _scheduler_home(root: str) -> tuple[Any, EngineService, SecretStore]:
    home = resolve_home(root).ensure()
    directory = DirectorySettings(id="corp", server="dc1.corp.example", tls="plain", port=389,
                                  bind_user="svc@corp.example", base_dn="DC=corp,DC=example")
    save_settings(home.settings_file, AppSettings(directories=[directory]))
    secrets = SecretStore(home.secrets_file)
    secrets.set_many({"directory/corp/password": "pw", "directory/corp/token": "tk", "identity/other": "keep"})
    return home, EngineService(home, secrets=secrets, forget_timeout=10), secrets


def test_scheduler_handler_forget_waits_for_the_run_in_flight(home):
    home, service, secrets = _scheduler_home(str(home.data_dir.parent))
    handler = service.handler
    with StateStore(home.state_db) as state:
        state.hold("corp", [PendingOp("g1", "user", "disable", "CN=a,DC=corp", {"login": "a"})])
        state.finish_run(state.start_run("corp", "full", dry_run=False), outcome="held", counts={})
    with pytest.raises(InputError, match="still in appsettings.json"):
        handler.forget("corp")

    editable = load_settings(home.settings_file, environment=False)
    editable.directories = []
    save_settings(home.settings_file, editable)
    handler.on_event(RunStarted("corp", False, False, False))  # a batch in flight
    forgotten = threading.Event()
    thread = threading.Thread(target=lambda: (handler.forget("corp"), forgotten.set()))
    thread.start()
    time.sleep(0.3)
    assert not forgotten.is_set()
    handler.on_event(RunFinished(SyncResult("corp", outcome="cancelled"), False, 0, None))
    thread.join(5)
    assert forgotten.is_set()
    with StateStore(home.state_db) as state:
        assert state.held("corp") == [] and state.runs("corp") == []
    assert secrets.get("directory/corp/password") is None
    assert secrets.get("identity/other") is not None


def test_scheduler_handler_status_and_sync(home):
    home, service, secrets = _scheduler_home(str(home.data_dir.parent))
    with ControlServer(home, service.handler) as server:
        server.start()
        request(home, {"op": "sync", "directory": "corp", "full": True})
        status = request(home, {"op": "status"})["directories"]
        assert status["corp"]["queued"] is True and status["corp"]["running"] is False
        with pytest.raises(ChannelError, match="there is no directory 'other'"):
            request(home, {"op": "sync", "directory": "other"})
        assert request(home, {"op": "reload"})["changed"] is False


def test_forget_when_idle_has_a_deadline_and_then_deletes_nothing(home):
    home, _scheduler, secrets = _scheduler_home(str(home.data_dir.parent))
    with StateStore(home.state_db) as state:
        state.finish_run(state.start_run("corp", "full", dry_run=False), outcome="ok", counts={})
    started = time.monotonic()
    with pytest.raises(UserError, match="still finishing a sync batch or its login checks after 0.3 s: its state "
                                        "and secrets were not deleted"):
        forget_when_idle(home, secrets, "corp", lambda: True, timeout=0.3, poll=0.02)
    assert 0.3 <= time.monotonic() - started < 2
    assert secrets.get("directory/corp/token") is not None
    with StateStore(home.state_db) as state:
        assert state.runs("corp")

    busy = iter([True, True, False])
    forget_when_idle(home, secrets, "corp", lambda: next(busy), timeout=5, poll=0.01)
    assert secrets.get("directory/corp/token") is None
    with StateStore(home.state_db) as state:
        assert state.runs("corp") == []


class _LongPollClient:
    """Identity for the engine's login-check loop: a long poll that lasts until released."""

    server_clock_offset = 0.0

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.published: list[str] = []

    def put_public_key(self, pem: str, algorithm: str) -> dict:
        self.published.append(pem)
        return {}

    def poll_commands(self, wait: float) -> list[dict]:
        self.release.wait(10)
        return []

    def close(self) -> None:
        pass


def test_scheduler_handler_forget_waits_for_the_login_check_loop(home, monkeypatch):
    home, service, secrets = _scheduler_home(str(home.data_dir.parent))
    scheduler = service.scheduler
    release = threading.Event()
    client = _LongPollClient(release)
    monkeypatch.setattr(CommandLoop, "_connect", lambda self, settings: client)
    monkeypatch.setattr(CommandLoop, "_checker", lambda self, directory, client: type(
        "Checker", (), {"close": lambda self: None})())
    handler = service.handler
    (login_checks,) = scheduler.companions  # Identity's, the one registered target
    login_checks.reconcile()  # what the running scheduler does every second
    try:
        deadline = time.monotonic() + 10
        while not client.published and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.published and secrets.get("directory/corp/private_key") is not None  # the loop made its key

        editable = load_settings(home.settings_file, environment=False)
        editable.directories = []
        save_settings(home.settings_file, editable)
        forgotten = threading.Event()
        thread = threading.Thread(target=lambda: (handler.forget("corp"), forgotten.set()))
        thread.start()
        # The loop sits in its long poll: nothing of the directory goes before it ends.
        assert not forgotten.wait(0.5)
        assert secrets.get("directory/corp/private_key") is not None
        release.set()
        thread.join(10)
        assert forgotten.is_set() and not scheduler.companion_busy("corp")
        assert not [key for key in secrets.keys() if key.startswith("directory/corp/")]
        assert secrets.get("identity/other") is not None
    finally:
        release.set()
        login_checks.stop()

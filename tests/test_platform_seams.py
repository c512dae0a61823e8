"""The portable side of each platform seam docs/windows.md names, run here on Linux.

- the engine lock with exclusive-only primitives (Windows' ``msvcrt.locking`` has no shared lock);
- the service entry point driven as a Windows service drives it (a stop event set from another
  thread, a manager that records what it is told);
- file protection switched off as on Windows (the folder's ACL does its work there);
- the control channel's protocol over a transport that is not the Unix socket.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from smartsync_tui.channel import control_channel, transport as channel_transport
from smartsync_tui.cli.context import CliContext
from smartsync_tui.cli.run_cmd import serve_engine
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, load_settings, save_settings
from smartsync_tui.core import file_protection
from smartsync_tui.engine import lock as engine_lock
from smartsync_tui.engine.notify import ServiceNotifier
from tests.support.waiting import wait_until


class ExclusiveOnly(engine_lock.LockPrimitives):
    """Windows' semantics with flock: every lock is exclusive, a reader's too."""

    shared = False

    def try_lock(self, fd: int, *, exclusive: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@pytest.fixture
def windows_locks(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine_lock, "PRIMITIVES", ExclusiveOnly())


def _hammer(home, stop: threading.Event, seen: list) -> None:  # type: ignore[no-untyped-def]
    while not stop.is_set():
        seen.append(engine_lock.read_holder(home))


def test_the_lock_without_shared_locks_refuses_a_second_holder_and_is_read_by_many(tmp_path, windows_locks):
    home = resolve_home(tmp_path / "home").ensure()
    assert engine_lock.read_holder(home) is None
    with engine_lock.acquire(home, "run") as lock:
        stop, seen = threading.Event(), []
        readers = [threading.Thread(target=_hammer, args=(home, stop, seen)) for _ in range(3)]
        for reader in readers:
            reader.start()
        time.sleep(0.5)
        # Readers meeting each other's instant locks never take one another for the engine...
        with pytest.raises(engine_lock.EngineRunning) as refused:
            engine_lock.acquire(home, "console")
        stop.set()
        for reader in readers:
            reader.join()
        assert refused.value.pid == lock.pid == os.getpid()
        # ...and always find the holder while it holds.
        assert seen and all(h is not None and h.get("pid") == os.getpid() for h in seen)


def test_a_dead_engines_file_read_by_others_does_not_block_the_next_engine(tmp_path, windows_locks):
    home = resolve_home(tmp_path / "home").ensure()
    engine_lock.lock_path(home).write_text('{"pid": 999999, "mode": "run"}\n')  # a dead engine's body stays
    os.chmod(engine_lock.lock_path(home), 0o600)
    stop, seen = threading.Event(), []
    readers = [threading.Thread(target=_hammer, args=(home, stop, seen)) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        time.sleep(0.2)
        for _ in range(5):  # a reader's instant lock is not an engine: acquire waits it out
            with engine_lock.acquire(home, "run") as lock:
                assert lock.pid == os.getpid()
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert engine_lock.read_holder(home) is None


class RecordingManager(ServiceNotifier):
    """What a Windows service's manager (the SCM) would be told, recorded."""

    def __init__(self) -> None:
        super().__init__(None)
        self.told: list[tuple[str, str | None]] = []

    def ready(self, status: str | None = None) -> None:
        self.told.append(("ready", status))

    def status(self, text: str) -> None:
        self.told.append(("status", text))

    def stopping(self) -> None:
        self.told.append(("stopping", None))


def test_the_service_entry_point_runs_until_its_stop_event_as_a_windows_service_drives_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTSYNC_STATUS__LISTEN", "127.0.0.1:0")
    root = tmp_path / "home"
    ctx = CliContext.open(str(root))
    save_settings(ctx.home.settings_file, AppSettings())
    manager, stop = RecordingManager(), threading.Event()
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(code=serve_engine(ctx, stop, manager)))
    thread.start()  # SvcDoRun
    try:
        wait_until(lambda: ("ready", "syncing 0 directories") in manager.told, 30, "ready")
        holder = engine_lock.read_holder(ctx.home)
        assert holder is not None and holder["pid"] == os.getpid()  # it took the home's lock itself
        reply = control_channel.request(ctx.home, {"op": "health"})
        assert reply["health"]["status"] == "pass"
    finally:
        manager.stopping()  # SvcStop: SERVICE_STOP_PENDING, then the event
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and outcome == {"code": 0}
    assert manager.told[0][0] == "ready" and manager.told[-1] == ("stopping", None)
    assert engine_lock.read_holder(ctx.home) is None
    assert not control_channel.socket_path(ctx.home).exists()


def test_without_file_checks_as_on_windows_an_open_home_is_used_and_files_are_still_replaced_whole(tmp_path,
                                                                                                  monkeypatch):
    root = tmp_path / "home"
    home = resolve_home(root).ensure()
    for folder in (root, home.config_dir, home.data_dir):
        os.chmod(folder, 0o777)  # what the POSIX checks refuse
    with pytest.raises(file_protection.UnsafeHomeError, match="chmod 700"):
        home.ensure()
    monkeypatch.setattr(file_protection, "CHECKED", False)
    home.ensure()  # the ACL's business there
    save_settings(home.settings_file, AppSettings(url="http://127.0.0.1:5999"))
    settings = load_settings(home.settings_file, environment=False)
    settings.url = "http://127.0.0.1:6000"
    save_settings(home.settings_file, settings)
    assert load_settings(home.settings_file, environment=False).url == "http://127.0.0.1:6000"
    assert not [p for p in home.config_dir.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert stat.S_IMODE(home.settings_file.stat().st_mode) & 0o077 == 0


class LoopbackTransport(channel_transport.Transport):
    """A transport that is not the Unix socket: TCP on loopback, its port in the data dir."""

    name = "loopback"

    def available(self) -> bool:
        return True

    def address(self, home) -> Path:  # type: ignore[no-untyped-def]
        return home.data_dir / "engine.port"

    def listen(self, home) -> channel_transport.Listener:  # type: ignore[no-untyped-def]
        sock = socket.create_server(("127.0.0.1", 0))
        self.address(home).write_text(str(sock.getsockname()[1]))
        return _TcpListener(sock)

    def connect(self, home, timeout: float) -> socket.socket:  # type: ignore[no-untyped-def]
        path = self.address(home)
        if not path.exists():
            raise channel_transport.NoChannel(str(path))
        return socket.create_connection(("127.0.0.1", int(path.read_text())), timeout=timeout)

    def refusal(self, conn: socket.socket) -> str | None:
        return None


class _TcpListener(channel_transport.Listener):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def accept(self) -> socket.socket:
        return self.sock.accept()[0]

    def close(self) -> None:
        self.sock.close()


class _Handler:
    def __init__(self) -> None:
        self.synced: list[tuple[str, bool, bool]] = []

    def status(self) -> dict:
        return {"corp": {"running": False}}

    def sync(self, directory: str, *, full: bool, allow_deletes: bool) -> None:
        self.synced.append((directory, full, allow_deletes))

    def forget(self, directory: str) -> None:
        raise control_channel.ChannelError("still in appsettings.json")

    def reload(self) -> bool:
        return True

    def health(self) -> dict:
        return {"health": {"status": "pass"}, "directories": {}}


def test_the_channel_protocol_runs_over_another_transport(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    transport, handler = LoopbackTransport(), _Handler()
    with control_channel.ControlServer(home, handler, transport=transport) as server:
        server.start()

        def ask(message: dict) -> dict:
            return control_channel.request(home, message, transport=transport)

        assert ask({"op": "ping"})["protocol"] == control_channel.PROTOCOL_VERSION
        assert ask({"op": "status"})["directories"] == {"corp": {"running": False}}
        ask({"op": "sync", "directory": "corp", "full": True})
        assert handler.synced == [("corp", True, False)]
        assert ask({"op": "reload"})["changed"] is True
        assert ask({"op": "health"})["health"]["status"] == "pass"
        with pytest.raises(control_channel.ChannelError, match="still in appsettings.json"):
            ask({"op": "forget", "directory": "corp"})
        with pytest.raises(control_channel.ChannelError, match="unknown op"):
            ask({"op": "shutdown"})
        with socket.create_connection(("127.0.0.1", int(transport.address(home).read_text())), timeout=5) as raw:
            raw.sendall(b"not json\n" + b"x" * (control_channel.MAX_LINE_BYTES + 10) + b"\n")
            lines = raw.makefile("rb").read().splitlines()
        assert b"not a JSON object" in lines[0] and b"longer than" in lines[1]
    with pytest.raises(control_channel.ChannelError):
        ask({"op": "ping"})


def test_the_transport_is_chosen_by_what_the_system_offers(monkeypatch):
    assert isinstance(channel_transport.for_this_system(), channel_transport.UnixSocketTransport)
    monkeypatch.delattr(socket, "AF_UNIX")
    chosen = channel_transport.for_this_system()
    assert not chosen.available()
    with pytest.raises(control_channel.ChannelUnavailable, match="not available on this system"):
        control_channel.request(resolve_home(Path("/nonexistent-home")), {"op": "ping"}, transport=chosen)

"""systemd's notification protocol, received by a real datagram socket as NOTIFY_SOCKET: READY once
the settings are read and the channel is up, STATUS after a run, WATCHDOG from the scheduler's loop
(and none once that loop wedges), RELOADING around a SIGHUP, STOPPING on SIGTERM; in that order."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, DirectorySettings, save_settings
from smartsync_tui.engine.notify import ServiceNotifier
from smartsync_tui.engine.service import EngineService
from tests.support.waiting import wait_until
from tests.test_run_engine import Engine


class Manager:
    """The service manager's end: a Unix datagram socket that keeps every notification in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def kinds(self) -> list[str]:
        """Each message by its first field, consecutive watchdog pings counted once."""
        out: list[str] = []
        for message in self.messages:
            kind = next(iter(message))
            if not (kind == "WATCHDOG" and out and out[-1] == "WATCHDOG"):
                out.append(kind)
        return out

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def manager(tmp_path):  # type: ignore[no-untyped-def]
    m = Manager(tmp_path / "notify.sock")
    yield m
    m.close()


def test_run_says_ready_pings_reloads_on_sighup_and_says_stopping_in_order(tmp_path, manager):
    home = resolve_home(tmp_path / "home").ensure()
    save_settings(home.settings_file, AppSettings())
    engine = Engine(tmp_path / "home", tmp_path, extra_env={
        "NOTIFY_SOCKET": str(manager.path), "WATCHDOG_USEC": "400000", "SMARTSYNC_STATUS__LISTEN": "127.0.0.1:0"})
    try:
        engine.started()
        wait_until(lambda: "READY" in manager.kinds(), 30, "READY=1")
        ready = next(m for m in manager.messages if "READY" in m)
        assert ready == {"READY": "1", "STATUS": "syncing 0 directories"}
        # The channel and the status endpoints are served before READY: an attached console and
        # a monitoring check find the engine at once.
        assert (home.data_dir / "engine.sock").exists()
        url = re.search(r"status endpoints on (http://127\.0\.0\.1:\d+)/health", engine.stdout())
        assert url is not None, engine.output()
        assert httpx.get(url.group(1) + "/health", timeout=5).json()["status"] == "pass"
        wait_until(lambda: sum("WATCHDOG" in m for m in manager.messages) >= 3, 10, "watchdog pings")
        pings = [m for m in manager.messages if "WATCHDOG" in m]
        assert all(p == {"WATCHDOG": "1"} for p in pings)

        engine.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: manager.kinds().count("READY") >= 2, 10, "READY after the reload")
        reloading = next(m for m in manager.messages if "RELOADING" in m)
        assert set(reloading) == {"RELOADING", "MONOTONIC_USEC"} and int(reloading["MONOTONIC_USEC"]) > 0
        assert abs(int(reloading["MONOTONIC_USEC"]) / 1e6 - time.monotonic()) < 30  # CLOCK_MONOTONIC, in µs
        assert engine.stop() == 0
        kinds = manager.kinds()
        assert kinds[:1] == ["READY"] and kinds[-1] == "STOPPING", kinds
        assert kinds.index("RELOADING") < len(kinds) - 1 - kinds[::-1].index("READY") < kinds.index("STOPPING")
    finally:
        engine.kill()


def test_after_a_run_the_status_line_says_how_it_went(tmp_path, manager):
    home = resolve_home(tmp_path / "home").ensure()
    down = DirectorySettings(id="down", server="127.0.0.1", port=1, tls="plain", bind_user="x@corp.example",
                             base_dn="DC=corp,DC=example")
    save_settings(home.settings_file, AppSettings(directories=[down]))
    service = EngineService(home, serve_channel=False, notifier=ServiceNotifier(str(manager.path)))
    service.start()
    try:
        wait_until(lambda: any(m.get("STATUS", "").startswith("down: failed at ") for m in manager.messages), 30,
                   "the status after the first run")
        assert manager.kinds()[0] == "READY"
    finally:
        service.stop()
        assert service.join(30)


def test_a_wedged_scheduler_stops_its_watchdog_pings(tmp_path, manager):
    home = resolve_home(tmp_path / "home").ensure()
    save_settings(home.settings_file, AppSettings())
    service = EngineService(home, serve_channel=False, settings_poll=0.3,
                            notifier=ServiceNotifier(str(manager.path), watchdog_usec=200_000))
    wedge, release = threading.Event(), threading.Event()

    def stuck() -> bool:
        wedge.set()
        release.wait(60)  # a read that never returns, a lock never released
        return False

    service.start()
    try:
        wait_until(lambda: sum("WATCHDOG" in m for m in manager.messages) >= 3, 10, "pings while healthy")
        service.scheduler.reload_settings_if_changed = stuck  # type: ignore[method-assign]
        wait_until(wedge.is_set, 10, "the scheduler's loop to wedge")
        time.sleep(0.3)
        before = sum("WATCHDOG" in m for m in manager.messages)
        time.sleep(1.0)  # ten times the ping interval
        assert sum("WATCHDOG" in m for m in manager.messages) == before
    finally:
        release.set()
        service.stop()
        assert service.join(30)


def test_without_a_service_manager_nothing_is_sent_and_a_gone_socket_is_not_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    quiet = ServiceNotifier.from_environment()
    assert not quiet.enabled
    quiet.ready("x")
    quiet.watchdog()
    gone = ServiceNotifier(str(tmp_path / "nobody.sock"), watchdog_usec=1)
    gone.ready("x")
    gone.status("line\nREADY=1")  # one line only: a newline cannot forge another field
    monkeypatch.setenv("NOTIFY_SOCKET", "@abstract-name")
    monkeypatch.setenv("WATCHDOG_USEC", "5000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # another process's watchdog: not ours
    taken = ServiceNotifier.from_environment()
    assert taken.enabled and taken.watchdog_interval is None
    import os

    assert "NOTIFY_SOCKET" not in os.environ  # a child process must not speak for the engine


def test_a_status_line_cannot_carry_a_second_field(tmp_path, manager):
    ServiceNotifier(str(manager.path)).status("corp: ok\nREADY=1\nMAINPID=1")
    wait_until(lambda: manager.messages, 5, "the message")
    assert manager.messages == [{"STATUS": "corp: ok READY=1 MAINPID=1"}]

"""`smartsync-tui run`: the headless engine, as systemd or an admin runs it.

Against the session's Samba DC and Identity emulator, with `run` as a real
subprocess (SIGTERM, the lock and exit codes are the process's business).
The engine-lock and scheduler tests at the end need neither.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smartsync_tui.engine import lock as engine_lock
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.engine.events import RunFinished, RunStarted
from smartsync_tui.engine.scheduler import Scheduler, backoff_delay
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    load_settings,
    save_settings,
)
from tests.support.sync_env import SyncEnv, make_sync_env
from tests.support.waiting import wait_until

INTERVAL = 5  # the settings' minimum
REPO = Path(__file__).resolve().parents[1]


def _environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    environ.update({"SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS": str(INTERVAL), "PYTHONUNBUFFERED": "1"})
    environ.update(extra or {})
    return environ


def _cli(root: Path, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(root), *args],
        capture_output=True, text=True, env=_environ(extra_env), timeout=timeout, cwd=REPO,
    )


class Engine:
    """`smartsync-tui --home ROOT run` in the background; output in files (a full pipe would block it)."""

    def __init__(self, root: Path, out_dir: Path, *, extra_env: dict[str, str] | None = None, name: str = "run") -> None:
        self.root = root
        self.home = resolve_home(root)
        self.stdout_path = out_dir / f"{name}.stdout"
        self.stderr_path = out_dir / f"{name}.stderr"
        self._out = open(self.stdout_path, "w")
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartsync_tui", "--home", str(root), "run"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err, env=_environ(extra_env), cwd=REPO,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def started(self, timeout: float = 30) -> "Engine":
        def holds_lock() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"run exited with {self.proc.returncode} at start:\n{self.output()}")
            holder = engine_lock.read_holder(self.home)
            return bool(holder) and holder.get("pid") == self.pid
        wait_until(holds_lock, timeout, "the engine to take its lock")
        wait_until(lambda: "engine started" in self.stdout(), timeout, "the engine's start line")
        return self

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def output(self) -> str:
        return f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr_path.read_text()}"

    def log(self) -> str:
        return (self.home.log_dir / "application.log").read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run did not stop within {timeout:g} s of {signal.Signals(sig).name}:\n{self.output()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._out.close()
        self._err.close()


def _root(env: SyncEnv) -> Path:
    return env.home.config_dir.parent


def _edit_settings(home: Home, change) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(home.settings_file, environment=False)
    change(settings)
    save_settings(home.settings_file, settings)


# -- against the live DC and emulator


def test_run_syncs_on_schedule_refuses_a_second_run_and_stops_on_sigterm(sync_env, tmp_path):
    env = sync_env
    env.ad.add_user("before", "Antes", "Start")
    engine = Engine(_root(env), tmp_path)
    try:
        engine.started()
        assert "directories: corp" in engine.stdout()
        # The first run starts at once.
        wait_until(lambda: env.ad.login("before") in {u["login"] for u in env.identity_users().values()}, 30,
              "the first run to create the user added before start")

        # A user added now arrives on the schedule, within about two intervals.
        added_at = time.monotonic()
        env.ad.add_user("after", "Depois", "Start")
        wait_until(lambda: env.ad.login("after") in {u["login"] for u in env.identity_users().values()}, 4 * INTERVAL,
              "the scheduled delta to create the user added after start")
        assert time.monotonic() - added_at <= 2 * INTERVAL + 3
        # The user lands at Identity a moment before its run records how it ended.
        wait_until(lambda: any(r.mode == "delta" and r.outcome == "ok" for r in env.state.runs("corp")), 30,
              "the scheduled delta to be recorded as ok")
        assert env.state.runs("corp")[-1].mode == "full"

        # One engine per home: a second `run` is refused, naming the first.
        second = _cli(_root(env), "run", timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "an engine is already running for this home" in second.stderr
        assert f"pid {engine.pid} (smartsync-tui run, started " in second.stderr
        assert f"kill {engine.pid}" in second.stderr and "Traceback" not in second.stderr
        assert engine.proc.poll() is None, "the refused run must leave the first one alone"

        assert engine.stop() == 0, engine.output()
        assert "engine stopped (SIGTERM)" in engine.log()
        assert "engine stopped" in engine.stdout()
        assert "Traceback" not in engine.output()
        assert engine_lock.read_holder(engine.home) is None
    finally:
        engine.kill()

    # Once the first stopped, another can start (the lock file left behind does not block it).
    again = Engine(_root(env), tmp_path, name="again")
    try:
        again.started()
        assert again.stop(signal.SIGINT) == 0, again.output()
    finally:
        again.kill()
    once = _cli(_root(env), "run", "--once")
    assert once.returncode == 0, once.stdout + once.stderr
    assert "engine started" in once.stdout and "engine stopped" in once.stdout


def test_sigterm_mid_run_finishes_the_batch_and_leaves_the_state_consistent(sync_env, tmp_path):
    env = sync_env
    for i in range(30):
        env.ad.add_user(f"t{i:02d}", "Term", f"T {i}")
    slow = {"SMARTSYNC_SYNC__BATCH_SIZE": "3", "SMARTSYNC_SYNC__CONCURRENCY": "1"}
    env.emulator.faults(latency_ms=200)
    engine = Engine(_root(env), tmp_path, extra_env=slow)
    try:
        engine.started()
        wait_until(lambda: len(env.identity_users()) >= 6, 60, "the first batches to land")
        code = engine.stop()
        out = engine.output()
    finally:
        engine.kill()
        env.emulator.clear_faults()
    assert code == 0, out
    log = engine.log()
    assert "engine stopped (SIGTERM)" in log
    assert "sync corp full: cancelled" in log
    assert "Traceback" not in out + log
    # Everything Identity confirmed is in the state store; the rest is pending.
    landed = len(env.identity_users())
    confirmed = env.state.counts("corp")["users"]
    assert confirmed == landed < 30, "the stop must land mid-apply"
    assert len(env.state.pending("corp")) == 30 - confirmed
    assert env.state.runs("corp")[0].outcome == "cancelled"

    done = _cli(_root(env), "sync", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    users = env.identity_users()
    assert len(users) == 30 and len({u["login"] for u in users.values()}) == 30
    assert env.state.pending("corp") == []
    assert all(u["active"] for u in users.values())


def test_a_directory_added_while_running_is_picked_up_and_a_broken_file_is_survived(samba_dc, emulator, tmp_path):
    env = make_sync_env(samba_dc, emulator, tmp_path)
    try:
        directory = env.settings.directory("corp")
        assert directory is not None
        _edit_settings(env.home, lambda s: setattr(s, "directories", []))
        env.ad.add_user("late", "Tarde", "Added")
        engine = Engine(_root(env), tmp_path)
        try:
            engine.started()
            assert "directories: none" in engine.stdout()
            assert "waiting for one" in engine.stdout()
            time.sleep(1)
            assert env.identity_users() == {}

            _edit_settings(env.home, lambda s: s.put_directory(directory))
            wait_until(lambda: env.ad.login("late") in {u["login"] for u in env.identity_users().values()}, 3 * INTERVAL,
                  "the added directory's first run")
            assert "settings: directory corp added" in engine.log()

            # A broken file (a hand edit half done) is reported; the engine keeps its settings and goes on.
            good = env.home.settings_file.read_text()
            env.home.settings_file.write_text(good[: len(good) // 2])
            wait_until(lambda: "settings not reloaded" in engine.log(), 10, "the broken file to be reported")
            env.ad.add_user("during", "Durante", "Broken")
            wait_until(lambda: env.ad.login("during") in {u["login"] for u in env.identity_users().values()},
                  4 * INTERVAL, "a scheduled run with the previous settings")
            assert f"{env.home.settings_file} is not valid JSON" in engine.log()

            # Disabled again: its sync stops (no more runs).
            env.home.settings_file.write_text(good)
            _edit_settings(env.home, lambda s: s.put_directory(directory.model_copy(update={"enabled": False})))
            wait_until(lambda: "settings: directory corp disabled" in engine.log(), 10, "the disable to be seen")
            time.sleep(1)
            before = len(env.state.runs("corp", limit=1000))
            time.sleep(INTERVAL + 2)
            assert len(env.state.runs("corp", limit=1000)) == before

            assert engine.stop() == 0, engine.output()
        finally:
            engine.kill()
    finally:
        env.ad.close()
        env.state.close()


# -- the lock (no server needed)


def test_run_answers_login_checks_beside_its_syncs_and_a_long_poll_does_not_delay_its_stop(samba_dc, emulator,
                                                                                            tmp_path):
    env = make_sync_env(samba_dc, emulator, tmp_path / "agent", ou=samba_dc.staff_ou)
    engine = Engine(_root(env), tmp_path)
    try:
        engine.started()
        wait_until(lambda: "waiting for login checks from Identity" in engine.log(), 30, "the login-check loop")

        command = wait_until(lambda: emulator.try_login_check(env.identity_directory, samba_dc.upn("maria.silva"),
                                                             samba_dc.passwords["maria.silva"]),
                             30, "the agent's public key", every=0.2)
        assert emulator.wait_for_result(command["id"])["result"]["outcome"] == "allowed"
        wait_until(lambda: f"login check corp: {samba_dc.upn('maria.silva')} allowed in" in engine.log(), 10,
              "the check's log line")
        time.sleep(1)  # the loop is back in its long poll (25 s)
        started = time.monotonic()
        assert engine.stop() == 0
        assert time.monotonic() - started < 3  # the engine does not wait for the poll to end
        assert "engine stopped (SIGTERM)" in engine.stdout()
    finally:
        engine.kill()
        env.ad.close()
        env.state.close()


def test_lock_refuses_a_second_holder_and_reads_who_holds_it(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    assert engine_lock.read_holder(home) is None
    with engine_lock.acquire(home, "console") as lock:
        holder = engine_lock.read_holder(home)
        assert holder is not None
        assert holder["pid"] == os.getpid() == lock.pid and holder["mode"] == "console"
        assert set(holder) == {"pid", "started_at", "host", "version", "mode"}
        with pytest.raises(engine_lock.EngineRunning) as refused:
            engine_lock.acquire(home, "run")
        assert refused.value.pid == os.getpid()
        assert f"pid {os.getpid()} (the smartsync-tui console, started " in str(refused.value)
        # Reading does not disturb the holder.
        assert engine_lock.read_holder(home) == holder
    assert engine_lock.read_holder(home) is None
    assert engine_lock.lock_path(home).read_text() == ""
    with engine_lock.acquire(home, "run"):
        pass


def test_a_dead_engines_lock_file_does_not_block(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    code = (
        "import os, sys, time\n"
        "from smartsync_tui.engine import lock as engine_lock\n"
        "from smartsync_tui.config.paths import resolve_home\n"
        f"lock = engine_lock.acquire(resolve_home({str(tmp_path / 'home')!r}), 'run')\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        assert engine_lock.read_holder(home)["pid"] == proc.pid  # type: ignore[index]
        proc.kill()  # no clean-up: its JSON stays in the file
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert json.loads(engine_lock.lock_path(home).read_text())["pid"] == proc.pid
    assert engine_lock.read_holder(home) is None
    with engine_lock.acquire(home, "run") as lock:
        assert lock.pid == os.getpid()


# -- the scheduler in process (no server needed)


def test_backoff_doubles_and_is_capped():
    assert [backoff_delay(n) for n in range(8)] == [0, 30, 60, 120, 240, 480, 600, 600]


def test_a_failing_directory_backs_off_a_manual_run_goes_first_and_stop_returns(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    # No password in the secret store: every run fails at once ("could not run").
    directory = DirectorySettings(id="down", server="127.0.0.1", port=1, tls="plain", bind_user="x@corp.example",
                                  base_dn="DC=corp,DC=example")
    save_settings(home.settings_file, AppSettings(directories=[directory]))
    events: list[object] = []
    scheduler = Scheduler(home, on_event=events.append, settings_poll=0.2)
    thread = threading.Thread(target=scheduler.run_forever)
    thread.start()
    try:
        first = wait_until(lambda: [e for e in events if isinstance(e, RunFinished)], 30, "the first run")[0]
        assert first.result.outcome == "failed" and "password" in (first.result.error or "")
        assert first.failures_in_a_row == 1
        assert first.next_run_at is not None and first.next_run_at - time.time() > 25  # 30 s, not the interval
        assert scheduler.status()["down"].failures_in_a_row == 1

        # An admin's "sync now" does not wait for the backoff.
        scheduler.trigger("down", full=True)
        wait_until(lambda: len([e for e in events if isinstance(e, RunFinished)]) >= 2, 30, "the manual run")
        started = [e for e in events if isinstance(e, RunStarted)]
        assert started[0] == RunStarted("down", full=False, allow_deletes=False, manual=False)
        assert started[1] == RunStarted("down", full=True, allow_deletes=False, manual=True)
        second = [e for e in events if isinstance(e, RunFinished)][1]
        assert second.failures_in_a_row == 2 and second.next_run_at - time.time() > 55  # type: ignore[operator]

        with pytest.raises(Exception, match="no directory 'nope'"):
            scheduler.trigger("nope")
        # A directory just added to the file can be triggered at once (the file is re-read first).
        _edit_settings(home, lambda s: s.put_directory(directory.model_copy(update={"id": "fresh"})))
        scheduler.trigger("fresh")
        wait_until(lambda: any(isinstance(e, RunFinished) and e.directory_id == "fresh" for e in events), 30,
              "the new directory's run")
        assert set(scheduler.status()) == {"down", "fresh"}
    finally:
        scheduler.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_run_once_without_a_directory_says_so(tmp_path):
    done = _cli(tmp_path / "home", "run", "--once", timeout=60)
    assert done.returncode == 2
    assert "no enabled directory to sync" in done.stderr and "Traceback" not in done.stderr
    assert engine_lock.read_holder(resolve_home(tmp_path / "home")) is None

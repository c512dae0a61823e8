"""One engine, two hosts: `smartsync-tui run` and a console that is the engine answer alike.

The same scenario is driven through the control channel against the engine service as `run`
composes it (its jobs in the scheduler's threads) and against a console that holds the engine
(its jobs as Textual workers): a target that cannot be reached backs the directory off (30 s
interval, backoff from 100 s here), a sync asked during a run is queued and runs right after,
and the status says so. The two status histories must be the same. The directory is the
in-memory DC, the target the in-memory one: no Samba, no root.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from smartsync_tui.channel import control_channel
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore, directory_password_key
from smartsync_tui.config.settings import AppSettings, DirectorySettings, load_settings, save_settings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.service import EngineService
from smartsync_tui.targets.base import NO_REMOTE_IDS, NOTHING_KNOWN
from smartsync_tui.testbed.memory_dc import MemoryDC
from smartsync_tui.ui.app import SmartSyncApp
from tests.support.memory_target import MemoryTarget
from tests.support.tables import directory_row
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.skipif(not control_channel.available(), reason="no Unix sockets on this system")

INTERVAL = 30
BACKOFF_BASE = 100.0


class GatedTarget(MemoryTarget):
    """The memory target, whose user batches wait while the gate is closed (a run in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.applying = threading.Event()

    def apply_users(self, users, known=NOTHING_KNOWN, remote_ids=NO_REMOTE_IDS):  # type: ignore[no-untyped-def]
        self.applying.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().apply_users(users, known, remote_ids)


@pytest.fixture(scope="module")
def memory_dc():
    dc = MemoryDC(12).register()
    try:
        yield dc
    finally:
        dc.unregister()


class Setup:
    def __init__(self, dc: MemoryDC, root: Any) -> None:
        # A short path: the channel's socket lives under the home (Unix sockets allow ~107 bytes).
        self.home = resolve_home(root).ensure()
        directory = DirectorySettings(id="m", server=dc.host, tls="plain", bind_user=dc.admin_user, base_dn=dc.base_dn,
                                      login_checks=False)
        settings = AppSettings(directories=[directory])
        settings.sync.delta_interval_seconds = INTERVAL
        save_settings(self.home.settings_file, settings)
        self.secrets = SecretStore(self.home.secrets_file)
        self.secrets.set(directory_password_key("m"), dc.admin_password)
        self.target = GatedTarget()
        self.options = {"target_factory": lambda context: self.target, "backoff_base": BACKOFF_BASE,
                        "backoff_cap": 8 * BACKOFF_BASE, "settings_poll": 0.1}

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(control_channel.request, self.home, message)

    async def status(self) -> dict[str, Any]:
        return (await self.ask({"op": "status"}))["directories"]["m"]


@pytest.fixture
def setup(memory_dc):
    root = tempfile.mkdtemp(prefix="ssm-", dir="/tmp")
    try:
        yield Setup(memory_dc, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sent_all(setup: Setup) -> bool:
    """Every user the state store knows reached the target."""
    with StateStore(setup.home.state_db) as state:
        counts = state.counts("m")
    return len(setup.target.users) == counts["users"] + counts["disabled_users"] > 0


def seen(status: dict[str, Any]) -> dict[str, Any]:
    """A status as compared between the hosts: the wait until the next run in whole tens of seconds."""
    out = dict(status)
    if out["next_run_at"] is not None:
        out["next_run_at"] = round((out["next_run_at"] - time.time()) / 10) * 10
    return out


async def scenario(setup: Setup, on_step: Callable[[str], Awaitable[None]] | None = None) -> list[dict[str, Any]]:
    """What the channel's status says after each step; the engine was started with the target away."""
    history = []

    async def step(name: str, until: Callable[[dict[str, Any]], bool]) -> None:
        status = await wait_until_async_value(setup.status, until, name)
        history.append({"step": name, **seen(status)})
        if on_step is not None:
            await on_step(name)

    # The first scheduled run, at once: the target cannot be reached.
    await step("first run failed", lambda s: s["failures_in_a_row"] == 1 and not s["running"])
    await setup.ask({"op": "sync", "directory": "m"})
    await step("asked run failed", lambda s: s["failures_in_a_row"] == 2 and not s["running"] and not s["queued"])

    setup.target.unavailable = False
    setup.target.gate.clear()
    setup.target.applying.clear()
    await setup.ask({"op": "sync", "directory": "m", "full": True})
    await wait_until_async(setup.target.applying.is_set, 30, "the full run to reach the target")
    await step("running", lambda s: s["running"])
    await setup.ask({"op": "sync", "directory": "m"})  # during the run: queued, not refused
    await step("queued behind it", lambda s: s["running"] and s["queued"])
    setup.target.gate.set()
    await step("both ran", lambda s: not s["running"] and not s["queued"] and s["failures_in_a_row"] == 0)
    return history


async def wait_until_async_value(read: Callable[[], Awaitable[dict[str, Any]]], until: Callable[[dict[str, Any]], bool],
                                 what: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for: {what} (last status {value})")
        await asyncio.sleep(0.05)


EXPECTED = [
    {"step": "first run failed", "running": False, "queued": False, "next_run_at": 100, "failures_in_a_row": 1,
     "last_outcome": "failed"},
    {"step": "asked run failed", "running": False, "queued": False, "next_run_at": 200, "failures_in_a_row": 2,
     "last_outcome": "failed"},
    {"step": "running", "running": True, "queued": False, "next_run_at": None, "failures_in_a_row": 2,
     "last_outcome": "failed"},
    {"step": "queued behind it", "running": True, "queued": True, "next_run_at": None, "failures_in_a_row": 2,
     "last_outcome": "failed"},
    {"step": "both ran", "running": False, "queued": False, "next_run_at": INTERVAL, "failures_in_a_row": 0,
     "last_outcome": "ok"},
]


async def test_run_backs_off_queues_and_says_so(setup):
    setup.target.unavailable = True
    service = EngineService(setup.home, secrets=setup.secrets, **setup.options)  # what `run` composes
    thread = threading.Thread(target=service.run_forever, daemon=True)
    thread.start()
    try:
        await wait_until_async(lambda: control_channel.socket_path(setup.home).exists(), 10, "the channel")
        assert await scenario(setup) == EXPECTED
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert sent_all(setup)


async def test_a_console_that_is_the_engine_backs_off_queues_and_says_so_the_same(setup):
    setup.target.unavailable = True
    app = SmartSyncApp(setup.home, load_settings(setup.home.settings_file), secrets=setup.secrets,
                       serve_channel=True, engine_options=setup.options)
    rows: dict[str, str] = {}

    async def look(step: str) -> None:
        await asyncio.sleep(0.1)  # the engine's messages reach the table
        rows[step] = directory_row(app)["sync"]
        if step == "running":  # its jobs run as the App's workers, one group per directory
            rows["worker"] = str(any(w.group == "sync-m" and w.is_running for w in app.workers))

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        await wait_until_async(lambda: control_channel.socket_path(setup.home).exists(), 10, "the channel")
        assert await scenario(setup, look) == EXPECTED
    assert rows["first run failed"] == rows["asked run failed"] == "Failed"
    assert rows["running"].startswith("Syncing") and rows["worker"] == "True"
    assert rows["both ran"] == "Synced"
    assert sent_all(setup)


async def test_a_console_that_is_the_engine_serves_health_and_metrics_as_run_does(setup):
    settings = load_settings(setup.home.settings_file, environment=False)
    settings.status.listen = "127.0.0.1:0"
    save_settings(setup.home.settings_file, settings)
    app = SmartSyncApp(setup.home, load_settings(setup.home.settings_file), secrets=setup.secrets,
                       serve_channel=True, engine_options=setup.options)
    async with app.run_test(size=(120, 40)):
        await wait_until_async(lambda: app.engine.started and app.engine.service.status_endpoint is not None, 10,
                               "the status endpoints")
        url = app.engine.service.status_endpoint.url
        await wait_until_async(lambda: directory_row(app)["sync"] == "Synced", 20, "the first run")
        health = await asyncio.to_thread(httpx.get, url + "/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "pass"
        assert {e["componentId"] for e in health.json()["checks"]["sync:lastSuccessAge"]} == {"m"}
        metrics = (await asyncio.to_thread(httpx.get, url + "/metrics", timeout=5)).text
        assert 'smartsync_sync_runs_total{directory="m",mode="full",outcome="ok"} 1.0' in metrics
        # The same assessment over the channel (what `smartsync-tui status` shows).
        assert (await setup.ask({"op": "health"}))["health"]["status"] == "pass"

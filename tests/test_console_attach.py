"""A console opened while `smartsync-tui run` holds the home shows the engine's
state and starts no syncs of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from textual.widgets import DataTable

from smartsync_tui.core import engine_lock
from smartsync_tui.core.settings import load_settings
from smartsync_tui.ui.app import SmartSyncApp
from tests.test_sync_engine import seed_basic

pytestmark = pytest.mark.samba


async def test_console_attaches_to_a_running_engine(sync_env):
    seed_basic(sync_env)
    home_dir = str(sync_env.home.config_dir.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    env["SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS"] = "5"
    engine = subprocess.Popen([sys.executable, "-m", "smartsync_tui", "--home", home_dir, "run"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while engine_lock.read_holder(sync_env.home) in (None, {}) and time.monotonic() < deadline:
            time.sleep(0.1)
        holder = engine_lock.read_holder(sync_env.home)
        assert holder and holder["pid"] == engine.pid
        with pytest.raises(engine_lock.EngineRunning):
            engine_lock.acquire(sync_env.home, "console")

        app = SmartSyncApp(sync_env.home, load_settings(sync_env.home.settings_file), secrets=sync_env.secrets,
                           attached_pid=holder["pid"])
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            assert f"attached to engine (pid {engine.pid})" in app.sub_title
            await pilot.press("d", "s")
            await pilot.pause()
            assert not list(app.workers)  # the engine syncs, not this console
            for _ in range(100):  # the engine's first sync shows up through the state store
                await asyncio.sleep(0.1)
                row = [str(c) for c in app.query_one("#directory-table", DataTable).get_row_at(0)]
                if row[3] == "Synced":
                    break
            assert row[3] == "Synced" and row[5] == "3"
        assert engine.poll() is None  # closing the console leaves the engine running
    finally:
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.kill()
    assert engine.returncode == 0

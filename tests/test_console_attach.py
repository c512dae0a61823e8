"""A console opened while `smartsync-tui run` holds the home shows the engine's
state and starts no syncs of its own; its actions reach the engine through the
control channel (channel/control_channel.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Checkbox, DataTable

from smartsync_tui.channel import control_channel
from smartsync_tui.engine import lock as engine_lock
from smartsync_tui.config.settings import load_settings
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.confirm_delete import ConfirmDeleteDialog
from tests.support.tables import directory_row
from tests.support.waiting import wait_until_async, settle
from tests.test_sync_engine import seed_basic

pytestmark = pytest.mark.samba
REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running_engine(sync_env, out_dir: Path, *, interval: int, poll_wait: int | None = None) -> Iterator[subprocess.Popen]:
    """`smartsync-tui run` on the test's home; SIGTERM at the end, which must exit 0.

    ``poll_wait``: the login-check loop's long poll (25 s by default).
    """
    home_dir = str(sync_env.home.config_dir.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    env.update({"SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS": str(interval), "PYTHONUNBUFFERED": "1"})
    if poll_wait is not None:
        env["SMARTSYNC_LOGIN_CHECKS__POLL_WAIT_SECONDS"] = str(poll_wait)
    with open(out_dir / "run.stdout", "w") as out, open(out_dir / "run.stderr", "w") as err:
        engine = subprocess.Popen([sys.executable, "-m", "smartsync_tui", "--home", home_dir, "run"],
                                  env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=REPO)
        try:
            deadline = time.monotonic() + 30
            while engine_lock.read_holder(sync_env.home) in (None, {}) and time.monotonic() < deadline:
                time.sleep(0.1)
            yield engine
        finally:
            engine.send_signal(signal.SIGTERM)
            try:
                engine.wait(timeout=30)
            except subprocess.TimeoutExpired:
                engine.kill()
                engine.wait()
    assert engine.returncode == 0, (out_dir / "run.stderr").read_text()


def attached_console(sync_env, pid: int) -> SmartSyncApp:
    return SmartSyncApp(sync_env.home, load_settings(sync_env.home.settings_file), secrets=sync_env.secrets,
                        attached_pid=pid)


def application_log(sync_env) -> str:
    path = sync_env.home.log_dir / "application.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


async def click_when_laid_out(pilot, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Click a button of the current screen once it has a place on it (a click before misses)."""
    screen = pilot.app.screen
    widget = await wait_until_async(
        lambda: screen.query(selector) and screen.query_one(selector).region.width and screen.query_one(selector),
        15, f"{selector} laid out")
    await pilot.click(widget)


def row(app: SmartSyncApp) -> list[str]:
    return directory_row(app)


def toasts(app: SmartSyncApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_console_attaches_to_a_running_engine(sync_env, tmp_path):
    seed_basic(sync_env)
    with running_engine(sync_env, tmp_path, interval=5) as engine:
        holder = engine_lock.read_holder(sync_env.home)
        assert holder and holder["pid"] == engine.pid
        with pytest.raises(engine_lock.EngineRunning):
            engine_lock.acquire(sync_env.home, "console")

        app = attached_console(sync_env, holder["pid"])
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            assert f"attached to engine (pid {engine.pid})" in app.sub_title
            await pilot.press("d", "s")
            await pilot.pause()
            assert not [w for w in app.workers if w.group.startswith("sync-")]  # the engine syncs, not this console
            await wait_until_async(lambda: row(app)["sync"] == "Synced", 60.0, "the engine's first sync in the table")
            assert row(app)["users"] == "3"
        assert engine.poll() is None  # closing the console leaves the engine running


async def test_sync_now_in_an_attached_console_makes_the_engine_sync(sync_env, tmp_path):
    seed_basic(sync_env)
    # An hour between scheduled runs: only the console's `s` can cause a second one.
    with running_engine(sync_env, tmp_path, interval=3600) as engine:
        await wait_until_async(lambda: "control channel listening on" in (tmp_path / "run.stdout").read_text(),
                               60.0, "the engine's control channel")
        assert control_channel.socket_path(sync_env.home).is_socket()
        app = attached_console(sync_env, engine.pid)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.press("d")
            await wait_until_async(lambda: row(app)["sync"] == "Synced" and row(app)["users"] == "3",
                                   60.0, "the engine's first sync")
            sync_env.ad.add_user("nova.pessoa", "Nova", "Pessoa")
            # Nothing else will sync it for an hour: the engine's next scheduled run is that far,
            # and no run is in flight or queued. Only `s` can bring the new user in.
            (status,) = control_channel.request(sync_env.home, {"op": "status"})["directories"].values()
            assert not status["running"] and not status["queued"]
            assert status["next_run_at"] > time.time() + 3000
            runs_before = len(sync_env.state.runs("corp"))
            assert row(app)["users"] == "3"

            await pilot.press("s")
            await wait_until_async(lambda: f"Sync of corp asked of the engine (pid {engine.pid})." in toasts(app),
                                   60.0, "the notification")
            await wait_until_async(lambda: row(app)["users"] == "4",
                                   30, "the new user in the table (the engine's second run)")
            assert row(app)["sync"] == "Synced"
            assert len(sync_env.state.runs("corp")) == runs_before + 1
            log = application_log(sync_env)
            assert "control channel: sync of corp asked" in log
            assert log.count("sync corp ") >= 2

            await pilot.press("f")
            await wait_until_async(lambda: f"Full sync of corp asked of the engine (pid {engine.pid})." in toasts(app),
                                   60.0, "the full sync's notification")
            await wait_until_async(lambda: "sync corp full" in application_log(sync_env), 30, "the engine's full run")
        assert engine.poll() is None  # detaching leaves the engine running


async def test_deleting_in_an_attached_console_makes_the_engine_forget(sync_env, tmp_path):
    seed_basic(sync_env)
    # A short long poll: the forget waits for the login-check loop to end, which a poll delays.
    with running_engine(sync_env, tmp_path, interval=3600, poll_wait=3) as engine:
        await wait_until_async(lambda: "control channel listening on" in (tmp_path / "run.stdout").read_text(),
                               60.0, "the engine's control channel")
        app = attached_console(sync_env, engine.pid)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.press("d")
            await wait_until_async(lambda: row(app)["sync"] == "Synced", 60.0, "the engine's first sync")
            assert sync_env.state.runs("corp")
            # The engine's login-check loop runs: it made the directory's key pair.
            await wait_until_async(lambda: "directory/corp/private_key" in sync_env.home.secrets_file.read_text(),
                                   60.0, "the login-check loop's key pair")
            await pilot.press("x")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ConfirmDeleteDialog)
            dialog.query_one("#understood", Checkbox).value = True
            await pilot.pause()
            await click_when_laid_out(pilot, "#delete")
            deleted = f"Directory corp deleted; the engine (pid {engine.pid}) forgot its state and secrets."
            await wait_until_async(lambda: deleted in toasts(app), 60.0, "the engine's answer")
            assert app.query_one("#directory-table", DataTable).row_count == 0
        assert load_settings(sync_env.home.settings_file).directories == []
        assert sync_env.state.runs("corp") == [] and sync_env.state.counts("corp")["users"] == 0
        assert "directory/corp/" not in sync_env.home.secrets_file.read_text()
        assert "directory corp forgotten: its state and its secrets were deleted" in application_log(sync_env)
        assert engine.poll() is None
    # The engine stopped (every thread of it ended): no loop wrote a secret of corp back after the forget.
    assert "directory/corp/" not in sync_env.home.secrets_file.read_text()
    assert "created the agent's key pair" not in application_log(sync_env).split("directory corp forgotten")[1]


async def test_an_engine_that_went_away_is_a_notification(sync_env, tmp_path):
    app = attached_console(sync_env, 999999)  # nobody serves this home
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("d", "s")
        await settle(app)
        await pilot.pause()
        (message,) = toasts(app)
        assert message.startswith("the engine (pid 999999) has no control channel at ")
        assert "is it still running?" in message


class RecordingEngine:
    """Stands in for the engine behind the channel: records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, bool, bool]] = []

    def status(self):  # type: ignore[no-untyped-def]
        return {}

    def sync(self, directory: str, *, full: bool, allow_deletes: bool) -> None:
        self.asked.append((directory, full, allow_deletes))

    def forget(self, directory: str) -> None:
        pass

    def reload(self) -> bool:
        return False


async def test_an_attached_console_offers_the_disables_the_engine_holds(sync_env):
    from smartsync_tui.store.state_store import PendingOp
    from smartsync_tui.ui.screens.threshold import ThresholdDialog

    engine = RecordingEngine()
    with control_channel.ControlServer(sync_env.home, engine) as server:
        server.start()
        app = attached_console(sync_env, os.getpid())
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.press("d")
            # The engine's run ends held: what the console reads from the state store.
            sync_env.state.hold("corp", [PendingOp(f"g{i}", "user", "disable", f"CN=u{i},OU=x", {"login": f"u{i}"})
                                         for i in range(3)])
            sync_env.state.finish_run(sync_env.state.start_run("corp", "full", dry_run=False), outcome="held", counts={})
            # Its buttons too: a dialog's nested widgets are mounted a moment after it is the screen.
            # Composed: its nested widgets come a moment after it is the screen.
            dialog = await wait_until_async(
                lambda: isinstance(app.screen, ThresholdDialog) and app.screen.query("#allow") and app.screen,
                15, "the held disables' dialog")
            assert dialog.query_one("#held-table", DataTable).row_count == 3
            await click_when_laid_out(pilot, "#allow")
            await wait_until_async(lambda: engine.asked, 60.0, "the engine to be asked")
            assert engine.asked == [("corp", False, True)]
            await wait_until_async(lambda: f"The held disables of corp are allowed: the engine (pid {os.getpid()}) "
                                   "applies them now." in toasts(app), 60.0, "the notification")

            await pilot.press("s")  # still held: `s` offers them again rather than holding them again
            await pilot.pause()
            assert isinstance(app.screen, ThresholdDialog)
            await click_when_laid_out(pilot, "#keep")
            await wait_until_async(lambda: not isinstance(app.screen, ThresholdDialog), 15, "the dialog to close")
            assert engine.asked == [("corp", False, True)]

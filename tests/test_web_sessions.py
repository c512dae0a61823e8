"""Every console `web` starts ends (cli/web_sessions.py, ui/web_driver.py), and there are few of them.

A browser that loaded the page and left at once (headless Chromium's
``--screenshot``), a `web` killed outright, a console that does not answer:
each once left a console process running, holding the engine lock, so
`smartsync-tui run` was refused. These tests drop the real websocket at each
moment of a console's start-up and then check what an admin would: no console
process of the home is left, and `run --once` is not refused.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from smartsync_tui.cli.web_sessions import RATE_WINDOW_SECONDS, SessionLimits
from tests.test_web_mode import (
    SCREEN_TIMEOUT,
    WebProcess,
    base_of,
    browser,
    console_pids,
    log_in,
    read_until,
    web,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds the consoles in /proc")

# A console that answers the quit goes in about a second; one that does not is sent
# SIGTERM after 3 s and SIGKILL 2 s later (web_sessions): with a margin for a loaded machine.
GONE_WITHIN = 15.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def wait_no_console(home: Path, timeout: float = GONE_WITHIN) -> float:
    """Seconds until no console process of `home` is left; fails naming them if some stay."""
    started = time.monotonic()
    while console_pids(home):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"consoles of {home} still running after {timeout} s: {console_pids(home)}")
        time.sleep(0.05)
    return time.monotonic() - started


def wait_console(home: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not console_pids(home):
        assert time.monotonic() < deadline, "no console process behind the tab"
        time.sleep(0.01)


def run_is_not_refused(home: Path) -> None:
    """`smartsync-tui run --once` takes the engine lock (then finds no directory to sync)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    done = subprocess.run([sys.executable, "-m", "smartsync_tui", "--home", str(home), "run", "--once"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert "an engine is already running" not in done.stderr, done.stderr
    assert "no enabled directory to sync" in done.stderr, done.stderr


async def open_console(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(f"{url}/ws?width=80&height=24", headers={"Origin": url})


async def drawn_console(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    """A console tab opened and drawn at 80x24, as an admin sees it."""
    ws = await open_console(session, url)
    await read_until(ws, "smartsync-tui", size=(80, 24))
    return ws


async def first_bytes(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(["resize", {"width": 80, "height": 24}])
    message = await ws.receive(timeout=SCREEN_TIMEOUT)
    assert message.type == aiohttp.WSMsgType.BINARY, message


@pytest.mark.parametrize("moment", ["right after the upgrade", "after the first bytes", "after the first screen",
                                    "mid-session"])
@pytest.mark.parametrize("how", ["closed", "cut"])
async def test_a_console_ends_when_its_tab_goes_at_any_moment(home: Path, moment: str, how: str) -> None:
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        session = browser()
        try:
            await log_in(session, login_url)
            ws = await open_console(session, url)
            if moment != "right after the upgrade":
                await first_bytes(ws)
            if moment in ("after the first screen", "mid-session"):
                await read_until(ws, "smartsync-tui", size=(80, 24))
            if moment == "mid-session":
                await ws.send_json(["stdin", "\x1b"])  # keys typed in the wizard
                await ws.send_json(["stdin", "h"])
                await ws.receive(timeout=SCREEN_TIMEOUT)
            # Right after the upgrade: the process exists and is still importing Python.
            await asyncio.to_thread(wait_console, home)
            if how == "closed":
                await ws.close()  # the tab closed: a websocket close frame
        finally:
            await session.close()  # "cut": the connection goes without a close frame
        took = await asyncio.to_thread(wait_no_console, home)
        print(f"console gone {took:.2f} s after the tab {how} ({moment})")
        await asyncio.to_thread(run_is_not_refused, home)
        assert server.proc.poll() is None  # web itself serves on
        assert await asyncio.to_thread(server.stop) == 0


async def test_a_console_that_does_not_answer_is_killed_when_its_tab_goes(home: Path) -> None:
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            ws = await drawn_console(session, url)
            [pid] = console_pids(home)
            os.kill(pid, signal.SIGSTOP)  # stuck: it can take neither the quit nor SIGTERM
            await ws.close()
            took = await asyncio.to_thread(wait_no_console, home)
        assert 3.0 <= took <= GONE_WITHIN, took  # the quit's grace, then SIGTERM's, then SIGKILL
        await asyncio.to_thread(run_is_not_refused, home)
        assert await asyncio.to_thread(server.stop) == 0
    assert "sent SIGKILL" in (home / "logs" / "application.log").read_text()


async def test_stopping_web_ends_every_console_even_one_that_does_not_answer(home: Path) -> None:
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            starting = await open_console(session, url)  # still starting when web stops
            drawn = await drawn_console(session, url)
            stuck = await drawn_console(session, url)
            pids = set(console_pids(home))
            assert len(pids) == 3
            os.kill(max(pids), signal.SIGSTOP)  # the last one started
            assert await asyncio.to_thread(server.stop) == 0
            del starting, drawn, stuck  # open until web stopped
        await asyncio.to_thread(wait_no_console, home, 2.0)  # gone when web's stop returned
        await asyncio.to_thread(run_is_not_refused, home)


async def test_a_killed_web_leaves_no_console_behind(home: Path) -> None:
    """SIGKILL (the OOM killer, systemd's last resort): web can end nothing, the consoles end themselves."""
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            ws = await drawn_console(session, url)
            server.proc.kill()
            server.proc.wait(timeout=10)
            took = await asyncio.to_thread(wait_no_console, home)
        print(f"console gone {took:.2f} s after web was killed")
        await asyncio.to_thread(run_is_not_refused, home)


# -- few consoles


async def test_consoles_are_capped_and_the_refusal_says_why(home: Path) -> None:
    with web(home, "--port", "0", "--max-sessions", "2") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            first = await open_console(session, url)
            await first_bytes(first)
            second = await open_console(session, url)
            await first_bytes(second)
            # A third tab: the page says why, and what to do.
            async with session.get(f"{url}/") as response:
                assert response.status == 503
                text = await response.text()
                assert "2 consoles are open" in text and "--max-sessions 2" in text and "Close another tab" in text
            # A client that opens the websocket anyway gets no console, and the reason.
            third = await open_console(session, url)
            message = await third.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert third.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
            assert "--max-sessions 2" in message.extra
            assert len(console_pids(home)) == 2
            # One tab closed: a console can be opened again.
            await first.close()
            deadline = time.monotonic() + GONE_WITHIN
            status = 0
            while status != 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                async with session.get(f"{url}/") as response:
                    status = response.status
            assert status == 200 and len(console_pids(home)) == 1
            await second.close()
        assert await asyncio.to_thread(server.stop) == 0


async def test_new_consoles_are_rate_limited_and_the_refusal_says_when_to_retry(home: Path) -> None:
    with web(home, "--port", "0", "--sessions-per-minute", "2") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            for _ in range(2):
                ws = await open_console(session, url)
                await ws.close()
            async with session.get(f"{url}/") as response:
                assert response.status == 429
                assert int(response.headers["Retry-After"]) <= 61
                text = await response.text()
                assert "--sessions-per-minute 2" in text and "Reload this page in" in text
        await asyncio.to_thread(wait_no_console, home)
        assert await asyncio.to_thread(server.stop) == 0


@pytest.mark.parametrize("option", ["--max-sessions", "--sessions-per-minute"])
@pytest.mark.parametrize("value", ["0", "-1", "100000"])
def test_a_limit_out_of_range_is_a_clear_error(home: Path, option: str, value: str) -> None:
    process = WebProcess(home, "--port", "0", option, value)
    assert process.finish() == 2
    assert f"error: {option} {value} is out of range" in process.err and "Traceback" not in process.err


# -- unit: the limits' arithmetic


def test_limits_count_consoles_alive_and_started_per_minute() -> None:
    now = [0.0]
    limits = SessionLimits(max_sessions=2, per_minute=3, clock=lambda: now[0])
    assert limits.refusal(start=False) is None and limits.alive == 0  # a look is not a start
    assert limits.refusal() is None and limits.refusal() is None
    assert limits.refusal().status == 503  # type: ignore[union-attr]
    limits.ended()
    assert limits.refusal() is None  # the third start within the minute
    limits.ended()
    refused = limits.refusal()
    assert refused is not None and refused.status == 429 and 1 <= refused.retry_after <= 61
    now[0] = RATE_WINDOW_SECONDS
    assert limits.refusal() is None

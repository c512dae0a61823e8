"""Test helpers: wait for what a user would see, up to a deadline, then fail saying what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(condition: Callable[[], Any], timeout: float, what: str, *, every: float = 0.05) -> Any:
    """The first true value of ``condition()``; the test fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


async def wait_until_async(condition: Callable[[], Any], timeout: float, what: str, *, every: float = 0.1) -> Any:
    """The same inside a running Textual app: the event loop keeps going while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


async def settle(app: Any, timeout: float = 120) -> None:
    """Until the console has nothing left to do: no worker running, and its engine (when it is the
    engine) nothing running or queued. A sync asked with a key reaches the engine from a worker and
    runs as another worker started by the engine's thread, so waiting for the workers once is not enough."""
    from smartsync_tui.engine.client import LocalEngine

    deadline = time.monotonic() + timeout
    while True:
        await app.workers.wait_for_complete()
        await asyncio.sleep(0.02)  # the messages posted meanwhile (a job handed over, a result) are handled
        engine = getattr(app, "engine", None)  # a host app in a screen test has none
        busy = isinstance(engine, LocalEngine) and not engine.idle()
        if not busy and not any(w.is_running for w in app.workers):
            await asyncio.sleep(0.02)
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for the console's syncs to finish")
        await asyncio.sleep(0.05)

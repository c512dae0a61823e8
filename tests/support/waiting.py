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

"""The consoles `smartsync-tui web` runs, one per browser tab: how many, how fast, and how they end.

- **How many.** Each console is a Python process of about 60 MB; an open
  port would otherwise let one client start hundreds. :class:`SessionLimits`
  caps those alive at once and the new ones per minute; a refusal says which
  limit was hit and what to do.
- **How they end.** textual-serve starts each console through a shell in
  the server's process group and, when the tab goes, asks it to quit and waits
  for it without a bound: a console that misses the request (still starting,
  or stuck in its exit) lived on, spinning and holding the engine lock, after
  the tab and even after ``web`` had gone. :class:`ConsoleService` starts the
  console directly (no shell) in a session of its own and, however the
  websocket ends, asks it to quit, then sends its process group SIGTERM and
  then SIGKILL, each after a grace period; ``web`` does the same at its stop
  for any console still alive (:meth:`ConsoleRegistry.stop_all`).

The console's side of the same rule is in ``smartsync_tui/ui/web_driver.py``
(it quits when its input ends) and ``ui/app.py``'s ``run_console`` (no thread
holds its exit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from textual_serve.app_service import AppService

from smartsync_tui.i18n import _, ngettext, number

log = logging.getLogger("smartsync.web")

DEFAULT_MAX_SESSIONS = 4
DEFAULT_SESSIONS_PER_MINUTE = 10
RATE_WINDOW_SECONDS = 60.0
# After the quit request: how long a console may take to close by itself (it saves nothing
# on exit, so a few seconds is plenty), then after SIGTERM before SIGKILL.
QUIT_GRACE_SECONDS = 3.0
TERM_GRACE_SECONDS = 2.0
# The console's driver: Textual's web driver, plus an exit when its input ends.
CONSOLE_DRIVER = "smartsync_tui.ui.web_driver:ConsoleWebDriver"


@dataclass(frozen=True)
class Refusal:
    """Why no console starts now: ``status`` 503 (full) or 429 (too many new), and when to retry."""

    status: int
    text: str
    retry_after: int


class SessionLimits:
    """At most ``max_sessions`` consoles alive, and ``per_minute`` started in any 60 s."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, per_minute: int = DEFAULT_SESSIONS_PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.per_minute = per_minute
        self._clock = clock
        self._started: deque[float] = deque()
        self.alive = 0

    def refusal(self, *, start: bool = True) -> Refusal | None:
        """Why a new console may not start now (None: it may). With ``start``, a 'may' counts as
        one started; without, it is only a look (the page, before its websocket asks)."""
        now = self._clock()
        while self._started and now - self._started[0] >= RATE_WINDOW_SECONDS:
            self._started.popleft()
        if self.alive >= self.max_sessions:
            return Refusal(503, ngettext(
                "{n} console is open, the most this server allows (--max-sessions {most}). Close another tab "
                "of this console, or wait for one to be closed, then reload this page.",
                "{n} consoles are open, the most this server allows (--max-sessions {most}). Close another tab "
                "of this console, or wait for one to be closed, then reload this page.",
                self.alive).format(n=self.alive, most=self.max_sessions), 10)
        if len(self._started) >= self.per_minute:
            wait = max(1, int(RATE_WINDOW_SECONDS - (now - self._started[0])) + 1)
            started = len(self._started)
            return Refusal(429, ngettext(
                "{n} console was opened in the last minute, the most this server allows "
                "(--sessions-per-minute {most}). Reload this page in {seconds} s.",
                "{n} consoles were opened in the last minute, the most this server allows "
                "(--sessions-per-minute {most}). Reload this page in {seconds} s.",
                started).format(n=started, most=self.per_minute, seconds=wait), wait)
        if start:
            self._started.append(now)
            self.alive += 1
        return None

    def ended(self) -> None:
        self.alive = max(0, self.alive - 1)


class ConsoleRegistry:
    """Every console process this server started and has not yet seen gone."""

    def __init__(self) -> None:
        self.processes: dict[int, asyncio.subprocess.Process] = {}

    async def stop_all(self) -> None:
        """At the server's stop: end whatever is left, the same way as one tab's console."""
        await asyncio.gather(*(end_process(process) for process in list(self.processes.values())))


async def end_process(process: asyncio.subprocess.Process, *, quit_grace: float = 0.0) -> None:
    """Wait ``quit_grace`` for the process to go, then SIGTERM its group, then SIGKILL it; reap it.

    The group, not only the pid: anything the console started goes too.
    """
    for signum, grace in ((None, quit_grace), (signal.SIGTERM, TERM_GRACE_SECONDS), (signal.SIGKILL, 10.0)):
        if process.returncode is not None:
            break
        if signum is not None:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                pass
            except PermissionError:  # not ours any more (reused pid): never signal a stranger
                break
            log.info(_("web: console pid {pid} did not quit; sent {signal}").format(
                pid=process.pid, signal=signal.Signals(signum).name))
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            continue


class ConsoleService(AppService):
    """textual-serve's AppService, with the console run without a shell in a session of its own
    and ended for sure by :meth:`stop`."""

    def __init__(self, argv: list[str], registry: ConsoleRegistry, **kwargs: object) -> None:
        super().__init__(" ".join(argv), **kwargs)  # type: ignore[arg-type]
        self.argv = argv
        self.registry = registry

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        environment["TEXTUAL_DRIVER"] = CONSOLE_DRIVER
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,  # its own process group: killpg reaches it and nothing else
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        self.registry.processes[process.pid] = process
        log.info(_("web: console pid {pid} started").format(pid=process.pid))
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def stop(self) -> None:
        """Ask the console to quit, then make sure it has: SIGTERM, SIGKILL (never waits unbounded).

        Shielded: a second cancel (the server stopping while a tab closes) must not leave the
        process behind half-stopped.
        """
        await asyncio.shield(self._stop())

    async def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if self._task is not None:
            await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            await self.send_meta({"type": "quit"})
        started = time.monotonic()
        await end_process(process, quit_grace=QUIT_GRACE_SECONDS)
        if self._stdin is not None:
            self._stdin.close()
        if self._task is not None:
            # The process is gone, so its stdout ends and the reader with it.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), TERM_GRACE_SECONDS)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        if self.registry.processes.pop(process.pid, None) is not None:
            log.info(_("web: console pid {pid} ended (exit {code}, {seconds} s after its tab closed)").format(
                pid=process.pid, code=process.returncode, seconds=number(time.monotonic() - started, 1)))

"""Connections to `smartsync-tui web`, bounded before any request is read.

aiohttp waits for a request's headers with no deadline and takes every
connection it is offered. Any local account (loopback is shared) could open
thousands of sockets that each send half a header line: `web` ran out of file
descriptors, answered no one, and its error log grew by tens of MB a minute.
The login cannot help, as nothing has been read yet. So each connection is
wrapped before aiohttp sees it:

- at most :data:`MAX_CONNECTIONS` at once (a browser tab holds its websocket
  and a few page loads; the consoles themselves are capped lower, in
  :mod:`web_sessions`); past that a new one is closed at once;
- its first request's headers must arrive whole within
  :data:`HEADER_SECONDS`, else it is closed (a websocket, once open, lives on).

Nothing here imports aiohttp: `web_cmd`'s site hands :meth:`ConnectionGuard.wrap`
the runner's protocol factory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from smartsync_tui.i18n import _, ngettext, number

log = logging.getLogger("smartsync.web")

MAX_CONNECTIONS = 64
HEADER_SECONDS = 10.0
# One line about refused connections per this many seconds, not one per connection.
_REPORT_EVERY = 60.0


class ConnectionGuard:
    """Counts the open connections and makes the protocol that bounds each one."""

    def __init__(self, limit: int = MAX_CONNECTIONS, header_seconds: float = HEADER_SECONDS) -> None:
        self.limit = limit
        self.header_seconds = header_seconds
        self.open = 0
        self._refused = 0
        self._reported_at = 0.0

    def wrap(self, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Bounded(self, make_handler())

    def refused(self, why: str) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._reported_at >= _REPORT_EVERY:
            log.warning(ngettext("web: closed {n} connection in the last minute ({reason})",
                                 "web: closed {n} connections in the last minute ({reason})",
                                 self._refused).format(n=self._refused, reason=why))
            self._refused = 0
            self._reported_at = now


class _Bounded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's two bounds."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._guard.open += 1
        self._inner.connection_made(transport)
        if self._guard.open > self._guard.limit:
            self._guard.refused(_("more than {most} at once").format(most=self._guard.limit))
            transport.abort()
            return
        self._timer = asyncio.get_running_loop().call_later(self._guard.header_seconds, self._too_slow)

    def _too_slow(self) -> None:
        self._timer = None
        seconds = self._guard.header_seconds
        shown = number(seconds, 0 if seconds == int(seconds) else 1)
        self._guard.refused(_("no whole request within {seconds} s").format(seconds=shown))  # not a count
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            # The end of the first request's headers: from then on aiohttp's own timeouts apply.
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._guard.open -= 1
        self._inner.connection_lost(exc)

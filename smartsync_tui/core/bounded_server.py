"""A threading HTTP server that serves a bounded number of connections at once.

``http.server.ThreadingHTTPServer`` starts a thread for every connection it accepts, so a local
client that opens connections and sends nothing can exhaust threads. This one takes a slot per
connection (``max_connections``) and, when none is free, hands the connection to
:meth:`BoundedThreadingServer.refuse` (closed at once by default). Shared by the status
endpoints (status/server.py) and the Identity emulator.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any


class BoundedThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart binds again at once (no TIME_WAIT refusal)

    def __init__(self, address: tuple[str, int], handler: Any, *, family: int, max_connections: int) -> None:
        self.address_family = family
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def refuse(self, request: Any) -> None:
        """A connection over the limit: closed (a subclass may answer it first)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Broken connections are normal (a client went away): nothing on stderr."""

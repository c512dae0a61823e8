"""``GET /health`` and ``GET /metrics``: the engine's status endpoints (docs/monitoring.md).

Served by ``run`` and by a console that is the engine, at ``status.listen`` (127.0.0.1:9325 by
default; empty turns it off), from threads of its own: a scrape never waits for a sync. What
they say is counts, times and directory ids (engine/health.py, status/metrics.py); still, the
server is built for a shared machine: only GET and HEAD on two paths, no request body read,
a deadline on every connection, a bounded number of them at once, and on loopback only a Host
that names loopback (a web page in a local browser cannot read it through DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from smartsync_tui.config.validation import parse_listen
from smartsync_tui.core.bounded_server import BoundedThreadingServer
from smartsync_tui.engine import health as engine_health
from smartsync_tui.i18n import _
from smartsync_tui.status.metrics import EngineMetrics

if TYPE_CHECKING:
    from smartsync_tui.engine.service import EngineService

log = logging.getLogger("smartsync.status")

#: Connections served at once; more are closed at once (a scraper needs one).
MAX_CONNECTIONS = 16
#: A connection that sends nothing (or too slowly) for this long is closed.
CONNECTION_SECONDS = 10.0


class _Server(BoundedThreadingServer):
    def __init__(self, address: tuple[str, int], family: int, endpoints: "StatusServer") -> None:
        self.endpoints = endpoints
        # Full: closed at once, the next scrape comes in seconds.
        super().__init__(address, _Handler, family=family, max_connections=MAX_CONNECTIONS)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CONNECTION_SECONDS
    protocol_version = "HTTP/1.1"
    server_version = "smartsync-tui"
    sys_version = ""

    def handle(self) -> None:
        # One request per connection, within CONNECTION_SECONDS in all (a client that drips its
        # request a byte at a time holds a slot no longer than one that sends nothing).
        timer = threading.Timer(CONNECTION_SECONDS, self._cut)
        timer.daemon = True
        timer.start()
        try:
            self.handle_one_request()
        finally:
            timer.cancel()

    def _cut(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse_method(self) -> None:
        self._send(405, "text/plain; charset=utf-8", b"only GET and HEAD\n", {"Allow": "GET, HEAD"}, body=True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":  # "GET /" alone: its answer would have no status line
            self.send_error(400)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The library's page is HTML, quotes the request and, for a request it cannot read, has
        # no status line (HTTP/0.9): a short fixed text with a status line instead.
        if self.request_version == "HTTP/0.9" or not self.request_version.startswith("HTTP/"):
            self.request_version = "HTTP/1.0"
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self._send(code, "text/plain; charset=utf-8", f"{code} {phrase}\n".encode(), body=self.command != "HEAD")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the library's name)
        pass  # one line per scrape would flood the log; failures are logged where they happen

    def _answer(self, *, body: bool) -> None:
        endpoints = self.server.endpoints
        if not endpoints.host_allowed(self.headers.get("Host")):
            self._send(421, "text/plain; charset=utf-8", b"this server answers to its loopback address only\n",
                       body=body)
            return
        path = urlsplit(self.path).path
        if path == "/health":
            status, content_type, data = endpoints.health()
        elif path == "/metrics":
            status, content_type, data = endpoints.metrics(self.headers.get("Accept"))
        else:
            status, content_type, data = 404, "text/plain; charset=utf-8", b"not found: GET /health or /metrics\n"
        self._send(status, content_type, data, body=body)

    def _send(self, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None, *,
              body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Nothing of a request body is read and no connection kept: a scraper opens one per scrape.
        self.close_connection = True
        self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(data)


class StatusServer:
    """The two endpoints of one engine, listening from :meth:`start` to :meth:`close`."""

    def __init__(self, service: "EngineService", host: str, port: int) -> None:
        self._service = service
        self.engine_metrics = EngineMetrics(service.health)
        service.listen(self.engine_metrics.on_event)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._httpd = _Server((host, port), family, self)  # binds now: OSError if it cannot
        self.host, self.port = host, self._httpd.server_address[1]
        self._loopback = _is_loopback(host)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="status-endpoints", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "StatusServer":
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    # -- what the handler asks (from its threads)

    def host_allowed(self, header: str | None) -> bool:
        if not self._loopback:
            return True  # listening beyond loopback was the admin's choice: any name may reach it
        if not header:
            return False
        name = header.strip().lower()
        if name.startswith("["):
            name = name[1:].split("]", 1)[0]
        elif name.count(":") == 1:
            name = name.split(":", 1)[0]
        return name == "localhost" or _is_loopback(name)

    def health(self) -> tuple[int, str, bytes]:
        try:
            document = engine_health.health_document(self._service.health())
        except Exception as exc:  # the store cannot be read: that is a failure to report, not to hide
            log.warning(_("status endpoint: the health could not be assessed ({error})").format(
                error=type(exc).__name__))
            document = {"status": engine_health.FAIL, "output": _("the engine's state could not be read")}
        status = 503 if document["status"] == engine_health.FAIL else 200
        return status, engine_health.CONTENT_TYPE, json.dumps(document, indent=1).encode("utf-8")

    def metrics(self, accept: str | None) -> tuple[int, str, bytes]:
        try:
            data, content_type = self.engine_metrics.exposition(accept)
        except Exception as exc:
            log.warning(_("status endpoint: the metrics could not be collected ({error})").format(
                error=type(exc).__name__))
            return 500, "text/plain; charset=utf-8", b"the metrics could not be collected\n"
        return 200, content_type, data


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def serve(service: "EngineService", say: Callable[[str], None] | None = None) -> StatusServer | None:
    """The endpoints at the settings' ``status.listen``, started; None when off or the address is taken
    (said in the log: the engine syncs on without them)."""
    address = parse_listen(service.settings.status.listen)
    if address is None:
        return None
    host, port = address
    try:
        server = StatusServer(service, host, port)
    except OSError as exc:
        log.error(_("the status endpoints could not listen on {host}:{port} ({error}); the engine runs without "
                    "them: set status.listen in appsettings.json to a free address, or empty to turn them "
                    "off").format(host=host, port=port, error=exc.strerror or type(exc).__name__))
        return None
    server.start()
    (say or log.info)(_("status endpoints on {url}/health and {url}/metrics").format(url=server.url))
    return server

"""A small hostile HTTP server on 127.0.0.1, for tests of what the agent does with a bad Identity or proxy.

``HostileServer(default, routes)`` answers each request with an *action*: a
function ``(connection, request)`` that writes whatever it likes on the raw
socket. The actions below are the attacks the Identity client must survive
(docs/security.md): an endless chunked body, a gzip bomb, an answer that drips
one byte at a time, a huge ``Content-Length``, and :func:`relay`, which passes
requests on to a real emulator and may rewrite its JSON answers (wrong shapes)
or drip them. ``routes`` maps a path suffix (``"/users:batch"``) to its action.

Each connection has its own thread; :meth:`HostileServer.close` ends them
all (their sockets are shut down, so a dripping action stops at once).
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


# Runs ``argv[2:]`` as its child and writes the child's peak RSS (KiB) to ``argv[1]``: measured from
# a big parent (pytest) directly, a child's ru_maxrss would count the parent's pages (fork before exec).
PEAK_RSS_LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status) % 256)\n"
)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Action = Callable[["Connection", Request], None]


class Connection:
    """One client connection: the socket, and whether the server is closing."""

    def __init__(self, sock: socket.socket, server: "HostileServer") -> None:
        self.sock = sock
        self.server = server

    @property
    def closing(self) -> bool:
        return self.server.closing.is_set()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: str = "200 OK", headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status}", "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


class HostileServer:
    def __init__(self, default: Action, routes: dict[str, Action] | None = None) -> None:
        self.default = default
        self.routes = dict(routes or {})
        self.closing = threading.Event()
        self.requests: list[Request] = []
        # Set when a request reaches an action, per path suffix (or "*" for the default).
        self.reached: dict[str, threading.Event] = {key: threading.Event() for key in [*self.routes, "*"]}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="hostile-http", daemon=True).start()

    def __enter__(self) -> "HostileServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closing.set()
        self._listener.close()
        with self._lock:
            for sock in self._connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            request = _read_request(sock)
            if request is None:
                return
            self.requests.append(request)
            path = urlsplit(request.path).path
            key = next((suffix for suffix in self.routes if path.endswith(suffix)), "*")
            self.reached[key].set()
            (self.routes.get(key) or self.default)(Connection(sock, self), request)
        except OSError:
            pass  # the client gave up (what the tests expect it to do)
        finally:
            try:
                sock.close()
            except OSError:
                pass


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, path, headers, body)


# --------------------------------------------------------------------------- the attacks


def endless_chunked(chunk: bytes = b" " * 65536) -> Action:
    """200, JSON, chunked, and chunks that never end (JSON whitespace: it could always still become valid)."""

    def action(conn: Connection, request: Request) -> None:
        conn.head(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not conn.closing:
            conn.send(frame)

    return action


_BOMB: dict[int, bytes] = {}


def gzip_bomb_body(decoded_bytes: int = 1 << 30) -> bytes:
    """``decoded_bytes`` of JSON whitespace, gzipped (1 GiB is about 1 MB on the wire)."""
    if decoded_bytes not in _BOMB:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packer:
            piece = b" " * (1 << 20)
            for _ in range(decoded_bytes // len(piece)):
                packer.write(piece)
        _BOMB[decoded_bytes] = out.getvalue()
    return _BOMB[decoded_bytes]


def gzip_bomb(decoded_bytes: int = 1 << 30) -> Action:
    body = gzip_bomb_body(decoded_bytes)

    def action(conn: Connection, request: Request) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                           "Content-Length": str(len(body))})
        conn.send(body)

    return action


def drip(interval: float = 0.5, *, in_headers: bool = False) -> Action:
    """One byte every ``interval`` seconds, for ever: of the body after quick headers, or of the headers."""

    def action(conn: Connection, request: Request) -> None:
        if in_headers:
            conn.send(b"HTTP/1.1 200 OK\r\n")
            source = b"X-Drip: " + b"a" * 10_000_000
        else:
            # A modest size (refused early otherwise), which at this pace takes hours to arrive.
            conn.head(headers={"Content-Type": "application/json", "Content-Length": "100000"})
            source = b" " * 100_000
        for byte in source:
            if conn.closing:
                return
            conn.send(bytes([byte]))
            time.sleep(interval)

    return action


def huge_content_length(length: int = 10**12) -> Action:
    """Announces ``length`` bytes, then sends them (as fast as they are read)."""

    def action(conn: Connection, request: Request) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(length)})
        piece = b" " * 65536
        while not conn.closing:
            conn.send(piece)

    return action


def json_answer(body: object, status: str = "200 OK") -> Action:
    data = json.dumps(body).encode()

    def action(conn: Connection, request: Request) -> None:
        conn.head(status, {"Content-Type": "application/json", "Content-Length": str(len(data))})
        conn.send(data)

    return action


def relay(upstream: str, rewrite: Callable[[Request, object], object] | None = None, *,
          then: Action | None = None) -> Action:
    """Pass the request on to ``upstream`` (an emulator's URL) and answer what it answers.

    ``rewrite(request, body)`` may change a JSON answer (a wrong shape);
    ``then`` replaces the answer after the upstream applied the request (a
    batch applied by Identity whose answer then drips).
    """
    parts = urlsplit(upstream)

    def action(conn: Connection, request: Request) -> None:
        upstream_conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "connection", "accept-encoding")}
        upstream_conn.request(request.method, request.path, body=request.body or None, headers=headers)
        answer = upstream_conn.getresponse()
        data = answer.read()
        upstream_conn.close()
        if then is not None:
            then(conn, request)
            return
        if rewrite is not None and answer.status < 300:
            data = json.dumps(rewrite(request, json.loads(data))).encode()
        passed = {k: v for k, v in answer.getheaders()
                  if k.lower() not in ("content-length", "connection", "transfer-encoding", "content-encoding")}
        conn.head(f"{answer.status} {answer.reason}", {**passed, "Content-Length": str(len(data))})
        conn.send(data)

    return action


def deflate_answer(body: object) -> Action:
    """A valid JSON answer compressed with deflate (zlib-wrapped): what the client must still read."""
    data = zlib.compress(json.dumps(body).encode())

    def action(conn: Connection, request: Request) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Encoding": "deflate",
                           "Content-Length": str(len(data))})
        conn.send(data)

    return action

"""Two independent SCIM 2.0 servers as subprocesses on loopback, and a gate in front of them.

``scim_server`` (session-scoped) is, in turn, each of:

- ``scim2-server`` (PyPI, Python) run with ``--dynamic-tenants``;
- SCIMMY (npm, on Express: ``tests/support/scimmy/server.mjs``, its packages pinned
  by its package-lock.json and installed with ``npm ci`` when missing);

each with a bearer token. Every test takes a tenant of its own (``/<tenant>``),
so tests share the process and never each other's data, and every test that
uses one runs against both.

``ScimGate`` is a thin HTTP proxy in this process, between the agent and the
real server: it forwards every request, counts them, and on request answers
what a real provider answers (429 with Retry-After, a 5xx, a 400 for one
object, a dropped connection) or refuses what AWS and Entra refuse (more
members per PATCH than their limit). The objects themselves are always the
real server's.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScimServer:
    name = "scim2-server"

    def __init__(self, log_dir: Path) -> None:
        exe = shutil.which("scim2-server") or str(Path(sys.executable).with_name("scim2-server"))
        self.token = secrets.token_urlsafe(24)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_dir / "scim2-server.log", "ab")
        self.process = subprocess.Popen(
            [exe, "--hostname", "127.0.0.1", "--port", str(self.port), f"--bearer-token={self.token}",
             "--dynamic-tenants"], stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                httpx.get(f"{self.url}/ready/ServiceProviderConfig", headers=self.headers, timeout=1.0)
                break
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"scim2-server did not start; see {log_dir / 'scim2-server.log'}")
                time.sleep(0.1)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def tenant(self) -> "ScimTenant":
        return ScimTenant(self, f"t{uuid.uuid4().hex[:12]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


SCIMMY_DIR = Path(__file__).resolve().parent / "scimmy"


def _ensure_scimmy() -> str:
    """The node binary, with the server's packages installed (``npm ci``: exactly the lock file's)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("SCIMMY needs Node.js and npm (Debian: apt-get install nodejs npm)")
    if not (SCIMMY_DIR / "node_modules" / "scimmy-routers").is_dir():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SCIMMY_DIR,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {SCIMMY_DIR} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return node


class ScimmyServer(ScimServer):
    name = "scimmy"

    def __init__(self, log_dir: Path) -> None:
        node = _ensure_scimmy()
        self.token = secrets.token_urlsafe(24)
        self._log = open(log_dir / "scimmy.log", "ab")
        self.process = subprocess.Popen([node, str(SCIMMY_DIR / "server.mjs"), "0", self.token], cwd=SCIMMY_DIR,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"SCIMMY did not start (said {line!r}); see {log_dir / 'scimmy.log'}")
        self.url = line.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])


class ScimTenant:
    """One test's own data on the server: ``url`` is its SCIM base URL."""

    def __init__(self, server: ScimServer, name: str) -> None:
        self.server = server
        self.name = name
        self.url = f"{server.url}/{name}"

    def _list(self, kind: str) -> list[dict]:
        out: list[dict] = []
        start = 1
        while True:
            answer = httpx.get(f"{self.url}/{kind}", headers=self.server.headers,
                               params={"startIndex": start, "count": 500}, timeout=30).json()
            page = answer.get("Resources") or []
            out += page
            start += len(page)
            if not page or start > answer.get("totalResults", 0):
                return out

    def users(self) -> dict[str, dict]:
        """externalId -> the user as the server holds it."""
        return {u.get("externalId"): u for u in self._list("Users")}

    def groups(self) -> dict[str, dict]:
        return {g.get("externalId"): g for g in self._list("Groups")}

    def delete(self, kind: str, remote_id: str) -> None:
        """What an admin of the provider does by hand: the object is gone."""
        answer = httpx.delete(f"{self.url}/{kind}/{remote_id}", headers=self.server.headers, timeout=30)
        assert answer.status_code == 204, answer.text

    def create(self, kind: str, body: dict) -> dict:
        answer = httpx.post(f"{self.url}/{kind}", headers={**self.server.headers, "Content-Type": "application/scim+json"},
                            json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()


class OAuthIssuer:
    """An OAuth2 token endpoint (client credentials) in front of the real server: the gate then takes
    only the access tokens it issued and still live, and forwards with the server's own token."""

    def __init__(self, client_id: str, secret: str, upstream_token: str, *, lifetime: int = 3600) -> None:
        self.client_id, self.secret, self.upstream_token, self.lifetime = client_id, secret, upstream_token, lifetime
        self.live: dict[str, float] = {}  # access token -> when it expires
        self.issued = 0
        self.fail_next = 0  # answer 503 to the next N token requests
        self.scopes: list[str | None] = []

    def token(self, headers: dict, body: bytes) -> tuple[int, dict[str, str], bytes]:
        import base64
        from urllib.parse import parse_qs, unquote_plus

        json_type = {"Content-Type": "application/json"}
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503, json_type, b'{"error": "temporarily_unavailable"}'
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        try:
            who, _sep, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            who = secret = ""
        if (unquote_plus(who), unquote_plus(secret)) != (self.client_id, self.secret):
            return 401, json_type, b'{"error": "invalid_client", "error_description": "bad client credentials"}'
        if form.get("grant_type") != "client_credentials":
            return 400, json_type, b'{"error": "unsupported_grant_type"}'
        self.scopes.append(form.get("scope"))
        token = secrets.token_urlsafe(24)
        self.live[token] = time.monotonic() + self.lifetime
        self.issued += 1
        return 200, json_type, json.dumps({"access_token": token, "token_type": "Bearer",
                                           "expires_in": self.lifetime}).encode()

    def accepts(self, headers: dict) -> bool:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        expires = self.live.get(auth.removeprefix("Bearer "))
        return expires is not None and time.monotonic() < expires

    def revoke_all(self) -> None:
        self.live.clear()


class ScimGate:
    """A proxy to ``upstream`` that counts the calls and answers the faults it is told to."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.URL(upstream)
        self.calls: Counter[str] = Counter()  # "POST Users", "PATCH Groups", "GET Users"...
        self.log: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._lock = threading.Lock()
        self.throttle_next = 0  # answer 429 to the next N requests
        self.retry_after = "1"
        self.limit_per_second: float | None = None  # answer 429 past this rate (a provider's limit)
        self.fail_next = 0  # answer fail_status to the next N requests
        self.fail_status = 503
        self.drop_next = 0  # close the connection without an answer, N times
        self.refuse: dict[str, tuple[int, dict]] = {}  # text in the body -> (status, SCIM error)
        self.max_members_per_add: int | None = None  # members one PATCH may add (AWS: 100, Entra: 20)
        self.max_members_per_remove: int | None = None  # members one PATCH may remove (AWS: 100, Entra: 1)
        self.no_members_on_get = False  # AWS and Entra: GET never returns members
        self.members_alone = False  # Entra: member changes in a PATCH of their own, nothing else in it
        self.only_eq_filters = False  # AWS and Entra: a filter is `attribute eq "value"` (AWS: joined by and)
        self.reject_all = False  # answer 401 to everything (a revoked token)
        self.patch_status: int | None = None  # answer every PATCH with this (501: a server without PATCH)
        self.answers: dict[str, tuple[int, bytes]] = {}  # path (no query) -> what to answer instead
        self.oauth: OAuthIssuer | None = None  # an OAuth2 token endpoint at /oauth/token, and only its tokens
        self.down = False  # go_down(): no connection is answered, new or kept open
        self._times: list[float] = []
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                if gate.down:  # a connection kept open from before: it breaks too
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, content = gate._answer(self.command, self.path, dict(self.headers), body)
                if status == 0:  # dropped
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._client = httpx.Client(timeout=60)

    def go_down(self) -> None:
        """Stop listening: a request now meets a refused connection, as at a provider that went away."""
        self.down = True
        self.server.shutdown()
        self.server.server_close()

    def come_back(self) -> None:
        """Listen again on the same port."""
        self.down = False
        port = self.server.server_address[1]
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self.server.RequestHandlerClass)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def writes(self) -> int:
        return sum(n for key, n in self.calls.items() if not key.startswith("GET"))

    def _fault(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        error = lambda status, detail, kind=None: (status, {"Content-Type": "application/scim+json"}, json.dumps(  # noqa: E731
            {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail,
             **({"scimType": kind} if kind else {})}).encode())
        with self._lock:
            now = time.monotonic()
            if self.reject_all:
                return error(401, "Authorization failure")
            if self.drop_next > 0:
                self.drop_next -= 1
                return 0, {}, b""
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return 429, {"Retry-After": self.retry_after, "Content-Type": "application/scim+json"}, b"{}"
            if self.limit_per_second is not None:
                self._times = [t for t in self._times if now - t < 1.0]
                if len(self._times) >= self.limit_per_second:
                    return 429, {"Retry-After": "1"}, b"{}"
                self._times.append(now)
            if self.fail_next > 0:
                self.fail_next -= 1
                return error(self.fail_status, "the server is having a bad day")
        if method == "PATCH" and self.patch_status is not None:
            return error(self.patch_status, "PATCH is not implemented here")
        if path.split("?")[0] in self.answers:
            status, content = self.answers[path.split("?")[0]]
            return status, {"Content-Type": "application/scim+json"}, content
        text = body.decode("utf-8", "replace")
        for needle, (status, answer) in self.refuse.items():
            if needle in text and method in ("POST", "PUT", "PATCH"):
                return status, {"Content-Type": "application/scim+json"}, json.dumps(answer).encode()
        if method == "GET" and self.only_eq_filters and "filter=" in path:
            from urllib.parse import parse_qs, urlsplit

            for text in parse_qs(urlsplit(path).query).get("filter", []):
                terms = [t.strip() for t in text.split(" and ")]
                if not all(re.fullmatch(r'[A-Za-z][\w.:-]* eq "(?:[^"\\]|\\.)*"', t) for t in terms):
                    return error(400, f"unsupported filter: {text}", "invalidFilter")
        if method == "PATCH" and self.members_alone and body:
            paths = [str(op.get("path", "")) for op in json.loads(body).get("Operations", [])]
            touching = [p.startswith("members") for p in paths]
            if any(touching) and not all(touching):
                return error(400, "member changes must be sent alone", "invalidValue")
        if method == "PATCH" and body and (self.max_members_per_add is not None
                                           or self.max_members_per_remove is not None):
            ops = json.loads(body).get("Operations", [])
            adds = sum(len(op.get("value") or []) for op in ops if op.get("path") == "members" and op["op"] == "add")
            removes = sum(1 for op in ops if str(op.get("path", "")).startswith("members["))
            if self.max_members_per_add is not None and adds > self.max_members_per_add:
                return error(400, f"at most {self.max_members_per_add} members added per request", "invalidValue")
            if self.max_members_per_remove is not None and removes > self.max_members_per_remove:
                return error(400, f"at most {self.max_members_per_remove} members removed per request", "invalidValue")
        return None

    def _answer(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict[str, str], bytes]:
        kind = next((k for k in ("Users", "Groups", "ServiceProviderConfig", "Schemas", "ResourceTypes")
                     if f"/{k}" in path), path)
        with self._lock:
            self.calls[f"{method} {kind}"] += 1
        if self.oauth is not None and path.split("?")[0] == "/oauth/token":
            with self._lock:
                return self.oauth.token(headers, body)
        if self.oauth is not None and not self.oauth.accepts(headers):
            return 401, {"Content-Type": "application/scim+json"}, b'{"detail": "unknown or expired token"}'
        answer = self._fault(method, path, body)
        if answer is None:
            forward = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type", "accept")}
            if self.oauth is not None:
                forward = {k: v for k, v in forward.items() if k.lower() != "authorization"}
                forward["Authorization"] = f"Bearer {self.oauth.upstream_token}"
            response = self._client.request(method, f"{self.upstream}{path}", headers=forward, content=body)
            content = response.content
            if self.no_members_on_get and method == "GET" and "Groups" in path and content:
                data = response.json()
                for resource in data.get("Resources", [data]):
                    resource.pop("members", None)
                content = json.dumps(data).encode()
            answer = (response.status_code, {k: v for k, v in response.headers.items()
                                              if k.lower() in ("content-type", "location", "etag", "retry-after")},
                      content)
        with self._lock:
            self.log.append((method, path, answer[0]))
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


def _serve(kind: type[ScimServer], factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    server = kind(factory.mktemp(kind.name))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def scim2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    yield from _serve(ScimServer, tmp_path_factory)


@pytest.fixture(scope="session")
def scimmy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    yield from _serve(ScimmyServer, tmp_path_factory)


#: The fixture of each SCIM server implementation, by the name a test id shows.
SCIM_SERVERS = {"scim2-server": "scim2_server", "scimmy": "scimmy_server"}


@pytest.fixture(params=list(SCIM_SERVERS))
def scim_server(request: pytest.FixtureRequest) -> ScimServer:
    """Each SCIM server in turn: a test that uses it runs against both implementations."""
    return request.getfixturevalue(SCIM_SERVERS[request.param])


@pytest.fixture
def scim_tenant(scim_server: ScimServer) -> ScimTenant:
    return scim_server.tenant()


@pytest.fixture
def scim_gate(scim_tenant: ScimTenant) -> Iterator[ScimGate]:
    """A gate in front of this test's tenant: its ``url`` is the SCIM base URL to give the agent."""
    gate = ScimGate(scim_tenant.url)
    try:
        yield gate
    finally:
        gate.close()

"""The Identity emulator: a real HTTP server for the agent API in docs/identity-agent-api.md.

Standard library only (``http.server``); state in SQLite (see ``store.py``),
so directories, tokens, users and groups survive a restart. Faults
(``/admin/faults``), refused items (``/admin/directories/{id}/refusals``) and
request counters (``/admin/stats``) live in memory.

The admin side (``/admin/...``) creates directories and tokens and queues
login checks (a password oracle against the agent's AD), so it needs a key:
the ``X-Admin-Key`` header, the value of ``SMARTSYNC_EMULATOR_ADMIN_KEY`` or,
when that is not set, one generated at start and printed once. Loopback is
shared by every account on the host; the key is what keeps the others out.
The emulator listens on loopback only unless told otherwise.

A client cannot hold a thread for ever: each request must arrive whole within
:data:`REQUEST_SECONDS` of the handler starting to wait for it (a client that
connects and sends nothing, or drips a byte at a time, is hung up on), and at
most :data:`MAX_CONNECTIONS` connections are served at once (the next ones are
answered 503). Requests are not logged (speed, and a log line must never carry
a token).

Why one module (~1,130 lines, a development tool): the emulator's HTTP routes mirror the
agent API (docs/identity-agent-api.md) one for one, so the whole surface reads in one place;
its data is emulator/store.py.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import ipaddress
import os
import secrets
import ssl
import json
import math
import re
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from smartsync_tui import __version__
from smartsync_tui.core.bounded_server import BoundedThreadingServer
from smartsync_tui.targets.identity import agent_keys
from smartsync_tui.emulator.store import (
    DEFAULT_COMMAND_TTL,
    MAX_BATCH,
    MAX_COMMAND_TTL,
    MAX_FILTER,
    MAX_TEXT,
    Conflict,
    Gone,
    NotFound,
    Principal,
    Store,
    iso,
)

API_PREFIX = "/api/agent/v1"
PROBLEM_BASE = "https://identity-agent-api.invalid/problems/"
MAX_BODY = 32 * 1024 * 1024
MAX_WAIT = 30.0
PUBLIC_KEY_ALGORITHMS = (agent_keys.ALGORITHM,)
COMMAND_OUTCOMES = ("allowed", "denied", "error", "expired")
DB_NAME = "emulator.sqlite3"

#: The header that carries the admin key, and the variable that gives it to ``smartsync-tui emulator``.
ADMIN_KEY_HEADER = "X-Admin-Key"
ADMIN_KEY_VARIABLE = "SMARTSYNC_EMULATOR_ADMIN_KEY"
MIN_ADMIN_KEY = 16
#: Seconds within which a request (line, headers and body) must arrive once the handler waits for it;
#: also how long an idle keep-alive connection is kept. Long polls wait on the server side, not on reads.
REQUEST_SECONDS = 10.0
#: Connections served at once: an agent uses a few (batches in flight, a long poll, login checks).
MAX_CONNECTIONS = 100

_PEM_RE = re.compile(r"^-----BEGIN PUBLIC KEY-----\s+([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----\s*$")


class Problem(Exception):
    """An error answered as RFC 9457 problem details."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def _bad_request(detail: str) -> Problem:
    return Problem(400, "invalid-request", "The request is not valid", detail)


def _not_found(detail: str = "There is nothing at this address.") -> Problem:
    return Problem(404, "not-found", "Not found", detail)


_BEARER_401 = {"WWW-Authenticate": 'Bearer realm="identity-agent-api", error="invalid_token"'}


class Faults:
    """Failures and latency the admin asked for; applied to agent API requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.fail_next = 0
            self.status = 500
            self.retry_after: float | None = None
            self.latency_ms = 0.0

    def set(self, fail_next: int, status: int, retry_after: float | None, latency_ms: float) -> None:
        with self._lock:
            self.fail_next = fail_next
            self.status = status
            self.retry_after = retry_after
            self.latency_ms = latency_ms

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "fail_next": self.fail_next,
                "status": self.status,
                "retry_after": self.retry_after,
                "latency_ms": self.latency_ms,
            }

    def take(self) -> tuple[float, tuple[int, float | None] | None]:
        """(latency in seconds, (status, retry_after) when this request must fail)."""
        with self._lock:
            failure = None
            if self.fail_next > 0:
                self.fail_next -= 1
                failure = (self.status, self.retry_after)
            return self.latency_ms / 1000.0, failure


class Refusals:
    """Batch items the admin asked Identity to refuse: (directory, external_id) -> the detail answered.

    How a test makes Identity answer one item ``failed`` with a ``detail`` of
    its choosing (any text: the agent must treat it as data).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._details: dict[tuple[str, str], str] = {}

    def set(self, directory_id: str, external_id: str, detail: str) -> None:
        with self._lock:
            self._details[(directory_id, external_id)] = detail

    def clear(self, directory_id: str) -> None:
        with self._lock:
            for key in [k for k in self._details if k[0] == directory_id]:
                del self._details[key]

    def snapshot(self, directory_id: str) -> dict[str, str]:
        with self._lock:
            return {eid: detail for (did, eid), detail in self._details.items() if did == directory_id}

    def apply(self, directory_id: str, items: list[Any], upsert: Callable[[str, list[Any]], list[dict]]) -> list[dict]:
        """``upsert`` the items not refused; the refused ones answer ``failed`` with their detail, in place."""
        refused = self.snapshot(directory_id)
        if not refused:
            return upsert(directory_id, items)
        results: list[dict | None] = [None] * len(items)
        kept: list[tuple[int, Any]] = []
        for index, item in enumerate(items):
            external_id = item.get("external_id") if isinstance(item, dict) else None
            if isinstance(external_id, str) and external_id in refused:
                results[index] = {"external_id": external_id, "id": None, "status": "failed", "detail": refused[external_id]}
            else:
                kept.append((index, item))
        for (index, _item), result in zip(kept, upsert(directory_id, [item for _index, item in kept])):
            results[index] = result
        return results  # type: ignore[return-value]


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.started_at = time.time()
            self.requests = 0
            self.agent_requests = 0
            self.admin_requests = 0
            self.faults_injected = 0
            self.by_endpoint: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()

    def count(self, endpoint: str, status: int, *, agent: bool, admin: bool, fault: bool) -> None:
        with self._lock:
            self.requests += 1
            self.agent_requests += agent
            self.admin_requests += admin
            self.faults_injected += fault
            self.by_endpoint[endpoint] += 1
            self.by_status[str(status)] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "since": iso(self.started_at),
                "requests": self.requests,
                "agent_requests": self.agent_requests,
                "admin_requests": self.admin_requests,
                "faults_injected": self.faults_injected,
                "by_endpoint": dict(sorted(self.by_endpoint.items())),
                "by_status": dict(sorted(self.by_status.items())),
            }


class Emulator:
    """State shared by the request handlers: the store, faults, stats and the command wake-up."""

    def __init__(self, store: Store, admin_key: str) -> None:
        self.store = store
        self._admin_key = admin_key.encode("utf-8")
        self.faults = Faults()
        self.refusals = Refusals()
        self.stats = Stats()
        self.commands_changed = threading.Condition()
        #: Bumped (under ``commands_changed``) whenever a command is queued, so
        #: a long poll never misses a wake-up between its look and its wait.
        self.commands_generation = 0
        self.stopping = False

    def admin_allowed(self, given: str | None) -> bool:
        """Whether ``given`` is the admin key (compared in constant time)."""
        return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), self._admin_key)

    def notify_commands(self) -> None:
        with self.commands_changed:
            self.commands_generation += 1
            self.commands_changed.notify_all()

    def stop(self) -> None:
        with self.commands_changed:
            self.stopping = True
            self.commands_changed.notify_all()


# --------------------------------------------------------------------------- routing

Route = tuple[str, re.Pattern[str], str, Callable[..., Any]]
_ROUTES: list[Route] = []


def route(method: str, template: str) -> Callable:
    """Register a handler for ``METHOD template``; ``{name}`` segments become keyword arguments."""
    pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")

    def register(func: Callable) -> Callable:
        _ROUTES.append((method, pattern, template, func))
        return func

    return register


class Request:
    def __init__(self, handler: "Handler", method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        self.handler = handler
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.principal: Principal | None = None

    def header(self, name: str) -> str | None:
        return self.handler.headers.get(name)

    def json(self, *, required: bool = True) -> Any:
        if not self.body:
            if required:
                raise _bad_request("The request needs a JSON body.")
            return {}
        content_type = (self.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise Problem(415, "unsupported-media-type", "Unsupported media type", "Send the body as application/json.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "invalid-json", "The body is not JSON", "The request body is not valid JSON.") from None

    def json_object(self, *, required: bool = True) -> dict:
        value = self.json(required=required)
        if not isinstance(value, dict):
            raise _bad_request("The request body must be a JSON object.")
        return value


def _bearer_token(request: Request) -> str:
    value = request.header("Authorization")
    if not value:
        raise Problem(
            401,
            "token-missing",
            "Token missing",
            "This request needs the directory token in an 'Authorization: Bearer' header.",
            headers={"WWW-Authenticate": 'Bearer realm="identity-agent-api"'},
        )
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "token-missing",
            "Token missing",
            "The Authorization header must be 'Bearer <directory token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="identity-agent-api"'},
        )
    return token.strip()


def authenticate(emulator: Emulator, request: Request, *, key: str) -> Principal:
    """Check the directory token and, per ``key`` ("required", "optional", "none"), the agent key."""
    directory_id = emulator.store.directory_for_token(_bearer_token(request))
    if directory_id is None:
        raise Problem(
            401,
            "token-rejected",
            "Token rejected",
            "The directory token is unknown or was revoked. Generate a new token for this directory in Identity.",
            headers=_BEARER_401,
        )
    agent_id = None
    agent_key = request.header("X-Agent-Key")
    if key != "none" and agent_key is not None:
        agent_id = emulator.store.agent_for_key(agent_key.strip())
        if agent_id is None:
            raise Problem(
                401,
                "agent-key-rejected",
                "Agent key rejected",
                "The agent key is unknown. Register the agent again to obtain a new key.",
            )
    elif key == "required":
        raise Problem(
            401,
            "agent-key-missing",
            "Agent key missing",
            "This request needs the agent key in an 'X-Agent-Key' header (POST /api/agent/v1/agents issues one).",
        )
    return Principal(directory_id, agent_id)


# --------------------------------------------------------------------------- agent API


@route("GET", API_PREFIX + "/ping")
def ping(emulator: Emulator, request: Request) -> tuple[int, Any]:
    return 200, {"service": "identity-agent-api", "version": "1", "emulator": True, "emulator_version": __version__}


@route("POST", API_PREFIX + "/agents")
def register_agent(emulator: Emulator, request: Request) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="none")
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT:
        raise _bad_request(f"'name' must be a non-empty string of at most {MAX_TEXT} characters (the host name).")
    agent_id, key = emulator.store.register_agent(principal.directory_id, name.strip())
    return 201, {"agent_id": agent_id, "api_key": key}


@route("GET", API_PREFIX + "/directory")
def get_directory(emulator: Emulator, request: Request) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="optional")
    record = emulator.store.get_directory(principal.directory_id)
    return 200, {k: record[k] for k in ("id", "name", "user_filter", "group_filter", "created_at")}


def _batch_items(request: Request, field: str) -> list[Any]:
    body = request.json_object()
    items = body.get(field)
    if not isinstance(items, list):
        raise _bad_request(f"The body must be an object with a '{field}' list.")
    if len(items) > MAX_BATCH:
        raise Problem(
            413,
            "batch-too-large",
            "Batch too large",
            f"A batch may hold at most {MAX_BATCH} {field}; this one has {len(items)}. Split it.",
            extra={"max_items": MAX_BATCH},
        )
    return items


@route("POST", API_PREFIX + "/users:batch")
def users_batch(emulator: Emulator, request: Request) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="required")
    items = _batch_items(request, "users")
    return 200, {"results": emulator.refusals.apply(principal.directory_id, items, emulator.store.upsert_users)}


@route("POST", API_PREFIX + "/groups:batch")
def groups_batch(emulator: Emulator, request: Request) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="required")
    items = _batch_items(request, "groups")
    return 200, {"results": emulator.refusals.apply(principal.directory_id, items, emulator.store.upsert_groups)}


@route("GET", API_PREFIX + "/commands")
def poll_commands(emulator: Emulator, request: Request) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="required")
    raw = request.query.get("wait", ["0"])[-1]
    try:
        wait = float(raw)
    except ValueError:
        raise _bad_request("'wait' must be a number of seconds between 0 and 30.") from None
    if not 0 <= wait <= MAX_WAIT:
        raise _bad_request("'wait' must be a number of seconds between 0 and 30.")
    deadline = time.monotonic() + wait
    while True:
        with emulator.commands_changed:
            generation = emulator.commands_generation
            if emulator.stopping:
                return 200, {"commands": []}
        commands = emulator.store.take_commands(principal.directory_id)
        remaining = deadline - time.monotonic()
        if commands or remaining <= 0:
            return 200, {"commands": commands}
        with emulator.commands_changed:
            if emulator.commands_generation == generation and not emulator.stopping:
                # Also wakes up once a second: a leased command may become due again.
                emulator.commands_changed.wait(min(remaining, 1.0))


@route("POST", API_PREFIX + "/commands/{command_id}/result")
def command_result(emulator: Emulator, request: Request, command_id: str) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="required")
    body = request.json_object()
    unknown = sorted(set(body) - {"outcome", "reason", "latency_ms"})
    if unknown:
        raise _bad_request(f"Unknown field {unknown[0]!r}.")
    outcome = body.get("outcome")
    if outcome not in COMMAND_OUTCOMES:
        raise _bad_request("'outcome' must be one of " + ", ".join(repr(o) for o in COMMAND_OUTCOMES) + ".")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise _bad_request("'reason' must be a string of at most 500 characters, or null.")
    latency = body.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0):
        raise _bad_request("'latency_ms' must be a number of milliseconds (0 or more), or null.")
    result = {"outcome": outcome, "reason": reason, "latency_ms": latency}
    try:
        command = emulator.store.complete_command(principal.directory_id, command_id, result)
    except NotFound:
        raise _not_found("There is no such command for this directory.") from None
    except Gone:
        raise Problem(410, "command-expired", "Command expired", "The command expired before its result arrived.") from None
    except Conflict:
        raise Problem(
            409, "result-conflict", "Result already recorded", "A different result was already recorded for this command."
        ) from None
    return 200, {"id": command["id"], "state": command["state"], "completed_at": command["completed_at"]}


@route("PUT", API_PREFIX + "/public-key")
def put_public_key(emulator: Emulator, request: Request) -> tuple[int, Any]:
    principal = authenticate(emulator, request, key="required")
    body = request.json_object()
    algorithm = body.get("algorithm")
    if algorithm not in PUBLIC_KEY_ALGORITHMS:
        raise _bad_request("'algorithm' must be one of: " + ", ".join(PUBLIC_KEY_ALGORITHMS) + ".")
    pem = body.get("public_key_pem")
    match = _PEM_RE.match(pem) if isinstance(pem, str) and len(pem) < 16384 else None
    der = b""
    if match:
        try:
            der = base64.b64decode("".join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError):
            der = b""
    if not der:
        raise _bad_request("'public_key_pem' must be a PEM 'PUBLIC KEY' block (SubjectPublicKeyInfo).")
    bits = agent_keys.rsa_key_bits(pem)
    if bits is None or bits < agent_keys.MIN_KEY_BITS:
        raise _bad_request(
            f"'public_key_pem' must be an RSA public key of at least {agent_keys.MIN_KEY_BITS} bits for RSA-OAEP-SHA256."
        )
    assert principal.agent_id is not None
    updated = emulator.store.set_public_key(principal.agent_id, algorithm, pem)
    return 200, {
        "algorithm": algorithm,
        "fingerprint_sha256": agent_keys.fingerprint(pem),
        "updated_at": iso(updated),
    }


# --------------------------------------------------------------------------- admin side (emulator only)


def _optional_filter(body: dict, field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip().startswith("(") or len(value) > MAX_FILTER:
        raise _bad_request(f"'{field}' must be an LDAP filter in parentheses.")
    return value.strip()


@route("POST", "/admin/directories")
def admin_create_directory(emulator: Emulator, request: Request) -> tuple[int, Any]:
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT:
        raise _bad_request("'name' must be a non-empty string.")
    record, token = emulator.store.create_directory(
        name.strip(), _optional_filter(body, "user_filter"), _optional_filter(body, "group_filter")
    )
    return 201, {**record, "token": token}


@route("GET", "/admin/directories")
def admin_list_directories(emulator: Emulator, request: Request) -> tuple[int, Any]:
    return 200, {"directories": emulator.store.list_directories()}


@route("GET", "/admin/directories/{directory_id}")
def admin_get_directory(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    return 200, emulator.store.get_directory(directory_id)


@route("GET", "/admin/directories/{directory_id}/users")
def admin_users(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    return 200, {"users": emulator.store.list_users(directory_id)}


@route("GET", "/admin/directories/{directory_id}/groups")
def admin_groups(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    return 200, {"groups": emulator.store.list_groups(directory_id)}


@route("POST", "/admin/directories/{directory_id}/token")
def admin_rotate_token(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    token = emulator.store.rotate_token(directory_id)
    return 201, {"id": directory_id, "token": token}


@route("DELETE", "/admin/directories/{directory_id}/token")
def admin_revoke_token(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    emulator.store.revoke_token(directory_id)
    return 204, None


@route("POST", "/admin/directories/{directory_id}/commands")
def admin_queue_command(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    body = request.json_object()
    command_type = body.get("type", "login_check")
    if not isinstance(command_type, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", command_type):
        raise _bad_request("'type' must be a lowercase name such as 'login_check'.")
    ttl = body.get("ttl_seconds", DEFAULT_COMMAND_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_COMMAND_TTL:
        raise _bad_request(f"'ttl_seconds' must be a number of seconds between 0 and {MAX_COMMAND_TTL}.")
    command = emulator.store.queue_command(directory_id, command_type, body.get("payload", {}), float(ttl))
    emulator.notify_commands()
    return 201, command


@route("POST", "/admin/directories/{directory_id}/login-checks")
def admin_login_check(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    """What Identity does when a user logs in: encrypt the password to the agent's key and queue a check."""
    body = request.json_object()
    login, password = body.get("login"), body.get("password")
    if not isinstance(login, str) or not login.strip() or len(login) > MAX_TEXT:
        raise _bad_request("'login' must be a non-empty string (user@domain, DOMAIN\\user or a sAMAccountName).")
    if not isinstance(password, str):
        raise _bad_request("'password' must be a string.")
    ttl = body.get("ttl_seconds", DEFAULT_COMMAND_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_COMMAND_TTL:
        raise _bad_request(f"'ttl_seconds' must be a number of seconds between 0 and {MAX_COMMAND_TTL}.")
    try:
        key = emulator.store.current_public_key(directory_id)
    except NotFound:
        raise _not_found("There is no such directory.") from None
    if key is None:
        raise Problem(
            409, "no-public-key", "No agent key",
            "No agent of this directory has published its public key yet: start the agent (it publishes it).",
        )
    algorithm, pem = key
    try:
        encrypted = agent_keys.encrypt(pem, password)
    except ValueError as exc:
        raise _bad_request(f"'password' cannot be encrypted: {exc}.") from None
    payload = {
        "login": login.strip(),
        "password_encrypted": encrypted,
        "algorithm": algorithm,
        "key_fingerprint": agent_keys.fingerprint(pem),
    }
    command = emulator.store.queue_command(directory_id, "login_check", payload, float(ttl))
    emulator.notify_commands()
    return 201, command


@route("POST", "/admin/directories/{directory_id}/refusals")
def admin_refuse_item(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    emulator.store.get_directory(directory_id)  # 404 for an unknown directory
    body = request.json_object()
    external_id, detail = body.get("external_id"), body.get("detail")
    if not isinstance(external_id, str) or not external_id:
        raise _bad_request("'external_id' must be the external_id of the user or group to refuse.")
    if not isinstance(detail, str):
        raise _bad_request("'detail' must be a string: the detail Identity answers for the item.")
    emulator.refusals.set(directory_id, external_id, detail)
    return 200, {"refusals": emulator.refusals.snapshot(directory_id)}


@route("DELETE", "/admin/directories/{directory_id}/refusals")
def admin_clear_refusals(emulator: Emulator, request: Request, directory_id: str) -> tuple[int, Any]:
    emulator.refusals.clear(directory_id)
    return 204, None


@route("GET", "/admin/commands/{command_id}")
def admin_get_command(emulator: Emulator, request: Request, command_id: str) -> tuple[int, Any]:
    return 200, emulator.store.get_command(command_id)


@route("GET", "/admin/agents")
def admin_agents(emulator: Emulator, request: Request) -> tuple[int, Any]:
    return 200, {"agents": emulator.store.list_agents()}


@route("GET", "/admin/faults")
def admin_get_faults(emulator: Emulator, request: Request) -> tuple[int, Any]:
    return 200, emulator.faults.snapshot()


@route("POST", "/admin/faults")
def admin_set_faults(emulator: Emulator, request: Request) -> tuple[int, Any]:
    body = request.json_object()
    unknown = sorted(set(body) - {"fail_next", "status", "retry_after", "latency_ms"})
    if unknown:
        raise _bad_request(f"Unknown field {unknown[0]!r}.")
    fail_next = body.get("fail_next", 0)
    status = body.get("status", 500)
    retry_after = body.get("retry_after")
    latency_ms = body.get("latency_ms", 0)
    if isinstance(fail_next, bool) or not isinstance(fail_next, int) or fail_next < 0:
        raise _bad_request("'fail_next' must be a whole number, 0 or more.")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise _bad_request("'status' must be an HTTP error status such as 500, 429 or 503.")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)) or retry_after < 0):
        raise _bad_request("'retry_after' must be a number of seconds, or null.")
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)) or not 0 <= latency_ms <= 120_000:
        raise _bad_request("'latency_ms' must be between 0 and 120000.")
    emulator.faults.set(fail_next, status, retry_after, float(latency_ms))
    return 200, emulator.faults.snapshot()


@route("DELETE", "/admin/faults")
def admin_clear_faults(emulator: Emulator, request: Request) -> tuple[int, Any]:
    emulator.faults.clear()
    return 204, None


@route("GET", "/admin/stats")
def admin_stats(emulator: Emulator, request: Request) -> tuple[int, Any]:
    return 200, emulator.stats.snapshot()


@route("DELETE", "/admin/stats")
def admin_reset_stats(emulator: Emulator, request: Request) -> tuple[int, Any]:
    emulator.stats.reset()
    return 204, None


_FAULT_PROBLEMS = {
    429: ("throttled", "Too many requests", "Too many requests; try again after the time in Retry-After."),
    503: ("unavailable", "Service unavailable", "The service is unavailable for a moment; try again later."),
}


def _fault_problem(status: int, retry_after: float | None) -> Problem:
    """The answer to a request that an injected fault makes fail."""
    if status in _FAULT_PROBLEMS:
        slug, title, detail = _FAULT_PROBLEMS[status]
    else:
        slug = "server-error" if status >= 500 else "injected-fault"
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        detail = "The server failed on this request (a fault injected in the emulator)."
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))
    return Problem(status, slug, title, detail, headers=headers)


# --------------------------------------------------------------------------- the HTTP handler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "EmulatorHTTPServer"
    _tally: list[Any] | None = None  # the request being answered, until its answer is counted

    # Every socket operation (a write to a client that never reads, too) gives up after this.
    timeout = REQUEST_SECONDS

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes; without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every small answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            # Here, on the handler's thread and under its timeout, not in accept(): a client
            # that never completes its handshake holds only its own thread, for a while.
            self.connection.do_handshake()
        self._reader = _DeadlineReader(self.connection)
        self.rfile.close()  # the plain one from StreamRequestHandler: reads go through the deadline
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        # The whole request (line, headers, body) within REQUEST_SECONDS: a per-read
        # timeout alone would let a client that drips a byte at a time hold the thread for ever.
        self._reader.deadline = time.monotonic() + REQUEST_SECONDS
        super().handle_one_request()

    def version_string(self) -> str:
        return "identity-emulator/" + __version__

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Nothing: per-request lines cost time and could carry secrets."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            self.close_connection = True
            raise Problem(411, "length-required", "Length required", "Send the body with a Content-Length header.")
        raw = self.headers.get("Content-Length")
        if not raw:
            return b""
        try:
            length = int(raw)
        except ValueError:
            self.close_connection = True
            raise _bad_request("Content-Length is not a number.") from None
        if length < 0:
            self.close_connection = True
            raise _bad_request("Content-Length is not a number.")
        if length > MAX_BODY:
            self.close_connection = True
            raise Problem(413, "payload-too-large", "Payload too large", f"A request body may be at most {MAX_BODY} bytes.")
        return self.rfile.read(length)

    def _handle(self, method: str) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        path = split.path
        is_agent = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        is_admin = path == "/admin" or path.startswith("/admin/")
        endpoint = f"{method} {path}"
        # Counted by _send just before the answer goes out: a client that reads the stats right
        # after its answer must find its request in them.
        self._tally: list[Any] = [endpoint, is_agent, is_admin, False]
        try:
            if is_admin and not emulator.admin_allowed(self.headers.get(ADMIN_KEY_HEADER)):
                # Before the body is read: a caller without the key gets nothing more than this.
                self.close_connection = True
                raise Problem(
                    401, "admin-key-required", "Admin key required",
                    f"The admin side needs the {ADMIN_KEY_HEADER} header with the key the emulator printed "
                    f"at start (or was given in {ADMIN_KEY_VARIABLE}).",
                )
            body = self._read_body()
            matched = None
            allowed: list[str] = []
            for route_method, pattern, template, func in _ROUTES:
                m = pattern.match(path)
                if m:
                    if route_method == method:
                        matched = (func, m.groupdict())
                        endpoint = self._tally[0] = f"{method} {template}"
                        break
                    allowed.append(route_method)
            if is_agent:
                latency, failure = emulator.faults.take()
                if latency:
                    time.sleep(latency)
                if failure is not None:
                    self._tally[3] = True
                    raise _fault_problem(*failure)
            if matched is None:
                if allowed:
                    raise Problem(
                        405,
                        "method-not-allowed",
                        "Method not allowed",
                        f"{method} is not allowed here.",
                        headers={"Allow": ", ".join(sorted(set(allowed)))},
                    )
                raise _not_found()
            func, params = matched
            request = Request(self, method, path, parse_qs(split.query), body)
            try:
                status, payload = func(emulator, request, **params)
            except NotFound:
                raise _not_found("There is no such object.") from None
            self._send_json(status, payload)
        except Problem as problem:
            self._send_problem(problem, path)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away, or sends too slowly: nobody to answer
            return
        except Exception:  # a bug in the emulator: answer 500, never a stack trace
            self.close_connection = True
            self._send_problem(
                Problem(500, "server-error", "Internal server error", "The emulator failed on this request."), path
            )
            # One line, the exception's type only: a message could quote request data.
            print(f"emulator: internal error on {endpoint}: {type(sys.exc_info()[1]).__name__}", file=sys.stderr, flush=True)

    def _send(self, status: int, content_type: str | None, data: bytes, headers: dict[str, str] | None = None) -> None:
        tally, self._tally = self._tally, None
        if tally is not None:
            endpoint, agent, admin, fault = tally
            self.server.emulator.stats.count(endpoint, status, agent=agent, admin=admin, fault=fault)
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        if status == 204 or payload is None:
            self._send(status, None, b"")
        else:
            self._send(status, "application/json", json.dumps(payload, separators=(",", ":")).encode("utf-8"))

    def _send_problem(self, problem: Problem, path: str) -> None:
        body = {
            "type": PROBLEM_BASE + problem.slug,
            "title": problem.title,
            "status": problem.status,
            "detail": problem.detail,
            "instance": path,
            **problem.extra,
        }
        self._send(problem.status, "application/problem+json", json.dumps(body).encode("utf-8"), problem.headers)


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each one waiting no later than ``deadline`` (time.monotonic())."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = time.monotonic() + REQUEST_SECONDS

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(min(left, REQUEST_SECONDS))
        try:
            return self.sock.recv_into(buffer)
        finally:
            self.sock.settimeout(REQUEST_SECONDS)


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
)


class EmulatorHTTPServer(BoundedThreadingServer):
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator, family: int,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.emulator = emulator
        super().__init__(address, Handler, family=family, max_connections=MAX_CONNECTIONS)
        if ssl_context is not None:
            # The handshake happens in Handler.setup, on the connection's own thread.
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def refuse(self, request: Any) -> None:
        """Past MAX_CONNECTIONS: a short 503 before the connection is closed."""
        body = json.dumps({
            "type": PROBLEM_BASE + "busy", "title": "Too many connections", "status": 503,
            "detail": f"The emulator serves at most {MAX_CONNECTIONS} connections at once; try again.",
        }).encode("utf-8")
        try:
            if not isinstance(request, ssl.SSLSocket):  # no handshake on this thread: TLS clients just see a close
                request.settimeout(1.0)
                request.sendall(_BUSY % (len(body), body))
        except OSError:
            pass


# --------------------------------------------------------------------------- running it


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def open_store(data_dir: str | Path) -> Store:
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    return Store(data / DB_NAME)


def new_admin_key() -> str:
    return secrets.token_urlsafe(24)


class RunningEmulator:
    """An emulator serving on a background thread; ``stop()`` shuts it down and closes the store.

    ``serve_forever_cli`` is the command-line entry point; this class is for
    in-process use (the demo, benchmarks, quick experiments). ``admin_key``
    (generated when not given) is what ``/admin/...`` requests must carry:
    :attr:`admin_headers`. ``ssl_context`` serves HTTPS instead of HTTP.
    """

    def __init__(self, host: str, port: int, data_dir: str | Path | None = None, *, store: Store | None = None,
                 admin_key: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        if not 0 <= port <= 65535:
            raise ValueError("the port is a number from 0 to 65535 (0 picks a free one)")
        if store is None:
            if data_dir is None:
                raise ValueError("give data_dir or store")
            store = open_store(data_dir)
        self.store = store
        self.admin_key = admin_key or new_admin_key()
        self.emulator = Emulator(self.store, self.admin_key)
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        try:
            self.httpd = EmulatorHTTPServer((host.strip("[]"), port), self.emulator, family, ssl_context)
        except BaseException:
            self.store.close()
            raise
        bound_host, bound_port = self.httpd.server_address[:2]
        shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
        self.url = f"{'https' if ssl_context else 'http'}://{shown}:{bound_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def admin_headers(self) -> dict[str, str]:
        """The header every ``/admin/...`` request needs."""
        return {ADMIN_KEY_HEADER: self.admin_key}

    def start(self) -> "RunningEmulator":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.emulator.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
        # Let handlers that are mid-request finish with the store before it closes.
        time.sleep(0.05)
        self.store.close()

    def __enter__(self) -> "RunningEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _admin_key_from_environment() -> tuple[str | None, str | None]:
    """(the key from ADMIN_KEY_VARIABLE or None to generate one, a refusal when it is unusable)."""
    given = os.environ.get(ADMIN_KEY_VARIABLE)
    if given is None:
        return None, None
    if len(given) < MIN_ADMIN_KEY or not given.isprintable() or given != given.strip():
        return None, (f"emulator: {ADMIN_KEY_VARIABLE} must be at least {MIN_ADMIN_KEY} printable characters "
                      "without spaces at its ends (unset it to have one generated)")
    return given, None


def serve_forever_cli(host: str, port: int, data_dir: str | None, *, allow_public: bool = False,
                      ssl_context: ssl.SSLContext | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; print ``emulator listening on http://HOST:PORT`` first.

    Then, when the admin key was not given in ``SMARTSYNC_EMULATOR_ADMIN_KEY``,
    the one generated. Returns 0 after a clean shutdown, 2 when it cannot
    start (a port out of range, a non-loopback host without ``allow_public``,
    a port in use, an unusable data dir or admin key).
    """
    if not 0 <= port <= 65535:
        print(f"emulator: --port {port} is not a port: give a number from 0 to 65535 (0 picks a free one)",
              file=sys.stderr)
        return 2
    admin_key, refusal = _admin_key_from_environment()
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if not is_loopback(host):
        if not allow_public:
            print(
                f"emulator: refusing to listen on {host!r}, which is not a loopback address: it is a test "
                "server, and its admin key travels in clear over http. Use 127.0.0.1 (or pass --allow-public "
                "if you really mean it).",
                file=sys.stderr,
            )
            return 2
        print(
            f"emulator: WARNING: listening on {host}, not loopback; anyone who reaches it can use its agent API, "
            "and the admin key crosses the network in clear.",
            file=sys.stderr,
            flush=True,
        )
    temp_dir = None
    if data_dir is None:
        temp_dir = tempfile.mkdtemp(prefix="identity-emulator-")
        data_dir = temp_dir
    try:
        try:
            store = open_store(data_dir)
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"emulator: cannot keep its database in {data_dir}: {reason}", file=sys.stderr)
            return 2
        try:
            running = RunningEmulator(host, port, store=store, admin_key=admin_key, ssl_context=ssl_context)
        except (OSError, OverflowError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"emulator: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
            return 2
        stop_requested = threading.Event()
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda *_: stop_requested.set())
        try:
            running.start()
            print(f"emulator listening on {running.url}", flush=True)
            if admin_key is None:
                # Once, to whoever started it: every local account can reach the port, not this output.
                print(f"emulator admin key: {running.admin_key} (send it as the {ADMIN_KEY_HEADER} header of "
                      f"/admin requests; set {ADMIN_KEY_VARIABLE} to choose it)", flush=True)
            while not stop_requested.wait(0.5):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            running.stop()
        return 0
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)

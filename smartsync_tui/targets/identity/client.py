"""Client of the Identity agent API (docs/identity-agent-api.md), synchronous, on httpx.

What it does for its callers:

- retries what is worth retrying (connection failures, timeouts, 429, 500,
  502, 503, 504) with exponential backoff and full jitter, honouring
  ``Retry-After`` (seconds or an HTTP date, capped at 60 s); never other 4xx;
- turns every failure into a :class:`~smartsync_tui.core.errors.UserError`
  whose message says what happened and what to do;
- keeps the directory token, the agent key and the proxy credentials out of
  every message, ``repr`` and log line (the log carries method, path, status
  and milliseconds, nothing else);
- bounds every answer (targets/bounded_http.py): an overall deadline per
  request, a cap on its size as sent and as decoded, and a stop that cuts a
  blocked read (:meth:`IdentityClient.abort`, :func:`abort_open_requests`);
- checks the shape of each batch result, so one answer it does not understand
  fails that object only.

TLS certificates are always verified: against the system's store plus the
Mozilla bundle (certifi), or against the CA file or folder named by ``verify``.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import os
import random
import re
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

from smartsync_tui import __version__
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.core.text import printable
from smartsync_tui.i18n import _, ngettext, number

if TYPE_CHECKING:
    # httpx (~50 ms to import, its CLI's click and pygments included) is imported by the
    # methods that use it: importing this module (the console's first screen does) needs none.
    import httpx

log = logging.getLogger("smartsync.identity")

API_PATH = "/api/agent/v1"
MAX_BATCH = 1000
MAX_WAIT = 30.0
RETRY_AFTER_CAP = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses that mean the request was not processed, so even a request that is
# not idempotent (agent registration) may be sent again.
_SAFE_RETRY_STATUSES = frozenset({429, 503})
_MASK = "***"

# The largest answer the agent API gives is a batch of 1000 results. The emulator's
# largest (tests/test_identity_bounds.py measures it): 1000 `failed` items whose detail
# quotes a 256-character login of 4-byte characters, 3,225,013 bytes. 16 MiB keeps a
# margin of about 5x for a real Identity's longer ids and details, and still bounds
# what a misbehaving server or proxy can make the agent hold (as sent and decoded).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# An error answer is read only for its problem details; a longer one is read no further.
MAX_ERROR_ANSWER_BYTES = 64 * 1024
# Every request ends within its read timeout plus this (the long poll: plus its wait),
# however slowly the answer drips; past it the request is given up, not retried.
DEADLINE_MARGIN = 10.0
# What a batch result may hold: an Identity id (a UUID in practice) and a sentence.
MAX_RESULT_ID_CHARS = 200
MAX_RESULT_DETAIL_CHARS = 4000
_RESULT_STATUSES = frozenset({"created", "updated", "unchanged", "failed"})

# --------------------------------------------------------------------------- errors


class IdentityError(UserError):
    """Base of every error about talking to Identity."""

    kind = "identity"

    def __init__(self, message: str, *, status: int | None = None, problem_type: str | None = None) -> None:
        super().__init__(message)
        #: HTTP status of the answer that caused it, when there was one.
        self.status = status
        #: RFC 9457 ``type`` of the problem details, when the server sent one.
        self.problem_type = problem_type


class IdentityUnreachable(IdentityError):
    kind = "identity-unreachable"


class IdentityRequestStopped(IdentityUnreachable):
    """A stop (SIGTERM, Ctrl-C, the console quitting) cut a request while its answer was awaited."""

    kind = "identity-stopped"


class IdentityTlsError(IdentityError):
    kind = "identity-tls"


class TokenRejected(IdentityError):
    kind = "token-rejected"


class AgentKeyRejected(IdentityError):
    kind = "agent-key-rejected"


class IdentityCredentialsMissing(IdentityError):
    """The call needs a token or an agent key that this client was not given."""

    kind = "identity-credentials-missing"


class IdentityThrottled(IdentityError):
    kind = "identity-throttled"


class IdentityServerError(IdentityError):
    kind = "identity-server-error"


class IdentityProtocolError(IdentityError):
    """Identity answered something this client does not understand (or refused a malformed request)."""

    kind = "identity-protocol"


class CommandGone(IdentityError):
    """The command is unknown to Identity or expired before its result arrived."""

    kind = "command-gone"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, repr=False)
class ProxyChoice:
    """How to reach Identity: the system's proxy settings, a given proxy, or directly.

    ``url`` (manual only) may carry credentials, ``http://user:pass@host:port``;
    they never show in ``repr`` or ``str``.
    """

    mode: Literal["system", "manual", "none"]
    url: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("system", "manual", "none"):
            raise InputError("proxy", _("proxy mode must be system, manual or none, not {mode}").format(mode=repr(self.mode)))
        if self.mode != "manual":
            if self.url is not None:
                raise InputError("proxy", _("a proxy address is only used with the manual proxy mode"))
            return
        if not self.url:
            raise InputError("proxy", _("the manual proxy mode needs the proxy address (host and port)"))
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https"):
            raise InputError("proxy", _("the proxy address must start with http:// or https://, not {url}").format(
                url=self.redacted_url))
        try:
            port = parts.port
        except ValueError:
            raise InputError("proxy", _("the proxy port is not a number in {url}").format(url=self.redacted_url)) from None
        if not parts.hostname or port is None:
            raise InputError("proxy", _("the proxy address needs a host and a port: {url}").format(url=self.redacted_url))

    @property
    def redacted_url(self) -> str | None:
        """The proxy URL with any credentials replaced by ``***``."""
        if self.url is None:
            return None
        scheme, sep, rest = self.url.partition("://")
        if not sep:
            return _MASK if "@" in self.url else self.url
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            authority = _MASK + "@" + authority.rpartition("@")[2]
        return f"{scheme}://{authority}{slash}{path}"

    def secret_values(self) -> list[str]:
        """The credentials in ``url`` (as written and decoded), to scrub from any text."""
        if not self.url or "@" not in self.url:
            return []
        userinfo = self.url.partition("://")[2].partition("/")[0].rpartition("@")[0]
        _user, _sep, password = userinfo.partition(":")
        values = {userinfo, unquote(userinfo)}
        if password:
            values |= {password, unquote(password), quote(unquote(password), safe="")}
        return [v for v in values if v]

    def __repr__(self) -> str:
        if self.url is None:
            return f"ProxyChoice(mode={self.mode!r})"
        return f"ProxyChoice(mode={self.mode!r}, url={self.redacted_url!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class DirectoryRecord:
    """A directory as Identity keeps it: what the agent syncs, with which LDAP filters."""

    id: str
    name: str
    user_filter: str
    group_filter: str
    created_at: datetime


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer read within the bounds (status, headers and the decoded body)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


# Every client alive in this process, for abort_open_requests (a stop cuts what they wait for).
_clients: "weakref.WeakSet[IdentityClient]" = weakref.WeakSet()
_clients_lock = threading.Lock()
# Base URLs already warned about (plain http to a host that is not loopback): once per process.
_warned_plain_http: set[str] = set()


def abort_open_requests() -> None:
    """Cut the request every client of this process is waiting on (a stop: `run`'s SIGTERM after its grace).

    Each ends within a fraction of a second with IdentityRequestStopped;
    requests started afterwards are not affected.
    """
    with _clients_lock:
        clients = list(_clients)
    for client in clients:
        client.abort()


# After a stop (SIGTERM, Ctrl-C, a console closed), how long the answers awaited from
# Identity get before they are cut, and how often the cut is repeated for requests that
# were starting at that moment.
STOP_GRACE_SECONDS = 3.0
CUT_AGAIN_SECONDS = 0.5


def cut_open_requests(finished: threading.Event, grace: float = STOP_GRACE_SECONDS) -> None:
    """Once stopped: give the answers awaited ``grace`` seconds, then cut them until ``finished``.

    A read blocked on a server that drips its answer would otherwise hold the
    stop until the request's deadline; a batch cut this way is sent again by
    the next run (upserts are idempotent).
    """
    if finished.wait(grace):
        return
    log.info(_("stopping: cutting the answers still awaited from Identity after {seconds} s").format(seconds=_figure(grace)))
    while not finished.is_set():
        abort_open_requests()
        finished.wait(CUT_AGAIN_SECONDS)


# --------------------------------------------------------------------------- helpers


def _figure(value: float) -> str:
    """``value`` as ``%g`` writes it (3, 0.25, 12.5), with the language's decimal mark."""
    text = f"{value:g}"
    digits = 0 if "e" in text else len(text.partition(".")[2])
    return number(value, digits)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    """The system's trust store (honours SSL_CERT_FILE / SSL_CERT_DIR) plus the Mozilla bundle."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):  # the system store alone is still a verifying store
        pass
    return context


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is True:
        return _default_ssl_context()
    if verify is False:
        raise InputError(
            "verify",
            _("TLS certificate verification cannot be turned off; give the CA file that issued Identity's "
              "(or the TLS-inspecting proxy's) certificate instead."),
        )
    path = os.path.expanduser(verify)
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        if os.path.isfile(path):
            return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise IdentityTlsError(
            _("The CA file {path} cannot be used to check Identity's certificate ({error}). "
              "Give a PEM file with the CA certificate.").format(path=verify, error=type(exc).__name__)
        ) from None
    raise IdentityTlsError(
        _("The CA file {path} does not exist. Give the PEM file of the CA that issued the certificate.").format(path=verify))


def _normalise_base_url(base_url: str) -> tuple[str, str]:
    """(root of the agent API, ``host[:port]`` for messages)."""
    text = (base_url or "").strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError("identity", _("the Identity address must look like https://host, not {address}").format(
            address=repr(text[:100])))
    if parts.username or parts.password:
        raise InputError("identity", _("the Identity address must not contain a user name or password"))
    if parts.query or parts.fragment:
        raise InputError("identity", _("the Identity address must not have a query (?...) or a fragment (#...)"))
    try:
        port = parts.port
    except ValueError:
        raise InputError("identity", _("the port in the Identity address is not a number")) from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    shown = f"{host}:{port}" if port else host
    path = parts.path
    if not path.endswith(API_PATH):
        path = path + API_PATH
    return f"{parts.scheme}://{parts.netloc}{path}", shown


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._~+/-]+")


# --------------------------------------------------------------------------- the client


class IdentityClient:
    """The agent's connection to Identity; one per environment (and per directory when authenticated).

    ``token`` is the directory token the admin copied from Identity;
    ``agent_key`` the key :meth:`register_agent` returned. ``sleep``, ``rng``
    and ``transport`` exist for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: SecretStr | None = None,
        agent_key: SecretStr | None = None,
        proxy: ProxyChoice = ProxyChoice("system"),
        timeout: float = 15.0,
        max_retries: int = 4,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # lazy: see the TYPE_CHECKING import

        self.base_url, self.host = _normalise_base_url(base_url)
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.proxy = proxy
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self._token = token
        self._agent_key = agent_key
        # Identity's clock minus ours (seconds), learnt from the Date header of a poll.
        self.server_clock_offset = 0.0
        self._sleep = sleep
        self._rng = rng or random.Random()
        for value in (token, agent_key):
            if value is not None:
                register_secret(value.get_secret_value())
        for value in proxy.secret_values():
            register_secret(value)
        options: dict[str, Any] = {
            "timeout": httpx.Timeout(self.timeout),
            "follow_redirects": False,
            "headers": {
                "User-Agent": f"smartsync-tui/{__version__}",
                "Accept": "application/json, application/problem+json",
                # Only what bounded_http decodes a bounded piece at a time.
                "Accept-Encoding": "gzip, deflate",
            },
            "verify": _ssl_context(verify),
        }
        if proxy.mode == "system":
            options["trust_env"] = True
        elif proxy.mode == "manual":
            options["trust_env"] = False
            options["proxy"] = proxy.url
        else:
            options["trust_env"] = False
        if transport is not None:
            options["transport"] = transport
        self._http = httpx.Client(**options)
        from smartsync_tui.targets import bounded_http  # lazy, like httpx

        bounded_http.bound_client(self._http)
        # One stop event per request in flight, by the thread making it (abort() sets them).
        self._open: dict[int, threading.Event] = {}
        self._open_lock = threading.Lock()
        with _clients_lock:
            _clients.add(self)
        self._warn_if_plain_http()

    # -- lifecycle

    def close(self) -> None:
        self._http.close()

    def abort(self, thread: threading.Thread | None = None) -> None:
        """Cut the requests in flight (only ``thread``'s when given); safe from any thread.

        They end within a fraction of a second with IdentityRequestStopped;
        the client stays usable for new requests.
        """
        with self._open_lock:
            events = [e for ident, e in self._open.items() if thread is None or ident == thread.ident]
        for event in events:
            event.set()

    def _warn_if_plain_http(self) -> None:
        """Plain http to a host that is not loopback keeps working (a running agent must not stop),
        but says once what it exposes (docs/security.md)."""
        from smartsync_tui.config.validation import is_loopback_host

        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or is_loopback_host(parts.hostname or ""):
            return
        with _clients_lock:
            if self.base_url in _warned_plain_http:
                return
            _warned_plain_http.add(self.base_url)
        log.warning(_(
            "Identity at {host} is reached over plain http: the directory token and the agent key travel in clear, "
            "and anyone on the path can read them and queue login checks. Switch to https: {command}"
        ).format(host=self.host, command="smartsync-tui identity set --protocol https"))

    def __enter__(self) -> "IdentityClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"IdentityClient({self.base_url!r}, token={'set' if self._token else 'none'}, "
            f"agent_key={'set' if self._agent_key else 'none'}, proxy={self.proxy!r})"
        )

    @property
    def has_agent_key(self) -> bool:
        return self._agent_key is not None

    # -- the API

    def ping(self) -> dict:
        """Check that the address answers as an Identity agent API; returns its service description."""
        body = self._json(self._request("GET", "/ping", auth="none"), "/ping")
        if not isinstance(body, dict) or body.get("service") != "identity-agent-api":
            raise IdentityProtocolError(
                _("{host} answered, but not as the Identity agent API. Check the address of the Identity "
                  "environment.").format(host=self.host)
            )
        return body

    def register_agent(self, name: str) -> tuple[str, SecretStr]:
        """Register this agent with the directory token; returns (agent id, api key) and uses the key from now on."""
        response = self._request("POST", "/agents", auth="token", body={"name": name}, retry="safe", agent_key=False)
        body = self._json(response, "/agents")
        agent_id, api_key = (body.get("agent_id"), body.get("api_key")) if isinstance(body, dict) else (None, None)
        if not isinstance(agent_id, str) or not isinstance(api_key, str) or not api_key:
            raise IdentityProtocolError(
                _("Identity at {host} answered the agent registration without an agent key.").format(host=self.host))
        register_secret(api_key)
        self._agent_key = SecretStr(api_key)
        return agent_id, self._agent_key

    def get_directory(self) -> DirectoryRecord:
        """The directory the token belongs to (works with the token alone)."""
        body = self._json(self._request("GET", "/directory", auth="token"), "/directory")
        try:
            return DirectoryRecord(
                id=_str(body["id"]),
                name=_str(body["name"]),
                user_filter=_str(body["user_filter"]),
                group_filter=_str(body["group_filter"]),
                created_at=datetime.fromisoformat(_str(body["created_at"])),
            )
        except (KeyError, TypeError, ValueError):
            raise IdentityProtocolError(
                _("Identity at {host} sent a directory record this agent does not understand.").format(host=self.host)
            ) from None

    def upsert_users(self, users: list[dict]) -> list[dict]:
        """Create or update users (batches of at most 1000 are sent); one result per user, in order."""
        return self._batches("/users:batch", "users", users)

    def upsert_groups(self, groups: list[dict]) -> list[dict]:
        """Create or update groups and replace their member lists; one result per group, in order."""
        return self._batches("/groups:batch", "groups", groups)

    def poll_commands(self, wait: float) -> list[dict]:
        """Commands waiting for this agent; waits up to ``wait`` seconds (at most 30) for one to arrive."""
        import httpx  # lazy: see the TYPE_CHECKING import

        wait = min(max(float(wait), 0.0), MAX_WAIT)
        shown = str(int(wait)) if wait.is_integer() else f"{wait:.3f}"
        response = self._request(
            "GET", f"/commands?wait={shown}", auth="agent", timeout=httpx.Timeout(self.timeout + wait), wait=wait
        )
        self.server_clock_offset = _clock_offset(response.headers.get("Date"), self.server_clock_offset)
        body = self._json(response, "/commands")
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list):
            raise IdentityProtocolError(
                _("Identity at {host} sent a list of commands this agent does not understand.").format(host=self.host))
        # One malformed command must not hold back the others (it would come back with every lease).
        good = [c for c in commands if isinstance(c, dict) and isinstance(c.get("id"), str) and len(c["id"]) <= 200
                and isinstance(c.get("type"), str)]
        if len(good) < len(commands):
            ignored = len(commands) - len(good)
            log.warning(ngettext("Identity at {host} sent {n} command this agent does not understand; ignored",
                                 "Identity at {host} sent {n} commands this agent does not understand; ignored",
                                 ignored).format(host=self.host, n=ignored))
        return good

    def post_command_result(self, command_id: str, result: dict) -> None:
        """Report a command's outcome. Raises CommandGone when Identity no longer waits for it."""
        path = f"/commands/{quote(command_id, safe='')}/result"
        self._request("POST", path, auth="agent", body=result, gone=CommandGone)

    def put_public_key(self, pem: str, algorithm: str = "RSA-OAEP-SHA256") -> dict:
        """Publish the public half of the key pair Identity encrypts login checks to."""
        response = self._request(
            "PUT", "/public-key", auth="agent", body={"algorithm": algorithm, "public_key_pem": pem}
        )
        return self._json(response, "/public-key")

    # -- internals

    def _batches(self, path: str, field: str, items: list[dict]) -> list[dict]:
        results: list[dict] = []
        for start in range(0, len(items), MAX_BATCH):
            chunk = items[start : start + MAX_BATCH]
            body = self._json(self._request("POST", path, auth="agent", body={field: chunk}), path)
            part = body.get("results") if isinstance(body, dict) else None
            if (
                not isinstance(part, list)
                or len(part) != len(chunk)
                or not all(isinstance(r, dict) and "status" in r and "external_id" in r for r in part)
            ):
                n = len(chunk)
                if field == "users":
                    text = ngettext(
                        "Identity at {host} answered a batch of {n} user with results this agent does not "
                        "understand; nothing is known about that batch.",
                        "Identity at {host} answered a batch of {n} users with results this agent does not "
                        "understand; nothing is known about that batch.", n)
                else:
                    text = ngettext(
                        "Identity at {host} answered a batch of {n} group with results this agent does not "
                        "understand; nothing is known about that batch.",
                        "Identity at {host} answered a batch of {n} groups with results this agent does not "
                        "understand; nothing is known about that batch.", n)
                raise IdentityProtocolError(text.format(host=self.host, n=n))
            results.extend(_checked_result(r) for r in part)
        return results

    def _headers(self, auth: str, agent_key: bool) -> dict[str, str]:
        headers: dict[str, str] = {}
        if auth == "none":
            return headers
        if self._token is None:
            raise IdentityCredentialsMissing(
                _("No directory token is set: copy the token from the directory in Identity into this directory's "
                  "settings.")
            )
        headers["Authorization"] = "Bearer " + self._token.get_secret_value()
        if agent_key and self._agent_key is not None:
            headers["X-Agent-Key"] = self._agent_key.get_secret_value()
        elif auth == "agent":
            raise IdentityCredentialsMissing(
                _("This agent is not registered with Identity yet (it has no agent key): enter the directory token "
                  "again so the agent registers.")
            )
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        auth: Literal["none", "token", "agent"],
        body: Any = None,
        retry: Literal["all", "safe"] = "all",
        timeout: httpx.Timeout | None = None,
        wait: float = 0.0,
        agent_key: bool = True,
        gone: type[IdentityError] | None = None,
    ) -> _Answer:
        headers = self._headers(auth, agent_key)
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        log_path = urlsplit(url).path
        deadline = self.timeout + wait + DEADLINE_MARGIN
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                answer = self._exchange(method, url, content, headers, timeout, deadline, log_path, retry)
            except _Failed as failed:
                elapsed = (time.perf_counter() - started) * 1000
                log.debug("%s %s -> %s in %.0f ms", method, log_path, failed.what, elapsed)
                if failed.retryable and attempt < self.max_retries:
                    self._sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise failed.error from None
            elapsed = (time.perf_counter() - started) * 1000
            status = answer.status_code
            log.debug("%s %s -> %d in %.0f ms", method, log_path, status, elapsed)
            if status < 300:
                return answer
            allowed = RETRY_STATUSES if retry == "all" else _SAFE_RETRY_STATUSES
            if status in allowed and attempt < self.max_retries:
                self._sleep(self._backoff(attempt, answer))
                attempt += 1
                continue
            raise self._status_error(method, log_path, answer, attempts=attempt + 1, gone=gone)

    def _exchange(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str],
        timeout: httpx.Timeout | None, deadline: float, log_path: str, retry: str,
    ) -> _Answer:
        """One attempt: send, and read the answer within the deadline, the stop and the size cap."""
        import zlib

        import httpx  # lazy: see the TYPE_CHECKING import

        from smartsync_tui.targets import bounded_http

        what = f"{method} {log_path}"
        stop = threading.Event()
        me = threading.get_ident()
        with self._open_lock:
            self._open[me] = stop
        try:
            with bounded_http.budget(deadline, stop):
                request = self._http.build_request(
                    method, url, content=content, headers=headers, timeout=timeout or httpx.USE_CLIENT_DEFAULT
                )
                response = self._http.send(request, stream=True)
                try:
                    limit = MAX_ANSWER_BYTES if response.status_code < 300 else MAX_ERROR_ANSWER_BYTES
                    try:
                        body = bounded_http.read_body(response, limit)
                    except bounded_http.TooLarge:
                        if response.status_code >= 300:
                            body = b""  # only its problem details were wanted; the status says enough
                        else:
                            raise _Failed(IdentityProtocolError(
                                _("Identity's answer to {request} exceeded {size} MB: a proxy or server is "
                                  "misbehaving. Check the address and the proxy settings.").format(
                                    request=what, size=number(MAX_ANSWER_BYTES // (1024 * 1024))),
                                status=response.status_code,
                            ), "too large") from None
                    except bounded_http.UnknownEncoding as exc:
                        raise _Failed(IdentityProtocolError(
                            _("Identity's answer to {request} came compressed as {encoding}, which this agent did "
                              "not ask for: a proxy or server is misbehaving.").format(
                                request=what, encoding=repr(self._scrub(exc.encoding, 40))),
                            status=response.status_code,
                        ), "unknown encoding") from None
                    except zlib.error:
                        raise _Failed(IdentityProtocolError(
                            _("Identity's answer to {request} is compressed but does not decompress: a proxy or "
                              "server is misbehaving.").format(request=what),
                            status=response.status_code,
                        ), "bad compression") from None
                    return _Answer(response.status_code, response.headers, body)
                finally:
                    response.close()
        except bounded_http.Cut as cut:
            if cut.why == "stopped":
                raise _Failed(IdentityRequestStopped(
                    _("Stopped while waiting for Identity's answer to {request} at {host}; what it carried "
                      "is sent again next time.").format(request=what, host=self.host)
                ), "stopped") from None
            raise _Failed(IdentityUnreachable(self._unreachable(
                _("its answer to {request} did not arrive within {seconds} s, though it kept coming: a proxy or "
                  "server is misbehaving").format(request=what, seconds=_figure(deadline))
            )), "deadline") from None
        except httpx.TransportError as exc:
            error, retryable = self._transport_error(exc, retry)
            raise _Failed(error, type(exc).__name__, retryable=retryable) from None
        finally:
            with self._open_lock:
                if self._open.get(me) is stop:
                    del self._open[me]

    def _backoff(self, attempt: int, response: _Answer | None) -> float:
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, RETRY_AFTER_CAP)
        return self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt)))

    def _scrub(self, text: str, limit: int = 300) -> str:
        """Text from a server or a library made safe to show: no secrets, no control characters, bounded."""
        values = [s.get_secret_value() for s in (self._token, self._agent_key) if s is not None]
        values += self.proxy.secret_values()
        for value in sorted(values, key=len, reverse=True):
            if value:
                text = text.replace(value, _MASK)
        # Whitespace runs (new lines included) read as one space; other controls as '?'.
        return printable(" ".join(text.split()), limit)

    def _transport_error(self, exc: httpx.TransportError, retry: str) -> tuple[IdentityError, bool]:
        """The admin-facing error for a failure below HTTP, and whether another attempt may help."""
        import httpx  # lazy: see the TYPE_CHECKING import

        chain = _chain(exc)
        for link in chain:
            if isinstance(link, ssl.SSLCertVerificationError):
                reason = self._scrub(
                    getattr(link, "verify_message", None) or getattr(link, "reason", None) or _("verification failed")
                ).rstrip(".")
                return (
                    IdentityTlsError(
                        _("The TLS certificate of Identity at {host} is not trusted: {reason}. Check the address; "
                          "if a proxy or firewall inspects TLS, give the CA file of its certificate.").format(
                            host=self.host, reason=reason)
                    ),
                    False,
                )
            if isinstance(link, ssl.SSLError):
                reason = self._scrub(str(getattr(link, "reason", None) or link))
                return (
                    IdentityTlsError(
                        _("The TLS connection to Identity at {host} failed ({reason}). Check that the address "
                          "uses the right protocol (https) and port, and the proxy settings.").format(
                            host=self.host, reason=reason)
                    ),
                    False,
                )
        proxy = self._proxy_address()
        scheme = urlsplit(self.base_url).scheme
        # Where the admin fixes a proxy problem, for the mode in use.
        variable = f"{scheme.upper()}_PROXY"
        settings_hint = (
            _("the {variable} and NO_PROXY environment variables").format(variable=variable)
            if self.proxy.mode == "system"
            else _("the proxy settings ({command}, or Proxy on the console's Home tab)").format(
                command="`smartsync-tui proxy show`")
        )

        def via_proxy(reason: str, fix: str) -> str:
            # ``fix`` is a sentence of its own (it starts with a capital).
            return _("Cannot reach Identity at {host}: {reason}. {fix}.").format(host=self.host, reason=reason, fix=fix)

        if isinstance(exc, httpx.ProxyError):
            # httpcore's text when the proxy answers CONNECT with an error: "<status> <reason phrase>"
            # (the phrase is the proxy's own: scrubbed, and only the status is relied on).
            said = self._scrub(str(exc), 100)
            status = int(said[:3]) if re.match(r"\d{3}\b", said) else None
            at = _("the proxy at {address}").format(address=proxy) if proxy else _("the proxy")
            if status == 407 and self.proxy.mode == "system":
                reason = _("{proxy} refused the credentials").format(proxy=at)
                fix = _("Check the user and password in the {variable} environment variable").format(variable=variable)
            elif status == 407:
                parts = urlsplit(self.proxy.url or "")
                has_user = parts.username is not None
                command = (f"`smartsync-tui proxy set manual --host {parts.hostname} --port {parts.port} "
                           "--user USER --password-stdin`")
                if has_user:
                    reason = _("{proxy} refused the credentials").format(proxy=at)
                    fix = _("Check the proxy user and password ({command}, or Proxy > Edit on the console's "
                            "Home tab)").format(command=command)
                else:
                    reason = _("{proxy} asks for a user and password").format(proxy=at)  # not a count
                    fix = _("Give the proxy user and password ({command}, or Proxy > Edit on the console's "
                            "Home tab)").format(command=command)
            elif status == 403:
                reason = _("{proxy} refused to open a tunnel (CONNECT) to {host} (HTTP 403)").format(proxy=at, host=self.host)
                fix = _("Ask the proxy's admin to allow HTTPS to that host and port, or check {settings}").format(
                    settings=settings_hint)
            elif status in (502, 503, 504):
                reason = _("{proxy} could not connect to {host} (HTTP {status})").format(
                    proxy=at, host=self.host, status=status)
                fix = _("Check the Identity address, and that the proxy may reach it")
            else:
                reason = _("{proxy} refused the tunnel to {host} ({reason})").format(
                    proxy=at, host=self.host, reason=said or _("no reason given"))
                fix = _("Check {settings}").format(settings=settings_hint)
            # 502-504: the proxy could not open the tunnel, so nothing reached Identity: worth another try.
            return IdentityUnreachable(via_proxy(reason, fix), status=status), status in (502, 503, 504)
        if isinstance(exc, httpx.TimeoutException):
            not_sent = isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            if not_sent:
                reason = _("timed out after {seconds} s connecting").format(seconds=_figure(self.timeout))
            else:
                reason = _("timed out after {seconds} s waiting for an answer").format(seconds=_figure(self.timeout))
            if isinstance(exc, httpx.ConnectTimeout) and proxy:
                # Through a proxy the connection that httpx opens is the one to the proxy.
                reason = _("cannot reach the proxy at {address}: {reason}").format(address=proxy, reason=reason)
                fix = _("Check that the proxy is up, and {settings}").format(settings=settings_hint)
                return IdentityUnreachable(via_proxy(reason, fix)), True
            return IdentityUnreachable(self._unreachable(reason)), retry == "all" or not_sent
        if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
            not_sent = isinstance(exc, httpx.ConnectError)
            # Through a proxy, a connection that fails to open is the one to the proxy.
            if not_sent and proxy:
                reason = self._network_reason(exc, chain, via_proxy=True)
                fix = _("Check that the proxy is up, and {settings}").format(settings=settings_hint)
                return IdentityUnreachable(via_proxy(reason, fix)), True
            reason = self._network_reason(exc, chain, via_proxy=False)
            return IdentityUnreachable(self._unreachable(reason)), retry == "all" or not_sent
        reason = self._scrub(str(exc)) or type(exc).__name__
        return IdentityUnreachable(self._unreachable(reason)), False

    def _proxy_address(self) -> str | None:
        """``host:port`` of the proxy requests to Identity go through (never its credentials); None: direct."""
        if self.proxy.mode == "manual":
            parts = urlsplit(self.proxy.url or "")
            return f"{parts.hostname}:{parts.port}"
        if self.proxy.mode == "none":
            return None
        import urllib.request  # only for a message: no cost where there is no failure

        # httpx reads the environment through urllib's getproxies() too; NO_PROXY as curl does,
        # which urllib's bypass check follows for host names and addresses.
        target = urlsplit(self.base_url)
        proxies = urllib.request.getproxies()
        chosen = proxies.get(target.scheme) or proxies.get("all")
        if not chosen or urllib.request.proxy_bypass_environment(target.hostname or "", proxies):
            return None
        parts = urlsplit(chosen if "://" in chosen else f"http://{chosen}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return printable(parts.hostname or "?", 100)
        return f"{printable(parts.hostname or '?', 100)}:{port}"

    def _network_reason(self, exc: httpx.TransportError, chain: list[BaseException], *, via_proxy: bool) -> str:
        import httpx  # lazy: see the TYPE_CHECKING import

        text = " ".join(str(link) for link in chain).lower()
        if any(s in text for s in ("name or service not known", "nodename nor servname", "getaddrinfo failed",
                                   "no address associated", "temporary failure in name resolution", "name resolution")):
            why = _("the host name does not resolve (DNS)")
        elif "refused" in text:
            why = _("the connection was refused (nothing accepts connections on that address and port)")
        elif "network is unreachable" in text or "no route to host" in text:
            why = _("there is no network route to it")
        elif isinstance(exc, httpx.RemoteProtocolError) or "disconnected" in text or "reset" in text:
            why = _("the connection was closed before an answer arrived")
        else:
            why = self._scrub(str(exc)) or type(exc).__name__
        if via_proxy:
            return _("cannot reach the proxy at {address}: {reason}").format(address=self._proxy_address(), reason=why)
        return why

    def _unreachable(self, reason: str) -> str:
        return _("Cannot reach Identity at {host}: {reason}. Check the address, DNS, the firewall and the proxy "
                 "settings.").format(host=self.host, reason=reason)

    def _problem(self, response: _Answer) -> tuple[str | None, str | None]:
        """(type, detail) of an RFC 9457 body, scrubbed; (None, None) when there is none."""
        try:
            body = json.loads(response.content) if response.content else None
        except (ValueError, UnicodeDecodeError):
            return None, None
        if not isinstance(body, dict):
            return None, None
        problem_type = body.get("type") if isinstance(body.get("type"), str) else None
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
        if detail is None and isinstance(body.get("title"), str):
            detail = body["title"]
        return (
            self._scrub(problem_type, 200) if problem_type else None,
            self._scrub(detail).rstrip(".") if detail else None,
        )

    def _status_error(
        self, method: str, path: str, response: _Answer, *, attempts: int, gone: type[IdentityError] | None
    ) -> IdentityError:
        status = response.status_code
        problem_type, detail = self._problem(response)
        slug = (problem_type or "").rstrip("/").rsplit("/", 1)[-1]
        # What the server said, after the status: punctuation and its (scrubbed) words, no English of ours.
        said = f": {detail}" if detail else ""
        extra = {"status": status, "problem_type": problem_type}
        host = self.host
        if status == 401 and slug == "token-rejected":
            return TokenRejected(
                _("Identity at {host} rejected the directory token (unknown or revoked): generate a new token in "
                  "Identity and copy it into this directory's settings.").format(host=host),
                **extra,
            )
        if status == 401 and slug == "agent-key-rejected":
            return AgentKeyRejected(
                _("Identity at {host} rejected this agent's key (the registration was removed or the key is "
                  "wrong): enter the directory token again so the agent registers anew.").format(host=host),
                **extra,
            )
        if status == 401 and slug in ("token-missing", "agent-key-missing"):
            header = "Authorization" if slug == "token-missing" else "X-Agent-Key"
            return IdentityProtocolError(
                _("Identity at {host} did not receive the {header} header (HTTP 401). A proxy between this "
                  "server and Identity may be removing it.").format(host=host, header=header),
                **extra,
            )
        if status == 407:
            return IdentityUnreachable(
                self._unreachable(_("the proxy asks for credentials (HTTP 407); check the proxy user and password")),
                **extra,
            )
        if status == 429:
            if attempts > 1:
                text = ngettext(
                    "Identity at {host} is throttling this agent (HTTP 429) after {n} attempt. Nothing was lost; "
                    "try again in a few minutes.",
                    "Identity at {host} is throttling this agent (HTTP 429) after {n} attempts. Nothing was lost; "
                    "try again in a few minutes.", attempts)
            else:
                text = _("Identity at {host} is throttling this agent (HTTP 429). Nothing was lost; "
                         "try again in a few minutes.")
            return IdentityThrottled(text.format(host=host, n=attempts), **extra)
        if status >= 500:
            if attempts > 1:
                text = ngettext(
                    "Identity at {host} failed with HTTP {status}{detail} after {n} attempt. This is on the Identity "
                    "side; try again later (nothing was lost).",
                    "Identity at {host} failed with HTTP {status}{detail} after {n} attempts. This is on the Identity "
                    "side; try again later (nothing was lost).", attempts)
            else:
                text = _("Identity at {host} failed with HTTP {status}{detail}. This is on the Identity side; "
                         "try again later (nothing was lost).")
            return IdentityServerError(text.format(host=host, status=status, detail=said, n=attempts), **extra)
        if gone is not None and status in (404, 410):
            return gone(_("Identity at {host} no longer waits for this command (HTTP {status}{detail}).").format(
                host=host, status=status, detail=said), **extra)
        if 300 <= status < 400:
            return IdentityProtocolError(
                _("Identity at {host} answered with a redirect (HTTP {status}). Check the protocol (https) and "
                  "the address of the Identity environment.").format(host=host, status=status),
                **extra,
            )
        if status == 404:
            return IdentityProtocolError(
                _("{host} has no Identity agent API at {path} (HTTP 404). Check the address of the Identity "
                  "environment.").format(host=host, path=path),
                **extra,
            )
        return IdentityProtocolError(
            _("Identity at {host} refused {request} (HTTP {status}){detail}. "
              "This agent and Identity may disagree about the API; please report it.").format(
                host=host, request=f"{method} {path}", status=status, detail=said),
            **extra,
        )

    def _json(self, response: _Answer, path: str) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly nested JSON
            media = response.headers.get("Content-Type", "").split(";")[0].strip()
            shown = f", {media}" if media and _TOKEN_LIKE.fullmatch(media) and len(media) < 60 else ""
            raise IdentityProtocolError(
                _("Identity at {host} answered {path} with something that is not JSON (HTTP {status}{media}). "
                  "Check the address; a proxy or a login page may be answering instead.").format(
                    host=self.host, path=path, status=response.status_code, media=shown),
                status=response.status_code,
            ) from None


class _Failed(Exception):
    """An attempt that got no usable answer: the admin's error, and whether another attempt may help
    (a deadline, a stop or an oversized answer never is: the next would fare the same)."""

    def __init__(self, error: IdentityError, what: str, *, retryable: bool = False) -> None:
        super().__init__(what)
        self.error = error
        self.what = what
        self.retryable = retryable


def _clock_offset(date_header: str | None, previous: float) -> float:
    """Identity's clock minus ours, in seconds, from an HTTP Date header (whole seconds); else ``previous``.

    Login checks are aged with Identity's timestamps: an agent whose clock is
    off would otherwise answer every check "expired" (or none).
    """
    if not date_header:
        return previous
    try:
        server = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return previous
    return server - time.time()


def _checked_result(result: dict) -> dict:
    """One batch result as the sync engine may store it; one it does not understand is that object's failure.

    (The engine stores ``id`` and ``detail`` as they come: a number or a list
    there once failed every sync of the directory.)
    """
    external_id = result.get("external_id")
    status, identity_id, detail = result.get("status"), result.get("id"), result.get("detail")
    # The field names (external_id, status...) and values (created...) are the API's: they stay as they are.
    if not isinstance(external_id, str):
        problem = _("its {field} is not text").format(field="external_id")
        external_id = None  # matches no object: the engine reports the object as not answered
    elif not isinstance(status, str) or status not in _RESULT_STATUSES:
        problem = _("its status is not created, updated, unchanged or failed")
    elif detail is not None and not isinstance(detail, str):
        problem = _("its {field} is not text").format(field="detail")
    elif isinstance(detail, str) and len(detail) > MAX_RESULT_DETAIL_CHARS:
        problem = ngettext("its detail is longer than {n} character", "its detail is longer than {n} characters",
                           MAX_RESULT_DETAIL_CHARS).format(n=number(MAX_RESULT_DETAIL_CHARS))
    elif status != "failed" and not (isinstance(identity_id, str) and 0 < len(identity_id) <= MAX_RESULT_ID_CHARS):
        problem = ngettext("its id is not text of 1 to {n} character", "its id is not text of 1 to {n} characters",
                           MAX_RESULT_ID_CHARS).format(n=number(MAX_RESULT_ID_CHARS))
    else:
        return result
    return {
        "external_id": external_id, "id": None, "status": "failed",
        "detail": _("Identity's answer for this object was not understood ({problem}): a proxy or server is "
                    "misbehaving; it is sent again on the next run").format(problem=problem),
    }


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value

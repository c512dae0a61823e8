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

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

from smartsync_tui import __version__
from smartsync_tui.core import telemetry
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.core.text import printable
from smartsync_tui.i18n import _, ngettext, number
from smartsync_tui.targets.identity.diagnosis import Diagnosis
from smartsync_tui.targets.identity.errors import (
    CommandGone,
    IdentityCredentialsMissing,
    IdentityError,
    IdentityProtocolError,
    IdentityRequestStopped,
    IdentityUnreachable,
)
from smartsync_tui.targets.identity.network import (
    _MASK,
    _RESULT_STATUSES,
    _SAFE_RETRY_STATUSES,
    _TOKEN_LIKE,
    BACKOFF_BASE,
    BACKOFF_CAP,
    DEADLINE_MARGIN,
    MAX_ANSWER_BYTES,
    MAX_BATCH,
    MAX_ERROR_ANSWER_BYTES,
    MAX_RESULT_DETAIL_CHARS,
    MAX_RESULT_ID_CHARS,
    MAX_WAIT,
    RETRY_AFTER_CAP,
    RETRY_STATUSES,
    DirectoryRecord,
    ProxyChoice,
    _Answer,
    _clients,
    _clients_lock,
    _figure,
    _normalise_base_url,
    _ssl_context,
    _warned_plain_http,
    parse_retry_after,
)

if TYPE_CHECKING:
    # httpx (~50 ms to import, its CLI's click and pygments included) is imported by the
    # methods that use it: importing this module (the console's first screen does) needs none.
    import httpx

log = logging.getLogger("smartsync.identity")


# --------------------------------------------------------------------------- the client


class IdentityClient(Diagnosis):
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
                if failed.what != "stopped":
                    telemetry.request("identity", None)
                if failed.retryable and attempt < self.max_retries:
                    self._sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise failed.error from None
            elapsed = (time.perf_counter() - started) * 1000
            status = answer.status_code
            telemetry.request("identity", status)
            log.debug("%s %s -> %d in %.0f ms", method, log_path, status, elapsed)
            if status < 300:
                return answer
            allowed = RETRY_STATUSES if retry == "all" else _SAFE_RETRY_STATUSES
            if status in allowed and attempt < self.max_retries:
                pause = self._backoff(attempt, answer)
                if status == 429:
                    telemetry.waited("identity", pause)
                self._sleep(pause)
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

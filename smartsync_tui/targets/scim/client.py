"""HTTP to one SCIM service provider: bearer token (or OAuth2 client credentials, oauth.py), TLS,
the agent's proxy, the pace, retries.

Every request waits its turn at the :class:`~smartsync_tui.targets.scim.pace.Pace`;
a 429 slows the pace and is sent again after its ``Retry-After``; a 5xx, a
timeout or a dropped connection is sent again after a growing wait (0.5, 1, 2,
4 s); a 401 or 403 ends the run at once with what to renew. The answer is read
within a size cap and a deadline (targets/bounded_http.py), and a closed target
cuts the requests still waiting. Other answers (400, 404, 409...) are returned
to the caller, which decides what they mean for its object.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from pydantic import SecretStr

from smartsync_tui import __version__
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.i18n import _, ngettext
from smartsync_tui.targets import bounded_http
from smartsync_tui.targets.base import TargetCredentialsRejected, TargetStopped, TargetUnavailable
from smartsync_tui.core.text import printable
from smartsync_tui.core import telemetry
from smartsync_tui.targets.http_common import ProxyChoice, chain, default_ssl_context, parse_retry_after
from smartsync_tui.targets.scim.oauth import MAX_TOKEN_ANSWER_BYTES, ClientCredentials, Grant
from smartsync_tui.targets.scim.pace import Pace

log = logging.getLogger("smartsync.scim")

#: A SCIM answer holds one resource or one page of them; larger is not an answer.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: The answers that say "try again later" (501 Not Implemented and the like never get better).
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
#: Sent again this many times after one of those, a timeout or a dropped connection.
RETRIES = 4
#: Sent again this many times after a 429 (each after its Retry-After).
THROTTLED_RETRIES = 8
#: One request, its answer included, ends within this.
REQUEST_SECONDS = 60.0
CONTENT_TYPE = "application/scim+json"
#: What a request that got no (whole) answer raises: sent again, or said (ScimClient._failed).
_TRANSPORT_ERRORS = (httpx.TransportError, bounded_http.Cut, bounded_http.TooLarge, bounded_http.UnknownEncoding,
                     zlib.error)


def _ssl_context(ca_file: str | None, directory_id: str) -> ssl.SSLContext:
    """The trust store every target uses, or the CA file given for this provider; a file that
    cannot be read as a CA is said in words (the run stops before anything is sent)."""
    if not ca_file:
        return default_ssl_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TargetUnavailable(_(
            "The CA file {path} of the SCIM provider cannot be used ({error}): give a PEM file with the CA "
            "certificate (`smartsync-tui directory edit {id} --scim-ca-file PEM`).").format(
                path=ca_file, error=type(exc).__name__, id=directory_id), kind="scim-tls") from None


def oauth_of(settings: Any) -> tuple[str, str, str | None] | None:
    """A directory's ScimSettings as ScimClient's ``oauth`` (None: a bearer token)."""
    if settings.auth != "oauth2":
        return None
    return settings.token_url, settings.client_id, settings.scope


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the parsed JSON, or None (a 204, an empty or non-JSON body)

    def problem(self) -> str:
        """A SCIM error's detail and scimType, as the provider wrote them (bounded, printable)."""
        if isinstance(self.body, dict):
            detail = self.body.get("detail")
            kind = self.body.get("scimType")
            parts = [str(p) for p in (detail, f"scimType {kind}" if kind else None) if p]
            if parts:
                return printable("; ".join(parts), 300)
        return f"HTTP {self.status}"


class ScimClient:
    def __init__(self, base_url: str, token: SecretStr, *, directory_id: str, pace: Pace, ca_file: str | None = None,
                 proxy: ProxyChoice | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Any = None, retries: int = RETRIES, oauth: tuple[str, str, str | None] | None = None) -> None:
        """``token``: the bearer token; with ``oauth`` (token URL, client id, scope), the OAuth2
        client's secret, which buys the access tokens sent instead."""
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.directory_id = directory_id
        self.pace = pace
        register_secret(token.get_secret_value())
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        proxy = proxy or ProxyChoice("none")
        headers = {
            "User-Agent": f"smartsync-tui/{__version__}",
            "Accept": f"{CONTENT_TYPE}, application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        self._oauth: ClientCredentials | None = None
        if oauth is None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        else:
            token_url, client_id, scope = oauth
            self._oauth = ClientCredentials(Grant(token_url, client_id, token, scope), self._post_form,
                                            directory_id=directory_id)
        options: dict[str, Any] = {
            "timeout": httpx.Timeout(30.0, connect=10.0),
            "follow_redirects": False,  # a redirect would carry the token elsewhere
            "headers": headers,
            "verify": _ssl_context(ca_file, directory_id),
            "trust_env": proxy.mode == "system",
        }
        if proxy.mode == "manual":
            options["proxy"] = proxy.url
        if transport is not None:
            options["transport"] = transport
        self._http = httpx.Client(**options)
        bounded_http.bound_client(self._http)

    def close(self) -> None:
        self._stop.set()
        self.pace.stop()
        self._http.close()

    def request(self, method: str, path: str, body: Any = None, *, params: dict | None = None,
                retries: int | None = None) -> Answer:
        """The provider's answer to ``method path`` (a 2xx or a refusal of this object), after the pace,
        the retries (``retries``: this request's own count, else the client's) and the 429s. Raises
        TargetCredentialsRejected, TargetUnavailable, TargetStopped."""
        what = f"{method} {path}"
        limit = self.retries if retries is None else retries
        failures = throttled = 0
        renewed = False
        while True:
            if self._stop.is_set():
                raise TargetStopped(_("the SCIM target was closed during {request}").format(request=what))
            auth = self._oauth.header() if self._oauth is not None else None
            self.pace.wait()
            try:
                answer, headers = self._send(method, path, body, params, auth)
            except _TRANSPORT_ERRORS as exc:
                failures += 1
                self._failed(exc, what, self.base_url, failures, self._unreachable(what, exc), limit)
                continue
            if answer.status == 429:
                throttled += 1
                held = self.pace.refused(parse_retry_after(headers.get("Retry-After")))
                if throttled > THROTTLED_RETRIES:
                    raise TargetUnavailable(_(
                        "The SCIM provider kept answering 429 (too many requests) to {request}; the run stops "
                        "and the rest is sent on the next one.").format(request=what))
                log.info(_("SCIM provider throttled {request}: waiting {seconds} s").format(request=what, seconds=round(held, 1)))
                continue
            self.pace.answered()
            if answer.status == 401 and self._oauth is not None and auth is not None and not renewed:
                # Revoked or expired early: one new access token, then the same request once more.
                self._oauth.refused(auth)
                renewed = True
                continue
            if answer.status in (401, 403) and self._oauth is not None:
                raise TargetCredentialsRejected(_(
                    "The SCIM provider refused the OAuth2 access token of directory {id} (HTTP {status}), one the "
                    "token endpoint had just given: check what the client {client} may do in the provider (its "
                    "scope), or enter another client's secret with `smartsync-tui directory edit {id} "
                    "--token-stdin`.").format(id=self.directory_id, status=answer.status,
                                              client=printable(self._oauth.grant.client_id, 120)),
                    kind="scim-token-rejected")
            if answer.status in (401, 403):
                raise TargetCredentialsRejected(_(
                    "The SCIM provider refused the bearer token of directory {id} (HTTP {status}): enter a valid "
                    "one with `smartsync-tui directory edit {id} --token-stdin`.").format(
                        id=self.directory_id, status=answer.status), kind="scim-token-rejected")
            if answer.status in RETRIED_STATUSES:
                failures += 1
                if failures > limit:
                    raise TargetUnavailable(ngettext(
                        "The SCIM provider answered HTTP {status} to {request} {n} time; the run stops and the "
                        "rest is sent on the next one.",
                        "The SCIM provider answered HTTP {status} to {request} {n} times; the run stops and the "
                        "rest is sent on the next one.", failures).format(status=answer.status, request=what, n=failures))
                self._back_off(failures, what, f"HTTP {answer.status}")
                continue
            return answer

    def _failed(self, exc: BaseException, what: str, url: str, failures: int, unreachable: str,
                retries: int | None = None) -> None:
        """A request that got no answer: raised at once when sending again changes nothing (a stop,
        an untrusted certificate), as ``unreachable`` past the retries, else after a backoff."""
        if isinstance(exc, bounded_http.Cut) and exc.why == "stopped":
            raise TargetStopped(_("the SCIM target was closed during {request}").format(request=what)) from None
        untrusted = next((e for e in chain(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)
        if untrusted is not None:
            raise TargetUnavailable(_(
                "The certificate of the SCIM provider at {url} is not trusted ({reason}): give the CA "
                "that issued it with `smartsync-tui directory edit {id} --scim-ca-file "
                "PEM`.").format(url=url, reason=printable(untrusted.verify_message or "", 120),
                                id=self.directory_id), kind="scim-tls") from None
        if failures > (self.retries if retries is None else retries):
            raise TargetUnavailable(unreachable) from None
        self._back_off(failures, what, type(exc).__name__)

    def _back_off(self, failures: int, what: str, why: str) -> None:
        seconds = 0.5 * 2 ** (failures - 1)
        log.info(_("SCIM request {request} failed ({why}); again in {seconds} s").format(
            request=what, why=why, seconds=seconds))
        self._sleep(seconds)

    def _unreachable(self, what: str, exc: BaseException) -> str:
        return _("The SCIM provider at {url} did not answer {request} ({error}); the run stops and the rest is "
                 "sent on the next one. Check the URL, the network and the proxy.").format(
                     url=self.base_url, request=what, error=type(exc).__name__)

    def _post_form(self, url: str, fields: dict[str, str], client_id: str, secret: str) -> tuple[int, Any]:
        """One token request (client authentication by HTTP Basic, RFC 6749 2.3.1), through the same
        TLS, proxy and bounds as the SCIM requests; a dropped connection or a 5xx is sent again."""
        what = "POST " + url
        # RFC 6749 2.3.1: the id and the secret form-encoded, then Basic.
        basic = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()
        register_secret(basic)
        headers = {"Accept": "application/json", "Authorization": f"Basic {basic}"}
        failures = 0
        while True:
            if self._stop.is_set():
                raise TargetStopped(_("the SCIM target was closed during {request}").format(request=what))
            try:
                answer, _headers = self._exchange(self._http.build_request("POST", url, data=fields, headers=headers),
                                                  MAX_TOKEN_ANSWER_BYTES)
            except _TRANSPORT_ERRORS as exc:
                failures += 1
                self._failed(exc, what, url, failures, _(
                    "The OAuth2 token endpoint {url} did not answer ({error}); the run stops and the rest is sent "
                    "on the next one. Check the token URL, the network and the proxy.").format(
                        url=url, error=type(exc).__name__))
                continue
            if answer.status in RETRIED_STATUSES and failures < self.retries:
                failures += 1
                self._back_off(failures, what, f"HTTP {answer.status}")
                continue
            return answer.status, answer.body

    def _send(self, method: str, path: str, body: Any, params: dict | None,
              auth: str | None = None) -> tuple[Answer, httpx.Headers]:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": CONTENT_TYPE} if content is not None else {}
        if auth is not None:
            headers["Authorization"] = auth
        request = self._http.build_request(method, self.base_url + path, content=content, headers=headers,
                                           params=params)
        return self._exchange(request, MAX_ANSWER_BYTES)

    def _exchange(self, request: httpx.Request, cap: int) -> tuple[Answer, httpx.Headers]:
        """One request and its answer, read within ``cap`` bytes and the request's deadline."""
        try:
            with bounded_http.budget(REQUEST_SECONDS, self._stop):
                response = self._http.send(request, stream=True)
                try:
                    raw = bounded_http.read_body(response, cap)
                finally:
                    response.close()
        except _TRANSPORT_ERRORS as exc:
            if not (isinstance(exc, bounded_http.Cut) and exc.why == "stopped"):
                telemetry.request("scim", None)
            raise
        telemetry.request("scim", response.status_code)
        parsed = None
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None  # a proxy's HTML page: the status says enough
        return Answer(response.status_code, parsed), response.headers


"""Why a request to Identity failed, in words an admin can act on: below HTTP (DNS, TCP, TLS,
the proxy) and at HTTP (the status and its problem details). A mixin of the client: it reads
the client's host, proxy and secrets to name the right one and to keep the secrets out.
"""

from __future__ import annotations

import json
import re
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from smartsync_tui.core.text import printable
from smartsync_tui.i18n import _, ngettext
from smartsync_tui.targets.identity.errors import (
    AgentKeyRejected,
    IdentityError,
    IdentityProtocolError,
    IdentityServerError,
    IdentityThrottled,
    IdentityTlsError,
    IdentityUnreachable,
    TokenRejected,
)
from smartsync_tui.targets.identity.network import ProxyChoice, _Answer, _chain, _figure

if TYPE_CHECKING:
    # httpx (~50 ms to import, its CLI's click and pygments included) is imported by the
    # methods that use it: importing this module (the console's first screen does) needs none.
    import httpx


class Diagnosis:
    """The client's failure wording (targets/identity/client.py's IdentityClient)."""

    # What the client sets and this wording reads.
    base_url: str
    host: str
    proxy: ProxyChoice
    timeout: float

    def _scrub(self, text: str, limit: int = 300) -> str:
        raise NotImplementedError  # the client's: it knows the secrets to mask

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

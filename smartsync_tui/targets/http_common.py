"""What every HTTP target shares (Identity's client, the SCIM client): the proxy choice built from
the settings, the TLS trust store, ``Retry-After``, and an exception's chain of causes."""

from __future__ import annotations

import email.utils
import functools
import re
import ssl
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY, SecretStore
from smartsync_tui.config.settings import AppSettings
from smartsync_tui.core.errors import InputError
from smartsync_tui.i18n import _

_MASK = "***"


@dataclass(frozen=True, repr=False)
class ProxyChoice:
    """How to reach a target (Identity, a SCIM provider): the system's proxy settings, a given proxy, or directly.

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


def proxy_choice(settings: AppSettings, secrets: SecretStore) -> ProxyChoice:
    """The agent's proxy settings as a ProxyChoice (a manual proxy's password from the secret store)."""
    proxy = settings.proxy
    if proxy.mode != "manual":
        return ProxyChoice(proxy.mode)
    credentials = ""
    if proxy.user:
        password = secrets.get(PROXY_PASSWORD_KEY)
        secret = f":{quote(password.get_secret_value(), safe='')}" if password else ""
        credentials = f"{quote(proxy.user, safe='')}{secret}@"
    return ProxyChoice("manual", f"http://{credentials}{proxy.host}:{proxy.port}")


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
def default_ssl_context() -> ssl.SSLContext:
    """The system's trust store (honours SSL_CERT_FILE / SSL_CERT_DIR) plus the Mozilla bundle."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):  # the system store alone is still a verifying store
        pass
    return context


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first (each once)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen

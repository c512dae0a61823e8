"""The browser console's login: one secret token per `smartsync-tui web`.

Loopback TCP is shared by every account on the host, so the port alone says
nothing about who connects: a second local user's websocket client (no Origin
header, no browser) could otherwise drive the admin's console. Every request
(the page, ``/ws``, static files, downloads) therefore carries a secret:

- the **token**: random per start (``secrets.token_urlsafe``), or the one kept
  in the secret store under :data:`WEB_TOKEN_KEY` (``web --token-stdin``);
  ``web`` prints the URL with it once, as Jupyter does;
- ``GET /?token=...`` trades it for an HttpOnly, SameSite=Strict **cookie**
  and redirects to the URL without it, so the token leaves the address bar
  and the history. The cookie is its issue time and an HMAC of it under a key
  made for this start: it ends after :data:`COOKIE_HOURS` and with the start
  (browsers send cookies to every port of a host, so one may be seen by another
  local program: it must not outlive the session it was made for).

Anything else gets 403 and a page that says how to get in. Comparisons are
constant-time; the token is registered with the log redactor the moment it is
made or read, so no log line (ours, aiohttp's, textual-serve's) can carry it.
Nothing here imports aiohttp: the handlers in :mod:`web_cmd` pass plain values.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from smartsync_tui.cli.output import CliError
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.i18n import _, current_language, ngettext

# Beside the directory secrets in secrets.json (config/secret_store.py).
WEB_TOKEN_KEY = "web/token"
COOKIE_NAME = "smartsync_web"
QUERY_NAME = "token"
# A stored token shorter than this is guessable; token_urlsafe(32) gives 43 characters.
MIN_TOKEN_LENGTH = 24
_TOKEN_BYTES = 32
#: How long a cookie lets the browser in; then the printed address is needed again.
COOKIE_HOURS = 12


@dataclass(frozen=True, repr=False)  # repr=False: a stray print or traceback never shows it
class WebLogin:
    token: str
    stored: bool  # from the secret store (stays across restarts) or made for this start
    # Signs this start's cookies: a restart ends every cookie, whether the token is stored or not.
    cookie_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def _signature(self, issued: int) -> str:
        return hmac.new(self.cookie_key, f"{issued}".encode(), hashlib.sha256).hexdigest()

    def cookie_for(self, issued: float) -> str:
        return f"{int(issued)}.{self._signature(int(issued))}"

    @property
    def cookie_value(self) -> str:
        """A cookie issued now."""
        return self.cookie_for(time.time())

    def token_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def cookie_ok(self, candidate: str | None, *, now: float | None = None) -> bool:
        """Signed by this start, and issued less than COOKIE_HOURS ago."""
        if candidate is None or candidate.count(".") != 1:
            return False
        issued_text, signature = candidate.split(".")
        if not (issued_text.isascii() and issued_text.isdigit()) or len(issued_text) > 12:
            return False
        if not hmac.compare_digest(signature.encode(), self._signature(int(issued_text)).encode()):
            return False
        age = (time.time() if now is None else now) - int(issued_text)
        return -60 <= age <= COOKIE_HOURS * 3600

    def login_url(self, base: str) -> str:
        return f"{base}/?{urlencode({QUERY_NAME: self.token})}"


def check_token_text(token: str) -> str | None:
    """Why a token given to ``--token-stdin`` is refused, or None."""
    if len(token) < MIN_TOKEN_LENGTH:
        return ngettext("the web token is {length} character long: give at least {least} "
                        "(e.g. from `openssl rand -hex 32`)",
                        "the web token is {length} characters long: give at least {least} "
                        "(e.g. from `openssl rand -hex 32`)", len(token)).format(length=len(token), least=MIN_TOKEN_LENGTH)
    if not all(c.isascii() and (c.isalnum() or c in "-_.~") for c in token):
        return _("the web token may hold only letters, digits and - _ . ~ (it is part of a URL)")
    return None


def load_login(store: SecretStore) -> WebLogin:
    """The stored token if there is one, else a new random token for this start (never stored)."""
    stored = store.get(WEB_TOKEN_KEY)
    if stored is not None:
        problem = check_token_text(stored.get_secret_value())
        if problem:
            raise CliError(_("{file}: {key}: {problem}; set another with "
                             "`smartsync-tui web --token-stdin`").format(file=store.path, key=WEB_TOKEN_KEY, problem=problem),
                           kind="settings")
        return WebLogin(stored.get_secret_value(), stored=True)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    register_secret(token)
    return WebLogin(token, stored=False)


def cookie_header(login: WebLogin, *, secure: bool) -> str:
    """The Set-Cookie value: the browser sends it back on this site only, never to a script."""
    attributes = [f"{COOKIE_NAME}={login.cookie_value}", "Path=/", "HttpOnly", "SameSite=Strict",
                  f"Max-Age={COOKIE_HOURS * 3600}"]
    if secure:  # behind a TLS reverse proxy: never sent over plain http
        attributes.append("Secure")
    return "; ".join(attributes)


def page(title: str, *paragraphs: str) -> str:
    """A small self-contained HTML page (no script, nothing fetched from elsewhere)."""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    language = current_language().replace("_", "-")  # pt-BR: what a browser and a screen reader expect
    return (
        f"<!DOCTYPE html>\n<html lang=\"{language}\"><head><meta charset=\"utf-8\"><title>smartsync-tui: "
        f"{html.escape(title)}</title></head>\n<body style=\"font-family: sans-serif; max-width: 44em; "
        f"margin: 3em auto\">\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def login_needed_page() -> str:
    """The page of a request without the login, in the language of this `smartsync-tui web`."""
    return page(
        _("This console needs its login link"),
        _("Open the address that `smartsync-tui web` printed when it started, the one that ends in "
          "/?token=... (the token is part of it). The browser then keeps the login "
          "for this site until it is closed."),
        _("Lost it? Stop `smartsync-tui web` and start it again: it prints a new address. "
          "A token kept with `smartsync-tui web --token-stdin` stays the same across restarts."),
    )

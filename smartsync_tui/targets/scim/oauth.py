"""OAuth2 client credentials (RFC 6749 section 4.4) for a SCIM provider that takes no static token.

The client secret is the directory's target secret (``directory/<id>/token``); the access token
it buys is kept in memory only, shared by the engine's threads (one fetch at a time, the others
wait for it), and bought again a minute before it expires, or at once when the provider answers
401 with it. Nothing of the token endpoint's answer reaches a message but the RFC's ``error`` and
``error_description`` (bounded, printable); every access token is registered for redaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from smartsync_tui.core.redaction import register_secret
from smartsync_tui.core.text import printable
from smartsync_tui.i18n import _
from smartsync_tui.targets.base import TargetCredentialsRejected, TargetUnavailable

#: A token endpoint's answer is a few hundred bytes; larger is not one.
MAX_TOKEN_ANSWER_BYTES = 64 * 1024
#: Bought again this long before the end of its lifetime (at most a tenth of it).
RENEW_BEFORE_SECONDS = 60.0
#: The RFC's errors that say the client's credentials are wrong (sending again cannot succeed).
_REFUSED = frozenset({"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope",
                      "unsupported_grant_type"})

#: One POST to the token endpoint: (url, form fields, client id, secret) -> (status, parsed JSON or
#: None); raises what ScimClient's transport raises (retried by the caller).
Post = Callable[[str, dict[str, str], str, str], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Grant:
    token_url: str
    client_id: str
    secret: SecretStr
    scope: str | None = None


class ClientCredentials:
    def __init__(self, grant: Grant, post: Post, *, directory_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.grant = grant
        self._post = post
        self._directory_id = directory_id
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        register_secret(grant.secret.get_secret_value())

    def header(self) -> str:
        """``Bearer <access token>``, bought when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, self._renew_at = self._buy()
            return f"Bearer {self._token}"

    def refused(self, header: str) -> None:
        """The provider answered 401 to ``header``: the next header() buys a new token (once per
        token: the threads that got 401 with the same one do not each buy one)."""
        with self._lock:
            if self._token is not None and header == f"Bearer {self._token}":
                self._token = None

    def _buy(self) -> tuple[str, float]:
        fields = {"grant_type": "client_credentials"}
        if self.grant.scope:
            fields["scope"] = self.grant.scope
        status, body = self._post(self.grant.token_url, fields, self.grant.client_id,
                                  self.grant.secret.get_secret_value())
        if status == 200 and isinstance(body, dict):
            token, kind, lifetime = body.get("access_token"), body.get("token_type"), body.get("expires_in", 3600)
            if isinstance(token, str) and token and len(token) <= 16384 and token.isprintable() \
                    and isinstance(kind, str) and kind.lower() == "bearer":
                register_secret(token)
                if isinstance(lifetime, str) and lifetime.isdigit():
                    lifetime = int(lifetime)
                if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or not 0 < lifetime < 10**8:
                    lifetime = 3600  # absent or unreadable: the RFC's "recommended" hour
                return token, self._clock() + lifetime - min(RENEW_BEFORE_SECONDS, lifetime / 10)
            raise TargetUnavailable(_(
                "The OAuth2 token endpoint {url} answered without a usable bearer access token; check that it is the "
                "token URL of the SCIM provider's client.").format(url=self.grant.token_url), kind="scim-oauth")
        error = body.get("error") if isinstance(body, dict) else None
        if status in (400, 401, 403) and (error in _REFUSED or error is None):
            description = body.get("error_description") if isinstance(body, dict) else None
            said = printable(" ".join(str(p) for p in (error, description) if p) or f"HTTP {status}", 200)
            raise TargetCredentialsRejected(_(
                "The OAuth2 token endpoint refused the client {client} of directory {id} ({said}): check the client "
                "id (`smartsync-tui directory edit {id} --client-id ID`) and enter its secret with "
                "`smartsync-tui directory edit {id} --token-stdin`.").format(
                    client=printable(self.grant.client_id, 120), id=self._directory_id, said=said),
                kind="scim-token-rejected")
        raise TargetUnavailable(_("The OAuth2 token endpoint {url} answered HTTP {status}; the run stops and the rest "
                                  "is sent on the next one.").format(url=self.grant.token_url, status=status),
                                kind="scim-oauth")


__all__ = ["ClientCredentials", "Grant", "MAX_TOKEN_ANSWER_BYTES"]

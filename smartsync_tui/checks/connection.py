"""Testing the way to Identity and saving the proxy: one place for the CLI
(`identity test`, `proxy test`, `proxy set`) and the console's Home tab."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY, SecretStore
from smartsync_tui.config.settings import AppSettings, IdentitySettings, ProxySettings, proxy_password_moves
from smartsync_tui.i18n import _, number

log = logging.getLogger("smartsync.connection")


@dataclass(frozen=True)
class IdentityCheck:
    """The answer to "does Identity at ``url`` answer?": the time it took, or why not."""

    url: str
    ok: bool
    ms: int | None = None
    error: str | None = None
    kind: str | None = None
    proxy: str = "system"


def environments(settings: AppSettings) -> list[IdentitySettings]:
    """Each Identity environment the directories point to.

    Every directory syncs to the one configured environment today; a
    per-directory environment would add its own entries here.
    """
    return [settings.identity]


class _TypedProxyPassword:
    """The secret store, except for a proxy password typed but not saved yet."""

    def __init__(self, secrets: SecretStore, password: SecretStr | None) -> None:
        self._secrets = secrets
        self._password = password

    def get(self, key: str) -> SecretStr | None:
        if key == PROXY_PASSWORD_KEY and self._password is not None:
            return self._password
        return self._secrets.get(key)


def check_identity(
    settings: AppSettings,
    secrets: SecretStore,
    *,
    identity: IdentitySettings | None = None,
    proxy: ProxySettings | None = None,
    proxy_password: SecretStr | None = None,
) -> IdentityCheck:
    """Ping Identity once, through the proxy, and time it; never raises a UserError.

    ``identity``, ``proxy`` and ``proxy_password`` test values typed but not
    saved yet (the console's dialogs); by default the saved ones are used.
    The outcome goes to the application log (a connection test is one of its events).
    """
    # Imported here: the Identity client (and httpx, cryptography) loads when a check runs,
    # not with the console's first screen.
    from smartsync_tui.targets.identity.access import identity_client

    effective = settings.model_copy(
        update={"identity": identity or settings.identity, "proxy": proxy or settings.proxy}
    )
    url = effective.identity.base_url
    started = time.monotonic()
    try:
        with identity_client(effective, _TypedProxyPassword(secrets, proxy_password), max_retries=1) as client:  # type: ignore[arg-type]
            client.ping()
    except UserError as exc:
        log.warning(_("identity test failed: {url} (proxy: {proxy}): {error}").format(
            url=url, proxy=effective.proxy.mode, error=exc))
        return IdentityCheck(url, False, error=str(exc), kind=exc.kind, proxy=effective.proxy.mode)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    log.info(_("identity test ok: {url} in {ms} ms (proxy: {proxy})").format(
        url=url, ms=number(elapsed_ms), proxy=effective.proxy.mode))
    return IdentityCheck(url, True, ms=elapsed_ms, proxy=effective.proxy.mode)


def save_proxy(
    secrets: SecretStore, proxy: ProxySettings, password: SecretStr | None, save: Callable[[], None],
    *, previous: ProxySettings | None = None,
) -> None:
    """Save a proxy choice with ``save()`` and keep its password in the secret store.

    A new password is stored before the settings (a saved user whose password
    is missing would fail every request); ``password=None`` for a manual proxy
    with a user keeps the stored one, but only for the proxy and user it was
    given for (``previous``): for another host, port or user it is refused
    before anything is saved. A proxy without a user needs no password: the
    stored one is removed once the settings no longer name a user.
    """
    needs_password = proxy.mode == "manual" and bool(proxy.user)
    if needs_password and password is None and previous is not None and proxy_password_moves(previous, proxy):
        raise InputError(
            "proxy_password",
            _("the proxy's host, port or user changed: type the password of {user} again (the stored one "
              "only goes to the proxy and user it was given for). Nothing was saved.").format(user=proxy.user),
        )
    if needs_password and password is not None:
        secrets.set(PROXY_PASSWORD_KEY, password)
    save()
    if not needs_password:
        secrets.delete_prefix(PROXY_PASSWORD_KEY)

"""Adding or changing a directory once its check passed, and the pieces the
console's wizard needs around it (shared by the CLI and the console).

The rule both follow: settings and secrets change together or not at all. A
check runs before anything is stored, so values typed but not yet saved (a
new proxy password) are seen through :class:`PendingSecrets`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import SecretStr

from smartsync_tui.checks.directory import store_directory_secrets
from smartsync_tui.core.errors import UserError
from smartsync_tui.config.secret_store import (
    PROXY_PASSWORD_KEY,
    SecretStore,
    directory_agent_key,
)
from smartsync_tui.config.settings import AppSettings, DirectorySettings
from smartsync_tui.i18n import _

log = logging.getLogger("smartsync.directory")

#: ``proxy_password`` value of :func:`save_checked_directory` that leaves the stored one alone.
KEEP = object()


class PendingSecrets:
    """A secret store as it will be once ``pending`` is saved (for checks before saving).

    Reads see ``pending`` first (``None`` there means "absent"); nothing is
    ever written through it.
    """

    def __init__(self, store: SecretStore, pending: dict[str, SecretStr | None]) -> None:
        self.store = store
        self.pending = dict(pending)

    def get(self, key: str) -> SecretStr | None:
        if key in self.pending:
            return self.pending[key]
        return self.store.get(key)


def unique_directory_id(settings: AppSettings, base_dn: str) -> str:
    """A new directory's id from its base DN, with a suffix when that id is taken."""
    stem = settings.new_directory_id(base_dn)
    candidate, n = stem, 2
    while settings.directory(candidate) is not None:
        suffix = f"-{n}"
        candidate = stem[: 63 - len(suffix)] + suffix
        n += 1
    return candidate


def save_checked_directory(
    settings: AppSettings,
    secrets: SecretStore,
    directory: DirectorySettings,
    *,
    password: SecretStr | None,
    token: SecretStr | None,
    save: Callable[[], None],
    proxy_password: object = KEEP,
) -> None:
    """After a passing check: store the secrets, then ``save()`` the settings.

    ``settings`` are the effective ones the check ran with (they say which
    Identity to register with and through which proxy). ``password`` and
    ``token`` are None to keep the stored ones. ``proxy_password`` is a
    SecretStr to store, None to delete the stored one, or KEEP. If anything
    fails (registering with Identity, writing, ``save()``), every secret
    touched is put back as it was and the error is raised again.
    """
    prefixes = [f"directory/{directory.id}/"]
    if proxy_password is not KEEP:
        prefixes.append(PROXY_PASSWORD_KEY)
    before = {prefix: secrets.snapshot(prefix) for prefix in prefixes}
    try:
        if isinstance(proxy_password, SecretStr):
            secrets.set(PROXY_PASSWORD_KEY, proxy_password)
        elif proxy_password is None:
            secrets.delete_prefix(PROXY_PASSWORD_KEY)
        store_directory_secrets(settings, secrets, directory, password, token)
        save()
    except BaseException:
        for prefix, snapshot in before.items():
            secrets.restore(prefix, snapshot)
        if token is not None:
            _publish_restored_key(settings, secrets, directory.id)
        raise


def _publish_restored_key(settings: AppSettings, secrets: SecretStore, directory_id: str) -> None:
    """Best effort, after a rollback: Identity encrypts login checks to the key published last,
    which may be the new one just thrown away; publish the restored one again."""
    from smartsync_tui.targets.identity import agent_keys  # with the key code, only when needed
    from smartsync_tui.targets.identity.access import identity_client

    stored = secrets.get(agent_keys.directory_private_key(directory_id))
    if stored is None or secrets.get(directory_agent_key(directory_id)) is None:
        return
    try:
        with identity_client(settings, secrets, directory_id=directory_id, max_retries=1) as client:
            client.put_public_key(agent_keys.PrivateKey(stored).public_pem, agent_keys.ALGORITHM)
    except Exception as exc:  # the loop publishes it again at its next reconnection
        log.warning(_("directory {id}: the previous public key could not be published again: {error}").format(
            id=directory_id, error=exc if isinstance(exc, UserError) else type(exc).__name__))

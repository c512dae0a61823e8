"""The whole check of a directory before it is saved: the AD side (bind,
base DN, what the account can read) and the Identity side (the token).
Shared by `directory add|edit|test` and the console's wizard."""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from smartsync_tui.core.errors import UserError
from smartsync_tui.config.secret_store import (
    SecretStore,
    directory_agent_key,
    directory_password_key,
    directory_token_key,
)
from smartsync_tui.config.settings import SCIM_TARGET_NAME, AppSettings, DirectorySettings
from smartsync_tui.i18n import _

if TYPE_CHECKING:
    from smartsync_tui.ad.directory_test import DirectoryTestReport
    from smartsync_tui.targets.identity.network import DirectoryRecord
    from smartsync_tui.targets.scim.check import ScimReport

#: Seconds each step of the AD side may wait (connect, TLS, bind): a DC that accepts and
#: never answers is reported after this long. Tests make it short.
CHECK_TIMEOUT_SECONDS = 10.0


@dataclass
class DirectoryCheck:
    ldap: DirectoryTestReport
    identity: DirectoryRecord | None
    identity_error: UserError | None
    #: A directory whose target is SCIM: its endpoint's check (identity and identity_error are None).
    scim: ScimReport | None = None

    @property
    def ok(self) -> bool:
        if self.scim is not None:
            return self.ldap.ok and self.scim.ok
        return self.ldap.ok and self.identity_error is None

    def problems(self) -> list[str]:
        found = []
        if not self.ldap.ok:
            found.append(_("Active Directory: {problem}").format(problem=self.ldap.message))
        if self.scim is not None and self.scim.error is not None:
            found.append(_("SCIM: {problem}").format(problem=self.scim.error))
        if self.identity_error is not None:
            found.append(_("Identity: {problem}").format(problem=self.identity_error))
        return found

    def report_lines(self) -> list[str]:
        ldap_lines = self.ldap.lines()
        if not self.ldap.ok and ldap_lines and ldap_lines[-1] == self.ldap.message:
            ldap_lines = ldap_lines[:-1]  # the failed step already says it
        lines = [_("Active Directory:")]
        lines.extend(f"  {line}" for line in ldap_lines if line)
        if self.scim is not None:
            if self.scim.ok:
                lines.append(_("SCIM:"))
                lines.extend(f"  {line}" for line in self.scim.lines)
            else:
                lines.append(_("SCIM: {problem}").format(problem=self.scim.error))
        elif self.identity is not None:
            lines.append(_("Identity: the token is valid for directory '{name}' ({id}).").format(
                name=self.identity.name, id=self.identity.id))
        else:
            lines.append(_("Identity: {problem}").format(problem=self.identity_error))
        return lines

    def as_dict(self) -> dict:
        ldap = asdict(self.ldap)
        if self.scim is not None:
            return {"ok": self.ok, "ldap": ldap, "scim": self.scim.as_dict()}
        return {
            "ok": self.ok,
            "ldap": ldap,
            "identity": (
                {"ok": True, "directory_id": self.identity.id, "name": self.identity.name,
                 "user_filter": self.identity.user_filter, "group_filter": self.identity.group_filter}
                if self.identity is not None
                else {"ok": False, "error": str(self.identity_error), "kind": self.identity_error.kind}
            ),
        }


def check_directory(
    settings: AppSettings,
    secrets: SecretStore,
    directory: DirectorySettings,
    password: SecretStr,
    token: SecretStr,
) -> DirectoryCheck:
    """Both checks always run, so the admin learns everything wrong at once.

    Identity is asked first: its directory record carries the user and group
    filters, which the AD test then samples with (unless overridden locally).
    """
    # Imported here: the Identity client, the AD source and the key code load when a check
    # runs, not with the console's first screen.
    from smartsync_tui.ad.directory_test import test_directory
    from smartsync_tui.targets.identity.access import identity_client

    if directory.target == SCIM_TARGET_NAME:
        from smartsync_tui.targets.scim.check import check_endpoint

        scim = check_endpoint(settings, secrets, directory, token)
        return DirectoryCheck(ldap=test_directory(directory, password, timeout=CHECK_TIMEOUT_SECONDS),
                              identity=None, identity_error=None, scim=scim)

    record: DirectoryRecord | None = None
    error: UserError | None = None
    try:
        with identity_client(settings, secrets, token=token, max_retries=2) as client:
            record = client.get_directory()
    except UserError as exc:
        error = exc
    probed = directory
    if record is not None:
        probed = directory.model_copy(
            update={
                "user_filter": directory.user_filter or record.user_filter,
                "group_filter": directory.group_filter or record.group_filter,
            }
        )
    return DirectoryCheck(
        ldap=test_directory(probed, password, timeout=CHECK_TIMEOUT_SECONDS), identity=record, identity_error=error
    )


def store_directory_secrets(
    settings: AppSettings,
    secrets: SecretStore,
    directory: DirectorySettings,
    password: SecretStr | None,
    token: SecretStr | None,
) -> None:
    """After a passing check: store the secrets that changed.

    A new token registers this agent with Identity again, which issues the
    agent key that goes with it, and rotates the key pair login checks are
    encrypted to (the new public key is published before anything is
    stored: a failure leaves the previous secrets whole). ``settings`` are
    the effective ones (they say which Identity to talk to).
    """
    values: dict[str, SecretStr] = {}
    if password is not None:
        values[directory_password_key(directory.id)] = password
    if token is not None and directory.target == SCIM_TARGET_NAME:
        values[directory_token_key(directory.id)] = token  # a bearer token: nothing to register
    elif token is not None:
        from smartsync_tui.targets.identity import agent_keys
        from smartsync_tui.targets.identity.access import identity_client

        pair = agent_keys.new_key_pair()
        with identity_client(settings, secrets, token=token) as client:
            _agent_id, agent_key = client.register_agent(socket.gethostname())
            client.put_public_key(pair.public_pem, agent_keys.ALGORITHM)
        values[directory_token_key(directory.id)] = token
        values[directory_agent_key(directory.id)] = agent_key
        values[agent_keys.directory_private_key(directory.id)] = pair.private_pem
    if values:
        secrets.set_many(values)

"""What a change of the Identity environment may do (docs/security.md), for the CLI and the console.

- Plain http only to a loopback host (an emulator on this machine): over http
  the directory token and the agent key travel in clear, and whoever is on the
  path can queue login checks and read their answers (a password oracle). The
  CLI allows it elsewhere only with an explicit ``--insecure-http``.
- The stored credentials never follow a changed destination: when the
  protocol or the host changes, every directory's token and agent key are
  removed before the new environment is saved, so no request can carry them
  there; the admin gives each directory the token of the new environment.

An appsettings.json that already says http to another host keeps working (a
running agent is not stopped by an upgrade): the Identity client warns in the
log once per process (targets/identity/client.py).
"""

from __future__ import annotations

from smartsync_tui.config.secret_store import SecretStore, directory_agent_key, directory_token_key
from smartsync_tui.config.settings import AppSettings, IdentitySettings
from smartsync_tui.config.validation import is_loopback_host


def environment_host(identity: IdentitySettings) -> str:
    """The host of ``environment`` (which may end in ``:port``)."""
    host, sep, port = identity.environment.rpartition(":")
    return host if sep and port.isdigit() else identity.environment


def is_plain_http_elsewhere(identity: IdentitySettings) -> bool:
    """http to a host that is not loopback: the token and the agent key would cross the network in clear."""
    return identity.protocol == "http" and not is_loopback_host(environment_host(identity))


def same_destination(old: IdentitySettings, new: IdentitySettings) -> bool:
    return (old.protocol, old.environment.lower()) == (new.protocol, new.environment.lower())


def forget_credentials(settings: AppSettings, secrets: SecretStore, new: IdentitySettings) -> list[str]:
    """Before ``new`` replaces ``settings.identity``: remove the tokens and agent keys it must not receive.

    Returns the ids of the directories that had one (none when the destination
    is the same). Call it before saving: a running engine that re-reads the
    settings must find no credential to send to the new host.
    """
    if same_destination(settings.identity, new):
        return []
    dropped = []
    for directory in settings.directories:
        keys = (directory_token_key(directory.id), directory_agent_key(directory.id))
        if any(secrets.get(key) is not None for key in keys):
            for key in keys:
                secrets.delete_prefix(key)
            dropped.append(directory.id)
    return dropped

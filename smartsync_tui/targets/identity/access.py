"""Building Identity clients from settings and secrets (one place for the CLI,
the console and the engine)."""

from __future__ import annotations


from pydantic import SecretStr

from smartsync_tui.targets.identity.client import IdentityClient

from smartsync_tui.targets.http_common import proxy_choice
from smartsync_tui.config.secret_store import (
    SecretStore,
    directory_agent_key,
    directory_token_key,
)
from smartsync_tui.config.settings import AppSettings


def identity_client(
    settings: AppSettings,
    secrets: SecretStore,
    *,
    directory_id: str | None = None,
    token: SecretStr | None = None,
    **options: object,
) -> IdentityClient:
    """A client for the configured environment; with a directory, authenticated as its agent."""
    agent_key = None
    if directory_id is not None:
        token = token or secrets.get(directory_token_key(directory_id))
        agent_key = secrets.get(directory_agent_key(directory_id))
    return IdentityClient(
        settings.identity.base_url,
        token=token,
        agent_key=agent_key,
        proxy=proxy_choice(settings, secrets),
        verify=settings.identity.ca_file or True,
        **options,  # type: ignore[arg-type]
    )

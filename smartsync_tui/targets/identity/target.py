"""TOTVS Identity as a sync target: the agent API's batch upserts behind the target
contract (targets/base.py), with Identity's errors translated at this boundary.

Identity keeps each directory's user and group filters (the target's scope) and requires
a first name, a last name and an e-mail for every user (its refusal rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from pydantic import SecretStr

from smartsync_tui.targets.identity.access import identity_client
from smartsync_tui.targets.identity.client import IdentityClient
from smartsync_tui.targets.identity.errors import AgentKeyRejected, IdentityError, IdentityRequestStopped, IdentityUnreachable, TokenRejected
from smartsync_tui.core.remedy import SecretMissing
from smartsync_tui.config.secret_store import directory_agent_key, directory_token_key
from smartsync_tui.i18n import _
from smartsync_tui.targets.base import (
    NO_REMOTE_IDS,
    NOTHING_KNOWN,
    BatchRefused,
    ItemResult,
    Known,
    Target,
    TargetCredentialsRejected,
    TargetScope,
    TargetStopped,
    TargetUnavailable,
)
from smartsync_tui.targets.registry import TargetContext

# The payload fields Identity requires of a user, by the AD attribute an admin fixes.
REQUIRED_USER_FIELDS = (("first_name", "givenName"), ("last_name", "sn"), ("email", "mail"))


def refusal(kind: str, payload: dict) -> str | None:
    """Why Identity would refuse this object (a user without a first name, last name or e-mail)."""
    if kind != "user":
        return None
    missing = [attribute for field, attribute in REQUIRED_USER_FIELDS if not payload.get(field)]
    if not missing:
        return None
    # Not translated here: stored with the skipped object and translated when shown (details.py).
    return f"missing {', '.join(missing)} (Identity requires first name, last name and e-mail)"


@contextmanager
def translated() -> Iterator[None]:
    """Identity's errors as the contract's, message and kind kept (as httpx maps httpcore's)."""
    try:
        yield
    except IdentityRequestStopped as exc:
        raise TargetStopped(str(exc), kind=exc.kind) from exc
    except (TokenRejected, AgentKeyRejected) as exc:
        raise TargetCredentialsRejected(str(exc), kind=exc.kind) from exc
    except IdentityUnreachable as exc:
        raise TargetUnavailable(str(exc), kind=exc.kind) from exc
    except IdentityError as exc:
        raise BatchRefused(str(exc), kind=exc.kind) from exc


def _results(answers: list[dict]) -> list[ItemResult]:
    return [
        ItemResult(
            str(answer.get("external_id")), answer.get("id"),
            None if answer.get("status") != "failed" else answer.get("detail") or _("Identity refused it"),
        )
        for answer in answers
    ]


class IdentityTarget(Target):
    name = "identity"
    display_name = "Identity"  # the product's name, in every language

    def __init__(self, client: IdentityClient) -> None:
        self.client = client

    def apply_users(self, users: Sequence[dict], known: Mapping[str, Known] = NOTHING_KNOWN,
                    remote_ids: Mapping[str, str] = NO_REMOTE_IDS) -> list[ItemResult]:
        # An upsert by external id: what was applied before is not needed.
        with translated():
            return _results(self.client.upsert_users(list(users)))

    def apply_groups(self, groups: Sequence[dict], remote_ids: Mapping[str, str],
                     known: Mapping[str, Known] = NOTHING_KNOWN) -> list[ItemResult]:
        # Identity resolves members by external id itself: the remote ids are not needed.
        with translated():
            return _results(self.client.upsert_groups(list(groups)))

    def scope(self) -> TargetScope:
        with translated():
            record = self.client.get_directory()
        return TargetScope(record.user_filter or None, record.group_filter or None)

    def refusal(self, kind: str, payload: dict) -> str | None:
        return refusal(kind, payload)

    def close(self) -> None:
        self.client.close()


def open_target(context: TargetContext, *, token: SecretStr | None = None) -> IdentityTarget:
    """The directory's Identity target, authenticated as its agent; says what to enter when the
    token or the agent key is missing (nothing is sent then)."""
    directory, secrets = context.directory, context.secrets
    if token is None and secrets.get(directory_token_key(directory.id)) is None:
        raise SecretMissing("token", directory.id, "token")  # type: ignore[arg-type]
    # The agent key comes with the token: entering the token again registers the agent again.
    if secrets.get(directory_agent_key(directory.id)) is None:
        raise SecretMissing("agent key", directory.id, "token")  # type: ignore[arg-type]
    return IdentityTarget(identity_client(context.settings, secrets, directory_id=directory.id, token=token))


__all__ = ["IdentityTarget", "open_target", "refusal", "translated"]

"""AD objects -> what Identity receives (agent API v1 fields).

Decisions (docs/sync.md): the login is the userPrincipalName when the user has
one (unique in the forest, what users type), else the sAMAccountName; a user the
target cannot take is skipped with the target's reason (Identity: one without
givenName, sn or mail; Target.refusal in targets/identity/target.py); ``active`` is the
opposite of userAccountControl's ACCOUNTDISABLE bit.
"""

from __future__ import annotations

import hashlib
import json

from smartsync_tui.ad.records import AdGroup, AdUser


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def user_payload(user: AdUser) -> dict:
    """What the engine sends for ``user`` (a target may still refuse it: Target.refusal)."""
    return {
        "external_id": user.guid,
        "login": _clean(user.user_principal_name) or user.sam_account_name,
        "first_name": _clean(user.given_name),
        "last_name": _clean(user.sn),
        "email": _clean(user.mail),
        "display_name": _clean(user.display_name),
        "job_title": _clean(user.title),
        "department": _clean(user.department),
        "active": not user.disabled,
    }


def group_payload(group: AdGroup, member_guids: list[str]) -> dict:
    return {
        "external_id": group.guid,
        "name": group.name,
        "description": _clean(group.description),
        "members": sorted(set(member_guids)),
    }


def content_hash(payload: dict) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def field_changes(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """(field, old, new) for the dry-run's field-level diff."""
    return [(k, old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)]

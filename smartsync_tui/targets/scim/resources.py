"""The engine's payloads as SCIM resources (RFC 7643), and the PATCH that turns one into the next.

A user is handled as flat SCIM paths (``name.givenName``, the enterprise
extension's ``...:User:department``) so that a change is one ``replace`` or
``remove`` of exactly the paths that changed, and a whole resource (POST, PUT)
is the same paths nested. Decisions (docs/scim.md):

- ``userName`` is the directory's login (userPrincipalName, else sAMAccountName);
  ``externalId`` is the objectGUID: it is how the agent knows its own objects.
- ``displayName`` falls back to "given family", then to the login: several
  providers (AWS) refuse a user without one.
- One work e-mail, primary; a user without mail has no ``emails``.
- The enterprise extension's ``employeeNumber`` and ``department``, and its
  ``manager`` by the manager's SCIM id (left out until the manager has one).
- A directory's mapping (scim.mapping) adds paths (in the payload under the
  path itself) or gives one of the agent's paths another attribute (then in the
  engine's field for it: the preview names it as usual).
- A group is ``displayName``, ``externalId`` and ``members`` by SCIM id; AD's
  description has no place in SCIM's core Group and is not sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# The engine's user fields by the SCIM path they go to (e-mail and the display name are built).
USER_PATHS = {
    "login": "userName",
    "first_name": "name.givenName",
    "last_name": "name.familyName",
    "job_title": "title",
    "department": f"{ENTERPRISE_USER}:department",
    "employee_number": f"{ENTERPRISE_USER}:employeeNumber",
    "active": "active",
}
MANAGER_PATH = f"{ENTERPRISE_USER}:manager"
#: The payload's keys that are not SCIM paths: the engine's fields and its markers.
ENGINE_KEYS = frozenset(USER_PATHS) | {"external_id", "email", "display_name", "manager", "gone"}
#: A mapped path that is one of the agent's own (lower-cased: SCIM names are case-insensitive) -> the
#: engine's field that holds it.
FIELD_OF_PATH = {path.lower(): field for field, path in USER_PATHS.items()} | {"displayname": "display_name"}


def display_name(payload: Mapping) -> str:
    given = " ".join(p for p in (payload.get("first_name"), payload.get("last_name")) if p)
    return payload.get("display_name") or given or str(payload.get("login") or "")


def user_paths(payload: Mapping, remote_ids: Mapping[str, str] | None = None, *,
               enterprise: bool = True) -> dict[str, object]:
    """The user as SCIM path -> value; a path whose value is None is absent. ``remote_ids``: the
    SCIM ids of the users the payloads name as managers (a manager without one is left out).
    ``enterprise=False``: without the enterprise extension's paths (a provider that has none)."""
    flat: dict[str, object] = {path: payload.get(field) for field, path in USER_PATHS.items()}
    flat["displayName"] = display_name(payload)
    email = payload.get("email")
    flat["emails"] = [{"value": email, "type": "work", "primary": True}] if email else None
    flat["externalId"] = payload["external_id"]
    manager = (remote_ids or {}).get(payload.get("manager") or "")
    flat[MANAGER_PATH] = {"value": manager} if manager else None
    for key, value in payload.items():
        if key not in ENGINE_KEYS:
            flat[key] = value  # a path of the directory's mapping
    if not enterprise:
        flat = {path: value for path, value in flat.items() if not path.startswith(ENTERPRISE_USER + ":")}
    return flat


def _split(path: str) -> tuple[str | None, str]:
    """(schema URN or None for the core schema, attribute[.sub]) of a path."""
    if path.startswith("urn:"):
        urn, _sep, attribute = path.rpartition(":")
        return urn, attribute
    return None, path


def _nest(flat: Mapping[str, object]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        if value is None:
            continue
        urn, attribute = _split(path)
        where = out if urn is None else out.setdefault(urn, {})
        if "." in attribute:
            parent, child = attribute.split(".", 1)
            where.setdefault(parent, {})[child] = value
        else:
            where[attribute] = value
    return out


def user_from_paths(flat: Mapping[str, object]) -> dict:
    """A user resource from its SCIM paths (a path whose value is None is left out)."""
    body = _nest(flat)
    body["schemas"] = [CORE_USER] + sorted(key for key in body if key.startswith("urn:"))
    return body


def user_resource(payload: Mapping, remote_ids: Mapping[str, str] | None = None, *, enterprise: bool = True) -> dict:
    """The whole user, for a POST or a PUT."""
    return user_from_paths(user_paths(payload, remote_ids, enterprise=enterprise))


def user_operations(old: Mapping, new: Mapping, remote_ids: Mapping[str, str] | None = None, *,
                    enterprise: bool = True) -> list[dict]:
    """The PATCH operations that turn ``old`` into ``new``: only the paths that changed."""
    before = user_paths(old, remote_ids, enterprise=enterprise)
    after = user_paths(new, remote_ids, enterprise=enterprise)
    # A mapped path that is no longer mapped (or no longer has a value) is removed.
    after.update({path: None for path in before if path not in after})
    ops: list[dict] = []
    for path, value in after.items():
        if before.get(path) == value:
            continue
        if value is None:
            ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "replace", "path": path, "value": value})
    return ops


def patch_body(operations: Iterable[dict]) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def group_resource(payload: Mapping, member_ids: Iterable[str]) -> dict:
    return {
        "schemas": [CORE_GROUP],
        "externalId": payload["external_id"],
        "displayName": payload.get("name") or payload["external_id"],
        "members": [{"value": remote_id} for remote_id in member_ids],
    }


def member_operations(op: str, remote_ids: list[str], per_patch: int | None) -> list[list[dict]]:
    """``add`` or ``remove`` of these members, as the PATCH bodies' operations, ``per_patch`` members
    at most in each (the provider's limit); one list of operations per PATCH."""
    if not remote_ids:
        return []
    size = per_patch or len(remote_ids)
    chunks = [remote_ids[i:i + size] for i in range(0, len(remote_ids), size)]
    if op == "add":
        return [[{"op": "add", "path": "members", "value": [{"value": m} for m in chunk]}] for chunk in chunks]
    # Removal by filter (RFC 7644 3.5.2.2): what AWS and Entra take; one filter per member.
    # The id as a JSON string: a provider's id with a quote in it cannot widen the filter.
    return [[{"op": "remove", "path": f"members[value eq {json.dumps(m)}]"} for m in chunk] for chunk in chunks]

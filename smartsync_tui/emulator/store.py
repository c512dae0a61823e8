"""Persistence of the Identity emulator: one SQLite file (WAL) under its data dir.

What it keeps: directories (with the sha256 of their current token), agents
(with the sha256 of their api key and their public key), users, groups, group
members and commands. Secrets are never stored in the clear: a token or an api
key is shown once, when it is issued, and only its hash is written.

One connection, shared by the server's threads behind a lock. Every write
(a whole batch upsert included) is one transaction.

Why one module (~770 lines, a development tool): the emulator's one SQLite schema and
its queries, like the agent's state store.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from smartsync_tui.core.text import CONTROL

DEFAULT_USER_FILTER = "(&(objectClass=user)(objectCategory=person))"
DEFAULT_GROUP_FILTER = "(objectCategory=group)"

MAX_BATCH = 1000
MAX_GROUP_MEMBERS = 100_000
MAX_TEXT = 256
MAX_EMAIL = 320
MAX_DESCRIPTION = 1024
MAX_FILTER = 4096
COMMAND_LEASE_SECONDS = 15.0
MAX_COMMAND_TTL = 3600
DEFAULT_COMMAND_TTL = 60
MAX_COMMANDS_PER_POLL = 100

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")

USER_FIELDS = ("login", "first_name", "last_name", "email", "display_name", "job_title", "department", "active")
_USER_ALLOWED = frozenset(("external_id",) + USER_FIELDS)
_GROUP_ALLOWED = frozenset(("external_id", "name", "description", "members"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS directories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_filter TEXT NOT NULL,
    group_filter TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    token_issued_at REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    directory_id TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    public_key_algorithm TEXT,
    public_key_pem TEXT,
    public_key_updated_at REAL
);
CREATE TABLE IF NOT EXISTS users (
    directory_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    login TEXT NOT NULL,
    login_key TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT,
    job_title TEXT,
    department TEXT,
    active INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (directory_id, external_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_login ON users (directory_id, login_key);
CREATE TABLE IF NOT EXISTS groups (
    directory_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (directory_id, external_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
    directory_id TEXT NOT NULL,
    group_external_id TEXT NOT NULL,
    member_external_id TEXT NOT NULL,
    PRIMARY KEY (directory_id, group_external_id, member_external_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_members_member ON group_members (directory_id, member_external_id);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    delivered_at REAL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    leased_until REAL,
    result TEXT,
    completed_at REAL
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (directory_id, completed_at, created_at);
"""


def hash_secret(value: str) -> str:
    """sha256 of a token or api key; what the store keeps instead of the secret."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def iso(ts: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC with milliseconds (``2025-01-31T12:00:00.123Z``)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_token() -> str:
    return "idt_" + secrets.token_urlsafe(32)


def new_agent_key() -> str:
    return "iak_" + secrets.token_urlsafe(32)



def _validate_batch(
    items: list[Any], validate: Callable[[Any], tuple]
) -> tuple[list[dict | None], dict[str, tuple[int, tuple]]]:
    """Validate each item; failures get their result now, the rest are keyed by external_id."""
    results: list[dict | None] = [None] * len(items)
    valid: dict[str, tuple[int, tuple]] = {}
    for index, item in enumerate(items):
        try:
            row = validate(item)
        except ValueError as exc:
            results[index] = {"external_id": _echo_external_id(item), "id": None, "status": "failed", "detail": str(exc)}
            continue
        if row[0] in valid:
            results[index] = {
                "external_id": row[0],
                "id": None,
                "status": "failed",
                "detail": "external_id appears more than once in this batch",
            }
            continue
        valid[row[0]] = (index, row)
    return results, valid

class NotFound(Exception):
    """The object asked for does not exist (or belongs to another directory)."""


class Conflict(Exception):
    """The request contradicts the stored state (e.g. a second, different command result)."""


class Gone(Exception):
    """The object existed but can no longer be used (e.g. an expired command)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the directory the token belongs to, and the agent when a key was given."""

    directory_id: str
    agent_id: str | None = None


# --------------------------------------------------------------------------- validation


def _text(item: dict[str, Any], field: str, *, required: bool, limit: int = MAX_TEXT) -> str | None:
    """The value of a text field, or raise ValueError with the detail an agent gets back."""
    value = item.get(field)
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if required and not value.strip():
        raise ValueError(f"{field} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{field} is longer than {limit} characters")
    if CONTROL.search(value) and field != "description":
        raise ValueError(f"{field} contains control characters")
    return value


def _external_id(item: Any) -> str:
    value = item.get("external_id")
    if value is None:
        raise ValueError("external_id is required")
    if not isinstance(value, str) or not GUID_RE.match(value):
        raise ValueError("external_id must be an objectGUID as a lowercase canonical string (8-4-4-4-12 hex digits)")
    return value


def _echo_external_id(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("external_id"), str):
        return item["external_id"][:64]
    return None


def validate_user(item: Any) -> tuple:
    """A user item as a row tuple in USER_FIELDS order (external_id first); ValueError says why not."""
    if not isinstance(item, dict):
        raise ValueError("each user must be a JSON object")
    unknown = sorted(set(item) - _USER_ALLOWED)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    external_id = _external_id(item)
    login = _text(item, "login", required=True)
    first_name = _text(item, "first_name", required=True)
    last_name = _text(item, "last_name", required=True)
    email = _text(item, "email", required=True, limit=MAX_EMAIL)
    if not EMAIL_RE.match(email):
        raise ValueError("email is not an e-mail address")
    display_name = _text(item, "display_name", required=False)
    job_title = _text(item, "job_title", required=False)
    department = _text(item, "department", required=False)
    active = item.get("active", True)
    if not isinstance(active, bool):
        raise ValueError("active must be true or false")
    return (external_id, login, first_name, last_name, email, display_name, job_title, department, int(active))


def validate_group(item: Any) -> tuple[str, str, str | None, frozenset[str]]:
    if not isinstance(item, dict):
        raise ValueError("each group must be a JSON object")
    unknown = sorted(set(item) - _GROUP_ALLOWED)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    external_id = _external_id(item)
    name = _text(item, "name", required=True)
    description = _text(item, "description", required=False, limit=MAX_DESCRIPTION)
    members = item.get("members")
    if members is None:
        raise ValueError("members is required (an empty list removes every member)")
    if not isinstance(members, list):
        raise ValueError("members must be a list of external_id values")
    if len(members) > MAX_GROUP_MEMBERS:
        raise ValueError(f"a group may have at most {MAX_GROUP_MEMBERS} members per request")
    for member in members:
        if not isinstance(member, str) or not GUID_RE.match(member):
            raise ValueError("every member must be an external_id (lowercase canonical GUID)")
    member_set = frozenset(members)
    if external_id in member_set:
        raise ValueError("a group cannot be a member of itself")
    return external_id, name, description, member_set


# --------------------------------------------------------------------------- the store


class Store:
    """The emulator's database. Thread-safe: every method takes the lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.executescript(_SCHEMA)
        self._closed = False

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # -- helpers

    def _tx(self):
        return _Transaction(self._db)

    def _in_chunks(self, sql: str, params: tuple, keys: list[str], chunk: int = 900) -> list[tuple]:
        """Run ``sql`` (with a ``{marks}`` placeholder for an IN list) over ``keys`` in chunks."""
        rows: list[tuple] = []
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            marks = ",".join("?" * len(part))
            rows.extend(self._db.execute(sql.format(marks=marks), params + tuple(part)).fetchall())
        return rows

    # -- directories and credentials

    def create_directory(self, name: str, user_filter: str | None, group_filter: str | None) -> tuple[dict, str]:
        token = new_token()
        now = time.time()
        directory_id = uuid.uuid4().hex[:12]
        with self._lock, self._tx():
            self._db.execute(
                "INSERT INTO directories (id, name, user_filter, group_filter, token_hash, token_issued_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    directory_id,
                    name,
                    user_filter or DEFAULT_USER_FILTER,
                    group_filter or DEFAULT_GROUP_FILTER,
                    hash_secret(token),
                    now,
                    now,
                ),
            )
        return self.get_directory(directory_id), token

    def get_directory(self, directory_id: str) -> dict:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, user_filter, group_filter, created_at, token_hash IS NOT NULL, token_issued_at,"
                " (SELECT count(*) FROM users u WHERE u.directory_id = d.id),"
                " (SELECT count(*) FROM groups g WHERE g.directory_id = d.id)"
                " FROM directories d WHERE id = ?",
                (directory_id,),
            ).fetchone()
        if row is None:
            raise NotFound(directory_id)
        return {
            "id": row[0],
            "name": row[1],
            "user_filter": row[2],
            "group_filter": row[3],
            "created_at": iso(row[4]),
            "token_active": bool(row[5]),
            "token_issued_at": iso(row[6]),
            "user_count": row[7],
            "group_count": row[8],
        }

    def list_directories(self) -> list[dict]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM directories ORDER BY created_at, id")]
            return [self.get_directory(i) for i in ids]

    def rotate_token(self, directory_id: str) -> str:
        token = new_token()
        with self._lock, self._tx():
            cur = self._db.execute(
                "UPDATE directories SET token_hash = ?, token_issued_at = ? WHERE id = ?",
                (hash_secret(token), time.time(), directory_id),
            )
            if cur.rowcount == 0:
                raise NotFound(directory_id)
        return token

    def revoke_token(self, directory_id: str) -> None:
        with self._lock, self._tx():
            cur = self._db.execute(
                "UPDATE directories SET token_hash = NULL, token_issued_at = NULL WHERE id = ?", (directory_id,)
            )
            if cur.rowcount == 0:
                raise NotFound(directory_id)

    def directory_for_token(self, token: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT id FROM directories WHERE token_hash = ?", (hash_secret(token),)).fetchone()
        return row[0] if row else None

    def register_agent(self, directory_id: str, name: str) -> tuple[str, str]:
        key = new_agent_key()
        agent_id = "agt_" + uuid.uuid4().hex[:16]
        with self._lock, self._tx():
            self._db.execute(
                "INSERT INTO agents (id, name, directory_id, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (agent_id, name, directory_id, hash_secret(key), time.time()),
            )
        return agent_id, key

    def agent_for_key(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT id FROM agents WHERE key_hash = ?", (hash_secret(key),)).fetchone()
        return row[0] if row else None

    def set_public_key(self, agent_id: str, algorithm: str, pem: str) -> float:
        now = time.time()
        with self._lock, self._tx():
            self._db.execute(
                "UPDATE agents SET public_key_algorithm = ?, public_key_pem = ?, public_key_updated_at = ? WHERE id = ?",
                (algorithm, pem, now, agent_id),
            )
        return now

    def current_public_key(self, directory_id: str) -> tuple[str, str] | None:
        """(algorithm, PEM) of the key published last by an agent of this directory, or None.

        What Identity encrypts login checks to: the newest key wins, so an agent
        registered again (a rotated key) is the one that can answer.
        """
        with self._lock:
            self._require_directory(directory_id)
            row = self._db.execute(
                "SELECT public_key_algorithm, public_key_pem FROM agents WHERE directory_id = ?"
                " AND public_key_pem IS NOT NULL ORDER BY public_key_updated_at DESC, id LIMIT 1",
                (directory_id,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def list_agents(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, directory_id, created_at, public_key_algorithm, public_key_pem, public_key_updated_at"
                " FROM agents ORDER BY created_at, id"
            ).fetchall()
        return [
            {
                "id": r[0],
                "name": r[1],
                "registered_with_directory": r[2],
                "created_at": iso(r[3]),
                "public_key": None
                if r[5] is None
                else {"algorithm": r[4], "public_key_pem": r[5], "updated_at": iso(r[6])},
            }
            for r in rows
        ]

    # -- users

    def upsert_users(self, directory_id: str, items: list[Any]) -> list[dict]:
        """Create, update or leave each user; one transaction; per-item failures do not stop the batch."""
        results, valid = _validate_batch(items, validate_user)

        with self._lock, self._tx():
            now = time.time()
            keys = list(valid)
            existing = {
                r[0]: r
                for r in self._in_chunks(
                    "SELECT external_id, id, login, first_name, last_name, email, display_name, job_title,"
                    " department, active FROM users WHERE directory_id = ? AND external_id IN ({marks})",
                    (directory_id,),
                    keys,
                )
            }
            self._reject_login_conflicts(directory_id, valid, results)

            inserts: list[tuple] = []
            updates: list[tuple] = []
            for external_id, (index, row) in valid.items():
                login_key = row[1].casefold()
                old = existing.get(external_id)
                if old is None:
                    identity_id = str(uuid.uuid4())
                    inserts.append((directory_id, external_id, identity_id, row[1], login_key) + row[2:] + (now, now))
                    results[index] = {"external_id": external_id, "id": identity_id, "status": "created"}
                elif old[2:] == row[1:]:
                    results[index] = {"external_id": external_id, "id": old[1], "status": "unchanged"}
                else:
                    updates.append((row[1], login_key) + row[2:] + (now, directory_id, external_id))
                    results[index] = {"external_id": external_id, "id": old[1], "status": "updated"}
            if inserts:
                self._db.executemany(
                    "INSERT INTO users (directory_id, external_id, id, login, login_key, first_name, last_name, email,"
                    " display_name, job_title, department, active, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    inserts,
                )
            if updates:
                self._db.executemany(
                    "UPDATE users SET login = ?, login_key = ?, first_name = ?, last_name = ?, email = ?,"
                    " display_name = ?, job_title = ?, department = ?, active = ?, updated_at = ?"
                    " WHERE directory_id = ? AND external_id = ?",
                    updates,
                )
        return results  # type: ignore[return-value]

    def _reject_login_conflicts(
        self,
        directory_id: str,
        valid: dict[str, tuple[int, tuple]],
        results: list[dict | None],
    ) -> None:
        """Logins are unique per directory (case-insensitive) once the batch is applied.

        A user that fails keeps its old login, which can make another item
        conflict in turn, hence the loop until nothing changes.
        """
        wanted_keys = sorted({row[1].casefold() for _, row in valid.values()})
        holders: dict[str, set[str]] = {}
        for login_key, external_id in self._in_chunks(
            "SELECT login_key, external_id FROM users WHERE directory_id = ? AND login_key IN ({marks})",
            (directory_id,),
            wanted_keys,
        ):
            holders.setdefault(login_key, set()).add(external_id)

        while True:
            final: dict[str, list[str]] = {}
            for external_id, (_, row) in valid.items():
                final.setdefault(row[1].casefold(), []).append(external_id)
            rejected: list[tuple[str, str]] = []
            for login_key, owners in final.items():
                # Users outside the (still valid) batch that keep this login.
                others = {h for h in holders.get(login_key, ()) if h not in valid}
                contenders = owners if others else owners[1:]
                for external_id in contenders:
                    rejected.append((external_id, valid[external_id][1][1]))
            if not rejected:
                return
            for external_id, login in rejected:
                index, _ = valid.pop(external_id)
                results[index] = {
                    "external_id": external_id,
                    "id": None,
                    "status": "failed",
                    "detail": f"login {login!r} is already used by another user of this directory",
                }

    def list_users(self, directory_id: str) -> list[dict]:
        with self._lock:
            self._require_directory(directory_id)
            rows = self._db.execute(
                "SELECT id, external_id, login, first_name, last_name, email, display_name, job_title, department,"
                " active, created_at, updated_at FROM users WHERE directory_id = ? ORDER BY login_key, external_id",
                (directory_id,),
            ).fetchall()
            memberships = self._links(directory_id, by_member=True)
        return [
            {
                "id": r[0],
                "external_id": r[1],
                "login": r[2],
                "first_name": r[3],
                "last_name": r[4],
                "email": r[5],
                "display_name": r[6],
                "job_title": r[7],
                "department": r[8],
                "active": bool(r[9]),
                "groups": memberships.get(r[1], []),
                "created_at": iso(r[10]),
                "updated_at": iso(r[11]),
            }
            for r in rows
        ]

    # -- groups

    def upsert_groups(self, directory_id: str, items: list[Any]) -> list[dict]:
        results, valid = _validate_batch(items, validate_group)

        with self._lock, self._tx():
            now = time.time()
            keys = list(valid)
            existing = {
                r[0]: r
                for r in self._in_chunks(
                    "SELECT external_id, id, name, description FROM groups"
                    " WHERE directory_id = ? AND external_id IN ({marks})",
                    (directory_id,),
                    keys,
                )
            }
            old_members: dict[str, set[str]] = {k: set() for k in existing}
            for group, member in self._in_chunks(
                "SELECT group_external_id, member_external_id FROM group_members"
                " WHERE directory_id = ? AND group_external_id IN ({marks})",
                (directory_id,),
                list(existing),
            ):
                old_members[group].add(member)

            inserts: list[tuple] = []
            updates: list[tuple] = []
            replace_members: list[str] = []
            member_rows: list[tuple] = []
            for external_id, (index, (_, name, description, members)) in valid.items():
                old = existing.get(external_id)
                if old is None:
                    identity_id = str(uuid.uuid4())
                    inserts.append((directory_id, external_id, identity_id, name, description, now, now))
                    member_rows.extend((directory_id, external_id, m) for m in members)
                    results[index] = {"external_id": external_id, "id": identity_id, "status": "created"}
                    continue
                same_fields = old[2] == name and old[3] == description
                same_members = old_members[external_id] == members
                if same_fields and same_members:
                    results[index] = {"external_id": external_id, "id": old[1], "status": "unchanged"}
                    continue
                updates.append((name, description, now, directory_id, external_id))
                if not same_members:
                    replace_members.append(external_id)
                    member_rows.extend((directory_id, external_id, m) for m in members)
                results[index] = {"external_id": external_id, "id": old[1], "status": "updated"}
            if inserts:
                self._db.executemany(
                    "INSERT INTO groups (directory_id, external_id, id, name, description, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    inserts,
                )
            if updates:
                self._db.executemany(
                    "UPDATE groups SET name = ?, description = ?, updated_at = ? WHERE directory_id = ? AND external_id = ?",
                    updates,
                )
            if replace_members:
                self._db.executemany(
                    "DELETE FROM group_members WHERE directory_id = ? AND group_external_id = ?",
                    [(directory_id, g) for g in replace_members],
                )
            if member_rows:
                self._db.executemany(
                    "INSERT INTO group_members (directory_id, group_external_id, member_external_id) VALUES (?, ?, ?)",
                    member_rows,
                )
        return results  # type: ignore[return-value]

    def list_groups(self, directory_id: str) -> list[dict]:
        with self._lock:
            self._require_directory(directory_id)
            rows = self._db.execute(
                "SELECT id, external_id, name, description, created_at, updated_at FROM groups"
                " WHERE directory_id = ? ORDER BY name, external_id",
                (directory_id,),
            ).fetchall()
            members = self._links(directory_id, by_member=False)
        return [
            {
                "id": r[0],
                "external_id": r[1],
                "name": r[2],
                "description": r[3],
                "members": members.get(r[1], []),
                "created_at": iso(r[4]),
                "updated_at": iso(r[5]),
            }
            for r in rows
        ]

    def _links(self, directory_id: str, *, by_member: bool) -> dict[str, list[str]]:
        """Group links of a directory: member -> its groups, or group -> its members (sorted)."""
        key, value = ("member_external_id", "group_external_id") if by_member else ("group_external_id", "member_external_id")
        links: dict[str, list[str]] = {}
        for k, v in self._db.execute(
            f"SELECT {key}, {value} FROM group_members WHERE directory_id = ? ORDER BY {value}", (directory_id,)
        ):
            links.setdefault(k, []).append(v)
        return links

    def _require_directory(self, directory_id: str) -> None:
        if self._db.execute("SELECT 1 FROM directories WHERE id = ?", (directory_id,)).fetchone() is None:
            raise NotFound(directory_id)

    # -- commands

    def queue_command(self, directory_id: str, command_type: str, payload: Any, ttl_seconds: float) -> dict:
        now = time.time()
        command_id = "cmd_" + uuid.uuid4().hex
        with self._lock, self._tx():
            self._require_directory(directory_id)
            self._db.execute(
                "INSERT INTO commands (id, directory_id, type, payload, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (command_id, directory_id, command_type, json.dumps(payload), now, now + ttl_seconds),
            )
        return self.get_command(command_id)

    def take_commands(self, directory_id: str, limit: int = MAX_COMMANDS_PER_POLL) -> list[dict]:
        """Commands to hand to the agent now; each is leased so a second poll does not repeat it at once."""
        now = time.time()
        with self._lock, self._tx():
            rows = self._db.execute(
                "SELECT id, type, payload, created_at, expires_at FROM commands"
                " WHERE directory_id = ? AND completed_at IS NULL AND expires_at > ?"
                " AND (leased_until IS NULL OR leased_until <= ?) ORDER BY created_at, id LIMIT ?",
                (directory_id, now, now, limit),
            ).fetchall()
            if rows:
                self._db.executemany(
                    "UPDATE commands SET leased_until = ?, delivered_at = coalesce(delivered_at, ?),"
                    " deliveries = deliveries + 1 WHERE id = ?",
                    [(now + COMMAND_LEASE_SECONDS, now, r[0]) for r in rows],
                )
        return [
            {"id": r[0], "type": r[1], "created_at": iso(r[3]), "expires_at": iso(r[4]), "payload": json.loads(r[2])}
            for r in rows
        ]

    def complete_command(self, directory_id: str, command_id: str, result: dict) -> dict:
        now = time.time()
        encoded = json.dumps(result, sort_keys=True)
        with self._lock, self._tx():
            row = self._db.execute(
                "SELECT expires_at, result FROM commands WHERE id = ? AND directory_id = ?", (command_id, directory_id)
            ).fetchone()
            if row is None:
                raise NotFound(command_id)
            expires_at, stored = row
            if stored is not None:
                if stored != encoded:
                    raise Conflict(command_id)
            elif expires_at <= now:
                raise Gone(command_id)
            else:
                self._db.execute(
                    "UPDATE commands SET result = ?, completed_at = ?, leased_until = NULL WHERE id = ?",
                    (encoded, now, command_id),
                )
        return self.get_command(command_id)

    def get_command(self, command_id: str) -> dict:
        with self._lock:
            row = self._db.execute(
                "SELECT id, directory_id, type, payload, created_at, expires_at, delivered_at, deliveries, result,"
                " completed_at FROM commands WHERE id = ?",
                (command_id,),
            ).fetchone()
        if row is None:
            raise NotFound(command_id)
        if row[9] is not None:
            state = "completed"
        elif row[5] <= time.time():
            state = "expired"
        elif row[6] is not None:
            state = "delivered"
        else:
            state = "pending"
        return {
            "id": row[0],
            "directory_id": row[1],
            "type": row[2],
            "payload": json.loads(row[3]),
            "created_at": iso(row[4]),
            "expires_at": iso(row[5]),
            "state": state,
            "delivered_at": iso(row[6]),
            "deliveries": row[7],
            "result": None if row[8] is None else json.loads(row[8]),
            "completed_at": iso(row[9]),
        }


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection runs in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


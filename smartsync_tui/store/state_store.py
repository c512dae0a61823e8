"""The engine's memory between runs: SQLite (stdlib, WAL) in the data dir.

Per directory: the DC it last read and how far (the delta watermark), every
object it synced (objectGUID -> Identity id, what was sent and its hash),
the operations a run planned and has not finished (resumed by the next run,
also how one object's failure is retried), disables held back by the
threshold, skipped objects with their reason, and the run history.

One connection per store, used from one thread at a time (the engine's);
the console and other processes open their own and only read.

Why one module (~590 lines): one SQLite schema and the queries on it; split by table, the
transactions that span tables (a plan written before it is sent) would cross modules.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import _
from smartsync_tui.core.file_protection import check_private_file

# Each entry upgrades the schema from its index to the next version.
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE watermark (
        directory_id TEXT PRIMARY KEY,
        dns_host_name TEXT NOT NULL,
        invocation_id TEXT NOT NULL,
        usn INTEGER NOT NULL,
        filters_hash TEXT NOT NULL,
        full_at REAL NOT NULL
    );
    CREATE TABLE object (
        directory_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),
        dn TEXT NOT NULL,
        identity_id TEXT,
        content_hash TEXT NOT NULL,
        payload TEXT NOT NULL,
        active INTEGER NOT NULL,
        applied_at REAL NOT NULL,
        PRIMARY KEY (directory_id, guid)
    ) WITHOUT ROWID;
    CREATE INDEX object_dn ON object (directory_id, dn COLLATE NOCASE);
    CREATE TABLE pending (
        directory_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        kind TEXT NOT NULL,
        op TEXT NOT NULL,
        dn TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (directory_id, guid)
    ) WITHOUT ROWID;
    CREATE TABLE held (
        directory_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        dn TEXT NOT NULL,
        payload TEXT NOT NULL,
        held_at REAL NOT NULL,
        PRIMARY KEY (directory_id, guid)
    ) WITHOUT ROWID;
    CREATE TABLE skipped (
        directory_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        dn TEXT NOT NULL,
        reason TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (directory_id, guid)
    ) WITHOUT ROWID;
    CREATE TABLE run (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        directory_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        outcome TEXT,
        counts TEXT,
        error TEXT
    );
    CREATE INDEX run_directory ON run (directory_id, id);
    """,
    # 2: pass-through authentication's recent login checks (never a password).
    """
    CREATE TABLE login_check (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        directory_id TEXT NOT NULL,
        at REAL NOT NULL,
        login TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        latency_ms REAL NOT NULL
    );
    CREATE INDEX login_check_directory ON login_check (directory_id, id);
    """,
]
# Login checks kept per directory: enough for the details screen's recent list and rate.
LOGIN_CHECKS_KEPT = 1000
# A directory's history is trimmed back to LOGIN_CHECKS_KEPT when it is this many rows over.
_LOGIN_CHECKS_SLACK = 100
SCHEMA_VERSION = len(_MIGRATIONS)
# Runs kept per directory (a delta every 30 s makes 2,880 a day): the history screens and /health
# read the most recent ones. Trimmed back when _RUNS_SLACK over; the last successful run is kept.
RUNS_KEPT = 5000
_RUNS_SLACK = 100
# A run that reached its end: the sync worked, even if it held disables or the target refused some objects.
SUCCESS_OUTCOMES = ("ok", "partial", "held")


class StateStoreError(UserError):
    kind = "state"


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration script, each ended where SQLite says it is complete.

    A ';' inside a string literal, a quoted name, a comment or a trigger's body
    does not end a statement (a plain split on ';' would cut it there).
    """
    statement = ""
    for piece in script.split(";")[:-1]:
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip().rstrip(";").strip():
                yield statement.strip()
            statement = ""
    rest = statement + script.split(";")[-1]
    if any(line.strip() and not line.strip().startswith("--") for line in rest.splitlines()):
        raise ValueError(f"the migration ends with an incomplete statement: {rest.strip()[:60]!r}")


def _create_private(path: Path) -> os.stat_result:
    """The database file's lstat, after creating it empty and 0600 when missing; refused when
    it is a link or another user could change it (core.file_protection)."""
    info = check_private_file(path)
    if info is not None:
        return info
    try:
        # mknod makes the file without opening it (Linux); elsewhere an open closed at once,
        # before any connection of this process can have the new file open.
        os.mknod(path, stat.S_IFREG | 0o600)
    except FileExistsError:
        pass  # another connection created it first: checked below
    except (AttributeError, OSError):  # no mknod (Windows), or not allowed for a regular file (macOS)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
        except FileExistsError:
            pass
    info = check_private_file(path)
    if info is None:
        raise StateStoreError(
            _("The state database {path} was removed while it was being created; run again.").format(path=path)
        )
    return info


def _check_same_file(path: Path, before: os.stat_result, db: sqlite3.Connection) -> None:
    """Refuse a database SQLite opened through a link planted after the check."""
    try:
        now = os.lstat(path)
    except OSError:
        now = None
    if now is None or stat.S_ISLNK(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
        db.close()
        raise StateStoreError(
            _("The state database {path} was replaced while it was being opened; nothing was read from it. "
              "Check who else can write to that folder, then run again.").format(path=path)
        )


@dataclass(frozen=True, slots=True)
class Watermark:
    dns_host_name: str
    invocation_id: str
    usn: int
    filters_hash: str
    full_at: float


@dataclass(frozen=True, slots=True)
class SyncedObject:
    guid: str
    kind: str
    dn: str
    # The target's id for the object (its column keeps the first target's name, identity_id,
    # so that homes written before stay readable).
    remote_id: str | None
    content_hash: str
    payload: dict
    active: bool


@dataclass(frozen=True, slots=True)
class PendingOp:
    guid: str
    kind: str  # 'user' | 'group'
    op: str  # create | update | disable | enable | group-create | group-update
    dn: str
    payload: dict
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class LoginCheckRecord:
    at: float
    login: str
    outcome: str
    reason: str | None
    latency_ms: float


@dataclass(frozen=True, slots=True)
class StoreSummary:
    """What monitoring reads of one directory (engine/health.py): counts and times, never a row's content."""

    pending: int
    held: int
    last_success_at: float | None  # time.time() the last successful (not dry) run ended
    last_run_at: float | None  # ...and the last run that ended, whatever its outcome
    last_outcome: str | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    directory_id: str
    mode: str
    dry_run: bool
    started_at: float
    ended_at: float | None
    outcome: str | None
    counts: dict
    error: str | None


def _dumps(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # SQLite opens the file by name and follows a link, and closing any other descriptor of
        # the file would drop the POSIX locks of this process's connections to it: so the file
        # is checked by name (lstat) before and after SQLite opens it, and created 0600 (its
        # journal files get the database's mode) without being opened.
        before = _create_private(path)
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            _check_same_file(path, before, self._db)
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateStoreError(
                _("The state database {path} cannot be used ({reason}). If it is damaged, move it away: "
                  "the next run then does a full sync and rebuilds it (nothing is duplicated in Identity).").format(
                    path=path, reason=exc)
            ) from None
        self._lock = threading.RLock()

    def _enable_wal(self) -> None:
        # Switching a new database to WAL needs it to itself, and SQLite answers "locked"
        # at once (its busy timeout does not apply) when another connection opens it at
        # the same moment, as the engine's threads do on a new home: try again shortly.
        deadline = time.monotonic() + 10
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                _("The state database {path} was written by a newer smartsync-tui (schema {version}, "
                  "this one knows {known}). Upgrade smartsync-tui.").format(
                    path=self.path, version=version, known=SCHEMA_VERSION)
            )
        if version == SCHEMA_VERSION:
            return
        # One write transaction for every step, and the version read again inside it:
        # two connections opening a new database at once (the engine's sync and
        # login-check threads do) must not both create the tables.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version, SCHEMA_VERSION):
                # execute(), not executescript(): that one would commit the transaction first.
                for statement in _statements(_MIGRATIONS[target]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {target + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _tx(self) -> "_Transaction":
        return _Transaction(self._db, self._lock)

    # -- watermark

    def watermark(self, directory_id: str) -> Watermark | None:
        row = self._db.execute(
            "SELECT dns_host_name, invocation_id, usn, filters_hash, full_at FROM watermark WHERE directory_id = ?",
            (directory_id,),
        ).fetchone()
        return Watermark(*row) if row else None

    def set_watermark(self, directory_id: str, mark: Watermark) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO watermark VALUES (?, ?, ?, ?, ?, ?)",
                (directory_id, mark.dns_host_name, mark.invocation_id, mark.usn, mark.filters_hash, mark.full_at),
            )

    # -- synced objects

    def objects(self, directory_id: str, kind: str | None = None) -> Iterator[SyncedObject]:
        sql = "SELECT guid, kind, dn, identity_id, content_hash, payload, active FROM object WHERE directory_id = ?"
        args: tuple = (directory_id,)
        if kind:
            sql += " AND kind = ?"
            args += (kind,)
        for guid, k, dn, identity_id, content_hash, payload, active in self._db.execute(sql, args):
            yield SyncedObject(guid, k, dn, identity_id, content_hash, json.loads(payload), bool(active))

    def hashes(self, directory_id: str, kind: str) -> dict[str, tuple[str, bool, str]]:
        """guid -> (content hash, active, dn): what a full sync compares against, without payloads."""
        return {
            guid: (content_hash, bool(active), dn)
            for guid, content_hash, active, dn in self._db.execute(
                "SELECT guid, content_hash, active, dn FROM object WHERE directory_id = ? AND kind = ?",
                (directory_id, kind),
            )
        }

    def update_dns(self, directory_id: str, moved: Iterable[tuple[str, str]]) -> None:
        """(guid, new dn) of objects renamed or moved whose Identity fields did not change."""
        with self._tx():
            self._db.executemany(
                "UPDATE object SET dn = ? WHERE directory_id = ? AND guid = ?",
                [(dn, directory_id, guid) for guid, dn in moved],
            )

    def _rows_where_in(self, select: str, column: str, directory_id: str, keys: Iterable[str]) -> Iterator[tuple]:
        """The rows of ``select ... WHERE directory_id = ? AND {column} IN (keys)``, asked 500
        keys at a time (SQLite caps the variables of one statement)."""
        values = list(keys)
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"{select} WHERE directory_id = ? AND {column} IN ({marks})",
                                        (directory_id, *chunk))

    def get_objects(self, directory_id: str, guids: Iterable[str]) -> dict[str, SyncedObject]:
        return {
            guid: SyncedObject(guid, k, dn, identity_id, content_hash, json.loads(payload), bool(active))
            for guid, k, dn, identity_id, content_hash, payload, active in self._rows_where_in(
                "SELECT guid, kind, dn, identity_id, content_hash, payload, active FROM object", "guid",
                directory_id, guids)
        }

    def remote_ids(self, directory_id: str, guids: Iterable[str]) -> dict[str, str]:
        """guid -> the target's own id, for the objects the target gave one (the column keeps
        its first target's name, identity_id, so that homes written before stay readable)."""
        return {
            guid: remote_id
            for guid, remote_id in self._rows_where_in("SELECT guid, identity_id FROM object", "guid", directory_id, guids)
            if remote_id is not None
        }

    def guids_for_dns(self, directory_id: str, dns: Iterable[str]) -> dict[str, str]:
        """Lower-cased DN -> guid for the DNs of objects already synced."""
        return {
            dn.lower(): guid
            for dn, guid in self._rows_where_in("SELECT dn, guid FROM object", "dn COLLATE NOCASE", directory_id, dns)
        }

    def record_applied(self, directory_id: str, applied: Iterable[SyncedObject]) -> None:
        """Objects Identity confirmed: remember them and drop their pending operation, atomically."""
        now = time.time()
        rows = [
            (directory_id, o.guid, o.kind, o.dn, o.remote_id, o.content_hash, _dumps(o.payload), int(o.active), now)
            for o in applied
        ]
        with self._tx():
            self._db.executemany("INSERT OR REPLACE INTO object VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(
                "DELETE FROM pending WHERE directory_id = ? AND guid = ?", [(directory_id, r[1]) for r in rows]
            )
            self._db.executemany(
                "DELETE FROM held WHERE directory_id = ? AND guid = ?", [(directory_id, r[1]) for r in rows]
            )

    def counts(self, directory_id: str) -> dict[str, int]:
        """Synced users (active), disabled users and groups: what the console shows."""
        rows = self._db.execute(
            "SELECT kind, active, count(*) FROM object WHERE directory_id = ? GROUP BY kind, active", (directory_id,)
        ).fetchall()
        out = {"users": 0, "disabled_users": 0, "groups": 0}
        for kind, active, n in rows:
            if kind == "group":
                out["groups"] += n
            elif active:
                out["users"] += n
            else:
                out["disabled_users"] += n
        return out

    # -- pending operations

    def add_pending(self, directory_id: str, ops: Iterable[PendingOp]) -> None:
        """Plan recorded before it is applied; a newer plan for an object replaces the older one."""
        rows = [
            (directory_id, op.guid, op.kind, op.op, op.dn, _dumps(op.payload), op.attempts, op.last_error)
            for op in ops
        ]
        with self._tx():
            self._db.executemany(
                "INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (directory_id, guid) DO UPDATE SET"
                " kind = excluded.kind, op = excluded.op, dn = excluded.dn, payload = excluded.payload",
                rows,
            )

    def pending(self, directory_id: str) -> list[PendingOp]:
        return [
            PendingOp(guid, kind, op, dn, json.loads(payload), attempts, error)
            for guid, kind, op, dn, payload, attempts, error in self._db.execute(
                "SELECT guid, kind, op, dn, payload, attempts, last_error FROM pending WHERE directory_id = ?",
                (directory_id,),
            )
        ]

    def mark_failed(self, directory_id: str, failures: dict[str, str]) -> None:
        """Identity refused these: keep them pending (retried next run) with the reason."""
        with self._tx():
            self._db.executemany(
                "UPDATE pending SET attempts = attempts + 1, last_error = ? WHERE directory_id = ? AND guid = ?",
                [(error, directory_id, guid) for guid, error in failures.items()],
            )

    def refuse(self, directory_id: str, refused: Iterable[tuple[str, str, str]]) -> None:
        """(guid, dn, reason) the target refused for what they hold (sending them again cannot
        succeed): no longer pending, listed as skipped with the target's reason, atomically. AD
        changing one plans it again (and unskips it); so does a full reconcile."""
        rows = list(refused)
        now = time.time()
        with self._tx():
            self._db.executemany(
                "DELETE FROM pending WHERE directory_id = ? AND guid = ?", [(directory_id, r[0]) for r in rows]
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?, ?)",
                [(directory_id, guid, dn, reason, now) for guid, dn, reason in rows],
            )

    def drop_pending(self, directory_id: str, guids: Iterable[str]) -> None:
        with self._tx():
            self._db.executemany(
                "DELETE FROM pending WHERE directory_id = ? AND guid = ?", [(directory_id, g) for g in guids]
            )

    # -- disables held by the threshold

    def hold(self, directory_id: str, ops: Iterable[PendingOp]) -> None:
        now = time.time()
        with self._tx():
            self._db.execute("DELETE FROM held WHERE directory_id = ?", (directory_id,))
            self._db.executemany(
                "INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?, ?)",
                [(directory_id, op.guid, op.dn, _dumps(op.payload), now) for op in ops],
            )

    def held(self, directory_id: str) -> list[PendingOp]:
        return [
            PendingOp(guid, "user", "disable", dn, json.loads(payload))
            for guid, dn, payload in self._db.execute(
                "SELECT guid, dn, payload FROM held WHERE directory_id = ? ORDER BY dn", (directory_id,)
            )
        ]

    def release_held(self, directory_id: str) -> None:
        with self._tx():
            self._db.execute("DELETE FROM held WHERE directory_id = ?", (directory_id,))

    # -- skipped objects

    def set_skipped(self, directory_id: str, skipped: Iterable[tuple[str, str, str]], *, replace_all: bool) -> None:
        """(guid, dn, reason) of objects not synced. A full run replaces the list; a delta adds to it."""
        now = time.time()
        with self._tx():
            if replace_all:
                self._db.execute("DELETE FROM skipped WHERE directory_id = ?", (directory_id,))
            self._db.executemany(
                "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?, ?)",
                [(directory_id, guid, dn, reason, now) for guid, dn, reason in skipped],
            )

    def unskip(self, directory_id: str, guids: Iterable[str]) -> None:
        with self._tx():
            self._db.executemany(
                "DELETE FROM skipped WHERE directory_id = ? AND guid = ?", [(directory_id, g) for g in guids]
            )

    def skipped(self, directory_id: str) -> list[tuple[str, str, str]]:
        return self._db.execute(
            "SELECT guid, dn, reason FROM skipped WHERE directory_id = ? ORDER BY dn", (directory_id,)
        ).fetchall()

    # -- run history

    def start_run(self, directory_id: str, mode: str, *, dry_run: bool) -> int:
        with self._tx():
            cursor = self._db.execute(
                "INSERT INTO run (directory_id, mode, dry_run, started_at) VALUES (?, ?, ?, ?)",
                (directory_id, mode, int(dry_run), time.time()),
            )
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int, *, outcome: str, counts: dict, error: str | None = None, mode: str | None = None) -> None:
        with self._tx():
            self._db.execute(
                "UPDATE run SET ended_at = ?, outcome = ?, counts = ?, error = ?, mode = coalesce(?, mode) WHERE id = ?",
                (time.time(), outcome, json.dumps(counts), error, mode, run_id),
            )
            row = self._db.execute("SELECT directory_id FROM run WHERE id = ?", (run_id,)).fetchone()
            if row is not None:
                # Counted on the (directory_id, id) index: the global ids say nothing of one directory.
                (count,) = self._db.execute("SELECT count(*) FROM run WHERE directory_id = ?", row).fetchone()
                if count > RUNS_KEPT + _RUNS_SLACK:
                    self._trim_runs(row[0])

    def _trim_runs(self, directory_id: str) -> None:
        keep = self._last_success_id(directory_id)
        self._db.execute(
            "DELETE FROM run WHERE directory_id = ? AND id != ? AND id <= (SELECT id FROM run"
            " WHERE directory_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (directory_id, keep if keep is not None else -1, directory_id, RUNS_KEPT),
        )

    def _last_success_id(self, directory_id: str) -> int | None:
        row = self._db.execute(
            f"SELECT max(id) FROM run WHERE directory_id = ? AND dry_run = 0 AND ended_at IS NOT NULL"
            f" AND outcome IN ({', '.join('?' * len(SUCCESS_OUTCOMES))})", (directory_id, *SUCCESS_OUTCOMES),
        ).fetchone()
        return row[0] if row else None

    def summary(self, directory_id: str) -> StoreSummary:
        """Counts on the primary keys and two rows of the run index: cheap at 100,000 objects."""
        (pending,) = self._db.execute("SELECT count(*) FROM pending WHERE directory_id = ?", (directory_id,)).fetchone()
        (held,) = self._db.execute("SELECT count(*) FROM held WHERE directory_id = ?", (directory_id,)).fetchone()
        success_id = self._last_success_id(directory_id)
        success_at = None
        if success_id is not None:
            (success_at,) = self._db.execute("SELECT ended_at FROM run WHERE id = ?", (success_id,)).fetchone()
        last = self._db.execute(
            "SELECT ended_at, outcome FROM run WHERE directory_id = ? AND dry_run = 0 AND ended_at IS NOT NULL"
            " ORDER BY id DESC LIMIT 1", (directory_id,),
        ).fetchone()
        return StoreSummary(pending, held, success_at, last[0] if last else None, last[1] if last else None)

    def runs(self, directory_id: str, limit: int = 20) -> list[RunRecord]:
        return [
            RunRecord(i, d, mode, bool(dry), start, end, outcome, json.loads(counts or "{}"), error)
            for i, d, mode, dry, start, end, outcome, counts, error in self._db.execute(
                "SELECT id, directory_id, mode, dry_run, started_at, ended_at, outcome, counts, error FROM run"
                " WHERE directory_id = ? ORDER BY id DESC LIMIT ?",
                (directory_id, limit),
            )
        ]

    # -- login checks (pass-through authentication)

    def record_login_check(self, directory_id: str, record: LoginCheckRecord) -> None:
        with self._tx():
            self._db.execute(
                "INSERT INTO login_check (directory_id, at, login, outcome, reason, latency_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (directory_id, record.at, record.login, record.outcome, record.reason, record.latency_ms),
            )
            # Counted on the (directory_id, id) index: cheap at this size. Trimmed when the
            # directory is a hundred rows over, not on every insert.
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM login_check WHERE directory_id = ?", (directory_id,)
            ).fetchone()
            if count > LOGIN_CHECKS_KEPT + _LOGIN_CHECKS_SLACK:
                self._db.execute(
                    "DELETE FROM login_check WHERE directory_id = ? AND id <= (SELECT id FROM login_check"
                    " WHERE directory_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (directory_id, directory_id, LOGIN_CHECKS_KEPT),
                )

    def login_checks(self, directory_id: str, limit: int = 20) -> list[LoginCheckRecord]:
        """The most recent checks first."""
        return [
            LoginCheckRecord(*row)
            for row in self._db.execute(
                "SELECT at, login, outcome, reason, latency_ms FROM login_check WHERE directory_id = ?"
                " ORDER BY id DESC LIMIT ?",
                (directory_id, limit),
            )
        ]

    def forget_directory(self, directory_id: str) -> None:
        with self._tx():
            for table in ("watermark", "object", "pending", "held", "skipped", "run", "login_check"):
                self._db.execute(f"DELETE FROM {table} WHERE directory_id = ?", (directory_id,))


class _Transaction:
    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()

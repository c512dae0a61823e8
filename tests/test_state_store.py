"""The state store on its own: schema, transactions, what a resumed run finds."""

import sqlite3
import threading

import pytest

from smartsync_tui.store import state_store
from smartsync_tui.store.state_store import (
    SCHEMA_VERSION,
    LoginCheckRecord,
    PendingOp,
    StateStore,
    StateStoreError,
    SyncedObject,
    Watermark,
)


@pytest.fixture
def store(tmp_path):
    with StateStore(tmp_path / "state.sqlite3") as s:
        yield s


def test_new_store_is_at_the_current_schema_in_wal_mode(tmp_path, store):
    assert store.schema_version() == SCHEMA_VERSION
    mode = sqlite3.connect(tmp_path / "state.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_store_from_a_newer_version_is_refused_not_damaged(tmp_path):
    path = tmp_path / "state.sqlite3"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateStoreError, match="newer smartsync-tui"):
        StateStore(path)


def test_a_damaged_file_says_how_to_recover(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateStoreError, match="move it away"):
        StateStore(path)


def test_applied_objects_clear_their_pending_operation_atomically(store):
    store.add_pending("d", [PendingOp("g1", "user", "create", "CN=A,DC=x", {"a": 1}),
                            PendingOp("g2", "user", "create", "CN=B,DC=x", {"b": 1})])
    store.mark_failed("d", {"g2": "login taken"})
    store.record_applied("d", [SyncedObject("g1", "user", "CN=A,DC=x", "id-1", "h1", {"a": 1}, True)])
    (left,) = store.pending("d")
    assert (left.guid, left.attempts, left.last_error) == ("g2", 1, "login taken")
    assert store.counts("d") == {"users": 1, "disabled_users": 0, "groups": 0}
    assert store.guids_for_dns("d", ["cn=a,dc=x"]) == {"cn=a,dc=x": "g1"}


def test_watermark_and_runs_survive_reopening(tmp_path):
    path = tmp_path / "state.sqlite3"
    with StateStore(path) as s:
        s.set_watermark("d", Watermark("dc1.corp", "inv-1", 4242, "f", 1.0))
        run = s.start_run("d", "auto", dry_run=False)
        s.finish_run(run, outcome="ok", counts={"create": 3}, mode="full")
    with StateStore(path) as s:
        assert s.watermark("d").usn == 4242
        (record,) = s.runs("d")
        assert (record.mode, record.outcome, record.counts) == ("full", "ok", {"create": 3})


def test_connections_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    # The engine's sync thread and its login-check loop open the state store together on a new home.
    for attempt in range(20):
        path = tmp_path / f"state-{attempt}.sqlite3"
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def open_store() -> None:
            barrier.wait()
            try:
                StateStore(path).close()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with StateStore(path) as store:
            assert store.schema_version() == SCHEMA_VERSION


def test_migration_scripts_are_split_where_sqlite_says_a_statement_ends():
    script = """
    INSERT INTO t VALUES ('a;b');  -- a comment; with a semicolon
    CREATE TABLE "odd;name" (v TEXT DEFAULT ';');
    CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v); INSERT INTO log VALUES ('x'); END;
    -- the end
    """
    statements = list(state_store._statements(script))
    assert len(statements) == 3
    assert statements[0] == "INSERT INTO t VALUES ('a;b');"
    assert statements[1].endswith("""CREATE TABLE "odd;name" (v TEXT DEFAULT ';');""")
    assert statements[2].startswith("CREATE TRIGGER") and statements[2].endswith("END;")
    with pytest.raises(ValueError, match="incomplete statement"):
        list(state_store._statements("CREATE TABLE a (b TEXT); CREATE TABLE c (d TEXT)"))
    assert [len(list(state_store._statements(m))) for m in state_store._MIGRATIONS] == [8, 2]


def test_a_version_1_database_with_data_is_upgraded_and_keeps_it(tmp_path):
    path = tmp_path / "state.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(state_store._MIGRATIONS[0])  # what smartsync-tui with schema 1 created
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO watermark VALUES ('corp', 'dc1.corp', 'inv-1', 4242, 'f;h', 1000.0)")
    db.execute("INSERT INTO object VALUES ('corp', 'g1', 'user', 'CN=A; B,DC=corp', 'id-1', 'h1', '{\"a\":1}', 1, 5.0)")
    db.execute("INSERT INTO object VALUES ('corp', 'g2', 'group', 'CN=G,DC=corp', 'id-2', 'h2', '{}', 1, 5.0)")
    db.execute("INSERT INTO run (directory_id, mode, dry_run, started_at, ended_at, outcome, counts, error) "
               "VALUES ('corp', 'full', 0, 1.0, 2.0, 'ok', '{\"create\":2}', NULL)")
    db.close()

    with StateStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        assert store.watermark("corp") == Watermark("dc1.corp", "inv-1", 4242, "f;h", 1000.0)
        assert store.counts("corp") == {"users": 1, "disabled_users": 0, "groups": 1}
        assert store.guids_for_dns("corp", ["cn=a; b,dc=corp"]) == {"cn=a; b,dc=corp": "g1"}
        (run,) = store.runs("corp")
        assert (run.mode, run.outcome, run.counts, run.ended_at) == ("full", "ok", {"create": 2}, 2.0)
        # The new table works, and the run ids go on after the old ones.
        store.record_login_check("corp", LoginCheckRecord(3.0, "maria", "allowed", None, 12.5))
        assert store.login_checks("corp") == [LoginCheckRecord(3.0, "maria", "allowed", None, 12.5)]
        assert store.start_run("corp", "auto", dry_run=False) == run.id + 1
    with StateStore(path) as store:  # opened again: nothing to migrate, nothing lost
        assert store.watermark("corp").usn == 4242 and len(store.runs("corp")) == 2


def test_login_checks_are_trimmed_per_directory(store, monkeypatch):
    monkeypatch.setattr(state_store, "LOGIN_CHECKS_KEPT", 50)
    # Interleaved: the global row ids say nothing of when one directory is over its limit.
    for n in range(400):
        for directory_id in ("a", "b", "c") if n % 4 == 0 else ("a", "b"):
            store.record_login_check(directory_id, LoginCheckRecord(float(n), f"user{n}", "allowed", None, 1.0))
            kept = len(store.login_checks(directory_id, limit=10_000))
            assert kept <= 50 + 100
    for directory_id, total in (("a", 400), ("b", 400), ("c", 100)):
        kept = store.login_checks(directory_id, limit=10_000)
        assert 50 <= len(kept) <= 150
        # The newest, in order, none missing.
        step = 4 if directory_id == "c" else 1
        assert [r.login for r in kept] == [f"user{n}" for n in range(total * step - step, -1, -step)][:len(kept)]


def test_the_summary_counts_pending_and_held_and_finds_the_last_success(store):
    assert store.summary("corp") == state_store.StoreSummary(0, 0, None, None, None)
    ok = store.start_run("corp", "full", dry_run=False)
    store.finish_run(ok, outcome="ok", counts={})
    (success_at,) = [r.ended_at for r in store.runs("corp")]
    failed = store.start_run("corp", "delta", dry_run=False)
    store.finish_run(failed, outcome="failed", counts={}, error="AD away")
    store.start_run("corp", "delta", dry_run=False)  # in flight: not a last run yet
    store.add_pending("corp", [PendingOp("g1", "user", "create", "cn=a", {}), PendingOp("g2", "user", "update", "cn=b", {})])
    store.hold("corp", [PendingOp("g3", "user", "disable", "cn=c", {})])
    store.add_pending("other", [PendingOp("g9", "user", "create", "cn=z", {})])
    summary = store.summary("corp")
    assert (summary.pending, summary.held, summary.last_success_at, summary.last_outcome) == (2, 1, success_at, "failed")
    assert summary.last_run_at >= success_at


def test_runs_are_trimmed_but_the_last_success_is_kept(store, monkeypatch):
    monkeypatch.setattr(state_store, "RUNS_KEPT", 30)
    monkeypatch.setattr(state_store, "_RUNS_SLACK", 10)
    first = store.start_run("corp", "full", dry_run=False)
    store.finish_run(first, outcome="ok", counts={})
    for n in range(200):  # a long outage, interleaved with another directory's good runs
        for directory_id, outcome in (("corp", "failed"), ("other", "ok")):
            run_id = store.start_run(directory_id, "delta", dry_run=False)
            store.finish_run(run_id, outcome=outcome, counts={})
    corp = store.runs("corp", limit=10_000)
    assert len(corp) <= 30 + 10 + 1
    assert corp[-1].id == first and corp[-1].outcome == "ok"  # still there: /health still knows when
    assert store.summary("corp").last_success_at == corp[-1].ended_at
    assert len(store.runs("other", limit=10_000)) <= 30 + 10

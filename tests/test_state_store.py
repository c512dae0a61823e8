"""The state store on its own: schema, transactions, what a resumed run finds."""

import sqlite3
import threading

import pytest

from smartsync_tui.core.state_store import (
    SCHEMA_VERSION,
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

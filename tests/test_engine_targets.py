"""The sync engine through the target contract alone: the in-memory directory (ldap3's mock,
read by the real reader) into the in-memory target, with no Samba, no root and no Identity.
What the engine promises of every target: users before groups, the members' remote ids for a
target that needs them, a refused item retried next run, an unavailable target stops the run
and loses nothing, a stop mid-run is a cancel, and the target is closed after every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ldap3 import MODIFY_REPLACE

from smartsync_tui.config.secret_store import SecretStore, directory_password_key
from smartsync_tui.config.settings import DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER, AppSettings, DirectorySettings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncOptions
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.targets.base import TargetStopped
from smartsync_tui.testbed.memory_dc import MemoryDC
from tests.support.memory_target import MemoryTarget

PEOPLE = 30


@pytest.fixture(scope="module")
def memory_dc():
    dc = MemoryDC(PEOPLE).register()
    try:
        yield dc
    finally:
        dc.unregister()


class Env:
    def __init__(self, dc: MemoryDC, root: Path) -> None:
        self.dc = dc
        directory = DirectorySettings(id="m", server=dc.host, tls="plain", bind_user=dc.admin_user,
                                      base_dn=dc.base_dn)
        self.settings = AppSettings(directories=[directory])
        self.secrets = SecretStore(root / "secrets.json")
        self.secrets.set(directory_password_key("m"), dc.admin_password)
        self.state = StateStore(root / "state.db")
        self.target = MemoryTarget()
        self.opened = 0

    def open_target(self, context):  # type: ignore[no-untyped-def]
        assert context.directory.id == "m"
        self.opened += 1
        return self.target

    def sync(self, **options):  # type: ignore[no-untyped-def]
        engine = SyncEngine(self.settings, self.secrets, self.state, target_factory=self.open_target)
        return engine.run("m", SyncOptions(**options))


@pytest.fixture
def env(memory_dc, tmp_path):
    made = Env(memory_dc, tmp_path)
    try:
        yield made
    finally:
        made.state.close()


def test_a_first_run_sends_users_then_groups_with_their_members_remote_ids(env):
    result = env.sync()
    assert (result.outcome, result.mode) == ("ok", "full"), result.error
    users, groups = env.target.users, env.target.groups
    assert result.counts["create"] == len([u for u in users.values() if u["active"]]) > 0
    assert groups and all(set(g["members"]) <= set(users) | set(groups) for g in groups.values())
    # Each group batch was given the remote id of every member it names, and they are the users' own.
    named = {m for g in groups.values() for m in g["members"] if m in users}
    given = {k: v for seen in env.target.member_ids_seen for k, v in seen.items()}
    assert named and named <= set(given) and all(given[m] == env.target.remote[m] for m in named)
    assert not env.target.members_without_id & set(users)
    # The target's ids are kept for the next run (and for a target's member lists).
    assert env.state.remote_ids("m", list(users)) == {k: env.target.remote[k] for k in users}
    assert env.target.closed == env.opened == 1
    assert result.target_connected is True
    assert env.target.known_seen == {}  # a first run knows nothing of any object


def test_the_next_run_sends_nothing_and_a_change_in_ad_is_one_update(env):
    env.sync()
    before = dict(env.target.users)
    again = env.sync()
    assert again.outcome == "ok" and again.mode == "delta" and again.plan is not None and again.plan.ops == []
    admin = env.dc.admin_connection()
    someone = next(u for u in before.values() if u["active"])
    dn = env.state.get_objects("m", [someone["external_id"]])[someone["external_id"]].dn
    admin.modify(dn, {"sn": [(MODIFY_REPLACE, ["Novo Sobrenome"])]})
    changed = env.sync()
    assert changed.counts["update"] == 1 and env.target.users[someone["external_id"]]["last_name"] == "Novo Sobrenome"
    # The target was told what it applied last time: its id and the payload before the change.
    known = env.target.known_seen[someone["external_id"]]
    assert known.remote_id == env.target.remote[someone["external_id"]] and known.payload == someone


def test_a_refused_item_is_a_partial_run_and_is_sent_again_next_time(env):
    env.sync()
    env.dc.add_person({"sam": "recusada", "given": "Rita", "sn": "Recusada", "name": "Rita Recusada",
                       "mail": "recusada@demo.invalid"})
    newcomer = next(u.guid for u in _read_users(env) if u.sam_account_name == "recusada")
    env.target.refused[newcomer] = "login already taken"
    partial = env.sync()
    assert partial.outcome == "partial" and [(f[0], f[2]) for f in partial.failures] == [(newcomer, "login already taken")]
    assert [op.guid for op in env.state.pending("m")] == [newcomer]
    del env.target.refused[newcomer]
    healed = env.sync()
    assert healed.outcome == "ok" and newcomer in env.target.users and env.state.pending("m") == []


def _read_users(env):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from smartsync_tui.ad import reader as ad_sync_reader
    from smartsync_tui.ad import connect as ad_connect
    from smartsync_tui.config.settings import DEFAULT_USER_FILTER

    conn = ad_connect.connect(env.settings.directories[0], SecretStr(env.dc.admin_password))
    try:
        return list(ad_sync_reader.iter_users(conn, env.dc.base_dn, DEFAULT_USER_FILTER))
    finally:
        ad_connect.close(conn)


def test_an_unreachable_target_fails_the_run_before_the_read(env):
    env.target.unavailable = True  # its scope is asked first: nothing is read, nothing is pending
    failed = env.sync()
    assert failed.outcome == "failed" and failed.target_connected is False
    assert env.state.pending("m") == [] and env.target.closed == 1


def test_a_target_lost_while_applying_stops_the_run_and_the_plan_waits_for_the_next(env):
    # Filters set here: the target's scope is not asked, so the loss shows while applying.
    directory = env.settings.directories[0].model_copy(update={
        "user_filter": DEFAULT_USER_FILTER, "group_filter": DEFAULT_GROUP_FILTER})
    env.settings = env.settings.model_copy(update={"directories": [directory]})
    env.target.unavailable = True
    failed = env.sync()
    assert failed.outcome == "failed" and "cannot be reached" in failed.error
    assert failed.target_connected is False
    assert env.target.users == {} and len(env.state.pending("m")) > 0
    assert env.target.closed == 1  # closed even when the run failed
    env.target.unavailable = False
    done = env.sync()
    assert done.outcome == "ok" and env.state.pending("m") == [] and env.target.users


def test_a_refused_batch_marks_its_items_failed_and_the_run_goes_on(env):
    env.target.refuse_batches = 1_000  # every batch of the run
    result = env.sync()
    assert result.outcome == "partial"
    assert {why for _g, _dn, why in result.failures} == {"The memory target refused the batch."}
    assert len(env.state.pending("m")) == len(result.failures)


def test_a_stop_while_the_target_answers_is_a_cancel_that_loses_nothing(env, monkeypatch):
    def stopped(users, known, remote_ids=None):  # type: ignore[no-untyped-def]
        raise TargetStopped("stopped while waiting for the target's answer")

    monkeypatch.setattr(env.target, "apply_users", stopped)
    result = env.sync()
    assert result.outcome == "cancelled" and result.error_kind == "cancelled"
    assert len(env.state.pending("m")) > 0


def test_an_object_missing_from_the_targets_answer_is_refused_by_name(env, monkeypatch):
    real = env.target.apply_users
    dropped: list[str] = []

    def answers_all_but_one(users, known, remote_ids=None):  # type: ignore[no-untyped-def]
        results = real(users, known, remote_ids or {})
        if not dropped:
            dropped.append(results[0].external_id)
            return results[1:]
        return results

    monkeypatch.setattr(env.target, "apply_users", answers_all_but_one)
    result = env.sync()
    assert result.outcome == "partial"
    assert [(g, why) for g, _dn, why in result.failures] == [(dropped[0], "the memory target returned no result for it")]
    assert [op.guid for op in env.state.pending("m")] == dropped

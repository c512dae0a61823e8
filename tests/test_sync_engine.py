"""The sync engine against a real Samba AD DC and the real emulator: what an
admin checks in Identity after each change in AD."""

from __future__ import annotations

import os
import threading

import pytest

from smartsync_tui.engine.results import SyncOptions, SyncProgress
from smartsync_tui.testbed import samba_dc as samba_dc_script

pytestmark = pytest.mark.samba


def seed_basic(env):
    ad = env.ad
    dns = {
        "ana": ad.add_user("ana.goncalves", "Ana", "Gonçalves", title="Analista", department="TI",
                           displayName="Ana Gonçalves"),
        "ivan": ad.add_user("ivan.petrov", "Иван", "Петров"),
        "li": ad.add_user("li.wei", "伟", "李"),
        "nomail": ad.add_user("sem.email", "Sem", "Email", mail=None),
        "off": ad.add_user("desligado", "Des", "Ligado", disabled=True),
    }
    dns["ti"] = ad.add_group("TI", [dns["ana"], dns["ivan"]])
    dns["gestores"] = ad.add_group("Gestores", [dns["ti"], dns["li"]])
    return dns


def test_first_sync_lands_everything_and_a_second_run_applies_nothing(sync_env):
    dns = seed_basic(sync_env)
    guid = {k: sync_env.ad.guid(dn) for k, dn in dns.items()}

    first = sync_env.sync()
    assert first.outcome == "ok", first.error
    assert first.mode == "full"
    assert first.counts["create"] == 3 and first.counts["group_create"] == 2
    assert {why for _g, _dn, why in first.plan.skipped} == {
        "missing mail (Identity requires first name, last name and e-mail)",
        "disabled in AD and never synced: not created",
    }

    users = sync_env.identity_users()
    assert set(users) == {guid["ana"], guid["ivan"], guid["li"]}
    ana = users[guid["ana"]]
    assert (ana["login"], ana["first_name"], ana["last_name"], ana["email"]) == (
        sync_env.ad.login("ana.goncalves"), "Ana", "Gonçalves", f"{sync_env.ad.sam('ana.goncalves')}@corp.example")
    assert (ana["display_name"], ana["job_title"], ana["department"], ana["active"]) == (
        "Ana Gonçalves", "Analista", "TI", True)
    assert (users[guid["ivan"]]["first_name"], users[guid["li"]]["last_name"]) == ("Иван", "李")
    assert ana["groups"] == [guid["ti"]]

    groups = sync_env.identity_groups()
    assert set(groups[guid["ti"]]["members"]) == {guid["ana"], guid["ivan"]}
    assert set(groups[guid["gestores"]]["members"]) == {guid["ti"], guid["li"]}  # nested group kept as a member
    assert groups[guid["ti"]]["name"] == "TI"

    second = sync_env.sync()
    assert second.outcome == "ok" and second.mode == "delta"
    assert second.plan.ops == [] and second.counts["failed"] == 0
    full_again = sync_env.sync(full=True)
    assert full_again.mode == "full" and full_again.plan.ops == []
    assert sync_env.state.counts("corp") == {"users": 3, "disabled_users": 0, "groups": 2}


def test_each_kind_of_change_reaches_identity_through_a_delta_run(sync_env):
    ad = sync_env.ad
    dns = seed_basic(sync_env)
    guid = {k: ad.guid(dn) for k, dn in dns.items()}
    assert sync_env.sync().outcome == "ok"

    ad.modify(dns["ana"], givenName="Ana Beatriz", sn="Gonçalves Lima", mail="ana.lima@corp.example")
    moved_ou = ad.make_ou("Moved")
    dns["ivan"] = ad.move(dns["ivan"], moved_ou)
    ad.set_disabled(dns["li"], True)
    ad.modify(dns["nomail"], mail="sem.email@corp.example")
    ad.remove_member(dns["ti"], dns["ana"])
    ad.add_user("joao.conceicao", "João", "Conceição")

    delta = sync_env.sync()
    assert delta.outcome == "ok", delta.error
    assert delta.mode == "delta"
    users = sync_env.identity_users()
    ana = users[guid["ana"]]
    assert (ana["first_name"], ana["last_name"], ana["email"]) == ("Ana Beatriz", "Gonçalves Lima", "ana.lima@corp.example")
    assert users[guid["ivan"]]["active"] is True  # moved inside the base DN: same user, still active
    assert users[guid["li"]]["active"] is False
    assert users[guid["nomail"]]["email"] == "sem.email@corp.example"
    assert sync_env.by_login()["joao.conceicao"]["first_name"] == "João"
    assert set(sync_env.identity_groups()[guid["ti"]]["members"]) == {guid["ivan"]}
    assert delta.counts["disable"] == 1 and delta.counts["create"] == 2

    ad.set_disabled(dns["li"], False)
    ad.delete(dns["ivan"])
    again = sync_env.sync()
    assert again.mode == "delta" and again.outcome == "ok", again.error
    users = sync_env.identity_users()
    assert users[guid["li"]]["active"] is True
    assert users[guid["ivan"]]["active"] is False  # deleted in AD: disabled, never deleted
    assert again.counts["enable"] == 1 and again.counts["disable"] == 1
    # the moved user's new DN was learnt: the group that lists him by DN still resolves him
    assert sync_env.identity_groups()[guid["ti"]]["members"] == []


def test_a_2000_member_group_and_a_group_nested_in_it(sync_env):
    ad = sync_env.ad
    assert sync_env.sync().outcome == "ok"
    members = [ad.add_user(f"m{i:04d}", "Membro", f"Número {i}") for i in range(2000)]
    big = ad.add_group("Grupo Grande", members)
    ad.add_group("Contém Grande", [big])
    result = sync_env.sync()
    assert result.mode == "delta" and result.outcome == "ok", result.error
    groups = {g["name"]: g for g in sync_env.identity_groups().values()}
    assert len(groups["Grupo Grande"]["members"]) == 2000
    assert groups["Contém Grande"]["members"] == [ad.guid(big)]
    assert len(sync_env.identity_users()) == 2000


def test_the_threshold_holds_a_mass_disable_until_allowed(sync_env):
    seed_basic(sync_env)
    assert sync_env.sync().outcome == "ok"
    sync_env.settings.deletion_threshold.max_count = 1
    corp = sync_env.settings.directory("corp")
    corp.user_filter = f"(&(objectCategory=person)(sAMAccountName={sync_env.ad.sam('ivan.petrov')}))"

    dry = sync_env.sync(dry_run=True)
    assert dry.outcome == "held" and len(dry.plan.held) == 2
    held = sync_env.sync()
    assert held.outcome == "held" and held.exit_code == 1
    assert "more than the deletion threshold (1)" in held.plan.threshold_note
    assert all(u["active"] for u in sync_env.identity_users().values())
    assert len(sync_env.state.held("corp")) == 2

    # Even under the threshold, a read that finds nobody at all is never taken as "everyone left".
    sync_env.settings.deletion_threshold.max_count = 500
    corp.user_filter = "(&(objectCategory=person)(sAMAccountName=nobody-matches-this))"
    nobody = sync_env.sync()
    assert nobody.outcome == "held" and "no user at all" in nobody.plan.threshold_note
    assert len(sync_env.state.held("corp")) == 3 and all(u["active"] for u in sync_env.identity_users().values())

    allowed = sync_env.sync(allow_deletes=True)
    assert allowed.outcome == "ok", allowed.error
    assert not any(u["active"] for u in sync_env.identity_users().values())
    assert sync_env.state.held("corp") == []


def test_dry_run_shows_field_diffs_and_changes_nothing(sync_env):
    dns = seed_basic(sync_env)
    assert sync_env.sync().outcome == "ok"
    sync_env.ad.modify(dns["ana"], sn="Gonçalves Lima")
    before = sync_env.identity_users()
    mark = sync_env.state.watermark("corp")
    dry = sync_env.sync(dry_run=True)
    (op,) = dry.plan.ops
    assert (op.op, op.changes) == ("update", [("last_name", "Gonçalves", "Gonçalves Lima")])
    assert sync_env.identity_users() == before
    assert sync_env.state.watermark("corp") == mark and sync_env.state.pending("corp") == []
    assert sync_env.sync().counts["update"] == 1


def test_identity_failing_requests_is_retried_and_converges(sync_env):
    seed_basic(sync_env)
    emulator = sync_env.emulator
    try:
        emulator.faults(fail_next=2, status=500)
        retried = sync_env.sync()
        assert retried.outcome == "ok", retried.error
        assert len(sync_env.identity_users()) == 3
        sync_env.ad.add_user("novo.usuario", "Novo", "Usuário")
        emulator.faults(fail_next=1, status=429, retry_after=1)
        assert sync_env.sync().outcome == "ok"
        # An outage longer than the retries, starting mid-apply: the run reports it, the work stays pending.
        sync_env.ad.add_user("outro.usuario", "Outro", "Usuário")

        def outage_once_applying(progress: SyncProgress) -> None:
            if progress.phase == "applying" and progress.done == 0:
                emulator.faults(fail_next=50, status=503)

        down = sync_env.engine().run("corp", SyncOptions(), progress=outage_once_applying)
        assert down.outcome == "partial" and down.exit_code == 1
        assert [dn for _g, dn, _e in down.failures] == [f"CN=Outro Usuário,{sync_env.ad.ou}"]
        assert "outro.usuario" not in sync_env.by_login()
        assert [op.op for op in sync_env.state.pending("corp")] == ["create"]
    finally:
        emulator.clear_faults()
    back = sync_env.sync()
    assert back.outcome == "ok", back.error
    logins = [u["login"] for u in sync_env.identity_users().values()]
    assert len(logins) == len(set(logins)) == 5
    assert sync_env.state.pending("corp") == []
    assert sync_env.sync().plan.ops == []


def test_a_dc_that_dies_mid_run_never_causes_disables(sync_env, samba_dc):
    dns = seed_basic(sync_env)
    assert sync_env.sync().outcome == "ok"
    sync_env.ad.delete(dns["ana"])  # a full run would rightly disable her
    sync_env.ad.close()

    def kill_dc_while_reading_groups(progress: SyncProgress) -> None:
        if progress.phase == "reading groups":
            samba_dc_script.stop(samba_dc.pid)

    try:
        died = sync_env.engine().run("corp", SyncOptions(full=True), progress=kill_dc_while_reading_groups)
    finally:
        samba_dc.pid = samba_dc_script.start(samba_dc.dir, die_with_parent=True, owner_pid=os.getpid(), keep_lock=True)
    assert died.outcome == "failed" and died.exit_code == 2
    assert all(u["active"] for u in sync_env.identity_users().values())
    assert sync_env.state.pending("corp") == []

    from tests.support.sync_env import AdEditor

    sync_env.ad = AdEditor(samba_dc, sync_env.ad.ou, tag=sync_env.ad.tag)
    healed = sync_env.sync(full=True)
    assert healed.outcome == "ok", healed.error
    assert [u["login"] for u in sync_env.identity_users().values() if not u["active"]] == [
        sync_env.ad.login("ana.goncalves")]


def test_nested_groups_can_be_flattened_to_their_users(samba_dc, emulator, tmp_path):
    from tests.support.sync_env import make_sync_env

    env = make_sync_env(samba_dc, emulator, tmp_path, flatten_nested_groups=True)
    try:
        dns = seed_basic(env)
        guid = {k: env.ad.guid(dn) for k, dn in dns.items()}
        assert env.sync().outcome == "ok"
        groups = env.identity_groups()
        assert set(groups[guid["gestores"]]["members"]) == {guid["ana"], guid["ivan"], guid["li"]}
        assert set(groups[guid["ti"]]["members"]) == {guid["ana"], guid["ivan"]}
    finally:
        env.ad.close()
        env.state.close()


def test_a_run_cancelled_while_reading_ad_stops_and_sends_nothing(sync_env):
    # The cancel reaches the AD read through the engine's source (ad/source.py): the paged search
    # stops between pages, and a full run that did not finish its read plans no disable.
    dns = seed_basic(sync_env)
    assert sync_env.sync().outcome == "ok"
    sync_env.ad.delete(dns["ana"])
    cancel = threading.Event()

    def cancel_while_reading_users(progress: SyncProgress) -> None:
        if progress.phase == "reading users":
            cancel.set()

    stopped = sync_env.engine().run("corp", SyncOptions(full=True, page_size=1),
                                    progress=cancel_while_reading_users, cancel=cancel)
    assert (stopped.outcome, stopped.error_kind) == ("cancelled", "cancelled")
    assert stopped.error == "cancelled; nothing is lost: the next run goes on from here"
    assert all(u["active"] for u in sync_env.identity_users().values())
    assert sync_env.state.pending("corp") == []
    again = sync_env.sync(full=True)  # the connection was closed: the next run reads afresh
    assert again.outcome == "ok", again.error
    assert [u["login"] for u in sync_env.identity_users().values() if not u["active"]] == [
        sync_env.ad.login("ana.goncalves")]

"""AD into a real SCIM server (scim2-server) through the engine: what an admin checks in the provider
after each change in AD, and the calls it cost (counted by the gate in front of the server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore, directory_password_key, directory_token_key
from smartsync_tui.config.settings import AppSettings, ProxySettings, ScimSettings, save_settings
from smartsync_tui.engine.results import SyncOptions, SyncResult
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.targets.scim import resources
from tests.support.sync_env import AdEditor
from tests.test_sync_engine import seed_basic

pytestmark = pytest.mark.samba


class ScimEnv:
    def __init__(self, samba_dc: Any, gate: Any, tenant: Any, root: Path, **scim: Any) -> None:
        self.gate, self.tenant = gate, tenant
        self.ou = samba_dc.make_ou()
        self.ad = AdEditor(samba_dc, self.ou)
        self.home = resolve_home(root / "home").ensure()
        directory = samba_dc.directory_settings(id="corp", base_dn=self.ou, target="scim",
                                                scim=ScimSettings(base_url=gate.url, **scim))
        self.settings = AppSettings(proxy=ProxySettings(mode="none"), directories=[directory])
        save_settings(self.home.settings_file, self.settings)
        self.secrets = SecretStore(self.home.secrets_file)
        self.secrets.set_many({directory_password_key("corp"): samba_dc.admin_password,
                               directory_token_key("corp"): tenant.server.token})
        self.state = StateStore(self.home.state_db)

    def sync(self, **options: Any) -> SyncResult:
        return SyncEngine(self.settings, self.secrets, self.state).run("corp", SyncOptions(**options))

    def calls_of(self, run) -> Counter:  # type: ignore[no-untyped-def]
        """The requests ``run()`` cost, by "METHOD Kind"."""
        before = Counter(self.gate.calls)
        result = run()
        return result, Counter({k: v - before[k] for k, v in self.gate.calls.items() if v - before[k]})

    def users(self) -> dict[str, dict]:
        return self.tenant.users()

    def by_login(self) -> dict[str, dict]:
        return {u["userName"].split("@")[0].rsplit(".", 1)[0]: u for u in self.users().values()}

    def member_guids(self, group: dict) -> set[str]:
        by_id = {u["id"]: guid for guid, u in self.users().items()}
        return {by_id[m["value"]] for m in group.get("members") or []}

    def close(self) -> None:
        self.ad.close()
        self.state.close()


@pytest.fixture
def scim_env(samba_dc, scim_gate, scim_tenant, tmp_path):  # type: ignore[no-untyped-def]
    env = ScimEnv(samba_dc, scim_gate, scim_tenant, tmp_path)
    try:
        yield env
    finally:
        env.close()


def seed(env: ScimEnv) -> dict[str, str]:
    """The Identity engine tests' directory (tests/test_sync_engine.py), in this test's OU."""
    return seed_basic(env)


def test_a_first_sync_lands_users_and_flattened_groups_and_the_next_runs_cost_no_call(scim_env):
    dns = seed(scim_env)
    guid = {k: scim_env.ad.guid(dn) for k, dn in dns.items()}
    first, calls = scim_env.calls_of(scim_env.sync)
    assert (first.outcome, first.mode) == ("ok", "full"), first.error
    # SCIM needs no e-mail: the user without one is sent; the disabled one never synced is not.
    assert first.counts["create"] == 4 and first.counts["group_create"] == 2
    # One call per object created, and the lookups of the groups' externalIds (a cut run's leftovers).
    assert calls == Counter({"POST Users": 4, "POST Groups": 2, "GET Groups": 2}) + ASKED, calls
    users = scim_env.users()
    assert set(users) == {guid["ana"], guid["ivan"], guid["li"], guid["nomail"]}
    ana = users[guid["ana"]]
    assert (ana["userName"], ana["name"], ana["displayName"], ana["title"], ana["active"]) == (
        scim_env.ad.login("ana.goncalves"), {"givenName": "Ana", "familyName": "Gonçalves"}, "Ana Gonçalves",
        "Analista", True)
    assert ana["emails"] == [{"value": f"{scim_env.ad.sam('ana.goncalves')}@corp.example", "type": "work",
                              "primary": True}]
    assert ana["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {"department": "TI"}
    assert "emails" not in users[guid["nomail"]]
    groups = scim_env.tenant.groups()
    assert scim_env.member_guids(groups[guid["ti"]]) == {guid["ana"], guid["ivan"]}
    # Nested groups flattened: SCIM providers (AWS, Entra) have no group in a group.
    assert scim_env.member_guids(groups[guid["gestores"]]) == {guid["ana"], guid["ivan"], guid["li"]}
    assert groups[guid["ti"]]["displayName"] == "TI"

    delta, calls = scim_env.calls_of(scim_env.sync)
    assert delta.mode == "delta" and delta.plan.ops == [] and calls == Counter()
    full, calls = scim_env.calls_of(lambda: scim_env.sync(full=True))
    assert full.mode == "full" and full.plan.ops == [] and calls == Counter()


def test_each_change_in_ad_is_one_patch_of_what_changed(scim_env):
    ad = scim_env.ad
    dns = seed(scim_env)
    guid = {k: ad.guid(dn) for k, dn in dns.items()}
    assert scim_env.sync().outcome == "ok"

    ad.modify(dns["ana"], givenName="Ana Beatriz", sn="Gonçalves Lima", mail="ana.lima@corp.example")
    dns["ivan"] = ad.move(dns["ivan"], ad.make_ou("Moved"))  # inside the base DN: nothing SCIM holds changes
    ad.set_disabled(dns["li"], True)
    ad.remove_member(dns["ti"], dns["ana"])
    ad.add_user("joao.conceicao", "João", "Conceição")

    delta, calls = scim_env.calls_of(scim_env.sync)
    assert delta.outcome == "ok" and delta.mode == "delta", delta.error
    # ana and li: one PATCH each; TI lost ana: one PATCH; Gestores (flattened) lost nobody... but li is
    # disabled, still a member. joão: one POST. The moved user costs nothing.
    assert calls == Counter({"PATCH Users": 2, "PATCH Groups": 1, "POST Users": 1}) + ASKED, calls
    users = scim_env.users()
    ana = users[guid["ana"]]
    assert (ana["name"]["givenName"], ana["name"]["familyName"], ana["emails"][0]["value"]) == (
        "Ana Beatriz", "Gonçalves Lima", "ana.lima@corp.example")
    assert ana["displayName"] == "Ana Gonçalves"  # AD's displayName did not change
    assert users[guid["li"]]["active"] is False and users[guid["ivan"]]["active"] is True
    assert scim_env.by_login()["joao.conceicao"]["name"]["givenName"] == "João"
    groups = scim_env.tenant.groups()
    assert scim_env.member_guids(groups[guid["ti"]]) == {guid["ivan"]}

    ad.set_disabled(dns["li"], False)
    ad.delete(dns["ivan"])
    again, calls = scim_env.calls_of(scim_env.sync)
    assert again.outcome == "ok", again.error
    users = scim_env.users()
    assert users[guid["li"]]["active"] is True
    # Gone from AD: deactivated, never deleted (a DELETE is irreversible in several providers).
    assert users[guid["ivan"]]["active"] is False
    assert not any(k.startswith("DELETE") for k in scim_env.gate.calls)
    assert calls["PATCH Users"] == 2


def test_429_bursts_5xx_and_a_dropped_connection_converge_without_a_duplicate(scim_env):
    seed(scim_env)
    gate = scim_env.gate
    gate.throttle_next, gate.retry_after = 3, "1"
    gate.fail_next, gate.fail_status = 2, 503
    started = time.monotonic()
    first = scim_env.sync()
    assert first.outcome == "ok", first.error
    assert time.monotonic() - started >= 1.0  # the Retry-After was waited
    assert gate.calls and sum(1 for _m, _p, status in gate.log if status == 429) == 3
    gate.drop_next = 1  # the connection closes with no answer: sent again
    scim_env.ad.add_user("novo.usuario", "Novo", "Usuário")
    assert scim_env.sync().outcome == "ok"
    logins = [u["userName"] for u in scim_env.users().values()]
    assert len(logins) == len(set(logins)) == 5
    assert scim_env.state.pending("corp") == []


def test_a_provider_down_longer_than_the_retries_stops_the_run_and_keeps_the_rest_pending(scim_env):
    seed(scim_env)
    scim_env.gate.fail_next, scim_env.gate.fail_status = 1000, 503
    down = scim_env.sync()
    assert down.outcome == "failed" and "answered HTTP 503" in down.error and "next one" in down.error
    assert len(scim_env.state.pending("corp")) == 6
    scim_env.gate.fail_next = 0
    back = scim_env.sync()
    assert back.outcome == "ok", back.error
    assert len(scim_env.users()) == 4 and scim_env.state.pending("corp") == []


def test_a_revoked_token_stops_the_run_saying_which_token_to_renew(scim_env):
    seed(scim_env)
    scim_env.gate.reject_all = True
    result = scim_env.sync()
    assert result.outcome == "failed" and result.error_kind == "scim-token-rejected"
    assert "directory edit corp --token-stdin" in result.error
    assert scim_env.tenant.server.token not in result.error


def test_a_user_the_agent_did_not_create_is_left_alone_unless_adoption_is_asked(samba_dc, scim_gate, scim_tenant,
                                                                                  tmp_path):
    env = ScimEnv(samba_dc, scim_gate, scim_tenant, tmp_path)
    try:
        env.ad.add_user("ana.goncalves", "Ana", "Gonçalves")
        theirs = scim_tenant.create("Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                             "userName": env.ad.login("ana.goncalves"), "displayName": "Theirs",
                                             "externalId": "someone-else"})
        result = env.sync()
        assert result.outcome == "partial"
        [(_guid, _dn, why)] = result.failures
        assert "did not create" in why and "scim.adopt_existing" in why
        held = scim_tenant.users()["someone-else"]
        assert (held["id"], held["displayName"]) == (theirs["id"], "Theirs")  # untouched

        env.settings.directories[0].scim.adopt_existing = True
        adopted = env.sync()
        assert adopted.outcome == "ok", adopted.error
        users = scim_tenant.users()
        mine = users[env.ad.guid(f"CN=Ana Gonçalves,{env.ou}")]
        assert mine["id"] == theirs["id"] and mine["displayName"] == "Ana Gonçalves" and len(users) == 1
    finally:
        env.close()


def test_aws_limits_a_2000_member_group_is_sent_in_patches_of_100(samba_dc, scim_gate, scim_tenant, tmp_path):
    env = ScimEnv(samba_dc, scim_gate, scim_tenant, tmp_path, profile="aws-identity-center")
    scim_gate.max_members_per_add = scim_gate.max_members_per_remove = 100  # what AWS refuses past
    scim_gate.no_members_on_get = True  # and AWS never shows members on a GET
    scim_gate.only_eq_filters = True  # and takes no filter but `eq`
    try:
        members = [env.ad.add_user(f"m{i:04d}", "Membro", f"Número {i}") for i in range(2000)]
        big = env.ad.add_group("Grupo Grande", members)
        result, calls = env.calls_of(env.sync)
        assert result.outcome == "ok", result.error
        assert calls["POST Users"] == 2000 and calls["POST Groups"] == 1
        assert calls["PATCH Groups"] == 19  # the first 100 with the POST, 1,900 in PATCHes of 100
        scim_gate.no_members_on_get = False  # to look: the server holds every member
        assert len(env.member_guids(scim_tenant.groups()[env.ad.guid(big)])) == 2000
        env.ad.remove_member(big, *members[:250])
        removed, calls = env.calls_of(env.sync)
        assert removed.outcome == "ok", removed.error
        assert calls == Counter({"PATCH Groups": 3}), calls  # 250 removals, 100 per PATCH
        assert len(env.member_guids(scim_tenant.groups()[env.ad.guid(big)])) == 1750
    finally:
        env.close()


def kill_a_sync_after(scim_env: ScimEnv, call: str, count: int) -> None:
    """`smartsync-tui sync` of the directory in a process of its own, killed with SIGKILL once the
    provider has had ``count`` requests of ``call`` ("POST Users")."""
    env = {**os.environ, "SMARTSYNC_HOME": str(scim_env.home.root), "PYTHONUNBUFFERED": "1"}
    agent = subprocess.Popen([sys.executable, "-m", "smartsync_tui", "sync", "--directory", "corp"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while scim_env.gate.calls[call] < count and time.monotonic() < deadline and agent.poll() is None:
        time.sleep(0.005)
    agent.send_signal(signal.SIGKILL)
    out = agent.communicate()[0].decode()
    assert agent.returncode == -signal.SIGKILL, out


def test_an_agent_killed_mid_apply_loses_nothing_and_duplicates_nothing(scim_env):
    for i in range(60):
        scim_env.ad.add_user(f"u{i:03d}", "Usuária", f"Número {i}")
    group = scim_env.ad.add_group("Todos", [])
    kill_a_sync_after(scim_env, "POST Users", 25)
    landed = len(scim_env.users())
    assert 0 < landed < 60
    scim_env.ad.add_member(group, *[f"CN=Usuária Número {i},{scim_env.ou}" for i in range(60)])
    healed = scim_env.sync()
    assert healed.outcome == "ok", healed.error
    users = scim_env.users()
    logins = [u["userName"] for u in users.values()]
    assert len(users) == len(set(logins)) == 60
    assert len(scim_env.member_guids(scim_env.tenant.groups()[scim_env.ad.guid(group)])) == 60
    assert scim_env.sync().plan.ops == []


def test_a_group_outside_the_base_dn_nested_in_one_inside_still_gives_its_users(scim_env, samba_dc):
    ad = scim_env.ad
    inside = ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    other_ou = samba_dc.make_ou()  # beside the directory's base DN, not under it
    outsider_group = ad.add_group("Fora", [inside], ou=other_ou)
    ad.add_user("bia.lima", "Bia", "Lima", ou=other_ou)  # out of scope: never sent
    holder = ad.add_group("Contém Fora", [outsider_group])
    direct = ad.add_group("Direto", [inside])
    result = scim_env.sync()
    assert result.outcome == "ok", result.error
    groups = scim_env.tenant.groups()
    guid = ad.guid(inside)
    # Found through the DC (the read never saw "Fora"); "Direto" from the read alone.
    assert scim_env.member_guids(groups[ad.guid(holder)]) == {guid}
    assert scim_env.member_guids(groups[ad.guid(direct)]) == {guid}
    assert ad.guid(outsider_group) not in groups and len(scim_env.users()) == 1


def test_a_long_run_against_a_rate_limit_settles_under_it_instead_of_hammering_it(scim_env):
    """A provider that takes 40 requests a second (429 past it, Retry-After 1): the run ends complete,
    and after the first 429s the pace stays under the limit (a fixed-rate client meets it every second)."""
    for i in range(240):
        scim_env.ad.add_user(f"r{i:03d}", "Ritmo", f"Número {i}")
    scim_env.gate.limit_per_second = 40
    result = scim_env.sync()
    assert result.outcome == "ok", result.error
    statuses = [status for _m, _p, status in scim_env.gate.log]
    refused = statuses.count(429)
    assert len(scim_env.users()) == 240
    assert 0 < refused <= 12, f"{refused} answers of 429 for {len(statuses)} requests"


#: What a run costs on a generic profile before its first write: what the provider supports.
ASKED = Counter({"GET ServiceProviderConfig": 1, "GET ResourceTypes": 1})


def test_a_renamed_login_is_one_patch_and_a_login_someone_else_holds_is_refused_once(scim_env):
    ad = scim_env.ad
    ana = ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    bia = ad.add_user("bia.lima", "Bia", "Lima")
    assert scim_env.sync().outcome == "ok"
    renamed = ad.login("ana.beatriz")
    ad.modify(ana, userPrincipalName=renamed)
    delta, calls = scim_env.calls_of(scim_env.sync)
    assert delta.outcome == "ok", delta.error
    assert calls == Counter({"PATCH Users": 1}) + ASKED, calls
    assert scim_env.users()[ad.guid(ana)]["userName"] == renamed

    taken = ad.login("someone.else")
    theirs = scim_env.tenant.create("Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                              "userName": taken, "externalId": "not-the-agents"})
    ad.modify(bia, userPrincipalName=taken)
    refused, calls = scim_env.calls_of(scim_env.sync)
    assert refused.outcome == "partial" and calls == Counter({"PATCH Users": 1}) + ASKED, calls
    [(guid, _dn, why)] = refused.failures
    assert guid == ad.guid(bia) and "HTTP 409" in why and "uniqueness" in why, why
    users = scim_env.users()
    assert users[ad.guid(bia)]["userName"] == ad.login("bia.lima")  # kept its login
    assert users["not-the-agents"]["id"] == theirs["id"] and users["not-the-agents"]["userName"] == taken
    # The same login again gets the same answer: not sent until AD changes it.
    again, calls = scim_env.calls_of(scim_env.sync)
    assert calls == Counter(), calls
    ad.modify(bia, userPrincipalName=ad.login("bia.lima2"))
    fixed, calls = scim_env.calls_of(scim_env.sync)
    assert fixed.outcome == "ok" and calls == Counter({"PATCH Users": 1}) + ASKED, calls
    assert scim_env.users()[ad.guid(bia)]["userName"] == ad.login("bia.lima2")


def test_a_generic_provider_is_asked_what_it_serves_once_a_run_has_something_to_send(scim_env):
    """A server whose /ResourceTypes lists Users without the enterprise extension and no Groups: users
    go without department, groups are not sent and say why; a run with nothing to send asks nothing."""
    ad = scim_env.ad
    users_only = {"Resources": [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User",
                                 "name": "User", "endpoint": "/Users", "schemaExtensions": [],
                                 "schema": "urn:ietf:params:scim:schemas:core:2.0:User"}]}
    scim_env.gate.answers["/ResourceTypes"] = (200, json.dumps(users_only).encode())
    ana = ad.add_user("ana.goncalves", "Ana", "Gonçalves", department="TI")
    group = ad.add_group("Equipe", [ana])
    first, calls = scim_env.calls_of(scim_env.sync)
    assert first.outcome == "partial", first.error
    assert calls == Counter({"POST Users": 1}) + ASKED, calls
    held = scim_env.users()[ad.guid(ana)]
    assert held["userName"] == ad.login("ana.goncalves") and resources.ENTERPRISE_USER not in held
    [(guid, _dn, why)] = first.failures
    assert guid == ad.guid(group) and "serves no Groups" in why, why
    assert scim_env.tenant.groups() == {}
    quiet, calls = scim_env.calls_of(scim_env.sync)
    assert calls == Counter(), calls


def test_questions_answered_badly_are_asked_once_and_a_provider_without_filters_still_gets_its_groups(scim_env):
    """/ResourceTypes failing (503) says nothing and is not asked again; /ServiceProviderConfig saying there
    is no filter: groups are created without their externalId lookup, users as usual, and the run is ok."""
    ad = scim_env.ad
    gate = scim_env.gate
    gate.answers["/ServiceProviderConfig"] = (200, json.dumps({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True}, "filter": {"supported": False}, "bulk": {"supported": False}}).encode())
    gate.answers["/ResourceTypes"] = (503, b'{"detail": "down for maintenance"}')
    ana = ad.add_user("ana.goncalves", "Ana", "Gonçalves", department="TI")
    group = ad.add_group("Equipe", [ana])
    first, calls = scim_env.calls_of(scim_env.sync)
    assert first.outcome == "ok", first.error
    assert calls == Counter({"POST Users": 1, "POST Groups": 1}) + ASKED, calls  # no GET Groups, no retry
    held = scim_env.users()[ad.guid(ana)]
    assert held[resources.ENTERPRISE_USER] == {"department": "TI"}  # /ResourceTypes said nothing: still sent
    assert scim_env.member_guids(scim_env.tenant.groups()[ad.guid(group)]) == {ad.guid(ana)}
    ad.modify(ana, sn="Lima")
    renamed, calls = scim_env.calls_of(scim_env.sync)
    assert renamed.outcome == "ok" and calls == Counter({"PATCH Users": 1}) + ASKED, calls


def test_a_provider_that_goes_away_mid_run_keeps_the_rest_pending_and_the_next_run_heals(scim_env):
    for i in range(40):
        scim_env.ad.add_user(f"v{i:02d}", "Volta", f"Número {i}")
    gate = scim_env.gate

    def cut() -> None:
        deadline = time.monotonic() + 60
        while gate.calls["POST Users"] < 10 and time.monotonic() < deadline:
            time.sleep(0.005)
        gate.go_down()

    import threading

    cutter = threading.Thread(target=cut)
    cutter.start()
    down = scim_env.sync()
    cutter.join()
    assert down.outcome == "failed" and down.error_kind, down.error
    landed = len(scim_env.users())
    assert 10 <= landed < 40 and scim_env.state.pending("corp")
    gate.come_back()
    back = scim_env.sync()
    assert back.outcome == "ok", back.error
    users = scim_env.users()
    logins = [u["userName"] for u in users.values()]
    assert len(users) == len(set(logins)) == 40 and scim_env.state.pending("corp") == []


def test_an_agent_killed_while_it_sends_groups_duplicates_no_group(scim_env):
    """Groups' names need not be unique, so a POST sent again after a cut would make a second one: the
    next run finds the agent's own by externalId instead."""
    ad = scim_env.ad
    members = [ad.add_user(f"g{i:02d}", "Grupo", f"Membro {i}") for i in range(10)]
    groups = [ad.add_group(f"Equipe {i:02d}", members[: 1 + i % 10]) for i in range(40)]
    kill_a_sync_after(scim_env, "POST Groups", 8)
    assert 0 < len(scim_env.tenant.groups()) < 40
    healed = scim_env.sync()
    assert healed.outcome == "ok", healed.error
    held = scim_env.tenant.groups()
    names = [g["displayName"] for g in held.values()]
    assert len(held) == len(set(names)) == 40
    for i, dn in enumerate(groups):
        assert scim_env.member_guids(held[ad.guid(dn)]) == {ad.guid(m) for m in members[: 1 + i % 10]}
    assert scim_env.sync().plan.ops == []

"""The planner on its own: what a run would send, from AD objects and the state store, with no
Samba, no root and no Identity (a real StateStore in a temporary folder; the objects are the
reader's plain dataclasses). The engine tests cover the same rules end to end against a DC.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartsync_tui.store.state_store import StateStore, SyncedObject
from smartsync_tui.engine.mapping import content_hash
from smartsync_tui.ad.records import UAC_ACCOUNT_DISABLED, AdGroup, AdUser, DeletedObject
from smartsync_tui.engine.plan import GONE_FROM_SCOPE, Planner, SyncPlan
from smartsync_tui.targets.identity.target import refusal

BASE = "OU=Staff,DC=corp,DC=example"
GROUPS = "OU=Groups,DC=corp,DC=example"
NORMAL = 0x200  # NORMAL_ACCOUNT


def guid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


def user(sam: str, *, sn: str | None = "Silva", mail: str | None = "", disabled: bool = False,
         dn: str | None = None) -> AdUser:
    return AdUser(
        guid=guid(sam), dn=dn or f"CN={sam},{BASE}", sam_account_name=sam,
        user_principal_name=f"{sam}@corp.example", given_name=sam.title(), sn=sn,
        mail=f"{sam}@corp.example" if mail == "" else mail, display_name=None, title=None, department=None,
        user_account_control=NORMAL | (UAC_ACCOUNT_DISABLED if disabled else 0), usn_changed=1,
    )


def group(name: str, *members: AdUser | AdGroup | str, dn: str | None = None) -> AdGroup:
    dns = tuple(m if isinstance(m, str) else m.dn for m in members)
    return AdGroup(guid=guid("group:" + name), dn=dn or f"CN={name},{GROUPS}", name=name, description=None,
                   member_dns=dns, usn_changed=1)


@pytest.fixture
def state(tmp_path: Path):
    with StateStore(tmp_path / "state.db") as store:
        yield store


def plan_of(state: StateStore, users: list[AdUser], groups: list[AdGroup] = (), *, mode: str = "full",
            tombstones: list[DeletedObject] = (), flatten=None) -> SyncPlan:  # type: ignore[no-untyped-def]
    """What the engine does with one read: users, then groups, then what is gone."""
    planner = Planner("corp", state, mode, "test", refusal=refusal)  # Identity's rule: skip without mail
    planner.add_users(users)
    planner.add_groups(groups, flatten=flatten)
    if mode == "full":
        planner.add_gone_after_full_read()
        planner.fill_field_changes()
    else:
        planner.add_tombstones(tombstones)
    return planner.plan


def applied(state: StateStore, plan: SyncPlan) -> None:
    """Record every op as Identity confirming it (what a run that took every batch leaves)."""
    state.record_applied("corp", [
        SyncedObject(op.guid, op.kind, op.dn, f"id-{op.guid}", content_hash(op.payload), op.payload,
                     bool(op.payload.get("active", True)))
        for op in plan.ops
    ])


def ops(plan: SyncPlan) -> list[tuple[str, str]]:
    return sorted((op.op, op.name) for op in plan.ops)


def test_a_first_full_read_creates_the_syncable_and_says_why_the_rest_are_skipped(state):
    ana, bia = user("ana"), user("bia")
    plan = plan_of(state, [ana, bia, user("semmail", mail=None), user("velho", disabled=True)],
                   [group("TI", ana, bia, "CN=Outsider,OU=Elsewhere,DC=corp,DC=example")])
    assert ops(plan) == [("create", "ana@corp.example"), ("create", "bia@corp.example"), ("group-create", "TI")]
    reasons = {dn.split(",")[0]: why for _guid, dn, why in plan.skipped}
    assert reasons == {
        "CN=semmail": "missing mail (Identity requires first name, last name and e-mail)",
        "CN=velho": "disabled in AD and never synced: not created",
    }
    # Members are the synced users' GUIDs; a DN outside the scope is no member.
    ti = next(op for op in plan.ops if op.kind == "group")
    assert ti.payload["members"] == sorted([ana.guid, bia.guid])
    assert (plan.users_read, plan.groups_read) == (4, 1)


@pytest.mark.parametrize("mode", ["full", "delta"])
def test_reading_the_same_directory_again_plans_nothing_and_a_move_is_only_a_new_dn(state, mode):
    ana, bia = user("ana"), user("bia")
    applied(state, plan_of(state, [ana, bia], [group("TI", ana)]))
    moved = user("bia", dn=f"CN=bia,OU=Moved,{BASE}")
    plan = plan_of(state, [ana, moved], [group("TI", ana)], mode=mode)
    assert plan.ops == []
    assert plan.moved == [(bia.guid, moved.dn)]


def test_a_changed_field_an_ad_disable_and_a_re_enable_are_told_apart(state):
    ana, bia, caio = user("ana"), user("bia"), user("caio", disabled=False)
    applied(state, plan_of(state, [ana, bia, caio]))
    state.record_applied("corp", [SyncedObject(caio.guid, "user", caio.dn, "id-c", "old-hash",
                                               {"login": "caio@corp.example", "active": False}, False)])
    plan = plan_of(state, [user("ana", sn="Lima"), user("bia", disabled=True), caio], mode="delta")
    assert ops(plan) == [("disable", "bia@corp.example"), ("enable", "caio@corp.example"),
                         ("update", "ana@corp.example")]
    update = next(op for op in plan.ops if op.op == "update")
    assert update.changes == [("last_name", "Silva", "Lima")]


def test_a_full_read_disables_who_left_the_scope_and_empties_groups_that_left(state):
    ana, bia = user("ana"), user("bia")
    applied(state, plan_of(state, [ana, bia], [group("TI", ana, bia), group("Old", bia)]))
    plan = plan_of(state, [ana], [group("TI", ana)])
    assert ops(plan) == [("disable", "bia@corp.example"), ("group-update", "Old"), ("group-update", "TI")]
    gone = next(op for op in plan.ops if op.op == "disable")
    assert gone.payload["active"] is False and gone.why == GONE_FROM_SCOPE
    assert next(op for op in plan.ops if op.name == "Old").payload["members"] == []
    assert next(op for op in plan.ops if op.name == "TI").payload["members"] == [ana.guid]


def test_a_delta_only_disables_on_a_tombstone_and_drops_the_deleted_from_every_group(state):
    ana, bia = user("ana"), user("bia")
    applied(state, plan_of(state, [ana, bia], [group("TI", ana, bia)]))
    assert plan_of(state, [], mode="delta").ops == []  # not read in a delta is not gone
    plan = plan_of(state, [], mode="delta", tombstones=[DeletedObject(bia.guid, BASE, 9)])
    assert ops(plan) == [("disable", "bia@corp.example"), ("group-update", "TI")]
    ti = next(op for op in plan.ops if op.kind == "group")
    assert ti.payload["members"] == [ana.guid] and ti.why == "member deleted in AD"


def test_nested_groups_flattened_keep_only_users_that_are_synced(state):
    ana, sem = user("ana"), user("sem", mail=None)
    inner = group("Inner", ana, sem)
    outer = group("Outer", inner)
    users = {inner.guid: [ana.guid, sem.guid], outer.guid: [ana.guid, sem.guid]}
    plan = plan_of(state, [ana, sem], [inner, outer], flatten=lambda g: users[g.guid])
    members = {op.name: op.payload["members"] for op in plan.ops if op.kind == "group"}
    assert members == {"Inner": [ana.guid], "Outer": [ana.guid]}


def test_nested_groups_are_flattened_from_the_read_and_the_dc_is_asked_only_beyond_it(state):
    ana, bia, caio = user("ana"), user("bia"), user("caio", disabled=True)
    flat = group("Flat", ana, caio)
    outer = group("Outer", flat, bia)
    loop_a = group("LoopA", "CN=LoopB,OU=Groups,DC=corp,DC=example", ana)
    loop_b = group("LoopB", loop_a, bia)
    beyond = group("Beyond", ana, "CN=someone,OU=Elsewhere,DC=corp,DC=example")
    above = group("Above", beyond)
    asked: list[str] = []

    def flatten(g: AdGroup) -> list[str]:
        asked.append(g.name)
        return [ana.guid, bia.guid]

    plan = plan_of(state, [ana, bia, caio], [flat, outer, loop_a, loop_b, beyond, above, group("Empty")],
                   flatten=flatten)
    members = {op.name: op.payload["members"] for op in plan.ops if op.kind == "group"}
    # Only what the read cannot settle goes to the DC: a member outside it, at any depth.
    assert asked == ["Beyond", "Above"]
    both = sorted([ana.guid, bia.guid])
    assert members["Flat"] == [ana.guid]  # caio: disabled and never synced, not sent
    assert members["Outer"] == both and members["LoopA"] == both and members["LoopB"] == both
    assert members["Empty"] == []


def test_deep_and_diamond_shaped_nesting_is_walked_once_per_group(state):
    """Forty levels, each group holding the next two: millions of paths, each group walked once."""
    ana = user("ana")
    groups = [group("G40", ana)]
    for level in range(39, -1, -1):
        below = groups[-1]
        groups.append(group(f"G{level}", below, groups[-2] if len(groups) > 1 else ana))
    asked: list[str] = []
    plan = plan_of(state, [ana], groups, flatten=lambda g: asked.append(g.name) or [])
    members = {op.name: op.payload["members"] for op in plan.ops if op.kind == "group"}
    assert asked == [] and members["G0"] == [ana.guid] and len(members) == 41


def test_a_full_run_asks_which_members_beyond_the_read_are_groups_and_only_those_go_to_the_dc(state):
    ana = user("ana")
    principal = "CN=S-1-5-11,CN=ForeignSecurityPrincipals,DC=corp,DC=example"
    outside = "CN=Elsewhere,OU=Other,DC=corp,DC=example"
    builtin = group("Users", ana, principal)
    holder = group("Holder", outside)
    asked: list[str] = []
    classified: list[set[str]] = []

    def groups_among(dns: set[str]) -> set[str]:
        classified.append(dns)
        return {outside.lower()}

    def flatten(g: AdGroup) -> list[str]:
        asked.append(g.name)
        return [ana.guid]

    planner = Planner("corp", state, "full", "test", refusal=refusal)
    planner.add_users([ana])
    planner.add_groups([builtin, holder], flatten=flatten, groups_among=groups_among)
    members = {op.name: op.payload["members"] for op in planner.plan.ops if op.kind == "group"}
    assert classified == [{principal, outside}]  # one question for the whole read, the DNs as AD wrote them
    assert asked == ["Holder"] and members == {"Users": [ana.guid], "Holder": [ana.guid]}


def _threshold(state: StateStore, disables: int, *, users_read: int, max_count: int = 10,
               max_percent: float | None = None, allow: bool = False) -> SyncPlan:
    people = [user(f"u{i}") for i in range(20)]
    applied(state, plan_of(state, people))
    planner = Planner("corp", state, "full", "test")
    planner.add_users(people[disables:] if users_read else [])
    planner.add_gone_after_full_read()
    planner.apply_threshold(max_count=max_count, max_percent=max_percent, allow_deletes=allow)
    return planner.plan


def test_more_disables_than_the_threshold_are_held_and_an_admin_can_allow_them(state):
    held = _threshold(state, 11, users_read=9)
    assert [op.op for op in held.ops] == [] and len(held.held) == 11
    assert held.threshold_note.startswith("11 users would be disabled, more than the deletion threshold (10): ")


def test_disables_under_the_threshold_or_allowed_go_ahead(tmp_path):
    with StateStore(tmp_path / "a.db") as state:
        assert [op.op for op in _threshold(state, 10, users_read=10).ops] == ["disable"] * 10
    with StateStore(tmp_path / "b.db") as state:
        allowed = _threshold(state, 15, users_read=5, allow=True)
        assert (len(allowed.ops), allowed.held, allowed.threshold_note) == (15, [], "")


def test_a_percentage_threshold_counts_against_the_active_users(state):
    held = _threshold(state, 5, users_read=15, max_count=100, max_percent=20.0)
    assert len(held.held) == 5  # 5 of 20 active is 25 %, over 20 %
    assert "100 or 20% of 20 active users" in held.threshold_note


def test_a_full_read_that_found_nobody_is_held_even_under_the_count(state):
    plan = _threshold(state, 20, users_read=0, max_count=1000)
    assert len(plan.held) == 20
    assert plan.threshold_note.startswith("AD returned no user at all under this base DN and filter")


names = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.sets(names, max_size=12), second=st.sets(names, max_size=12), renamed=st.sets(names, max_size=4))
def test_a_read_applied_is_a_fixed_point_and_the_next_full_read_plans_exactly_the_difference(
        tmp_path_factory, first, second, renamed):
    """Any two reads: after the first is applied, reading it again plans nothing; the second plans
    a create for each newcomer, a disable for each leaver and an update for each changed surname."""
    with StateStore(tmp_path_factory.mktemp("s") / "state.db") as state:
        read1 = [user(n) for n in sorted(first)]
        applied(state, plan_of(state, read1))
        assert plan_of(state, read1).ops == []
        read2 = [user(n, sn="Novo" if n in renamed else "Silva") for n in sorted(second)]
        plan = plan_of(state, read2)
        expected = sorted(
            [("create", f"{n}@corp.example") for n in second - first]
            + [("disable", f"{n}@corp.example") for n in first - second]
            + [("update", f"{n}@corp.example") for n in (first & second) & renamed]
        )
        assert ops(plan) == expected


def test_a_target_that_refuses_groups_gets_none_and_each_is_listed_with_why(state):
    """A SCIM directory with scim.groups off, or a provider without groups (Zitadel): the planner asks
    the target about groups as about users, so nothing is sent for them and each says why."""
    from smartsync_tui.targets.scim.profiles import PROFILES

    zitadel = PROFILES["zitadel"]
    ana = user("ana")
    planner = Planner("corp", state, "full", "test", refusal=lambda kind, payload: zitadel.refusal(kind, payload))
    planner.add_users([ana])
    planner.add_groups([group("TI", ana)])
    plan = planner.plan
    assert ops(plan) == [("create", "ana@corp.example")]
    [(skipped_guid, dn, why)] = plan.skipped
    assert skipped_guid == guid("group:TI") and dn == f"CN=TI,{GROUPS}" and "Zitadel has none" in why
    # Identity takes every group: nothing changes for it.
    assert ("group-create", "TI") in ops(plan_of(state, [ana], [group("TI", ana)]))

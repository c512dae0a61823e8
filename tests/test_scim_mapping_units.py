"""The SCIM mapping on its own (no server): managers, the enterprise fields, a directory's mapped
paths, what settings accept as a mapping, the order managers are sent in, and the planner's
handling of a report read before its manager."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from smartsync_tui.config import validation
from smartsync_tui.config.settings import ScimMapping, ScimSettings
from smartsync_tui.engine.plan import Planner
from smartsync_tui.engine.plan import PlannedOp
from smartsync_tui.engine.sync import _managers_first
from smartsync_tui.store.state_store import StateStore, SyncedObject
from smartsync_tui.engine.mapping import content_hash
from smartsync_tui.targets.scim import resources
from smartsync_tui.targets.scim.profiles import profile
from smartsync_tui.targets.scim.target import ScimTarget
from tests.test_planner import user
from tests.test_scim_units import apply_operations

ENTERPRISE = resources.ENTERPRISE_USER
MAPPED = ("name.middleName", f"{ENTERPRISE}:costCenter", "urn:example:params:scim:schemas:badge:1.0:User:badge",
          "nickName")


text = st.one_of(st.none(), st.text(min_size=1, max_size=12))
managers = st.one_of(st.none(), st.sampled_from(["m1", "m2", "m3"]))


@st.composite
def payloads(draw):  # type: ignore[no-untyped-def]
    payload = {
        "external_id": "5e1f0000-0000-4000-8000-000000000001", "login": draw(st.text(min_size=1, max_size=12)),
        "first_name": draw(text), "last_name": draw(text), "email": draw(text), "display_name": draw(text),
        "job_title": draw(text), "department": draw(text), "active": draw(st.booleans()),
    }
    for key in ("employee_number", "manager"):
        value = draw(managers if key == "manager" else text)
        if value is not None:
            payload[key] = value
    for path in draw(st.lists(st.sampled_from(MAPPED), unique=True)):
        payload[path] = draw(st.text(min_size=1, max_size=12))
    return payload


@settings(max_examples=300, deadline=None)
@given(old=payloads(), new=payloads(), known=st.dictionaries(st.sampled_from(["m1", "m2", "m3"]),
                                                             st.sampled_from(["id-1", "id-2", "id-3"])))
def test_a_patch_with_managers_and_mapped_paths_leads_where_the_put_would(old, new, known):
    operations = resources.user_operations(old, new, known)
    assert apply_operations(resources.user_resource(old, known), operations) == resources.user_resource(new, known)
    assert resources.user_operations(new, new, known) == []
    body = resources.user_resource(new, known)
    # Every extension used is declared; a manager without an id is left out, never sent as a guid.
    assert set(body["schemas"]) == {resources.CORE_USER} | {k for k in body if k.startswith("urn:")}
    manager = body.get(ENTERPRISE, {}).get("manager")
    assert manager == ({"value": known[new["manager"]]} if new.get("manager") in known else None)


def _target(**scim) -> ScimTarget:  # type: ignore[no-untyped-def]
    t = ScimTarget.__new__(ScimTarget)
    t.profile, t.settings = profile("generic"), ScimSettings(base_url="https://s.example.com", **scim)
    return t


def test_a_mapping_gives_an_agent_path_another_attribute_or_adds_a_path_with_its_default():
    t = _target(mapping=[
        ScimMapping(path="Title", attribute="physicalDeliveryOfficeName"),
        ScimMapping(path="userName", attribute="mail"),
        ScimMapping(path=f"{ENTERPRISE}:costCenter", attribute="company", default="CC-0"),
        ScimMapping(path="nickName", attribute="extensionAttribute1"),
    ])
    assert t.user_attributes() == ("employeeNumber", "manager", "physicalDeliveryOfficeName", "mail", "company",
                                   "extensionAttribute1")
    base = {"external_id": "g", "login": "ana@corp", "job_title": "Analista", "active": True}
    out = t.user_fields(base, {"physicalDeliveryOfficeName": " Sala 1 ", "mail": "ana@x.example",
                               "employeeNumber": "E-1", "manager": "m-guid"})
    # The agent's fields take the mapped attribute (the preview names them as usual); a new path its value or
    # default; a path with neither is left out; the engine's payload itself is not changed.
    assert out == {"external_id": "g", "login": "ana@x.example", "job_title": "Sala 1", "active": True,
                   "employee_number": "E-1", "manager": "m-guid", f"{ENTERPRISE}:costCenter": "CC-0"}
    assert base["login"] == "ana@corp"
    # Without values, nothing is added: a directory synced before keeps its hashes.
    assert _target().user_fields(dict(base), {}) == base


@pytest.mark.parametrize("path", ["title", "name.middleName", f"{ENTERPRISE}:costCenter", "userName",
                                  "urn:example:ext:1.0:User:badge.number"])
def test_a_mapping_takes_a_simple_path(path):
    assert ScimMapping(path=path, default="x").path == path


@pytest.mark.parametrize("path", ["externalId", "ExternalID", "id", "active", "members", "emails",
                                  "phoneNumbers", "emails[type eq \"work\"].value", "manager", f"{ENTERPRISE}:manager", "login", "job_title",
                                  "name..x", "1abc", "", "urn:x", "title; drop", "a b"])
def test_a_mapping_refuses_what_the_agent_owns_lists_and_what_is_no_path(path):
    with pytest.raises(ValidationError):
        ScimMapping(path=path, default="x")


@pytest.mark.parametrize("attribute", ["objectGUID", "objectSid", "unicodePwd", "jpegPhoto", "member",
                                       "ms-Mcs-AdmPwd", "1x", "a b", "x" * 65, "(cn=*)"])
def test_a_mapping_refuses_binary_secret_and_malformed_ad_attributes(attribute):
    with pytest.raises(ValidationError):
        ScimMapping(path="nickName", attribute=attribute)


def test_a_mapping_needs_something_to_send_and_one_entry_per_path():
    with pytest.raises(ValidationError, match="needs an attribute, a default"):
        ScimMapping(path="nickName")
    with pytest.raises(ValidationError, match="twice"):
        ScimSettings(base_url="https://s.example.com", mapping=[ScimMapping(path="nickName", default="a"),
                                                                ScimMapping(path="NICKNAME", default="b")])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_as_a_path_or_attribute_is_taken_or_refused_in_words(value):
    for check in (validation.check_scim_path, validation.check_ad_attribute):
        try:
            out = check(value)
        except ValueError as exc:
            assert str(exc)
        else:
            assert out == value.strip() and out and not any(c.isspace() for c in out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 14)), min_size=1, max_size=15))
def test_managers_are_sent_before_their_reports_whatever_the_chain(manager_of):
    ops = [PlannedOp(f"u{i}", "user", "create", f"CN=u{i}", {"external_id": f"u{i}",
                     **({"manager": f"u{m}"} if m is not None else {})}) for i, m in enumerate(manager_of)]
    ordered = _managers_first(ops)
    assert sorted(op.guid for op in ordered) == sorted(op.guid for op in ops)
    at = {op.guid: n for n, op in enumerate(ordered)}

    def in_cycle(guid: str) -> bool:
        seen, g = set(), guid
        while g in at and g not in seen:
            seen.add(g)
            g = ops[int(g[1:])].payload.get("manager")
        return g in seen

    for op in ops:
        manager = op.payload.get("manager")
        if manager in at and manager != op.guid and not in_cycle(op.guid):
            assert at[manager] < at[op.guid], (manager, op.guid)


@pytest.fixture
def state(tmp_path: Path):
    with StateStore(tmp_path / "state.db") as store:
        yield store


def _planner(state: StateStore, mode: str = "full") -> Planner:
    t = _target()
    return Planner("corp", state, mode, "test", user_fields=t.user_fields, managers=True)


def _with(u, **attributes):  # type: ignore[no-untyped-def]
    from dataclasses import replace
    return replace(u, attributes=tuple(attributes.items()))


def test_a_report_read_before_its_manager_names_it_and_an_unknown_manager_is_left_out(state):
    boss = user("boss")
    ana = _with(user("ana"), manager=boss.dn.upper(), employeeNumber="E-2")  # DNs compare without case
    ivan = _with(user("ivan"), manager=ana.dn)
    stray = _with(user("stray"), manager="CN=Nobody,OU=Elsewhere,DC=corp,DC=example")
    planner = _planner(state)
    planner.add_users([ivan, ana, stray, boss])
    payloads = {op.guid: op.payload for op in planner.plan.ops}
    assert payloads[ana.guid]["manager"] == boss.guid and payloads[ana.guid]["employee_number"] == "E-2"
    assert payloads[ivan.guid]["manager"] == ana.guid
    assert "manager" not in payloads[stray.guid] and "manager" not in payloads[boss.guid]
    assert planner.plan.users_read == 4

    # A delta reads only the report: its manager is found in the state store.
    state.record_applied("corp", [SyncedObject(g, "user", u.dn, "r-" + g, content_hash(p), p, True)
                                  for u in (boss, ana, ivan, stray) for g, p in [(u.guid, payloads[u.guid])]])
    delta = _planner(state, "delta")
    delta.add_users([_with(user("ivan"), manager=boss.dn)])
    [op] = delta.plan.ops
    assert op.payload["manager"] == boss.guid
    assert op.changes == [("manager", "ana@corp.example", "boss@corp.example")]

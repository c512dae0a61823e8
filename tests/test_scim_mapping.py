"""What a SCIM directory sends beyond the core fields, and what it does with what leaves AD: the
enterprise extension (employeeNumber, manager by SCIM id), a directory's own mapping (shown in the
preview), deletion when the directory opts in, and a refusal that waits until AD changes the object.
Against both real SCIM servers, through the gate that counts the calls."""

from __future__ import annotations

from collections import Counter

import pytest

from smartsync_tui.config.settings import DeletionThreshold, ScimMapping
from tests.test_scim_sync import ASKED, ScimEnv

pytestmark = pytest.mark.samba

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _enterprise(user: dict) -> dict:
    return user.get(ENTERPRISE) or {}


def _manager_id(user: dict) -> str | None:
    manager = _enterprise(user).get("manager")
    return manager.get("value") if isinstance(manager, dict) else None


@pytest.fixture
def env(samba_dc, scim_gate, scim_tenant, tmp_path):  # type: ignore[no-untyped-def]
    made: list[ScimEnv] = []

    def make(**scim):  # type: ignore[no-untyped-def]
        made.append(ScimEnv(samba_dc, scim_gate, scim_tenant, tmp_path / str(len(made)), **scim))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_managers_are_named_by_their_scim_id_and_follow_every_change_in_ad(env):
    scim = env()
    ad = scim.ad
    # Reports made before their managers: the read meets a report before the manager it names.
    ivan = ad.add_user("ivan.petrov", "Иван", "Петров", employeeNumber="E-3")
    ana = ad.add_user("ana.goncalves", "Ana", "Gonçalves", employeeNumber="E-2")
    boss = ad.add_user("chefe", "Maria", "Chefe", employeeNumber="E-1")
    ad.modify(ivan, manager=ana)
    ad.modify(ana, manager=boss)
    first, calls = scim.calls_of(scim.sync)
    assert first.outcome == "ok", first.error
    # One POST each: a manager goes before its reports, and is named at once.
    assert calls == Counter({"POST Users": 3}) + ASKED, calls
    users = scim.users()
    u = {k: users[ad.guid(dn)] for k, dn in (("ivan", ivan), ("ana", ana), ("boss", boss))}
    assert _manager_id(u["ivan"]) == u["ana"]["id"] and _manager_id(u["ana"]) == u["boss"]["id"]
    assert _manager_id(u["boss"]) is None
    assert [_enterprise(u[k]).get("employeeNumber") for k in ("ivan", "ana", "boss")] == ["E-3", "E-2", "E-1"]

    ad.modify(ivan, manager=boss, employeeNumber="E-33")
    ad.modify(ana, manager=[])
    delta, calls = scim.calls_of(scim.sync)
    assert delta.outcome == "ok" and delta.mode == "delta", delta.error
    assert calls == Counter({"PATCH Users": 2}) + ASKED, calls
    # The preview names the manager by login, not by guid.
    changes = {op.guid: dict((f, (a, b)) for f, a, b in op.changes) for op in delta.plan.ops}
    assert changes[ad.guid(ivan)]["manager"] == (ad.login("ana.goncalves"), ad.login("chefe"))
    users = scim.users()
    assert _manager_id(users[ad.guid(ivan)]) == u["boss"]["id"]
    assert _enterprise(users[ad.guid(ivan)]).get("employeeNumber") == "E-33"
    assert _manager_id(users[ad.guid(ana)]) is None

    # A manager created after its report was synced: the report names it in the same run.
    new_boss = ad.add_user("nova.chefe", "Nova", "Chefe")
    ad.modify(ana, manager=new_boss)
    delta, calls = scim.calls_of(scim.sync)
    assert delta.outcome == "ok", delta.error
    assert calls == Counter({"POST Users": 1, "PATCH Users": 1}) + ASKED, calls
    users = scim.users()
    assert _manager_id(users[ad.guid(ana)]) == users[ad.guid(new_boss)]["id"]

    quiet, calls = scim.calls_of(scim.sync)
    assert quiet.plan.ops == [] and calls == Counter()
    full, calls = scim.calls_of(lambda: scim.sync(full=True))
    assert full.plan.ops == [] and calls == Counter()


def test_a_directory_mapping_sends_its_attributes_and_the_preview_shows_them(env):
    scim = env(mapping=[
        ScimMapping(path="title", attribute="physicalDeliveryOfficeName"),
        ScimMapping(path=f"{ENTERPRISE}:costCenter", attribute="company", default="CC-0"),
        ScimMapping(path=f"{ENTERPRISE}:organization", default="ACME"),
    ])
    ad = scim.ad
    ana = ad.add_user("ana.goncalves", "Ana", "Gonçalves", title="Analista", physicalDeliveryOfficeName="Sala 12",
                      company="CC-7")
    ivan = ad.add_user("ivan.petrov", "Иван", "Петров")
    assert scim.sync().outcome == "ok"
    users = scim.users()
    a, i = users[ad.guid(ana)], users[ad.guid(ivan)]
    # The office replaces AD's title (the directory said so); the company, else the default.
    assert a["title"] == "Sala 12" and "title" not in i
    assert (_enterprise(a)["costCenter"], _enterprise(i)["costCenter"]) == ("CC-7", "CC-0")
    assert _enterprise(a)["organization"] == _enterprise(i)["organization"] == "ACME"

    ad.modify(ana, company="CC-9", physicalDeliveryOfficeName="Sala 40", title="Gerente")
    preview = scim.sync(dry_run=True)
    [op] = preview.plan.ops
    assert set(op.changes) == {("job_title", "Sala 12", "Sala 40"), (f"{ENTERPRISE}:costCenter", "CC-7", "CC-9")}
    applied, calls = scim.calls_of(scim.sync)
    assert applied.outcome == "ok" and calls == Counter({"PATCH Users": 1}) + ASKED, calls
    a = scim.users()[ad.guid(ana)]
    assert (a["title"], _enterprise(a)["costCenter"]) == ("Sala 40", "CC-9")

    ad.modify(ana, company=[])  # no company: the default again
    assert scim.sync().outcome == "ok"
    assert _enterprise(scim.users()[ad.guid(ana)])["costCenter"] == "CC-0"

    # A new mapping reaches every user at once (the next run is a full one), one PATCH each.
    scim.settings.directories[0].scim.mapping[2] = ScimMapping(path=f"{ENTERPRISE}:organization", default="ACME 2")
    changed, calls = scim.calls_of(scim.sync)
    assert (changed.outcome, changed.mode) == ("ok", "full") and "target" in changed.mode_reason
    assert calls == Counter({"PATCH Users": 2}) + ASKED, calls
    assert {_enterprise(u)["organization"] for u in scim.users().values()} == {"ACME 2"}


def test_without_the_opt_in_users_gone_from_ad_are_deactivated_and_with_it_deleted(env):
    kept = env()
    gone = kept.ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    assert kept.sync().outcome == "ok"
    guid = kept.ad.guid(gone)
    kept.ad.delete(gone)
    result, calls = kept.calls_of(kept.sync)
    assert result.outcome == "ok" and calls == Counter({"PATCH Users": 1}) + ASKED, calls
    assert kept.users()[guid]["active"] is False  # still there, deactivated: never deleted by default

    deleting = env(delete_gone=True)
    ad = deleting.ad
    users = [ad.add_user(f"u{i}", "Usuária", f"Número {i}") for i in range(3)]
    group = ad.add_group("Equipe", users)
    disabled_first = ad.add_user("desligada", "Des", "Ligada")
    assert deleting.sync().outcome == "ok"
    guids = [ad.guid(dn) for dn in users + [group, disabled_first]]
    ad.set_disabled(disabled_first, True)
    assert deleting.sync().outcome == "ok"
    assert deleting.users()[guids[4]]["active"] is False

    # Past the deletion threshold: held, nothing deleted until an admin allows it.
    deleting.settings.deletion_threshold = DeletionThreshold(max_count=1)
    for dn in users[:2] + [disabled_first]:
        ad.delete(dn)
    held, calls = deleting.calls_of(deleting.sync)
    assert held.outcome == "held" and calls == Counter({"PATCH Groups": 1}) + ASKED, calls  # the group lost two
    assert {guids[0], guids[1], guids[4]} <= set(deleting.users())
    allowed, calls = deleting.calls_of(lambda: deleting.sync(allow_deletes=True))
    assert allowed.outcome == "ok", allowed.error
    # The disabled one is deleted too: it left AD (the opt-in is about what leaves, not what is off).
    assert calls == Counter({"DELETE Users": 3}) + ASKED, calls
    assert set(deleting.users()) == {guids[2], guid}  # guid: the first directory's, deactivated
    ad.delete(group)
    result, calls = deleting.calls_of(deleting.sync)
    assert result.outcome == "ok" and calls == Counter({"DELETE Groups": 1}) + ASKED, calls
    assert deleting.tenant.groups() == {}
    again, calls = deleting.calls_of(lambda: deleting.sync(full=True))
    assert again.plan.ops == [] and calls == Counter()  # deleted once, never asked again


def test_a_refusal_for_what_the_user_holds_waits_until_ad_changes_it(env, scim_gate):
    scim = env()
    ad = scim.ad
    scim_gate.refuse = {"Recusada": (400, {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "invalidValue",
        "detail": "familyName Recusada is not allowed here"})}
    ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    zed = ad.add_user("zed", "Zed", "Recusada")
    first = scim.sync()
    assert first.outcome == "partial"
    [(guid, _dn, why)] = first.failures
    assert guid == ad.guid(zed) and "invalidValue" in why and "familyName Recusada is not allowed" in why
    # Sending the same user again would get the same answer: no call until AD changes it.
    for options in ({}, {}):
        quiet, calls = scim.calls_of(lambda: scim.sync(**options))
        assert quiet.outcome == "ok" and calls == Counter(), calls
    assert any(g == guid and "invalidValue" in reason for g, _dn, reason in scim.state.skipped("corp"))
    ad.modify(zed, sn="Aceita")
    fixed, calls = scim.calls_of(scim.sync)
    assert fixed.outcome == "ok" and calls == Counter({"POST Users": 1}) + ASKED, calls
    assert scim.users()[guid]["name"]["familyName"] == "Aceita"
    assert not any(g == guid for g, _dn, _r in scim.state.skipped("corp"))


def test_entra_member_changes_travel_alone_and_one_removal_per_patch(env, scim_gate):
    scim = env(profile="entra-id")
    scim_gate.members_alone = True  # what Entra refuses: members with other changes in one PATCH
    scim_gate.max_members_per_add, scim_gate.max_members_per_remove = 20, 1
    scim_gate.no_members_on_get = True
    scim_gate.only_eq_filters = True
    ad = scim.ad
    users = [ad.add_user(f"m{i:02d}", "Membro", f"Número {i}") for i in range(30)]
    group = ad.add_group("Equipe", users[:25])
    first, calls = scim.calls_of(scim.sync)
    assert first.outcome == "ok", first.error
    assert calls["POST Groups"] == 1 and calls["PATCH Groups"] == 1  # 20 with the POST, 5 in a PATCH
    group = ad.rename(group, "Equipe Nova")
    ad.remove_member(group, *users[:3])
    ad.add_member(group, *users[25:])
    delta, calls = scim.calls_of(scim.sync)
    assert delta.outcome == "ok", delta.error
    assert 400 not in {status for _m, _p, status in scim_gate.log}
    scim_gate.no_members_on_get = False
    held = scim.tenant.groups()[ad.guid(group)]
    assert held["displayName"] == "Equipe Nova"
    assert scim.member_guids(held) == {ad.guid(dn) for dn in users[3:]}
    # The rename alone, 5 additions in one PATCH, 3 removals one per PATCH (Entra's limit).
    assert calls == Counter({"PATCH Groups": 1 + 1 + 3}), calls


def test_a_mapped_attribute_that_is_not_text_sends_its_default_and_is_said_once(env, caplog):
    import logging
    import os

    caplog.set_level(logging.WARNING)
    scim = env(mapping=[ScimMapping(path="nickName", attribute="mS-DS-ConsistencyGuid", default="sem apelido")])
    ad = scim.ad
    users = [ad.add_user(f"b{i}", "Binária", f"Número {i}") for i in range(2)]
    for dn in users:
        ad.modify(dn, **{"mS-DS-ConsistencyGuid": b"\xff\xfe" + os.urandom(14)})  # bytes, not UTF-8
    result = scim.sync()
    assert result.outcome == "ok", result.error  # the read is not stopped for it
    assert {u["nickName"] for u in scim.users().values()} == {"sem apelido"}
    said = [r for r in caplog.records if "mS-DS-ConsistencyGuid is not text" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]


def test_a_deletion_the_provider_refuses_waits_and_the_user_stays(env, scim_gate):
    scim = env(delete_gone=True)
    ad = scim.ad
    dn = ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    ad.add_user("ivan.petrov", "Иван", "Петров")  # a full read that finds nobody is held, not a deletion
    assert scim.sync().outcome == "ok"
    guid = ad.guid(dn)
    remote_id = scim.users()[guid]["id"]
    scim_gate.answers = {f"/Users/{remote_id}": (400, b'{"detail": "users with licences cannot be deleted", '
                                                       b'"scimType": "mutability"}')}
    ad.delete(dn)
    refused = scim.sync()
    assert refused.outcome == "partial"
    [(failed, _dn, why)] = refused.failures
    assert failed == guid and "users with licences cannot be deleted" in why and "deletion of user" in why
    assert guid in scim.users()  # not deleted, and not sent again on every run
    quiet, calls = scim.calls_of(scim.sync)
    assert quiet.outcome == "ok" and calls == Counter(), calls
    scim_gate.answers = {}
    again, calls = scim.calls_of(lambda: scim.sync(full=True))  # a full reconcile tries once more
    assert again.outcome == "ok" and calls == Counter({"DELETE Users": 1}) + ASKED, calls
    assert guid not in scim.users()

"""The target contract (smartsync_tui/targets/base.py), one suite that every target passes:
the Identity target against the real emulator over loopback, and the in-memory target the
engine's own tests use. A new target (SCIM) joins by adding its case here.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from pydantic import SecretStr

from smartsync_tui.targets.identity.client import IdentityClient

from smartsync_tui.targets.identity.network import ProxyChoice
from smartsync_tui.config.secret_store import SecretStore, directory_agent_key, directory_token_key
from smartsync_tui.config.settings import AppSettings, DirectorySettings, IdentitySettings, ProxySettings, ScimSettings
from smartsync_tui.targets.base import (
    BatchRefused,
    ItemResult,
    Target,
    Known,
    TargetCredentialsRejected,
    TargetError,
    TargetScope,
    TargetUnavailable,
)
from smartsync_tui.targets.identity.target import IdentityTarget
from smartsync_tui.targets.registry import TargetContext, factory, open_target
from tests.support.memory_target import MemoryTarget

CORP = DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                         base_dn="DC=corp,DC=example")
USER_FILTER = "(&(objectClass=user)(department=TI))"
GROUP_FILTER = "(&(objectCategory=group)(cn=TI*))"


def a_user(name: str, **fields: Any) -> dict:
    return {"external_id": str(uuid.uuid4()), "login": f"{name}@corp.example", "first_name": name.title(),
            "last_name": "Silva", "email": f"{name}@corp.example", "display_name": None, "job_title": None,
            "department": None, "active": True, **fields}


def a_group(name: str, members: list[str]) -> dict:
    return {"external_id": str(uuid.uuid4()), "name": name, "description": None, "members": sorted(members)}


class IdentityCase:
    """The Identity target of a new emulator directory, and how to look inside it."""

    def __init__(self, emulator: Any, tmp_path: Path) -> None:
        self.emulator = emulator
        self.directory, token = emulator.create_directory(f"contract {uuid.uuid4().hex[:8]}", user_filter=USER_FILTER,
                                                            group_filter=GROUP_FILTER)
        self.settings = AppSettings(identity=IdentitySettings(protocol="http", environment=urlparse(emulator.url).netloc),
                                    proxy=ProxySettings(mode="none"), directories=[CORP])
        self.secrets = SecretStore(tmp_path / "secrets.json")
        with IdentityClient(emulator.url, token=SecretStr(token), proxy=ProxyChoice("none")) as client:
            _agent, key = client.register_agent(socket.gethostname())
        self.secrets.set_many({directory_token_key("corp"): token, directory_agent_key("corp"): key})
        self.target: Target = open_target(TargetContext(self.settings, self.secrets, CORP))
        self.expected_scope = TargetScope(USER_FILTER, GROUP_FILTER)

    def users(self) -> dict[str, dict]:
        return {u["external_id"]: u for u in self.emulator.users(self.directory)}

    def groups(self) -> dict[str, dict]:
        return {g["external_id"]: g for g in self.emulator.groups(self.directory)}

    def refuse(self, external_id: str, detail: str) -> None:
        self.emulator.refuse(self.directory, external_id, detail)

    def unreachable(self) -> Target:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        settings = self.settings.model_copy(update={"identity": IdentitySettings(
            protocol="http", environment=f"127.0.0.1:{port}")})
        return open_target(TargetContext(settings, self.secrets, CORP))

    def reject_credentials(self) -> None:
        self.emulator.revoke_token(self.directory)

    def refuse_next_batch(self) -> None:
        self.emulator.faults(fail_next=1, status=400)  # a 4xx is not retried: the batch is refused

    def close(self) -> None:
        self.emulator.clear_faults()
        self.emulator.clear_refusals(self.directory)
        self.target.close()


class MemoryCase:
    def __init__(self) -> None:
        self.expected_scope = TargetScope(USER_FILTER, GROUP_FILTER)
        self.target = self.memory = MemoryTarget(scope=self.expected_scope)

    def users(self) -> dict[str, dict]:
        return self.memory.users

    def groups(self) -> dict[str, dict]:
        return self.memory.groups

    def refuse(self, external_id: str, detail: str) -> None:
        self.memory.refused[external_id] = detail

    def unreachable(self) -> Target:
        other = MemoryTarget()
        other.unavailable = True
        return other

    def reject_credentials(self) -> None:
        self.memory.credentials_rejected = True

    def refuse_next_batch(self) -> None:
        self.memory.refuse_batches = 1

    def close(self) -> None:
        self.target.close()


class ScimCase:
    """The SCIM target against scim2-server (a real SCIM server), through the gate that counts and refuses."""

    def __init__(self, gate: Any, tenant: Any, tmp_path: Path) -> None:
        self.gate, self.tenant = gate, tenant
        self.secrets = SecretStore(tmp_path / "secrets.json")
        self.secrets.set_many({directory_token_key("corp"): tenant.server.token})
        self.directory = CORP.model_copy(update={"target": "scim", "scim": ScimSettings(base_url=gate.url)})
        self.settings = AppSettings(proxy=ProxySettings(mode="none"), directories=[self.directory])
        self.target = self._open(gate.url)
        self.expected_scope = None  # SCIM holds no filters: the directory's own apply

    def _open(self, url: str) -> Target:
        from smartsync_tui.targets.scim.client import ScimClient
        from smartsync_tui.targets.scim.pace import Pace
        from smartsync_tui.targets.scim.profiles import profile
        from smartsync_tui.targets.scim.target import ScimTarget

        # As open_target builds it, with one retry: an unreachable server is said in a second, not in 7.
        client = ScimClient(url, SecretStr(self.tenant.server.token), directory_id="corp", pace=Pace(None), retries=1)
        return ScimTarget(client, ScimSettings(base_url=url), profile("generic"))

    def users(self) -> dict[str, dict]:
        return {guid: {"login": u["userName"], "last_name": (u.get("name") or {}).get("familyName"),
                       "active": u.get("active")} for guid, u in self.tenant.users().items()}

    def groups(self) -> dict[str, dict]:
        by_id = {u["id"]: guid for guid, u in self.tenant.users().items()}
        return {guid: {"name": g["displayName"], "members": sorted(by_id[m["value"]] for m in g.get("members") or [])}
                for guid, g in self.tenant.groups().items()}

    def refuse(self, external_id: str, detail: str) -> None:
        self.gate.refuse[external_id] = (400, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                               "status": "400", "scimType": "invalidValue", "detail": detail})

    def unreachable(self) -> Target:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return self._open(f"http://127.0.0.1:{port}")

    def reject_credentials(self) -> None:
        self.gate.reject_all = True

    def close(self) -> None:
        self.target.close()


def _case(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if name == "identity":
        return IdentityCase(request.getfixturevalue("emulator"), tmp_path)
    if name.startswith("scim:"):
        from tests.support.scim_server import SCIM_SERVERS, ScimGate

        tenant = request.getfixturevalue(SCIM_SERVERS[name.removeprefix("scim:")]).tenant()
        gate = ScimGate(tenant.url)
        request.addfinalizer(gate.close)
        return ScimCase(gate, tenant, tmp_path)
    return MemoryCase()


@pytest.fixture(params=["identity", "memory", "scim:scim2-server", "scim:scimmy"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made = _case(request.param, request, tmp_path)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(params=["identity", "memory"])
def batch_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The targets that take objects in batches (SCIM takes one object per request: what it refuses is
    that object, as test_a_refused_item_is_an_answer_for_that_item_only checks)."""
    made = _case(request.param, request, tmp_path)
    try:
        yield made
    finally:
        made.close()


def test_users_are_applied_once_each_and_applying_again_changes_nothing(case):
    ana, bia = a_user("ana"), a_user("bia")
    first = case.target.apply_users([ana, bia])
    assert [r.external_id for r in first] == [ana["external_id"], bia["external_id"]]
    assert all(isinstance(r, ItemResult) and r.ok for r in first)
    again = case.target.apply_users([ana, bia])
    assert [(r.external_id, r.remote_id, r.ok) for r in again] == [(r.external_id, r.remote_id, True) for r in first]
    held = case.users()
    assert set(held) == {ana["external_id"], bia["external_id"]}
    assert held[ana["external_id"]]["login"] == "ana@corp.example"


def test_an_update_and_a_disable_reach_the_target(case):
    ana = a_user("ana")
    case.target.apply_users([ana])
    case.target.apply_users([{**ana, "last_name": "Lima", "active": False}])
    held = case.users()[ana["external_id"]]
    assert (held["last_name"], held["active"]) == ("Lima", False)


def test_a_group_holds_the_members_it_is_sent(case, tmp_path):
    ana, bia = a_user("ana"), a_user("bia")
    users = case.target.apply_users([ana, bia])
    ids = {r.external_id: r.remote_id for r in users if r.remote_id}
    group = a_group("TI", [ana["external_id"], bia["external_id"]])
    [result] = case.target.apply_groups([group], ids if case.target.needs_member_ids else {})
    assert result.ok and result.external_id == group["external_id"]
    held = case.groups()[group["external_id"]]
    assert sorted(held["members"]) == sorted([ana["external_id"], bia["external_id"]])
    [emptied] = case.target.apply_groups([{**group, "members": []}], {})
    assert emptied.ok and case.groups()[group["external_id"]]["members"] == []


def test_a_refused_item_is_an_answer_for_that_item_only(case):
    ana, bia = a_user("ana"), a_user("bia")
    case.refuse(bia["external_id"], "login already taken")
    results = {r.external_id: r for r in case.target.apply_users([ana, bia])}
    assert results[ana["external_id"]].ok
    assert not results[bia["external_id"]].ok and "login already taken" in results[bia["external_id"]].error
    assert set(case.users()) == {ana["external_id"]}


def test_an_unreachable_target_raises_unavailable_with_a_readable_message(case):
    target = case.unreachable()
    try:
        with pytest.raises(TargetUnavailable) as caught:
            target.apply_users([a_user("ana")])
    finally:
        target.close()
    assert isinstance(caught.value, TargetError) and str(caught.value).endswith(".")
    assert "Traceback" not in str(caught.value)


def test_rejected_credentials_are_their_own_error_and_never_show_the_token(case):
    case.reject_credentials()
    with pytest.raises(TargetCredentialsRejected) as caught:
        case.target.apply_users([a_user("ana")])
    assert isinstance(caught.value, TargetUnavailable)  # the run stops: every batch would fail so
    secrets = getattr(case, "secrets", None)
    if secrets is not None:
        assert secrets.get(directory_token_key("corp")).get_secret_value() not in str(caught.value)


def test_a_batch_refused_as_a_whole_raises_batch_refused_and_the_next_batch_passes(batch_case):
    case = batch_case
    case.refuse_next_batch()
    with pytest.raises(BatchRefused) as caught:
        case.target.apply_users([a_user("ana")])
    assert not isinstance(caught.value, TargetUnavailable)  # the run goes on with the next batch
    assert str(caught.value) and "Traceback" not in str(caught.value)
    bia = a_user("bia")
    assert [r.ok for r in case.target.apply_users([bia])] == [True]
    assert set(case.users()) == {bia["external_id"]}


def test_what_was_known_is_enough_to_update_and_the_answer_keeps_the_id(case):
    ana = a_user("ana")
    [first] = case.target.apply_users([ana])
    known = {ana["external_id"]: Known(first.remote_id, first.applied or ana)}
    changed = {**ana, "last_name": "Lima", "job_title": "Analista"}
    [second] = case.target.apply_users([changed], known)
    assert second.ok and second.remote_id == first.remote_id
    assert case.users()[ana["external_id"]]["last_name"] == "Lima"


def test_a_member_removed_from_a_known_group_leaves_it(case):
    ana, bia = a_user("ana"), a_user("bia")
    ids = {r.external_id: r.remote_id for r in case.target.apply_users([ana, bia])}
    group = a_group("TI", [ana["external_id"], bia["external_id"]])
    member_ids = ids if case.target.needs_member_ids else {}
    [made] = case.target.apply_groups([group], member_ids)
    known = {group["external_id"]: Known(made.remote_id, made.applied or group)}
    [after] = case.target.apply_groups([{**group, "name": "TI-2", "members": [ana["external_id"]]}], member_ids, known)
    assert after.ok
    held = case.groups()[group["external_id"]]
    assert (held["name"], held["members"]) == ("TI-2", [ana["external_id"]])


def test_the_scope_is_what_the_target_holds_for_the_directory(case):
    assert case.target.scope() == case.expected_scope


def test_close_can_be_called_after_use_and_the_context_manager_closes(case):
    with case.unreachable() as target:
        assert isinstance(target, Target)


# -- the Identity boundary


def test_identity_errors_are_translated_with_their_kind_kept():
    from smartsync_tui.targets.identity.errors import IdentityProtocolError, IdentityRequestStopped, TokenRejected
    from smartsync_tui.targets.base import TargetStopped
    from smartsync_tui.targets.identity.target import translated

    for raised, expected, kind in ((TokenRejected("t."), TargetCredentialsRejected, "token-rejected"),
                                   (IdentityRequestStopped("s."), TargetStopped, "identity-stopped"),
                                   (IdentityProtocolError("p."), BatchRefused, "identity-protocol")):
        with pytest.raises(expected) as caught, translated():
            raise raised
        assert (caught.value.kind, str(caught.value)) == (kind, str(raised))


def test_identity_refuses_a_user_without_a_name_or_e_mail_and_says_which_attribute():
    target = IdentityTarget.__new__(IdentityTarget)  # the rule needs no client
    assert target.refusal("user", a_user("ana")) is None
    assert target.refusal("user", a_user("ana", email=None, last_name="")) == (
        "missing sn, mail (Identity requires first name, last name and e-mail)")
    assert target.refusal("group", a_group("TI", [])) is None


def test_the_registry_names_the_known_targets_for_an_unknown_one():
    assert factory("identity").__module__ == "smartsync_tui.targets.identity.target"
    assert factory("scim").__module__ == "smartsync_tui.targets.scim.target"
    with pytest.raises(Exception, match=r"There is no sync target 'ldif' \(known: identity, scim\)"):
        factory("ldif")


def test_a_missing_token_is_said_before_anything_is_sent(tmp_path):
    from smartsync_tui.core.remedy import SecretMissing

    context = TargetContext(AppSettings(directories=[CORP]), SecretStore(tmp_path / "s.json"), CORP)
    with pytest.raises(SecretMissing, match="token"):
        open_target(context)

"""The strongest check of the SCIM target: random sequences of AD changes (users, names, managers,
employee numbers, disables, deletions, members) and provider faults (429 bursts with Retry-After,
5xx, dropped connections) against the real DC and each real SCIM server, a sync after each step, and
the provider, read through its own SCIM API, equal to the projection of AD (computed from AD
itself, not from the engine's state) every time a sync ran, and a no-change delta costing no call."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.support.scim_server import ScimGate
from tests.test_scim_sync import ScimEnv

pytestmark = pytest.mark.samba

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NAMES = st.sampled_from(["Ana", "João", "Иван", "李", "Zoë", "Maria José"])
_counter = itertools.count()


def ad_projection(env: ScimEnv) -> tuple[dict[str, dict], set[str]]:
    """Every user under the test's OU as the provider must show it, and the group's member DNs."""
    conn = env.ad.conn
    conn.search(env.ad.ou, "(&(objectClass=user)(objectCategory=person))",
                attributes=["objectGUID", "userPrincipalName", "givenName", "sn", "mail", "userAccountControl",
                            "employeeNumber", "manager"])
    users = {}
    for entry in conn.response:
        raw = entry["raw_attributes"]

        def one(name: str) -> str | None:
            values = raw.get(name) or []
            return values[0].decode("utf-8") if values else None

        users[entry["dn"].lower()] = {
            "guid": str(uuid.UUID(bytes_le=raw["objectGUID"][0])), "userName": one("userPrincipalName"),
            "givenName": one("givenName"), "familyName": one("sn"), "email": one("mail"),
            "active": not (int(one("userAccountControl")) & 2), "employeeNumber": one("employeeNumber"),
            "manager": (one("manager") or "").lower() or None,
        }
    conn.search(env.group, "(objectClass=group)", search_scope="BASE", attributes=["member"])
    members = {m.decode("utf-8").lower() for m in conn.response[0]["raw_attributes"].get("member", [])}
    return users, members


class ScimMachine(RuleBasedStateMachine):
    samba_dc = None
    server = None

    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="smartsync-scim-stateful-"))
        self.tenant = self.server.tenant()
        self.gate = ScimGate(self.tenant.url)
        self.env = ScimEnv(self.samba_dc, self.gate, self.tenant, self.tmp)
        self.env.group = self.env.ad.add_group(f"G{next(_counter)}")
        self.users: list[str] = []
        self.in_sync = False

    def teardown(self) -> None:
        if getattr(self, "env", None) is not None:
            self.env.close()
            self.gate.close()
        if getattr(self, "tmp", None) is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- AD changes

    @rule(given=NAMES, sn=NAMES, disabled=st.booleans(), number=st.booleans())
    def add_user(self, given: str, sn: str, disabled: bool, number: bool) -> None:
        self.in_sync = False
        n = next(_counter)
        extra = {"employeeNumber": f"E-{n}"} if number else {}
        self.users.append(self.env.ad.add_user(f"u{n}", given, f"{sn} {n}", disabled=disabled, **extra))

    @precondition(lambda self: self.users)
    @rule(data=st.data(), sn=NAMES)
    def rename(self, data, sn: str) -> None:  # type: ignore[no-untyped-def]
        self.in_sync = False
        self.env.ad.modify(data.draw(st.sampled_from(self.users)), sn=f"{sn} {next(_counter)}")

    @precondition(lambda self: self.users)
    @rule(data=st.data(), disabled=st.booleans())
    def toggle(self, data, disabled: bool) -> None:  # type: ignore[no-untyped-def]
        self.in_sync = False
        self.env.ad.set_disabled(data.draw(st.sampled_from(self.users)), disabled)

    @precondition(lambda self: self.users)
    @rule(data=st.data(), clear=st.booleans())
    def set_manager(self, data, clear: bool) -> None:  # type: ignore[no-untyped-def]
        self.in_sync = False
        report = data.draw(st.sampled_from(self.users))
        self.env.ad.modify(report, manager=[] if clear else data.draw(st.sampled_from(self.users)))

    @precondition(lambda self: self.users)
    @rule(data=st.data())
    def delete(self, data) -> None:  # type: ignore[no-untyped-def]
        self.in_sync = False
        dn = data.draw(st.sampled_from(self.users))
        self.env.ad.delete(dn)
        self.users.remove(dn)

    @precondition(lambda self: self.users)
    @rule(data=st.data(), add=st.booleans())
    def membership(self, data, add: bool) -> None:  # type: ignore[no-untyped-def]
        self.in_sync = False
        dn = data.draw(st.sampled_from(self.users))
        inside = dn.lower() in ad_projection(self.env)[1]
        if add and not inside:
            self.env.ad.add_member(self.env.group, dn)
        elif not add and inside:
            self.env.ad.remove_member(self.env.group, dn)

    # -- syncs

    @rule(full=st.booleans())
    def sync(self, full: bool) -> None:
        result = self.env.sync(full=full)
        if full and not self.users and result.outcome == "held":
            # A full read that finds nobody is held, never taken as "everyone left" (a wrong filter or
            # base DN reads the same): the admin allows it, and then it goes.
            assert "AD returned no user at all" in (result.plan.threshold_note if result.plan else ""), result
            result = self.env.sync(full=True, allow_deletes=True)
        assert result.outcome == "ok", result.error
        self.in_sync = True

    @rule(fault=st.sampled_from(["throttle_next", "fail_next", "drop_next"]), n=st.integers(1, 3))
    def sync_through_faults(self, fault: str, n: int) -> None:
        # Each is retried within the run (429 after its Retry-After, a 503 or a drop after a backoff).
        setattr(self.gate, fault, n)
        self.gate.retry_after = "0"
        try:
            result = self.env.sync()
        finally:
            # A sync with nothing to send leaves its faults unused: they must not add up with the next.
            self.gate.throttle_next = self.gate.fail_next = self.gate.drop_next = 0
        assert result.outcome == "ok", (fault, n, result.error)
        self.in_sync = True

    @invariant()
    def the_provider_holds_the_projection_of_ad(self) -> None:
        if not getattr(self, "in_sync", False):
            return
        users, members = ad_projection(self.env)
        held = self.env.users()
        by_guid = {u["guid"]: u for u in users.values()}
        for want in users.values():
            have = held.get(want["guid"])
            if have is None:
                assert not want["active"], f"{want['userName']} is enabled in AD but missing in the provider"
                continue
            enterprise = have.get(ENTERPRISE) or {}
            assert (have["userName"], have["name"].get("givenName"), have["name"].get("familyName"),
                    (have.get("emails") or [{}])[0].get("value"), have["active"],
                    enterprise.get("employeeNumber")) == (
                want["userName"], want["givenName"], want["familyName"], want["email"], want["active"],
                want["employeeNumber"]), want["userName"]
            manager = users.get(want["manager"]) if want["manager"] else None
            manager_id = held[manager["guid"]]["id"] if manager and manager["guid"] in held else None
            assert (enterprise.get("manager") or {}).get("value") == manager_id, want["userName"]
        for guid, have in held.items():
            if guid not in by_guid:
                assert have["active"] is False, f"{have['userName']} is gone from AD but active in the provider"
        group = self.env.tenant.groups().get(self.env.ad.guid(self.env.group))
        if group is not None:
            want_members = {users[m]["guid"] for m in members if m in users and users[m]["guid"] in held}
            assert self.env.member_guids(group) == want_members
        quiet, calls = self.env.calls_of(self.env.sync)
        assert quiet.outcome == "ok" and calls == Counter(), calls


def test_the_provider_follows_ad_through_random_changes_and_faults(samba_dc, scim_server):
    ScimMachine.samba_dc = samba_dc
    ScimMachine.server = scim_server
    runner = ScimMachine.TestCase
    runner.settings = settings(
        max_examples=6, stateful_step_count=10, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner().runTest()

"""The strongest check of the engine (docs/sync.md, "How the engine is tested"): random sequences of
AD changes and Identity faults against the real DC and emulator, a sync after
each step, and Identity equal to the projection of AD every time the sync
ran undisturbed."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.support.sync_env import make_sync_env

pytestmark = pytest.mark.samba

NAMES = st.sampled_from(["Ana", "João", "Иван", "李", "Zoë", "Maria José"])
_counter = itertools.count()


def ad_projection(env) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """What Identity must hold, computed from AD itself (not from the engine's state)."""
    conn = env.ad.conn
    conn.search(env.ad.ou, "(&(objectClass=user)(objectCategory=person))",
                attributes=["objectGUID", "givenName", "sn", "mail", "userAccountControl"])
    users = {}
    for entry in conn.response:
        raw = entry["raw_attributes"]

        def one(name: str) -> str | None:
            values = raw.get(name) or []
            return values[0].decode("utf-8") if values else None

        if not (one("givenName") and one("sn") and one("mail")):
            continue
        users[raw["objectGUID"][0].hex()] = {
            "dn": entry["dn"].lower(), "first_name": one("givenName"), "last_name": one("sn"), "email": one("mail"),
            "active": not (int(one("userAccountControl")) & 2),
        }
    conn.search(env.ad.ou, "(objectCategory=group)", attributes=["objectGUID", "member"])
    groups = {}
    for entry in conn.response:
        groups[entry["dn"].lower()] = {m.decode("utf-8").lower() for m in entry["raw_attributes"].get("member", [])}
    return users, groups


class SyncMachine(RuleBasedStateMachine):
    samba_dc = None
    emulator = None

    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="smartsync-stateful-"))
        self.env = make_sync_env(self.samba_dc, self.emulator, self.tmp)
        self.users: list[str] = []
        self.group = self.env.ad.add_group(f"G{next(_counter)}")
        self.in_sync = False

    def teardown(self) -> None:
        env = getattr(self, "env", None)
        if env is not None:
            self.emulator.clear_faults()
            env.ad.close()
            env.state.close()
        if getattr(self, "tmp", None) is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)  # one home per example: hundreds per run

    # -- AD changes

    @rule(given=NAMES, sn=NAMES, with_mail=st.booleans(), disabled=st.booleans())
    def add_user(self, given: str, sn: str, with_mail: bool, disabled: bool) -> None:
        self.in_sync = False  # Identity is compared with AD only after a sync
        n = next(_counter)
        dn = self.env.ad.add_user(f"u{n}", given, f"{sn} {n}", "" if with_mail else None, disabled=disabled)
        self.users.append(dn)

    @precondition(lambda self: self.users)
    @rule(data=st.data(), sn=NAMES)
    def rename(self, data, sn: str) -> None:
        self.in_sync = False  # Identity is compared with AD only after a sync
        dn = data.draw(st.sampled_from(self.users))
        self.env.ad.modify(dn, sn=f"{sn} {next(_counter)}")

    @precondition(lambda self: self.users)
    @rule(data=st.data(), disabled=st.booleans())
    def toggle(self, data, disabled: bool) -> None:
        self.in_sync = False  # Identity is compared with AD only after a sync
        self.env.ad.set_disabled(data.draw(st.sampled_from(self.users)), disabled)

    @precondition(lambda self: self.users)
    @rule(data=st.data())
    def delete(self, data) -> None:
        self.in_sync = False  # Identity is compared with AD only after a sync
        dn = data.draw(st.sampled_from(self.users))
        self.env.ad.delete(dn)
        self.users.remove(dn)

    @precondition(lambda self: self.users)
    @rule(data=st.data(), add=st.booleans())
    def membership(self, data, add: bool) -> None:
        self.in_sync = False  # Identity is compared with AD only after a sync
        dn = data.draw(st.sampled_from(self.users))
        _users, groups = ad_projection(self.env)
        inside = dn.lower() in groups[self.group.lower()]
        if add and not inside:
            self.env.ad.add_member(self.group, dn)
        elif not add and inside:
            self.env.ad.remove_member(self.group, dn)

    # -- syncs

    @rule()
    def sync(self) -> None:
        result = self.env.sync()
        assert result.outcome == "ok", result.error
        self.in_sync = True

    @rule(status=st.sampled_from([500, 503]), n=st.integers(1, 6))
    def sync_with_identity_failing(self, status: int, n: int) -> None:
        self.emulator.faults(fail_next=n, status=status)
        try:
            result = self.env.sync()
        finally:
            self.emulator.clear_faults()
        assert result.outcome in ("ok", "partial", "failed")
        self.in_sync = result.outcome == "ok"

    @invariant()
    def identity_is_the_projection_of_ad(self) -> None:
        if not getattr(self, "in_sync", False) or not hasattr(self, "env"):
            return
        import uuid

        users, groups = ad_projection(self.env)
        identity = self.env.identity_users()
        expected = {str(uuid.UUID(bytes_le=bytes.fromhex(k))): v for k, v in users.items()}
        for guid, want in expected.items():
            have = identity.get(guid)
            if have is None:
                assert not want["active"], f"{want['dn']} is enabled in AD but missing in Identity"
                continue
            assert (have["first_name"], have["last_name"], have["email"], have["active"]) == (
                want["first_name"], want["last_name"], want["email"], want["active"]), want["dn"]
        for guid, have in identity.items():
            if guid not in expected:
                assert have["active"] is False, f"{have['login']} is gone from AD but active in Identity"
        dn_of = {v["dn"]: g for g, v in expected.items()}
        (group,) = [g for g in self.env.identity_groups().values()] or [None]
        if group is not None:
            want_members = {dn_of[m] for m in groups[self.group.lower()] if m in dn_of and dn_of[m] in identity}
            assert set(group["members"]) == want_members


def test_identity_follows_ad_through_random_changes_and_faults(samba_dc, emulator):
    SyncMachine.samba_dc = samba_dc
    SyncMachine.emulator = emulator
    runner = SyncMachine.TestCase
    runner.settings = settings(
        max_examples=10, stateful_step_count=8, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner().runTest()

"""A directory ready to sync: its own OU on the session's Samba DC, its own
directory in the emulator, its own home. Tests change AD through ``ad`` and
check Identity through ``identity_users()`` / ``identity_groups()``."""

from __future__ import annotations

import itertools
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE
from pydantic import SecretStr

from smartsync_tui.targets.identity.client import IdentityClient
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import (
    SecretStore,
    directory_agent_key,
    directory_password_key,
    directory_token_key,
)
from smartsync_tui.config.settings import AppSettings, IdentitySettings, ProxySettings, save_settings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncOptions, SyncResult
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.testbed.samba_dc import rdn_escape


_TAG_PREFIX = uuid.uuid4().hex[:2]
_TAGS = itertools.count(1)


class AdEditor:
    """Changes to AD made the way an admin would (as Administrator, over LDAPS)."""

    def __init__(self, samba_dc: Any, ou: str, tag: str | None = None) -> None:
        self.dc = samba_dc
        self.ou = ou
        # sAMAccountName is unique in the whole domain, which the session shares: a counter makes each
        # editor's tag unique in this process (every test that uses the DC runs on one worker), the
        # prefix drawn per process guards a DC folder reused by another run. At most 5 characters:
        # the longest name the tests give ("joao.conceicao") then fills AD's 20.
        self.tag = tag or f"{_TAG_PREFIX}{next(_TAGS):03x}"
        self.conn = samba_dc.admin_connection()

    def sam(self, name: str) -> str:
        return f"{name}.{self.tag}"

    def login(self, name: str) -> str:
        return f"{self.sam(name)}@{self.dc.realm.lower()}"

    def close(self) -> None:
        self.conn.unbind()

    def add_user(self, sam: str, given: str | None, sn: str | None, mail: str | None = "", *,
                 disabled: bool = False, ou: str | None = None, **extra: str) -> str:
        cn = " ".join(p for p in (given, sn) if p) or sam
        dn = f"CN={rdn_escape(cn)},{ou or self.ou}"
        attrs: dict[str, Any] = {
            "sAMAccountName": self.sam(sam),
            "userPrincipalName": self.login(sam),
            "userAccountControl": 514 if disabled else 512,
        }
        if given:
            attrs["givenName"] = given
        if sn:
            attrs["sn"] = sn
        if mail == "":
            mail = f"{self.sam(sam)}@corp.example"
        if mail:
            attrs["mail"] = mail
        attrs.update(extra)
        self.conn.add(dn, ["top", "person", "organizationalPerson", "user"], attrs)
        return dn

    def add_group(self, name: str, members: list[str] = (), *, ou: str | None = None) -> str:  # type: ignore[assignment]
        dn = f"CN={rdn_escape(name)},{ou or self.ou}"
        # AD refuses brackets and most punctuation in a sAMAccountName (never in a CN).
        attrs: dict[str, Any] = {"sAMAccountName": self.sam("".join(c for c in name if c.isalnum() or c in "-_.")[:14])}
        if members:
            attrs["member"] = list(members)
        self.conn.add(dn, ["top", "group"], attrs)
        return dn

    def modify(self, dn: str, **values: Any) -> None:
        self.conn.modify(dn, {k: [(MODIFY_REPLACE, v if isinstance(v, list) else [v])] for k, v in values.items()})

    def set_disabled(self, dn: str, disabled: bool) -> None:
        self.modify(dn, userAccountControl=514 if disabled else 512)

    def add_member(self, group_dn: str, *member_dns: str) -> None:
        self.conn.modify(group_dn, {"member": [(MODIFY_ADD, list(member_dns))]})

    def remove_member(self, group_dn: str, *member_dns: str) -> None:
        self.conn.modify(group_dn, {"member": [(MODIFY_DELETE, list(member_dns))]})

    def move(self, dn: str, new_parent: str) -> str:
        rdn = dn.split(",", 1)[0]
        self.conn.modify_dn(dn, rdn, new_superior=new_parent)
        return f"{rdn},{new_parent}"

    def rename(self, dn: str, cn: str) -> str:
        """A new CN (a group's name), same place; the new DN."""
        rdn = f"CN={rdn_escape(cn)}"
        self.conn.modify_dn(dn, rdn)
        return f"{rdn},{dn.split(',', 1)[1]}"

    def delete(self, dn: str) -> None:
        self.conn.delete(dn)

    def make_ou(self, name: str) -> str:
        dn = f"OU={name},{self.ou}"
        self.conn.add(dn, "organizationalUnit")
        return dn

    def guid(self, dn: str) -> str:
        self.conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["objectGUID"])
        return str(uuid.UUID(bytes_le=self.conn.response[0]["raw_attributes"]["objectGUID"][0]))


@dataclass
class SyncEnv:
    home: Home
    settings: AppSettings
    secrets: SecretStore
    state: StateStore
    emulator: Any
    identity_directory: str
    ad: AdEditor
    directory_id: str = "corp"
    results: list[SyncResult] = field(default_factory=list)

    def engine(self) -> SyncEngine:
        return SyncEngine(self.settings, self.secrets, self.state)

    def sync(self, **options: Any) -> SyncResult:
        result = self.engine().run(self.directory_id, SyncOptions(**options))
        self.results.append(result)
        return result

    def identity_users(self) -> dict[str, dict]:
        """external_id -> user as Identity has it."""
        return {u["external_id"]: u for u in self.emulator.users(self.identity_directory)}

    def identity_groups(self) -> dict[str, dict]:
        return {g["external_id"]: g for g in self.emulator.groups(self.identity_directory)}

    def by_login(self) -> dict[str, dict]:
        """Identity's users by the name the test gave them (without the domain and the tag)."""
        return {u["login"].split("@")[0].rsplit(".", 1)[0]: u for u in self.identity_users().values()}


def make_sync_env(samba_dc: Any, emulator: Any, root: Path, *, ou: str | None = None, **directory: Any) -> SyncEnv:
    ou = ou or samba_dc.make_ou()
    identity_directory, token = emulator.create_directory(f"sync-test {ou}")
    home = resolve_home(root / "home").ensure()
    settings = AppSettings(
        identity=IdentitySettings(protocol="http", environment=urlparse(emulator.url).netloc),
        proxy=ProxySettings(mode="none"),
        directories=[samba_dc.directory_settings(id="corp", base_dn=ou, **directory)],
    )
    save_settings(home.settings_file, settings)
    secrets = SecretStore(home.secrets_file)
    with IdentityClient(emulator.url, token=SecretStr(token), proxy=_no_proxy()) as client:
        _agent, key = client.register_agent(socket.gethostname())
    secrets.set_many({
        directory_password_key("corp"): samba_dc.admin_password,
        directory_token_key("corp"): token,
        directory_agent_key("corp"): key,
    })
    return SyncEnv(home, settings, secrets, StateStore(home.state_db), emulator, identity_directory, AdEditor(samba_dc, ou))


def _no_proxy():  # type: ignore[no-untyped-def]
    from smartsync_tui.targets.identity.network import ProxyChoice

    return ProxyChoice("none")


@pytest.fixture
def sync_env(samba_dc: Any, emulator: Any, tmp_path: Path) -> Iterator[SyncEnv]:
    env = make_sync_env(samba_dc, emulator, tmp_path)
    try:
        yield env
    finally:
        env.ad.close()
        env.state.close()

"""smartsync_tui.ad.reader: unit tests with a fake reader, then the real Samba AD DC.

The Samba tests work in OUs of their own (``samba_dc.make_ou()``): the DC is
shared by the whole session. One test stops and restarts the DC (a DC that
goes away mid-read); it restores it before returning.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import pytest
from ldap3 import MODIFY_ADD, MODIFY_REPLACE
from ldap3.protocol.formatters.formatters import format_uuid_le
from pydantic import SecretStr

from smartsync_tui.ad import reader as ad_sync_reader
from smartsync_tui.ad import connect as ad_connect
from smartsync_tui.ad import search as ad_search
from smartsync_tui.ad.reader import (
    GROUP_ATTRIBUTES,
    USER_ATTRIBUTES,
    delta_filter,
    domain_dn_of,
    iter_deleted,
    iter_groups,
    iter_users,
    nested_user_guids,
    read_dc_identity,
)
from smartsync_tui.ad.errors import DirectoryError, SearchCancelled
from smartsync_tui.ad.search import guid_to_str
from smartsync_tui.config.settings import DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER
from smartsync_tui.ad.records import AdGroup, AdUser
from tests.support.samba import samba_dc_script

BIG = 2000  # members of the big group (beyond AD's MaxValRange of 1500)


# ---------------------------------------------------------------------------
# Unit tests: a fake paged_search that answers like real AD


def guid_bytes(n: int) -> bytes:
    return uuid.UUID(int=n).bytes_le


class FakeAd:
    """Stands in for ad_search.paged_search: groups whose ``member`` real AD would cut."""

    def __init__(self, groups: dict[str, list[str]], max_val_range: int = 1500) -> None:
        self.groups = groups
        self.max = max_val_range
        self.requests: list[tuple[str, str, list[str]]] = []

    def _window(self, values: list[bytes], low: int, high: int | None) -> tuple[str, list[bytes]]:
        last = len(values) - 1
        top = min(last, low + self.max - 1, high if high is not None else last)
        if top >= last:
            return f"member;range={low}-*", values[low:]
        return f"member;range={low}-{top}", values[low : top + 1]

    def entry(self, dn: str, attributes: list[str]) -> dict[str, Any]:
        n = list(self.groups).index(dn) + 1
        values = [v.encode() for v in self.groups[dn]]
        entry: dict[str, Any] = {"dn": dn}
        for name in attributes:
            if name == "objectGUID":
                entry[name] = [guid_bytes(n)]
            elif name == "cn":
                entry[name] = [dn.split(",")[0][3:].encode()]
            elif name == "uSNChanged":
                entry[name] = [str(100 + n).encode()]
            elif name == "member" and values:
                if len(values) <= self.max:
                    entry["member"] = values
                else:  # what AD does beyond MaxValRange
                    key, window = self._window(values, 0, None)
                    entry[key] = window
            elif name.startswith("member;range=") and values:
                low, _, high = name[13:].partition("-")
                key, window = self._window(values, int(low), None if high == "*" else int(high))
                entry[key] = window
        return entry

    def __call__(self, conn, base_dn, ldap_filter, attributes, **kwargs):
        self.requests.append((base_dn, kwargs.get("scope", "subtree"), list(attributes)))
        if kwargs.get("scope") == "base":
            return iter([self.entry(base_dn, list(attributes))])
        return iter([self.entry(dn, list(attributes)) for dn in self.groups])


def test_delta_filter():
    assert delta_filter("(objectClass=user)", None) == "(objectClass=user)"
    assert delta_filter("(objectClass=user)", 41) == "(&(uSNChanged>=42)(objectClass=user))"
    assert delta_filter(" objectClass=user ", 0) == "(&(uSNChanged>=1)(objectClass=user))"
    for bad in (-1, "5", True, 1.5):
        with pytest.raises(ValueError):
            delta_filter("(a=b)", bad)


def test_attribute_lists():
    assert USER_ATTRIBUTES == (
        "objectGUID", "sAMAccountName", "userPrincipalName", "givenName", "sn", "mail",
        "displayName", "title", "department", "userAccountControl", "uSNChanged",
    )
    assert GROUP_ATTRIBUTES == ("objectGUID", "cn", "sAMAccountName", "description", "uSNChanged", "member")


def test_groups_beyond_max_val_range_like_real_ad(monkeypatch):
    big = [f"CN=u{i},OU=X" for i in range(4000)]
    exact = [f"CN=e{i},OU=X" for i in range(1500)]
    fake = FakeAd({"CN=big,OU=G": big, "CN=exact,OU=G": exact, "CN=empty,OU=G": []})
    monkeypatch.setattr(ad_sync_reader, "paged_search", fake)
    groups = {g.name: g for g in iter_groups(None, "OU=G", "(objectCategory=group)")}
    assert groups["big"].member_dns == tuple(big)
    assert groups["exact"].member_dns == tuple(exact)
    assert groups["empty"].member_dns == ()
    follow_ups = [(base, attrs) for base, scope, attrs in fake.requests if scope == "base"]
    assert follow_ups == [
        ("CN=big,OU=G", ["member;range=1500-*"]),
        ("CN=big,OU=G", ["member;range=3000-*"]),
    ]


def test_explicit_ranges_follow_up_in_windows(monkeypatch):
    members = [f"CN=u{i},OU=X" for i in range(1200)]
    fake = FakeAd({"CN=g,OU=G": members})
    monkeypatch.setattr(ad_sync_reader, "paged_search", fake)
    [group] = iter_groups(None, "OU=G", "(x=y)", member_range_size=500)
    assert group.member_dns == tuple(members)
    assert [r[2][-1] for r in fake.requests] == [
        "member;range=0-499", "member;range=500-999", "member;range=1000-1499",
    ]
    with pytest.raises(ValueError):
        list(iter_groups(None, "OU=G", "(x=y)", member_range_size=0))


def test_a_range_that_does_not_continue_is_an_error(monkeypatch):
    def answers(conn, base_dn, ldap_filter, attributes, **kwargs):
        if kwargs.get("scope") == "base":  # asked 1500-*, answers another window
            return iter([{"dn": base_dn, "member;range=1400-*": [b"CN=x"]}])
        return iter([{"dn": "CN=g", "objectGUID": [guid_bytes(1)], "cn": [b"g"], "uSNChanged": [b"5"],
                      "member;range=0-1499": [b"CN=m%d" % i for i in range(1500)]}])

    monkeypatch.setattr(ad_sync_reader, "paged_search", answers)
    with pytest.raises(DirectoryError) as caught:
        list(iter_groups(None, "OU=G", "(x=y)"))
    assert caught.value.stage == "search" and "CN=g" in str(caught.value)


def test_follow_up_that_finds_no_more_values_ends_the_list(monkeypatch):
    # Members removed between two windows: the group's current list is what was read.
    def answers(conn, base_dn, ldap_filter, attributes, **kwargs):
        if kwargs.get("scope") == "base":
            return iter([{"dn": base_dn, "cn": [b"g"]}])
        return iter([{"dn": "CN=g", "objectGUID": [guid_bytes(1)], "cn": [b"g"], "uSNChanged": [b"5"],
                      "member;range=0-1": [b"CN=a", b"CN=b"]}])

    monkeypatch.setattr(ad_sync_reader, "paged_search", answers)
    [group] = iter_groups(None, "OU=G", "(x=y)")
    assert group.member_dns == ("CN=a", "CN=b")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"sAMAccountName": [b"a"], "userAccountControl": [b"512"], "uSNChanged": [b"1"]}, "no objectGUID"),
        ({"objectGUID": [b"short"], "sAMAccountName": [b"a"], "userAccountControl": [b"512"],
          "uSNChanged": [b"1"]}, "5 bytes"),
        ({"objectGUID": [guid_bytes(1)], "sAMAccountName": [b"a"], "userAccountControl": [b"512"]},
         "no uSNChanged"),
        ({"objectGUID": [guid_bytes(1)], "sAMAccountName": [b"a"], "userAccountControl": [b"x"],
          "uSNChanged": [b"1"]}, "not a number"),
        ({"objectGUID": [guid_bytes(1)], "sAMAccountName": [b"a"], "userAccountControl": [b"512"],
          "uSNChanged": [b"1"], "sn": [b"\xff\xfe"]}, "not valid UTF-8"),
    ],
)
def test_an_entry_that_cannot_be_read_stops_the_read(monkeypatch, entry, words):
    good = {"dn": "CN=good", "objectGUID": [guid_bytes(7)], "sAMAccountName": [b"good"],
            "userAccountControl": [b"512"], "uSNChanged": [b"3"]}
    monkeypatch.setattr(ad_sync_reader, "paged_search",
                        lambda *a, **k: iter([good, {"dn": "CN=bad,OU=X", **entry}, good]))
    read = []
    with pytest.raises(DirectoryError) as caught:
        for user in iter_users(None, "OU=X", "(objectClass=user)"):
            read.append(user)
    assert len(read) == 1  # never skipped silently: the read stops at the bad entry
    assert caught.value.stage == "search"
    assert "CN=bad,OU=X" in str(caught.value) and words in str(caught.value)


# ---------------------------------------------------------------------------
# Against the real DC: set-up


def new_connection(samba_dc):
    return ad_connect.connect(samba_dc.directory_settings(), SecretStr(samba_dc.admin_password), timeout=5)


@pytest.fixture
def conn(samba_dc):
    connection = new_connection(samba_dc)
    yield connection
    ad_connect.close(connection)


class Searches:
    """Records the searches a connection sends (base, scope, attributes)."""

    def __init__(self, conn, after=None):
        self.calls: list[tuple[str, Any, list[str]]] = []
        original = conn.search

        def search(base, ldap_filter, *args, **kwargs):
            self.calls.append((base, kwargs.get("search_scope"), list(kwargs.get("attributes") or ())))
            outcome = original(base, ldap_filter, *args, **kwargs)
            if after is not None:
                after(len(self.calls))
            return outcome

        conn.search = search

    @property
    def count(self) -> int:
        return len(self.calls)


def ldap3_view(admin, dn: str) -> dict[str, Any]:
    """An object as ldap3 itself shows it: the reference for exact decoding.

    The admin connection reads no schema, so values come raw; ldap3's own
    objectGUID formatter (independent of guid_to_str) gives the GUID.
    """
    admin.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["objectGUID", "uSNChanged"])
    entry = admin.response[0]
    return {"dn": entry["dn"], "guid": format_uuid_le(entry["raw_attributes"]["objectGUID"][0]).strip("{}").lower(),
            "usn": int(entry["raw_attributes"]["uSNChanged"][0])}


PEOPLE = [
    # display None: no displayName (and no title, department); mail False: no mail
    {"cn": "João Conceição-Araújo", "given": "João", "sn": "Conceição-Araújo", "mail": True,
     "display": "João Conceição-Araújo", "title": "Coordenação Técnica", "department": "Tecnologia da Informação",
     "enabled": True},
    {"cn": "Дмитрий Шостакович", "given": "Дмитрий", "sn": "Шостакович", "mail": True,
     "display": "Дмитрий Шостакович", "title": "Композитор", "department": "Музыка", "enabled": True},
    {"cn": "王小明", "given": "小明", "sn": "王", "mail": True, "display": "王小明 🙂", "title": "工程师",
     "department": "研发部", "enabled": True},
    {"cn": "O'Brien, Seán", "given": "Seán", "sn": "O'Brien", "mail": True, "display": "Seán O'Brien (Ops) *",
     "title": "Técnico", "department": "Operações", "enabled": True},
    {"cn": "Márcia Desativada", "given": "Márcia", "sn": "Guimarães", "mail": True, "display": "Márcia Guimarães",
     "title": "Analista", "department": "Financeiro", "enabled": False},
    {"cn": "Sem Correio", "given": "Zé", "sn": "Ninguém", "mail": False, "display": None, "title": None,
     "department": None, "enabled": True},
]


def rdn(value: str) -> str:
    out = value.replace("\\", "\\\\")
    for char in ',+"<>;=#':
        out = out.replace(char, "\\" + char)
    return out


@pytest.fixture(scope="module")
def world(samba_dc):
    """One OU with the people above, one with a 2,000-member group, one with nested groups."""
    token = uuid.uuid4().hex[:6]
    realm = samba_dc.realm.lower()
    people_ou = samba_dc.make_ou()
    big_ou = samba_dc.make_ou()
    nest_ou = samba_dc.make_ou()
    admin = samba_dc.admin_connection()
    started = time.monotonic()
    try:
        people = []
        for n, p in enumerate(PEOPLE):
            sam = f"p{token}{n}"
            dn = f"CN={rdn(p['cn'])},{people_ou}"
            attrs: dict[str, Any] = {"sAMAccountName": sam, "userPrincipalName": f"{sam}@{realm}",
                                     "givenName": p["given"], "sn": p["sn"]}
            for key, name in (("display", "displayName"), ("title", "title"), ("department", "department")):
                if p[key] is not None:
                    attrs[name] = p[key]
            if p["mail"]:
                attrs["mail"] = f"{sam}.ñ@{realm}"
            if p["enabled"]:  # an enabled account needs a password
                attrs["unicodePwd"] = f'"Pw-{token}-Ünï!1"'.encode("utf-16-le")
                attrs["userAccountControl"] = 512
            else:
                attrs["userAccountControl"] = 514
            admin.add(dn, "user", attrs)
            people.append({**p, "dn": dn, "sam": sam, "upn": f"{sam}@{realm}", "mail_value": attrs.get("mail"),
                           "uac": attrs["userAccountControl"], **ldap3_view(admin, dn)})

        members = []
        for i in range(BIG):
            dn = f"CN=Big {i:04d},{big_ou}"
            admin.add(dn, "user", {"sAMAccountName": f"b{token}{i:04d}"})
            members.append(dn)
        big_group = f"CN=Grupo Enorme,{big_ou}"
        admin.add(big_group, "group", {"sAMAccountName": f"g{token}big", "member": members,
                                       "description": "Dois mil membros"})

        u = f"CN=Úrsula Aninhada,{nest_ou}"
        v = f"CN=Vítor Direto,{nest_ou}"
        outsider = f"CN=Fora,{nest_ou}"
        for dn, sam in ((u, "u"), (v, "v"), (outsider, "o")):
            admin.add(dn, "user", {"sAMAccountName": f"n{token}{sam}"})
        group_b = f"CN=Equipe B,{nest_ou}"
        group_a = f"CN=Líderes (A)\\, *,{nest_ou}"  # filter-special characters in the DN
        admin.add(group_b, "group", {"sAMAccountName": f"g{token}b", "member": [u]})
        admin.add(group_a, "group", {"sAMAccountName": f"g{token}a", "member": [group_b, v]})
        seconds = time.monotonic() - started
        yield {
            "people_ou": people_ou, "people": people, "big_ou": big_ou, "members": members,
            "big_group": big_group, "nest_ou": nest_ou, "u": u, "v": v, "outsider": outsider,
            "group_a": group_a, "group_b": group_b, "guids": {dn: ldap3_view(admin, dn)["guid"] for dn in (u, v, outsider)},
            "setup_seconds": seconds,
        }
    finally:
        admin.unbind()


# ---------------------------------------------------------------------------
# Users


def test_users_read_back_exactly(world, conn):
    users = {u.dn: u for u in iter_users(conn, world["people_ou"], DEFAULT_USER_FILTER)}
    assert len(users) == len(PEOPLE)
    for p in world["people"]:
        assert users[p["dn"]] == AdUser(
            guid=p["guid"],  # as ldap3 itself reports it
            dn=p["dn"],
            sam_account_name=p["sam"],
            user_principal_name=p["upn"],
            given_name=p["given"],
            sn=p["sn"],
            mail=p["mail_value"],
            display_name=p["display"],
            title=p["title"],
            department=p["department"],
            user_account_control=p["uac"],
            usn_changed=p["usn"],
        )
        assert users[p["dn"]].disabled is (not p["enabled"])
    by_cn = {u.dn.split(",OU=")[0]: u for u in users.values()}
    assert by_cn["CN=王小明"].display_name == "王小明 🙂"
    assert by_cn["CN=O'Brien\\, Seán"].given_name == "Seán"
    assert by_cn["CN=Sem Correio"].mail is None and by_cn["CN=Sem Correio"].title is None


def test_users_pages_and_filter(world, conn):
    searches = Searches(conn)
    users = list(iter_users(conn, world["big_ou"], "(objectClass=user)", page_size=300))
    assert len(users) == BIG and len({u.guid for u in users}) == BIG
    assert searches.count in (7, 8)  # pages of 300 (a server may send one more, empty page)
    assert all(isinstance(u, AdUser) and u.given_name is None and u.mail is None for u in users)
    assert list(iter_users(conn, world["people_ou"], "(sn=Шостакович)")) == [
        u for u in iter_users(conn, world["people_ou"], DEFAULT_USER_FILTER) if u.sn == "Шостакович"
    ]


def test_a_filter_that_matches_non_accounts_is_an_error_not_a_skip(samba_dc, conn):
    ou = samba_dc.make_ou()
    admin = samba_dc.admin_connection()
    try:
        admin.add(f"CN=Contato Externo,{ou}", "contact", {"givenName": "Ana", "sn": "Contato", "mail": "a@x.org"})
    finally:
        admin.unbind()
    with pytest.raises(DirectoryError) as caught:
        list(iter_users(conn, ou, "(objectClass=person)"))  # contacts are persons, not accounts
    assert caught.value.stage == "search"
    assert "CN=Contato Externo" in str(caught.value) and "sAMAccountName" in str(caught.value)


def add_users(samba_dc, ou: str, names: list[str]) -> list[str]:
    admin = samba_dc.admin_connection()
    try:
        dns = []
        for name in names:
            dn = f"CN={name},{ou}"
            admin.add(dn, "user", {"sAMAccountName": f"x{uuid.uuid4().hex[:12]}", "title": "Início"})
            dns.append(dn)
        return dns
    finally:
        admin.unbind()


def modify(samba_dc, dn: str, changes: dict[str, Any]) -> None:
    admin = samba_dc.admin_connection()
    try:
        admin.modify(dn, changes)
    finally:
        admin.unbind()


def test_delta_returns_only_what_changed_after_the_watermark(samba_dc, conn):
    ou = samba_dc.make_ou()
    _first, second, _third = add_users(samba_dc, ou, ["Ana Um", "Бора Два", "三 Três"])
    before = read_dc_identity(conn).highest_committed_usn
    assert len(list(iter_users(conn, ou, "(objectClass=user)"))) == 3
    assert list(iter_users(conn, ou, "(objectClass=user)", since_usn=before)) == []
    modify(samba_dc, second, {"title": [(MODIFY_REPLACE, ["Дирижёр"])]})
    changed = list(iter_users(conn, ou, "(objectClass=user)", since_usn=before))
    assert [u.dn for u in changed] == [second]
    assert changed[0].title == "Дирижёр" and changed[0].usn_changed > before
    after = read_dc_identity(conn).highest_committed_usn
    assert after >= changed[0].usn_changed
    assert list(iter_users(conn, ou, "(objectClass=user)", since_usn=after)) == []


# ---------------------------------------------------------------------------
# The DC


def test_dc_identity(samba_dc, conn):
    [dn] = add_users(samba_dc, samba_dc.make_ou(), ["Identidade"])
    first = read_dc_identity(conn)
    assert first.dns_host_name.lower() == samba_dc.tls_server_name.lower()
    assert str(uuid.UUID(first.invocation_id)) == first.invocation_id  # canonical, lowercase
    admin = samba_dc.admin_connection()
    try:
        admin.search("", "(objectClass=*)", search_scope="BASE", attributes=["dsServiceName"])
        service = admin.entries[0].dsServiceName.value
        admin.search(service, "(objectClass=*)", search_scope="BASE", attributes=["invocationId"])
        assert guid_to_str(admin.entries[0].invocationId.raw_values[0]) == first.invocation_id
    finally:
        admin.unbind()
    modify(samba_dc, dn, {"department": [(MODIFY_REPLACE, ["TI"])]})
    second = read_dc_identity(conn)
    assert second.highest_committed_usn > first.highest_committed_usn
    assert (second.dns_host_name, second.invocation_id) == (first.dns_host_name, first.invocation_id)
    assert domain_dn_of(conn) == samba_dc.base_dn


# ---------------------------------------------------------------------------
# Deletions


def test_deleted_user_is_found_after_the_watermark(samba_dc, world, conn):
    ou = samba_dc.make_ou()
    dn = f"CN=Será Apagado,{ou}"
    admin = samba_dc.admin_connection()
    try:
        admin.add(dn, "user", {"sAMAccountName": f"del{uuid.uuid4().hex[:8]}"})
        guid = ldap3_view(admin, dn)["guid"]
        group = f"CN=Grupo Apagado,{ou}"
        admin.add(group, "group", {"sAMAccountName": f"gdel{uuid.uuid4().hex[:8]}"})
        group_guid = ldap3_view(admin, group)["guid"]
        watermark = read_dc_identity(conn).highest_committed_usn
        assert guid not in {d.guid for d in iter_deleted(conn, samba_dc.base_dn, since_usn=watermark)}
        admin.delete(dn)
        admin.delete(group)
    finally:
        admin.unbind()
    deleted = {d.guid: d for d in iter_deleted(conn, samba_dc.base_dn, since_usn=watermark)}
    assert guid in deleted and group_guid in deleted
    assert deleted[guid].last_known_parent == ou
    assert all(d.usn_changed > watermark for d in deleted.values())
    assert guid not in {u.guid for u in iter_users(conn, ou, "(objectClass=user)")}
    later = read_dc_identity(conn).highest_committed_usn
    assert guid not in {d.guid for d in iter_deleted(conn, samba_dc.base_dn, since_usn=later)}


# ---------------------------------------------------------------------------
# Groups


def test_big_group_complete_by_default(world, conn):
    searches = Searches(conn)
    [group] = iter_groups(conn, world["big_ou"], DEFAULT_GROUP_FILTER)
    assert isinstance(group, AdGroup)
    assert group.dn == world["big_group"] and group.name == "Grupo Enorme"
    assert group.description == "Dois mil membros"
    assert len(group.member_dns) == BIG and set(group.member_dns) == set(world["members"])
    assert searches.count == 1  # Samba returns every value of a plain `member`


def test_big_group_like_real_ad_cuts_member_at_1500(world, conn, monkeypatch):
    # Real AD answers a plain `member` beyond MaxValRange with `member;range=0-1499`;
    # Samba never does, so ask it for exactly that and let the default path follow up.
    real = ad_search.paged_search

    def like_ad(c, base, flt, attributes, **kwargs):
        attributes = ["member;range=0-1499" if a == "member" else a for a in attributes]
        return real(c, base, flt, attributes, **kwargs)

    monkeypatch.setattr(ad_sync_reader, "paged_search", like_ad)
    searches = Searches(conn)
    [group] = iter_groups(conn, world["big_ou"], DEFAULT_GROUP_FILTER)
    assert set(group.member_dns) == set(world["members"]) and len(group.member_dns) == BIG
    assert searches.calls[1] == (world["big_group"], "BASE", ["member;range=1500-*"])
    assert searches.count == 2


@pytest.mark.parametrize(("size", "requests"), [(1500, 2), (500, 4), (700, 3)])
def test_big_group_complete_with_explicit_ranges(world, conn, size, requests):
    searches = Searches(conn)
    [group] = iter_groups(conn, world["big_ou"], DEFAULT_GROUP_FILTER, member_range_size=size)
    default = next(iter_groups(conn, world["big_ou"], DEFAULT_GROUP_FILTER))
    assert group == default  # same values, same order
    assert searches.count == requests + 1
    follow_ups = searches.calls[1:requests]
    assert [attrs for _base, _scope, attrs in follow_ups] == [
        [f"member;range={low}-{low + size - 1}"] for low in range(size, BIG, size)
    ]
    assert all(base == world["big_group"] and scope == "BASE" for base, scope, _ in follow_ups)


def test_nested_groups(world, conn):
    # Windows of one value and pages of one group: follow-up reads between the pages of the search.
    searches = Searches(conn)
    groups = {g.dn: g for g in iter_groups(conn, world["nest_ou"], DEFAULT_GROUP_FILTER, page_size=1,
                                           member_range_size=1)}
    scopes = [scope for _base, scope, _attrs in searches.calls]
    assert scopes[0] == "SUBTREE" and "BASE" in scopes and "SUBTREE" in scopes[scopes.index("BASE"):]
    a, b = groups[world["group_a"]], groups[world["group_b"]]
    assert set(a.member_dns) == {world["group_b"], world["v"]}
    assert b.member_dns == (world["u"],)
    assert a.name == "Líderes (A), *"
    assert groups == {g.dn: g for g in iter_groups(conn, world["nest_ou"], DEFAULT_GROUP_FILTER)}
    guids = world["guids"]
    assert set(nested_user_guids(conn, world["nest_ou"], world["group_a"], DEFAULT_USER_FILTER)) == {
        guids[world["u"]], guids[world["v"]]
    }
    assert nested_user_guids(conn, world["nest_ou"], world["group_b"], DEFAULT_USER_FILTER) == [guids[world["u"]]]


def test_nested_user_guids_pages_through_a_big_group(world, conn):
    guids = nested_user_guids(conn, world["big_ou"], world["big_group"], "(objectClass=user)", page_size=700)
    assert len(guids) == BIG
    assert set(guids) == {u.guid for u in iter_users(conn, world["big_ou"], "(objectClass=user)")}


def test_group_delta_sees_membership_changes(samba_dc, conn):
    ou = samba_dc.make_ou()
    inside, outside = add_users(samba_dc, ou, ["Dentro", "Fora"])
    group = f"CN=Grupo Delta,{ou}"
    admin = samba_dc.admin_connection()
    try:
        admin.add(group, "group", {"sAMAccountName": f"gd{uuid.uuid4().hex[:12]}", "member": [inside]})
    finally:
        admin.unbind()
    before = read_dc_identity(conn).highest_committed_usn
    assert list(iter_groups(conn, ou, DEFAULT_GROUP_FILTER, since_usn=before)) == []
    modify(samba_dc, group, {"member": [(MODIFY_ADD, [outside])]})
    [changed] = iter_groups(conn, ou, DEFAULT_GROUP_FILTER, since_usn=before)
    assert changed.dn == group and changed.usn_changed > before
    assert set(changed.member_dns) == {inside, outside}


# ---------------------------------------------------------------------------
# Cancel and failures mid-read


def test_cancel_between_pages(world, conn):
    cancel = threading.Event()
    seen = []
    with pytest.raises(SearchCancelled) as caught:
        for user in iter_users(conn, world["big_ou"], "(objectClass=user)", page_size=250, cancel=cancel):
            seen.append(user)
            cancel.set()
    assert len(seen) == 250 and caught.value.entries_read == 250
    # the connection still works after the server dropped the search
    assert len(list(iter_users(conn, world["people_ou"], DEFAULT_USER_FILTER))) == len(PEOPLE)


def test_cancel_between_member_ranges(world, conn):
    cancel = threading.Event()
    searches = Searches(conn, after=lambda n: cancel.set() if n == 2 else None)
    with pytest.raises(SearchCancelled):
        list(iter_groups(conn, world["big_ou"], DEFAULT_GROUP_FILTER, member_range_size=500, cancel=cancel))
    assert searches.count == 2  # the first page and one window; no more after the cancel


def test_connection_lost_between_member_ranges_raises(world, conn):
    import socket

    def cut(n):
        if n == 2:
            conn.socket.shutdown(socket.SHUT_RDWR)

    Searches(conn, after=cut)
    with pytest.raises(DirectoryError) as caught:
        list(iter_groups(conn, world["big_ou"], DEFAULT_GROUP_FILTER, member_range_size=500))
    assert caught.value.stage == "search" and "incomplete" in str(caught.value)


def test_dc_stopped_mid_read_raises_not_a_short_result(samba_dc, world):
    """Stops the shared DC between two pages, then starts it again (as restarted_with does)."""
    conn = new_connection(samba_dc)
    try:
        stream = iter_users(conn, world["big_ou"], "(objectClass=user)", page_size=500)
        seen = [next(stream) for _ in range(500)]
        samba_dc_script.stop(samba_dc.pid)
        try:
            with pytest.raises(DirectoryError) as caught:
                seen.extend(stream)
        finally:
            samba_dc.pid = samba_dc_script.start(
                samba_dc.dir, die_with_parent=True, owner_pid=os.getpid(), keep_lock=True
            )
        assert len(seen) == 500
        assert caught.value.stage == "search"
        assert "after 500 entries" in str(caught.value) and "incomplete" in str(caught.value)
    finally:
        ad_connect.close(conn)
    # the DC is back and whole
    again = new_connection(samba_dc)
    try:
        assert len(list(iter_users(again, world["big_ou"], "(objectClass=user)"))) == BIG
    finally:
        ad_connect.close(again)


def test_deleted_objects_unreadable_is_an_error(samba_dc, conn):
    with pytest.raises(DirectoryError) as caught:
        list(iter_deleted(conn, "DC=nowhere,DC=invalid", since_usn=0))
    assert caught.value.stage == "search" and "Deleted Objects" in str(caught.value)

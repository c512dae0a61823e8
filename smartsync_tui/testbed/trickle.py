"""The demo's trickle of directory changes: what an AD admin does during a day.

A background thread makes one small change every few seconds (a rename, a new
person, a disable and the re-enable, a group membership added and removed)
through an ordinary LDAP connection as the directory's administrator, so the
next delta sync has something to carry and the console's log and table move.
The same code writes to a Samba DC (LDAPS) and to the in-memory directory (its
mock stamps the new USN, as a DC does).
"""

from __future__ import annotations

import itertools
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, NONE, Connection, Server, Tls

from smartsync_tui.ad.login_check import dns_name_of
from smartsync_tui.i18n import _
from smartsync_tui.testbed.samba_dc import (
    FIRST_NAMES,
    FIXED_USERS,
    GROUPS,
    GROUPS_OU,
    LAST_NAMES,
    LDAPS_PORT,
    STAFF_OU,
    UF_ACCOUNTDISABLE,
    UF_NORMAL_ACCOUNT,
    rdn_escape,
)

log = logging.getLogger("smartsync.demo")

ConnectionFactory = Callable[[], Connection]


def samba_admin_connection(dc: Any) -> ConnectionFactory:
    """Connections to a samba_dc DC over LDAPS as its Administrator, its own CA validated."""

    def connect() -> Connection:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_file, valid_names=[dc.tls_server_name])
        server = Server(dc.host, port=LDAPS_PORT, use_ssl=True, tls=tls, get_info=NONE, connect_timeout=5)
        conn = Connection(server, user=dc.admin_user, password=dc.admin_password, raise_exceptions=True)
        conn.bind()
        return conn

    return connect


class DemoChanges:
    """The endless list of changes, each applied by :meth:`apply_next` and described in words.

    By default on what samba_dc's seed made (and the in-memory directory
    copies): the enabled FIXED_USERS in OU=Staff, the GROUPS in OU=Groups,
    under the domain ``base_dn``. ``people`` (dicts with ``sam`` and ``name``,
    the CN), ``groups``, their OUs and ``new_sam`` (the n-th newcomer's
    sAMAccountName) point it elsewhere, e.g. at a test's own OU.
    """

    def __init__(
        self,
        base_dn: str,
        *,
        people_ou: str | None = None,
        groups_ou: str | None = None,
        people: list[dict[str, Any]] | None = None,
        groups: list[str] | None = None,
        new_sam: Callable[[int], str] = lambda n: f"nova{n:03d}",
    ) -> None:
        self.people_ou = people_ou or f"OU={STAFF_OU},{base_dn}"
        self.groups_ou = groups_ou or f"OU={GROUPS_OU},{base_dn}"
        self.domain = dns_name_of(base_dn).lower()
        self.people = people or [u for u in FIXED_USERS if not u.get("flags") and u["name"] != "Souza, Paulo"]
        self.groups = groups or list(GROUPS)
        self.new_sam = new_sam
        self._renamed: set[str] = set()
        self._steps = self._cycle()

    def person_dn(self, name: str) -> str:
        return f"CN={rdn_escape(name)},{self.people_ou}"

    def group_dn(self, name: str) -> str:
        return f"CN={rdn_escape(name)},{self.groups_ou}"

    def apply_next(self, conn: Connection) -> str:
        return next(self._steps)(conn)

    def _cycle(self) -> Iterator[Callable[[Connection], str]]:
        people, groups = self.people, self.groups
        newcomers = itertools.count(1)
        for round_ in itertools.count():
            person = people[round_ % len(people)]
            other = people[(round_ + 3) % len(people)]
            group = groups[round_ % len(groups)]
            yield lambda conn, p=person: self._rename(conn, p)
            yield lambda conn: self._new_person(conn, next(newcomers))
            yield lambda conn, p=other: self._set_disabled(conn, p, True)
            yield lambda conn, g=group, p=person: self._toggle_membership(conn, g, p)
            yield lambda conn, p=other: self._set_disabled(conn, p, False)
            yield lambda conn, g=group, p=person: self._toggle_membership(conn, g, p)

    def _rename(self, conn: Connection, person: dict[str, Any]) -> str:
        # A display name change (as after a marriage), and back the next time round.
        if person["sam"] in self._renamed:
            self._renamed.discard(person["sam"])
            new = person["name"]
        else:
            self._renamed.add(person["sam"])
            new = f"{person['name']} Magalhães"
        conn.modify(self.person_dn(person["name"]), {"displayName": [(MODIFY_REPLACE, [new])]})
        return _("{sam}'s display name is now '{name}'").format(sam=person["sam"], name=new)

    def _new_person(self, conn: Connection, n: int) -> str:
        given, sn = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n * 7) % len(LAST_NAMES)]
        name, sam = f"{given} {sn} (nova {n})", self.new_sam(n)
        conn.add(self.person_dn(name), ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": sam, "userPrincipalName": f"{sam}@{self.domain}",
            "givenName": given, "sn": sn, "displayName": name, "mail": f"{sam}@{self.domain}",
            "title": "Estagiário(a)", "department": "TI", "userAccountControl": str(UF_NORMAL_ACCOUNT),
        })
        return _("new person {sam} ({name})").format(sam=sam, name=name)

    def _set_disabled(self, conn: Connection, person: dict[str, Any], disabled: bool) -> str:
        flags = UF_NORMAL_ACCOUNT | (UF_ACCOUNTDISABLE if disabled else 0)
        conn.modify(self.person_dn(person["name"]), {"userAccountControl": [(MODIFY_REPLACE, [str(flags)])]})
        return (_("{sam} disabled") if disabled else _("{sam} re-enabled")).format(sam=person["sam"])

    def _toggle_membership(self, conn: Connection, group: str, person: dict[str, Any]) -> str:
        """Add the person to the group, or take them out when they are in it already."""
        dn = self.person_dn(person["name"])
        conn.search(self.group_dn(group), "(objectClass=group)", search_scope="BASE", attributes=["member"])
        members = {
            bytes(v).decode("utf-8").lower()
            for e in conn.response or () for v in e.get("raw_attributes", {}).get("member", ())
        }
        if dn.lower() in members:
            conn.modify(self.group_dn(group), {"member": [(MODIFY_DELETE, [dn])]})
            return _("{sam} removed from group {group}").format(sam=person["sam"], group=group)
        conn.modify(self.group_dn(group), {"member": [(MODIFY_ADD, [dn])]})
        return _("{sam} added to group {group}").format(sam=person["sam"], group=group)


class ChangeTrickle:
    """Apply :class:`DemoChanges` every ``interval`` seconds on a daemon thread until :meth:`stop`."""

    def __init__(self, connect: ConnectionFactory, changes: DemoChanges, *, interval: float = 4.0,
                 label: str = "", announce: str = "") -> None:
        self.connect = connect
        self.changes = changes
        self.interval = interval
        self.label = label or _("the demo directory")
        # Logged once the thread runs (by then the console's log pane is listening).
        self.announce = announce
        self.applied: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-changes", daemon=True)

    def start(self) -> "ChangeTrickle":
        self._thread.start()
        return self

    def step(self) -> str:
        """Make the next change now (a connection per change: a DC may drop idle ones)."""
        conn = self.connect()
        try:
            what = self.changes.apply_next(conn)
        finally:
            conn.unbind()
        self.applied.append(what)
        log.info("%s", _("demo change in {where}: {what}").format(where=self.label, what=what))
        return what

    def _run(self) -> None:
        if self.announce and not self._stop.wait(min(1.0, self.interval)):
            log.warning("%s", self.announce)
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - the demo goes on without this change
                log.warning("%s", _("demo change in {where} failed: {error}").format(where=self.label, error=exc))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

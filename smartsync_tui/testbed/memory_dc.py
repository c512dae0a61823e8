"""An in-memory stand-in for an AD DC: the demo's directory where no Samba can run.

It is ldap3's MOCK_SYNC strategy over a DIT held in this process, registered
with :func:`smartsync_tui.ad.connect.register_in_memory` under a name in
the reserved ``.invalid`` TLD, so the sync engine reads it through exactly the
code it uses against a DC: bind, base-DN check, rootDSE and NTDS Settings,
paged searches, ``uSNChanged>=`` deltas, show-deleted tombstones.

What the mock does not do by itself, and an AD does, is added here per
connection (see :meth:`MemoryDC.open`):

- every add/modify/delete gets a new USN (``uSNChanged``, the rootDSE's
  ``highestCommittedUSN``) and an add an objectGUID, as a DC stamps them;
- deleted objects become tombstones under ``CN=Deleted Objects`` that only a
  search with the show-deleted control sees (the mock refuses that critical
  control);
- the extensible matches AD clients send: LDAP_MATCHING_RULE_IN_CHAIN on
  ``memberOf`` (membership at any depth) and the bitwise AND/OR rules;
- one lock around every operation: the mock walks its DIT unlocked, and the
  demo changes it from another thread while the engine reads.

The people and groups are samba_dc's seed (accents, Cyrillic, CJK, a comma in
a CN, disabled accounts), so the demo looks the same with or without Samba.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ldap3 import MOCK_SYNC, NONE, Connection, Server
from ldap3.core.exceptions import LDAPDefinitionError
from ldap3.operation.add import add_request_to_dict
from ldap3.operation.delete import delete_request_to_dict
from ldap3.operation.modify import modify_request_to_dict
from ldap3.operation.search import MATCH_EXTENSIBLE
from ldap3.utils.dn import safe_dn

from smartsync_tui.ad import connect as ad_connect

from smartsync_tui.ad import search as ad_search
from smartsync_tui.ad.reader import IN_CHAIN_OID
from smartsync_tui.ad.search import SHOW_DELETED_OID
from smartsync_tui.testbed.samba_dc import (
    GROUPS,
    GROUPS_OU,
    STAFF_OU,
    UF_ACCOUNTDISABLE,
    UF_DONT_EXPIRE_PASSWD,
    UF_NORMAL_ACCOUNT,
    rdn_escape,
    user_spec,
)

#: RFC 2606 reserves .invalid: no real DC can have this name. It is what the
#: console's directory table shows as the server, so it says what it is.
DEMO_HOST = "in-memory.invalid"
DEMO_REALM = "DEMO.INVALID"
_BITWISE_AND = "1.2.840.113556.1.4.803"
_BITWISE_OR = "1.2.840.113556.1.4.804"
_FIRST_USN = 4000
_HEX_ESCAPE = re.compile(rb"\\([0-9a-fA-F]{2})")


def _unescape(value: bytes | str) -> bytes:
    """A filter assertion value as the bytes it stands for (``\\2c`` -> ``,``)."""
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _generalized_time() -> bytes:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S.0Z").encode()


class MemoryDC:
    """A seeded in-memory domain, reachable as ``host`` while :meth:`register`-ed."""

    def __init__(self, users: int = 200, *, host: str = DEMO_HOST, realm: str = DEMO_REALM) -> None:
        self.host = host
        self.realm = realm
        self.base_dn = ",".join(f"DC={part}" for part in realm.lower().split("."))
        # The name the console's table shows as the server: the sync's log names the DC that answered
        # by its dnsHostName, and the demo's two must read the same.
        self.dns_host_name = host
        self.people_ou = f"OU={STAFF_OU},{self.base_dn}"
        self.groups_ou = f"OU={GROUPS_OU},{self.base_dn}"
        self.deleted_objects = f"CN=Deleted Objects,{self.base_dn}"
        self.admin_dn = f"CN=Administrator,CN=Users,{self.base_dn}"
        self.admin_user = f"Administrator@{realm.lower()}"
        # Random per instance: it is only ever handed to the demo's own secret store.
        self.admin_password = secrets.token_urlsafe(18)
        self.invocation_id = uuid.uuid4()
        self._service_dn = (
            "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,"
            f"CN=Configuration,{self.base_dn}"
        )
        self._lock = threading.RLock()
        self._usn = _FIRST_USN
        self.server = Server(host, get_info=NONE)
        # The mock strategy keeps its DIT on the Server; a first connection creates it.
        self._seeder = Connection(self.server, client_strategy=MOCK_SYNC)
        self._seed(users)

    # -- the DIT ---------------------------------------------------------------

    @property
    def dit(self) -> Any:
        return self.server.dit

    @property
    def highest_committed_usn(self) -> int:
        return self._usn

    def _next_usn(self) -> bytes:
        self._usn += 1
        return str(self._usn).encode()

    def root_dse(self) -> dict[str, list[bytes]]:
        # Not in the DIT: the mock cannot parse the empty DN, and the USN is live.
        return {
            "objectClass": [b"top"],
            "dnsHostName": [self.dns_host_name.encode()],
            "defaultNamingContext": [self.base_dn.encode()],
            "namingContexts": [self.base_dn.encode()],
            "highestCommittedUSN": [str(self._usn).encode()],
            "dsServiceName": [self._service_dn.encode()],
            "supportedControl": [ad_search.PAGED_RESULTS_OID.encode(), SHOW_DELETED_OID.encode()],
        }

    def _stamp(self, dn: str, *, created: bool = False) -> None:
        """What a DC writes on every change: a new USN and the time (and a GUID when new)."""
        entry = self.dit[safe_dn(dn)]
        usn = self._next_usn()
        entry["uSNChanged"] = [usn]
        entry["whenChanged"] = [_generalized_time()]
        if created:
            entry["uSNCreated"] = [usn]
            entry["whenCreated"] = entry["whenChanged"]
            if "objectGUID" not in entry:
                entry["objectGUID"] = [uuid.uuid4().bytes_le]
            if "objectCategory" not in entry:  # a DC derives it from the class
                classes = {v.lower() for v in entry.get("objectClass", ())}
                category = b"person" if b"person" in classes else b"group" if b"group" in classes else None
                if category:
                    entry["objectCategory"] = [category]

    def _add(self, dn: str, attributes: dict[str, Any]) -> str:
        raw = {
            name: [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in (value if isinstance(value, list) else [value])]
            for name, value in attributes.items()
        }
        raw.setdefault("distinguishedName", [dn.encode("utf-8")])  # as AD keeps on every object
        if not self._seeder.strategy.add_entry(dn, raw, validate=False):
            raise ValueError(f"in-memory DC: {dn} could not be added")
        self._stamp(dn, created=True)
        return dn

    def _seed(self, users: int) -> None:
        base = self.base_dn
        self._add(base, {"objectClass": ["top", "domain", "domainDNS"]})
        self._add(f"CN=Users,{base}", {"objectClass": ["top", "container"]})
        self._add(self.people_ou, {"objectClass": ["top", "organizationalUnit"]})
        self._add(self.groups_ou, {"objectClass": ["top", "organizationalUnit"]})
        self._add(self.deleted_objects, {"objectClass": ["top", "container"]})
        self._add(self._service_dn, {"objectClass": ["top", "nTDSDSA"], "invocationId": self.invocation_id.bytes_le})
        self._add(self.admin_dn, {
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            "objectCategory": "person", "sAMAccountName": "Administrator",
            "userPrincipalName": self.admin_user, "userPassword": self.admin_password,
            # Not in the demo's Staff OU, so never synced; and no one else can bind.
            "userAccountControl": str(UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD),
        })
        dn_by_sam: dict[str, str] = {}
        generated: list[tuple[str, str]] = []  # (sam, department) of the generated people
        for i in range(users):
            spec = user_spec(i, self.realm)
            dn_by_sam[spec["sam"]] = self.add_person(spec)
            if spec["sam"].startswith("user"):
                generated.append((spec["sam"], spec["department"]))
        plan = {name: [m for m in members if m.startswith("group:") or m in dn_by_sam]
                for name, members in GROUPS.items()}
        # As samba_dc's seed: every tenth generated person joins their department's group.
        for n, (sam, department) in enumerate(generated):
            if n % 10 == 0 and department in plan:
                plan[department].append(sam)
        for name, members in plan.items():
            # Deterministic GUIDs, as the people's: the same seed is the same directory.
            self.add_group(name, [self.group_dn(m[6:]) if m.startswith("group:") else dn_by_sam[m] for m in members],
                           guid=uuid.uuid5(uuid.NAMESPACE_DNS, f"group:{name}.{self.realm}"))

    def add_group(self, name: str, member_dns: list[str], *, sam: str | None = None, guid: uuid.UUID | None = None) -> str:
        """A group in the Groups OU with these members (DNs of people or groups); a new GUID
        unless ``guid`` is given (AD never gives a new object an old one's)."""
        attributes: dict[str, Any] = {
            "objectClass": ["top", "group"], "objectCategory": "group",
            "cn": name, "sAMAccountName": sam or name[:20], "description": f"Grupo {name}",
        }
        if guid is not None:
            attributes["objectGUID"] = guid.bytes_le
        if member_dns:
            attributes["member"] = member_dns
        with self._lock:
            return self._add(self.group_dn(name), attributes)

    def group_dn(self, name: str) -> str:
        return f"CN={rdn_escape(name)},{self.groups_ou}"

    def person_dn(self, name: str) -> str:
        return f"CN={rdn_escape(name)},{self.people_ou}"

    def add_person(self, spec: dict[str, Any]) -> str:
        """A user from a samba_dc-style spec (sam, given, sn, name, title, department, mail, upn, flags)."""
        flags = spec.get("flags") or []
        uac = UF_NORMAL_ACCOUNT | (UF_ACCOUNTDISABLE if "disabled" in flags else 0)
        attributes: dict[str, Any] = {
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            # AD stores objectCategory as the schema DN and lets a filter name it
            # by its short name; the mock compares values, so the short name is kept.
            "objectCategory": "person",
            "cn": spec["name"], "sAMAccountName": spec["sam"], "displayName": spec["name"],
            "userPrincipalName": spec.get("upn") or f"{spec['sam']}@{self.realm.lower()}",
            "userAccountControl": str(uac),
        }
        if spec.get("password"):
            # What the mock checks a simple bind against (the demo's login checks).
            attributes["userPassword"] = spec["password"]
        for name, key in (("givenName", "given"), ("sn", "sn"), ("mail", "mail"),
                          ("title", "title"), ("department", "department")):
            if spec.get(key):
                attributes[name] = spec[key]
        # Deterministic GUIDs: the same seed gives the same Identity ids run after run.
        attributes["objectGUID"] = uuid.uuid5(uuid.NAMESPACE_DNS, f"{spec['sam']}.{self.realm}").bytes_le
        with self._lock:
            return self._add(self.person_dn(spec["name"]), attributes)

    # -- connections -----------------------------------------------------------

    def open(self, **options: Any) -> Connection:
        """An unopened connection to this DIT with ``options`` (ad/connect.py's Connection options).

        A UPN bind name is turned into the account's DN first: AD accepts
        both, the mock only DNs.
        """
        user = options.get("user")
        if user and "@" in user and "=" not in user:
            options["user"] = self._dn_of_upn(user) or user
        options.pop("receive_timeout", None)  # no socket
        conn = Connection(self.server, client_strategy=MOCK_SYNC, **options)
        self._adapt(conn)
        return conn

    def admin_connection(self) -> Connection:
        """A bound, writable connection as the domain's Administrator (for the demo's changes)."""
        conn = self.open(user=self.admin_dn, password=self.admin_password, raise_exceptions=True)
        conn.bind()
        return conn

    def _dn_of_upn(self, upn: str) -> str | None:
        wanted = upn.lower().encode("utf-8")
        with self._lock:
            for dn, entry in self.dit.items():
                if any(v.lower() == wanted for v in entry.get("userPrincipalName", ())):
                    return dn
        return None

    def _adapt(self, conn: Connection) -> None:
        """Teach one connection's mock strategy what a DC does (see the module's docstring)."""
        lock = self._lock
        strategy = conn.strategy
        send_search = conn.search
        mock_search_of, execute = strategy.mock_search, strategy._execute_search
        evaluate = strategy.evaluate_filter_node
        add, modify, delete = strategy.mock_add, strategy.mock_modify, strategy.mock_delete
        state = threading.local()

        def search_sent(search_base: str, search_filter: str, *args: Any, **kwargs: Any) -> Any:
            # The mock rebuilds the filter text from the request, and writes an
            # extensible match so that it cannot be parsed back: keep the text sent.
            state.filter = search_filter
            return send_search(search_base, search_filter, *args, **kwargs)

        def mock_search(request: Any, controls: Any) -> Any:
            kept, show_deleted = [], False
            for control in controls or ():
                # ldap3 hands the mock request controls as given: (oid, criticality, value)
                # tuples, or built BER controls (the paged-results one).
                oid = control[0] if isinstance(control, tuple) else strategy.decode_control(control)[0]
                if oid == SHOW_DELETED_OID:
                    show_deleted = True
                else:
                    kept.append(control)
            state.show_deleted = show_deleted
            with lock:
                return mock_search_of(request, kept or None)

        def execute_search(request: Any) -> Any:
            if not request["base"] and request["scope"] == 0:
                wanted = {name.lower() for name in request["attributes"]}
                return [{"object": "", "attributes": [
                    {"type": name, "vals": values} for name, values in self.root_dse().items()
                    if name.lower() in wanted or "*" in wanted
                ]}], {"resultCode": 0, "matchedDN": "", "diagnosticMessage": "", "referral": None}
            request["filter"] = getattr(state, "filter", None) or request["filter"]
            responses, result = execute(request)
            if not getattr(state, "show_deleted", False):
                responses = [r for r in responses if b"TRUE" not in self.dit[r["object"]].get("isDeleted", ())]
            return responses, result

        def evaluate_filter_node(node: Any, candidates: Any) -> Any:
            if node.tag != MATCH_EXTENSIBLE:
                return evaluate(node, candidates)
            node.matched, node.unmatched = set(), set()
            match = self._extensible_match(node.assertion)
            for candidate in candidates:
                (node.matched if match(candidate) else node.unmatched).add(candidate)
            return None

        def stamped(operation: Callable[..., dict], to_dict: Callable[[Any], dict], created: bool = False) -> Callable[..., dict]:
            def run(request: Any, controls: Any) -> dict:
                dn = safe_dn(to_dict(request)["entry"])
                with lock:
                    before = self.dit.get(dn)
                    result = operation(request, controls)
                    if result["resultCode"] == 0:
                        if operation is delete:
                            self._tombstone(dn, before)
                        else:
                            self._stamp(dn, created=created)
                    return result
            return run

        conn.search = search_sent  # type: ignore[method-assign]
        strategy.mock_search = mock_search
        strategy._execute_search = execute_search
        strategy.evaluate_filter_node = evaluate_filter_node
        strategy.mock_add = stamped(add, add_request_to_dict, created=True)
        strategy.mock_modify = stamped(modify, modify_request_to_dict)
        strategy.mock_delete = stamped(delete, delete_request_to_dict)

    def _tombstone(self, dn: str, entry: Any) -> None:
        """Keep what AD keeps of a deleted object, under CN=Deleted Objects."""
        if entry is None or "objectGUID" not in entry:
            return
        guid = entry["objectGUID"][0]
        rdn_value = dn.split(",", 1)[0].split("=", 1)[1]
        self._add(f"CN={rdn_value}\\0ADEL:{uuid.UUID(bytes_le=guid)},{self.deleted_objects}", {
            "objectClass": ["top"], "isDeleted": "TRUE", "objectGUID": guid,
            "lastKnownParent": dn.split(",", 1)[1],
        })

    def _extensible_match(self, assertion: dict[str, Any]) -> Callable[[str], bool]:
        rule, attribute = assertion.get("matchingRule"), assertion.get("attr")
        value = _unescape(assertion["value"])
        if rule in (_BITWISE_AND, _BITWISE_OR) and attribute:
            bits = int(value)

            def bitwise(dn: str) -> bool:
                values = self.dit[dn].get(attribute) or ()
                flags = int(values[0]) if values else 0
                return (flags & bits) == bits if rule == _BITWISE_AND else bool(flags & bits)

            return bitwise
        if rule == IN_CHAIN_OID and attribute and attribute.lower() == "memberof":
            target = value.decode("utf-8").lower()
            groups_of: dict[str, list[str]] = {}
            for group_dn, entry in self.dit.items():
                for member in entry.get("member", ()):
                    groups_of.setdefault(member.decode("utf-8").lower(), []).append(group_dn.lower())

            def in_chain(dn: str) -> bool:
                seen: set[str] = set()
                todo = list(groups_of.get(dn.lower(), ()))
                while todo:
                    group = todo.pop()
                    if group == target:
                        return True
                    if group not in seen:
                        seen.add(group)
                        todo.extend(groups_of.get(group, ()))
                return False

            return in_chain
        raise LDAPDefinitionError(f"the in-memory DC does not evaluate the extensible match {rule} on {attribute}")

    # -- registration ----------------------------------------------------------

    def register(self) -> "MemoryDC":
        ad_connect.register_in_memory(self.host, self.open)
        return self

    def unregister(self) -> None:
        ad_connect.unregister_in_memory(self.host)

    def __enter__(self) -> "MemoryDC":
        return self.register()

    def __exit__(self, *exc: object) -> None:
        self.unregister()

"""Diff AD against the state store into a plan: what to create, update,
disable, re-enable, and which groups change. Planning writes nothing; the
same plan is printed by a dry run and applied by a real one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from smartsync_tui.store.state_store import PendingOp, StateStore, SyncedObject
from smartsync_tui.engine.mapping import content_hash, field_changes, group_payload, user_payload
from smartsync_tui.ad.records import AdGroup, AdUser, DeletedObject
from smartsync_tui.i18n import N_, _, ngettext, number

USER_OPS = ("create", "update", "disable", "enable")
GROUP_OPS = ("group-create", "group-update")
# A run's mode as an admin reads it ("sincronização incremental"); ``SyncPlan.mode`` keeps the code.
MODE_NAMES = {"full": N_("full"), "delta": N_("delta")}
# What an admin reads for each Identity field a change names (the API's names stay in --json).
FIELD_LABELS = {
    "login": N_("login"), "first_name": N_("first name"), "last_name": N_("last name"), "email": N_("e-mail"),
    "display_name": N_("display name"), "job_title": N_("job title"), "department": N_("department"),
    "active": N_("active"), "name": N_("name"), "description": N_("description"),
    "employee_number": N_("employee number"), "manager": N_("manager"), "gone": N_("deleted"),
}
# Why a full run disables a user Identity has and AD no longer shows (the preview's "held disable" rows).
GONE_FROM_SCOPE = N_("gone from AD or out of scope")


def mode_name(mode: str) -> str:
    """``full`` or ``delta`` in the language set (the state store and --json keep the code)."""
    return _(MODE_NAMES[mode]) if mode in MODE_NAMES else mode


def _figure(value: float) -> str:
    """``value`` as ``%g`` writes it (5, 2.5), with the language's decimal mark."""
    text = f"{value:g}"
    return number(value, 0 if "e" in text else len(text.partition(".")[2]))


@dataclass(slots=True)
class PlannedOp:
    guid: str
    kind: str  # 'user' | 'group'
    op: str  # create | update | disable | enable | group-create | group-update
    dn: str
    payload: dict
    # (field, old, new); for groups also ('members+', ...) / ('members-', ...)
    changes: list[tuple[str, object, object]] = field(default_factory=list)
    why: str = ""

    @property
    def name(self) -> str:
        """What an admin recognises: the login, the group's name, else the GUID."""
        return str(self.payload.get("login") or self.payload.get("name") or self.guid)

    def as_pending(self) -> PendingOp:
        return PendingOp(self.guid, self.kind, self.op, self.dn, self.payload)


@dataclass
class SyncPlan:
    directory_id: str
    mode: str  # 'full' | 'delta'
    mode_reason: str
    ops: list[PlannedOp] = field(default_factory=list)
    held: list[PlannedOp] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    # Renamed/moved objects whose Identity fields did not change: only the state store learns the DN.
    moved: list[tuple[str, str]] = field(default_factory=list)
    users_read: int = 0
    groups_read: int = 0
    threshold_note: str = ""

    def count(self, op: str) -> int:
        return sum(1 for o in self.ops if o.op == op)

    def counts(self) -> dict[str, int]:
        out = {name.replace("-", "_"): self.count(name) for name in USER_OPS + GROUP_OPS}
        out.update(skipped=len(self.skipped), held=len(self.held))
        return out

    @property
    def empty(self) -> bool:
        return not self.ops

    @property
    def mode_label(self) -> str:
        """The mode in the language set: "delta" reads "incremental" in pt_BR."""
        return mode_name(self.mode)


def describe_change(change: tuple[str, object, object], *, value: Callable[[object], str] = str, arrow: str = "→") -> str:
    """One planned change in words: ``last_name: Gonçalves → Lima``, ``+members ana, ivan``."""
    name, old, new = change
    if name == "members+":
        return _("+members {names}").format(names=", ".join(map(str, new)))  # type: ignore[call-overload]
    if name == "members-":
        return _("-members {names}").format(names=", ".join(map(str, old)))  # type: ignore[call-overload]
    label = _(FIELD_LABELS[name]) if name in FIELD_LABELS else name

    def shown(v: object) -> str:  # "active: no → yes", not Python's False/True
        return (_("yes") if v else _("no")) if isinstance(v, bool) else value(v)

    return f"{label}: {shown(old)} {arrow} {shown(new)}"


class _LocalFlattening:
    """A group's users at any depth, from the users and groups one run read; None for a group with
    a member (at any depth) that the run did not read and that may hold users (only the DC can
    resolve it). ``empty``: members outside the read known to hold no user to send.

    One walk per group with a set of the groups seen (AD allows cycles of groups), reusing the
    answer of any group already walked: each answer is complete, so a diamond or a deep chain of
    nesting is walked once, not once per path.
    """

    def __init__(self, groups: list[AdGroup], users: dict[str, str], empty: set[str]) -> None:
        self._members = {g.dn.lower(): [dn.lower() for dn in g.member_dns] for g in groups}
        self._users = users
        self._empty = empty
        self._done: dict[str, frozenset[str] | None] = {}

    def users(self, dn: str) -> list[str] | None:
        if dn not in self._done:
            self._done[dn] = self._walk(dn)
        found = self._done[dn]
        return None if found is None else sorted(found)

    def _walk(self, top: str) -> frozenset[str] | None:
        found: set[str] = set()
        seen = {top}
        stack = [top]
        while stack:
            for member in self._members[stack.pop()]:
                if member in self._empty or member in seen:
                    continue
                if member in self._users:
                    found.add(self._users[member])
                elif member in self._done:
                    inner = self._done[member]
                    if inner is None:
                        return None
                    found |= inner
                elif member in self._members:
                    seen.add(member)
                    stack.append(member)
                else:
                    return None  # beyond the read, and maybe a group: the DC's to answer
        return frozenset(found)


def _member_changes(old: list[str], new: list[str], names: Callable[[str], str]) -> list[tuple[str, object, object]]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changes: list[tuple[str, object, object]] = []
    if added:
        changes.append(("members+", None, [names(g) for g in added]))
    if removed:
        changes.append(("members-", [names(g) for g in removed], None))
    return changes


class Planner:
    """Streams AD objects in, keeps only what a plan needs (not the LDAP entries)."""

    def __init__(self, directory_id: str, state: StateStore, mode: str, mode_reason: str,
                 *, refusal: Callable[[str, dict], str | None] = lambda kind, payload: None,
                 user_fields: Callable[[dict, Mapping[str, str]], dict] | None = None,
                 managers: bool = False, mark_gone: bool = False) -> None:
        self.directory_id = directory_id
        # Why the target would refuse an object (Target.refusal): such an object is skipped, not sent.
        self._refusal = refusal
        # The target's own fields from the attributes it asked for (Target.user_fields); with
        # ``managers``, a user's ``manager`` DN is handed over as the manager's guid.
        self._user_fields = user_fields
        self._managers = managers
        # Users whose manager was not known yet when they were read (planned once all are read).
        self._deferred: list[AdUser] = []
        self._waiting: dict[str, str] = {}
        # Gone objects are deleted in the target (Target.deletes_gone): their payload says so.
        self._mark_gone = mark_gone
        self.state = state
        self.full = mode == "full"
        self.plan = SyncPlan(directory_id, mode, mode_reason)
        # Full: every stored user and group at once (hash, active, dn); delta: looked up per batch.
        self._known_users = state.hashes(directory_id, "user") if self.full else {}
        self._known_groups = state.hashes(directory_id, "group") if self.full else {}
        self._seen: set[str] = set()
        # lower-cased DN -> guid of users/groups Identity has or will have after this run.
        self.dn_to_guid: dict[str, str] = {}
        # lower-cased DN -> guid of every user this run read (synced, skipped or not): a group whose
        # members are all among them needs no flattening (see add_groups).
        self._users_read: dict[str, str] = {}
        self._names: dict[str, str] = {}

    # -- users

    def add_users(self, users: Iterable[AdUser], *, on_progress: Callable[[int], None] | None = None) -> None:
        batch: list[AdUser] = []
        for user in users:
            batch.append(user)
            if len(batch) >= 500:
                self._user_batch(batch)
                batch = []
                if on_progress:
                    on_progress(self.plan.users_read)
        if batch:
            self._user_batch(batch)
            if on_progress:
                on_progress(self.plan.users_read)
        self._finish_users()

    def _user_batch(self, users: list[AdUser], *, last: bool = False) -> None:
        """Plan these users; with ``last``, every user has been read (a manager is known or never)."""
        if not last:
            self.plan.users_read += len(users)
        for user in users:
            self._users_read[user.dn.lower()] = user.guid
        if self._managers and not last:
            users = self._with_known_managers(users)
        stored = None if self.full else self.state.get_objects(self.directory_id, [u.guid for u in users])
        for user in users:
            self._seen.add(user.guid)
            attributes = dict(user.attributes)
            if self._managers:
                dn = attributes.pop("manager", None)
                manager = (self.dn_to_guid.get(dn.lower()) or self._waiting.get(dn.lower())) if dn else None
                if manager is not None:
                    attributes["manager"] = manager
            payload: dict | None = user_payload(user)
            if self._user_fields is not None:
                payload = self._user_fields(payload, attributes)
            reason = self._refusal("user", payload)
            if reason is not None:
                payload = None
            known = self._known_users.get(user.guid) if self.full else _as_known(stored.get(user.guid))  # type: ignore[union-attr]
            if payload is None:
                self.plan.skipped.append((user.guid, user.dn, reason or "skipped"))
                if known is not None:
                    # Still in Identity as it was: member links keep pointing at it.
                    self.dn_to_guid[user.dn.lower()] = user.guid
                continue
            self._names[user.guid] = payload["login"]
            if known is None:
                if not payload["active"]:
                    self.plan.skipped.append((user.guid, user.dn, "disabled in AD and never synced: not created"))
                    continue
                self.dn_to_guid[user.dn.lower()] = user.guid
                self.plan.ops.append(PlannedOp(user.guid, "user", "create", user.dn, payload))
                continue
            self.dn_to_guid[user.dn.lower()] = user.guid
            old_hash, old_active, old_dn = known
            digest = content_hash(payload)
            if digest == old_hash:
                if old_dn != user.dn:
                    self.plan.moved.append((user.guid, user.dn))
                continue
            op = "update"
            if old_active and not payload["active"]:
                op = "disable"
            elif not old_active and payload["active"]:
                op = "enable"
            old_payload = (stored or {}).get(user.guid) if not self.full else None
            changes = self._changes(old_payload.payload, payload) if old_payload else []
            self.plan.ops.append(PlannedOp(user.guid, "user", op, user.dn, payload, changes, why=_("changed in AD")))

    def _with_known_managers(self, users: list[AdUser]) -> list[AdUser]:
        """The users whose manager is known now (planned, or in the state store); the others wait
        for the end of the read (their manager may come later in it). A manager that is never
        found is left out of the payload."""
        wanted = {
            dn.lower() for u in users for name, dn in u.attributes if name == "manager"
        } - self.dn_to_guid.keys()
        if wanted:
            # Synced before (a delta reads only what changed; a full run may read the manager later).
            found = self.state.guids_for_dns(self.directory_id, wanted)
            self.dn_to_guid.update((dn.lower(), guid) for dn, guid in found.items())
        ready: list[AdUser] = []
        for user in users:
            dn = next((v for name, v in user.attributes if name == "manager"), None)
            if dn is None or dn.lower() in self.dn_to_guid:
                ready.append(user)
            else:
                self._deferred.append(user)
        return ready

    def _finish_users(self) -> None:
        """Plan the users that waited for their manager, managers before their reports."""
        deferred, self._deferred = self._deferred, []
        if not deferred:
            return
        # A manager that waited too is synced (or refused) in this run like the rest: its guid is
        # what the report names (not a member link yet: dn_to_guid is what is synced).
        self._waiting = {user.dn.lower(): user.guid for user in deferred}
        self._user_batch(deferred, last=True)
        self._waiting = {}

    def _changes(self, old: dict, new: dict) -> list[tuple[str, object, object]]:
        """The field diff, with a manager named by its login rather than its guid."""
        changes = field_changes(old, new)
        if not self._managers or not any(f == "manager" for f, _a, _b in changes):
            return changes
        named = [g for f, a, b in changes if f == "manager" for g in (a, b) if g and g not in self._names]
        # A manager this run did not read (a delta): its login as the state store holds it.
        found = self.state.get_objects(self.directory_id, named)
        for guid in named:  # asked once each: one not found keeps its guid as its name
            synced = found.get(guid)
            self._names.setdefault(guid, (synced.payload.get("login") if synced else None) or guid)
        return [(f, self._name_of(a) if a else a, self._name_of(b) if b else b) if f == "manager" else (f, a, b)
                for f, a, b in changes]

    # -- groups

    def add_groups(
        self, groups: Iterable[AdGroup], *, flatten: Callable[[AdGroup], list[str]] | None = None,
        groups_among: Callable[[set[str]], set[str] | None] | None = None,
    ) -> None:
        """Groups are kept until all are read: members may name groups read later.

        ``flatten`` (nested-group flattening) gives a group's users at any depth;
        those replace its direct members, minus users that are not synced.
        ``groups_among`` says which member DNs outside the read are groups (lower-cased;
        None: it cannot tell); a full run read every user in scope, so any other such
        member holds no user to send."""
        collected = list(groups)
        self.plan.groups_read = len(collected)
        for group in collected:
            self._seen.add(group.guid)
            self.dn_to_guid[group.dn.lower()] = group.guid
            self._names[group.guid] = group.name
        unresolved = {
            dn.lower() for g in collected for dn in g.member_dns if dn.lower() not in self.dn_to_guid
        }
        if unresolved and not self.full:
            self.dn_to_guid.update(self.state.guids_for_dns(self.directory_id, unresolved))
        stored = (
            self.state.get_objects(self.directory_id, [g.guid for g in collected]) if collected else {}
        )
        not_synced = {guid for guid, _dn, _why in self.plan.skipped}
        local = None
        if flatten is not None:
            outside: set[str] = set()
            if self.full and groups_among is not None:
                known = {g.dn.lower() for g in collected} | set(self._users_read)
                unread = {dn.lower(): dn for g in collected for dn in g.member_dns if dn.lower() not in known}
                found = groups_among(set(unread.values())) if unread else set()
                if found is not None:
                    outside = set(unread) - found  # not groups: users out of scope, computers, principals
            local = _LocalFlattening(collected, self._users_read, outside)
        for group in collected:
            if flatten is not None:
                # Users at any depth from what this run read (users, and groups read with them); the
                # DC is asked (one search per group, seconds each on a large directory) only for a
                # group with a member the read did not cover: a group, or a user, out of its scope.
                found = local.users(group.dn.lower()) if local is not None else None
                members = [g for g in (found if found is not None else flatten(group)) if g not in not_synced]
            else:
                members = [self.dn_to_guid[dn.lower()] for dn in group.member_dns if dn.lower() in self.dn_to_guid]
            payload = group_payload(group, members)
            reason = self._refusal("group", payload)
            if reason is not None:  # a target without groups (Zitadel), or with groups turned off
                self.plan.skipped.append((group.guid, group.dn, reason))
                continue
            old = stored.get(group.guid)
            if old is None:
                self.plan.ops.append(PlannedOp(group.guid, "group", "group-create", group.dn, payload))
                continue
            if content_hash(payload) == old.content_hash:
                if old.dn != group.dn:
                    self.plan.moved.append((group.guid, group.dn))
                continue
            changes = [c for c in field_changes(old.payload, payload) if c[0] != "members"]
            changes += _member_changes(old.payload.get("members", []), payload["members"], self._name_of)
            self.plan.ops.append(PlannedOp(group.guid, "group", "group-update", group.dn, payload, changes))

    def _name_of(self, guid: str) -> str:
        return self._names.get(guid, guid)

    # -- deletions

    def add_gone_after_full_read(self) -> None:
        """Full run: whatever Identity has that AD no longer shows in scope is disabled (users)
        or emptied (groups). Only called after a read that completed without error."""
        # Deleting: a user disabled before it left is deleted too (once: its payload says gone).
        gone_users = [g for g, (_h, active, _dn) in self._known_users.items()
                      if (active or self._mark_gone) and g not in self._seen]
        gone_groups = [g for g in self._known_groups if g not in self._seen]
        self._disable(gone_users, _(GONE_FROM_SCOPE))
        self._empty_groups(gone_groups)

    def add_tombstones(self, tombstones: Iterable[DeletedObject]) -> None:
        """Delta run: deleted objects seen through the show-deleted control."""
        guids = [t.guid for t in tombstones if t.guid not in self._seen]
        stored = self.state.get_objects(self.directory_id, guids)
        self._disable([g for g, o in stored.items() if o.kind == "user" and (o.active or self._mark_gone)],
                      _("deleted in AD"), stored)
        self._empty_groups([g for g, o in stored.items() if o.kind == "group"], stored)
        self._drop_members(set(stored))

    def _drop_members(self, deleted: set[str]) -> None:
        """A deleted object is no member of anything: AD removes its links without
        touching the groups' uSNChanged, so a delta would not see those groups change."""
        if not deleted:
            return
        planned = {op.guid: op for op in self.plan.ops if op.kind == "group"}
        for group in self.state.objects(self.directory_id, "group"):
            op = planned.get(group.guid)
            members = (op.payload if op else group.payload).get("members", [])
            if not deleted.intersection(members):
                continue
            kept = [m for m in members if m not in deleted]
            if op is not None:
                op.payload = {**op.payload, "members": kept}
                continue
            payload = {**group.payload, "members": kept}
            changes = _member_changes(members, kept, self._name_of)
            self.plan.ops.append(
                PlannedOp(group.guid, "group", "group-update", group.dn, payload, changes, _("member deleted in AD")))

    def _disable(self, guids: list[str], why: str, stored: dict[str, SyncedObject] | None = None) -> None:
        if not guids:
            return
        stored = stored if stored is not None else self.state.get_objects(self.directory_id, guids)
        for guid in guids:
            old = stored[guid]
            if self._mark_gone:
                if old.payload.get("gone"):
                    continue  # deleted by an earlier run
                payload = {**old.payload, "active": False, "gone": True}
                self.plan.ops.append(PlannedOp(guid, "user", "disable", old.dn, payload, [("gone", False, True)], why))
                continue
            payload = {**old.payload, "active": False}
            self.plan.ops.append(PlannedOp(guid, "user", "disable", old.dn, payload, [("active", True, False)], why))

    def _empty_groups(self, guids: list[str], stored: dict[str, SyncedObject] | None = None) -> None:
        if not guids:
            return
        stored = stored if stored is not None else self.state.get_objects(self.directory_id, guids)
        for guid in guids:
            old = stored[guid]
            if self._mark_gone:
                if old.payload.get("gone"):
                    continue  # deleted by an earlier run
                payload = {**old.payload, "members": [], "gone": True}
                changes = [("gone", False, True)]
                self.plan.ops.append(PlannedOp(guid, "group", "group-update", old.dn, payload, changes, _("gone from AD")))
                continue
            if not old.payload.get("members"):
                continue
            payload = {**old.payload, "members": []}
            changes = _member_changes(old.payload["members"], [], self._name_of)
            self.plan.ops.append(PlannedOp(guid, "group", "group-update", old.dn, payload, changes, _("gone from AD")))

    def fill_field_changes(self) -> None:
        """Field-level diffs for updates planned from hashes alone (full runs)."""
        bare = [op for op in self.plan.ops if op.kind == "user" and op.op != "create" and not op.changes]
        stored = self.state.get_objects(self.directory_id, [op.guid for op in bare]) if bare else {}
        for op in bare:
            old = stored.get(op.guid)
            if old is not None:
                op.changes = self._changes(old.payload, op.payload)

    # -- leftovers and safety

    def add_leftovers(self, pending: list[PendingOp]) -> None:
        """Operations an earlier run planned but did not finish (crash, outage, refused items)."""
        planned = {op.guid for op in self.plan.ops}
        for op in pending:
            if op.guid in planned:
                continue  # this run's view of the object is newer
            if self.full and op.op != "disable":
                continue  # a full read re-planned everything that still differs
            self.plan.ops.append(
                PlannedOp(op.guid, op.kind, op.op, op.dn, op.payload, why=_("left from an earlier run")))

    def apply_threshold(self, *, max_count: int, max_percent: float | None, allow_deletes: bool) -> None:
        disables = [op for op in self.plan.ops if op.op == "disable"]
        if not disables or allow_deletes:
            return
        active = self.state.counts(self.directory_id)["users"] or 1
        over_count = len(disables) > max_count
        over_percent = max_percent is not None and len(disables) * 100 / active > max_percent
        # A complete read that found nobody at all is far more often a wrong filter, base DN
        # or missing read right than a domain that emptied: never take it as "everyone left".
        nobody = self.full and self.plan.users_read == 0
        if not (over_count or over_percent or nobody):
            return
        allow = _("the disables are held until an admin allows them (--allow-deletes, or the console's dialog)")
        n = len(disables)
        if nobody:
            self.plan.threshold_note = ngettext(
                "AD returned no user at all under this base DN and filter, so {n} user would be "
                "disabled; check the filter, the base DN and the account's read rights: {allow}",
                "AD returned no user at all under this base DN and filter, so {n} users would be "
                "disabled; check the filter, the base DN and the account's read rights: {allow}", n,
            ).format(n=number(n), allow=allow)
        else:
            if max_percent is None:
                limit = number(max_count)
            else:
                limit = ngettext("{max} or {percent}% of {active} active user", "{max} or {percent}% of {active} active users",
                                 active).format(max=number(max_count), percent=_figure(max_percent), active=number(active))
            self.plan.threshold_note = ngettext(
                "{n} user would be disabled, more than the deletion threshold ({limit}): {allow}",
                "{n} users would be disabled, more than the deletion threshold ({limit}): {allow}", n,
            ).format(n=number(n), limit=limit, allow=allow)
        held = {id(op) for op in disables}
        self.plan.held = disables
        self.plan.ops = [op for op in self.plan.ops if id(op) not in held]


def _as_known(obj: SyncedObject | None) -> tuple[str, bool, str] | None:
    return None if obj is None else (obj.content_hash, obj.active, obj.dn)

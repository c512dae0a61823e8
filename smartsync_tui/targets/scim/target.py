"""A SCIM 2.0 service provider as a sync target (docs/scim.md), behind the contract of targets/base.py.

What it promises an admin:

- **It touches only its own objects.** An object is the agent's when the state
  store holds its SCIM id (the agent created it, or adopted it on request).
  A create answered 409 is looked up by ``externalId`` (the objectGUID this
  agent sets): found, it is the agent's own from a run cut before the store's
  commit, and is updated, never duplicated. Found only by ``userName``, it is
  someone else's: refused, unless the directory's ``adopt_existing`` says to
  manage it.
- **Few calls.** A change is one PATCH of the changed paths (or one PUT where
  the profile says PATCH is weak); an object whose SCIM fields did not change
  costs no call; remote ids come from the state store, never from a listing;
  member changes are computed from the store and chunked to the profile's limits.
- **Trouble in the contract's words.** 401/403: credentials rejected (the run
  stops, saying which token); unreachable or 5xx past the retries:
  unavailable; 400/409 on one object: that object refused with the
  provider's detail and ``scimType``, and the rest goes on.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import ChainMap
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from smartsync_tui.config.secret_store import directory_token_key
from smartsync_tui.config.settings import DirectorySettings, ScimSettings
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.remedy import SecretMissing
from smartsync_tui.core.text import printable
from smartsync_tui.i18n import _
from smartsync_tui.targets.http_common import proxy_choice
from smartsync_tui.targets.base import (
    NO_REMOTE_IDS,
    NOTHING_KNOWN,
    ItemResult,
    Known,
    Target,
    TargetStopped,
    TargetUnavailable,
)
from smartsync_tui.targets.registry import TargetContext
from smartsync_tui.targets.scim import resources
from smartsync_tui.targets.scim.client import Answer, ScimClient, oauth_of
from smartsync_tui.targets.scim.pace import Pace
from smartsync_tui.targets.scim.profiles import NO_GROUPS_SERVED, Profile, narrowed, profile

log = logging.getLogger("smartsync.scim")

# A SCIM id as this agent accepts it from a provider: it goes into URLs and filters.
_REMOTE_ID = re.compile(r"[A-Za-z0-9._~:@!$'()*+,;=-]{1,256}")


class _Refused(Exception):
    """This object cannot be applied now; the text says why (the provider's detail kept).
    ``retry``: whether sending it again, unchanged, may succeed (ItemResult.retry)."""

    def __init__(self, text: str, *, retry: bool = True) -> None:
        super().__init__(text)
        self.retry = retry


#: Answers that refuse an object for what it holds: the same payload sent again gets the same answer
#: (400 invalid value or syntax, 409 uniqueness, 413 too large, 422 unprocessable).
_FOR_GOOD = frozenset({400, 409, 413, 422})


def _path(kind: str, remote_id: str) -> str:
    return f"/{kind}/{quote(remote_id, safe='')}"


class ScimTarget(Target):
    name = "scim"
    display_name = "the SCIM provider"
    needs_member_ids = True
    needs_known = True
    # One request per object: batches of 20 keep every one of the engine's threads busy to the end
    # (and a run cut short loses at most 20 answers per thread to re-check by externalId).
    max_batch_size = 20

    def __init__(self, client: ScimClient, settings: ScimSettings, profile: Profile) -> None:
        self.client = client
        self.settings = settings
        self.profile = profile
        # PATCH until the provider answers it 405 or 501 (a generic profile's server without it).
        self._patch = profile.patch
        # A profile that knows nothing of its provider (generic) asks it before the run's first
        # request: a run with nothing to send asks nothing.
        self._learned = not profile.discover
        self._learning = threading.Lock()
        # The users this run created or found, by external id: a manager created earlier in the same
        # batch is named by its id at once (the engine's ids are read before each batch).
        self._ids: dict[str, str] = {}

    # -- the contract

    def apply_users(self, users: Sequence[dict], known: Mapping[str, Known] = NOTHING_KNOWN,
                    remote_ids: Mapping[str, str] = NO_REMOTE_IDS) -> list[ItemResult]:
        ids = ChainMap(remote_ids, self._ids)  # type: ignore[arg-type]
        results = []
        for payload in users:
            result = self._one("Users", payload, known.get(payload["external_id"]), lambda p, k: self._user(p, k, ids))
            if result.remote_id:
                self._ids[result.external_id] = result.remote_id  # one key per thread's own user: no lock needed
            results.append(result)
        return results

    def apply_groups(self, groups: Sequence[dict], remote_ids: Mapping[str, str],
                     known: Mapping[str, Known] = NOTHING_KNOWN) -> list[ItemResult]:
        return [self._one("Groups", payload, known.get(payload["external_id"]),
                          lambda p, k: self._group(p, k, remote_ids)) for payload in groups]

    def flattens_groups(self) -> bool:
        return not self.profile.nested_groups

    def refusal(self, kind: str, payload: dict) -> str | None:
        return self.profile.refusal(kind, payload, send_groups=self.settings.groups)

    def user_attributes(self) -> tuple[str, ...]:
        mapped = tuple(m.attribute for m in self.settings.mapping if m.attribute)
        return ("employeeNumber", "manager", *mapped)

    def user_fields(self, payload: dict, attributes: Mapping[str, str]) -> dict:
        out = dict(payload)
        # Only when there is a value: a directory synced before these fields existed keeps its hashes.
        for field, attribute in (("employee_number", "employeeNumber"), ("manager", "manager")):
            value = (attributes.get(attribute) or "").strip()
            if value:
                out[field] = value
        for item in self.settings.mapping:
            value = (attributes.get(item.attribute) or "").strip() if item.attribute else ""
            value = value or item.default
            field = resources.FIELD_OF_PATH.get(item.path.lower())
            if field is not None:
                out[field] = value  # one of the agent's paths from another attribute
            elif value is not None:
                out[item.path] = value
        return out

    def deletes_gone(self) -> bool:
        return self.settings.delete_gone

    def settings_key(self) -> str:
        # Not the URL, the CA or the token: where and how to connect changes nothing that is sent.
        s = self.settings
        return json.dumps([s.profile, s.adopt_existing, s.groups, s.delete_gone,
                           [m.model_dump() for m in s.mapping]], sort_keys=True)

    def close(self) -> None:
        self.client.close()

    # -- what the provider says it supports

    def _request(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> Answer:
        """Every request of the target: the provider is asked what it supports first (a body built
        before that asks too: :meth:`_ready`, so that what it holds follows the answer)."""
        self._ready()
        return self.client.request(method, path, body, params=params)

    def _ready(self) -> None:
        if not self._learned:
            self._learn()

    def _learn(self) -> None:
        with self._learning:  # the engine's threads: one of them asks, the others wait for its answer
            if self._learned:
                return
            # An answer that is not 200, or none (a 5xx past the retries, a token that may read Users but
            # not these), says nothing: the profile stays as it is, and what the provider refuses is said
            # object by object, as without asking. A run stopped meanwhile stops here too.
            said = [self._ask(path) for path in ("/ServiceProviderConfig", "/ResourceTypes")]
            learned = narrowed(self.profile, *said)
            if learned != self.profile:
                log.info(_("the SCIM provider says what it supports: {limits}").format(
                    limits="; ".join(learned.limits())))
            self.profile = learned
            self._patch = self._patch and learned.patch
            self._learned = True

    def _ask(self, path: str) -> object:
        """What the provider answers at ``path`` (asked once, not retried), None when it says nothing."""
        try:
            answer = self.client.request("GET", path, retries=0)
        except TargetStopped:
            raise
        except TargetUnavailable as exc:  # and credentials refused for this path: the run's requests say the rest
            log.info(_("the SCIM provider did not say what it supports ({path}): {error}").format(path=path, error=exc))
            return None
        return answer.body if answer.status == 200 else None

    # -- one object

    def _one(self, kind: str, payload: dict, known: Known | None, apply) -> ItemResult:  # type: ignore[no-untyped-def]
        guid = payload["external_id"]
        try:
            if payload.get("gone") and self.settings.delete_gone:
                self._delete_gone(kind, payload, known)
                return ItemResult(guid, None, None)
            remote_id, applied = apply(payload, known)
        except _Refused as exc:
            return ItemResult(guid, None, str(exc), retry=exc.retry)
        return ItemResult(guid, remote_id, None, applied)

    def _checked_id(self, answer: Answer, what: str) -> str:
        remote_id = answer.body.get("id") if isinstance(answer.body, dict) else None
        if not isinstance(remote_id, str) or not _REMOTE_ID.fullmatch(remote_id):
            raise _Refused(_("the SCIM provider answered {what} without a usable id").format(what=what))
        return remote_id

    def _refused(self, answer: Answer, what: str) -> _Refused:
        return _Refused(_("the SCIM provider refused {what} (HTTP {status}): {problem}").format(
            what=what, status=answer.status, problem=answer.problem()), retry=answer.status not in _FOR_GOOD)

    def _find(self, kind: str, attribute: str, value: str) -> dict | None:
        """The one resource whose ``attribute`` equals ``value`` (a filtered GET), or None."""
        if "eq" not in self.profile.filter_operators:  # asked after a 409: who holds it cannot be told
            raise _Refused((_("the SCIM provider already has this user and takes no filter, so the agent cannot "
                              "tell whether it made it; it is left alone") if kind == "Users" else
                            _("the SCIM provider already has this group and takes no filter, so the agent cannot "
                              "tell whether it made it; it is left alone")), retry=False)
        answer = self._request("GET", f"/{kind}", params={
            "filter": f"{attribute} eq {json.dumps(value)}", "count": "2"})
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._refused(answer, _("a search by {attribute}").format(attribute=attribute))
        listed = answer.body.get("Resources")
        found = [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []
        # A provider whose filter is loose (or ignored) must not hand over another object; userName is
        # compared as providers compare it (RFC 7643: case-insensitive), externalId exactly.
        same = (lambda v: isinstance(v, str) and v.lower() == value.lower()) if attribute == "userName" \
            else (lambda v: v == value)
        found = [r for r in found if same(r.get(attribute))]
        if len(found) > 1:
            raise _Refused(_("the SCIM provider holds several {kind} with {attribute} {value}").format(
                kind=kind, attribute=attribute, value=printable(value, 120)), retry=False)
        return found[0] if found else None

    # -- users

    def _user(self, payload: dict, known: Known | None, remote_ids: Mapping[str, str]) -> tuple[str, dict | None]:
        # A manager without a SCIM id yet is left out; the engine names it once it has one.
        manager = payload.get("manager")
        applied = {k: v for k, v in payload.items() if k != "manager"} if manager and manager not in remote_ids else None
        if known is not None and known.remote_id:
            if self._update_user(known.remote_id, known.payload, payload, remote_ids):
                return known.remote_id, applied
        return self._create_user(payload, remote_ids), applied

    def _delete_gone(self, kind: str, payload: dict, known: Known | None) -> None:
        """A user or group gone from AD, deleted: only on the directory's opt-in (scim.delete_gone),
        only an object whose id the store holds (one it never sent has nothing to delete)."""
        if known is None or not known.remote_id:
            return
        what = (_("the deletion of group {name}").format(name=printable(str(payload.get("name") or ""), 120))
                if kind == "Groups" else
                _("the deletion of user {login}").format(login=printable(str(payload.get("login")), 120)))
        answer = self._request("DELETE", _path(kind, known.remote_id))
        if answer.status >= 300 and answer.status != 404:  # 404: already gone
            raise self._refused(answer, what)

    def _update_user(self, remote_id: str, old: dict, new: dict, remote_ids: Mapping[str, str]) -> bool:
        """The user brought to ``new``; False when the provider no longer has it (create it again)."""
        change = _("the change of user {login}").format(login=printable(str(new.get("login")), 120))
        asked = self.profile
        operations = resources.user_operations(old, new, remote_ids, enterprise=asked.enterprise)
        if not operations:
            return True  # nothing SCIM holds changed: no call (and no question to a generic provider)
        self._ready()  # then what is sent, and how, follows what the provider said
        if self.profile is not asked:  # it said something (here or on another thread): computed again
            operations = resources.user_operations(old, new, remote_ids, enterprise=self.profile.enterprise)
            if not operations:
                return True
        if self._patch:
            answer = self._request("PATCH", _path("Users", remote_id), resources.patch_body(operations))
            if answer.status not in (405, 501):
                return self._answered(answer, change)
            # The provider has no PATCH after all: the whole user, from now on, for the rest of the run.
            log.info(_("the SCIM provider answered PATCH with HTTP {status}: users are sent whole (PUT) for the "
                       "rest of the run").format(status=answer.status))
            self._patch = False
        return self._answered(self._put_user(remote_id, new, remote_ids), change)

    def _put_user(self, remote_id: str, payload: dict, remote_ids: Mapping[str, str]) -> Answer:
        self._ready()
        return self._request("PUT", _path("Users", remote_id),
                             {**resources.user_resource(payload, remote_ids, enterprise=self.profile.enterprise),
                              "id": remote_id})

    def _answered(self, answer: Answer, what: str) -> bool:
        """True when applied, False when the provider no longer has the object; else it refused it."""
        if answer.status == 404:
            return False
        if answer.status >= 300:
            raise self._refused(answer, what)
        return True

    def _create_user(self, payload: dict, remote_ids: Mapping[str, str]) -> str:
        login = str(payload.get("login") or "")
        creation = _("the creation of user {login}").format(login=printable(login, 120))
        self._ready()
        answer = self._request("POST", "/Users",
                               resources.user_resource(payload, remote_ids, enterprise=self.profile.enterprise))
        if answer.status in (200, 201):
            return self._checked_id(answer, creation)
        if answer.status != 409:
            raise self._refused(answer, creation)
        # Taken: the agent's own from a cut run (same externalId), or someone else's (same userName).
        mine = self._find("Users", "externalId", payload["external_id"])
        if mine is None:
            mine = self._find("Users", "userName", login)
            if mine is None:
                raise self._refused(answer, creation)
            if not self.settings.adopt_existing:
                raise _Refused(_(
                    "the SCIM provider already has a user {login} that this agent did not create; it is left alone "
                    "(set scim.adopt_existing to manage it)").format(login=printable(login, 120)), retry=False)
        remote_id = self._checked_id(Answer(200, mine), _("a search"))
        # Its current fields are not known: the whole user is sent.
        if not self._answered(self._put_user(remote_id, payload, remote_ids), creation):
            raise _Refused(_("the user {login} vanished from the SCIM provider during the run").format(
                login=printable(login, 120)))
        return remote_id

    # -- groups

    def _group(self, payload: dict, known: Known | None, remote_ids: Mapping[str, str]) -> tuple[str, dict | None]:
        members = list(payload.get("members") or [])
        sendable = [m for m in members if m in remote_ids]
        # What the provider will hold: the members with an id; a later run sends the others.
        applied = None if len(sendable) == len(members) else {**payload, "members": sendable}
        if known is not None and known.remote_id:
            if self._update_group(known.remote_id, known.payload, payload, sendable, remote_ids):
                return known.remote_id, applied
        return self._create_group(payload, sendable, remote_ids), applied

    def _groups_served(self) -> None:
        """Before a group's first request: refused when the provider, asked, said it has no Groups (a
        profile's own "no groups" is the engine's refusal, before anything is sent)."""
        self._ready()
        if not self.profile.groups:
            raise _Refused(NO_GROUPS_SERVED, retry=False)  # in English, as the profile's refusals: shown translated

    def _patches(self, remote_id: str, patches: list[list[dict]], name: str) -> bool:
        change = _("the change of group {name}").format(name=printable(name, 120))
        if patches:
            self._groups_served()
        for operations in patches:
            answer = self._request("PATCH", _path("Groups", remote_id), resources.patch_body(operations))
            if not self._answered(answer, change):
                return False
        return True

    def _member_patches(self, added: list[str], removed: list[str]) -> list[list[dict]]:
        p = self.profile
        adds = resources.member_operations("add", added, p.members_per_add)
        removes = resources.member_operations("remove", removed, p.members_per_remove)
        if p.members_per_add is None and p.members_per_remove is None and adds and removes:
            return [adds[0] + removes[0]]  # no limit: both in one PATCH
        return adds + removes

    def _update_group(self, remote_id: str, old: dict, new: dict, sendable: list[str],
                      remote_ids: Mapping[str, str]) -> bool:
        before = set(old.get("members") or [])
        added = [remote_ids[m] for m in sendable if m not in before]
        removed = [remote_ids[m] for m in sorted(before - set(sendable)) if m in remote_ids]
        patches = self._member_patches(added, removed)
        name = str(new.get("name") or "")
        if (old.get("name") or "") != name:
            rename = [{"op": "replace", "path": "displayName", "value": name}]
            if patches and self.profile.members_with_other_changes:
                patches[0] = rename + patches[0]
            else:
                patches.insert(0, rename)
        return self._patches(remote_id, patches, name)

    def _create_group(self, payload: dict, sendable: list[str], remote_ids: Mapping[str, str]) -> str:
        """A group the store has no id for: the agent's own from a cut run when the provider holds its
        externalId (a group's name need not be unique, so a POST alone could duplicate it), else new."""
        name = str(payload.get("name") or "")
        ids = [remote_ids[m] for m in sendable]
        self._groups_served()
        # A provider without filters cannot be asked: the POST goes alone (a cut run may then leave a
        # group the next run creates again: docs/scim.md).
        mine = self._find("Groups", "externalId", payload["external_id"]) \
            if "eq" in self.profile.filter_operators else None
        if mine is not None:
            remote_id = self._checked_id(Answer(200, mine), _("a search"))
            # Its members when the provider shows them (AWS and Entra never do: then only additions).
            listed = mine.get("members") if self.profile.members_on_get else None
            current = {m.get("value") for m in listed or [] if isinstance(m, dict)}
            wanted = set(ids)
            patches = self._member_patches([i for i in ids if i not in current],
                                           sorted(c for c in current if isinstance(c, str) and c not in wanted))
            if mine.get("displayName") != name:
                patches.insert(0, [{"op": "replace", "path": "displayName", "value": name}])
        else:
            creation = _("the creation of group {name}").format(name=printable(name, 120))
            first = ids[:self.profile.members_per_add] if self.profile.members_per_add else ids
            answer = self._request("POST", "/Groups", resources.group_resource(payload, first))
            if answer.status == 409:
                raise _Refused(_("the SCIM provider already has a group {name} that this agent did not create; it "
                                 "is left alone ({problem})").format(name=printable(name, 120),
                                                                    problem=answer.problem()), retry=False)
            if answer.status not in (200, 201):
                raise self._refused(answer, creation)
            remote_id = self._checked_id(answer, creation)
            patches = self._member_patches(ids[len(first):], [])
        if not self._patches(remote_id, patches, name):
            raise _Refused(_("the group {name} vanished from the SCIM provider during the run").format(
                name=printable(name, 120)))
        return remote_id


def open_target(context: TargetContext) -> ScimTarget:
    """The directory's SCIM target; says what to enter when its settings or token are missing."""
    directory: DirectorySettings = context.directory
    settings = directory.scim
    if settings is None:
        raise UserError(_("Directory {id} syncs to SCIM but has no scim section: give its URL with "  # not a count
                          "`smartsync-tui directory edit {id} --scim-url URL`.").format(id=directory.id))
    token = context.secrets.get(directory_token_key(directory.id))
    if token is None:
        raise SecretMissing("token", directory.id, "token")  # type: ignore[arg-type]
    chosen = profile(settings.profile)
    client = ScimClient(settings.base_url, token, directory_id=directory.id, pace=Pace(chosen.rate_per_second),
                        ca_file=settings.ca_file, proxy=proxy_choice(context.settings, context.secrets),
                        oauth=oauth_of(settings))
    return ScimTarget(client, settings, chosen)


__all__ = ["ScimTarget", "open_target"]

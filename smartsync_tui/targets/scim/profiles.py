"""What each SCIM service provider accepts and does not advertise (docs/scim.md).

``/ServiceProviderConfig`` says whether PATCH, bulk and filters exist, not how
many members one PATCH may carry, whether a GET returns members, which filter
operators work or how fast one may write: a profile says it, from the
provider's documentation. ``generic`` takes the RFC's defaults and is narrowed
by what the provider itself says (:func:`narrowed`): by ``directory test``,
and by a run before its first write (two GETs, and none on a run that writes
nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import N_, _
from smartsync_tui.targets.scim.resources import ENTERPRISE_USER

# Why a profile refuses an object before it is sent. Stored with the skipped object in English and
# translated when shown (ui/screens/details.py reads them back by these templates).
MISSING_NAMES = N_("missing {attributes} ({provider} requires first name, last name and e-mail)")  # not a count
LOGIN_TOO_LONG = N_("login longer than {limit} characters ({provider}'s limit)")  # not a count (limits are 21 and up)
NO_GROUPS = N_("groups are not sent: {provider} has none")
GROUPS_OFF = N_("groups are not sent to this SCIM provider (scim.groups is off)")
NO_USER_NAME = N_("no userName: the directory's mapping gives it no value and no default")
MISSING_EMAIL = N_("missing mail ({provider} requires an e-mail)")  # not a count
NO_GROUPS_SERVED = N_("groups are not sent: the SCIM provider serves no Groups (its /ResourceTypes)")
REFUSALS = (MISSING_NAMES, LOGIN_TOO_LONG, NO_GROUPS, GROUPS_OFF, NO_USER_NAME, MISSING_EMAIL, NO_GROUPS_SERVED)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    #: How an admin reads it ("AWS IAM Identity Center").
    title: str
    #: Users updated by PATCH with only the changed paths; False: PUT of the whole user.
    patch: bool = True
    #: The most members one PATCH operation may add (None: no limit known).
    members_per_add: int | None = None
    #: The most members one PATCH may remove (Entra: 1).
    members_per_remove: int | None = None
    #: Whether member changes may share a PATCH with other changes (Entra: no).
    members_with_other_changes: bool = True
    #: Whether groups exist at all (Zitadel: users only).
    groups: bool = True
    #: Whether a group may hold groups; without, nested groups are sent flattened to their users.
    nested_groups: bool = False
    #: Writes per second to start at (the rate adapts to 429s); None: as fast as answers come.
    rate_per_second: float | None = None
    #: The longest userName the provider takes (None: no limit known).
    user_name_max: int | None = None
    #: Whether the provider requires a given name, a family name and an e-mail (Zitadel).
    names_required: bool = False
    #: Whether the provider requires an e-mail (Atlassian: on one of the organisation's verified domains).
    email_required: bool = False
    #: Whether a GET of a group lists its members (AWS and Entra never do). Without, the agent
    #: trusts only its state store for who is in a group it finds again.
    members_on_get: bool = True
    #: The filter operators the provider takes. The agent sends only ``userName eq "v"`` and
    #: ``externalId eq "v"``, to find its own objects again after a cut run.
    filter_operators: frozenset[str] = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr",
                                                  "and", "or", "not"})
    #: How the provider pages a listing: "index" (startIndex, RFC 7644), "cursor" or "none". The
    #: agent never lists (every id it needs is in its state store), so this is for the record.
    paging: str = "index"
    #: The most operations one /Bulk request may carry (None: no bulk). The agent does not use
    #: bulk (docs/scim.md, "Few calls").
    bulk_operations: int | None = None
    #: Whether the users' enterprise extension (department, employeeNumber, manager) is sent.
    enterprise: bool = True
    #: Whether a DELETE removes the user (Atlassian: it only deactivates).
    delete_removes: bool = True
    #: Whether a run asks the provider what it supports (/ServiceProviderConfig, /ResourceTypes)
    #: before its first write: for ``generic``, which knows nothing else.
    discover: bool = False

    def refusal(self, kind: str, payload: dict, *, send_groups: bool = True) -> str | None:
        """Why this provider would refuse the object (the engine skips it and says why), or None."""
        if kind == "group":
            if not self.groups:
                return NO_GROUPS.format(provider=self.title)
            return None if send_groups else GROUPS_OFF
        login = str(payload.get("login") or "")
        if not login:
            return NO_USER_NAME
        if self.user_name_max and len(login) > self.user_name_max:
            return LOGIN_TOO_LONG.format(limit=self.user_name_max, provider=self.title)
        if self.names_required:
            missing = [attribute for field, attribute in (("first_name", "givenName"), ("last_name", "sn"),
                                                          ("email", "mail")) if not payload.get(field)]
            if missing:
                return MISSING_NAMES.format(attributes=", ".join(missing), provider=self.title)
        if self.email_required and not payload.get("email"):
            return MISSING_EMAIL.format(provider=self.title)
        return None

    def limits(self) -> list[str]:
        """What this profile will do, one short line each, for ``directory test`` and the docs."""
        out = [_("users updated by {how}").format(how="PATCH" if self.patch else "PUT")]
        if not self.groups:
            out.append(_("no groups: only users are sent"))
        else:
            add = str(self.members_per_add or _("no limit"))
            remove = str(self.members_per_remove or _("no limit"))
            out.append(_("group members per PATCH: {add} added, {remove} removed").format(add=add, remove=remove))
            if not self.nested_groups:
                out.append(_("nested groups sent as their users"))
        if not self.members_on_get and self.groups:
            out.append(_("group members are not read back (the provider does not list them): the state store says who is in"))
        if not self.enterprise:
            out.append(_("no enterprise extension: department, employee number and manager are not sent"))
        if not self.delete_removes:
            out.append(_("a DELETE only deactivates the user at this provider"))
        if self.rate_per_second:
            out.append(_("writes start at {n} per second and follow the provider's 429s").format(  # not a count
                n=self.rate_per_second))
        return out


#: What AWS and Entra take in a filter.
_EQ_AND = frozenset({"eq", "and"})

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("generic", "SCIM 2.0 (generic)", discover=True),
        Profile("aws-identity-center", "AWS IAM Identity Center", members_per_add=100, members_per_remove=100,
                rate_per_second=20, members_on_get=False, filter_operators=_EQ_AND, paging="cursor"),
        Profile("entra-id", "Microsoft Entra ID", members_per_add=20, members_per_remove=1,
                members_with_other_changes=False, rate_per_second=20, members_on_get=False,
                filter_operators=_EQ_AND, paging="cursor"),
        Profile("zitadel", "Zitadel", groups=False, names_required=True, rate_per_second=20,
                filter_operators=frozenset({"eq", "ne", "co", "sw", "ew"}), bulk_operations=100),
        Profile("slack", "Slack", rate_per_second=3, user_name_max=21),
        Profile("github-emu", "GitHub Enterprise Managed Users", rate_per_second=0.25, user_name_max=39),
        Profile("atlassian", "Atlassian", email_required=True, delete_removes=False, paging="cursor"),
        Profile("google-cloud-identity", "Google Cloud Identity", paging="none"),
    )
}


def profile(name: str) -> Profile:
    """The profile named ``name``; an InputError naming the known ones otherwise."""
    found = PROFILES.get(name)
    if found is None:
        raise UserError(_("There is no SCIM profile '{name}' (known: {known}).").format(
            name=name, known=", ".join(PROFILES)))
    return found


def narrowed(base: Profile, config: object, resource_types: object = None) -> Profile:
    """``base`` with what the provider says it lacks: from its /ServiceProviderConfig (PATCH, filters,
    bulk) and its /ResourceTypes (Groups, the users' enterprise extension). What it does not say, or
    says in a shape the RFC does not give, changes nothing. Only ever narrower: a profile's limits from
    the provider's documentation stay."""
    changes: dict[str, object] = {}
    config = config if isinstance(config, dict) else {}
    patch = config.get("patch")
    if isinstance(patch, dict) and patch.get("supported") is False and base.patch:
        changes["patch"] = False
    said = config.get("filter")
    if isinstance(said, dict) and said.get("supported") is False:
        changes["filter_operators"] = frozenset()
    bulk = config.get("bulk")
    if isinstance(bulk, dict) and bulk.get("supported") is True and isinstance(bulk.get("maxOperations"), int):
        said_most = bulk["maxOperations"]  # recorded; not used (docs/scim.md)
        changes["bulk_operations"] = said_most if base.bulk_operations is None else min(said_most, base.bulk_operations)
    types = resource_types.get("Resources") if isinstance(resource_types, dict) else None
    if isinstance(types, list):
        kinds = {t.get("name"): t for t in types if isinstance(t, dict) and isinstance(t.get("name"), str)}
        if kinds and "Group" not in kinds and base.groups:
            changes["groups"] = False
        user = kinds.get("User")
        extensions = user.get("schemaExtensions") if isinstance(user, dict) else None
        if isinstance(extensions, list) and base.enterprise and not any(
                isinstance(e, dict) and e.get("schema") == ENTERPRISE_USER for e in extensions):
            changes["enterprise"] = False
    return replace(base, **changes) if changes else base  # type: ignore[arg-type]


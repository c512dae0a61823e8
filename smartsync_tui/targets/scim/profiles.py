"""What each SCIM service provider accepts and does not advertise (docs/scim.md).

``/ServiceProviderConfig`` says whether PATCH, bulk and filters exist, not how
many members one PATCH may carry, whether a GET returns members, which filter
operators work or how fast one may write: a profile says it, from the
provider's documentation. ``generic`` takes the RFC's defaults and is narrowed
by the provider's /ServiceProviderConfig when the target opens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import N_, _

# Why a profile refuses an object before it is sent. Stored with the skipped object in English and
# translated when shown (ui/screens/details.py reads them back by these templates).
MISSING_NAMES = N_("missing {attributes} ({provider} requires first name, last name and e-mail)")  # not a count
LOGIN_TOO_LONG = N_("login longer than {limit} characters ({provider}'s limit)")  # not a count (limits are 21 and up)
NO_GROUPS = N_("groups are not sent: {provider} has none")
GROUPS_OFF = N_("groups are not sent to this SCIM provider (scim.groups is off)")
NO_USER_NAME = N_("no userName: the directory's mapping gives it no value and no default")
REFUSALS = (MISSING_NAMES, LOGIN_TOO_LONG, NO_GROUPS, GROUPS_OFF, NO_USER_NAME)


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
    #: One e-mail value per user, never a list of several (AWS).
    single_email: bool = True

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
        if self.rate_per_second:
            out.append(_("writes start at {n} per second and follow the provider's 429s").format(  # not a count
                n=self.rate_per_second))
        return out


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("generic", "SCIM 2.0 (generic)"),
        Profile("aws-identity-center", "AWS IAM Identity Center", members_per_add=100, members_per_remove=100,
                rate_per_second=20),
        Profile("entra-id", "Microsoft Entra ID", members_per_add=20, members_per_remove=1,
                members_with_other_changes=False, rate_per_second=20),
        Profile("zitadel", "Zitadel", groups=False, names_required=True, rate_per_second=20),
        Profile("slack", "Slack", rate_per_second=3, user_name_max=21),
        Profile("github-emu", "GitHub Enterprise Managed Users", rate_per_second=0.25, user_name_max=39),
    )
}


def profile(name: str) -> Profile:
    """The profile named ``name``; an InputError naming the known ones otherwise."""
    found = PROFILES.get(name)
    if found is None:
        raise UserError(_("There is no SCIM profile '{name}' (known: {known}).").format(
            name=name, known=", ".join(PROFILES)))
    return found


def narrowed(base: Profile, config: dict) -> Profile:
    """``base`` with what the provider's /ServiceProviderConfig says it lacks (PATCH). Bulk is not
    used: one request per changed object already is the floor a provider's rate limit sees."""
    patch = config.get("patch")
    if isinstance(patch, dict) and patch.get("supported") is False and base.patch:
        return replace(base, patch=False)
    return base

"""`directory test` (and add/edit) for a SCIM directory: the endpoint checked for real.

Three requests, all reads: ``/ServiceProviderConfig`` (the token, and what the
provider says it supports), ``/ResourceTypes`` (Users, and Groups when the
profile sends them), and a filtered ``GET /Users`` for a userName nobody has
(the agent needs ``eq`` filters to find its own objects after a cut run).
Then what the profile will do, in a few lines.
"""

from __future__ import annotations

import json
import secrets as random
from dataclasses import dataclass, field

from pydantic import SecretStr

from smartsync_tui.config.settings import AppSettings, DirectorySettings
from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import _
from smartsync_tui.targets.http_common import proxy_choice
from smartsync_tui.targets.base import TargetError
from smartsync_tui.targets.scim.client import ScimClient, oauth_of
from smartsync_tui.targets.scim.pace import Pace
from smartsync_tui.targets.scim.profiles import narrowed, profile


@dataclass
class ScimReport:
    ok: bool
    lines: list[str] = field(default_factory=list)
    error: UserError | None = None
    patch: bool | None = None
    filter: bool | None = None
    groups: bool | None = None

    def as_dict(self) -> dict:
        out = {"ok": self.ok, "patch": self.patch, "filter": self.filter, "groups": self.groups, "lines": self.lines}
        if self.error is not None:
            out.update(error=str(self.error), kind=self.error.kind)
        return out


def _yes(value: bool | None) -> str:
    return _("yes") if value else _("no")


def check_endpoint(settings: AppSettings, secrets: object, directory: DirectorySettings, token: SecretStr) -> ScimReport:
    """The SCIM endpoint of ``directory``, asked with ``token`` (never stored here)."""
    scim = directory.scim
    if scim is None:
        return ScimReport(False, error=UserError(_("the directory has no scim section: give --scim-url")))
    try:
        chosen = profile(scim.profile)
        client = ScimClient(scim.base_url, token, directory_id=directory.id, pace=Pace(None), ca_file=scim.ca_file,
                            proxy=proxy_choice(settings, secrets), retries=1,  # type: ignore[arg-type]
                            oauth=oauth_of(scim))
    except UserError as exc:  # an unknown profile, a CA file that cannot be used
        return ScimReport(False, error=exc)
    report = ScimReport(False)
    try:
        config = client.request("GET", "/ServiceProviderConfig")
        if config.status != 200 or not isinstance(config.body, dict):
            report.error = UserError(_("{url}/ServiceProviderConfig answered HTTP {status}: is this the SCIM base "
                                       "URL (often ending in /scim/v2)?").format(url=scim.base_url, status=config.status))
            return report
        types = client.request("GET", "/ResourceTypes")
        # What a generic profile's run learns too before its first write (ScimTarget._learn), by the
        # same rules; a named profile's runs follow the profile, so it is described as it is.
        effective = narrowed(chosen, config.body, types.body if types.status == 200 else None) \
            if chosen.discover else chosen
        report.patch = effective.patch
        report.filter = "eq" in effective.filter_operators
        listed = types.body.get("Resources") if types.status == 200 and isinstance(types.body, dict) else None
        names = {t.get("name") for t in listed if isinstance(t, dict)} if isinstance(listed, list) else set()
        report.groups = "Group" in names if names else None
        probe = f"smartsync-probe-{random.token_hex(4)}"
        found = client.request("GET", "/Users", params={"filter": f"userName eq {json.dumps(probe)}", "count": "1"})
        if found.status != 200:
            report.filter = False
            report.error = UserError(_(
                "the provider refused a search by userName (HTTP {status}: {problem}); the agent needs 'eq' "
                "filters to find its own users again after an interrupted run").format(
                    status=found.status, problem=found.problem()))
            return report
        if effective.groups and scim.groups and report.groups is False:
            report.error = UserError(_("the provider serves no Groups: choose a profile without groups, or turn "
                                       "scim.groups off"))
            return report
    except TargetError as exc:
        report.error = exc
        return report
    finally:
        client.close()
    report.ok = True
    report.lines = [
        _("{title} at {url}: the token is accepted").format(title=effective.title, url=scim.base_url),
        _("PATCH {patch}, filters {filter}, groups {groups}").format(
            patch=_yes(report.patch), filter=_yes(report.filter),
            groups=_yes(report.groups) if report.groups is not None else _("not said")),
        *effective.limits(),
    ]
    return report

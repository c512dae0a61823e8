"""The directory test of the console's and the CLI's *Test*: the stages one by one, and
what the account can and cannot read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ldap3 import BASE, SUBTREE, Connection
from ldap3.core.exceptions import LDAPException
from pydantic import SecretStr

from smartsync_tui.config.settings import DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER, DirectorySettings
from smartsync_tui.i18n import N_, _, ngettext
from smartsync_tui.ad.errors import DirectoryError, Stage
from smartsync_tui.ad.connect import _INSUFFICIENT_ACCESS, _SUCCESS, _result, close, connect, read_root_dse
from smartsync_tui.ad.search import (
    _DELETED_OBJECTS_WKGUID,
    SHOW_DELETED_OID,
    _abandon_paged,
    search_page,
)
from smartsync_tui.ad.transport import _sentences


# ---------------------------------------------------------------------------
# The directory test


def _sample(
    conn: Connection, base_dn: str, ldap_filter: str, attributes: Sequence[str], limit: int,
    controls: Sequence[tuple[str, bool, Any]] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """The first page only (``limit`` entries) and whether there are more."""
    cookie = search_page(conn, base_dn, ldap_filter, 0, search_scope=SUBTREE, attributes=list(attributes),
                         paged_size=limit, controls=list(controls) if controls else None)
    entries = [
        {"dn": e["dn"], **e["raw_attributes"]}
        for e in (conn.response or [])
        if e.get("type") == "searchResEntry"
    ]
    _abandon_paged(conn, base_dn, ldap_filter, cookie)
    return entries, bool(cookie)


@dataclass
class DirectoryTestStep:
    """One line of the test: a stage, whether it passed (None: not run or unknown), details."""

    name: str
    ok: bool | None
    detail: str


@dataclass
class DirectoryTestReport:
    directory_id: str
    server: str
    port: int
    tls: str
    ok: bool = False
    failed_stage: Stage | None = None
    #: The setting to fix when it is not the failed stage's own (DirectoryError.setting).
    failed_setting: str | None = None
    message: str = ""
    steps: list[DirectoryTestStep] = field(default_factory=list)
    dns_host_name: str | None = None
    default_naming_context: str | None = None
    base_dn_exists: bool | None = None
    users_sampled: int | None = None
    users_more: bool = False
    groups_sampled: int | None = None
    groups_more: bool = False
    can_read_users: bool | None = None
    can_read_groups: bool | None = None
    missing_user_attributes: list[str] = field(default_factory=list)
    can_read_deleted_objects: bool | None = None
    deleted_objects_note: str = ""
    warnings: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def lines(self) -> list[str]:
        """The report as short lines for a terminal."""
        # The stage names (dns, tcp, bind, ...) are the report's codes, as in --json: not translated.
        words = {True: "ok", False: _("FAIL"), None: "--"}
        warn = _("WARN")
        width = max(len(warn), *(len(word) for word in words.values()))
        out = [f"{words[s.ok].ljust(width)} {s.name}: {s.detail}" for s in self.steps]
        out.extend(f"{warn.ljust(width)} {w}" for w in self.warnings)
        out.append(self.message)
        return out


_REQUIRED_USER_ATTRIBUTES = ("objectGUID", "userAccountControl", "givenName", "sn", "mail")
_DELETED_LOSS = N_(
    "Without it, users deleted in AD are noticed only at the next full reconcile (daily by "
    "default), where they are disabled in Identity; delta syncs cannot see deletions."
)


def _count(n: int, more: bool) -> str:
    return f"{n}+" if more else str(n)


def _users(n: int, more: bool) -> str:
    """"5 users", "100+ users": a sample's size (more: the sample was cut at its page)."""
    return ngettext("{count} user", "{count} users", n).format(count=_count(n, more))


def _groups(n: int, more: bool) -> str:
    return ngettext("{count} group", "{count} groups", n).format(count=_count(n, more))


def test_directory(
    directory: DirectorySettings,
    password: SecretStr,
    *,
    timeout: float = 10.0,
    sample_size: int = 100,
) -> DirectoryTestReport:
    """Test a directory stage by stage and say what the account can and cannot read.

    Never raises :class:`DirectoryError`: a failed stage ends the report with
    ``ok=False``, ``failed_stage`` and the error's message. Reads only samples
    (one page of ``sample_size``), never the whole directory.
    """
    started = time.monotonic()
    report = DirectoryTestReport(
        directory_id=directory.id, server=directory.server, port=directory.effective_port, tls=directory.tls
    )

    def on_step(stage: str, detail: str) -> None:
        report.steps.append(DirectoryTestStep(stage, True, detail or _("not needed (an IP address)")))
        if stage == "base_dn":
            report.base_dn_exists = True

    conn: Connection | None = None
    try:
        try:
            conn = connect(directory, password, timeout=timeout, on_step=on_step)
        except DirectoryError as error:
            report.failed_stage = error.stage
            report.failed_setting = error.setting
            report.message = str(error)
            report.steps.append(DirectoryTestStep(error.stage, False, str(error)))
            if error.stage == "base_dn":
                report.base_dn_exists = False
            return report
        try:
            _probe_reads(conn, directory, report, sample_size)
        except DirectoryError as error:
            report.failed_stage = error.stage
            report.message = str(error)
            report.steps.append(DirectoryTestStep(error.stage, False, str(error)))
            return report
        report.ok = True
        report.message = _sentences(
            _("Connected to {dc} as {user}: {users} and {groups} visible under {base_dn}.").format(
                dc=report.dns_host_name or directory.server,
                user=directory.bind_user,
                users=_users(report.users_sampled or 0, report.users_more),
                groups=_groups(report.groups_sampled or 0, report.groups_more),
                base_dn=directory.base_dn,
            ),
            _("Some checks need attention (see warnings).") if report.warnings else "",
        )
        return report
    finally:
        close(conn)
        report.elapsed_seconds = round(time.monotonic() - started, 3)


def _probe_reads(conn: Connection, directory: DirectorySettings, report: DirectoryTestReport, limit: int) -> None:
    dse = read_root_dse(conn, ("dnsHostName", "defaultNamingContext"))
    report.dns_host_name = (dse.get("dnsHostName") or [None])[0]
    report.default_naming_context = (dse.get("defaultNamingContext") or [None])[0]
    report.steps.append(
        DirectoryTestStep(
            "rootdse", True,
            _("DC {dc}, domain {domain}").format(dc=report.dns_host_name or "?",
                                                 domain=report.default_naming_context or "?"),
        )
    )

    user_filter = directory.user_filter or DEFAULT_USER_FILTER
    users, more = _sample(conn, directory.base_dn, user_filter, _REQUIRED_USER_ATTRIBUTES, limit)
    report.users_sampled, report.users_more = len(users), more
    report.can_read_users = bool(users)
    if users:
        lowered = [{k.lower() for k in u} for u in users]
        report.missing_user_attributes = [
            name for name in _REQUIRED_USER_ATTRIBUTES if not any(name.lower() in keys for keys in lowered)
        ]
        detail = ngettext("{users} matches {filter}", "{users} match {filter}", len(users)).format(
            users=_users(len(users), more), filter=user_filter)
        if report.missing_user_attributes:
            missing = ", ".join(report.missing_user_attributes)
            report.warnings.append(
                ngettext(
                    "The {n} sampled user does not show {attributes}: it has none, or this account may not "
                    "read it. Users without a required attribute are skipped.",
                    "None of the {n} sampled users shows {attributes}: they have none, or this account may not "
                    "read it. Users without a required attribute are skipped.",
                    len(users),
                ).format(n=len(users), attributes=missing)
            )
        report.steps.append(DirectoryTestStep("users", True, detail))
    else:
        report.steps.append(
            DirectoryTestStep("users", False, _("no user under {base_dn} matches {filter}").format(  # not a count
                base_dn=directory.base_dn, filter=user_filter))
        )
        report.warnings.append(
            _("No user is visible under {base_dn} with the filter {filter}: the base "
              "DN or the filter selects none, or this account may not read users.").format(
                base_dn=directory.base_dn, filter=user_filter)
        )

    group_filter = directory.group_filter or DEFAULT_GROUP_FILTER
    groups, gmore = _sample(conn, directory.base_dn, group_filter, ("objectGUID",), limit)
    report.groups_sampled, report.groups_more = len(groups), gmore
    report.can_read_groups = bool(groups)
    if groups:
        report.steps.append(DirectoryTestStep("groups", True, ngettext(
            "{groups} matches {filter}", "{groups} match {filter}", len(groups)).format(
                groups=_groups(len(groups), gmore), filter=group_filter)))
    else:
        report.steps.append(
            DirectoryTestStep("groups", False, _("no group under {base_dn} matches {filter}").format(  # not a count
                base_dn=directory.base_dn, filter=group_filter))
        )
        report.warnings.append(
            _("No group is visible under {base_dn} with the filter {filter}: group "
              "links will not be synced.").format(base_dn=directory.base_dn, filter=group_filter)
        )

    domain = report.default_naming_context or directory.base_dn
    report.can_read_deleted_objects = _can_read_deleted(conn, domain)
    if report.can_read_deleted_objects:
        report.deleted_objects_note = _("Deleted users are detected at each delta sync.")
        report.steps.append(DirectoryTestStep("deleted_objects", True, _("Deleted Objects is readable")))
    else:
        report.deleted_objects_note = _sentences(
            _("This account cannot read the Deleted Objects container (by default only "
              "administrators can; an AD admin can delegate it with dsacls)."),
            _(_DELETED_LOSS),
        )
        report.steps.append(DirectoryTestStep("deleted_objects", False, report.deleted_objects_note))
        report.warnings.append(report.deleted_objects_note)


def _can_read_deleted(conn: Connection, domain_dn: str) -> bool:
    control = [(SHOW_DELETED_OID, True, None)]
    for base in (f"<WKGUID={_DELETED_OBJECTS_WKGUID},{domain_dn}>", f"CN=Deleted Objects,{domain_dn}"):
        try:
            conn.search(base, "(objectClass=*)", search_scope=BASE, attributes=["isDeleted"], controls=control)
        except LDAPException:
            return False
        code, _description, _message = _result(conn)
        if code == _SUCCESS and any(e.get("type") == "searchResEntry" for e in conn.response or ()):
            return True
        if code == _INSUFFICIENT_ACCESS:
            return False
    return False


# Its name starts with "test_": keep pytest from collecting it where it is imported.
test_directory.__test__ = False  # type: ignore[attr-defined]

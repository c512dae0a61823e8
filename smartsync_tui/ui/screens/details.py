"""A directory's details: recent runs and their errors, recent login checks and their
rate (pass-through authentication), and the objects skipped with the reason."""

from __future__ import annotations

import statistics
import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from smartsync_tui.core.settings import DirectorySettings
from smartsync_tui.core.state_store import LoginCheckRecord, StateStore
from smartsync_tui.ui.i18n import N_, _, translate_bindings


def _when(ts: float | None, *, short: bool = False) -> str:
    """A time to show; ``short``: only the clock for today (narrow tables at 80 columns)."""
    if not ts:
        return "-"
    if short and time.strftime("%Y-%m-%d", time.localtime(ts)) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", time.localtime(ts))
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


OUTCOMES = {"allowed": N_("allowed"), "denied": N_("denied"), "error": N_("error"), "expired": N_("expired")}
# The reasons of the agent API (docs/identity-agent-api.md), as an admin reads them.
REASONS = {
    "invalid_credentials": N_("wrong password"),
    "unknown_user": N_("unknown user"),
    "account_disabled": N_("account disabled"),
    "account_locked": N_("locked out"),
    "account_expired": N_("account expired"),
    "password_expired": N_("password expired"),
    "password_must_change": N_("must change password"),
    "logon_hours": N_("outside logon hours"),
    "workstation_restricted": N_("workstation not allowed"),
    "invalid_login": N_("malformed login"),
    "insecure_connection": N_("refused: plain LDAP"),
    "ldap_unavailable": N_("DC unreachable"),
    "ldap_refused": N_("refused by the DC"),
    "undecryptable": N_("not for this agent's key"),
    "bad_command": N_("malformed request"),
    "expired": N_("too late: not checked"),
}


def login_check_summary(checks: list[LoginCheckRecord], now: float, enabled: bool = True) -> str:
    """One line: the last hour's checks, their rate, outcomes and median latency."""
    if not enabled:
        return _("Login checks are off for this directory (login_checks in appsettings.json).")
    recent = [c for c in checks if c.at >= now - 3600]
    if not recent:
        return _("No login check in the last hour. Identity asks when a user of this directory logs in "
                 "and its cached credentials have expired.")
    by_outcome = {o: sum(1 for c in recent if c.outcome == o) for o in OUTCOMES}
    parts = ", ".join(f"{n} {_(OUTCOMES[o])}" for o, n in by_outcome.items() if n)
    return _("Last hour: {count} checks ({rate:.1f}/min): {parts}; median {median:.0f} ms").format(
        count=len(recent), rate=len(recent) / 60, parts=parts,
        median=statistics.median(c.latency_ms for c in recent))


class DirectoryDetails(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", N_("Close"))]

    def __init__(self, directory: DirectorySettings, state: StateStore) -> None:
        super().__init__()
        translate_bindings(self)
        self.directory = directory
        self.state = state

    def compose(self) -> ComposeResult:
        d = self.directory
        counts = self.state.counts(d.id)
        with Vertical(classes="dialog full"):
            yield Static(_("{name}: {server}:{port} ({tls}), {base_dn}").format(
                name=d.label, server=d.server, port=d.effective_port, tls=d.tls, base_dn=d.base_dn),
                classes="dialog-title")
            yield Static(_("{users} users ({disabled} disabled) and {groups} groups in Identity; {pending} operations pending").format(
                users=counts["users"] + counts["disabled_users"], disabled=counts["disabled_users"],
                groups=counts["groups"], pending=len(self.state.pending(d.id))), classes="dialog-body")
            with TabbedContent(id="details-tabs"):
                with TabPane(_("Recent runs"), id="runs"):
                    yield self._runs()
                with TabPane(_("Login checks"), id="login-checks"):
                    yield from self._login_checks()
                with TabPane(_("Skipped objects"), id="skipped"):
                    yield self._skipped()
        yield Footer()

    def _runs(self) -> DataTable:
        d = self.directory
        runs = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        runs.add_columns(_("Started"), _("Mode"), _("Outcome"), _("Seconds"), _("Changes"), _("Error"))
        labels = {
            "create": _("created"), "update": _("updated"), "disable": _("disabled"), "enable": _("re-enabled"),
            "group_create": _("groups created"), "group_update": _("groups updated"), "failed": _("failed"),
        }
        for run in self.state.runs(d.id, limit=20):
            changes = ", ".join(f"{labels[k]} {v}" for k, v in run.counts.items() if v and k in labels)
            seconds = f"{run.ended_at - run.started_at:.1f}" if run.ended_at else "-"
            runs.add_row(_when(run.started_at), run.mode, run.outcome or _("running"), seconds, changes or "-", run.error or "")
        return runs

    def _login_checks(self) -> ComposeResult:
        checks = self.state.login_checks(self.directory.id, limit=1000)
        yield Static(login_check_summary(checks, time.time(), self.directory.login_checks), id="login-check-summary")
        table = DataTable(id="login-checks-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(_("Time"), _("Login"), _("Result"), _("ms"), _("Reason"))
        for check in checks[:50]:
            table.add_row(_when(check.at, short=True), check.login, _(OUTCOMES.get(check.outcome, check.outcome)),
                          f"{check.latency_ms:.0f}",
                          _(REASONS[check.reason]) if check.reason in REASONS else (check.reason or ""))
        yield table

    def _skipped(self) -> DataTable:
        skipped = DataTable(id="skipped-table", cursor_type="row", zebra_stripes=True)
        skipped.add_columns(_("Reason"), _("DN"))
        for _guid, dn, reason in self.state.skipped(self.directory.id):
            skipped.add_row(reason, dn)
        return skipped

    def action_close(self) -> None:
        self.dismiss(None)

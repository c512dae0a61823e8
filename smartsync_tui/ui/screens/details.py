"""A directory's details: recent runs and their errors, recent login checks and their
rate (pass-through authentication), and the objects skipped with the reason."""

from __future__ import annotations

import re
import statistics
import time
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from smartsync_tui.core.dn import object_name
from smartsync_tui.config.settings import SCIM_TARGET_NAME, DirectorySettings, tls_name
from smartsync_tui.ad.login_check import OUTCOMES
from smartsync_tui.store.state_store import LoginCheckRecord, StateStore
from smartsync_tui.ui.advice import in_console
from smartsync_tui.targets.scim.profiles import REFUSALS
from smartsync_tui.ui.i18n import N_, _, ngettext, number, translate_bindings
from smartsync_tui.ui.literal import literal, filled
from smartsync_tui.ui.screens.row_view import RowView
from smartsync_tui.ui.widgets.footer import ConsoleFooter


def _when(ts: float | None, *, short: bool = False) -> str:
    """A time to show; ``short``: only the clock for today (narrow tables at 80 columns)."""
    if not ts:
        return "-"
    if short and time.strftime("%Y-%m-%d", time.localtime(ts)) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", time.localtime(ts))
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


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
# How a run was made (state_store's runs.mode) and how it ended (SyncResult.outcome).
RUN_MODES = {"full": N_("full"), "delta": N_("delta"), "auto": N_("auto")}
RUN_OUTCOMES = {"ok": N_("ok"), "partial": N_("partial"), "held": N_("held"), "cancelled": N_("cancelled"),
                "failed": N_("failed")}
# Why the sync skipped an object (sync_plan, sync_mapping), as stored in English.
SKIP_REASONS = {"disabled in AD and never synced: not created": N_("disabled in AD and never synced: not created"),
                "skipped": N_("skipped")}
# The refusals a target stores in English with values in them (Identity's, a SCIM profile's):
# read back by their template and shown in the console's language.
REFUSAL_TEMPLATES = (N_("missing {attributes} (Identity requires first name, last name and e-mail)"), *REFUSALS)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)))


_REFUSAL_PATTERNS = [(_pattern(t), t) for t in REFUSAL_TEMPLATES]


def login_check_summary(checks: list[LoginCheckRecord], now: float, enabled: bool = True, *,
                        applies: bool = True) -> str:
    """One line: the last hour's checks, their rate, outcomes and median latency."""
    if not applies:
        return _("Login checks do not apply: this directory syncs to a SCIM provider, and only Identity asks "
                 "the agent to check passwords.")
    if not enabled:
        return _("Login checks are off for this directory (login_checks in appsettings.json).")
    recent = [c for c in checks if c.at >= now - 3600]
    if not recent:
        return _("No login check in the last hour. Identity asks when a user of this directory logs in "
                 "and its cached credentials have expired.")
    by_outcome = {o: sum(1 for c in recent if c.outcome == o) for o in OUTCOMES}
    parts = ", ".join(outcome_count(o, n) for o, n in by_outcome.items() if n)
    # The rate over the time the checks cover (from the oldest to now, at least a minute), not
    # over the whole hour: ten checks in the last 30 s are 10/min, not 0.2/min.
    minutes = max(1.0, (now - min(c.at for c in recent)) / 60)
    count = len(recent)
    return ngettext("Last hour: {count} check ({rate}/min): {parts}; median {median} ms",
                    "Last hour: {count} checks ({rate}/min): {parts}; median {median} ms", count).format(
        count=number(count), rate=number(count / minutes, 1), parts=parts,
        median=number(statistics.median(c.latency_ms for c in recent)))


def outcome_count(outcome: str, n: int) -> str:
    """"2 allowed": a count of login checks with one outcome, in the plural form the language needs."""
    if outcome == "allowed":
        text = ngettext("{n} allowed", "{n} allowed", n)
    elif outcome == "denied":
        text = ngettext("{n} denied", "{n} denied", n)
    elif outcome == "error":
        text = ngettext("{n} error", "{n} errors", n)
    elif outcome == "expired":
        text = ngettext("{n} expired", "{n} expired", n)
    else:
        return f"{number(n)} {outcome}"
    return text.format(n=number(n))


def counts_text(users: int, disabled: int, groups: int, pending: int, *, scim: bool = False) -> str:
    """The directory's counts in its target (Identity, or a SCIM provider), each in its plural form."""
    text = _("{users} ({disabled}) and {groups} in the SCIM provider; {pending}") if scim else _(
        "{users} ({disabled}) and {groups} in Identity; {pending}")
    return text.format(
        users=ngettext("{n} user", "{n} users", users).format(n=number(users)),
        disabled=ngettext("{n} disabled", "{n} disabled", disabled).format(n=number(disabled)),
        groups=ngettext("{n} group", "{n} groups", groups).format(n=number(groups)),
        pending=ngettext("{n} operation pending", "{n} operations pending", pending).format(n=number(pending)))


def skipped_reason(reason: str) -> str:
    """A skipped object's reason as the sync stored it (English), in the console's language."""
    for pattern, template in _REFUSAL_PATTERNS:
        found = pattern.fullmatch(reason)
        if found:
            return _(template).format(**found.groupdict())
    return _(SKIP_REASONS[reason]) if reason in SKIP_REASONS else reason


_Row = tuple[str, ...]
# A cell shows this much of a value; the row's own view (Enter) shows it whole.
CELL_LIMIT = 80


class DirectoryDetails(ModalScreen[None]):
    """The details of one directory; the tables are read again every few seconds, so login
    checks and runs show up while the screen is open."""
    HELP_NAME = N_("directory details")  # how the help screen names it

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", N_("Close"), id="details-close", tooltip=N_("Back to the directories")),
        Binding("1", "show_tab('runs')", N_("Runs"), id="details-runs", tooltip=N_("The recent sync runs")),
        Binding("2", "show_tab('login-checks')", N_("Login checks"), id="details-login-checks",
                tooltip=N_("The recent login checks (pass-through authentication)")),
        Binding("3", "show_tab('skipped')", N_("Skipped"), id="details-skipped",
                tooltip=N_("The objects the sync skipped, with the reason")),
    ]
    REFRESH_SECONDS = 3.0

    def __init__(self, directory: DirectorySettings, state: StateStore) -> None:
        super().__init__()
        translate_bindings(self)
        self.directory = directory
        self.state = state
        self._shown: dict[str, list[tuple[str, _Row]]] = {}

    def compose(self) -> ComposeResult:
        d = self.directory
        with Vertical(classes="dialog full"):
            yield Static(filled(_("{name}: {server}:{port} ({tls}), {base_dn}"),
                               name=d.label, server=d.server, port=d.effective_port, tls=tls_name(d.tls), base_dn=d.base_dn),
                         classes="dialog-title")
            yield Static(id="details-counts", classes="dialog-body")
            with TabbedContent(id="details-tabs"):
                with TabPane(_("Recent runs"), id="runs"):
                    runs = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
                    # The error is what a failed run's reader looks for: it comes before the figures.
                    runs.add_columns(_("Started"), _("Outcome"), _("Error"), _("Mode"), _("Seconds"), _("Changes"))
                    yield runs
                with TabPane(_("Login checks"), id="login-checks"):
                    yield Static(id="login-check-summary")
                    checks = DataTable(id="login-checks-table", cursor_type="row", zebra_stripes=True)
                    checks.add_columns(_("Time"), _("Login"), _("Result"), _("ms"), _("Reason"))
                    yield checks
                with TabPane(_("Skipped objects"), id="skipped"):
                    skipped = DataTable(id="skipped-table", cursor_type="row", zebra_stripes=True)
                    skipped.add_columns(_("Object"), _("Reason"), _("DN"))
                    yield skipped
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(self.REFRESH_SECONDS, self.reload, name="details-refresh")

    def reload(self) -> None:
        """Read the directory's counts, runs, login checks and skipped objects again and show them."""
        d = self.directory
        counts = self.state.counts(d.id)
        self.query_one("#details-counts", Static).update(literal(
            counts_text(counts["users"] + counts["disabled_users"], counts["disabled_users"], counts["groups"],
                        len(self.state.pending(d.id)), scim=d.target == SCIM_TARGET_NAME)))
        self._fill("runs-table", self._run_rows())
        checks = self.state.login_checks(d.id, limit=1000)
        self.query_one("#login-check-summary", Static).update(literal(login_check_summary(checks, time.time(), d.login_checks, applies=d.syncs_to_identity)))
        self._fill("login-checks-table", self._login_check_rows(checks[:50]))
        self._fill("skipped-table", [(guid, (object_name(dn), skipped_reason(reason), dn))
                                     for guid, dn, reason in self.state.skipped(d.id)])

    def _fill(self, table_id: str, rows: list[tuple[str, _Row]]) -> None:
        """Show ``rows`` (key, cells) in a table, the cursor kept on the row it was on (or at its place)."""
        if self._shown.get(table_id) == rows:
            return  # nothing new: the table, its cursor and its scroll stay as they are
        self._shown[table_id] = rows
        table = self.query_one(f"#{table_id}", DataTable)
        at = table.cursor_row
        key = None
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        scroll_y = table.scroll_y
        table.clear()
        for row_key, cells in rows:
            # Logins, DNs, reasons and errors come from AD, Identity or the state store: literal text.
            table.add_row(*(literal(cell, CELL_LIMIT) for cell in cells), key=row_key)
        if not rows:
            return
        keys = [row_key for row_key, _cells in rows]
        row = keys.index(key) if key in keys else min(at, len(rows) - 1)
        table.move_cursor(row=row, animate=False, scroll=False)
        # The new rows' height is known after the next refresh; the reader's place is kept then.
        self.call_after_refresh(table.scroll_to, y=scroll_y, animate=False)

    def _run_rows(self) -> list[tuple[str, _Row]]:
        labels = {
            "create": _("created"), "update": _("updated"), "disable": _("disabled"), "enable": _("re-enabled"),
            "group_create": _("groups created"), "group_update": _("groups updated"), "failed": _("not applied"),
        }
        rows = []
        for run in self.state.runs(self.directory.id, limit=20):
            # What was done: planned minus what Identity refused (runs stored before failed_<op> was kept
            # show the planned count).
            done = {k: v - run.counts.get(f"failed_{k}", 0) if k != "failed" else v for k, v in run.counts.items()}
            changes = ", ".join(f"{labels[k]} {number(v)}" for k, v in done.items() if v and k in labels)
            seconds = number(run.ended_at - run.started_at, 1) if run.ended_at else "-"
            mode = _(RUN_MODES[run.mode]) if run.mode in RUN_MODES else run.mode
            outcome = _(RUN_OUTCOMES.get(run.outcome, run.outcome)) if run.outcome else _("running")
            rows.append((str(run.id), (_when(run.started_at), outcome, in_console(run.error or ""), mode, seconds,
                                       changes or "-")))
        return rows

    def _login_check_rows(self, checks: list[LoginCheckRecord]) -> list[tuple[str, _Row]]:
        rows = []
        seen: set[str] = set()
        for check in checks:
            key = f"{check.at!r} {check.login}"
            while key in seen:  # two checks of one login at the same instant
                key += "+"
            seen.add(key)
            reason = _(REASONS[check.reason]) if check.reason in REASONS else (check.reason or "")
            rows.append((key, (_when(check.at, short=True), check.login,
                               _(OUTCOMES.get(check.outcome, check.outcome)), number(check.latency_ms), reason)))
        return rows

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: every column of it, whole (cells are cut to fit)."""
        event.stop()
        table = event.data_table
        rows = dict(self._shown.get(table.id or "", []))
        cells = rows.get(str(event.row_key.value))
        if cells is None:
            return
        headings = [column.label.plain for column in table.columns.values()]
        self.app.push_screen(RowView(self.directory.label, list(zip(headings, cells))))

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#details-tabs", TabbedContent).active = tab

    def action_close(self) -> None:
        self.dismiss(None)

"""A directory's details: recent runs, their errors, and the objects skipped with the reason."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from smartsync_tui.core.settings import DirectorySettings
from smartsync_tui.core.state_store import StateStore
from smartsync_tui.ui.i18n import N_, _, translate_bindings


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


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
            yield Static(_("Recent runs"), classes="section-title")
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
            yield runs
            yield Static(_("Skipped objects"), classes="section-title")
            skipped = DataTable(id="skipped-table", cursor_type="row", zebra_stripes=True)
            skipped.add_columns(_("Reason"), _("DN"))
            for _guid, dn, reason in self.state.skipped(d.id):
                skipped.add_row(reason, dn)
            yield skipped
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)

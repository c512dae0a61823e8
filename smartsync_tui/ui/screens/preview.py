"""The dry-run plan: every create, update (with its field diff), disable and group change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from smartsync_tui.core.sync_engine import SyncResult
from smartsync_tui.ui.i18n import N_, _, translate_bindings


def op_label(op: str) -> str:
    return {
        "create": _("create"),
        "update": _("update"),
        "disable": _("disable"),
        "enable": _("re-enable"),
        "group-create": _("group create"),
        "group-update": _("group update"),
    }.get(op, op)


def describe_changes(changes: list[tuple[str, object, object]]) -> str:
    parts = []
    for name, old, new in changes:
        if name == "members+":
            parts.append("+" + ", ".join(map(str, new)))  # type: ignore[arg-type]
        elif name == "members-":
            parts.append("-" + ", ".join(map(str, old)))  # type: ignore[arg-type]
        else:
            parts.append(f"{name}: {old} → {new}")
    return "; ".join(parts)


class PreviewScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", N_("Close"))]

    def __init__(self, result: SyncResult) -> None:
        super().__init__()
        translate_bindings(self)
        self.result = result

    def compose(self) -> ComposeResult:
        plan = self.result.plan
        assert plan is not None
        counts = plan.counts()
        with Vertical(classes="dialog full"):
            yield Static(
                _("Preview of {id}: {mode} sync ({reason})").format(
                    id=self.result.directory_id, mode=plan.mode, reason=plan.mode_reason
                ),
                classes="dialog-title",
            )
            yield Static(
                _("{create} to create, {update} to update, {disable} to disable, {enable} to re-enable, "
                  "{groups} group changes, {skipped} skipped, {held} held back. Nothing has been changed.").format(
                    create=counts["create"], update=counts["update"], disable=counts["disable"],
                    enable=counts["enable"], groups=counts["group_create"] + counts["group_update"],
                    skipped=counts["skipped"], held=counts["held"],
                ),
                classes="dialog-body",
            )
            table = DataTable(id="plan-table", cursor_type="row", zebra_stripes=True)
            table.add_columns(_("Change"), _("Name"), _("Details"), _("DN"))
            for op in plan.ops:
                name = str(op.payload.get("login") or op.payload.get("name") or op.guid)
                table.add_row(op_label(op.op), name, describe_changes(op.changes), op.dn)
            for op in plan.held:
                table.add_row(_("held disable"), str(op.payload.get("login", op.guid)), op.why, op.dn)
            if not plan.ops and not plan.held:
                table.add_row("-", _("Nothing to change"), "", "")
            yield table
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)

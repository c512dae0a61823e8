"""A run held back by the deletion threshold: what would be disabled, allow or keep holding.

A console that runs the sync builds it from the run's result; a console
attached to another engine builds it from the disables that engine holds in
the state store (:func:`held_result`).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static

from smartsync_tui.store.state_store import PendingOp
from smartsync_tui.engine.client import PlannedOp, SyncPlan, SyncResult
from smartsync_tui.ui.i18n import N_, _, ngettext, translate_bindings
from smartsync_tui.ui.literal import literal, filled
from smartsync_tui.ui.screens.row_view import RowView

# A cell shows this much of a login, reason or DN; Enter shows the row whole.
CELL_LIMIT = 80


class ThresholdDialog(ModalScreen[bool]):
    """Dismisses True to allow the held disables, False to keep holding them."""
    HELP_NAME = N_("held disables")  # how the help screen names it

    BINDINGS = [Binding("escape", "keep", N_("Keep holding"), id="threshold-keep",
                        tooltip=N_("The disables stay held; they are listed again at the next run"))]

    def __init__(self, result: SyncResult) -> None:
        super().__init__()
        translate_bindings(self)
        self.result = result

    def compose(self) -> ComposeResult:
        plan = self.result.plan
        held = plan.held if plan else []
        with Vertical(classes="dialog wide"):
            yield Static(
                filled(ngettext("{n} user would be disabled in {id}", "{n} users would be disabled in {id}", len(held)),
                       n=len(held), id=self.result.directory_id),
                classes="dialog-title",
            )
            yield Static(literal(plan.threshold_note if plan else "", multiline=True), classes="dialog-body")
            table = DataTable(id="held-table", cursor_type="row", zebra_stripes=True)
            table.add_columns(_("Login"), _("Why"), _("DN"))
            for index, op in enumerate(held):
                table.add_row(*(literal(cell, CELL_LIMIT) for cell in (op.name, op.why, op.dn)), key=str(index))
            yield table
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Allow the disables"), id="allow", variant="error")
                yield Button(_("Keep holding"), id="keep", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    @on(DataTable.RowSelected, "#held-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        plan = self.result.plan
        if plan is None or event.row_key.value is None:
            return
        op = plan.held[int(event.row_key.value)]
        headings = [column.label.plain for column in event.data_table.columns.values()]
        self.app.push_screen(RowView(self.result.directory_id, list(zip(headings, (op.name, op.why, op.dn)))))

    @on(Button.Pressed, "#allow")
    def _allow(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#keep")
    def action_keep(self) -> None:
        self.dismiss(False)


def held_result(directory_id: str, held: list[PendingOp], engine_pid: int | None) -> SyncResult:
    """The disables another engine holds, as the result the dialog shows (the store keeps no reasons)."""
    plan = SyncPlan(directory_id, mode="", mode_reason="",
                    held=[PlannedOp(op.guid, op.kind, op.op, op.dn, op.payload) for op in held])
    plan.threshold_note = _(
        "The engine (pid {pid}) held these disables back: more than the deletion threshold. "
        "Allowing them asks the engine for a sync that applies them."
    ).format(pid=engine_pid)
    return SyncResult(directory_id, outcome="held", plan=plan)

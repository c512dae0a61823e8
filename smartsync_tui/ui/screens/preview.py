"""The dry-run plan: every create, update (with its field diff), disable and group change."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from smartsync_tui.engine.client import PlannedOp, SyncResult, describe_change
from smartsync_tui.ui.i18n import N_, _, number, translate_bindings
from smartsync_tui.ui.literal import literal, filled
from smartsync_tui.ui.screens.row_view import RowView
from smartsync_tui.ui.widgets.footer import ConsoleFooter

# A cell shows this much of a value (a 3 MB attribute would freeze the table); Enter shows the row whole.
CELL_LIMIT = 120


def op_label(op: str) -> str:
    return {
        "create": _("create"),
        "update": _("update"),
        "disable": _("disable"),
        "enable": _("re-enable"),
        "group-create": _("group create"),
        "group-update": _("group update"),
    }.get(op, op)


# What a new user is created with, shown beside a create (an update shows its field diffs instead).
CREATE_FIELDS = ("first_name", "last_name", "email")


def op_details(op: PlannedOp) -> str:
    """The Details cell: an update's field diffs, a new user's names and e-mail."""
    if op.changes:
        return "; ".join(map(describe_change, op.changes))
    if op.op == "create":
        return "; ".join(f"{field}: {op.payload[field]}" for field in CREATE_FIELDS if op.payload.get(field))
    return ""


class PreviewScreen(ModalScreen[None]):
    HELP_NAME = N_("preview")  # how the help screen names it
    BINDINGS = [Binding("escape,q", "close", N_("Close"), id="preview-close",
                        tooltip=N_("Back to the directories: nothing was changed"))]

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
                filled(_("Preview of {id}: {mode} sync ({reason})"),
                      id=self.result.directory_id, mode=plan.mode_label, reason=plan.mode_reason),
                classes="dialog-title",
            )
            yield Static(
                literal(_("To create: {create}, to update: {update}, to disable: {disable}, to re-enable: {enable}, "
                  "group changes: {groups}, skipped: {skipped}, held back: {held}. Nothing has been changed.").format(
                    create=number(counts["create"]), update=number(counts["update"]),
                    disable=number(counts["disable"]), enable=number(counts["enable"]),
                    groups=number(counts["group_create"] + counts["group_update"]),
                    skipped=number(counts["skipped"]), held=number(counts["held"]),
                )),
                classes="dialog-body",
            )
            table = DataTable(id="plan-table", cursor_type="row", zebra_stripes=True)
            table.add_columns(_("Change"), _("Name"), _("Details"), _("DN"))
            # Names, values and DNs come from AD: literal text, cut to fit; the whole row is kept for Enter.
            self._rows: list[tuple[str, ...]] = [
                (op_label(op.op), op.name, op_details(op), op.dn) for op in plan.ops
            ] + [(_("held disable"), op.name, op.why, op.dn) for op in plan.held]
            for index, row in enumerate(self._rows):
                table.add_row(*(literal(cell, CELL_LIMIT) for cell in row), key=str(index))
            if not plan.ops and not plan.held:
                table.add_row("-", literal(_("Nothing to change")), "", "")
            yield table
        yield ConsoleFooter()

    @on(DataTable.RowSelected, "#plan-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is None:
            return
        row = self._rows[int(event.row_key.value)]
        headings = [column.label.plain for column in event.data_table.columns.values()]
        self.app.push_screen(RowView(self.result.directory_id, list(zip(headings, row))))

    def action_close(self) -> None:
        self.dismiss(None)

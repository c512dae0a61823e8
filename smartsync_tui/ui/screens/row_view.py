"""One table row read whole: every column's heading and its full value, wrapped.

Tables cut long cells (a DN, an error, a 500-character name) so that what
matters fits 80 columns; Enter on a row opens this view, so nothing has to be
read by scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from smartsync_tui.ui.i18n import N_, translate_bindings
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.footer import ConsoleFooter

#: Characters of one value shown here at most (a 3 MB attribute must not freeze the screen).
FULL_LIMIT = 20_000


class RowView(ModalScreen[None]):
    HELP_NAME = N_("one row")  # how the help screen names it
    BINDINGS = [Binding("escape,q,enter", "close", N_("Close"), id="row-close")]

    def __init__(self, title: str, fields: Sequence[tuple[str, object]]) -> None:
        super().__init__()
        translate_bindings(self)
        self._title = title
        self._fields = list(fields)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="row-view"):
            yield Static(literal(self._title), classes="dialog-title")
            with VerticalScroll(id="row-view-fields"):
                for heading, value in self._fields:
                    yield Static(literal(heading), classes="row-view-heading")
                    yield Static(literal(value, FULL_LIMIT, multiline=True), classes="row-view-value")
        yield ConsoleFooter()

    def action_close(self) -> None:
        self.dismiss(None)

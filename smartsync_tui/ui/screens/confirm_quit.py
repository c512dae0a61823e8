"""Quit now? Asked when quitting would stop a sync of this console or lose what was typed in a form."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.footer import ConsoleFooter


class ConfirmQuitDialog(ModalScreen[bool]):
    """Dismisses True to quit. ``reasons``: one line each, what quitting now would stop or lose."""
    HELP_NAME = N_("quit")  # how the help screen names it

    BINDINGS = [
        Binding("escape", "stay", N_("Stay"), id="quit-stay", tooltip=N_("Back to the console")),
        # The key that asked answers: q twice quits, as a reflex should.
        Binding("q", "quit", N_("Quit"), id="quit-confirm", tooltip=N_("Quit now")),
    ]

    def __init__(self, reasons: list[str]) -> None:
        super().__init__()
        translate_bindings(self)
        self.reasons = reasons

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Static(_("Quit now?"), id="quit-title")
            # A reason may name a directory (from the settings file): literal text.
            yield Static(literal("\n".join(f"• {reason}" for reason in self.reasons), multiline=True), id="quit-reasons")
            with Horizontal(id="quit-buttons"):
                yield Button(_("Stay"), id="stay", variant="primary")
                yield Button(_("Quit"), id="quit", variant="error")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    @on(Button.Pressed, "#quit")
    def action_quit(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        self.dismiss(False)

"""Deleting a directory: a dialog with a checkbox that must be ticked, as in the original."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static

from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.literal import filled
from smartsync_tui.ui.widgets.footer import ConsoleFooter


class TickBox(Checkbox):
    """A checkbox whose tick is seen without colour: ✓ when ticked, blank when not
    (Textual's draws the same X both ways and tells them apart by colour only)."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # read by ToggleButton._button at each render
        return "✓" if self.value else " "


class ConfirmDeleteDialog(ModalScreen[bool]):
    HELP_NAME = N_("delete a directory")  # how the help screen names it
    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel"), tooltip=N_("Keep the directory")),
        # The box has focus first and Space ticks it there; "t" ticks it from the buttons too.
        Binding("t", "tick", N_("Tick the box"), tooltip=N_("Tick or untick 'I understand'")),
    ]

    def __init__(self, directory: DirectorySettings) -> None:
        super().__init__()
        translate_bindings(self)
        self.directory = directory

    def compose(self) -> ComposeResult:
        d = self.directory
        with Vertical(classes="dialog"):
            yield Static(filled(_("Delete directory {name}?"), name=d.label), classes="dialog-title")
            yield Static(
                filled(_("{server} · {base_dn}\nSync of this directory stops for good: its users stay in Identity "
                        "as they are, its password and token are deleted here."), server=d.server, base_dn=d.base_dn),
                classes="dialog-body",
            )
            yield TickBox(_("I understand that sync stops for good"), id="understood")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Delete"), id="delete", variant="error", disabled=True)
                yield Button(_("Cancel"), id="cancel")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one("#understood", Checkbox).focus()

    def action_tick(self) -> None:
        box = self.query_one("#understood", Checkbox)
        box.toggle()
        box.focus()

    @on(Checkbox.Changed, "#understood")
    def _ticked(self, event: Checkbox.Changed) -> None:
        self.query_one("#delete", Button).disabled = not event.value

    @on(Button.Pressed, "#delete")
    def _delete(self) -> None:
        if self.query_one("#understood", Checkbox).value:
            self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

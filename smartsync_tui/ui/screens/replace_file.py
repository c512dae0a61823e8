"""Asks before a log export replaces an existing file."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.literal import filled


class ReplaceFileScreen(ModalScreen[bool]):
    """Asks before an export replaces an existing file."""
    HELP_NAME = N_("replace the file")  # how the help screen names it

    BINDINGS = [Binding("escape", "keep", N_("Cancel"), id="dialog-cancel", tooltip=N_("Keep the existing file"))]

    def __init__(self, path: Path) -> None:
        super().__init__()
        translate_bindings(self)  # BINDINGS are built at import, before the language is set
        self._path = path

    def compose(self) -> ComposeResult:
        with Vertical(classes="home-dialog") as dialog:
            dialog.border_title = _("Replace the file?")
            yield Static(filled(_("{path} already exists. Replace it with the export?"), path=self._path))
            with Horizontal(classes="home-buttons"):
                yield Button(_("Keep it"), id="replace-no", compact=True)
                yield Button(_("Replace"), id="replace-yes", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.query_one("#replace-no", Button).focus()

    @on(Button.Pressed, "#replace-yes")
    def _replace(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#replace-no")
    def action_keep(self) -> None:
        self.dismiss(False)

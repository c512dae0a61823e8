"""The Home tab's Identity dialog: the wizard's Identity fields with *Test*, as a modal."""

from __future__ import annotations


from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from smartsync_tui.config.settings import IdentitySettings
from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.widgets.identity_fields import IdentityFields
from smartsync_tui.ui.console_context import console


class IdentityEditScreen(ModalScreen[IdentitySettings | None]):
    """The wizard's Identity fields (Production / Test / another host) with *Test*, as a dialog;
    returns the new IdentitySettings, or None when cancelled. *Test* goes through the saved proxy."""
    HELP_NAME = N_("Identity connection")  # how the help screen names it

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="dialog-cancel", tooltip=N_("Close without saving"))]


    def __init__(self, current: IdentitySettings) -> None:
        super().__init__()
        translate_bindings(self)  # BINDINGS are built at import, before the language is set
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="home-dialog") as dialog:
            dialog.border_title = _("Identity environment")
            yield IdentityFields(self._current)
            with Horizontal(classes="home-buttons"):
                yield Button(_("Save"), id="identity-save", variant="primary", compact=True)
                yield Button(_("Cancel"), id="identity-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#identity-environment").focus()

    @on(Button.Pressed, "#identity-test")
    def _test(self) -> None:
        fields = self.query_one(IdentityFields)
        if fields.check():
            settings = console(self.app).settings.model_copy(update={"identity": fields.identity(self._current.ca_file)})
            fields.test_line.start(settings, console(self.app).secrets)

    @on(Button.Pressed, "#identity-save")
    @on(Input.Submitted, "#identity-host")
    def _save(self) -> None:
        fields = self.query_one(IdentityFields)
        if fields.check():
            self.dismiss(fields.identity(self._current.ca_file))

    @on(Button.Pressed, "#identity-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

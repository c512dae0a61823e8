"""Add or edit a directory: the wizard's Active Directory step as a dialog.

Save checks the directory for real (AD bind, and the token with Identity or the SCIM endpoint) in
a thread worker, then saves settings and secrets together. Dismisses with the
directory's id, or None when cancelled.
"""

from __future__ import annotations


from pydantic import SecretStr
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from smartsync_tui.checks.directory_setup import unique_directory_id
from smartsync_tui.core.errors import UserError
from smartsync_tui.config.secret_store import directory_password_key, directory_token_key
from smartsync_tui.config.settings import SCIM_TARGET_NAME, AppSettings, DirectorySettings
from smartsync_tui.ui.advice import in_console
from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.literal import literal, filled
from smartsync_tui.ui.screens.wizard import DiscardDialog
from smartsync_tui.ui.widgets.directory_fields import (
    CheckOutcome,
    DirectoryFields,
    SaveGuard,
    check_and_save,
    next_input,
    space_rows,
    sentence,
)
from smartsync_tui.ui.console_context import console
from smartsync_tui.ui.widgets.footer import ConsoleFooter


class DirectoryFormDialog(ModalScreen[str | None]):
    """``DirectoryFormDialog()`` adds a directory; ``DirectoryFormDialog(existing)`` edits it."""
    HELP_NAME = N_("directory dialog")  # how the help screen names it

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel"), id="directory-form-cancel", tooltip=N_("Close without saving")),
        Binding("ctrl+s", "add", N_("Add"), id="directory-form-add",
                tooltip=N_("Check the directory for real and add it")),
        Binding("ctrl+s", "save", N_("Save"), id="directory-form-save",
                tooltip=N_("Check the directory for real and save")),
    ]


    def __init__(self, existing: DirectorySettings | None = None) -> None:
        super().__init__()
        translate_bindings(self)
        self.existing = existing
        self._busy = False
        self._guard = SaveGuard()
        self._typed_at_start: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        d = self.existing
        with Vertical(id="directory-dialog"):
            yield Static(
                filled(_("Edit directory {name}"), name=d.label) if d else _("Add a directory"),
                id="directory-dialog-title",
            )
            with VerticalScroll(id="directory-dialog-form"):
                yield Static(
                    _("Change what is needed; Save checks the bind and the token before anything is saved.") if d
                    else _("An AD domain and where it syncs: Identity (the token is copied from the directory "
                           "in Identity) or a SCIM 2.0 provider (its bearer token)."),
                    classes="directory-dialog-intro",
                )
                yield DirectoryFields(d, id="directory-fields")
            with Horizontal(id="directory-dialog-status"):
                yield LoadingIndicator(id="directory-dialog-busy")
                yield Static("", id="directory-dialog-message", markup=False)
            with Horizontal(id="directory-dialog-buttons"):
                yield Button(_("Save") if d else _("Add"), id="save", variant="primary")
                yield Button(_("Cancel"), id="cancel")
        yield ConsoleFooter()

    def on_resize(self, event: events.Resize) -> None:
        space_rows(self, event.size.height)

    def on_mount(self) -> None:
        space_rows(self, self.app.size.height)
        self.query_one("#directory-dialog-busy").display = False
        self._typed_at_start = self.query_one(DirectoryFields).snapshot()
        self.query_one("#server", Input).focus()

    # -- save

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # One key, named after the button: Add for a new directory, Save for an edit.
        if action == "add":
            return self.existing is None
        if action == "save":
            return self.existing is not None
        return True

    def action_add(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Input.Submitted)
    def _enter_in_field(self, event: Input.Submitted) -> None:
        """Enter goes to the next field; in the last one, saves."""
        event.stop()
        following = next_input(self.query_one(DirectoryFields), event.input)
        if following is None:
            self.action_save()
        else:
            following.focus()

    def action_save(self) -> None:
        if self._busy:
            return
        fields = self.query_one(DirectoryFields)
        message = self.query_one("#directory-dialog-message", Static)
        fields.clear_check()
        bad = fields.check_fields()
        if bad:
            message.update(_("Fix the fields marked in red, then save again."))
            fields.focus_field(bad[0])
            return
        settings = console(self.app).settings
        directory_id = self.existing.id if self.existing else unique_directory_id(settings, fields.base_dn)
        same = settings.directory_reading(fields.server, fields.base_dn)
        if same is not None and same.id != directory_id:
            fields.row("base-dn").show_error(
                _("Directory '{id}' already reads {base_dn} from {server}: edit that one instead of adding it "
                  "twice.").format(id=same.id, base_dn=same.base_dn, server=same.server)
            )
            fields.focus_field("base-dn")
            message.update(_("Nothing was saved."))
            return
        try:
            directory = fields.directory(directory_id)
        except ValueError as exc:
            message.update(literal(sentence(str(exc)), multiline=True))
            return
        typed_password, typed_token = fields.typed_password(), fields.typed_token()
        scim = directory.target == SCIM_TARGET_NAME
        reason = fields.password_needed(directory)
        if typed_password is None and reason:  # the stored password never follows a changed destination
            fields.row("password").show_error(reason)
            fields.focus_field("password")
            message.update(_("Nothing was saved."))
            return
        try:
            password = typed_password or console(self.app).secrets.get(directory_password_key(directory_id))
            token = typed_token or console(self.app).secrets.get(directory_token_key(directory_id))
        except UserError as exc:  # the secret store cannot be read: it says why and what to do
            message.update(literal(in_console(str(exc)), multiline=True))
            return
        missing = [
            (field_id, text)
            for field_id, value, text in (
                ("password", password, _("The stored password is missing: type it.")),
                ("token", token, _("The stored token is missing: paste the bearer token the SCIM provider issued.")
                 if scim else _("The stored token is missing: paste the directory's token from Identity.")),
            )
            if value is None
        ]
        for field_id, text in missing:
            fields.row(field_id).show_error(text)
        if missing:
            fields.focus_field(missing[0][0])
            return
        assert password is not None and token is not None

        def change(editable: AppSettings, saved: DirectorySettings) -> None:
            editable.put_directory(saved)

        self._set_busy(True, _("Checking the bind to AD and the SCIM provider…") if scim
                       else _("Checking the bind to AD and the token with Identity…"))
        self._check_and_save(settings, directory, password, token, typed_password is not None,
                             typed_token is not None, change)

    @work(thread=True, exclusive=True, exit_on_error=False, group="directory-form-save", name="save")
    def _check_and_save(self, settings: AppSettings, directory: DirectorySettings, password: SecretStr,
                        token: SecretStr, new_password: bool, new_token: bool, change) -> CheckOutcome:  # type: ignore[no-untyped-def]
        return check_and_save(
            self.app, settings, console(self.app).secrets, directory,
            password=password, token=token, new_password=new_password, new_token=new_token,
            change=change, on_saving=self._guard.start_saving,
        )

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.query_one("#directory-dialog-busy").display = busy
        self.query_one("#directory-dialog-message", Static).update(literal(text, multiline=True))
        self.query_one(DirectoryFields).disabled = busy
        self.query_one("#save", Button).disabled = busy

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "save":
            return
        if event.state == WorkerState.ERROR:
            self._set_busy(False, _("The check failed unexpectedly (see the application log). Nothing was saved."))
        elif event.state == WorkerState.SUCCESS:
            self._finished(event.worker.result)

    def _finished(self, outcome: CheckOutcome) -> None:
        if outcome.cancelled:
            return
        if outcome.saved is not None:
            self.dismiss(outcome.saved.id)
            return
        fields = self.query_one(DirectoryFields)
        if outcome.error is not None:
            self._set_busy(False, _("Not saved: {reason}").format(reason=outcome.error))
            self.query_one("#save", Button).focus()
            return
        assert outcome.check is not None
        self._set_busy(False, _("Nothing was saved. Fix what is marked in red and save again."))
        field_id = fields.show_check(outcome.check)
        if field_id:
            fields.focus_field(field_id, after_refresh=True)
        else:
            self.query_one("#check-report").scroll_visible(animate=False)
            self.query_one("#save", Button).focus()

    # -- leaving

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def has_unsaved_changes(self) -> bool:
        """Whether the fields differ from what the dialog opened with (quitting or cancelling would lose them)."""
        fields = self.query(DirectoryFields)
        return bool(fields) and fields.first().snapshot() != self._typed_at_start

    def action_cancel(self) -> None:
        if not self.has_unsaved_changes() and not self._busy:
            self._leave(True)
            return
        self.app.push_screen(DiscardDialog(_("Close without saving? What you typed here is lost.")), self._leave)

    def _leave(self, confirmed: bool | None) -> None:
        if not confirmed:
            return
        if not self._guard.start_leaving():
            self.notify(_("Saving already: the dialog closes in a moment."))
            return
        self.dismiss(None)

"""The setup wizard: where the users go (Identity or a SCIM provider), proxy, then the first Active Directory.

One Screen with a ContentSwitcher of three steps; Back and Next keep what
was typed. Finish checks the directory for real (AD bind, and the token with
Identity or the SCIM endpoint) in a thread worker and saves only when both
pass, settings and secrets together. Dismisses True once saved, False when
the admin leaves.

Why one module (~550 lines): the wizard's steps share its pending values and its
focus rules; the fields themselves are ui/widgets/identity_fields.py and directory_fields.py.
"""

from __future__ import annotations


from pydantic import SecretStr
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import (
    Button,
    ContentSwitcher,
    Header,
    Input,
    LoadingIndicator,
    RadioButton,
    RadioSet,
    Select,
    Static,
)
from textual.worker import Worker, WorkerState

from smartsync_tui.config import validation
from smartsync_tui.checks.directory_setup import KEEP, unique_directory_id
from smartsync_tui.core.errors import UserError
from smartsync_tui.logs.event_log import audit
from smartsync_tui.targets.identity.environment import forget_credentials
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY
from smartsync_tui.config.settings import (
    SCIM_TARGET_NAME,
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    ProxySettings,
    proxy_password_moves,
)
from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.identity_fields import IdentityFields, TestLine
from smartsync_tui.ui.widgets.text_input import TextInput
from smartsync_tui.ui.widgets.directory_fields import (
    CheckOutcome,
    DirectoryFields,
    FieldCheck,
    TARGET_CHOICES,
    FieldRow,
    SaveGuard,
    check_and_save,
    check_port_text,
    next_input,
    space_rows,
    sentence,
    shown,
    validate_input,
)
from smartsync_tui.ui.console_context import console
from smartsync_tui.ui.widgets.footer import ConsoleFooter

STEPS = ("step-identity", "step-proxy", "step-directory")
# What step 3 says above the fields, by the target chosen in step 1.
DIRECTORY_INTROS = {
    "identity": N_("The Active Directory to sync, as registered in Identity; the token is copied from that "
                   "directory in Identity."),
    SCIM_TARGET_NAME: N_("The Active Directory to sync, and the SCIM provider's base URL, profile and bearer token "
                         "(the target is chosen in step 1)."),
}


class DiscardDialog(ModalScreen[bool]):
    """Asks before what was typed is thrown away; True: discard."""
    HELP_NAME = N_("discard changes")  # how the help screen names it

    BINDINGS = [Binding("escape", "keep", N_("Keep editing"), id="discard-keep")]

    def __init__(self, question: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="discard-dialog"):
            yield Static(literal(self.question), id="discard-question")
            with Horizontal(id="discard-buttons"):
                yield Button(_("Keep editing"), id="discard-keep", variant="primary")
                yield Button(_("Discard"), id="discard-yes", variant="error")

    @on(Button.Pressed, "#discard-yes")
    def _discard(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#discard-keep")
    def action_keep(self) -> None:
        self.dismiss(False)


class SetupWizard(Screen[bool]):
    """First run (or from the palette): Identity, proxy and one directory, checked, then saved."""
    HELP_NAME = N_("setup wizard")  # how the help screen names it

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel"), id="wizard-cancel", tooltip=N_("Leave the setup (asks first)")),
        Binding("ctrl+n", "next", N_("Next"), id="wizard-next", tooltip=N_("Check this step and go to the next one")),
        Binding("ctrl+n", "finish", N_("Finish"), id="wizard-finish",
                tooltip=N_("Check the directory for real and save")),
        Binding("ctrl+t", "test", N_("Test"), id="wizard-test", tooltip=N_("Test the connection to Identity")),
        # Alt+Left is a browser's Back; Alt+B is what terminals that send Option as Meta give for it.
        # (Not Ctrl+B: tmux, which admins run over SSH, takes it as its prefix.)
        Binding("alt+left,alt+b", "back", N_("Back"), id="wizard-back",
                tooltip=N_("The previous step; what was typed is kept")),
    ]


    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)
        self._step = 0
        self._busy = False
        # Between the worker (which starts saving) and Esc (which leaves).
        self._guard = SaveGuard()
        #: The directory saved by Finish (None until then): the one to sync first.
        self.directory_id: str | None = None

    @property
    def is_modal(self) -> bool:
        # The console's own keys (tabs, sync now, quit) do not apply while setting up.
        return True

    # -- layout

    def has_unsaved_changes(self) -> bool:
        """Always: nothing is saved until Finish (its Esc asks too)."""
        return True

    def compose(self) -> ComposeResult:
        settings = console(self.app).settings
        identity, proxy = settings.identity, settings.proxy
        yield Header()
        yield Static(id="wizard-steps")
        with VerticalScroll(id="wizard-form"):
            with ContentSwitcher(initial=STEPS[0], id="wizard-switcher"):
                with Vertical(id="step-identity", classes="wizard-step"):
                    # The first question is where this directory's users go: Identity's settings are asked
                    # only for Identity; a SCIM provider's URL and token belong to the directory (step 3).
                    yield FieldRow(_("Users go to"), Select(
                        [(label if name == "identity" else _(label), name) for name, label in TARGET_CHOICES],
                        value="identity", allow_blank=False, id="wizard-target", compact=True))
                    with Vertical(id="wizard-identity"):
                        yield Static(
                            _("Where is TOTVS Identity? Production suits most companies; the test environment "
                              "is your company's host under customerfi.com."),
                            classes="wizard-intro",
                        )
                        yield IdentityFields(identity, id="identity-fields")
                    yield Static(_("The SCIM provider's URL and token are given with the directory, in step 3."),
                                 id="wizard-scim-note", classes="wizard-intro")
                with Vertical(id="step-proxy", classes="wizard-step"):
                    yield Static(_("How this computer reaches Identity."), id="proxy-intro", classes="wizard-intro")
                    yield FieldRow(_("Proxy"), RadioSet(
                        RadioButton(_("System default (HTTPS_PROXY, NO_PROXY)"), id="proxy-system",
                                    value=proxy.mode == "system"),
                        RadioButton(_("Manual: this proxy host and port"), id="proxy-manual",
                                    value=proxy.mode == "manual"),
                        RadioButton(_("None: connect directly"), id="proxy-none", value=proxy.mode == "none"),
                        id="proxy-mode",
                    ))
                    with Vertical(id="proxy-manual-fields"):
                        yield FieldRow(_("Proxy host"), TextInput(
                            proxy.host or "", id="proxy-host", placeholder=_("name or IPv4, no http://"),
                            validators=[FieldCheck(validation.check_proxy_host)], validate_on=["changed", "submitted"],
                            compact=True,
                        ))
                        yield FieldRow(_("Proxy port"), TextInput(
                            str(proxy.port) if proxy.port else "", id="proxy-port", type="integer",
                            placeholder=_("e.g. 3128"),
                            validators=[FieldCheck(check_port_text)], validate_on=["changed", "submitted"],
                            compact=True,
                        ))
                        yield FieldRow(_("Proxy user"), TextInput(
                            proxy.user or "", id="proxy-user", placeholder=_("optional"), compact=True,
                        ))
                        yield FieldRow(_("Proxy password"), TextInput(
                            id="proxy-password", password=True,
                            placeholder=_("leave empty to keep the stored one")
                            if self._proxy_password_stored() else _("optional"),
                            compact=True,
                        ))
                    yield TestLine("proxy", tooltip=_("Reach Identity through this proxy"))
                with Vertical(id="step-directory", classes="wizard-step"):
                    yield Static(_(DIRECTORY_INTROS["identity"]), id="directory-intro", classes="wizard-intro")
                    yield DirectoryFields(id="directory-fields")
        with Horizontal(id="wizard-status-bar"):
            yield LoadingIndicator(id="wizard-busy")
            yield Static("", id="wizard-status", markup=False)
        with Horizontal(id="wizard-buttons"):
            yield Button(_("Back"), id="back")
            yield Button(_("Next"), id="next", variant="primary")
            yield Button(_("Cancel"), id="cancel")
        yield ConsoleFooter()

    def _proxy_password_stored(self) -> bool:
        try:
            return console(self.app).secrets.get(PROXY_PASSWORD_KEY) is not None
        except UserError:
            return False  # a damaged store says so when Finish saves

    def on_resize(self, event: events.Resize) -> None:
        space_rows(self, event.size.height)

    def on_mount(self) -> None:
        space_rows(self, self.app.size.height)
        self.query_one("#wizard-busy").display = False
        self._proxy_mode_changed()
        # Step 3's Target shows step 1's choice and cannot be changed there (Back to change it): Tab passes
        # it by, and Finish never meets an Identity whose step 1 was skipped, so never checks (or sends the
        # token to) settings step 1 would have refused, such as plain HTTP to another host.
        self.query_one("#directory-fields #target", Select).disabled = True
        self._follow_target("identity")
        self._show_step(0)

    # -- steps

    def _show_step(self, index: int) -> None:
        self._step = index
        self.query_one(ContentSwitcher).current = STEPS[index]
        names = [_("Identity or SCIM"), _("Proxy"), _("Active Directory")]
        # Styled spans, not markup: a translation with a bracket in it must not break the line.
        steps = Text(_("Setup")).append("  ")
        for n, name in enumerate(names, 1):
            if n > 1:
                steps.append(" › ")
            steps.append(f" {n}. {name} ", style="bold reverse" if n - 1 == index else "")
        self.query_one("#wizard-steps", Static).update(steps)
        self.query_one("#back", Button).disabled = index == 0 or self._busy
        self.query_one("#next", Button).label = _("Finish") if index == len(STEPS) - 1 else _("Next")
        self.query_one("#wizard-form", VerticalScroll).scroll_home(animate=False)
        self._focus_first(self.query_one(f"#{STEPS[index]}"))
        self.refresh_bindings()

    def _focus_first(self, container: Widget) -> None:
        for widget in container.query("*"):
            if widget.can_focus and shown(widget, container):
                widget.focus()
                return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self._busy and action in ("next", "finish", "test"):
            return None  # shown, greyed out, while the check runs
        if action == "next":
            return self._step < len(STEPS) - 1
        if action == "finish":
            return self._step == len(STEPS) - 1
        if action == "test":
            return self._step < len(STEPS) - 1 and not self._scim()
        if action == "back":
            return None if self._busy else self._step > 0
        return True

    def action_next(self) -> None:
        if self._busy:
            return
        if self._step == 0 and self._check_identity_step():
            self._show_step(1)
        elif self._step == 1 and self._check_proxy_step():
            self._show_step(2)
        elif self._step == 2:
            self._finish()

    def action_finish(self) -> None:
        self.action_next()

    def action_back(self) -> None:
        if not self._busy and self._step > 0:
            self._show_step(self._step - 1)

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _enter_in_field(self, event: Input.Submitted) -> None:
        """Enter goes to the next field; in the step's last field, to the next step (or Finish)."""
        event.stop()
        following = next_input(self.query_one(f"#{STEPS[self._step]}"), event.input)
        if following is None:
            self.action_next()
        else:
            following.focus()

    # -- step 1: Identity or SCIM

    def _scim(self) -> bool:
        return self.query_one("#wizard-target", Select).value == SCIM_TARGET_NAME

    @on(Select.Changed, "#wizard-target")
    def _target_chosen(self, event: Select.Changed) -> None:
        self._follow_target(str(event.value))

    def _follow_target(self, target: str) -> None:
        scim = target == SCIM_TARGET_NAME
        # Setting it posts its Changed: DirectoryFields then shows the SCIM fields and the token's rule.
        self.query_one("#directory-fields #target", Select).value = target
        self.query_one("#wizard-identity").display = not scim
        self.query_one("#wizard-scim-note").display = scim
        # Its test reaches Identity; for SCIM, Finish checks the provider through the proxy typed here.
        self.query_one("#proxy-test-line").display = not scim
        self.query_one("#proxy-intro", Static).update(
            _("How this computer reaches the SCIM provider.") if scim else _("How this computer reaches Identity."))
        self.query_one("#directory-intro", Static).update(_(DIRECTORY_INTROS[target]))
        self.refresh_bindings()

    def _check_identity_step(self) -> bool:
        return True if self._scim() else self.query_one(IdentityFields).check()

    def _identity(self) -> IdentitySettings:
        current = console(self.app).settings.identity
        return current if self._scim() else self.query_one(IdentityFields).identity(current.ca_file)

    # -- step 2: proxy

    @on(RadioSet.Changed, "#proxy-mode")
    def _proxy_mode_changed(self) -> None:
        manual = self._proxy_mode() == "manual"
        self.query_one("#proxy-manual-fields").display = manual

    @on(Input.Changed, "#step-proxy Input")
    @on(RadioSet.Changed, "#proxy-mode")
    def _proxy_changed(self) -> None:
        # Both tests go through the proxy typed here: neither result holds once it changes.
        self.query_one(IdentityFields).test_line.stale()
        self.query_one("#proxy-test-line", TestLine).stale()

    @on(Input.Changed, "#step-identity Input")
    @on(Select.Changed, "#step-identity Select")
    def _identity_changed(self) -> None:
        self.query_one("#proxy-test-line", TestLine).stale()  # IdentityFields clears its own

    def _proxy_mode(self) -> str:
        pressed = self.query_one("#proxy-mode", RadioSet).pressed_button
        return {"proxy-manual": "manual", "proxy-none": "none"}.get(pressed.id if pressed else "", "system")

    def _check_proxy_step(self) -> bool:
        if self._proxy_mode() != "manual":
            return True
        bad = [
            field_id
            for field_id, required in (
                ("proxy-host", _("give the proxy's host name or IPv4 address")),
                ("proxy-port", _("give the proxy's port")),
            )
            if validate_input(self.query_one(f"#row-{field_id}", FieldRow), required=required)
        ]
        if not bad and self._proxy_password_stored() and not self.query_one("#proxy-password", Input).value:
            proxy = self._proxy()
            if proxy.user and proxy_password_moves(console(self.app).settings.proxy, proxy):
                row = self.query_one("#row-proxy-password", FieldRow)
                row.show_error(_("Type the password of {user} again: the proxy's host, port or user changed, "
                                 "and the stored one only goes to the proxy and user it was given for.")
                               .format(user=proxy.user))
                bad = ["proxy-password"]
        if bad:
            self.query_one(f"#{bad[0]}").focus()
        return not bad

    def _proxy(self) -> ProxySettings:
        mode = self._proxy_mode()
        if mode != "manual":
            return ProxySettings(mode=mode)
        def value(field_id: str) -> str:
            return self.query_one(f"#{field_id}", Input).value.strip()

        return ProxySettings(mode="manual", host=value("proxy-host"), port=int(value("proxy-port")),
                             user=value("proxy-user") or None)

    def _proxy_password(self, proxy: ProxySettings) -> tuple[object, dict[str, SecretStr | None]]:
        """(what to store: a SecretStr, None to delete, or KEEP; what checks see before it is stored)."""
        typed = self.query_one("#proxy-password", Input).value
        if proxy.mode == "manual" and proxy.user:
            if not typed and proxy_password_moves(console(self.app).settings.proxy, proxy):
                # The stored one is for another proxy or user: neither a test nor a save may send it there.
                return None, {PROXY_PASSWORD_KEY: None}
            if not typed:
                return KEEP, {}
            register_secret(typed)
            return SecretStr(typed), {PROXY_PASSWORD_KEY: SecretStr(typed)}
        return None, {PROXY_PASSWORD_KEY: None}

    def _candidate(self) -> tuple[AppSettings, object, dict[str, SecretStr | None]]:
        """The settings as they will be (for checks), the proxy password to store, the pending secrets."""
        proxy = self._proxy()
        proxy_password, pending = self._proxy_password(proxy)
        settings = console(self.app).settings.model_copy(update={"identity": self._identity(), "proxy": proxy})
        return settings, proxy_password, pending

    # -- Test (steps 1 and 2)

    def action_test(self) -> None:
        if self._step < 2 and not self._busy and not self._scim():
            self._test(on_identity=self._step == 0)

    @on(Button.Pressed, "#identity-test, #proxy-test")
    def _test_pressed(self, event: Button.Pressed) -> None:
        self._test(on_identity=event.button.id == "identity-test")

    def _test(self, *, on_identity: bool) -> None:
        line = self.query_one(IdentityFields).test_line if on_identity else self.query_one("#proxy-test-line", TestLine)
        if not self._check_identity_step():
            if not on_identity:
                line.show(_("Fix the Identity step first (Back)."), "failed")
            return
        if not on_identity and not self._check_proxy_step():
            return
        try:
            settings, _password, pending = self._candidate()
        except ValueError as exc:  # a rule across fields (pydantic's ValidationError is a ValueError)
            line.show(sentence(str(exc)), "failed")
            return
        line.start(settings, console(self.app).secrets, proxy_password=pending.get(PROXY_PASSWORD_KEY))

    # -- step 3 and Finish

    def _finish(self) -> None:
        fields = self.query_one(DirectoryFields)
        status = self.query_one("#wizard-status", Static)
        fields.clear_check()
        bad = fields.check_fields()
        if bad:
            status.update(_("Fix the fields marked in red, then press Finish again."))
            fields.focus_field(bad[0])
            return
        settings = console(self.app).settings
        same = settings.directory_reading(fields.server, fields.base_dn)
        if same is not None:
            fields.row("base-dn").show_error(
                _("Directory '{id}' already reads {base_dn} from {server}: edit it on the Active Directory tab "
                  "instead of adding it twice.").format(id=same.id, base_dn=same.base_dn, server=same.server)
            )
            fields.focus_field("base-dn")
            status.update(_("Nothing was saved."))
            return
        try:
            directory = fields.directory(unique_directory_id(settings, fields.base_dn))
            candidate, proxy_password, pending = self._candidate()
        except ValueError as exc:  # a rule across fields (pydantic's ValidationError is a ValueError)
            status.update(literal(sentence(str(exc)), multiline=True))
            return
        password, token = fields.typed_password(), fields.typed_token()
        assert password is not None and token is not None  # check_fields requires both when adding
        identity, proxy = candidate.identity, candidate.proxy
        scim = self._scim()

        def change(editable: AppSettings, saved: DirectorySettings) -> None:
            if scim:  # Identity's settings are not asked for a SCIM directory: left as they are
                editable.proxy = proxy
                editable.put_directory(saved)
                return
            # Directories set up before keep no token for another environment (docs/security.md);
            # the one added here is not in ``editable`` yet, so its new token stays.
            dropped = forget_credentials(editable, console(self.app).secrets, identity)
            if dropped:
                audit("identity.credentials_removed", "The wizard changed the Identity environment: the tokens of "
                      "the directories set up before were removed", directories=",".join(dropped))
            editable.identity = identity
            editable.proxy = proxy
            editable.put_directory(saved)

        self._set_busy(True, _("Checking the bind to AD and the SCIM provider…") if scim
                       else _("Checking the bind to AD and the token with Identity…"))
        self._check_and_save(candidate, directory, password, token, change, pending, proxy_password)

    @work(thread=True, exclusive=True, exit_on_error=False, group="setup-wizard-finish", name="finish")
    def _check_and_save(self, settings, directory, password, token, change, pending, proxy_password) -> CheckOutcome:  # type: ignore[no-untyped-def]
        return check_and_save(
            self.app, settings, console(self.app).secrets, directory,
            password=password, token=token, new_password=True, new_token=True,
            change=change, pending=pending, proxy_password=proxy_password, on_saving=self._guard.start_saving,
        )

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.query_one("#wizard-busy").display = busy
        self.query_one("#wizard-status", Static).update(literal(text, multiline=True))
        self.query_one(ContentSwitcher).disabled = busy
        self.query_one("#back", Button).disabled = busy or self._step == 0
        self.query_one("#next", Button).disabled = busy
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.name == "finish":
            self._set_busy(False, _("The check failed unexpectedly (see the application log). Nothing was saved."))
        if event.state != WorkerState.SUCCESS:
            return
        if worker.name == "finish":
            self._finished(worker.result)

    def _finished(self, outcome: CheckOutcome) -> None:
        if outcome.cancelled:
            return
        if outcome.saved is not None:
            self.directory_id = outcome.saved.id
            self.dismiss(True)
            return
        fields = self.query_one(DirectoryFields)
        if outcome.error is not None:
            self._set_busy(False, _("Not saved: {reason}").format(reason=outcome.error))
            self.query_one("#next", Button).focus()
            return
        assert outcome.check is not None
        self._set_busy(False, _("Nothing was saved. Fix what is marked in red and press Finish again."))
        field_id = fields.show_check(outcome.check)
        if field_id:
            fields.focus_field(field_id, after_refresh=True)
        else:  # Identity unreachable and the like: the report says it, above the fields
            self.query_one("#check-report").scroll_visible(animate=False)
            self.query_one("#back", Button).focus()

    # -- leaving

    def action_cancel(self) -> None:
        self.app.push_screen(
            DiscardDialog(_("Leave the setup? Nothing is saved and what you typed is lost.")), self._leave
        )

    def _leave(self, confirmed: bool | None) -> None:
        if not confirmed:
            return
        if not self._guard.start_leaving():
            self.notify(_("Saving already: the setup finishes in a moment."))
            return
        self.dismiss(False)

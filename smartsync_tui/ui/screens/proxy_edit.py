"""The Home tab's proxy dialog: system, manual (host, port, user, password) or none, tested
before it is saved; the password goes back to the caller, never into the settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from smartsync_tui.config import validation
from smartsync_tui.config.settings import AppSettings, ProxySettings, proxy_password_moves
from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.choices import Choices
from smartsync_tui.ui.widgets.directory_fields import sentence
from smartsync_tui.ui.widgets.identity_fields import TestLine
from smartsync_tui.ui.widgets.text_input import TextInput
from smartsync_tui.ui.console_context import console


@dataclass(frozen=True)
class ProxyEdit:
    """What the proxy dialog returns: the settings, and a new password (None: keep the stored one)."""

    proxy: ProxySettings
    password: SecretStr | None


class ProxyEditScreen(ModalScreen[ProxyEdit | None]):
    """System / manual (host, port, user, password) / none, with *Test* before saving."""
    HELP_NAME = N_("proxy")  # how the help screen names it

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="dialog-cancel", tooltip=N_("Close without saving"))]

    def __init__(self, settings: AppSettings, *, password_stored: bool) -> None:
        super().__init__()
        translate_bindings(self)  # BINDINGS are built at import, before the language is set
        self._settings = settings
        self._password_stored = password_stored

    def compose(self) -> ComposeResult:
        proxy = self._settings.proxy
        with Vertical(classes="home-dialog") as dialog:
            dialog.border_title = _("Proxy")
            with Horizontal(classes="home-row"):
                yield Label(_("Mode"), classes="home-label")
                with Choices(id="proxy-mode", compact=True):
                    yield RadioButton(_("System"), value=proxy.mode == "system", id="proxy-system")
                    yield RadioButton(_("Manual"), value=proxy.mode == "manual", id="proxy-manual")
                    yield RadioButton(_("None"), value=proxy.mode == "none", id="proxy-none")
            with Vertical(id="proxy-fields"):
                with Horizontal(classes="home-row"):
                    yield Label(_("Host"), classes="home-label")
                    yield TextInput(proxy.host or "", id="proxy-host", compact=True, placeholder="proxy.example.com")
                    yield Label(_("Port"), classes="home-label-short")
                    yield TextInput(str(proxy.port or ""), id="proxy-port", type="integer", valid_empty=True, compact=True, placeholder="3128")
                with Horizontal(classes="home-row"):
                    yield Label(_("User"), classes="home-label")
                    yield TextInput(proxy.user or "", id="proxy-user", compact=True, placeholder=_("(none)"))
                with Horizontal(classes="home-row"):
                    yield Label(_("Password"), classes="home-label")
                    yield TextInput(id="proxy-password", password=True, compact=True,
                                placeholder=_("(stored: empty keeps it)") if self._password_stored else "")
            yield Static(id="proxy-error", classes="home-hint", markup=False)
            yield TestLine("proxy-dialog", tooltip=_("Reach Identity through this proxy, as typed"))
            with Horizontal(classes="home-buttons"):
                yield Button(_("Save"), id="proxy-save", variant="primary", compact=True)
                yield Button(_("Cancel"), id="proxy-cancel", compact=True)

    def on_mount(self) -> None:
        self._follow_mode()
        self.query_one("#proxy-mode", RadioSet).focus()

    def _mode(self) -> str:
        pressed = self.query_one("#proxy-mode", RadioSet).pressed_button
        return (pressed.id or "proxy-system").removeprefix("proxy-") if pressed is not None else "system"

    @on(RadioSet.Changed, "#proxy-mode")
    def _follow_mode(self) -> None:
        # Host, port, user and password only mean something for a manual proxy (and Tab skips them otherwise).
        self.query_one("#proxy-fields").disabled = self._mode() != "manual"

    def _message(self, text: str, kind: str) -> None:
        line = self.query_one("#proxy-error", Static)
        line.update(literal(text, multiline=True))
        for name in ("ok", "error", "busy"):
            line.set_class(name == kind, f"-{name}")

    def _edit(self) -> ProxyEdit | None:
        """The proxy as typed, or None after saying what to fix (and focusing that field)."""
        mode = self._mode()
        if mode != "manual":
            return ProxyEdit(ProxySettings(mode=mode), None)  # type: ignore[arg-type]
        fields = {name: self.query_one(f"#proxy-{name}", Input) for name in ("host", "port", "user", "password")}
        host, port_text = fields["host"].value.strip(), fields["port"].value.strip()
        problem: tuple[str, str] | None = None
        if not host:
            problem = ("host", _("Give the proxy's host name or IPv4 address."))
        elif not port_text:
            problem = ("port", _("Give the proxy's port, for example 3128."))
        else:
            try:
                validation.check_proxy_host(host)
            except ValueError as exc:
                problem = ("host", sentence(str(exc)) + ".")
            else:
                try:
                    port = validation.check_port(int(port_text))
                except ValueError as exc:
                    problem = ("port", sentence(str(exc)) + ".")
        user = fields["user"].value.strip() or None
        password_text = fields["password"].value
        if problem is None and user and not password_text and not self._password_stored:
            problem = ("password", _("Give the password of {user}, or leave the user empty.").format(user=user))
        elif problem is None and user and not password_text and proxy_password_moves(
                self._settings.proxy, ProxySettings(mode="manual", host=host, port=port, user=user)):
            problem = ("password", _("Type the password of {user} again: the proxy's host, port or user changed, "
                                     "and the stored one only goes to the proxy and user it was given for.")
                       .format(user=user))
        if problem is not None:
            self._message(problem[1], "error")
            fields[problem[0]].focus()
            return None
        password = SecretStr(password_text) if user and password_text else None
        return ProxyEdit(ProxySettings(mode="manual", host=host, port=port, user=user), password)

    @on(Button.Pressed, "#proxy-save")
    def _save(self) -> None:
        edit = self._edit()
        if edit is not None:
            self.dismiss(edit)

    @on(Button.Pressed, "#proxy-dialog-test")
    def _test(self) -> None:
        edit = self._edit()
        if edit is None:
            return
        self._message("", "")
        settings = self._settings.model_copy(update={"proxy": edit.proxy})
        self.query_one(TestLine).start(settings, console(self.app).secrets, proxy_password=edit.password)

    @on(Input.Changed)
    @on(RadioSet.Changed)
    def _changed(self) -> None:
        self.query_one(TestLine).stale()  # it tested the proxy as it was

    @on(Button.Pressed, "#proxy-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

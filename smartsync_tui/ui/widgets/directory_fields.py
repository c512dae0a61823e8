"""The Active Directory fields of the setup wizard and the add/edit dialog.

One widget for both, so a directory is typed, refused and checked the same
way wherever it is entered. Each field is refused inline with the core's own
rule (``smartsync_tui.config.validation``, the rules of the CLI and of the
settings file); :func:`check_and_save` is the real check (bind and token) and
the save, run in a thread worker by the screens.

Why one module (~610 lines): the directory form's fields, their inline checks and the
check-and-save run are used together by the wizard and the directory form, and a field's
error after a check is placed by the same code that built the field.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr, ValidationError
from textual import on
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static
from textual.worker import get_current_worker

from smartsync_tui.config import validation
from smartsync_tui.checks.directory import DirectoryCheck, check_directory
from smartsync_tui.checks.directory_setup import (
    KEEP,
    PendingSecrets,
    save_checked_directory,
)
from smartsync_tui.core.errors import UserError
from smartsync_tui.logs.event_log import audit
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import (
    DEFAULT_PORTS,
    SCIM_TARGET_NAME,
    TLS_NAMES,
    AppSettings,
    DirectorySettings,
    password_destination_changes,
    tls_name,
)
from smartsync_tui.ui.advice import in_console
from smartsync_tui.ui.i18n import N_, _
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.text_input import TextInput
from smartsync_tui.targets.scim.profiles import PROFILES

log = logging.getLogger("smartsync.console")


def sentence(message: str) -> str:
    """The core's messages start in lower case (they follow a field name); shown alone, capitalise."""
    return message[:1].upper() + message[1:]


class FieldCheck(Validator):
    """Runs one of the core's ``check_*`` functions: its ValueError text is the refusal."""

    def __init__(self, check: Callable[[str], object]) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self.check(value)
        except ValueError as exc:
            return self.failure(sentence(str(exc)))
        return self.success()


def check_port_text(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError("a port is a whole number from 1 to 65535") from None
    return validation.check_port(number)


class FieldRow(Horizontal):
    """A label, its input and the line under it that says what is wrong."""

    DEFAULT_CSS = """
    FieldRow {
        height: auto;
    }
    FieldRow > .field-label {
        width: 20;
        padding: 1 1 0 1;
        color: $text-muted;
    }
    /* A compact field is one line: its label on the same line, and a background so it reads
       as a field (80x24 shows the whole form at once). */
    FieldRow.-compact > .field-label {
        padding: 0 1;
    }
    FieldRow.-compact Input, FieldRow.-compact SelectCurrent {
        background: $panel;
    }
    FieldRow.-compact Input {
        padding: 0 1;
    }
    FieldRow.-compact Input:focus, FieldRow.-compact Select:focus > SelectCurrent {
        background: $panel-lighten-2;
    }
    FieldRow.-compact Input.-invalid {
        background: $error 25%;
    }
    FieldRow > .field-body {
        width: 1fr;
        height: auto;
    }
    FieldRow .field-error {
        display: none;
        color: $text-error;
        padding: 0 1;
    }
    FieldRow.-error .field-error {
        display: block;
    }
    FieldRow .field-note {
        color: $text-warning;
        padding: 0 1;
    }
    """

    def __init__(self, label: str, field: Widget, *, id: str | None = None) -> None:
        super().__init__(id=id or (f"row-{field.id}" if field.id else None))
        self.label = label
        self.field = field
        self.set_class(bool(getattr(field, "compact", False)), "-compact")
        #: The refusal shown under the field ("" when none).
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="field-label")
        with Vertical(classes="field-body"):
            yield self.field
            yield Static("", classes="field-error", markup=False)

    @on(Input.Changed)
    def _refuse_inline(self, event: Input.Changed) -> None:
        """Refuse a bad value as it is typed, with the core's reason."""
        if event.input is not self.field:
            return
        result = event.validation_result
        if not event.value.strip() or result is None:
            # An empty required field is pointed out on Next, Save or Finish, not while typing.
            self.show_error(None)
        else:
            self.show_error(None if result.is_valid else result.failure_descriptions[0])

    def show_error(self, message: str | None) -> None:
        self.error = message or ""
        self.query_one(".field-error", Static).update(literal(self.error, multiline=True))
        self.set_class(bool(message), "-error")
        if isinstance(self.field, Input):
            # The check's refusal marks the field like an inline refusal does.
            self.field.set_class(bool(message), "-invalid")


#: Terminal rows from which a form's fields get a blank line between them (80x24 shows them one
#: under the other, compact, so that all of them are in view; a tall terminal has room to spare).
ROOMY_HEIGHT = 34


def space_rows(screen: Widget, height: int) -> None:
    """Call from a form screen's mount and resize: class ``-roomy`` when ``height`` leaves room."""
    screen.set_class(height >= ROOMY_HEIGHT, "-roomy")


def validate_input(row: FieldRow, *, required: str | None = None) -> str | None:
    """Run the row's input validators; show and return the refusal (None: accepted)."""
    field = row.field
    assert isinstance(field, Input)
    if not field.value.strip():
        message = sentence(required) if required else None
        row.show_error(message)
        return message
    result = field.validate(field.value)
    message = result.failure_descriptions[0] if result is not None and not result.is_valid else None
    row.show_error(message)
    return message


def shown(widget: Widget, within: Widget) -> bool:
    """Whether ``widget`` is on screen as far as ``within`` goes (no hidden ancestor, not disabled)."""
    node: Widget | None = widget
    while node is not None and node is not within:
        if not node.display or not node.visible:
            return False
        node = node.parent if isinstance(node.parent, Widget) else None
    return not widget.is_disabled


def next_input(container: Widget, current: Input) -> Input | None:
    """The input after ``current`` that can take typing (Enter moves there; None: it was the last)."""
    inputs = [w for w in container.query(Input) if shown(w, container)]
    if current not in inputs:
        return None
    index = inputs.index(current)
    return inputs[index + 1] if index + 1 < len(inputs) else None


#: DirectoryError.setting (the settings' names) to the field that holds it.
SETTING_FIELDS = {
    "server": "server", "port": "port", "tls": "tls", "ca_file": "ca-file", "tls_server_name": "tls-server-name",
    "bind_user": "bind-user", "password": "password", "base_dn": "base-dn",
}

#: The targets a directory may sync to, as the form offers them (targets/registry.py).
TARGET_CHOICES = (("identity", "TOTVS Identity"), ("scim", N_("SCIM 2.0 provider")))

#: The settings of config.settings.PASSWORD_DESTINATION by the label of their field.
DESTINATION_LABELS = {
    "server": N_("Server"), "port": N_("Port"), "tls": N_("TLS"), "ca_file": N_("CA file"),
    "tls_server_name": N_("TLS server name"), "bind_user": N_("Admin user"),
}



@dataclass
class CheckOutcome:
    """What a check-then-save worker found; exactly one of its situations holds."""

    check: DirectoryCheck | None = None
    saved: DirectorySettings | None = None
    error: str | None = None
    cancelled: bool = False


class DirectoryFields(Vertical):
    """Server, TLS, admin user, password, base DN and token of one directory.

    ``existing`` fills the fields for an edit: its password and token may
    then be left empty to keep the stored ones.
    """

    DEFAULT_CSS = """
    DirectoryFields {
        height: auto;
    }
    DirectoryFields #tls-note {
        display: none;
        color: $text-warning;
        padding: 0 1 0 21;
    }
    DirectoryFields.-plain #tls-note {
        display: block;
    }
    DirectoryFields.-plain #row-ca-file, DirectoryFields.-plain #row-tls-server-name {
        display: none;
    }
    /* The SCIM provider's fields, for a directory that syncs to SCIM (docs/scim.md). */
    DirectoryFields #row-scim-url, DirectoryFields #row-scim-profile {
        display: none;
    }
    DirectoryFields.-scim #row-scim-url, DirectoryFields.-scim #row-scim-profile {
        display: block;
    }
    DirectoryFields #check-report {
        display: none;
        border: round $error;
        padding: 0 1;
        margin: 0 1 1 1;
    }
    DirectoryFields #check-report.-shown {
        display: block;
    }
    DirectoryFields #check-report.-stale {
        border: round $panel-lighten-2;
        color: $text-muted;
    }
    """

    def __init__(self, existing: DirectorySettings | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.existing = existing

    # -- layout

    def compose(self) -> ComposeResult:
        d = self.existing
        editing = d is not None
        keep = _("leave empty to keep the stored one")
        # What the last real check found, above the fields it concerns.
        yield Static("", id="check-report", markup=False)
        yield FieldRow(_("Server"), TextInput(
            d.server if d else "", id="server", placeholder=_("IP or name, e.g. dc1.corp.example"),
            validators=[FieldCheck(validation.check_server)], validate_on=["changed", "submitted"], compact=True,
        ))
        yield FieldRow(_("TLS"), Select([(tls_name(mode), mode) for mode in TLS_NAMES], value=d.tls if d else "ldaps", allow_blank=False, id="tls", compact=True))
        yield Static(_("Plain LDAP sends the password unencrypted: use it only on a network you trust."),
                     id="tls-note")
        yield FieldRow(_("Port"), TextInput(
            str(d.port) if d and d.port else "", id="port", type="integer",
            placeholder=self._port_hint(d.tls if d else "ldaps"),
            validators=[FieldCheck(check_port_text)], valid_empty=True, validate_on=["changed", "submitted"], compact=True,
        ))
        yield FieldRow(_("CA file"), TextInput(
            d.ca_file or "" if d else "", id="ca-file",
            placeholder=_("PEM of the CA that signed the DC (optional)"),
            validators=[FieldCheck(validation.check_ca_file)], valid_empty=True, validate_on=["changed", "submitted"], compact=True,
        ))
        yield FieldRow(_("TLS server name"), TextInput(
            d.tls_server_name or "" if d else "", id="tls-server-name",
            placeholder=_("DC certificate's name, when Server is an IP"),
            validators=[FieldCheck(validation.check_server)], valid_empty=True, validate_on=["changed", "submitted"], compact=True,
        ))
        yield FieldRow(_("Admin user"), TextInput(
            d.bind_user if d else "", id="bind-user", placeholder=_("user@corp.example or CORP\\user"), compact=True,
        ))
        yield FieldRow(_("Password"), TextInput(
            id="password", password=True, placeholder=keep if editing else _("the admin user's password"), compact=True,
        ))
        yield FieldRow(_("Base DN"), TextInput(
            d.base_dn if d else "", id="base-dn", placeholder=_("DC=corp,DC=example"),
            validators=[FieldCheck(validation.check_base_dn)], validate_on=["changed", "submitted"], compact=True,
        ))
        scim = d.scim if d is not None else None
        # The product's name stays as it is; "SCIM 2.0 provider" is translated.
        yield FieldRow(_("Target"), Select([(label if name == "identity" else _(label), name)
                                            for name, label in TARGET_CHOICES],
                                           value=d.target if d and d.target in dict(TARGET_CHOICES) else "identity",
                                           allow_blank=False, id="target", compact=True))
        yield FieldRow(_("SCIM URL"), TextInput(
            scim.base_url if scim else "", id="scim-url", placeholder="https://scim.example.com/scim/v2",
            validators=[FieldCheck(validation.check_scim_url)], validate_on=["changed", "submitted"], compact=True,
        ))
        yield FieldRow(_("Profile"), Select([(p.title, p.name) for p in PROFILES.values()],
                                            value=scim.profile if scim and scim.profile in PROFILES else "generic",
                                            allow_blank=False, id="scim-profile", compact=True))
        yield FieldRow(_("Token"), TextInput(
            id="token", password=True, placeholder=self._token_hint(d.target if d else "identity"),
            validators=[FieldCheck(self._token_rule(d.target if d else "identity"))], valid_empty=True,
            validate_on=["changed", "submitted"], compact=True,
        ))
        yield FieldRow(_("Name"), TextInput(
            d.display_name if d else "", id="display-name",
            placeholder=self._name_hint(d.target if d else "identity"), compact=True,
        ))

    def on_mount(self) -> None:
        self.set_class(self._tls == "plain", "-plain")
        self.set_class(self._target == SCIM_TARGET_NAME, "-scim")
        self._keep_placeholder = self.query_one("#password", Input).placeholder

    def _token_hint(self, target: str) -> str:
        if self.existing is not None and self.existing.target == target:
            return _("leave empty to keep; paste a new one to replace")
        if target == SCIM_TARGET_NAME:
            return _("the bearer token the SCIM provider issued")
        return _("copied from the directory in Identity")

    @staticmethod
    def _name_hint(target: str) -> str:
        if target == SCIM_TARGET_NAME:
            return _("optional; the directory's id when empty")
        return _("optional; Identity's name for it when empty")

    @staticmethod
    def _token_rule(target: str) -> Callable[[str], object]:
        return validation.check_bearer_token if target == SCIM_TARGET_NAME else validation.check_token

    @property
    def _target(self) -> str:
        value = self.query_one("#target", Select).value
        return value if isinstance(value, str) else "identity"

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        target = self._target
        self.set_class(target == SCIM_TARGET_NAME, "-scim")
        token = self.query_one("#token", Input)
        token.placeholder = self._token_hint(target)
        token.validators = [FieldCheck(self._token_rule(target))]
        self.query_one("#display-name", Input).placeholder = self._name_hint(target)
        if token.value.strip():
            validate_input(self.row("token"))

    @staticmethod
    def _port_hint(tls: str) -> str:
        return _("{port} when empty").format(port=DEFAULT_PORTS[tls])

    # -- reading the fields

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value.strip()

    @property
    def _tls(self) -> str:
        value = self.query_one("#tls", Select).value
        return value if isinstance(value, str) else "ldaps"

    def row(self, field_id: str) -> FieldRow:
        return self.query_one(f"#row-{field_id}", FieldRow)

    @property
    def editing(self) -> bool:
        return self.existing is not None

    def typed_password(self) -> SecretStr | None:
        value = self.query_one("#password", Input).value
        if not value:
            return None
        register_secret(value)  # masked in every log line from now on, saved or not
        return SecretStr(value)

    def typed_token(self) -> SecretStr | None:
        value = self._value("token")
        if not value:
            return None
        register_secret(value)
        return SecretStr(value)

    @property
    def server(self) -> str:
        return self._value("server")

    @property
    def base_dn(self) -> str:
        return self._value("base-dn")

    # -- the stored password stays where it was checked

    def _moved(self, directory: DirectorySettings | None = None) -> tuple[list[str], bool]:
        """(the destination settings this edit changes, whether it turns plain LDAP on)."""
        if self.existing is None:
            return [], False
        if directory is None:
            try:
                directory = self.directory(self.existing.id)
            except ValueError:  # a field that does not build yet has its own refusal, which stops the save
                return [], False
        moved = password_destination_changes(self.existing, directory)
        return moved, bool(moved) and directory.tls == "plain" and self.existing.tls != "plain"

    def password_needed(self, directory: DirectorySettings | None = None) -> str | None:
        """Why the password must be typed for this edit (None: the stored one may be kept).

        ``directory`` is the directory as typed (built from the fields when not given).
        """
        moved, to_plain = self._moved(directory)
        if to_plain:
            return _("Type the password: the stored one is never sent over plain LDAP to a server it was not "
                     "checked with (typed here, it crosses the network unencrypted).")
        if moved:
            return _("Type the password again: {fields} changed, and the stored one only goes to the server, "
                     "TLS and user it was checked with.").format(fields=self._labels(moved))
        return None

    @staticmethod
    def _labels(moved: list[str]) -> str:
        return ", ".join(_(DESTINATION_LABELS[field]) for field in moved)

    @on(Input.Changed)
    @on(Select.Changed)
    def _password_hint(self, event: Input.Changed | Select.Changed) -> None:
        """The password's placeholder says as soon as a change means it must be typed again."""
        field = self.query_one("#password", Input)
        if self.existing is None or getattr(event, "input", None) is field:
            return
        moved, _to_plain = self._moved()
        field.placeholder = (_("required: {fields} changed").format(fields=self._labels(moved)) if moved
                             else getattr(self, "_keep_placeholder", field.placeholder))

    # -- refusals

    @on(Select.Changed, "#tls")
    def _tls_changed(self, event: Select.Changed) -> None:
        tls = self._tls
        self.set_class(tls == "plain", "-plain")
        self.query_one("#port", Input).placeholder = self._port_hint(tls)

    def check_fields(self) -> list[str]:
        """Refuse what is wrong, each under its field; the ids of the refused fields, in order."""
        required = {
            "server": _("give the IP address or name of the AD server"),
            "bind-user": _("give the AD user to bind as (user@domain, DOMAIN\\user or a DN)"),
            "base-dn": _("give the base DN, for example DC=example,DC=com"),
        }
        scim = self._target == SCIM_TARGET_NAME
        if scim:
            required["scim-url"] = _("give the SCIM provider's base URL, for example https://scim.example.com/scim/v2")
        if not self.editing:
            required["password"] = _("type the password of the admin user")
        elif reason := self.password_needed():
            required["password"] = reason
        if not self.editing or self.existing.target != self._target:  # type: ignore[union-attr]
            required["token"] = (_("paste the bearer token the SCIM provider issued for this agent") if scim
                                 else _("paste the directory's token copied from Identity"))
        bad = []
        for field_id in ("server", "port", "ca-file", "tls-server-name", "bind-user", "password", "base-dn",
                         "scim-url", "token"):
            if (self._tls == "plain" and field_id in ("ca-file", "tls-server-name")) or (
                    field_id == "scim-url" and not scim):
                self.row(field_id).show_error(None)
                continue
            if validate_input(self.row(field_id), required=required.get(field_id)):
                bad.append(field_id)
        return bad

    def directory(self, directory_id: str) -> DirectorySettings:
        """The directory as typed (call after :meth:`check_fields` passed).

        Raises ValueError naming the problem if the settings model refuses it.
        """
        plain = self._tls == "plain"
        data: dict[str, object] = {
            **(self.existing.model_dump() if self.existing else {}),
            "id": directory_id,
            "display_name": self._value("display-name"),
            "server": self.server,
            "tls": self._tls,
            "port": int(self._value("port")) if self._value("port") else None,
            "ca_file": None if plain else validation.check_ca_file(self._value("ca-file")),
            "tls_server_name": None if plain else (self._value("tls-server-name") or None),
            "bind_user": self._value("bind-user"),
            "base_dn": self.base_dn,
            "target": self._target,
        }
        if self._target == SCIM_TARGET_NAME:
            profile = self.query_one("#scim-profile", Select).value
            held = self.existing.scim.model_dump() if self.existing and self.existing.scim else {}
            data["scim"] = {**held, "base_url": self._value("scim-url"),
                            "profile": profile if isinstance(profile, str) else "generic"}
        try:
            return DirectorySettings.model_validate(data)
        except ValidationError as exc:
            problems = [sentence(e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
            raise ValueError(" ".join(problems)) from None

    def snapshot(self) -> tuple[object, ...]:
        """Everything typed, to tell whether anything changed."""
        return (*(select.value for select in self.query(Select)), *(i.value for i in self.query(Input)))

    def focus_field(self, field_id: str, *, after_refresh: bool = False) -> None:
        """Focus a field with its refusal in view; ``after_refresh`` when fields were just enabled or changed."""
        field, row = self.query_one(f"#{field_id}"), self.row(field_id)

        def focus() -> None:
            field.focus(scroll_visible=False)
            row.scroll_visible(animate=False)  # the whole row: the refusal is under the field
            # Again once the refusal's lines are laid out (a long one grows the row after this refresh).
            row.call_after_refresh(row.scroll_visible, animate=False)

        if after_refresh:
            self.call_after_refresh(focus)
        else:
            focus()

    # -- the real check's findings

    def show_check(self, check: DirectoryCheck) -> str | None:
        """Show the check's report and each problem under the field to fix; the first such field's id."""
        self.clear_check()
        report = self.query_one("#check-report", Static)
        report.update(literal(in_console("\n".join(check.report_lines())), multiline=True))
        report.border_title = _("Not saved: what the check found")
        report.add_class("-shown")
        first = None
        if not check.ldap.ok:
            # The setting the core names (a silent DC: the port), else the one the failed stage suggests.
            field_id = SETTING_FIELDS.get(check.ldap.failed_setting or "") or {
                "dns": "server", "tcp": "server", "tls": "ca-file" if self._tls != "plain" else "server",
                "bind": "password", "base_dn": "base-dn", "search": "bind-user",
            }.get(check.ldap.failed_stage or "", "server")
            if field_id == "ca-file" and not self._value("ca-file") and self._value("tls-server-name") == "":
                field_id = "tls-server-name" if validation.is_ip_address(self.server) else "ca-file"
            self.row(field_id).show_error(sentence(in_console(check.ldap.message)))
            first = field_id
        # By its kind (TokenRejected's): the Identity client is not loaded before a check runs.
        if check.identity_error is not None and check.identity_error.kind == "token-rejected":
            self.row("token").show_error(in_console(str(check.identity_error)))
            first = first or "token"
        if check.scim is not None and check.scim.error is not None:
            field_id = "token" if check.scim.error.kind == "scim-token-rejected" else "scim-url"
            self.row(field_id).show_error(sentence(in_console(str(check.scim.error))))
            first = first or field_id
        return first

    @on(Input.Changed)
    @on(Select.Changed)
    def _check_is_old(self) -> None:
        """A field changed since the check: its report is kept (it says what else was found) but marked old."""
        report = self.query_one("#check-report", Static)
        if report.has_class("-shown") and not report.has_class("-stale"):
            report.add_class("-stale")
            report.border_title = _("Old: found before the fields changed; the next check replaces it")

    def clear_check(self) -> None:
        self.query_one("#check-report", Static).remove_class("-shown", "-stale")
        for row in self.query(FieldRow):
            if row.field.id in ("server", "port", "ca-file", "tls-server-name", "base-dn", "scim-url", "token"):
                validate_input(row)
            else:
                row.show_error(None)


class SaveGuard:
    """Between a check-and-save worker and an admin leaving the screen: whichever
    comes first wins, so a screen never closes half-way through saving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saving = False
        self._leaving = False

    def start_saving(self) -> bool:
        """From the worker: saving starts now, unless the admin is leaving."""
        with self._lock:
            if self._leaving:
                return False
            self._saving = True
            return True

    def start_leaving(self) -> bool:
        """From the screen: False while a save is under way (the screen stays)."""
        with self._lock:
            if self._saving:
                return False
            self._leaving = True
            return True


def check_and_save(
    app: App,
    settings: AppSettings,
    secrets: SecretStore,
    directory: DirectorySettings,
    *,
    password: SecretStr,
    token: SecretStr,
    new_password: bool,
    new_token: bool,
    change: Callable[[AppSettings, DirectorySettings], None],
    pending: dict[str, SecretStr | None] | None = None,
    proxy_password: object = KEEP,
    on_saving: Callable[[], bool] = lambda: True,
) -> CheckOutcome:
    """Check the directory for real, then save it (in a thread worker).

    ``settings`` are the effective settings to check with (the wizard's new
    Identity and proxy included) and ``pending`` the secrets typed but not
    stored yet. Nothing is stored unless the check passes; then the secrets
    and ``app.change_settings(change)`` succeed together or neither does.
    ``on_saving`` is asked just before saving starts and may refuse
    (the admin left the screen meanwhile).
    """
    worker = get_current_worker()
    adding = settings.directory(directory.id) is None
    try:
        check = check_directory(settings, PendingSecrets(secrets, pending or {}), directory, password, token)  # type: ignore[arg-type]
        if not check.ok:
            log.warning("directory %s not %s from the console: %s", directory.id,
                        "added" if adding else "saved", "; ".join(check.problems()))
            return CheckOutcome(check=check)
        if worker.is_cancelled or not on_saving():
            return CheckOutcome(cancelled=True)
        if not directory.display_name and check.identity is not None:
            directory = directory.model_copy(update={"display_name": check.identity.name})
        final = directory
        save_checked_directory(
            settings, secrets, final,
            password=password if new_password else None,
            token=token if new_token else None,
            proxy_password=proxy_password,
            save=lambda: app.call_from_thread(app.change_settings, lambda s: change(s, final)),  # type: ignore[attr-defined]
        )
    except UserError as exc:
        log.warning("directory %s not saved from the console: %s", directory.id, exc)
        return CheckOutcome(error=in_console(str(exc)))
    except Exception as exc:
        log.error("saving directory %s from the console failed", directory.id, exc_info=exc)
        return CheckOutcome(error=_("Unexpected error: {kind} (see the application log). Nothing was saved.").format(
            kind=type(exc).__name__))
    line = _("Directory {id} added in the console: {server}:{port} {base_dn} ({tls})") if adding else _(
        "Directory {id} saved in the console: {server}:{port} {base_dn} ({tls})")
    audit(f"directory.{'added' if adding else 'edited'}",
          line.format(id=final.id, server=final.server, port=final.effective_port, base_dn=final.base_dn, tls=final.tls),
          directory=final.id)
    return CheckOutcome(check=check, saved=final)

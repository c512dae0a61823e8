"""Where Identity is, and the *Test* that says whether it answers.

One editor for both places it is typed: the wizard's first step and the Home
tab's *Edit* dialog (:class:`IdentityFields`), and one *Test* line for every
connection test in the wizard and the dialogs (:class:`TestLine`). A test's
result says something about the values it tested only: the line goes blank as
soon as any of them changes (and a test still running then is not shown).
"""

from __future__ import annotations

import logging

from pydantic import SecretStr
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Select, Static

from smartsync_tui.config import validation
from smartsync_tui.checks.connection import IdentityCheck, check_identity
from smartsync_tui.targets.identity.environment import is_plain_http_elsewhere, same_destination
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import (
    PRODUCTION_ENVIRONMENT,
    AppSettings,
    IdentitySettings,
)
from smartsync_tui.ui.advice import in_console
from smartsync_tui.ui.i18n import _
from smartsync_tui.ui.literal import filled, literal
from smartsync_tui.ui.widgets.directory_fields import (
    FieldCheck,
    FieldRow,
    validate_input,
)
from smartsync_tui.ui.widgets.text_input import TextInput

log = logging.getLogger("smartsync.console")

TEST_ENVIRONMENT_DOMAIN = ".customerfi.com"


def check_text(check: IdentityCheck) -> str:
    """A connection test's outcome in one line (the Home tab's tests and every Test line)."""
    if check.ok:
        return _("✓ {url} reachable ({ms} ms)").format(url=check.url, ms=check.ms)
    return _("✗ {url} not reachable: {error}").format(url=check.url, error=in_console(check.error or ""))


class TestLine(Horizontal):
    """A *Test* button and what the test found; the host screen handles the button and calls :meth:`start`.

    ``name`` gives the ids: ``#{name}-test`` (the button) and ``#{name}-result``.
    """

    DEFAULT_CSS = """
    TestLine {
        height: auto;
        padding: 0 0 0 20;
    }
    TestLine > Button {
        min-width: 0;
        width: auto;
        padding: 0 2;
        background: $panel;
    }
    TestLine > .test-result {
        width: 1fr;
        padding: 0 1;
    }
    TestLine > .test-result.-ok {
        color: $text-success;
    }
    TestLine > .test-result.-failed {
        color: $text-error;
    }
    TestLine > .test-result.-busy {
        color: $text-warning;
    }
    """

    class _Tested(Message, bubble=False):
        def __init__(self, generation: int, check: IdentityCheck) -> None:
            super().__init__()
            self.generation = generation
            self.check = check

    def __init__(self, name: str, *, tooltip: str | None = None) -> None:
        super().__init__(id=f"{name}-test-line")
        self._name = name
        self._tooltip = tooltip
        # Bumped by stale(): a test that finishes after its values changed is not shown.
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Button(_("Test"), id=f"{self._name}-test", compact=True, tooltip=self._tooltip)
        yield Static("", id=f"{self._name}-result", classes="test-result", markup=False)

    @property
    def result(self) -> Static:
        return self.query_one(".test-result", Static)

    def show(self, text: str, kind: str = "") -> None:
        """``kind``: ok, failed, busy or "" (plain)."""
        self.result.update(literal(text, multiline=True))
        for name in ("ok", "failed", "busy"):
            self.result.set_class(name == kind, f"-{name}")

    def stale(self) -> None:
        """What was tested changed: the result no longer says anything about it."""
        self._generation += 1
        self.show("")

    def start(self, settings: AppSettings, secrets: SecretStore, *, proxy_password: SecretStr | None = None) -> None:
        """Test ``settings`` (Identity through its proxy; ``proxy_password`` typed but not saved yet)."""
        self._generation += 1
        self.show(filled(_("Testing {url}…"), url=settings.identity.base_url).plain, "busy")
        self._check(self._generation, settings, secrets, proxy_password)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connection-test")
    def _check(self, generation: int, settings: AppSettings, secrets: SecretStore,
               proxy_password: SecretStr | None) -> None:
        try:
            check = check_identity(settings, secrets, proxy_password=proxy_password)
        except Exception as exc:  # never a traceback on screen
            log.exception("connection test failed")
            check = IdentityCheck(settings.identity.base_url, False,
                                  error=_("unexpected {kind} (see the application log)").format(kind=type(exc).__name__))
        self.post_message(self._Tested(generation, check))

    @on(_Tested)
    def _tested(self, message: _Tested) -> None:
        if message.generation != self._generation:
            return  # the values changed while it ran
        self.show(check_text(message.check), "ok" if message.check.ok else "failed")
        self.result.scroll_visible(animate=False)


class IdentityFields(Vertical):
    """Protocol, environment (Production / Test / another host) and host, with *Test* (``#identity-test``).

    The host screen handles ``#identity-test`` (it knows the proxy to test
    through) and calls ``test_line.start``; a change to any field here makes
    the last result stale.
    """

    DEFAULT_CSS = """
    IdentityFields {
        height: auto;
    }
    """

    def __init__(self, identity: IdentitySettings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = identity

    def compose(self) -> ComposeResult:
        identity = self._initial
        yield FieldRow(_("Protocol"), Select(
            [("HTTPS", "https"), (_("HTTP (test servers only)"), "http")],
            value=identity.protocol, allow_blank=False, id="identity-protocol", compact=True,
        ))
        yield FieldRow(_("Environment"), Select(
            [
                (_("Production ({host})").format(host=PRODUCTION_ENVIRONMENT), "production"),
                (_("Test (*.customerfi.com)"), "test"),
                (_("Another host"), "other"),
            ],
            value=environment_kind(identity.environment), allow_blank=False, id="identity-environment",
            compact=True,
        ))
        yield FieldRow(_("Host"), TextInput(
            "" if identity.environment == PRODUCTION_ENVIRONMENT else identity.environment,
            id="identity-host", placeholder=_("e.g. company.customerfi.com"),
            validators=[FieldCheck(validation.check_environment_host)], validate_on=["changed", "submitted"],
            compact=True,
        ))
        yield TestLine("identity", tooltip=_("Test the connection to Identity"))

    def on_mount(self) -> None:
        self._follow_kind()

    @property
    def test_line(self) -> TestLine:
        return self.query_one(TestLine)

    @property
    def kind(self) -> str:
        return str(self.query_one("#identity-environment", Select).value)

    @on(Select.Changed, "#identity-environment")
    def _follow_kind(self) -> None:
        kind = self.kind
        self.query_one("#row-identity-host", FieldRow).display = kind != "production"
        self.query_one("#identity-host", Input).placeholder = (
            _("e.g. company.customerfi.com") if kind == "test" else _("host or host:port")
        )
        self.query_one("#row-identity-host", FieldRow).show_error(None)

    @on(Select.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self.test_line.stale()
        self.query_one("#row-identity-protocol", FieldRow).show_error(None)  # said of the values before

    def check(self) -> bool:
        """Refuse a missing or wrong host under its field (and focus it); True when the fields are right."""
        row = self.query_one("#row-identity-host", FieldRow)
        if self.kind == "production":
            row.show_error(None)
            return self._check_protocol()
        problem = validate_input(row, required=_("give the Identity environment's host, for example "
                                                 "company.customerfi.com"))
        host = self.query_one("#identity-host", Input).value.strip()
        if not problem and self.kind == "test" and not host.rsplit(":", 1)[0].lower().endswith(TEST_ENVIRONMENT_DOMAIN):
            problem = _("A test environment's host ends in .customerfi.com; choose Another host for any other address.")
            row.show_error(problem)
        if problem:
            self.query_one("#identity-host", Input).focus()
            return False
        return self._check_protocol()

    def _check_protocol(self) -> bool:
        """Plain http only to this machine (docs/security.md); a setting made so with the CLI's
        --insecure-http may stay as it is, but the console does not make a new one."""
        row = self.query_one("#row-identity-protocol", FieldRow)
        chosen = self.identity(self._initial.ca_file)
        if is_plain_http_elsewhere(chosen) and not same_destination(chosen, self._initial):
            row.show_error(_(
                "HTTP sends the directory token and the agent key in clear, and anyone on the path could queue "
                "login checks: it is only for an emulator on this machine (127.0.0.1 or localhost). Choose HTTPS."
            ))
            self.query_one("#identity-protocol", Select).focus()
            return False
        row.show_error(None)
        return True

    def identity(self, ca_file: str | None) -> IdentitySettings:
        """The environment as chosen (call after :meth:`check` passed); ``ca_file`` is kept as it was."""
        environment = (
            PRODUCTION_ENVIRONMENT if self.kind == "production" else self.query_one("#identity-host", Input).value.strip()
        )
        return IdentitySettings(
            protocol=self.query_one("#identity-protocol", Select).value,  # type: ignore[arg-type]
            environment=environment,
            ca_file=ca_file,
        )


def environment_kind(environment: str) -> str:
    """Which choice of the Environment field ``environment`` is: production, test or other."""
    if environment == PRODUCTION_ENVIRONMENT:
        return "production"
    host = environment.rsplit(":", 1)[0].lower()
    return "test" if host.endswith(TEST_ENVIRONMENT_DOMAIN) else "other"

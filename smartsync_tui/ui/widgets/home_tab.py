"""The Home tab ("Início" in the original): Identity connection, proxy, event
logs and a status summary; its dialogs are in ui/screens (identity_edit,
proxy_edit, replace_file).

It reads what it shows from the App (``settings``, ``secrets``, ``state``,
``statuses``, ``home``) and changes settings only through
``app.change_settings``. Connection tests and exports run in short thread
workers on this widget; their results come back as messages.

Why one module (~570 lines): the Home tab's four sections and their workers; its
dialogs are modules of their own (ui/screens/identity_edit.py, proxy_edit.py, replace_file.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static
from textual.worker import get_current_worker

from smartsync_tui import __version__
from smartsync_tui.checks.connection import (
    IdentityCheck,
    check_identity,
    environments,
    save_proxy,
)
from smartsync_tui.core.errors import UserError
from smartsync_tui.logs.event_log import (
    EventLogError,
    ExportExists,
    WhenError,
    audit,
    check_destination,
    default_export_name,
    export_log,
    parse_when,
)
from smartsync_tui.targets.identity.environment import forget_credentials
from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY
from smartsync_tui.config.settings import (
    PRODUCTION_ENVIRONMENT,
    AppSettings,
    IdentitySettings,
    ProxySettings,
)
from smartsync_tui.ui.advice import in_console
from smartsync_tui.ui.i18n import N_, _, day_first, ngettext, number
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.choices import Choices
from smartsync_tui.ui.widgets.text_input import TextInput
from smartsync_tui.ui.console_context import Console, console

if TYPE_CHECKING:
    from smartsync_tui.ui.screens.proxy_edit import ProxyEdit

log = logging.getLogger("smartsync.console")

Clock = Callable[[], float]
# The label column of the tab's rows (the same as .home-label in styles/home.tcss).
LABEL_WIDTH = 13


# Month names for when_refusal, marked here so the catalogue holds them.
_MONTHS = (N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
           N_("August"), N_("September"), N_("October"), N_("November"), N_("December"))


def when_refusal(exc: WhenError) -> str:
    """A refused From/To time in the admin's language (the core words it in English for the CLI)."""
    translate = _  # an alias: the catalogue tool flags _() of a variable; the names are marked above
    if exc.reason == "impossible":
        days = int(exc.details["days"])  # type: ignore[call-overload]
        return ngettext("'{value}' is not a date: {month} {year} has {days} day",
                        "'{value}' is not a date: {month} {year} has {days} days", days).format(
            value=exc.value, month=translate(_MONTHS[int(exc.details["month"]) - 1]),  # type: ignore[call-overload]
            year=exc.details["year"], days=days)
    if exc.reason == "unreadable":
        return _("'{value}' is not a time I can read: write it in one of the forms listed under From and To").format(
            value=exc.value)
    if exc.reason == "too_far":
        days = int(exc.details["days"])  # type: ignore[call-overload]
        return _("'{value}' is further from today than any log reaches: give a time ago of at most -{days}d, "
                 "or a date between the years 2 and 9998").format(value=exc.value, days=days)
    # "ambiguous" (a slashed date) is refused only where dates are not day first, that is in English.
    return in_console(str(exc))


# -- what the status section says, as plain functions of settings, state and a clock


def _in(seconds: float) -> str:
    """A time to wait, for people: "due now", "in 25 s", "in 4 min", "in 23 h 10 min"."""
    seconds = int(seconds)
    if seconds <= 0:
        return _("due now")
    if seconds < 60:
        return _("in {n} s").format(n=seconds)
    if seconds < 3600:
        return _("in {n} min").format(n=(seconds + 59) // 60)
    hours, minutes = divmod((seconds + 59) // 60, 60)
    if hours < 48:
        return _("in {h} h {m} min").format(h=hours, m=minutes) if minutes else _("in {h} h").format(h=hours)
    days = round(hours / 24)
    return ngettext("in {n} day", "in {n} days", days).format(n=days)


def _every(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return _("every {n} s").format(n=seconds)
    if seconds < 2 * 3600:
        return _("every {n} min").format(n=seconds // 60)
    return _("every {n} h").format(n=number(seconds / 3600, None))


def next_runs(settings: AppSettings, state: Any, now: float, syncing: frozenset[str] = frozenset()) -> tuple[str, str]:
    """(next delta, next full) over the enabled directories, relative to ``now``.

    The next delta follows the last finished real run (previews do not count;
    a run never finished, say killed, neither); ``syncing`` are the directories
    running now. The next full follows the last full read (the watermark).
    """
    enabled = [d for d in settings.directories if d.enabled]
    delta_every = settings.sync.delta_interval_seconds
    full_every = settings.sync.full_reconcile_interval_hours * 3600
    if not enabled:
        nothing = _("no directory to sync")
        return nothing, nothing
    delta_due: float | None = None
    running = False
    full_due: float | None = None
    first_full = False
    for directory in enabled:
        running = running or directory.id in syncing
        last = next((r for r in state.runs(directory.id, limit=20) if not r.dry_run and r.ended_at), None)
        due = last.ended_at + delta_every if last is not None else now
        delta_due = due if delta_due is None else min(delta_due, due)
        mark = state.watermark(directory.id)
        if mark is None:
            first_full = True
        else:
            due = mark.full_at + full_every
            full_due = due if full_due is None else min(full_due, due)
    delta = _("running now") if running else _in((delta_due or now) - now)
    full = _("with the first sync") if first_full else _in((full_due or now) - now)
    return (
        f"{delta} ({_every(delta_every)})",
        f"{full} ({_every(full_every)})",
    )


def _proxy_text(proxy: ProxySettings, password_stored: bool) -> str:
    if proxy.mode == "system":
        return _("System default (HTTPS_PROXY / NO_PROXY)")
    if proxy.mode == "none":
        return _("None: Identity is reached directly")
    if not proxy.user:
        return _("Manual: {host}:{port}").format(host=proxy.host, port=proxy.port)
    state = _("password stored") if password_stored else _("no password stored")
    return _("Manual: {host}:{port}, user {user} ({state})").format(
        host=proxy.host, port=proxy.port, user=proxy.user, state=state)


def _period_text(since: datetime | None, until: datetime | None) -> str:
    shown = "%Y-%m-%d %H:%M:%S %z"
    if since and until:
        return _("between {since} and {until}").format(since=since.strftime(shown), until=until.strftime(shown))
    if since:
        return _("since {since}").format(since=since.strftime(shown))
    if until:
        return _("until {until}").format(until=until.strftime(shown))
    return _("the whole log")


def _rows(*pairs: tuple[str, str]) -> str:
    """Label/value lines with the values aligned (plain text: values are not markup)."""
    width = max(LABEL_WIDTH, *(len(label) + 2 for label, _value in pairs))
    return "\n".join(f"{label:<{width}}{value}" for label, value in pairs)


# -- the tab


class HomeTab(VerticalScroll):
    """Identity, proxy, event logs and status; call :meth:`refresh_view` after settings or statuses change."""

    class ConnectionTested(Message, bubble=False):
        """A connection test finished; ``target`` is the section that asked (identity or proxy)."""

        def __init__(self, target: str, checks: list[IdentityCheck]) -> None:
            super().__init__()
            self.target = target
            self.checks = checks

    class LogExported(Message, bubble=False):
        """An export finished: ``lines`` written to ``path``, or ``error``."""

        def __init__(self, path: Path, lines: int, error: str | None = None) -> None:
            super().__init__()
            self.path = path
            self.lines = lines
            self.error = error

    #: Seconds since the epoch, as time.time: the clock of tabs built without one.
    #: Replaceable (here, or per tab with ``clock=``) so that snapshots and tests
    #: do not depend on the time they run at.
    default_clock: Clock = time.time

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # Read from the class, not the instance: a plain function set there stays unbound.
        self.clock: Clock = clock or type(self).default_clock
        self._export_default = ""
        self._period = ""
        # What each shown test result tested (Identity and proxy as saved then), by result id:
        # once the settings differ, the result says nothing about them and is taken away.
        self._tested: dict[str, tuple[object, ...]] = {}

    @property
    def console(self) -> Console:
        return console(self.app)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock()).astimezone()

    def compose(self) -> ComposeResult:
        with Vertical(id="home-identity", classes="home-section"):
            yield Label(_("Identity connection"), classes="home-title")
            yield Static(id="identity-info", classes="home-info", markup=False)
            with Horizontal(classes="home-buttons"):
                yield Button(_("Edit"), id="identity-edit", compact=True, tooltip=_("Change protocol and environment"))
                yield Button(_("Test connection"), id="identity-test", compact=True,
                             tooltip=_("Check that each environment the directories use answers"))
            yield Static(id="identity-result", classes="home-result", markup=False)
        with Vertical(id="home-proxy", classes="home-section"):
            yield Label(_("Proxy"), classes="home-title")
            yield Static(id="proxy-info", classes="home-info", markup=False)
            with Horizontal(classes="home-buttons"):
                yield Button(_("Edit"), id="proxy-edit", compact=True, tooltip=_("System, manual or no proxy"))
                yield Button(_("Test"), id="proxy-test", compact=True, tooltip=_("Reach Identity through the proxy"))
            yield Static(id="proxy-result", classes="home-result", markup=False)
        with Vertical(id="home-logs", classes="home-section"):
            yield Label(_("Event logs"), classes="home-title")
            with Horizontal(classes="home-row"):
                yield Label(_("Log"), classes="home-label")
                with Choices(id="log-choice", compact=True):
                    yield RadioButton(_("Application (engine)"), value=True, id="log-application")
                    yield RadioButton(_("Console (admin actions)"), id="log-console")
            with Horizontal(classes="home-row"):
                yield Label(_("From"), classes="home-label")
                yield TextInput("-24h", id="log-since", compact=True,
                                placeholder="27/11/2026 14:30" if day_first() else "2026-11-27 14:30")
                yield Label(_("To"), classes="home-label-short")
                # The word parse_when reads as the current time in either language ("now" or "agora").
                now_word = _("now")
                yield TextInput(now_word, id="log-until", compact=True, placeholder=now_word)
            # What the fields accept depends on the language's date order (parse_when's day_first), not only its words.
            yield Static(_("Times: 27/11/2026, 27/11/2026 14:30, now, or ago: -2h, -7d") if day_first()
                         else _("Times: 2026-11-27, 2026-11-27 14:30, now, or ago: -2h, -7d"),
                         classes="home-hint", markup=False)
            with Horizontal(classes="home-row"):
                yield Label(_("Save to"), classes="home-label")
                yield TextInput(id="log-path", compact=True)
            with Horizontal(classes="home-buttons"):
                yield Button(_("Export"), id="log-export", compact=True, tooltip=_("Write the period's lines to the .txt file"))
            yield Static(id="export-result", classes="home-result", markup=False)
        with Vertical(id="home-status", classes="home-section"):
            yield Label(_("Status"), classes="home-title")
            yield Static(id="status-info", classes="home-info", markup=False)

    def on_mount(self) -> None:
        self._export_default = self._default_path("application")
        self.query_one("#log-path", Input).value = self._export_default
        self.refresh_view()
        # "next run in ..." moves with time.
        self.set_interval(5, self._refresh_status)

    # -- what is shown

    def refresh_view(self) -> None:
        """Show the current settings and statuses (call after either changes)."""
        settings = self.console.settings
        directories = len(settings.directories)
        environment = settings.identity.base_url
        if settings.identity.environment == PRODUCTION_ENVIRONMENT:
            environment = _("{url}  (production)").format(url=environment)
        self.query_one("#identity-info", Static).update(literal(
            _rows(
                (_("Environment"), environment),
                (_("Used by"), ngettext("{n} directory", "{n} directories", directories).format(n=directories)),
            ), multiline=True,
        ))
        try:
            stored = self.console.secrets.get(PROXY_PASSWORD_KEY) is not None
        except UserError:
            stored = False
        self.query_one("#proxy-info", Static).update(literal(_rows((_("Mode"), _proxy_text(settings.proxy, stored))), multiline=True))
        for result_id, tested in list(self._tested.items()):
            if tested != self._tested_values():
                self._result(f"#{result_id}", "", "")
        self._refresh_status()

    def _tested_values(self) -> tuple[object, ...]:
        """What a connection test depends on: the Identity environment and the proxy."""
        settings = self.console.settings
        return (settings.identity, settings.proxy)

    def _refresh_status(self) -> None:
        console = self.console
        settings = console.settings
        try:
            syncing = frozenset(i for i, status in console.statuses.items() if status.state == "syncing")
            delta, full = next_runs(settings, console.state, self.clock(), syncing)
        except Exception as exc:  # a busy or damaged state store must not break the tab
            log.warning("home tab: cannot read the run history: %s", exc)
            delta = full = _("unknown (see the application log)")
        ids = [d.id for d in settings.directories]
        users = sum(console.statuses[i].users for i in ids if i in console.statuses)
        groups = sum(console.statuses[i].groups for i in ids if i in console.statuses)
        self.query_one("#status-info", Static).update(literal(
            _rows(
                (_("Engine"), console.engine_text()),
                (_("Next delta"), delta),
                (_("Next full"), full),
                (_("Totals"), ", ".join((
                    ngettext("{n} directory", "{n} directories", len(ids)).format(n=len(ids)),
                    ngettext("{n} user", "{n} users", users).format(n=users),
                    ngettext("{n} group", "{n} groups", groups).format(n=groups),
                ))),
                (_("Settings"), str(console.home.settings_file)),
                (_("Logs"), str(console.home.log_dir)),
                (_("Version"), __version__),
            ), multiline=True,
        ))

    def _result(self, selector: str, text: str, kind: str, *, test: bool = False) -> None:
        """One result line: kind is ok, error or busy (coloured by the stylesheet), "" hides it.
        ``test``: a connection test's, which goes when what it tested changes."""
        if test:
            self._tested[selector.removeprefix("#")] = self._tested_values()
        else:
            self._tested.pop(selector.removeprefix("#"), None)
        result = self.query_one(selector, Static)
        result.update(literal(text, multiline=True))
        for name in ("ok", "error", "busy"):
            result.set_class(name == kind, f"-{name}")

    # -- Identity and proxy

    @on(Button.Pressed, "#identity-edit")
    def _edit_identity(self) -> None:
        current = self.console.settings.identity

        def done(chosen: IdentitySettings | None) -> None:
            if chosen is None or (chosen.protocol, chosen.environment) == (current.protocol, current.environment):
                return
            dropped: list[str] = []

            def change(settings: AppSettings) -> None:
                # Before the save: the stored tokens never reach the new environment (docs/security.md).
                dropped.extend(forget_credentials(settings, self.console.secrets, chosen))
                settings.identity = chosen

            try:
                self.console.change_settings(change)
            except UserError as exc:
                self._result("#identity-result", in_console(str(exc)), "error")
                return
            audit("identity.changed", f"Identity environment changed from {current.base_url} to {chosen.base_url}",
                  environment=chosen.base_url, credentials_removed=",".join(dropped) or None)
            effective = self.console.settings.identity.base_url
            # Two sentences side by side: what was saved, then what was removed (when anything was).
            removed = [_(
                "The token and agent key of {ids} were removed: they are never sent to another environment. "
                "Give each directory its token again (Active Directory tab, e to edit)."
            ).format(ids=", ".join(dropped))] if dropped else []
            if effective != chosen.base_url:
                self._result("#identity-result", " ".join([_(
                    "Saved {url}, but SMARTSYNC_IDENTITY__* environment variables override it here; in effect: {effective}"
                ).format(url=chosen.base_url, effective=effective), *removed]), "error")
            else:
                self._result("#identity-result", " ".join([_("Saved: {url}").format(url=chosen.base_url), *removed]), "ok")
            self.refresh_view()

        # Each dialog's module (its fields, their checks) is loaded when it first opens: the
        # first screen paints without them.
        from smartsync_tui.ui.screens.identity_edit import IdentityEditScreen

        self.app.push_screen(IdentityEditScreen(current), done)

    @on(Button.Pressed, "#identity-test")
    def _test_identity(self) -> None:
        settings = self.console.settings
        urls = ", ".join(e.base_url for e in environments(settings))
        self._result("#identity-result", _("Testing {url} ...").format(url=urls), "busy", test=True)
        self._run_connection_test("identity", settings)

    @on(Button.Pressed, "#proxy-edit")
    def _edit_proxy(self) -> None:
        console = self.console
        try:
            stored = console.secrets.get(PROXY_PASSWORD_KEY) is not None
        except UserError as exc:
            self._result("#proxy-result", in_console(str(exc)), "error")
            return

        def done(edit: ProxyEdit | None) -> None:
            if edit is None:
                return
            try:
                save_proxy(console.secrets, edit.proxy, edit.password,
                           lambda: console.change_settings(lambda s: setattr(s, "proxy", edit.proxy)),
                           previous=console.settings.proxy)
            except UserError as exc:
                self._result("#proxy-result", in_console(str(exc)), "error")
                return
            where = f" {edit.proxy.host}:{edit.proxy.port}" if edit.proxy.mode == "manual" else ""
            audit("proxy.changed", f"proxy set to {edit.proxy.mode}{where}", mode=edit.proxy.mode,
                  proxy_user=edit.proxy.user, password_changed=edit.password is not None or None)
            self._result("#proxy-result", _("Saved."), "ok")
            self.refresh_view()

        from smartsync_tui.ui.screens.proxy_edit import ProxyEditScreen

        self.app.push_screen(ProxyEditScreen(console.settings, password_stored=stored), done)

    @on(Button.Pressed, "#proxy-test")
    def _test_proxy(self) -> None:
        settings = self.console.settings
        self._result("#proxy-result", _("Testing {url} through the proxy ...").format(url=settings.identity.base_url), "busy",
                     test=True)
        self._run_connection_test("proxy", settings)

    @work(thread=True, group="identity-test", exclusive=True, exit_on_error=False)
    def _run_connection_test(self, target: str, settings: AppSettings) -> None:
        worker = get_current_worker()
        try:
            checks = [check_identity(settings, self.console.secrets, identity=e) for e in environments(settings)]
        except Exception as exc:  # never a traceback on screen
            log.exception("connection test failed")
            checks = [IdentityCheck(settings.identity.base_url, False,
                                    error=_("unexpected {kind} (see the application log)").format(kind=type(exc).__name__))]
        if not worker.is_cancelled:  # a newer test replaced this one
            self.post_message(self.ConnectionTested(target, checks))

    @on(ConnectionTested)
    def _show_tested(self, message: ConnectionTested) -> None:
        if f"{message.target}-result" not in self._tested:
            return  # the settings changed while it ran: it tested what is no longer there
        from smartsync_tui.ui.widgets.identity_fields import check_text

        ok = all(c.ok for c in message.checks)
        self._result(f"#{message.target}-result", "\n".join(check_text(c) for c in message.checks), "ok" if ok else "error",
                     test=True)

    # -- event logs

    def _chosen_log(self) -> str:
        pressed = self.query_one("#log-choice", RadioSet).pressed_button
        return "console" if pressed is not None and pressed.id == "log-console" else "application"

    def _default_path(self, log_name: str) -> str:
        """A file in the agent's home export folder (the OS user's home may be another user's, or not writable)."""
        path = self.console.home.export_dir / default_export_name(log_name, self._now())  # type: ignore[arg-type]
        try:
            return "~/" + str(path.relative_to(Path.home()))  # shorter to read in the field
        except (ValueError, RuntimeError):  # not under it, or no home known
            return str(path)

    @on(RadioSet.Changed, "#log-choice")
    def _log_changed(self) -> None:
        path = self.query_one("#log-path", Input)
        new_default = self._default_path(self._chosen_log())
        if path.value == self._export_default:  # not typed by the admin: follow the choice
            path.value = new_default
        self._export_default = new_default

    @on(Button.Pressed, "#log-export")
    @on(Input.Submitted, "#log-since, #log-until, #log-path")
    def _export(self) -> None:
        log_name = self._chosen_log()
        now = self._now()
        try:
            since_text = self.query_one("#log-since", Input).value.strip()
            until_text = self.query_one("#log-until", Input).value.strip()
            since = parse_when(since_text, now=now, day_first=day_first()) if since_text else None
            until = parse_when(until_text, now=now, end=True, day_first=day_first()) if until_text else None
        except WhenError as exc:
            self._result("#export-result", when_refusal(exc), "error")
            return
        except UserError as exc:
            self._result("#export-result", in_console(str(exc)), "error")
            return
        raw = self.query_one("#log-path", Input).value.strip()
        if not raw:
            self._result("#export-result", _("Give the file to write, for example {path}").format(
                path=self._default_path(log_name)), "error")
            return
        path = Path(raw).expanduser().absolute()
        if path.parent == self.console.home.export_dir:
            try:  # the offered folder is made on first use; any other folder must exist
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError:
                pass  # check_destination says what is wrong with it
        try:
            check_destination(path)
        except ExportExists:
            def replace(yes: bool | None) -> None:
                if yes:
                    self._start_export(log_name, since, until, path, overwrite=True)

            from smartsync_tui.ui.screens.replace_file import ReplaceFileScreen

            self.app.push_screen(ReplaceFileScreen(path), replace)
            return
        except EventLogError as exc:
            self._result("#export-result", in_console(str(exc)), "error")
            return
        self._start_export(log_name, since, until, path, overwrite=False)

    def _start_export(self, log_name: str, since: datetime | None, until: datetime | None, path: Path, *, overwrite: bool) -> None:
        self._period = _period_text(since, until)
        self._result("#export-result", _("Exporting the {log} log ...").format(log=log_name), "busy")
        self._export_in_thread(log_name, since, until, path, overwrite)

    @work(thread=True, group="log-export", exclusive=True, exit_on_error=False)
    def _export_in_thread(self, log_name: str, since: datetime | None, until: datetime | None, path: Path, overwrite: bool) -> None:
        try:
            lines = export_log(self.console.home, log_name, since, until, path, overwrite=overwrite)  # type: ignore[arg-type]
        except UserError as exc:
            self.post_message(self.LogExported(path, 0, in_console(str(exc))))
            return
        except Exception as exc:  # never a traceback on screen
            log.exception("log export failed")
            self.post_message(self.LogExported(
                path, 0, _("The export failed: unexpected {kind} (see the application log).").format(kind=type(exc).__name__)
            ))
            return
        self.post_message(self.LogExported(path, lines))

    @on(LogExported)
    def _show_exported(self, message: LogExported) -> None:
        if message.error:
            self._result("#export-result", message.error, "error")
            return
        if not self.app.is_web:
            self._result(
                "#export-result",
                ngettext("✓ Wrote {n} line ({period}) to {path}", "✓ Wrote {n} lines ({period}) to {path}", message.lines).format(
                    n=message.lines, period=self._period, path=message.path
                ),
                "ok",
            )
            return
        # In a browser the file on the server is out of the admin's reach: it is offered as a
        # download too, as the original did (behind web's login, as every request).
        self.app.deliver_text(message.path, save_filename=message.path.name, mime_type="text/plain", name="log-export")
        self._result(
            "#export-result",
            ngettext("✓ Wrote {n} line ({period}) to {path}; the browser downloads it as {name}",
                     "✓ Wrote {n} lines ({period}) to {path}; the browser downloads it as {name}", message.lines).format(
                n=message.lines, period=self._period, path=message.path, name=message.path.name
            ),
            "ok",
        )

"""The console: Home and Active Directory tabs over the core.

The console reaches the engine only through its client (engine/client.py).
A console that holds the engine lock is the engine: the engine service runs
in this process (scheduler, login checks, control channel: the same as
``smartsync-tui run``), and its jobs run as the App's thread workers (one
named group per directory, started on the App so they outlive any screen;
ui/engine_link.py). A console attached to another engine sends its requests
(sync, full sync, allow held disables, directory changes) over the channel.
Threads talk to widgets only through messages.

Why one module (~870 lines): it is the console's composition and the handlers of the
App's own bindings and messages; the screens, dialogs and widgets it opens are modules of
their own, imported where they open (nothing but the first screen before the first paint).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from platformdirs import user_downloads_path
from textual import events, on
from textual.actions import parse as parse_action
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Header, Input, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from smartsync_tui.core.errors import UserError
from smartsync_tui.logs.event_log import audit
from smartsync_tui.config.paths import Home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, DirectorySettings, load_settings, save_settings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.client import (
    EngineClient,
    EngineRunning,
    LocalEngine,
    RemoteEngine,
    SyncOptions,
    SyncResult,
    acquire_lock,
    run_preview,
)
from smartsync_tui.ui import commands, exit_watchdog, log_bridge, textual_text
from smartsync_tui.ui.console_state import DirectoryStatus, row_state
from smartsync_tui.ui.engine_link import ConsoleHost, JobReady, ask_engine, bridge, start_hosted
from smartsync_tui.ui.advice import in_console
from smartsync_tui.ui.literal import clean
from smartsync_tui.ui.i18n import (
    N_,
    _,
    detect_language,
    ngettext,
    set_language,
    translate_bindings,
)
from smartsync_tui.ui.messages import EngineAsked, SyncFinished, SyncProgressed, SyncStarted
from smartsync_tui.ui.resources import stylesheets
# The dialogs and screens are imported where they open: none is needed for the first paint,
# and loading them (and what they import) before it is what made the console slow to appear.
from smartsync_tui.ui.widgets.directory_table import DirectoryTable
from smartsync_tui.ui.widgets.home_tab import HomeTab
from smartsync_tui.ui.widgets.log_pane import LogPane
from smartsync_tui.ui.widgets.footer import ConsoleFooter

log = logging.getLogger("smartsync.console")

# Keys that act on the Active Directory tab's selection or open a dialog: off while the Home tab
# (a form: its fields, radio buttons and buttons) is shown, where a letter meant for a field that
# did not have the focus must not open a dialog or sync behind the admin's back.
DIRECTORY_TAB_ACTIONS = frozenset({"sync_now", "full_sync", "preview", "add_directory", "edit_directory",
                                   "delete_directory", "setup_wizard"})
# The hint under the directory table: (action, word) in the order shown, each shown only while its key
# works where the focus is (read from the active bindings); "select_cursor" is the table's Enter.
TABLE_HINTS = (("select_cursor", N_("details")), ("sync_now", N_("sync")), ("full_sync", N_("full")),
               ("preview", N_("preview")), ("add_directory", N_("add")), ("edit_directory", N_("edit")),
               ("delete_directory", N_("delete")))
LOG_HINTS = (("toggle_follow", N_("pause")), ("cycle_level", N_("level")), ("focus_filter", N_("filter")),
             ("toggle_wrap", N_("wrap")), ("toggle_log", N_("hide")),
             ("show_tab('directories')", N_("table")))
FILTER_HINTS = (("submit", N_("done")), ("clear_filter", N_("clear")))
# What the help screen's title calls a screen, by class name (most are imported only when first opened).


def _status_server(service: Any) -> Any:
    """The health and metrics endpoints of a console that is the engine (status/server.py).
    Imported when the engine starts, in its thread: nothing of it is needed to paint."""
    from smartsync_tui.status import server

    return server.serve(service)


def _form_changed(screen: Screen) -> bool:
    """Whether a screen holds typing that quitting would lose: a screen with a form says so itself
    (``has_unsaved_changes``: the setup wizard, the directory dialog)."""
    unsaved = getattr(screen, "has_unsaved_changes", None)
    return bool(unsaved and unsaved())


class SmartSyncApp(App[None]):
    TITLE = "smartsync-tui"
    CSS_PATH = stylesheets()
    BINDINGS = [
        Binding("h", "show_tab('home')", N_("Home"), id="tab-home"),
        Binding("d", "show_tab('directories')", N_("Active Directory"), id="tab-directories"),
        Binding("s", "sync_now", N_("Sync now"), id="sync-now"),
        Binding("f", "full_sync", N_("Full sync"), id="full-sync", show=False),
        Binding("p", "preview", N_("Preview"), id="preview", show=False),
        Binding("a", "add_directory", N_("Add"), id="add-directory", show=False),
        Binding("e", "edit_directory", N_("Edit"), id="edit-directory", show=False),
        Binding("delete,x", "delete_directory", N_("Delete"), id="delete-directory", show=False),
        Binding("w", "setup_wizard", N_("Setup wizard"), id="setup-wizard", show=False),
        Binding("l", "toggle_log", N_("Log"), id="toggle-log", tooltip=N_("Show or hide the live log pane")),
        # As in less, k9s and lazygit; a focused text field keeps typing its slash (Textual leaves
        # a printable key to the field that has the focus).
        Binding("slash", "log_filter", N_("Log filter"), id="log-filter", show=False,
                tooltip=N_("Show only the log lines that contain a text")),
        # Priority: on a dialog too, whose keys are then listed (a text field keeps its "?").
        Binding("question_mark,f1", "help", N_("Help"), id="help", priority=True,
                tooltip=N_("The keys of this screen")),
        Binding("q", "quit", N_("Quit"), id="quit", tooltip=N_("Asks first while a sync runs here or a form has changes")),
    ]

    def __init__(
        self,
        home: Home,
        settings: AppSettings,
        *,
        secrets: SecretStore | None = None,
        scheduler: bool = True,
        attached_pid: int | None = None,
        attached_mode: str | None = None,
        serve_channel: bool = False,
        initial_tab: str = "home",
        show_log: bool = False,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        translate_bindings(self)
        self.home = home
        self.settings = settings
        self.secrets = secrets or SecretStore(home.secrets_file)
        self.state = StateStore(home.state_db)
        self.statuses: dict[str, DirectoryStatus] = {}
        self._previewing: set[str] = set()
        # Another process (`smartsync-tui run`) is the engine for this home: this
        # console shows its state from the state store and starts no syncs itself.
        self.attached_pid = attached_pid
        self.attached_mode = attached_mode  # what the engine lock's holder wrote: "run" or "console"
        self._scheduler = scheduler and attached_pid is None
        # Only the engine lock's holder serves the channel: run_console says when that is us.
        self._serve_channel = serve_channel and self._scheduler
        # Scheduler options for the engine this console runs (the tests' backoff, target...).
        self._engine_options = dict(engine_options or {})
        # The engine, through its client: this process's (not paused: scheduled, with login checks;
        # paused: only what is asked here), or another process's over the channel.
        self.engine: EngineClient
        if attached_pid is not None:
            self.engine = RemoteEngine(home, attached_pid)
        else:
            options = dict(self._engine_options)
            if self._serve_channel:  # the engine of its home: it serves /health and /metrics as `run` does
                options.setdefault("status_server", _status_server)
            self.engine = LocalEngine(home, lambda: self.settings, self.secrets, paused=not self._scheduler,
                                      serve_channel=self._serve_channel, host=ConsoleHost(self),
                                      listener=self._engine_event, options=options)
        self._bridge: Callable[[Any], None] | None = None
        self._initial_tab = initial_tab
        self._show_log = show_log
        # Attached: the engine's last run seen per directory, to notice a new one that held disables.
        self._seen_runs: dict[str, int | None] = {}
        # Set by run_console: a closed console exits within this, whatever thread is left.
        self.exit_grace: float | None = None
        self._exit_watchdog: exit_watchdog.Watchdog | None = None
        self._update_sub_title()

    def engine_text(self) -> str:
        """Which engine syncs this home: this console, or another process (with its pid)."""
        if self.attached_pid is not None:
            if self.attached_mode == "console":
                return _("another console (pid {pid})").format(pid=self.attached_pid)
            return _("smartsync-tui run (pid {pid})").format(pid=self.attached_pid)
        if self._scheduler:
            return _("this console (pid {pid})").format(pid=os.getpid())
        return _("paused: this console starts no sync")

    def _update_sub_title(self) -> None:
        """The header: what the engine is doing first (its pid must stay visible at 80 columns), then
        where the directories sync to."""
        if self.attached_pid is not None:
            engine = _("attached to engine (pid {pid})").format(pid=self.attached_pid)
        else:
            engine = _("engine running here") if self._scheduler else _("engine paused")
        self.sub_title = clean(_("{engine} · {targets}").format(engine=engine, targets=self._targets_text()), 200)

    def _targets_text(self) -> str:
        """Where the directories sync to. Identity's environment, unless every directory goes to a SCIM
        provider: a home set up for SCIM alone has no Identity to name."""
        identity = self.settings.identity
        environment = identity.environment if identity.protocol == "https" else identity.base_url
        scim = [d.scim for d in self.settings.directories if not d.syncs_to_identity and d.scim is not None]
        if not scim:
            return _("Identity: {environment}").format(environment=environment)
        hosts = sorted({urlsplit(s.base_url).hostname or s.base_url for s in scim})
        provider = hosts[0] if len(hosts) == 1 else ngettext(
            "{count} provider", "{count} providers", len(hosts)).format(count=len(hosts))
        if len(scim) == len(self.settings.directories):
            return _("SCIM: {provider}").format(provider=provider)
        return _("Identity: {environment} + SCIM: {provider}").format(environment=environment, provider=provider)

    def notify(self, message: str, *, title: str = "", severity: str = "information",  # type: ignore[override]
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification is literal text: its message often carries a name, a DN or a server's error,
        which Textual would otherwise read as markup (and ``[/x]`` would end the app)."""
        kwargs = {} if timeout is None else {"timeout": timeout}
        super().notify(clean(message, multiline=True), title=clean(title), severity=severity,  # type: ignore[arg-type]
                       markup=False, **kwargs)

    # -- layout

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="home"):
            with TabPane(_("Home"), id="home"):
                yield HomeTab(id="home-tab")
            with TabPane(_("Active Directory"), id="directories"):
                with Vertical(id="directories-pane"):
                    yield DirectoryTable(id="directory-table")
                    # Filled once mounted: which keys work depends on the focus (see _directory_hint).
                    yield Static(id="directory-hint", markup=False)
        yield LogPane()
        yield ConsoleFooter(keys_at_once=True)

    def _directory_hint(self) -> str:
        """The keys that work where the focus is, for the line under the directory table."""
        if not self.settings.directories:
            return _("No directory yet: press a to add one, or w for the setup wizard.")
        screen = self.screen_stack[0] if self.screen_stack else None
        if screen is None:
            return ""
        focused = screen.focused
        pane = screen.query_one(LogPane)
        if isinstance(focused, Input) and pane in focused.ancestors:
            hints = FILTER_HINTS
        elif focused is not None and pane in focused.ancestors_with_self:
            hints = LOG_HINTS
        else:
            hints = TABLE_HINTS
        working: dict[str, str] = {}
        for key, active in screen.active_bindings.items():
            action = active.binding.action.removeprefix("app.")
            if not active.enabled or (action == "select_cursor" and not isinstance(focused, DirectoryTable)):
                continue
            # Named as the README and the palette name them (the footer's ⏎ reads as nothing here).
            shown = {"enter": "Enter", "tab": "Tab", "escape": "Esc"}.get(key) or self.get_key_display(active.binding)
            # The shortest of an action's keys: x rather than del, Enter rather than nothing.
            if action not in working or len(shown) < len(working[action]):
                working[action] = shown
        return " · ".join(f"{working[action]} {_(word)}" for action, word in hints if action in working)

    def _show_hint(self, *_args: object) -> None:
        if self.screen_stack and self.screen is self.screen_stack[0]:
            self.query_one("#directory-hint", Static).update(self._directory_hint())

    def on_mount(self) -> None:
        # Installed here, not in __init__: an app that never runs leaves no handler behind.
        self._log_handler = log_bridge.install()
        self.query_one(LogPane).attach(self._log_handler)
        # The hint under the table says which keys work where the focus is: kept in step with it.
        self.watch(self.screen, "focused", self._show_hint, init=False)
        self._load_statuses()
        self.refresh_directories()
        if self.attached_pid is not None:
            self._new_held_runs()  # what was held before this console opened is not news
            self.set_interval(5, self._follow_engine)
        elif self._scheduler:
            # Started after the first refresh, in a thread: its imports (the AD reader, the Identity
            # client and the key code of login checks, ~0.25 s) held the footer's first paint on the
            # event loop. (A paused console starts it on its first request.)
            self.call_after_refresh(self._start_engine)
        self.call_after_refresh(_collector_after_first_screen)
        if self._show_log:
            self.query_one(LogPane).toggle()
        if self._initial_tab != "home":
            self.action_show_tab(self._initial_tab)  # after the log: the table keeps the focus
        if not self.settings.directories and not self.home.settings_file.exists():
            self.action_setup_wizard()  # first run

    def _start_engine(self) -> None:
        if isinstance(self.engine, LocalEngine):
            # A failure is reported by _on_worker_state, as any worker's. A request made meanwhile
            # waits for this start (the client's lock), it does not start a second engine.
            self.run_worker(self.engine.start, name="engine start", group="engine-start", thread=True,
                            exit_on_error=False)

    def _engine_event(self, event: Any) -> None:
        """From the engine's threads: its events as messages (ui/engine_link.py)."""
        if self._bridge is None:  # made on the first event: it imports the engine's event types
            self._bridge = bridge(self)
        self._bridge(event)

    def _follow_engine(self) -> None:
        """Attached: the engine's results reach this console through the state store."""
        try:
            self.reload_settings()  # directories another console or the CLI added or deleted
        except UserError:
            pass  # a broken file: the engine keeps its settings too, and says so in its log
        self._load_statuses()
        self.refresh_directories()
        for directory_id in self._new_held_runs():
            self.show_held(directory_id)

    def _new_held_runs(self) -> list[str]:
        """Directories whose latest run, new since the last look, ended with disables held."""
        held = []
        for d in self.settings.directories:
            runs = self.state.runs(d.id, limit=1)
            run = runs[0] if runs and runs[0].ended_at else None
            last = run.id if run else None
            if d.id in self._seen_runs and last != self._seen_runs[d.id] and run and run.outcome == "held":
                held.append(d.id)
            self._seen_runs[d.id] = last
        return held

    def _load_statuses(self) -> None:
        for d in self.settings.directories:
            status = self.statuses.setdefault(d.id, DirectoryStatus(d.id))
            counts = self.state.counts(d.id)
            status.users = counts["users"] + counts["disabled_users"]
            status.groups = counts["groups"]
            runs = [r for r in self.state.runs(d.id, limit=20) if r.ended_at and not r.dry_run]
            if runs:
                status.last_attempt = runs[0].ended_at
                status.state = row_state(runs[0].outcome)
                completed = next((r for r in runs if r.outcome in ("ok", "held", "partial")), None)
                status.last_sync = completed.ended_at if completed else None

    def refresh_directories(self) -> None:
        self.query_one(DirectoryTable).show(self.settings.directories, self.statuses)
        self._show_hint()
        self.query_one(HomeTab).refresh_view()

    # -- settings changes (the only way the console writes appsettings.json)

    def change_settings(self, change: Callable[[AppSettings], None]) -> None:
        """Apply ``change`` to the file's settings, save, and reload what the engine runs with."""
        editable = load_settings(self.home.settings_file, environment=False)
        change(editable)
        save_settings(self.home.settings_file, editable)
        self.settings = load_settings(self.home.settings_file)
        self._settings_changed()

    def reload_settings(self) -> bool:
        """Re-read appsettings.json (another console or the CLI may have changed it); True if it had."""
        settings = load_settings(self.home.settings_file)
        if settings == self.settings:
            return False
        self.settings = settings
        self._settings_changed()
        return True

    def _settings_changed(self) -> None:
        self._update_sub_title()
        for d in self.settings.directories:
            self.statuses.setdefault(d.id, DirectoryStatus(d.id))
        self.refresh_directories()

    # -- command palette: every action, with the key that also runs it (ui/commands.py)

    def textual_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own system commands (App.get_system_commands, Textual 8), with the same actions,
        in the console's language: Textual writes them in English."""
        translate = _  # an alias: the catalogue has these msgids from ui/textual_text.py
        title, help_text = textual_text.THEME
        yield SystemCommand(translate(title), translate(help_text), self.action_change_theme)
        title, help_text = textual_text.QUIT
        yield SystemCommand(translate(title), translate(help_text), self.action_quit)
        if screen.query("HelpPanel"):
            (title, help_text), action = textual_text.HIDE_KEYS, self.action_hide_help_panel
        else:
            (title, help_text), action = textual_text.SHOW_KEYS, self.action_show_help_panel
        yield SystemCommand(translate(title), translate(help_text), action)
        if screen.maximized is not None:
            title, help_text = textual_text.MINIMIZE
            yield SystemCommand(translate(title), translate(help_text), screen.action_minimize)
        elif screen.focused is not None and screen.focused.allow_maximize:
            title, help_text = textual_text.MAXIMIZE
            yield SystemCommand(translate(title), translate(help_text), screen.action_maximize)
        title, help_text = textual_text.SCREENSHOT
        yield SystemCommand(translate(title), translate(help_text),
                            lambda: self.set_timer(0.1, self.deliver_screenshot))

    def action_command_palette(self) -> None:
        """Textual's palette, with its placeholder in the console's language."""
        if self.use_command_palette and not CommandPalette.is_open(self):
            translate = _  # an alias, as above
            self.push_screen(CommandPalette(id="--command-palette", placeholder=translate(textual_text.SEARCH_COMMANDS)))

    def search_themes(self) -> None:
        """Textual's theme picker (the Theme command), with its placeholder in the console's language."""
        from textual.theme import ThemeProvider

        translate = _  # an alias, as above
        self.push_screen(CommandPalette(providers=[ThemeProvider], placeholder=translate(textual_text.SEARCH_THEMES)))

    @on(events.DescendantFocus)
    def _translate_focused_keys(self, event: events.DescendantFocus) -> None:
        """The keys panel and the footer list the focus chain's bindings: Textual's widgets
        (table, fields, menus, tabs) get theirs in the console's language when focus reaches them."""
        textual_text.translate_focus_chain(event.widget)
        self.refresh_bindings()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from self.textual_system_commands(screen)  # theme, keys panel, screenshot, quit
        if screen is self.screen_stack[0]:
            yield from commands.system_commands(self, self._run_command)
            return
        # Over a dialog: its own keys, and help. (The console's actions would act behind it.)
        yield SystemCommand(_("Help (?)"), _("The keys of the screen in front, and what each does"),
                            partial(self._open_help, screen))
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.node is screen and active.enabled and binding.description and binding.action not in seen:
                seen.add(binding.action)
                yield SystemCommand(f"{binding.description} ({commands.key_text(key)})",
                                    binding.tooltip or binding.description,
                                    partial(self.run_action, binding.action, screen))

    def _run_command(self, command: commands.ConsoleCommand) -> None:
        """A palette command: chosen by name, so it runs on the tab it acts on (shown first), and
        check_action (which keeps stray keys from acting on the Home tab) does not stand in its way."""
        if command.tab is not None and self.query_one(TabbedContent).active != command.tab:
            self.action_show_tab(command.tab)
        _namespace, name, parameters = parse_action(command.action)
        self.call_later(getattr(self, f"action_{name}"), *parameters)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in DIRECTORY_TAB_ACTIONS and self.screen_stack:
            # The main screen's tabs (a dialog in front may have tabs of its own).
            tabs = self.screen_stack[0].query(TabbedContent)
            # Not composed, or no tab active yet (the footer's first frame asks): the tab it opens on.
            active = (tabs.first().active if tabs else "") or self._initial_tab
            return active != "home"
        return True

    # -- help, quitting, screenshots

    def action_help(self) -> None:
        from smartsync_tui.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)  # ? or F1 again: back to where it was opened
            return
        self._open_help(self.screen)

    def _open_help(self, screen: Screen) -> None:
        from smartsync_tui.ui.screens.help import HelpScreen, key_groups

        if screen is self.screen_stack[0]:
            tab = self.query_one(TabbedContent).active
            where = _("Home tab") if tab == "home" else _("Active Directory tab")
        else:
            name = getattr(type(screen), "HELP_NAME", None)  # each screen's own (N_), else a dialog
            where = _(name) if name else _("this dialog")
        self.push_screen(HelpScreen(key_groups(screen), where))

    def quit_reasons(self) -> list[str]:
        """What quitting now would stop or lose: this console's syncs, and forms with changes."""
        reasons = []
        if self.attached_pid is None:  # attached, the engine syncs: quitting stops nothing
            for d in self.settings.directories:
                if self.is_syncing(d.id) and d.id not in self._previewing:
                    reasons.append(_("A sync of {name} is running: it stops after its batch (nothing is lost; "
                                     "the next run goes on from there).").format(name=d.label))
        for screen in self.screen_stack[1:]:
            if _form_changed(screen):
                reasons.append(_("A form has changes that are not saved: they are lost."))
                break
        return reasons

    async def action_quit(self) -> None:
        from smartsync_tui.ui.screens.confirm_quit import ConfirmQuitDialog

        if isinstance(self.screen, ConfirmQuitDialog):
            self.exit()  # asked already: ctrl+q or the palette's Quit on the question is a yes
            return
        reasons = self.quit_reasons()
        if not reasons:
            self.exit()
            return

        def decided(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(ConfirmQuitDialog(reasons), decided)

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        # Textual saves to ~/Downloads, which a server (or a service account) often does not have:
        # then the home's data dir, where the admin is told to look.
        if path is None:
            downloads = user_downloads_path()
            path = str(downloads if downloads.is_dir() else self.home.data_dir)
        return super().deliver_screenshot(filename, path, time_format)

    @on(events.DeliveryComplete)
    def _screenshot_saved(self, event: events.DeliveryComplete) -> None:
        if event.name != "screenshot":
            return
        event.prevent_default()  # Textual's own toast is markup, shown here as plain text
        if event.path is None:  # a browser took it (browser mode)
            self.notify(_("Screenshot sent to the browser."), title=_("Screenshot"))
        else:
            self.notify(_("Screenshot saved to {path}").format(path=event.path), title=_("Screenshot"), timeout=10)

    @on(events.DeliveryFailed)
    def _screenshot_failed(self, event: events.DeliveryFailed) -> None:
        if event.name != "screenshot":
            return
        event.prevent_default()
        self.notify(_("The screenshot could not be saved: {error}").format(error=event.exception),
                    title=_("Screenshot"), severity="error", timeout=10)

    # -- tabs

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "directories":
            self.query_one(DirectoryTable).focus()
        self.refresh_bindings()  # the directory keys are on or off with the tab

    @on(TabbedContent.TabActivated)
    def _tab_shown(self) -> None:
        # A click on a tab too: the footer and the palette follow which keys work.
        self.refresh_bindings()
        self._show_hint()

    # -- syncing

    def selected_directory(self) -> str | None:
        directory_id = self.query_one(DirectoryTable).selected_id
        if directory_id is None:
            self.notify(_("No directory selected: add one first (a)."), severity="warning")
        return directory_id

    def is_syncing(self, directory_id: str) -> bool:
        """Whether this console runs a job of the directory (a sync its engine hosts here, or a preview)."""
        return any(w.group in (f"sync-{directory_id}", f"preview-{directory_id}") and w.is_running
                   for w in self.workers)

    def start_sync(self, directory_id: str, *, full: bool = False, allow_deletes: bool = False, dry_run: bool = False) -> bool:
        """Ask the engine for a run (it starts now, or right after the one in flight); a preview runs here."""
        if dry_run:  # a preview changes nothing: it runs in this console, whoever the engine is
            return self._start_preview(directory_id)
        # Attached, another sync of a held directory would only hold the same disables again: offer them.
        if self.attached_pid is not None and not (full or allow_deletes) and self.show_held(directory_id):
            return False
        ask_engine(self, partial(self.engine.sync, directory_id, full=full, allow_deletes=allow_deletes),
                   partial(self._sync_asked_text, directory_id, full, allow_deletes))
        return True

    def _sync_asked_text(self, directory_id: str, full: bool, allow_deletes: bool, queued: bool) -> str | None:
        if self.attached_pid is not None:
            if allow_deletes:
                done = _("The held disables of {id} are allowed: the engine (pid {pid}) applies them now.")
            elif full:
                done = _("Full sync of {id} asked of the engine (pid {pid}).")
            else:
                done = _("Sync of {id} asked of the engine (pid {pid}).")
            return done.format(id=directory_id, pid=self.attached_pid)
        if queued:  # this console's engine: the row shows the run; only a wait is news
            return _("{id} is syncing: the run asked for starts right after this one.").format(id=directory_id)
        return None

    def _start_preview(self, directory_id: str) -> bool:
        if self.is_syncing(directory_id):
            self.notify(_("{id} is syncing already.").format(id=directory_id))
            return False
        options = SyncOptions(dry_run=True, batch_size=self.settings.sync.batch_size,
                              concurrency=self.settings.sync.concurrency)
        self._previewing.add(directory_id)  # a preview changes nothing: the row keeps its state
        self.run_worker(
            partial(self._preview_in_thread, directory_id, options),
            name=f"preview {directory_id}", group=f"preview-{directory_id}", thread=True, exit_on_error=False,
        )
        return True

    def _preview_in_thread(self, directory_id: str, options: SyncOptions) -> None:
        worker = get_current_worker()
        result = run_preview(self.home, self.settings, self.secrets, directory_id, options,
                             cancel=worker.cancelled_event,
                             target_factory=self._engine_options.get("target_factory"))
        self.post_message(SyncFinished(result))

    def show_held(self, directory_id: str) -> bool:
        """Attached: the threshold dialog for the disables the engine holds; False when it holds none."""
        from smartsync_tui.ui.screens.threshold import ThresholdDialog, held_result

        if any(isinstance(s, ThresholdDialog) and s.result.directory_id == directory_id for s in self.screen_stack):
            return True
        held = self.state.held(directory_id)
        if not held:
            return False
        self.show_threshold(held_result(directory_id, held, self.attached_pid))
        return True

    def _update_row(self, directory_id: str) -> None:
        directory = self.settings.directory(directory_id)
        if directory is not None:
            self.query_one(DirectoryTable).update_status(directory, self.statuses[directory_id])

    @on(JobReady)
    def _start_job(self, message: JobReady) -> None:
        start_hosted(self, message)  # a run of this console's engine, as a worker of the App

    @on(SyncStarted)
    def _on_started(self, message: SyncStarted) -> None:
        self.statuses.setdefault(message.directory_id, DirectoryStatus(message.directory_id)).started()
        self._update_row(message.directory_id)

    @on(EngineAsked)
    def _on_engine_asked(self, message: EngineAsked) -> None:
        if message.op == "sync":
            self.notify(_("Another console asked for a sync of {id}.").format(id=message.directory_id))
        elif message.op == "forget":
            try:
                self.reload_settings()  # the other console removed it from appsettings.json
            except UserError:
                pass  # a broken file: the engine keeps its settings too, and says so in its log
            self.statuses.pop(message.directory_id, None)
            self.refresh_directories()
            self.notify(_("Another console deleted directory {id}.").format(id=message.directory_id))

    @on(SyncProgressed)
    def _on_progress(self, message: SyncProgressed) -> None:
        status = self.statuses.setdefault(message.progress.directory_id, DirectoryStatus(message.progress.directory_id))
        status.progressed(message.progress)
        self._update_row(message.progress.directory_id)

    @on(SyncFinished)
    def _on_finished(self, message: SyncFinished) -> None:
        result = message.result
        status = self.statuses.setdefault(result.directory_id, DirectoryStatus(result.directory_id))
        plan = result.plan
        if result.dry_run:
            self._previewing.discard(result.directory_id)
            if plan is None:
                self.notify(in_console(result.error or _("The preview failed.")), severity="error", timeout=10)
            else:
                self.show_preview(result)
            return
        status.finished(result, self.state.counts(result.directory_id))
        self._update_row(result.directory_id)
        self.query_one(HomeTab).refresh_view()
        self.call_after_refresh(gc.freeze)
        if result.outcome == "failed":
            self.notify(in_console(result.error or _("The sync failed.")), title=_("Sync of {id} failed").format(id=result.directory_id),
                        severity="error", timeout=10)
        elif result.outcome == "held" and plan is not None:
            self.show_threshold(result)

    def show_preview(self, result: SyncResult) -> None:
        from smartsync_tui.ui.screens.preview import PreviewScreen

        self.push_screen(PreviewScreen(result))

    def show_threshold(self, result: SyncResult) -> None:
        from smartsync_tui.ui.screens.threshold import ThresholdDialog

        def decided(allow: bool | None) -> None:
            if allow:
                audit("sync.disables_allowed", f"Held disables of {result.directory_id} allowed in the console",
                      directory=result.directory_id, count=len(result.plan.held) if result.plan else 0)
                self.start_sync(result.directory_id, allow_deletes=True)
            else:
                self.notify(_("The disables stay held; they are listed again at the next run."))

        self.push_screen(ThresholdDialog(result), decided)

    # -- directories

    @on(DataTable.RowSelected, "#directory-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        directory = self.settings.directory(str(event.row_key.value))
        if directory is not None:
            self.show_details(directory)

    def action_details(self) -> None:
        """The palette's Details: what Enter on the selected row opens."""
        directory_id = self.selected_directory()
        directory = self.settings.directory(directory_id) if directory_id else None
        if directory is not None:
            self.show_details(directory)

    def show_details(self, directory: DirectorySettings) -> None:
        from smartsync_tui.ui.screens.details import DirectoryDetails

        self.push_screen(DirectoryDetails(directory, self.state))

    def action_export_logs(self) -> None:
        """The palette's Export logs: the Home tab's export, its first field focused to set the period."""
        field = self._home_widget("#log-since")
        if field is not None:
            field.focus()

    def action_test_connection(self) -> None:
        """The palette's Test connection: the Home tab's button, pressed (the result shows under it)."""
        button = self._home_widget("#identity-test")
        if isinstance(button, Button):
            button.focus()
            button.press()

    def _home_widget(self, selector: str) -> Widget | None:
        """A widget of the Home tab, scrolled into view; None if the tab no longer has it (the
        palette then just shows the tab)."""
        found = self.screen_stack[0].query_one(HomeTab).query(selector)
        if not found:
            return None
        widget = found.first()
        self.call_after_refresh(widget.scroll_visible, animate=False)
        return widget

    def action_setup_wizard(self) -> None:
        # Imported when first opened, as the directory form below: their checks (LDAP, agent keys) load with them.
        from smartsync_tui.ui.screens.wizard import SetupWizard

        wizard = SetupWizard()

        def done(saved: bool | None) -> None:
            if saved and wizard.directory_id:
                self.action_show_tab("directories")
                self.start_sync(wizard.directory_id)

        self.push_screen(wizard, done)

    def action_add_directory(self) -> None:
        # Imported when first used, as the wizard.
        from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog

        def done(directory_id: str | None) -> None:
            if directory_id:
                self.action_show_tab("directories")
                self.start_sync(directory_id)

        self.push_screen(DirectoryFormDialog(), done)

    def action_edit_directory(self) -> None:
        directory_id = self.selected_directory()
        directory = self.settings.directory(directory_id) if directory_id else None
        if directory is not None:
            from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog

            self.push_screen(DirectoryFormDialog(directory), self._directory_edited)  # it saves through change_settings

    def _directory_edited(self, directory_id: str | None) -> None:
        if not directory_id:
            return
        # The engine re-reads the file within a second or two anyway; asking makes it now.
        if self.attached_pid is not None:
            ask_engine(self, self.engine.reload, _("Settings of {id} saved; the engine (pid {pid}) uses them from its "
                                                   "next run.").format(id=directory_id, pid=self.attached_pid))
        elif isinstance(self.engine, LocalEngine) and self.engine.started:
            ask_engine(self, self.engine.reload, None)

    def action_delete_directory(self) -> None:
        directory_id = self.selected_directory()
        directory = self.settings.directory(directory_id) if directory_id else None
        if directory is None:
            return

        def decided(confirmed: bool | None) -> None:
            if not confirmed:
                return
            for worker in self.workers:
                if worker.group == f"sync-{directory.id}":
                    worker.cancel()
            try:
                self.change_settings(lambda s: setattr(s, "directories", [d for d in s.directories if d.id != directory.id]))
            except UserError as exc:
                self.notify(str(exc), severity="error", timeout=10)
                return
            self.statuses.pop(directory.id, None)
            audit("directory.removed", f"Directory {directory.id} deleted in the console; its secrets were deleted",
                  directory=directory.id)
            self.refresh_directories()
            # The engine's run in flight must end before the rows and secrets go: the engine does it.
            if self.attached_pid is not None:
                done = _("Directory {id} deleted; the engine (pid {pid}) forgot its state and secrets.").format(
                    id=directory.id, pid=self.attached_pid)
            else:
                done = _("Directory {id} deleted.").format(id=directory.id)
            ask_engine(self, partial(self.engine.forget, directory.id), done)

        from smartsync_tui.ui.screens.confirm_delete import ConfirmDeleteDialog

        self.push_screen(ConfirmDeleteDialog(directory), decided)

    def action_sync_now(self) -> None:
        directory_id = self.selected_directory()
        if directory_id:
            self.action_show_tab("directories")
            self.start_sync(directory_id)

    def action_full_sync(self) -> None:
        directory_id = self.selected_directory()
        if directory_id:
            self.start_sync(directory_id, full=True)

    def action_preview(self) -> None:
        directory_id = self.selected_directory()
        if directory_id:
            self.start_sync(directory_id, dry_run=True)

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            text = str(error) if isinstance(error, UserError) else _("Unexpected error: {kind} (see the application log)").format(
                kind=type(error).__name__
            )
            log.error("worker %s failed: %s", event.worker.name, text, exc_info=error)
            self.notify(text, severity="error", timeout=10)

    def action_toggle_log(self) -> None:
        pane = self.query_one(LogPane)
        pane.toggle()
        if not pane.display and self.query_one(TabbedContent).active == "directories":
            # Back on the table, whatever had the focus when the pane opened (at start, nothing):
            # Enter opens the details again.
            self.query_one(DirectoryTable).focus()

    def action_log_filter(self) -> None:
        self.query_one(LogPane).open_filter()

    def action_log_pane(self, action: str) -> None:
        """A log pane action from the palette: the pane is shown first (its keys work inside it)."""
        pane = self.query_one(LogPane)
        pane.show()
        self.call_later(self.run_action, action, pane)

    def on_unmount(self) -> None:
        if self.exit_grace is not None:  # a console process that ends with this app (run_console)
            self._exit_watchdog = exit_watchdog.arm(self.exit_grace)
            # A sync thread blocked on an answer that Identity (or a proxy) drips would hold the
            # exit until the request's deadline: as `run` does on SIGTERM, cut it after a grace.
            # Every request of the process is cut, so only where the process is ending.
            # Imported here, not before the first paint; light (no httpx), and a sync that opens
            # its first request after this point is cut too.
            from smartsync_tui.targets.identity import network as identity_network

            threading.Thread(target=identity_network.cut_open_requests, args=(threading.Event(),),
                             name="identity-cut-on-quit", daemon=True).start()
        if isinstance(self.engine, LocalEngine):
            # Its runs stop after their batch (their workers end with the process, bounded by the
            # watchdog above), its login checks after the checks in flight; the channel closes.
            self.engine.stop()
        # Absent when the console closed before it was mounted (its browser tab went at once).
        handler = getattr(self, "_log_handler", None)
        if handler is not None:
            log_bridge.uninstall(handler)
        self.state.close()


# After the console closed, how long a thread may hold up the process (a sync thread finishing
# its batch); then it exits without it (ui/exit_watchdog.py).
EXIT_GRACE_SECONDS = 20.0


def _collector_after_first_screen() -> None:
    # Long-lived objects (widgets, styles, caches) out of the collector's way: full collections
    # of them were the console's worst key latencies. Then collection goes on (the console's
    # start turned it off until now: cli/main.py).
    gc.freeze()
    gc.enable()


def _run_app(app: SmartSyncApp) -> None:
    app.exit_grace = EXIT_GRACE_SECONDS
    try:
        app.run()
    finally:
        if app._exit_watchdog is not None:
            app._exit_watchdog.disarm()  # closed in time: what follows is the caller's
    exit_watchdog.arm_at_interpreter_exit(EXIT_GRACE_SECONDS)


def run_console(home: Home, *, initial_tab: str = "home", show_log: bool = False) -> int:
    try:
        settings = load_settings(home.settings_file)
    except UserError as exc:
        # Shown before the screen switches to the console, so it stays readable.
        print(f"error: {exc}")
        return 2
    set_language(detect_language(settings.language))
    try:
        lock = acquire_lock(home, "console")
    except EngineRunning as running:
        mode = running.holder.get("mode")
        _run_app(SmartSyncApp(home, settings, attached_pid=running.pid,
                              attached_mode=mode if isinstance(mode, str) else None,
                              initial_tab=initial_tab, show_log=show_log))
        return 0
    with lock:  # one engine per home: `smartsync-tui run` refuses while this console syncs
        _run_app(SmartSyncApp(home, settings, serve_channel=True, initial_tab=initial_tab, show_log=show_log))
    return 0

"""The command palette's console commands: every action of the console, with its key.

Each entry names the action, the binding whose key runs it (the key shown is read
from that binding, so the palette says what the footer and the help screen say),
and a line that tells what the title does not. A key that only works on one tab
(the Active Directory tab's selection, the Home tab's buttons) is run from the
palette on that tab: the tab is shown first, so the admin sees what it acts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.keys import format_key

from smartsync_tui.ui.i18n import N_, _
from smartsync_tui.ui.widgets.log_pane import LogPane

if TYPE_CHECKING:
    from smartsync_tui.ui.app import SmartSyncApp

HOME, DIRECTORIES = "home", "directories"


@dataclass(frozen=True)
class ConsoleCommand:
    title: str  # N_: the palette's title (followed by the key)
    help: str  # N_: what it does, beyond the title
    action: str  # the app's action_<name> the palette runs
    binding: str | None = None  # the id of the binding whose key runs it, where one does
    key: str | None = None  # a key that is no binding of ours (the table's Enter)
    tab: str | None = None  # the tab it acts on: shown first


COMMANDS: tuple[ConsoleCommand, ...] = (
    ConsoleCommand(N_("Home"), N_("Identity connection, proxy, event logs and the engine's status"),
                   "show_tab('home')", binding="tab-home"),
    ConsoleCommand(N_("Active Directory"), N_("The directories, their sync state, and the live log"),
                   "show_tab('directories')", binding="tab-directories"),
    ConsoleCommand(N_("Sync now"), N_("A delta of the selected directory now: the changes since its last run"),
                   "sync_now", binding="sync-now", tab=DIRECTORIES),
    ConsoleCommand(N_("Full sync"), N_("Read all of the selected directory and reconcile Identity with it"),
                   "full_sync", binding="full-sync", tab=DIRECTORIES),
    ConsoleCommand(N_("Preview"), N_("A dry run of the selected directory: every change it would make, none made"),
                   "preview", binding="preview", tab=DIRECTORIES),
    ConsoleCommand(N_("Details"), N_("The selected directory's recent runs and errors, login checks, skipped objects"),
                   "details", key="enter", tab=DIRECTORIES),
    ConsoleCommand(N_("Add"), N_("Add a directory: server, admin user, base DN and token, checked before saving"),
                   "add_directory", binding="add-directory"),
    ConsoleCommand(N_("Edit"), N_("Change the selected directory's server, account, scope or token"),
                   "edit_directory", binding="edit-directory", tab=DIRECTORIES),
    ConsoleCommand(N_("Delete"), N_("Delete the selected directory with its state and secrets (asks first)"),
                   "delete_directory", binding="delete-directory", tab=DIRECTORIES),
    ConsoleCommand(N_("Setup wizard"), N_("Identity, proxy and a directory, step by step; nothing saved until checked"),
                   "setup_wizard", binding="setup-wizard"),
    ConsoleCommand(N_("Log"), N_("Show or hide the live log pane"), "toggle_log", binding="toggle-log"),
    ConsoleCommand(N_("Log filter"), N_("Show only the log lines that contain a text (the pane opens)"),
                   "log_pane('focus_filter')", binding="log-pane.filter"),
    ConsoleCommand(N_("Log level"), N_("Show DEBUG and up, INFO and up, WARNING and up, or ERROR only"),
                   "log_pane('cycle_level')", binding="log-pane.level"),
    ConsoleCommand(N_("Pause or follow the log"), N_("Stop the log pane on what it shows to read it, or follow again"),
                   "log_pane('toggle_follow')", binding="log-pane.follow"),
    ConsoleCommand(N_("Wrap log lines"), N_("Wrap long log lines, or cut them and scroll sideways"),
                   "log_pane('toggle_wrap')", binding="log-pane.wrap"),
    ConsoleCommand(N_("Export logs"), N_("Choose the event log and the period, then Export writes them to a .txt"),
                   "export_logs", tab=HOME),
    ConsoleCommand(N_("Test connection"), N_("Check that Identity answers, for each environment the directories use"),
                   "test_connection", tab=HOME),
    ConsoleCommand(N_("Help"), N_("The keys of the screen in front, and what each does"), "help",
                   binding="help"),
)


def command_help(binding_id: str | None) -> str:
    """What the palette says a binding's action does (translated); "" for a binding it does not list."""
    for command in COMMANDS:
        if binding_id is not None and command.binding == binding_id:
            return _(command.help)
    return ""


def key_text(key: str) -> str:
    """A key as the palette shows it: the character it types when it is one (``/``, ``?``), else its name."""
    shown = format_key(key)
    return shown if len(shown) == 1 and shown.isascii() and shown.isprintable() else key


def binding_keys(binding_id: str, *bindings: Iterable[BindingType]) -> list[str]:
    """The keys of the binding with this id, as written (``["delete", "x"]``); [] when none has it."""
    for group in bindings:
        for binding in group:
            if isinstance(binding, Binding) and binding.id == binding_id:
                return [key.strip() for key in binding.key.split(",")]
    return []


def system_commands(app: SmartSyncApp, run: Callable[[ConsoleCommand], None]) -> Iterable[SystemCommand]:
    """The console's commands for the palette; ``run`` carries one out."""
    for command in COMMANDS:
        keys = [command.key] if command.key else binding_keys(command.binding or "", app.BINDINGS, LogPane.BINDINGS)
        title = _(command.title)
        if keys:
            title = f"{title} ({key_text(keys[0])})"
        # Separate facts, each one message, shown side by side with a middle dot.
        facts = [_(command.help)]
        if len(keys) > 1:
            facts.append(_("keys {keys}").format(keys=" ".join(key_text(key) for key in keys)))
        if command.tab == DIRECTORIES:
            facts.append(_("Active Directory tab"))
        elif command.tab == HOME:
            facts.append(_("Home tab"))
        yield SystemCommand(title, " · ".join(facts), lambda command=command: run(command))

"""Help (``?`` or F1): the keys of the screen in front, grouped by where they act.

Read from Textual's active bindings when it opens (the focused widget's and its
containers', the screen's, the console's), so it lists what works there and then:
a key a ``check_action`` turns off is left out, one it only greys out is marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    RadioSet,
    Static,
    TabbedContent,
    Tabs,
)

from smartsync_tui.ui.i18n import N_, _, translate_bindings
from smartsync_tui.ui.widgets.footer import ConsoleFooter


@dataclass
class KeyRow:
    keys: list[str]
    description: str
    tooltip: str
    enabled: bool


@dataclass
class KeyGroup:
    title: str
    rows: list[KeyRow] = field(default_factory=list)


def _group_title(namespace: DOMNode, screen: Screen[object]) -> str:
    # Imported here: the widgets' modules import the console's screens, which import this one.
    from smartsync_tui.ui.widgets.directory_table import DirectoryTable
    from smartsync_tui.ui.widgets.log_pane import LogPane, LogView

    if isinstance(namespace, App):
        return _("Everywhere in the console")
    if namespace is screen:
        return _("This screen")
    for kind, title in ((DirectoryTable, N_("Directory table")), (LogView, N_("Log lines")),
                        (LogPane, N_("Log pane")), (DataTable, N_("Table")), (Input, N_("Text field")),
                        (Tabs, N_("Tabs")), (TabbedContent, N_("Tabs")), (RadioSet, N_("Choices")),
                        (Checkbox, N_("Checkbox")), (Button, N_("Button"))):
        if isinstance(namespace, kind):
            return _(title)
    return namespace.BINDING_GROUP_TITLE or type(namespace).__name__


def key_groups(screen: Screen[object]) -> list[KeyGroup]:
    """The keys that work on ``screen`` now, grouped by the node that binds them, nearest the focus first."""
    app = screen.app
    found: dict[tuple[int, str], KeyRow] = {}
    groups: dict[int, KeyGroup] = {}

    def add(namespace: DOMNode, key: str, binding: Binding, enabled: bool) -> None:
        if binding.system or not binding.description:
            return  # Textual's own plumbing (ctrl+c's hint that it no longer quits, and the like)
        group = groups.setdefault(id(namespace), KeyGroup(_group_title(namespace, screen)))
        row = found.get((id(namespace), binding.action))
        shown = app.get_key_display(binding.with_key(key))
        # A binding with no tooltip of its own says what the palette says of it: one text for both.
        from smartsync_tui.ui.commands import command_help

        tooltip = binding.tooltip or command_help(binding.id)
        if row is None:
            row = found[(id(namespace), binding.action)] = KeyRow([], binding.description, tooltip, enabled)
            group.rows.append(row)
        elif binding.id is not None:
            # Ours (they all have ids) over Textual's own for the same action (its ctrl+q quit says
            # nothing of the question ours asks first).
            row.description, row.tooltip = binding.description, tooltip
        if shown not in row.keys:
            row.keys.append(shown)

    for key, active in screen.active_bindings.items():
        add(active.node, key, active.binding, active.enabled)
    if screen.is_modal:
        # A modal screen's chain stops at the screen; the console's priority keys (help, palette,
        # quit) still reach it, and Textual's active bindings leave them out.
        for key, binding in app._bindings:  # Textual 8's map, as i18n.translate_bindings reads it
            if binding.priority and key not in screen.active_bindings and app.check_action(binding.action, ()):
                add(app, key, binding, True)
    # The screen's own actions first (a dialog's; on the console's main screen, the console's):
    # what the admin looks for; then the focused widget's and its containers', nearest first.
    first = id(screen) if screen.is_modal else id(app)
    ordered = sorted(groups.items(), key=lambda item: item[0] != first)
    return [group for _id, group in ordered if group.rows]


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened over (``key_groups`` of that screen, read when it opens)."""

    BINDINGS = [Binding("escape,question_mark,f1", "close", N_("Close"), id="help-close",
                        tooltip=N_("Back to the screen"))]

    def __init__(self, groups: list[KeyGroup], where: str) -> None:
        super().__init__()
        translate_bindings(self)
        self._groups = groups
        self._where = where

    def compose(self) -> ComposeResult:
        # One width for the keys of every group, so that the descriptions line up down the screen.
        key_width = max((len(" ".join(row.keys)) for group in self._groups for row in group.rows), default=1)
        with Vertical(id="help-dialog"):
            yield Static(Text(_("Keys: {where}").format(where=self._where), end=""), id="help-title")
            with VerticalScroll(id="help-keys"):
                for group in self._groups:
                    yield Static(Text(group.title, end=""), classes="help-group")
                    yield Static(self._table(group, key_width), classes="help-table")
        yield ConsoleFooter()

    def _table(self, group: KeyGroup, key_width: int) -> Table:
        table = Table(show_header=False, box=None, padding=(0, 1), expand=True)
        table.add_column(no_wrap=True, style="bold", min_width=key_width)
        table.add_column(ratio=1)
        for row in group.rows:
            text = Text(row.description, end="")
            if row.tooltip:
                text.append(" · " + row.tooltip, style="dim")
            if not row.enabled:
                text.append(" ").append(_("(not now)"), style="italic")
            table.add_row(Text(" ".join(row.keys), end="", style="" if row.enabled else "dim"), text)
        return table

    def action_close(self) -> None:
        self.dismiss(None)

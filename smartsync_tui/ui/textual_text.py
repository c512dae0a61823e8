"""Textual's own words that reach the screen, in the console's language.

Textual 8 (pinned) writes its command palette, its system commands and its widgets' key
descriptions in English, at import. The console translates them where they are shown: the
palette and the system commands in ``SmartSyncApp`` (ui/app.py), the key descriptions per
widget instance with ``translate_bindings`` once a widget is in the focus chain (that is what
the keys panel and the footer list). The msgids below are Textual's exact English, so an
English console shows Textual's text unchanged; N_ puts them in the catalogue.
"""

from __future__ import annotations

from textual.dom import DOMNode

from smartsync_tui.ui.i18n import N_, _, translate_bindings

# The palette itself (textual.command.CommandPalette, App.search_themes, App.__init__'s binding).
SEARCH_COMMANDS = N_("Search for commands…")
SEARCH_THEMES = N_("Search for themes…")
PALETTE_BINDING_TEXTS = (N_("palette"), N_("Open the command palette"))

# App.get_system_commands: (title, help) of each, in Textual's order.
THEME = (N_("Theme"), N_("Change the current theme"))
QUIT = (N_("Quit"), N_("Quit the application as soon as possible"))
HIDE_KEYS = (N_("Keys"), N_("Hide the keys and widget help panel"))
SHOW_KEYS = (N_("Keys"), N_("Show help for the focused widget and a summary of available keys"))
MINIMIZE = (N_("Minimize"), N_("Minimize the widget and restore to normal size"))
MAXIMIZE = (N_("Maximize"), N_("Maximize the focused widget"))
SCREENSHOT = (N_("Screenshot"), N_("Save an SVG 'screenshot' of the current screen"))

# The BINDINGS descriptions and tooltips of the Textual classes the console uses (App, Screen,
# DataTable, Input, Select and its menu, Tabs, RadioSet, Checkbox, Button, scrolling containers):
# only listed here so the catalogue has them; translate_bindings looks each one up.
BINDING_TEXTS = (
    N_("Quit the app and return to the command prompt."),
    N_("Focus Next"), N_("Focus Previous"), N_("Copy selected text"),
    N_("Cursor up"), N_("Cursor down"), N_("Cursor left"), N_("Cursor right"),
    N_("Home"), N_("End"), N_("Page up"), N_("Page down"), N_("Page Left"), N_("Page Right"),
    N_("Select"), N_("Top"), N_("Bottom"),
    N_("Scroll Up"), N_("Scroll Down"), N_("Scroll Left"), N_("Scroll Right"),
    N_("Scroll Home"), N_("Scroll End"), N_("Page Up"), N_("Page Down"),
    N_("Move cursor left"), N_("Move cursor right or accept the completion suggestion"),
    N_("Go to start"), N_("Go to end"),
    N_("Move cursor left and select"), N_("Move cursor left a word"), N_("Move cursor left a word and select"),
    N_("Move cursor right and select"), N_("Move cursor right a word"), N_("Move cursor right a word and select"),
    N_("Delete character left"), N_("Delete character right"), N_("Select all"),
    N_("Select line start"), N_("Select line end"), N_("Submit"),
    N_("Delete left to start of word"), N_("Delete all to the left"),
    N_("Delete right to start of word"), N_("Delete all to the right"),
    N_("Cut selected text"), N_("Paste text from the clipboard"),
    N_("Show menu"), N_("Dismiss menu"), N_("Up"), N_("Down"), N_("First"), N_("Last"),
    N_("Previous tab"), N_("Next tab"), N_("Previous option"), N_("Next option"), N_("Toggle"),
    N_("Press button"),
)
# A widget's BINDING_GROUP_TITLE heads its keys in the keys panel (Textual's Input has one).
GROUP_TITLES = (N_("Input"),)


def translate_focus_chain(widget: DOMNode) -> None:
    """Translate the key descriptions of ``widget`` and its ancestors (each node once).

    The keys panel and the footer list the bindings of the focus chain: a node gets its
    translated copy the first time focus reaches it.
    """
    translate = _  # an alias: the msgids are the N_ above
    for node in widget.ancestors_with_self:
        translate_bindings(node)
        title = getattr(node, "BINDING_GROUP_TITLE", None)
        if title in GROUP_TITLES:  # Textual's English (an instance's own value is already translated)
            node.BINDING_GROUP_TITLE = translate(title)  # type: ignore[union-attr]

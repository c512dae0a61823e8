"""Keys work where people expect them (issue 10, section 4), pressed as an admin presses them.

No servers: a directory that is never reached (scheduler off), and, where a sync must be
running, a worker in the directory's sync group that waits until the test lets it go.
"""

from __future__ import annotations

import itertools
import logging
import threading

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, Static

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, DirectorySettings, save_settings
from smartsync_tui.ui import app as app_module
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.screens.confirm_quit import ConfirmQuitDialog
from smartsync_tui.ui.screens.details import DirectoryDetails
from smartsync_tui.ui.screens.help import HelpScreen
from smartsync_tui.ui.widgets.directory_table import DirectoryTable
from smartsync_tui.ui.widgets.log_pane import LogPane, LogView, wrap_rows
from tests.support.waiting import wait_until_async

SIZES = [(80, 24), (120, 40)]
sizes = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
CORP = DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.invalid", bind_user="svc@corp.invalid",
                         base_dn="DC=corp,DC=invalid")


def console(tmp_path, **kwargs) -> SmartSyncApp:  # type: ignore[no-untyped-def]
    home = resolve_home(tmp_path / "home").ensure()
    settings = AppSettings(directories=[CORP])
    save_settings(home.settings_file, settings)
    return SmartSyncApp(home, settings, scheduler=False, **kwargs)


def hint(app: SmartSyncApp) -> str:
    return str(app.query_one("#directory-hint", Static).render())


def help_rows(app: SmartSyncApp) -> dict[str, list[str]]:
    """The help screen's groups: title -> the descriptions listed under it."""
    assert isinstance(app.screen, HelpScreen)
    return {group.title: [row.description for row in group.rows] for group in app.screen._groups}


def toasts(app: SmartSyncApp) -> list[str]:
    return [n.message for n in app._notifications]


def hold_a_sync(app: SmartSyncApp, directory_id: str = "corp") -> threading.Event:
    """A worker in the directory's sync group, running until the returned event is set."""
    release = threading.Event()
    app.run_worker(lambda: release.wait(30), name=f"sync {directory_id}", group=f"sync-{directory_id}", thread=True)
    return release


async def palette_pick(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Open the palette, type ``text``, take the first hit (as an admin does)."""
    await pilot.press("ctrl+p")
    await wait_until_async(lambda: isinstance(pilot.app.screen, CommandPalette), 5, "the palette")
    await pilot.press(*text)
    await pilot.pause(0.5)  # the palette searches in a worker
    await pilot.press("enter")
    await pilot.pause()


# -- help: ? and F1


@sizes
async def test_question_mark_and_f1_list_the_keys_of_the_screen_in_front(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("d")
        await pilot.press("question_mark")
        await pilot.pause()
        groups = help_rows(app)
        assert {"Sync now", "Preview", "Delete", "Log", "Log filter", "Help"} <= set(groups["Everywhere in the console"])
        assert "Select" in groups["Directory table"]  # the table's Enter: the focused widget's keys
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen) and isinstance(app.focused, DirectoryTable)

        await pilot.press("enter")  # the details, then F1 on them: their keys, not the console's
        await pilot.pause()
        assert isinstance(app.screen, DirectoryDetails)
        await pilot.press("f1")
        await pilot.pause()
        groups = help_rows(app)
        assert {"Close", "Runs", "Login checks", "Skipped"} <= set(groups["This screen"])
        assert "Sync now" not in {d for rows in groups.values() for d in rows}
        await pilot.press("f1")  # the key that opened it closes it too
        await pilot.pause()
        assert isinstance(app.screen, DirectoryDetails)


@sizes
async def test_help_leaves_out_what_the_home_tab_turns_off(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        listed = {d for rows in help_rows(app).values() for d in rows}
        assert {"Home", "Active Directory", "Log", "Help", "Quit"} <= listed
        assert not {"Sync now", "Add", "Edit", "Delete", "Preview", "Setup wizard"} & listed


@sizes
async def test_typing_help_in_the_palette_finds_it(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        await palette_pick(pilot, "help")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, (HelpScreen, CommandPalette))


async def test_a_question_mark_typed_in_a_field_stays_in_the_field(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.query_one("#log-path", Input)
        field.focus()
        field.value = ""
        await pilot.press("question_mark", "slash")
        assert field.value == "?/" and not isinstance(app.screen, HelpScreen)
        assert not app.query_one(LogPane).display


# -- / opens the log filter from anywhere


@sizes
async def test_slash_opens_the_log_filter_from_anywhere(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(LogPane)
        assert not pane.display
        await pilot.press("slash")  # on the Home tab, the pane hidden
        assert pane.display and app.focused is pane.query_one("#log-pane-filter", Input)
        await pilot.press(*"corp")
        assert pane.text_filter == "corp"
        await pilot.press("enter", "d", "l")
        assert not pane.display
        await pilot.press("slash")  # on the Active Directory tab, from the table
        assert pane.display and isinstance(app.focused, Input)


# -- focus back on the table; a hint of what works there


@sizes
async def test_the_table_has_the_focus_again_after_the_log_pane_and_enter_opens_details(tmp_path, size):
    # As the demo opens: the Active Directory tab, the log shown.
    app = console(tmp_path, initial_tab="directories", show_log=True)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for keys in (["l"], ["l", "l"], ["l"]):  # hide; show and hide; show (then d, as the hint says)
            await pilot.press(*keys)
            if app.query_one(LogPane).display:
                assert isinstance(app.focused, LogView)
                assert "space pause" in hint(app) and "d table" in hint(app) and "Enter details" not in hint(app)
                await pilot.press("d")
            assert isinstance(app.focused, DirectoryTable), keys
            assert "Enter details" in hint(app)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, DirectoryDetails), keys
            await pilot.press("escape")
            await pilot.pause()


async def test_the_hint_follows_the_focus(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        assert hint(app) == "Enter details · s sync · f full · p preview · a add · e edit · x delete"
        await pilot.press("slash")
        assert hint(app) == "Enter done · Esc clear"
        await pilot.press("escape")  # back on the lines
        assert hint(app).startswith("space pause · v level · / filter · W wrap · l hide")
        await pilot.press("l")
        assert hint(app).startswith("Enter details")


# -- letters on the Home tab; quitting


@sizes
async def test_letters_on_the_home_tab_open_nothing_and_act_on_no_selection(tmp_path, monkeypatch, size):
    app = console(tmp_path)
    syncs: list[dict[str, object]] = []
    monkeypatch.setattr(app, "start_sync", lambda directory_id, **options: syncs.append(options))
    async with app.run_test(size=size) as pilot:
        app.query_one("#identity-edit").focus()  # a button has the focus, not a field
        await pilot.press(*"aexspfw")
        await pilot.pause()
        assert app.screen is app.screen_stack[0] and len(app.screen_stack) == 1
        assert syncs == []
        footer_actions = {active.binding.action for active in app.screen.active_bindings.values()}
        assert not {"sync_now", "add_directory", "preview"} & footer_actions
        await pilot.press("d", "p")  # on the Active Directory tab the same keys act
        await pilot.pause()
        assert syncs == [{"dry_run": True}]


async def test_the_palette_runs_a_directory_command_on_its_tab(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await palette_pick(pilot, "details")
        await wait_until_async(lambda: isinstance(app.screen, DirectoryDetails), 5, "the details")
        assert app.query_one("TabbedContent").active == "directories"


@sizes
async def test_q_while_a_sync_runs_here_asks_first(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        release = hold_a_sync(app)
        try:
            await pilot.press("d", "q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmQuitDialog)
            assert "A sync of Corp is running" in str(app.screen.query_one("#quit-reasons", Static).render())
            await pilot.press("escape")  # stay
            await pilot.pause()
            assert app.is_running and not isinstance(app.screen, ConfirmQuitDialog)
            await pilot.press("q", "q")  # asked, and answered with the same key
            await pilot.pause()
            assert app._exit_renderables is not None and not app.is_running
        finally:
            release.set()


async def test_q_without_a_sync_quits_at_once(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d", "q")
        await pilot.pause()
        assert not app.is_running


async def test_an_attached_console_quits_without_asking(tmp_path):
    # Attached, the engine of another process syncs: closing the console stops nothing.
    app = console(tmp_path, attached_pid=4242, attached_mode="run")
    async with app.run_test(size=(80, 24)) as pilot:
        release = hold_a_sync(app)
        try:
            await pilot.press("d", "q")
            await pilot.pause()
            assert not app.is_running
        finally:
            release.set()


@sizes
async def test_ctrl_q_over_a_changed_directory_form_asks_first(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("d", "a")
        await pilot.pause()
        await pilot.press("ctrl+q")  # nothing typed yet: nothing to lose
        await pilot.pause()
        assert not app.is_running

    app = console(tmp_path / "typed")
    async with app.run_test(size=size) as pilot:
        await pilot.press("d", "a")
        await pilot.pause()
        dialog = app.screen
        await pilot.press(*"dc9")  # the server field has the focus
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmQuitDialog)
        assert "not saved" in str(app.screen.query_one("#quit-reasons", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is dialog and app.is_running


async def test_ctrl_q_in_the_setup_wizard_asks_first(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d", "w")
        await pilot.pause()
        wizard = app.screen
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmQuitDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is wizard


# -- the palette: every action, its key, a description that adds to the title


async def test_the_palette_lists_every_action_with_its_key_and_what_it_does(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        found = {command.title: command.help for command in app.get_system_commands(app.screen)}
    for title in ("Details (enter)", "Export logs", "Test connection", "Log level (v)", "Log filter (/)",
                  "Pause or follow the log (space)", "Wrap log lines (W)", "Help (?)", "Sync now (s)",
                  "Full sync (f)", "Preview (p)", "Add (a)", "Edit (e)", "Delete (delete)", "Setup wizard (w)",
                  "Log (l)", "Home (h)", "Active Directory (d)"):
        assert title in found, title
        name = title.split(" (")[0]
        assert found[title].lower() not in (name.lower(), "")  # it says more than the title
    assert "x" in found["Delete (delete)"]  # its other key
    for textual_own in ("Theme", "Keys", "Screenshot", "Quit"):
        assert textual_own in found


async def test_the_palette_over_a_dialog_offers_its_keys_and_help(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d", "enter")
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
    assert {"Help (?)", "Runs (1)", "Login checks (2)", "Skipped (3)"} <= titles
    assert "Sync now (s)" not in titles


async def test_palette_log_commands_open_the_pane_first(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await palette_pick(pilot, "log level")
        assert pane.display and pane.min_level == logging.INFO
        await palette_pick(pilot, "wrap log")
        assert not pane.wrap


async def test_the_palette_export_logs_goes_to_the_home_tab_export(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await palette_pick(pilot, "export logs")
        assert app.query_one("TabbedContent").active == "home"
        assert app.focused is app.query_one("#log-since", Input)


# -- screenshots


@pytest.mark.parametrize("downloads", [True, False], ids=["downloads", "no-downloads"])
async def test_a_screenshot_goes_to_downloads_or_the_data_dir_and_says_where(tmp_path, monkeypatch, downloads):
    folder = tmp_path / "Downloads"
    if downloads:
        folder.mkdir()
    monkeypatch.setattr(app_module, "user_downloads_path", lambda: folder)
    app = console(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await palette_pick(pilot, "screenshot")
        saved = await wait_until_async(lambda: [t for t in toasts(app) if t.startswith("Screenshot saved to ")], 10,
                                       "the screenshot's notification")
    path = saved[0].removeprefix("Screenshot saved to ")
    expected = folder if downloads else app.home.data_dir
    assert path.startswith(str(expected)) and path.endswith(".svg")
    assert (expected / path.rsplit("/", 1)[1]).read_text().startswith("<svg")
    assert "[" not in saved[0]  # no markup shown as text


# -- the log pane wraps


def test_wrap_rows_keeps_every_character_within_the_width():
    text = "10:00:01 WARNING smartsync.sync corp: skipped CN=Impressora do 3º andar,OU=Devices,DC=corp " * 3
    for width in (20, 39, 79):
        starts = wrap_rows(text, width)
        rows = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
        assert "".join(rows) == text
        assert all(len(row.rstrip(" ")) + (2 if i else 0) <= width for i, row in enumerate(rows))
    assert wrap_rows("short", 80) == [0]
    wide = "名前" * 30  # two cells each
    starts = wrap_rows(wide, 20)
    assert starts[1] == 10 and all(b - a <= 9 for a, b in itertools.pairwise(starts[1:]))


@sizes
async def test_long_log_lines_wrap_and_w_cuts_them(tmp_path, size):
    app = console(tmp_path)
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("d", "l")
        long_line = "10:00:01 ERROR smartsync.identity corp: " + " ".join(f"word{i}" for i in range(60))
        pane.add_lines([(logging.INFO, "short line"), (logging.ERROR, long_line)])
        await pilot.pause()
        view = app.query_one(LogView)
        width = view.scrollable_content_region.width
        assert view.wrap and view.row_count > 3 and view.virtual_size.width <= width
        shown = [view.render_line(y).text for y in range(view.size.height)]
        assert " ".join(row.strip() for row in shown if row.strip()).endswith("word59")  # the whole line, on screen
        await pilot.press("W")
        await pilot.pause()
        assert not view.wrap and view.row_count == 2 and view.virtual_size.width > width
        await pilot.press("W")
        await pilot.pause()
        assert view.wrap and view.is_vertical_scroll_end


async def test_wrapped_rows_follow_a_resize_and_old_lines_leaving(tmp_path):
    app = console(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("d", "l")
        view = app.query_one(LogView)
        view.max_lines = 50
        pane.add_lines([(logging.INFO, f"line {i} " + "x " * 90) for i in range(80)])
        await pilot.pause()

        def rows_at_width() -> int:
            width = view.scrollable_content_region.width
            return sum(len(wrap_rows(text, width)) for text in view.texts)

        assert view.line_count == 50 and view.row_count == rows_at_width() == 100  # two rows each at 120
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert view.row_count == rows_at_width() == 150 and view.is_vertical_scroll_end  # three at 80
        assert view.render_line(view.size.height - 1).text.strip().endswith("x")

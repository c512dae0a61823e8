"""Every screen and dialog of the console in Brazilian Portuguese at 80x24: the same set-ups as the English
snapshots (imported from their modules), plus the command palette and Textual's keys panel."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from smartsync_tui.ui.screens.directory_form import DirectoryFormDialog
from smartsync_tui.ui.screens.wizard import SetupWizard
from smartsync_tui.ui.widgets.home_tab import HomeTab
from tests import test_console_dialogs as dialogs
from tests import test_console_home as home
from tests import test_console_shell as shell
from tests import test_console_wizard as wizard
from tests.test_console_wizard import _no_environment_overrides  # noqa: F401  (autouse, as for the wizard's)
from tests.test_log_pane import LogPaneHost, show_the_snapshot_lines

SIZE = (80, 24)
pytestmark = pytest.mark.usefixtures("portuguese")


async def _no_blink(pilot) -> None:  # type: ignore[no-untyped-def]
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


# -- the main screens


def test_home_tab(monkeypatch, snap_compare):
    assert snap_compare(home._snapshot_app(monkeypatch), terminal_size=SIZE)


def test_directories_tab(tmp_path, snap_compare):
    assert snap_compare(shell._app(tmp_path), press=["d"], terminal_size=SIZE)


def test_bracketed_names_in_the_table(snap_compare, monkeypatch):
    app = dialogs._app(monkeypatch)
    app.settings.directories = [
        dialogs.CORP.model_copy(update={"display_name": "Compras [SP]",
                                        "base_dn": "OU=Projetos [/2019],DC=corp,DC=example"}),
        dialogs.CORP.model_copy(update={"id": "ti", "display_name": "[TI] Suporte [b]x[/b] [@click=app.quit]"}),
    ]
    dialogs.save_settings(app.home.settings_file, app.settings)
    assert snap_compare(app, terminal_size=SIZE, press=["d"])


# -- the setup wizard and the directory dialog


def test_wizard_identity_step(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE, run_before=wizard._showing(SetupWizard))


def test_wizard_proxy_step(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE, run_before=wizard._showing(SetupWizard, "ctrl+n"))


def test_wizard_directory_step(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE,
                        run_before=wizard._showing(SetupWizard, "ctrl+n", "ctrl+n"))


def test_wizard_manual_proxy(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE,
                        run_before=wizard._showing(SetupWizard, *wizard.MANUAL_PROXY_KEYS))


def test_wizard_refusal(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE,
                        run_before=wizard._showing(SetupWizard, *wizard.REFUSAL_KEYS))


def test_wizard_discard_question(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE, run_before=wizard._showing(SetupWizard, "escape"))


def test_add_directory_dialog(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE, run_before=wizard._showing(DirectoryFormDialog))


def test_edit_directory_dialog(snap_compare):
    assert snap_compare(wizard._snapshot_app(), terminal_size=SIZE,
                        run_before=wizard._showing(lambda: DirectoryFormDialog(wizard.EXISTING)))


# -- the Active Directory tab's dialogs and screens


def test_delete_dialog(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, run_before=dialogs.open_delete)


def test_threshold_dialog(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, run_before=dialogs.open_threshold)


def test_preview_screen(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, run_before=dialogs.open_preview)


def test_details_screen(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, run_before=dialogs.details_opener(monkeypatch))


def test_details_login_checks(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE,
                        run_before=dialogs.login_checks_opener(monkeypatch))


def test_row_view(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, run_before=dialogs.open_row_view)


def test_help_screen(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, press=dialogs.HELP_KEYS)


async def _ask_to_quit_while_corp_syncs(pilot) -> None:  # type: ignore[no-untyped-def]
    """The question as the console words it (its own reason, in the language), over a sync of Corp."""
    app = pilot.app
    app.is_syncing = lambda directory_id: directory_id == "corp"
    await dialogs.quit_question_opener(app.quit_reasons())(pilot)


def test_quit_question(snap_compare, monkeypatch):
    assert snap_compare(dialogs._app(monkeypatch), terminal_size=SIZE, run_before=_ask_to_quit_while_corp_syncs)


# -- the Home tab's dialogs


def test_identity_dialog(monkeypatch, snap_compare):
    assert snap_compare(home._snapshot_app(monkeypatch), terminal_size=SIZE, run_before=home.open_identity_dialog)


def test_proxy_dialog(monkeypatch, snap_compare):
    assert snap_compare(home._snapshot_app(monkeypatch), terminal_size=SIZE, run_before=home.open_proxy_dialog)


def test_replace_file_dialog(monkeypatch, snap_compare):
    assert snap_compare(home._app_with_an_earlier_export(monkeypatch), terminal_size=SIZE, run_before=home.export_again)


# -- the log pane


def test_log_pane(snap_compare):
    assert snap_compare(LogPaneHost(), run_before=show_the_snapshot_lines, terminal_size=SIZE)


# -- Textual's own: the command palette and the keys panel


async def _open_the_palette(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("d")
    await pilot.press("ctrl+p")
    await pilot.pause(0.5)
    await _no_blink(pilot)


def test_command_palette(tmp_path, monkeypatch, snap_compare):
    monkeypatch.setattr(HomeTab, "default_clock", lambda: 1_800_000_000.0)
    assert snap_compare(shell._app(tmp_path), terminal_size=SIZE, run_before=_open_the_palette)


async def _open_the_keys_panel(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("d")
    pilot.app.action_show_help_panel()
    await pilot.pause(0.5)


def test_keys_panel(tmp_path, monkeypatch, snap_compare):
    monkeypatch.setattr(HomeTab, "default_clock", lambda: 1_800_000_000.0)
    assert snap_compare(shell._app(tmp_path), terminal_size=SIZE, run_before=_open_the_keys_panel)


async def _open_the_keys_panel_over_a_text_field(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.query_one("#log-since", Input).focus()
    await pilot.pause()
    pilot.app.action_show_help_panel()
    await pilot.pause(0.5)
    await _no_blink(pilot)


def test_keys_panel_over_a_text_field(tmp_path, monkeypatch, snap_compare):
    monkeypatch.setattr(HomeTab, "default_clock", lambda: 1_800_000_000.0)
    assert snap_compare(shell._app(tmp_path), terminal_size=SIZE, run_before=_open_the_keys_panel_over_a_text_field)

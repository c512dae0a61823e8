"""The console as an admin first sees it (no servers needed)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, DirectorySettings, save_settings
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.widgets.home_tab import HomeTab
from tests.support.tables import directory_row


# Snapshots show the settings path: a fixed home keeps them deterministic.
SNAPSHOT_HOME = Path(tempfile.gettempdir()) / "smartsync-snapshot-home"


def _app(tmp_path) -> SmartSyncApp:
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
    home = resolve_home(SNAPSHOT_HOME).ensure()
    settings = AppSettings()
    settings.directories.append(
        DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                          base_dn="DC=corp,DC=example")
    )
    save_settings(home.settings_file, settings)
    return SmartSyncApp(home, settings, scheduler=False)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_tabs_switch_by_key_and_list_directories(tmp_path, size):
    app = _app(tmp_path)
    async with app.run_test(size=size) as pilot:
        tabs = app.query_one(TabbedContent)
        assert tabs.active == "home"
        await pilot.press("d")
        assert tabs.active == "directories"
        table = app.query_one("#directory-table", DataTable)
        assert table.row_count == 1
        cells = directory_row(app)
        assert (cells["server"], cells["base_dn"], cells["target"], cells["sync"]) == (
            "dc1.corp.example", "DC=corp,DC=example", "Identity", "Not synced yet")
        await pilot.press("h")
        assert tabs.active == "home"


def _scim(directory_id: str, url: str) -> DirectorySettings:
    return DirectorySettings(id=directory_id, server="dc1.corp.example", bind_user="svc@corp.example",
                             base_dn="DC=corp,DC=example", target="scim", scim={"base_url": url})


async def test_the_header_names_where_the_directories_sync_to(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.sub_title == "engine paused · Identity: app.fluigidentity.com"
        # A SCIM directory beside an Identity one: both named.
        app.change_settings(lambda s: s.put_directory(_scim("aws", "https://scim.us-east-1.amazonaws.com/x/scim/v2")))
        await pilot.pause()
        assert app.sub_title == "engine paused · Identity: app.fluigidentity.com + SCIM: scim.us-east-1.amazonaws.com"
        # Every directory syncs to SCIM: there is no Identity to name, and two providers are counted.
        app.change_settings(lambda s: setattr(s, "directories", [d for d in s.directories if d.id != "corp"]))
        app.change_settings(lambda s: s.put_directory(_scim("okta", "https://acme.okta.com/scim/v2")))
        await pilot.pause()
        assert app.sub_title == "engine paused · SCIM: 2 providers"
        app.change_settings(lambda s: setattr(s, "directories", [d for d in s.directories if d.id != "okta"]))
        await pilot.pause()
        assert app.sub_title == "engine paused · SCIM: scim.us-east-1.amazonaws.com"
        assert "SCIM: scim.us-east-1.amazonaws.com" in str(app.screen.query_one("HeaderTitle").render())


def test_home_tab_snapshot(tmp_path, snap_compare, monkeypatch):
    monkeypatch.setattr(HomeTab, "default_clock", lambda: 1_800_000_000.0)
    assert snap_compare(_app(tmp_path), terminal_size=(80, 24))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_directories_tab_snapshot(tmp_path, snap_compare, size):
    assert snap_compare(_app(tmp_path), press=["d"], terminal_size=size)


async def test_the_command_palette_lists_every_action(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)):
        titles = {command.title for command in app.get_system_commands(app.screen)}
    for title in ("Sync now (s)", "Full sync (f)", "Preview (p)", "Add (a)", "Edit (e)", "Delete (delete)",
                  "Home (h)", "Active Directory (d)"):
        assert title in titles


@pytest.mark.parametrize("tab", ["h", "d"])
def test_main_screens_in_portuguese(tmp_path, snap_compare, monkeypatch, portuguese, tab):
    monkeypatch.setattr(HomeTab, "default_clock", lambda: 1_800_000_000.0)
    assert snap_compare(_app(tmp_path), press=[tab], terminal_size=(80, 24))


async def test_portuguese_labels(tmp_path, portuguese):
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        table = app.query_one("#directory-table", DataTable)
        headings = {c.key.value: str(c.label) for c in table.columns.values()}
        assert (headings["server"], headings["base_dn"], headings["sync"]) == ("Servidor", "DN base", "Sincronização")
        assert directory_row(app)["sync"] == "Ainda não sincronizado"


async def _palette_and_keys_panel(app) -> tuple[str, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """What an admin reads: the palette's placeholder and titles, then the keys panel's descriptions."""
    from textual.command import CommandInput
    from textual.widgets import OptionList
    from textual.widgets._key_panel import BindingsTable

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        placeholder = app.screen.query_one(CommandInput).placeholder
        options = app.screen.query_one(OptionList)
        titles = [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]
        await pilot.press("escape")
        await pilot.pause()
        app.action_show_help_panel()
        await pilot.pause(0.5)
        table = app.screen.query_one(BindingsTable).render_bindings_table()
        keys = [str(cell) for cell in table.columns[1]._cells]
    return placeholder, titles, keys


async def test_textual_texts_in_portuguese(tmp_path, portuguese):
    placeholder, titles, keys = await _palette_and_keys_panel(_app(tmp_path))
    assert placeholder == "Buscar comandos…"
    assert {"Tema", "Sair", "Teclas", "Captura de tela", "Adicionar (a)", "Excluir (delete)",
            "Sincronização completa (f)"} <= set(titles)
    assert not {"Theme", "Quit", "Keys", "Screenshot", "Maximize"} & set(titles)
    assert {"Cursor para cima", "Próximo campo", "Campo anterior", "paleta Abrir a paleta de comandos"} <= set(keys)
    english = ("Cursor", "Focus", "Page", "Copy", "Quit", "palette", "Select", "Top", "Bottom")
    assert not [k for k in keys if k.split(" ")[0] in english and not k.startswith("Cursor para")]


async def test_textual_texts_stay_textuals_in_english(tmp_path):
    placeholder, titles, keys = await _palette_and_keys_panel(_app(tmp_path))
    assert placeholder == "Search for commands…"
    assert {"Theme", "Quit", "Keys", "Screenshot", "Add (a)", "Full sync (f)"} <= set(titles)
    assert {"Cursor up", "Focus Next", "palette Open the command palette"} <= set(keys)


async def test_the_keys_panel_over_a_text_field_in_portuguese(tmp_path, portuguese):
    from textual.widgets import Input
    from textual.widgets._key_panel import BindingsTable

    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#log-since", Input).focus()
        await pilot.pause()
        app.action_show_help_panel()
        await pilot.pause(0.5)
        keys = [str(cell) for cell in app.screen.query_one(BindingsTable).render_bindings_table().columns[1]._cells]
    assert {"Campo de texto", "Apagar o caractere à esquerda", "Colar o texto da área de transferência"} <= set(keys)
    assert not [k for k in keys if k.split(" ")[0] in ("Input", "Move", "Delete", "Select", "Paste", "Submit")]

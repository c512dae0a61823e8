"""The live log pane: the engine's log as it is written, docked under the tabs.

Lines come from a source (``drain() -> [(levelno, text)]``, see
:mod:`smartsync_tui.ui.log_bridge`) that any thread may fill. A 100 ms timer on
the UI thread drains it and hands the whole batch to the view in one write, so
a burst of thousands of lines costs one refresh, not thousands, and key
presses keep their turn between ticks.

The view is a line-API widget (it renders only the rows on screen, one strip
per row, coloured by level) over a bounded deque; the pane keeps the newest
``max_lines`` lines (every level, unfiltered) so the level and text filters
can be changed after the fact.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Static

from smartsync_tui.core.text import printable
from smartsync_tui.ui import i18n
from smartsync_tui.ui.i18n import N_, _, ngettext
from smartsync_tui.ui.literal import literal
from smartsync_tui.ui.widgets.text_input import TextInput
from smartsync_tui.ui.log_bridge import LogLine, LogSource

DEFAULT_MAX_LINES = 5_000
# Longer lines are cut: one runaway line must not cost every render.
MAX_LINE_CHARS = 2_000
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


def _clean(text: str) -> str:
    # Tabs become spaces first; every other control, separator or bidi character is shown as '?'.
    return printable(text.expandtabs(), MAX_LINE_CHARS)


_ViewLine = tuple[int, int, str]  # (sequence number, level, text)


class LogView(ScrollView, can_focus=True):
    """Rows of log text, coloured by level; renders only what is on screen."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--error", "log-view--warning", "log-view--debug"}
    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow: auto;
        &:focus { background-tint: $foreground 5%; }
        & > .log-view--error { color: $text-error; }
        & > .log-view--warning { color: $text-warning; }
        & > .log-view--debug { color: $text-muted; }
    }
    """

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self._lines: deque[_ViewLine] = deque()
        self._width = 0
        self._styles_by_level: dict[int, Style] = {}
        # Whether the reader is at the last line. Measured only while the view is
        # on screen: a hidden (or not yet laid out) view has no height, and its
        # scroll position says nothing about where the reader wants to be.
        self._pinned = True
        self._following = True
        self._stuck_y = 0.0  # scroll_y right after the last stick to the end

    # -- content

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def texts(self) -> list[str]:
        return [text for _seq, _level, text in self._lines]

    def clear(self) -> None:
        self._lines.clear()
        self._width = 0
        self.virtual_size = Size(0, 0)
        self.refresh()

    def write_lines(self, lines: list[_ViewLine], *, follow: bool, oldest_kept: int = 0) -> None:
        """Append a batch, drop lines older than ``oldest_kept`` (or beyond ``max_lines``), one refresh."""
        if self.size.height:
            # At the end, or where the last stick to the end left it: a layout that came
            # after (a horizontal scrollbar taking a row) may have moved the end one row
            # further, and that is not the reader scrolling up.
            self._pinned = self.is_vertical_scroll_end or self.scroll_y >= self._stuck_y
        at_end = self._pinned
        self._following = follow
        if lines:
            self._lines.extend(lines)
            self._width = max(self._width, max(cell_len(text) for _seq, _level, text in lines))
        pruned = 0
        while self._lines and (len(self._lines) > self.max_lines or self._lines[0][0] < oldest_kept):
            self._lines.popleft()
            pruned += 1
        if not lines and not pruned:
            return
        self.virtual_size = Size(self._width, len(self._lines))
        if follow and at_end and not self.is_vertical_scrollbar_grabbed:
            self._stick_to_end()
        elif pruned and not at_end:
            # Someone is reading further up: keep the same lines in front of them.
            self.scroll_to(y=max(0, self.scroll_y - pruned), animate=False, immediate=True)
        self.refresh()

    def replace_lines(self, lines: Iterable[_ViewLine], *, follow: bool) -> None:
        self._lines = deque(lines)
        while len(self._lines) > self.max_lines:
            self._lines.popleft()
        self._width = max((cell_len(text) for _seq, _level, text in self._lines), default=0)
        self.virtual_size = Size(self._width, len(self._lines))
        self._following = follow
        if follow:
            self._pinned = True
            self._stick_to_end()
        self.refresh()

    def on_resize(self) -> None:
        # Shown again, or the terminal changed size: a reader who was at the end stays there.
        if self._following and self._pinned:
            self._stick_to_end()

    def _stick_to_end(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._stuck_y = self.scroll_y
        # A first long line brings the horizontal scrollbar, which takes a row
        # only at the next layout: go to the end again once it is there. (Only
        # then: with such a callback after every batch, a dialog opened over a
        # console receiving log lines lost its button clicks in the tests.)
        if self._width > self.size.width and not self.show_horizontal_scrollbar:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    # -- rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_by_level.clear()

    def _style(self, level: int) -> Style:
        style = self._styles_by_level.get(level)
        if style is None:
            if level >= logging.ERROR:
                component = "log-view--error"
            elif level >= logging.WARNING:
                component = "log-view--warning"
            elif level < logging.INFO:
                component = "log-view--debug"
            else:
                component = None
            style = self.rich_style
            if component is not None:
                # The full component style: a partial one loses the colour's alpha ($text-muted).
                style = style + self.get_component_rich_style(component)
            self._styles_by_level[level] = style
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, self.rich_style)
        _seq, level, text = self._lines[index]
        strip = Strip([Segment(text, self._style(level))])
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)


class LogPane(Vertical):
    """The log pane: a state line, a text filter and the lines. Hidden until :meth:`toggle`."""

    DEFAULT_CSS = """
    LogPane {
        /* The app's Footer docks at the bottom too: stand on it rather than under it. */
        dock: bottom;
        margin-bottom: 1;
        height: 45%;
        min-height: 6;
        display: none;
        background: $surface;
        & > #log-pane-bar { height: 1; background: $panel; }
        & #log-pane-state { width: 1fr; height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; text-style: bold; }
        & #log-pane-state.-paused { color: $text-warning; }
        & #log-pane-filter { width: 24; }
        & > LogView { height: 1fr; scrollbar-size-vertical: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_follow", N_("Pause/follow"), id="log-pane.follow", tooltip=N_("Stop or restart following new lines")),
        Binding("v", "cycle_level", N_("Level"), id="log-pane.level", tooltip=N_("Show DEBUG and up, INFO and up, WARNING and up, or ERROR only")),
        Binding("slash", "focus_filter", N_("Filter"), id="log-pane.filter", tooltip=N_("Show only lines containing a text")),
        Binding("escape", "clear_filter", N_("Clear filter"), id="log-pane.clear-filter", show=False,
                tooltip=N_("Show every line again")),
    ]

    following: reactive[bool] = reactive(True, init=False)
    min_level: reactive[int] = reactive(logging.DEBUG, init=False)
    text_filter: reactive[str] = reactive("", init=False)

    def __init__(
        self,
        source: LogSource | None = None,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        interval: float = 0.1,
        id: str | None = "log-pane",
        classes: str | None = None,
    ) -> None:
        # Disabled while hidden: nothing inside may take the focus (the app's
        # auto-focus would otherwise land on the hidden filter box).
        super().__init__(id=id, classes=classes, disabled=True)
        i18n.translate_bindings(self)
        self.source = source
        self.max_lines = max_lines
        self.interval = interval
        # What the view is made of (every level: the filters choose among them) ...
        self._entries: deque[_ViewLine] = deque(maxlen=max_lines)
        # ... and, while paused, the newest lines that arrived since: the paused view
        # (and a filter changed meanwhile) keeps its lines, resuming shows the newest.
        self._arrived: deque[_ViewLine] = deque(maxlen=max_lines)
        self._sequence = 0
        self._waiting = 0  # lines that arrived while paused, including those dropped since
        self._matcher: re.Pattern[str] | None = None
        self._timer: Timer | None = None
        self._focus_before: object | None = None
        self._last_state = ""

    def compose(self):  # type: ignore[no-untyped-def]
        with Horizontal(id="log-pane-bar"):
            yield Static(id="log-pane-state", markup=False)
            yield TextInput(placeholder=_("/ filter"), compact=True, id="log-pane-filter")
        yield LogView(self.max_lines)

    def on_mount(self) -> None:
        self._show_state()
        self._timer = self.set_interval(self.interval, self.drain_source, name="log-pane-drain")

    # -- what other code calls

    def attach(self, source: LogSource | None) -> None:
        """Read from another source from now on (the console's handler, or a FileFollower when attached)."""
        self.source = source

    def toggle(self) -> None:
        """Show the pane (focusing its lines) or hide it (giving focus back)."""
        if not self.display:
            self._focus_before = self.app.focused
            self.disabled = False
            self.display = True
            self.query_one(LogView).focus()
            return
        focused = self.app.focused
        self.display = False
        self.disabled = True
        if focused is not None and self in focused.ancestors_with_self:
            before = self._focus_before
            if before is not None and getattr(before, "is_attached", False):
                before.focus()  # type: ignore[attr-defined]
            else:
                self.screen.focus_next()
        self._focus_before = None

    def drain_source(self) -> None:
        """Take what the source has and show it (the timer calls this every ``interval``)."""
        if self.source is None:
            return
        try:
            batch = self.source.drain()
        except Exception as exc:  # noqa: BLE001 (a log that cannot be read must not take the console down)
            batch = [(logging.ERROR, _("The log pane cannot read its source: {error}").format(error=exc))]
            self.source = None
        if batch:
            self.add_lines(batch)

    def add_lines(self, batch: Iterable[LogLine]) -> None:
        """Keep these lines and, when following, show those that pass the filters: one write."""
        fresh: list[_ViewLine] = []
        for level, text in batch:
            for part in text.splitlines() or [""]:
                self._sequence += 1
                fresh.append((self._sequence, level, _clean(part)))
        if not fresh:
            return
        if not self.following:
            self._waiting += len(fresh)
            self._arrived.extend(fresh[-self.max_lines :])
        else:
            fresh = fresh[-self.max_lines :]
            self._entries.extend(fresh)
            self.query_one(LogView).write_lines(
                [line for line in fresh if self._passes(line)], follow=True, oldest_kept=self._entries[0][0]
            )
        self._show_state()

    @property
    def kept(self) -> int:
        """Lines in memory (every level; the filters choose among them): at most
        ``max_lines``, twice that while paused (the paused view's and the newest)."""
        return len(self._entries) + len(self._arrived)

    @property
    def shown(self) -> list[str]:
        """The lines the view holds now, oldest first."""
        return self.query_one(LogView).texts

    # -- filters and following

    def _passes(self, line: _ViewLine) -> bool:
        if line[1] < self.min_level:
            return False
        return self._matcher is None or self._matcher.search(line[2]) is not None

    def _rebuild(self) -> None:
        """Show again what is kept, through the filters (while paused: what it paused on)."""
        self.query_one(LogView).replace_lines(
            (line for line in self._entries if self._passes(line)), follow=self.following
        )
        self._show_state()

    def watch_following(self, following: bool) -> None:
        if following:
            self._entries.extend(self._arrived)
            self._arrived.clear()
            self._waiting = 0
            self._rebuild()
        else:
            self._show_state()

    def watch_min_level(self) -> None:
        self._rebuild()

    def watch_text_filter(self, text: str) -> None:
        self._matcher = re.compile(re.escape(text), re.IGNORECASE) if text else None
        self._rebuild()

    def action_toggle_follow(self) -> None:
        self.following = not self.following

    def action_cycle_level(self) -> None:
        index = LEVELS.index(self.min_level) if self.min_level in LEVELS else -1
        self.min_level = LEVELS[(index + 1) % len(LEVELS)]

    def action_focus_filter(self) -> None:
        self.query_one("#log-pane-filter", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            # Esc is only ours while there is a filter to clear or the filter box has the focus;
            # otherwise it goes on to the screen and the app.
            return bool(self.text_filter) or isinstance(self.app.focused, Input)
        return True

    def action_clear_filter(self) -> None:
        self.query_one("#log-pane-filter", Input).value = ""
        self.text_filter = ""
        self.query_one(LogView).focus()

    @on(Input.Changed, "#log-pane-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        self.text_filter = event.value

    @on(Input.Submitted, "#log-pane-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(LogView).focus()

    # -- the state line

    def state_text(self) -> str:
        view = self.query_one(LogView)
        if self.following:
            state = _("following")
        else:
            state = _("paused, {n} new").format(n=self._waiting)
        level = _("level ≥ {level}").format(level=logging.getLevelName(self.min_level))
        if self.text_filter or self.min_level > LEVELS[0]:
            count = ngettext("{shown} of {kept} line", "{shown} of {kept} lines", self.kept).format(
                shown=view.line_count, kept=self.kept
            )
        else:
            count = ngettext("{kept} line", "{kept} lines", self.kept).format(kept=self.kept)
        if self.text_filter:
            return " · ".join([_("Log"), state, level, _("text “{text}”").format(text=self.text_filter), count])
        return " · ".join([_("Log"), state, level, count])

    def _show_state(self) -> None:
        text = self.state_text()
        if text != self._last_state:
            self._last_state = text
            state = self.query_one("#log-pane-state", Static)
            state.update(literal(text))
            state.set_class(not self.following, "-paused")

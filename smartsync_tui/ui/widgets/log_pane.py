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

Long lines are wrapped (``W`` cuts them again, to scroll sideways): at 80
columns most engine lines are longer than the pane. Each line's row count at
the view's width is kept beside it (counted when it arrives, or all at once
when the width changes), and where each row starts is worked out only for the
lines drawn, and cached for that width.

Why one module (~620 lines): the pane, its line store and the filter bar share the
wrapping cache and the drain timing described above; they are tested together in a small
host app (tests/test_log_pane.py).
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from rich.cells import cell_len, get_character_cell_size
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

#: Cells a wrapped line's continuation rows are indented by, so that where a line starts stays plain.
WRAP_INDENT = 2
#: Wrapped lines whose row starts are kept (the rows drawn, and a few screens around them).
ROW_CACHE_LINES = 512


def wrap_rows(text: str, width: int, indent: int = WRAP_INDENT) -> list[int]:
    """Where each row of ``text`` starts (character offsets) when wrapped at ``width`` cells.

    Breaks after the last space that leaves a row at least half full, else at the width (a DN or a
    path has no space to break at); continuation rows are ``indent`` cells narrower. The space a row
    breaks at is not drawn.
    """
    if width <= indent + 4:
        indent = 0  # too narrow to indent: every row gets the whole width
    if width <= 0:
        return [0]
    narrow = len(text) == cell_len(text)  # one cell per character: offsets are cells (almost every line)
    starts = [0]
    start, room = 0, width
    end_of_text = len(text)
    while True:
        if narrow:
            if end_of_text - start <= room:
                return starts
            cut = start + room
        else:
            cells, cut = 0, start
            while cut < end_of_text:
                size = get_character_cell_size(text[cut])
                if cells + size > room:
                    break
                cells += size
                cut += 1
            if cut >= end_of_text:
                return starts
            cut = max(cut, start + 1)  # a character wider than the row still moves on
        space = text.rfind(" ", start + room // 2, cut + 1)
        if space > start:
            cut = space + 1  # the space ends this row, unseen
        starts.append(cut)
        start, room = cut, width - indent


class LogView(ScrollView, can_focus=True):
    """Rows of log text, coloured by level; renders only what is on screen.

    ``wrap``: long lines take as many rows as they need (the scroll unit is a row, so the
    scrollbar and the end stay exact); otherwise each line is one row, cut, and the view
    scrolls sideways.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--error", "log-view--warning", "log-view--debug"}
    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow: auto;
        /* Wrapped, the width is what the rows are counted for: a scrollbar that came and went
           with the row count would change it back and forth. */
        &.-wrap { overflow-x: hidden; overflow-y: scroll; }
        &:focus { background-tint: $foreground 5%; }
        & > .log-view--error { color: $text-error; }
        & > .log-view--warning { color: $text-warning; }
        & > .log-view--debug { color: $text-muted; }
    }
    """

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, *, wrap: bool = True, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self._lines: deque[_ViewLine] = deque()
        self._width = 0
        self._styles_by_level: dict[int, Style] = {}
        # Wrapping: the width the rows are counted for (0: not counted yet, e.g. while hidden), and
        # where each line ends, in rows counted from an origin that moves as old lines are dropped.
        self._wrap = wrap
        self._wrap_width = 0
        self._row_ends: list[int] = []
        self._row_origin = 0
        self._row_starts: dict[int, list[int]] = {}  # sequence number -> wrap_rows() at _wrap_width
        self.set_class(wrap, "-wrap")
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

    @property
    def wrap(self) -> bool:
        return self._wrap

    @property
    def row_count(self) -> int:
        """Rows the lines take (as many as lines when not wrapping)."""
        if not self._wrap or not self._wrap_width:
            return len(self._lines)
        return (self._row_ends[-1] - self._row_origin) if self._row_ends else 0

    def clear(self) -> None:
        self._lines.clear()
        self._width = 0
        self._row_ends.clear()
        self._row_origin = 0
        self._row_starts.clear()
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
            widths = [cell_len(text) for _seq, _level, text in lines]
            self._width = max(self._width, max(widths))
            if self._wrap and self._wrap_width:
                self._count_rows(lines, widths)
        pruned = 0
        while self._lines and (len(self._lines) > self.max_lines or self._lines[0][0] < oldest_kept):
            self._lines.popleft()
            pruned += 1
        if not lines and not pruned:
            return
        pruned_rows = self._drop_rows(pruned)
        self._update_virtual_size()
        if follow and at_end and not self.is_vertical_scrollbar_grabbed:
            self._stick_to_end()
        elif pruned and not at_end:
            # Someone is reading further up: keep the same lines in front of them.
            self.scroll_to(y=max(0, self.scroll_y - pruned_rows), animate=False, immediate=True)
        self.refresh()

    def replace_lines(self, lines: Iterable[_ViewLine], *, follow: bool) -> None:
        self._lines = deque(lines)
        while len(self._lines) > self.max_lines:
            self._lines.popleft()
        self._width = max((cell_len(text) for _seq, _level, text in self._lines), default=0)
        self._recount_rows()
        self._update_virtual_size()
        self._following = follow
        if follow:
            self._pinned = True
            self._stick_to_end()
        self.refresh()

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines, or cut them; the line at the top of the view stays there."""
        if wrap == self._wrap:
            return
        top = self._line_at(int(self.scroll_y))[0]
        self._wrap = wrap
        self.set_class(wrap, "-wrap")
        self._wrap_width = 0
        self._recount_rows()
        self._update_virtual_size()
        if self._following and self._pinned:
            self._stick_to_end()
        else:
            self.scroll_to(x=0, y=self._first_row(top), animate=False, immediate=True)
        self.refresh()

    def on_resize(self) -> None:
        # Shown again, or the terminal changed size: the rows are counted again for the new
        # width, and a reader who was at the end stays there.
        if self._wrap and self.scrollable_content_region.width != self._wrap_width:
            top = self._line_at(int(self.scroll_y))[0]
            self._recount_rows()
            self._update_virtual_size()
            if not (self._following and self._pinned):
                self.scroll_to(y=self._first_row(top), animate=False, immediate=True)
        if self._following and self._pinned:
            self._stick_to_end()

    def _stick_to_end(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._stuck_y = self.scroll_y
        # A first long line brings the horizontal scrollbar, which takes a row
        # only at the next layout: go to the end again once it is there. (Only
        # then: with such a callback after every batch, a dialog opened over a
        # console receiving log lines lost its button clicks in the tests.)
        if not self._wrap and self._width > self.size.width and not self.show_horizontal_scrollbar:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    # -- rows (wrapping)

    def _update_virtual_size(self) -> None:
        if self._wrap:
            self.virtual_size = Size(self._wrap_width, self.row_count)
        else:
            self.virtual_size = Size(self._width, len(self._lines))

    def _rows_of(self, text: str, cells: int, width: int) -> int:
        # Most lines fit: counting them costs one comparison.
        return 1 if cells <= width else len(wrap_rows(text, width))

    def _count_rows(self, lines: list[_ViewLine], widths: list[int]) -> None:
        end = self._row_ends[-1] if self._row_ends else self._row_origin
        width = self._wrap_width
        append = self._row_ends.append
        for (_seq, _level, text), cells in zip(lines, widths):
            end += self._rows_of(text, cells, width)
            append(end)

    def _recount_rows(self) -> None:
        """Count every line's rows again, at the view's width now (0 while it has none: hidden)."""
        self._row_ends = []
        self._row_origin = 0
        self._row_starts.clear()
        self._wrap_width = self.scrollable_content_region.width if self._wrap else 0
        if self._wrap and self._wrap_width:
            lines = list(self._lines)
            self._count_rows(lines, [cell_len(text) for _seq, _level, text in lines])

    def _drop_rows(self, pruned: int) -> int:
        """Forget the rows of the ``pruned`` oldest lines; how many rows they took."""
        if not pruned:
            return 0
        if not (self._wrap and self._wrap_width):
            return pruned
        origin = self._row_ends[pruned - 1]
        dropped = origin - self._row_origin
        del self._row_ends[:pruned]
        self._row_origin = origin
        return dropped

    def _line_at(self, row: int) -> tuple[int, int, int]:
        """(line index, row within the line, rows of the line) of a row of the view."""
        if not (self._wrap and self._wrap_width):
            return row, 0, 1
        index = bisect_right(self._row_ends, row + self._row_origin)
        start = self._row_ends[index - 1] if index else self._row_origin
        rows = self._row_ends[index] - start if index < len(self._row_ends) else 1
        return index, row + self._row_origin - start, rows

    def _first_row(self, index: int) -> int:
        if not (self._wrap and self._wrap_width) or not index:
            return index
        return self._row_ends[min(index, len(self._row_ends)) - 1] - self._row_origin

    def _starts(self, seq: int, text: str) -> list[int]:
        starts = self._row_starts.get(seq)
        if starts is None:
            if len(self._row_starts) >= ROW_CACHE_LINES:
                self._row_starts.clear()  # cheap to rebuild: only the rows drawn are asked for
            starts = self._row_starts[seq] = wrap_rows(text, self._wrap_width)
        return starts

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
        width = self.scrollable_content_region.width
        index, part, rows = self._line_at(scroll_y + y)
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, self.rich_style)
        seq, level, text = self._lines[index]
        if self._wrap and self._wrap_width:
            scroll_x = 0
            if rows > 1:
                starts = self._starts(seq, text)
                if part < len(starts):
                    end = starts[part + 1] if part + 1 < len(starts) else len(text)
                    indent = WRAP_INDENT if part and self._wrap_width > WRAP_INDENT + 4 else 0
                    text = " " * indent + text[starts[part]:end]
                else:
                    text = ""
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
        # Not `w`: that is the setup wizard's, everywhere in the console.
        Binding("W", "toggle_wrap", N_("Wrap"), id="log-pane.wrap",
                tooltip=N_("Wrap long lines, or cut them and scroll sideways")),
        Binding("escape", "clear_filter", N_("Clear filter"), id="log-pane.clear-filter", show=False,
                tooltip=N_("Show every line again")),
    ]

    following: reactive[bool] = reactive(True, init=False)
    min_level: reactive[int] = reactive(logging.DEBUG, init=False)
    text_filter: reactive[str] = reactive("", init=False)
    wrap: reactive[bool] = reactive(True, init=False)

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
        yield LogView(self.max_lines, wrap=self.wrap)

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
            self.show()
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

    def show(self) -> None:
        """Show the pane, its lines focused (nothing when it is shown already)."""
        if self.display:
            return
        self._focus_before = self.app.focused
        self.disabled = False
        self.display = True
        self.query_one(LogView).focus()

    def open_filter(self) -> None:
        """The text filter, typed into at once: the pane is shown first when hidden."""
        self.show()
        self.action_focus_filter()

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

    def watch_wrap(self, wrap: bool) -> None:
        self.query_one(LogView).set_wrap(wrap)

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

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
            state = ngettext("paused, {n} new", "paused, {n} new", self._waiting).format(n=self._waiting)
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

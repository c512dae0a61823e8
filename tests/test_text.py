"""The one rule for outside text shown in a terminal or a log (core/text.py): its two renderings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartsync_tui.core.text import CONTINUATION_PREFIX, CONTROL, continuation, escaped, printable

HIDDEN = ["\x00", "\x07", "\n", "\r", "\x1b", "\x7f", "\x80", "\x85", "\x9b", "\x9f", "\u061c", "\u200e", "\u200f",
          "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069"]


@pytest.mark.parametrize("char", HIDDEN)
def test_controls_separators_and_bidi_characters_are_shown_as_a_question_mark(char):
    assert printable(f"a{char}b") == "a?b"


def test_printable_text_is_left_alone():
    for text in ("joão", "andré\xa0x", "x\u2070y", "a\u2065b", "Ação — ok…"):
        assert printable(text) == text


def test_a_limit_cuts_with_an_ellipsis():
    assert printable("x" * 10, 10) == "x" * 10
    assert printable("x" * 11, 10) == "x" * 9 + "…"
    assert printable("x" * 11) == "x" * 11


# -- the log rendering of the same rule

@pytest.mark.parametrize(
    ("char", "shown"),
    [("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", "\\x00"), ("\x1b", "\\x1b"), ("\x07", "\\x07"),
     ("\x7f", "\\x7f"), ("\x85", "\\x85"), ("\x9b", "\\x9b"), ("\u061c", "\\u061c"), ("\u2028", "\\u2028"),
     ("\u202e", "\\u202e"), ("\u2066", "\\u2066")],
)
def test_in_a_log_each_control_is_a_visible_escape(char, shown):
    assert escaped(f"a{char}b") == f"a{shown}b"


def test_both_renderings_follow_the_one_rule():
    # Every character the screen rendering hides, the log rendering escapes, and no other.
    for code in [*range(0x3000), 0xFEFF, 0x1F600, 0x10FFFF]:
        char = chr(code)
        assert (printable(char) != char) == (escaped(char) != char) == bool(CONTROL.fullmatch(char)), hex(code)


def test_escape_sequences_are_neutralised_by_their_first_character():
    osc52 = "\x1b]52;c;Y3VybCBldmlsLmludmFsaWQvcyB8IHNo\x07"
    assert escaped(osc52) == "\\x1b]52;c;Y3VybCBldmlsLmludmFsaWQvcyB8IHNo\\x07"
    assert escaped("\x9b2J DOMAIN\\user [/x] %s") == "\\x9b2J DOMAIN\\user [/x] %s"


def test_printable_text_is_left_alone_in_a_log_too():
    for text in ("joão", "andré\xa0x", "a\u200db", "\ufeffbom", "Ação — ok…", "C:\\temp\\new"):
        assert escaped(text) == text


def test_continuation_prefixes_every_line_and_escapes_the_rest():
    text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: a\r2026-01-01 CRITICAL\x1b[2J\n"
    assert continuation(text).split("\n") == [
        CONTINUATION_PREFIX + "Traceback (most recent call last):",
        CONTINUATION_PREFIX + "  File \"x.py\", line 1",
        CONTINUATION_PREFIX + "ValueError: a\\r2026-01-01 CRITICAL\\x1b[2J",
    ]


@given(st.text())
def test_escaped_text_is_one_line_with_no_control(text):
    shown = escaped(text)
    assert not CONTROL.search(shown)
    assert len(shown.splitlines()) <= 1  # str.splitlines knows every line break Python does


@given(st.text())
def test_no_continuation_line_can_start_a_record(text):
    for line in continuation(text).splitlines():
        assert line.startswith(CONTINUATION_PREFIX) and not CONTROL.search(line)

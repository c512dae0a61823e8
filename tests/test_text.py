"""The one rule for outside text shown in a terminal or a log (core/text.py)."""

from __future__ import annotations

import pytest

from smartsync_tui.core.text import printable

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

"""The console's one-line text field: what it holds is always printable.

A field is filled from the settings file (a hand-edited display name may hold
a line break or an escape) or by a paste (a copy from a web page may hold
terminal controls), and an ``Input`` draws its value as it is: each control,
separator or bidi character becomes '?' on the way in, by the core's one rule.
A password field keeps what was typed: it is never drawn.
"""

from __future__ import annotations

from textual.widgets import Input

from smartsync_tui.core.text import printable


class TextInput(Input):
    def validate_value(self, value: str) -> str:
        # During construction the value may come before the password flag: a new field holds no password yet.
        return value if getattr(self, "password", False) else printable(value)

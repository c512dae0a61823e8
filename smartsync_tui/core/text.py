"""Text from outside (a login, a server's message, a log line) made safe to show.

One rule for every place that shows such text, in a terminal or a log file:
C0 and C1 controls (C1 holds the 8-bit CSI ``\\x9b`` that terminals act on and
``\\x85``, a line break), the line and paragraph separators (a fake new log
line) and the bidi marks, overrides and isolates (a line that reads other than
it is) are each replaced by ``?``. Nothing here imports textual.
"""

from __future__ import annotations

import re

CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with each control, separator or bidi character as ``?``; over ``limit`` characters, cut with '…'."""
    text = CONTROL.sub("?", text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text

"""Outside text on screen: always literal, never markup, never a terminal control.

Values from AD, Identity, the settings file, the state store or what an admin
typed reach widgets only through this module. Textual parses a plain ``str``
given to a ``DataTable`` cell, ``Static``, ``Label`` or a notification as
markup: ``Projetos [/2019]`` raises ``MarkupError`` (the app exits) and
``[@click=app.quit]`` is acted on. A rich ``Text`` is never parsed. The
characters a terminal acts on (ESC, C1, bidi overrides) go through the core's
one rule, :func:`smartsync_tui.core.text.printable`, and long values are cut so
that one 3 MB attribute cannot freeze a table.

- :func:`literal`: one value (a name, a DN, an error) as ``Text``.
- :func:`filled`: one of our (translated) sentences with outside values in it;
  the sentence may have line breaks, the values may not.
"""

from __future__ import annotations

from rich.text import Text

from smartsync_tui.core.text import printable

#: Characters of one outside value shown at most (a cell, a line of a dialog).
DISPLAY_LIMIT = 500


def clean(value: object, limit: int | None = DISPLAY_LIMIT, *, multiline: bool = False) -> str:
    """``value`` as a string safe to show: controls as '?', cut at ``limit``; ``multiline`` keeps its line breaks."""
    text = value if isinstance(value, str) else str(value)
    if multiline:
        return "\n".join(printable(line, limit) for line in text.splitlines())
    return printable(text, limit)


def literal(value: object, limit: int | None = DISPLAY_LIMIT, *, multiline: bool = False) -> Text:
    """One outside value (or a block of lines with ``multiline``), never read as markup."""
    if isinstance(value, Text):
        return value
    return Text(clean(value, limit, multiline=multiline), end="")


def filled(template: str, /, **values: object) -> Text:
    """``template.format(**values)`` with every value cleaned first; the result is never read as markup."""
    # Numbers stay numbers: the template may give them a format ({rate:.1f}).
    safe = {name: value if isinstance(value, (int, float)) else clean(value) for name, value in values.items()}
    return Text(template.format(**safe), end="")

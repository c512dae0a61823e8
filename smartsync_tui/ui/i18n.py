"""The console's side of the translations: Textual's bindings, translated per node.

The catalogue and ``_()`` itself are :mod:`smartsync_tui.i18n` (the core uses them too); they are
re-exported here so that every console module imports its words from one place.
"""

from __future__ import annotations

from smartsync_tui.i18n import (  # noqa: F401  (re-exported for the console's modules)
    DAY_FIRST_LANGUAGES,
    DOMAIN,
    LANGUAGES,
    LOCALE_DIR,
    N_,
    _,
    current_language,
    day_first,
    detect_language,
    ngettext,
    number,
    set_language,
)


def translate_bindings(node: object) -> None:
    """Translate a node's binding descriptions and tooltips (marked with N_), per instance.

    Uses Textual's ``_bindings`` map (stable within the pinned Textual 8). Once per node: a
    second pass would look the Portuguese up as a msgid (ui/textual_text.py translates the
    focus chain as focus reaches it, screens translate themselves when built).
    """
    from dataclasses import replace

    if getattr(node, "_bindings_translated", False):
        return

    from textual.binding import BindingsMap

    translate = _  # an alias: the catalogue tool looks for literal _() calls only
    current = node._bindings  # type: ignore[attr-defined]
    node._bindings = BindingsMap(  # type: ignore[attr-defined]
        [
            replace(binding, description=translate(binding.description) if binding.description else "",
                    tooltip=translate(binding.tooltip) if binding.tooltip else "")
            for bindings in current.key_to_bindings.values()
            for binding in bindings
        ]
    )
    node._bindings_translated = True  # type: ignore[attr-defined]

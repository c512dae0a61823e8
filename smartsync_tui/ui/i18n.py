"""Every string the console shows goes through ``_()`` (gettext).

Catalogues live in smartsync_tui/locale/<lang>/LC_MESSAGES/smartsync.po
(and the compiled .mo beside them). English is the source language.
"""

from __future__ import annotations

import gettext
import locale
import os
from pathlib import Path

DOMAIN = "smartsync"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("en", "pt_BR")
#: Languages whose admins write dates day first (27/11/2026): their time fields read them so.
DAY_FIRST_LANGUAGES = frozenset({"pt_BR"})

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def detect_language(setting: str | None) -> str:
    """The `language` setting, else the locale (LC_ALL, LC_MESSAGES, LANG), else English."""
    if setting in LANGUAGES:
        return setting
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            return "pt_BR" if value.lower().startswith("pt") else "en"
    try:
        current = locale.getlocale(locale.LC_MESSAGES)[0] or ""
    except (AttributeError, ValueError):
        current = ""
    return "pt_BR" if current.lower().startswith("pt") else "en"


def set_language(language: str) -> None:
    global _translation, _language
    _translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
    _language = language


def day_first(language: str | None = None) -> bool:
    """Whether ``language`` (by default the one set) writes dates day first: ``parse_when(day_first=...)``."""
    return (_language if language is None else language) in DAY_FIRST_LANGUAGES


def _(message: str) -> str:
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it yet: class-level
    data such as BINDINGS is built at import, before the language is chosen."""
    return message


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

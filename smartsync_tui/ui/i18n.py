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

_translation: gettext.NullTranslations = gettext.NullTranslations()


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
    global _translation
    _translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _(message: str) -> str:
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)

"""Every sentence an admin reads goes through ``_()`` (gettext): the console's, the CLI's and
the core's (refusals, connection checks, summaries, log lines).

Catalogues live in smartsync_tui/locale/<lang>/LC_MESSAGES/smartsync.po (and the compiled .mo
beside them); ``python scripts/i18n.py update`` makes them from the code. English is the source
language. Standard library only, so the core may use it (it never imports textual).

One language per process, chosen once at start by :func:`set_language`: the console from its
settings or the locale, the CLI the same way, and English for ``--json``, whose keys and values
stay stable for scripts. A message is translated where it is made, so a log line is written in
the language of the process that wrote it (docs/glossary.md says which words are used).
"""

from __future__ import annotations

import gettext
import locale
import os
from pathlib import Path

DOMAIN = "smartsync"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "pt_BR")
#: Languages whose admins write dates day first (27/11/2026): their time fields read them so.
DAY_FIRST_LANGUAGES = frozenset({"pt_BR"})
#: (decimal mark, thousands separator) per language: 9,2/min and 10.000 usuários in pt_BR.
_SEPARATORS = {"en": (".", ","), "pt_BR": (",", ".")}

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


def current_language() -> str:
    return _language


def day_first(language: str | None = None) -> bool:
    """Whether ``language`` (by default the one set) writes dates day first: ``parse_when(day_first=...)``."""
    return (_language if language is None else language) in DAY_FIRST_LANGUAGES


def _(message: str) -> str:
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it yet: module-level data (a
    table of messages, class-level BINDINGS) is built at import, before the language is chosen."""
    return message


def number(value: float, digits: int | None = 0) -> str:
    """``value`` written the way the language writes figures: ``9.2``/``9,2``, ``10,000``/``10.000``.

    ``digits`` decimals, or with ``None`` as few as the value needs (up to three: ``2.5`` s, ``10`` s).
    By hand, not with :mod:`locale`: the machine may not have the pt_BR locale installed, and the
    console's language may differ from the process's locale.
    """
    decimal, thousands = _SEPARATORS.get(_language, _SEPARATORS["en"])
    if digits is None:
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:,.{digits}f}"
    return text.translate(str.maketrans({",": thousands, ".": decimal}))

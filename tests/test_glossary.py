"""docs/glossary.md is the rule for the pt_BR catalogue: one term per thing, no replaced word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.catalogue_tool import catalogue

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"


def _table(text: str, heading: str) -> list[list[str]]:
    """The rows of the first table under ``## heading`` (header and separator left out)."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    return [row for row in cells[1:] if not set("".join(row)) <= set("-: ")]


def _word(term: str) -> re.Pattern[str]:
    # As a word: "delta" must not match inside another word, "Manter retido" not inside "Manter retidas".
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def glossary(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(English -> Portuguese, replaced word -> what to use instead), from the glossary's two tables."""
    terms = {row[0]: row[1] for row in _table(text, "Terms")}
    replaced = {row[0]: row[1] for row in _table(text, "Replaced words")}
    return terms, replaced


def translations(po_text: str) -> dict[str, list[str]]:
    entries = catalogue.parse_po(po_text, "pt_BR").entries
    return {msgid: entry.msgstr for msgid, entry in entries.items() if msgid}


def problems(terms: dict[str, str], replaced: dict[str, str], messages: dict[str, list[str]]) -> list[str]:
    found = []
    for word, instead in replaced.items():
        pattern = _word(word)
        for msgid, forms in messages.items():
            if any(pattern.search(form) for form in forms):
                found.append(f"{msgid!r} uses {word!r}: the glossary says {instead!r}")
    every_form = [form for forms in messages.values() for form in forms]
    for english, portuguese in terms.items():
        if english in messages and messages[english] != [portuguese]:
            found.append(f"{english!r} is {messages[english]!r}: the glossary says {portuguese!r}")
        for each in portuguese.split(" / "):
            if not any(_word(each).search(form) for form in every_form):
                found.append(f"the glossary's {each!r} ({english!r}) is used by no message: drop it or use it")
    return found


@pytest.fixture(scope="module")
def the_glossary():
    return glossary(GLOSSARY.read_text(encoding="utf-8"))


def test_the_glossary_has_both_tables(the_glossary):
    terms, replaced = the_glossary
    assert terms["Home"] == "Início" and terms["delta"] == "incremental"
    assert replaced["prévia"] == "pré-visualização" and replaced["motor"] == "agente"


def test_the_catalogue_follows_the_glossary(the_glossary):
    po = catalogue.po_path("pt_BR").read_text(encoding="utf-8")
    assert problems(*the_glossary, translations(po)) == []


def test_no_replaced_word_is_also_a_chosen_term(the_glossary):
    terms, replaced = the_glossary
    chosen = [each for portuguese in terms.values() for each in portuguese.split(" / ")]
    assert [(word, term) for word in replaced for term in chosen if _word(word).search(term)] == []


PLANTED = '''
msgid ""
msgstr ""
"Language: pt_BR\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"

msgid "Preview of {id}"
msgstr "Prévia de {id}"

msgid "delta"
msgstr "Delta"

msgid "Home"
msgstr "Início"

msgid "{n} user added"
msgid_plural "{n} users added"
msgstr[0] "{n} usuário adicionado"
msgstr[1] "{n} usuários a INCLUIR"

msgid "Keep it"
msgstr "Manter retidas"
'''


def test_a_replaced_word_a_changed_term_and_an_unused_term_are_caught(the_glossary):
    terms, replaced = the_glossary
    found = problems({"Home": "Início", "delta": "incremental", "Delete": "Excluir"}, replaced, translations(PLANTED))
    assert "'Preview of {id}' uses 'prévia': the glossary says 'pré-visualização'" in found
    # Any case, and in a plural form too.
    assert "'{n} user added' uses 'incluir': the glossary says 'Adicionar'" in found
    assert "'delta' uses 'delta': the glossary says 'incremental'" in found
    assert "'delta' is ['Delta']: the glossary says 'incremental'" in found
    assert "the glossary's 'Excluir' ('Delete') is used by no message: drop it or use it" in found
    # A word inside a longer one is not that word: "Manter retidas" is not "Manter retido".
    assert not [line for line in found if "Home" in line or "Keep it" in line or "retido" in line]
    assert len(found) == 6, found

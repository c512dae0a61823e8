"""English and Brazilian Portuguese: complete catalogues, compiled, chosen by setting or locale."""

from __future__ import annotations

import gettext
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.catalogue_tool import catalogue
from smartsync_tui.ui.i18n import LOCALE_DIR, _, detect_language, ngettext, set_language

ROOT = Path(__file__).resolve().parent.parent


def test_catalogues_are_complete_compiled_and_consistent():
    """What `python scripts/i18n.py check` checks: fix a failure with `update`, then translate."""
    errors, _warnings = catalogue.check()
    assert errors == []


def test_every_string_in_the_code_is_in_both_catalogues():
    found, problems = catalogue.extract()
    assert found and not [p for p in problems if p.fatal]
    for language in ("en", "pt_BR"):
        entries = catalogue.read_po(catalogue.po_path(language), language).entries
        assert sorted(set(found) - set(entries)) == [], language


def test_the_check_script_passes():
    result = subprocess.run([sys.executable, "scripts/i18n.py", "check"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_portuguese_words(portuguese):
    assert _("Home") == "Início"
    assert _("Sync now") == "Sincronizar"
    assert _("Full sync") == "Sincronização completa"
    assert _("Target") == "Destino"
    assert _("Synced") == "Sincronizado"
    assert _("Failed") == "Falhou"
    assert _("Held back") == "Retido"
    assert _("{n} min ago").format(n=5) == "há 5 min"
    # pt_BR counts 0 and 1 as singular.
    assert ngettext("{kept} line", "{kept} lines", 1).format(kept=1) == "1 linha"
    assert ngettext("{kept} line", "{kept} lines", 2).format(kept=2) == "2 linhas"
    assert ngettext("{kept} line", "{kept} lines", 0).format(kept=0) == "0 linha"


def test_english_is_the_identity_and_unknown_strings_fall_through():
    set_language("en")
    assert _("Home") == "Home"
    assert ngettext("{kept} line", "{kept} lines", 0) == "{kept} lines"
    set_language("pt_BR")
    try:
        assert _("a string nobody marked") == "a string nobody marked"
    finally:
        set_language("en")


def test_the_mo_files_load_with_gettext():
    for language, word in (("en", "Home"), ("pt_BR", "Início")):
        translation = gettext.translation("smartsync", LOCALE_DIR, languages=[language])
        assert translation.gettext("Home") == word
        assert translation.info()["content-type"] == "text/plain; charset=UTF-8"


@pytest.mark.parametrize(
    ("environment", "setting", "expected"),
    [
        ({"LANG": "pt_BR.UTF-8"}, None, "pt_BR"),
        ({"LANG": "en_US.UTF-8"}, None, "en"),
        ({"LANG": "C"}, None, "en"),
        ({"LANG": "pt_BR.UTF-8", "LC_ALL": "en_US.UTF-8"}, None, "en"),  # LC_ALL wins, as in gettext
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "pt_BR.UTF-8"}, None, "pt_BR"),
        ({"LANG": "pt_BR.UTF-8"}, "en", "en"),  # the setting wins over the locale
        ({"LANG": "en_US.UTF-8"}, "pt_BR", "pt_BR"),
    ],
)
def test_detect_language(monkeypatch, environment, setting, expected):
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert detect_language(setting) == expected


# -- the tool itself, on a scratch tree


def _scratch(tmp_path: Path, source: str) -> tuple[Path, Path]:
    ui = tmp_path / "pkg" / "ui"
    ui.mkdir(parents=True)
    (ui / "screen.py").write_text(source, encoding="utf-8")
    return ui, tmp_path / "pkg" / "locale"


def _refused_lines(tmp_path: Path, source: str) -> list[str]:
    """The line numbers (as text) of ``source`` that the extraction refuses."""
    ui, _locale = _scratch(tmp_path, source)
    _found, problems = catalogue.extract(ui)
    return sorted((p.location.rsplit(":", 1)[1] for p in problems if p.fatal), key=int)


def test_update_merges_keeps_translations_drops_obsolete_and_is_stable(tmp_path):
    ui, locale = _scratch(
        tmp_path,
        'from x import _, ngettext\n'
        'A = _("Home")\n'
        'B = _("Hello {name}").format(name="x")\n'
        'C = ngettext("{n} user", "{n} users", 2)\n'
        'D = _(\'Say "hi"\\n\\tthen go\')\n'
        'E = f"{_(\'off\')}"\n',
    )
    catalogue.update(ui, locale)
    errors, _warnings = catalogue.check(ui, locale)
    assert len([e for e in errors if "has no translation" in e]) == 5
    pt = catalogue.po_path("pt_BR", locale)
    text = pt.read_text(encoding="utf-8")
    text = text.replace('msgid "Home"\nmsgstr ""', 'msgid "Home"\nmsgstr "Início"')
    text = text.replace('msgid "Hello {name}"\nmsgstr ""', 'msgid "Hello {name}"\nmsgstr "Olá {nome}"')
    pt.write_text(text, encoding="utf-8")
    errors, _warnings = catalogue.check(ui, locale)
    assert any("placeholders of 'Hello {name}'" in e for e in errors)  # {nome} is not {name}
    assert any(".mo: does not match" in e for e in errors)  # the .po changed, the .mo did not

    # The code changes: one string goes, one comes; the translation written survives.
    (ui / "screen.py").write_text('from x import _\nA = _("Home")\nF = _("New one")\n', encoding="utf-8")
    catalogue.update(ui, locale)
    entries = catalogue.read_po(pt, "pt_BR").entries
    assert set(entries) == {"Home", "New one"}
    assert entries["Home"].msgstr == ["Início"] and entries["New one"].msgstr == [""]
    assert catalogue.read_po(catalogue.po_path("en", locale), "en").entries["New one"].msgstr == ["New one"]

    # Running it again changes nothing, byte for byte.
    before = {p: p.read_bytes() for p in locale.rglob("*") if p.is_file()}
    written, _problems = catalogue.update(ui, locale)
    assert written == [] and before == {p: p.read_bytes() for p in locale.rglob("*") if p.is_file()}


def test_po_round_trip_and_mo_read_by_gettext(tmp_path):
    ui, locale = _scratch(
        tmp_path,
        'from x import _, ngettext\n'
        'D = _(\'Say "hi"\\n\\tthen go\')\n'
        'C = ngettext("{n} user", "{n} users", 2)\n',
    )
    catalogue.update(ui, locale)
    pt = catalogue.po_path("pt_BR", locale)
    parsed = catalogue.read_po(pt, "pt_BR")
    assert set(parsed.entries) == {'Say "hi"\n\tthen go', "{n} user"}
    parsed.entries['Say "hi"\n\tthen go'].msgstr = ['Diga "oi"\n\tdepois vá']
    parsed.entries["{n} user"].msgstr = ["{n} usuário", "{n} usuários"]
    pt.write_text(catalogue.format_po(parsed), encoding="utf-8")
    assert catalogue.read_po(pt, "pt_BR").entries == parsed.entries
    catalogue.update(ui, locale)
    assert catalogue.check(ui, locale) == ([], [])
    translation = gettext.translation("smartsync", locale, languages=["pt_BR"])
    assert translation.gettext('Say "hi"\n\tthen go') == 'Diga "oi"\n\tdepois vá'
    assert translation.ngettext("{n} user", "{n} users", 1) == "{n} usuário"
    assert translation.ngettext("{n} user", "{n} users", 3) == "{n} usuários"


def test_extraction_refuses_f_strings_and_reports_non_literals(tmp_path):
    ui, _locale = _scratch(tmp_path, 'from x import _\nname = "a"\nA = _(f"Hi {name}")\nB = _(name)\n')
    found, problems = catalogue.extract(ui)
    assert found == {}
    assert [(p.location.rsplit(":", 1)[1], p.fatal) for p in problems] == [("3", True), ("4", False)]


def test_the_log_pane_strings_are_translated(portuguese):
    assert _("following") == "acompanhando"
    assert _("Pause/follow") != "Pause/follow"


def test_the_check_refuses_a_count_without_a_plural_form(tmp_path):
    refused = _refused_lines(
        tmp_path,
        'from x import _, ngettext\n'
        'A = _("{n} users would be disabled")\n'
        'B = _("Read {users} objects from {server}")\n'
        'C = _("{total} changed")\n'
        'D = _("user(s) refused")\n'
        'E = ngettext("{n} user", "{n} users", 2)\n'
        'F = _("in {n} min")\n'
        'G = _("Hello {name}, this is {server}")\n'
        'H = _("{n} queued")  # not a count\n'
        'I = _("{groups} group changes")\n'
        'J = _("max {sessions} sessions")\n'
        'K = _("The {log} log has no lines; {users} and {groups} visible")\n',
    )
    # A, B, C, D, and I, J (a field named for what it counts, before its own noun); not the plural,
    # the unit, the names, the marked line, nor K ({log} is no plural; {users} before 'and').
    assert refused == ["2", "3", "4", "5", "10", "11"]


def test_the_check_refuses_a_sentence_built_by_concatenation(tmp_path):
    refused = _refused_lines(
        tmp_path,
        'from x import _\n'
        'A = _("Saved") + " " + name\n'
        'B = f"{_(\'Syncing\')} now"\n'
        'C = prefix + _("Saved: {url}").format(url=u)\n'
        'D = f"{_(\'off\')}"\n'
        'E = " · ".join([_("Saved"), _("Home tab")])\n'
        'F = f"{title} ({key})"\n',
    )
    assert refused == ["2", "3", "4"]  # A, B's f-string, C; facts side by side and f"{title} ({key})" are fine


def test_the_check_refuses_an_english_translation_unless_marked(tmp_path):
    ui, locale = _scratch(tmp_path, 'from x import _\nA = _("Active Directory")\nB = _("Cannot reach the server")\nC = _("OK")\n')
    catalogue.update(ui, locale)
    pt = catalogue.po_path("pt_BR", locale)
    parsed = catalogue.read_po(pt, "pt_BR")
    for msgid in parsed.entries:
        parsed.entries[msgid].msgstr = [msgid]  # a translator pasted the English
    pt.write_text(catalogue.format_po(parsed), encoding="utf-8")
    catalogue.update(ui, locale)
    errors, _warnings = catalogue.check(ui, locale)
    same = sorted(e.split("translation of ")[1].split(" is the English")[0] for e in errors if "is the English text" in e)
    assert same == ["'Active Directory'", "'Cannot reach the server'"]  # one word ("OK") may stay
    parsed = catalogue.read_po(pt, "pt_BR")
    parsed.entries["Active Directory"].translator_comments = [f"{catalogue.SAME_MARK} a product name"]
    pt.write_text(catalogue.format_po(parsed), encoding="utf-8")
    catalogue.update(ui, locale)
    errors, _warnings = catalogue.check(ui, locale)
    assert [e for e in errors if "is the English text" in e and "Active Directory" in e] == []
    assert any("'Cannot reach the server' is the English text" in e for e in errors)


def test_figures_use_the_languages_separators(portuguese):
    from smartsync_tui.i18n import number

    assert (number(9.25, 1), number(10_000), number(1234567.5, 2), number(2.5, None), number(10.0, None)) == (
        "9,2", "10.000", "1.234.567,50", "2,5", "10")
    set_language("en")
    assert (number(9.25, 1), number(10_000), number(1234567.5, 2), number(2.5, None), number(10.0, None)) == (
        "9.2", "10,000", "1,234,567.50", "2.5", "10")

"""The CLI in Brazilian Portuguese: chosen from the locale or the home's `language` setting before
the parser is built (help texts and argparse's own words translated), English with --json, and
main() leaves the process's language and argparse as it found them.

Runs the real CLI in this process (``main(argv)``); the pt_BR catalogue holds the CLI's messages.
"""

from __future__ import annotations

import argparse
import gettext
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from smartsync_tui.cli.directory_cmd import _stored_password_stays
from smartsync_tui.cli.main import choose_language
from smartsync_tui.cli.web_auth import check_token_text, login_needed_page
from smartsync_tui.cli.web_sessions import SessionLimits
from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, DirectorySettings, save_settings
from smartsync_tui.i18n import current_language, set_language
from tests.support.cli import run_main
from tests.support.logs import close_file_logging, emit_at


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home, named by SMARTSYNC_HOME, and a locale of pt_BR unless a test changes it."""
    root = tmp_path / "home"
    resolve_home(root).ensure()
    monkeypatch.setenv("SMARTSYNC_HOME", str(root))
    _locale(monkeypatch, "pt_BR.UTF-8")
    return root


def _locale(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    for variable in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", lang)


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        run_main(capsys, *argv)
    assert done.value.code == 0
    return capsys.readouterr().out


def _words(text: str) -> str:
    """The help text with argparse's line wrapping undone."""
    return " ".join(text.split())


def test_help_is_in_portuguese_under_a_pt_br_locale(capsys, home):
    text = _help(capsys, "--help")
    assert text.startswith("uso: smartsync-tui")
    assert "Mantém o TOTVS Identity sincronizado com o Active Directory." in text
    assert "argumentos posicionais:" in text and "opções:" in text and "exemplos:" in text
    assert "mostra esta ajuda e sai" in text
    assert "abre o console (o padrão)" in text
    # The command lines of the examples stay as they are typed; only what they do is translated.
    assert "smartsync-tui directory add --help # como adicionar um domínio do AD a partir de um script" in text

    add = _words(_help(capsys, "directory", "add", "--help"))
    assert add.startswith("uso: smartsync-tui directory add")
    assert "servidor do AD: apenas o IP ou o nome do servidor (sem LDAP://, sem porta)" in add
    assert "lê a senha do AD da entrada padrão" in add
    assert "--password-stdin --token-stdin" in add  # the example's command line, as written


def test_help_is_unchanged_in_english(capsys, home, monkeypatch):
    _locale(monkeypatch, "en_US.UTF-8")
    text = _help(capsys, "--help")
    assert text.startswith("usage: smartsync-tui")
    assert "Keeps TOTVS Identity in sync with Active Directory." in text
    assert "positional arguments:" in text and "options:" in text and "show this help message and exit" in text
    assert "smartsync-tui                      # the console" in text
    add = _words(_help(capsys, "directory", "add", "--help"))
    assert "AD server: IP or host name only (no LDAP://, no port)" in add


def test_a_usage_error_is_in_portuguese(capsys, home):
    code, out, err = run_main(capsys, "directory", "add", "--server", "dc1.corp.example")
    assert code == 2 and out == ""
    assert err == ("erro: os seguintes argumentos são obrigatórios: --user, --base-dn "
                   "(veja `smartsync-tui directory add --help`)\n")

    code, _out, err = run_main(capsys, "logs", "export", "--log", "everything", "-o", "x.txt")
    assert code == 2
    assert err.startswith("erro: argumento --log: opção inválida: 'everything' (escolha entre 'application', 'console')")

    code, _out, err = run_main(capsys, "directory", "add", "--password", "s3cret")
    assert code == 2 and "s3cret" not in err
    assert err.startswith("erro: --password não é aceito: segredos nunca são recebidos na linha de comando")


def test_a_refused_server_is_reported_in_the_cli_s_portuguese_frame(capsys, home):
    code, out, err = run_main(capsys, "directory", "add", "--server", "LDAP://dc1.corp.example",
                              "--user", "svc@corp.example", "--base-dn", "DC=corp,DC=example")
    assert code == 2 and out == ""
    # The sentence itself is the core's (config/validation.py); the frame and the option are the CLI's.
    assert err.startswith("erro: --server: ")


def test_the_language_setting_beats_the_locale(capsys, home, monkeypatch):
    settings_file = resolve_home(home).settings_file
    _locale(monkeypatch, "en_US.UTF-8")
    settings_file.write_text(json.dumps({"language": "pt_BR"}), encoding="utf-8")
    assert _help(capsys, "--help").startswith("uso: ")
    assert _help(capsys, "--home", str(home), "directory", "list", "--help").startswith("uso: ")

    _locale(monkeypatch, "pt_BR.UTF-8")
    settings_file.write_text(json.dumps({"language": "en"}), encoding="utf-8")
    assert _help(capsys, "--help").startswith("usage: ")
    # --home=X names the home too, and beats SMARTSYNC_HOME.
    other = home.parent / "other"
    save_settings(resolve_home(other).ensure().settings_file, AppSettings(language="pt_BR"))
    assert _help(capsys, f"--home={other}", "--help").startswith("uso: ")


def test_a_broken_settings_file_does_not_stop_the_cli(capsys, home):
    resolve_home(home).settings_file.write_text("{ not json", encoding="utf-8")
    assert choose_language(["directory", "list"]) == "pt_BR"  # the locale decides
    code, _out, err = run_main(capsys, "directory", "list")
    assert code == 2 and err.startswith("erro: ")  # the command itself reports the broken file


def test_json_output_stays_english_with_the_same_keys(capsys, home):
    save_settings(resolve_home(home).settings_file, AppSettings(language="pt_BR"))
    code, out, _err = run_main(capsys, "directory", "list", "--json", "--bogus")
    assert code == 2
    assert json.loads(out) == {"error": "unrecognized arguments: --bogus (see `smartsync-tui --help`)", "kind": "usage"}

    code, out, _err = run_main(capsys, "identity", "show", "--json")
    assert code == 0
    shown = json.loads(out)
    assert {"protocol", "environment", "base_url"} <= set(shown)

    code, out, _err = run_main(capsys, "directory", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_main_restores_the_language_and_argparse(capsys, home):
    before = (argparse._, argparse.ngettext)  # type: ignore[attr-defined]
    assert current_language() == "en"
    code, out, _err = run_main(capsys, "directory", "list")
    assert code == 0 and out.startswith("Ainda não há diretórios.")
    assert current_language() == "en"
    assert (argparse._, argparse.ngettext) == before == (gettext.gettext, gettext.ngettext)  # type: ignore[attr-defined]


def test_logs_export_reads_day_first_dates_and_reports_in_portuguese(capsys, home, tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    resolved = resolve_home(home)
    setup_logging(resolved)
    first = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    emit_at("smartsync.engine", first, "event-one")
    emit_at("smartsync.engine", first + timedelta(hours=1), "event-two")
    close_file_logging()

    one = tmp_path / "one.txt"
    code, out, err = run_main(capsys, "logs", "export", "--log", "application", "--since", "01/12/2026 09:00",
                              "--until", "01/12/2026 10:30", "-o", str(one))
    assert code == 0, err
    assert out.startswith("1 linha do log da aplicação (") and out.rstrip().endswith(f"gravada em {one}")
    two = tmp_path / "two.txt"
    code, out, err = run_main(capsys, "logs", "export", "--log", "application", "--since", "01/12/2026",
                              "--until", "01/12/2026", "-o", str(two))
    assert code == 0, err
    assert out.startswith("2 linhas do log da aplicação (") and out.rstrip().endswith(f"gravadas em {two}")

    code, _out, err = run_main(capsys, "logs", "export", "--log", "application", "--since", "01/12/2026",
                               "-o", str(two))
    assert code == 1 and err.startswith(f"erro: {two} já existe: escolha outro nome de arquivo ou passe --force")

    # English: the same slashed date is refused (either order may be meant), and the result is English.
    _locale(monkeypatch, "en_US.UTF-8")
    code, _out, _err = run_main(capsys, "logs", "export", "--log", "application", "--since", "01/12/2026",
                                "-o", str(tmp_path / "en.txt"))
    assert code == 2 and not (tmp_path / "en.txt").exists()
    code, out, _err = run_main(capsys, "logs", "export", "--log", "application", "--since", "2026-12-01",
                               "-o", str(tmp_path / "en.txt"))
    assert code == 0 and out.startswith("Wrote 2 lines of the application log (")

    # With --json the output is English, and dates are still read the way the admin writes them.
    _locale(monkeypatch, "pt_BR.UTF-8")
    code, out, _err = run_main(capsys, "logs", "export", "--log", "application", "--since", "01/12/2026",
                               "-o", str(tmp_path / "json.txt"), "--json")
    assert code == 0 and json.loads(out) == {"ok": True, "log": "application", "file": str(tmp_path / "json.txt"),
                                             "lines": 2}


def _directory(**changes: object) -> DirectorySettings:
    data = {"id": "corp", "server": "dc1.corp.example", "bind_user": "svc@corp.example",
            "base_dn": "DC=corp,DC=example", **changes}
    return DirectorySettings.model_validate(data)


def test_plural_forms_in_portuguese(portuguese):
    current = _directory()
    one = _stored_password_stays(current, _directory(server="dc2.corp.example"), ["server"])
    assert one.startswith("--server muda para onde a senha de 'corp' é enviada: a senha gravada só vai")
    two = _stored_password_stays(current, _directory(server="dc2.corp.example", bind_user="other@corp.example"),
                                 ["server", "bind_user"])
    assert two.startswith("--server e --user mudam para onde a senha de 'corp' é enviada")

    limits = SessionLimits(max_sessions=1, per_minute=50)
    assert limits.refusal() is None
    full = limits.refusal()
    assert full is not None and full.text.startswith("1 console está aberto, o máximo que este servidor permite")
    limits = SessionLimits(max_sessions=2, per_minute=50)
    limits.refusal(), limits.refusal()
    full = limits.refusal()
    assert full is not None and full.text.startswith("2 consoles estão abertos, o máximo que este servidor permite")

    assert check_token_text("x").startswith("o token web tem 1 caractere: informe pelo menos 24")
    assert check_token_text("xy").startswith("o token web tem 2 caracteres: informe pelo menos 24")
    page = login_needed_page()
    assert '<html lang="pt-BR">' in page and "Este console precisa do link de login" in page


def test_the_same_messages_in_english():
    set_language("en")
    current = _directory()
    assert _stored_password_stays(current, _directory(server="dc2.corp.example"), ["server"]).startswith(
        "--server changes where the password of 'corp' is sent")
    assert _stored_password_stays(current, _directory(server="dc2.corp.example", bind_user="o@corp.example"),
                                  ["server", "bind_user"]).startswith("--server and --user change where")
    limits = SessionLimits(max_sessions=2, per_minute=50)
    limits.refusal(), limits.refusal()
    full = limits.refusal()
    assert full is not None and full.text.startswith("2 consoles are open, the most this server allows (--max-sessions 2)")
    assert check_token_text("xy").startswith("the web token is 2 characters long: give at least 24")
    assert '<html lang="en">' in login_needed_page()

"""The core's settings, validation, home protection, event log, engine lock and control channel
speak the admin's language: Brazilian Portuguese when it is set, English (unchanged) otherwise.

Each message is made through the real code path (a validator, a settings file on disk, a
hard link in the home, a request on the channel), never copied here from the code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from smartsync_tui.config import validation
from smartsync_tui.core.bounded_read import FileTooLarge, read_regular_file
from smartsync_tui.channel.control_channel import ControlServer
from smartsync_tui.engine.lock import describe_running
from smartsync_tui.core.errors import SettingsError
from smartsync_tui.logs.event_log import WhenError, describe_period, parse_when
from smartsync_tui.core.file_protection import CHECKED, UnsafeHomeError, check_private_file
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import DirectorySettings, describe_validation_error, load_settings


def _refusal(check, value) -> str:
    with pytest.raises(ValueError) as refused:
        check(value)
    return str(refused.value)


# -- what the wizard and the directory dialog show under a field


def test_a_server_typed_as_an_address_or_with_its_port_is_refused_in_portuguese(portuguese):
    assert _refusal(validation.check_server, "LDAP://dc1.corp.local") == (
        "informe apenas o IP ou o nome do servidor, sem 'LDAP://' (o modo TLS e a porta têm campos próprios; "
        "por exemplo dc1.corp.local)"
    )
    assert _refusal(validation.check_server, "dc1.corp.local:389") == (
        "informe apenas o IP ou o nome do servidor, sem a porta (a porta tem campo próprio)"
    )
    assert _refusal(validation.check_port, 0) == "a porta é um número inteiro de 1 a 65535"


def test_a_domain_or_a_broken_dn_as_the_base_dn_is_refused_in_portuguese(portuguese):
    assert _refusal(validation.check_base_dn, "corp.example.com") == (
        "'corp.example.com' é um nome de domínio, não um DN: escreva-o como DC=corp,DC=example,DC=com"
    )
    assert _refusal(validation.check_base_dn, "example").startswith("'example' não é um DN válido: escreva-o como")


def test_pydantic_carries_the_portuguese_refusal_and_the_description_drops_its_prefix(portuguese):
    with pytest.raises(ValidationError) as refused:
        DirectorySettings(id="corp", server="ldaps://dc1", bind_user="svc", base_dn="DC=corp,DC=example")
    assert refused.value.errors()[0]["msg"].startswith("Value error, informe apenas o IP")
    described = describe_validation_error(refused.value, "A nova configuração")
    assert described.startswith("A nova configuração contém valores não permitidos:\n  server: informe apenas")
    assert "Value error" not in described


def test_english_refusals_are_unchanged():
    assert _refusal(validation.check_server, "dc1.corp.local:389") == (
        "give only the IP or server name, without the port (set the port in its own field)"
    )
    assert _refusal(validation.check_base_dn, "corp.example.com") == (
        "'corp.example.com' is a domain name, not a DN: write it as DC=corp,DC=example,DC=com"
    )


# -- the settings file's problems


def test_a_settings_file_that_is_not_json_says_where_in_portuguese(portuguese, tmp_path):
    path = tmp_path / "appsettings.json"
    path.write_text('{"url" "http://127.0.0.1:5325"}', encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == (
        f"{path} não é um JSON válido: Esperava o separador ':' na linha 1, coluna 8. Corrija essa linha num "
        "editor de texto (o arquivo foi mantido como estava) e execute de novo."
    )


def test_an_unknown_key_and_a_quoted_number_are_described_in_portuguese(portuguese, tmp_path):
    path = tmp_path / "appsettings.json"
    path.write_text(json.dumps({"urll": "x", "sync": {"batch_size": "500"}}), encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    text = str(refused.value)
    assert text.startswith(f"{path} contém valores não permitidos:\n")
    assert "  urll: configuração desconhecida 'urll' (erro de digitação?)" in text
    assert '  sync.batch_size: deve ser um número inteiro (sem aspas), não "500"' in text
    assert text.endswith("O arquivo foi mantido como estava; corrija-o e execute de novo.")


def test_english_settings_problems_are_unchanged(tmp_path):
    path = tmp_path / "appsettings.json"
    path.write_text(json.dumps({"urll": "x"}), encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert str(refused.value) == (
        f"{path} has settings that are not allowed:\n  urll: unknown setting 'urll' (a typo?)\n"
        "The file was left as it is; fix it and run again."
    )


# -- the home's protection, with its plural


@pytest.mark.skipif(not CHECKED, reason="the home's files are checked on POSIX only")
@pytest.mark.parametrize(("links", "expected"), [
    (1, "tem 1 outro nome (um hard link)"),
    (2, "tem 2 outros nomes (hard links)"),
])
def test_a_hard_linked_file_is_refused_with_the_right_plural(portuguese, tmp_path, links, expected):
    path = tmp_path / "appsettings.json"
    path.write_text("{}", encoding="utf-8")
    for n in range(links):
        os.link(path, tmp_path / f"elsewhere-{n}")
    with pytest.raises(UnsafeHomeError) as refused:
        check_private_file(path)
    assert str(refused.value) == (
        f"{path} {expected}: o que o smartsync-tui grava ali iria para um arquivo que também existe em outro "
        f"lugar. Mova-o com `mv {path} {path}.suspect` e execute de novo."
    )


@pytest.mark.skipif(not CHECKED, reason="the home's files are checked on POSIX only")
def test_english_hard_link_refusals_keep_their_plural(tmp_path):
    path = tmp_path / "appsettings.json"
    path.write_text("{}", encoding="utf-8")
    os.link(path, tmp_path / "elsewhere")
    with pytest.raises(UnsafeHomeError, match=r"has 1 other name \(a hard link\)"):
        check_private_file(path)
    os.link(path, tmp_path / "elsewhere-2")
    with pytest.raises(UnsafeHomeError, match=r"has 2 other names \(hard links\)"):
        check_private_file(path)


@pytest.mark.parametrize(("size", "expected"), [(1, "tem 1 byte (no máximo 0)"), (2, "tem 2 bytes (no máximo 0)")])
def test_a_file_too_large_counts_its_bytes_in_portuguese(portuguese, tmp_path, size, expected):
    path = tmp_path / "ca.pem"
    path.write_bytes(b"x" * size)
    with pytest.raises(FileTooLarge) as refused:
        read_regular_file(path, 0)
    assert str(refused.value) == f"{path} {expected}"


def test_a_folder_given_as_the_ca_file_is_named_in_portuguese(portuguese, tmp_path):
    assert _refusal(validation.check_ca_file, str(tmp_path)) == (
        f"{tmp_path} é uma pasta: informe o arquivo PEM da CA que emitiu o certificado"
    )


# -- the event log's times (day first in pt_BR)


def test_an_impossible_day_is_refused_in_portuguese_and_keeps_its_reason(portuguese):
    with pytest.raises(WhenError) as refused:
        parse_when("31/02/2026", day_first=True)
    assert refused.value.reason == "impossible"
    assert str(refused.value) == "'31/02/2026' não é uma data: fevereiro de 2026 tem 28 dias"


def test_an_unreadable_time_lists_the_day_first_forms_in_portuguese(portuguese):
    with pytest.raises(WhenError) as refused:
        parse_when("ontem", day_first=True)
    assert refused.value.reason == "unreadable"
    assert str(refused.value) == (
        "'ontem' não é um horário reconhecido: escreva-o como 27/11/2026, 27/11/2026 14:30, 2026-11-27, "
        "2026-11-27T14:30:00-03:00, agora, ou tempos relativos como -2h ou -7d"
    )
    assert parse_when("01/12/2026", day_first=True).month == 12  # still read day first


def test_the_period_is_described_in_portuguese(portuguese):
    since = parse_when("2026-11-27 14:30")
    assert describe_period(since, None).startswith("desde 2026-11-27 14:30:00 ")
    assert describe_period(None, None) == "em período algum"


def test_english_time_refusals_are_unchanged():
    with pytest.raises(WhenError, match=r"^'31/02/2026' is not a date: February 2026 has 28 days$"):
        parse_when("31/02/2026", day_first=True)
    with pytest.raises(WhenError, match="is January 12 to some and 1 December to others"):
        parse_when("01/12/2026")


# -- the engine lock and the control channel


def test_a_running_engine_is_described_in_portuguese(portuguese):
    text = describe_running({"pid": 4242, "mode": "console"})
    assert text == (
        "já há um agente em execução para esta home: pid 4242 (o console do smartsync-tui); "
        "feche primeiro esse console (ou kill 4242)"
    )
    assert "smartsync-tui run" in describe_running({"mode": "run"})  # the command's name stays as typed


def test_english_engine_lock_message_is_unchanged():
    assert describe_running({"pid": 4242, "mode": "console"}) == (
        "an engine is already running for this home: pid 4242 (the smartsync-tui console); "
        "close that console first (or kill 4242)"
    )


class _Handler:
    def status(self):
        return {}

    def sync(self, directory, *, full, allow_deletes):
        pass

    def forget(self, directory):
        pass

    def reload(self):
        return False


def test_channel_replies_carry_portuguese_text_under_english_fields_and_kinds(portuguese, tmp_path: Path):
    server = ControlServer(resolve_home(tmp_path), _Handler())
    assert server.answer(b"not json\n") == {
        "ok": False, "kind": "protocol", "error": "o pedido não é um objeto JSON numa linha",
    }
    assert server.answer(b'{"op": "sync"}\n') == {
        "ok": False, "kind": "input", "error": "'sync' precisa de \"directory\": o id do diretório",
    }
    assert server.answer(b'{"op": "sync", "directory": "corp", "full": 1}\n')["error"] == (
        '"full" deve ser true ou false'
    )
    assert server.answer(b'{"op": "ping"}\n')["ok"] is True


def test_english_channel_replies_are_unchanged(tmp_path: Path):
    server = ControlServer(resolve_home(tmp_path), _Handler())
    assert server.answer(b"not json\n")["error"] == "the request is not a JSON object on one line"

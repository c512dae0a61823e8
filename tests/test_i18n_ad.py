"""The Active Directory side in Brazilian Portuguese: what the wizard, `directory add|test` and the
logs say about an admin's mistake or a DC that refuses, with plural forms, and English unchanged.

Real code paths: the directory test against the in-memory DC (smartsync_tui/testbed/memory_dc.py)
and against a closed port, the login checker, the bind reasons, the missing-secret refusal.
"""

from __future__ import annotations

import socket
import threading

import pytest
from pydantic import SecretStr

from smartsync_tui.ad import reader as ad_sync_reader
from smartsync_tui.ad import connect as ad_connect
from smartsync_tui.ad import directory_test
from smartsync_tui.ad import errors as ad_errors
from smartsync_tui.ad.errors import AdBindReason, describe_bind_failure
from smartsync_tui.checks.connection import save_proxy
from smartsync_tui.checks.directory import DirectoryCheck
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.ad.login_check import LoginChecker, LoginCheckResult, describe, masked_login
from smartsync_tui.core.remedy import SecretMissing, remedies
from smartsync_tui.config.settings import DirectorySettings, ProxySettings
from smartsync_tui.i18n import set_language
from smartsync_tui.testbed.memory_dc import MemoryDC
from smartsync_tui.ui.advice import in_console

ADMIN_ONLY = "(&(objectClass=user)(sAMAccountName=Administrator))"
WINDOWS_533 = "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 533, v893"


@pytest.fixture(scope="module")
def memory_dc():
    dc = MemoryDC(3).register()
    try:
        yield dc
    finally:
        dc.unregister()


def _directory(dc: MemoryDC, **changes) -> DirectorySettings:
    settings = DirectorySettings(id="m", server=dc.host, tls="plain", bind_user=dc.admin_user, base_dn=dc.base_dn,
                                 user_filter=ADMIN_ONLY, group_filter="(objectClass=group)")
    return settings.model_copy(update=changes)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the directory test


def test_the_directory_test_reports_in_portuguese_with_plural_forms(portuguese, memory_dc):
    one = directory_test.test_directory(_directory(memory_dc), SecretStr(memory_dc.admin_password))
    assert one.ok
    assert one.message.startswith(f"Conectado a {memory_dc.dns_host_name} como {memory_dc.admin_user}: 1 usuário e ")
    assert "grupos visíveis em DC=demo,DC=invalid. Algumas verificações precisam de atenção (veja os avisos)." in one.message
    lines = one.lines()
    assert f"ok    users: 1 usuário corresponde a {ADMIN_ONLY}" in lines
    assert "ok    deleted_objects: Deleted Objects pode ser lido" in lines
    assert any(line.startswith("AVISO Na amostra de 1 usuário, nenhum mostra ") for line in lines)

    everyone = directory_test.test_directory(_directory(memory_dc, user_filter="(objectClass=user)"),
                                          SecretStr(memory_dc.admin_password))
    assert " 4 usuários e " in everyone.message
    assert "ok    users: 4 usuários correspondem a (objectClass=user)" in everyone.lines()


def test_the_directory_test_is_unchanged_in_english(english, memory_dc):
    one = directory_test.test_directory(_directory(memory_dc), SecretStr(memory_dc.admin_password))
    assert one.message.startswith(f"Connected to {memory_dc.dns_host_name} as {memory_dc.admin_user}: 1 user and ")
    assert one.message.endswith(" groups visible under DC=demo,DC=invalid. Some checks need attention (see warnings).")
    assert f"ok   users: 1 user matches {ADMIN_ONLY}" in one.lines()
    assert any(line.startswith("WARN The 1 sampled user does not show ") for line in one.lines())


def test_a_wrong_password_is_explained_in_portuguese(portuguese, memory_dc):
    report = directory_test.test_directory(_directory(memory_dc), SecretStr("not-the-password"))
    assert not report.ok and report.failed_stage == "bind"
    assert report.message == (
        f"O AD recusou o login de '{memory_dc.admin_user}' em {memory_dc.host}:389: o nome de usuário ou a senha "
        "estão incorretos (ou o usuário não existe). Confira o usuário (usuário@domínio, DOMÍNIO\\usuário ou o DN "
        "do usuário) e a senha. Cada tentativa que falha conta para o bloqueio da conta."
    )
    assert report.lines()[-2].startswith("FALHA bind: O AD recusou o login")


def test_a_base_dn_that_does_not_exist_names_the_domain_in_portuguese(portuguese, memory_dc):
    report = directory_test.test_directory(_directory(memory_dc, base_dn=f"OU=Nope,{memory_dc.base_dn}"),
                                        SecretStr(memory_dc.admin_password))
    assert report.failed_stage == "base_dn"
    assert report.message == (
        "O DN base 'OU=Nope,DC=demo,DC=invalid' não existe neste DC (ou esta conta não consegue vê-lo). "
        "O domínio deste DC é DC=demo,DC=invalid. Confira o DN base, por exemplo DC=example,DC=com ou "
        "OU=Staff,DC=example,DC=com."
    )


@pytest.mark.parametrize("language", ["pt_BR", "en"])
def test_a_refused_connection_says_which_port_is_usual(language):
    set_language(language)
    try:
        port = _closed_port()
        directory = DirectorySettings(id="c", server="127.0.0.1", port=port, tls="ldaps",
                                      bind_user="svc@corp.test", base_dn="DC=corp,DC=test")
        report = directory_test.test_directory(directory, SecretStr("pw"), timeout=2)
    finally:
        set_language("en")
    assert report.failed_stage == "tcp"
    if language == "pt_BR":
        assert report.steps[0].detail == "não é necessário (é um endereço IP)"
        assert report.message == (
            f"A conexão com 127.0.0.1:{port} foi recusada: nada escuta nessa porta. É a porta certa para o modo de "
            "TLS (normalmente 636 para LDAPS)? O serviço LDAP do DC está em execução?"
        )
    else:
        assert report.message == (
            f"The connection to 127.0.0.1:{port} was refused: nothing listens on that port. Is it the right port "
            "for the TLS mode (usually 636 for LDAPS)? Is the DC's LDAP service running?"
        )


def test_the_whole_check_heads_its_report_in_portuguese(portuguese, memory_dc):
    report = directory_test.test_directory(_directory(memory_dc), SecretStr("not-the-password"))
    check = DirectoryCheck(ldap=report, identity=None, identity_error=UserError("o token foi recusado"))
    assert check.report_lines()[0] == "Active Directory:"
    assert check.report_lines()[-1] == "Identity: o token foi recusado"
    assert check.problems()[0].startswith("Active Directory: O AD recusou o login de ")


# -- bind reasons


def test_a_bind_reason_and_its_advice_come_in_portuguese(portuguese):
    assert describe_bind_failure(WINDOWS_533) == "a conta está desativada no AD"
    assert AdBindReason.ACCOUNT_DISABLED.advice == "Ative a conta no AD ou use outra conta."
    assert describe_bind_failure("comment: AcceptSecurityContext error, data 80090346, v4563") == (
        "o AD recusou as credenciais (código do motivo 80090346)")


def test_a_bind_reason_is_unchanged_in_english(english):
    assert describe_bind_failure(WINDOWS_533) == "the account is disabled in AD"
    assert AdBindReason.LOCKED_OUT.advice == "Unlock the account in AD or wait for the lockout to end, then try again."


# -- the fix of a missing secret


def test_a_missing_secret_is_worded_in_portuguese_and_the_console_still_finds_its_fix(portuguese):
    error = SecretMissing("password", "corp", "password")
    assert str(error) == ("A senha do diretório 'corp' não está no cofre de segredos: "
                          "use `smartsync-tui directory edit corp --password-stdin`.")
    assert [found.kind for found in remedies(str(error))] == ["password"]
    assert in_console(str(error)) == (
        "A senha do diretório 'corp' não está no cofre de segredos: tecle e na aba Active Directory para editar "
        "o diretório 'corp' e digitar a senha dele.")
    assert str(SecretMissing("agent key", "hq", "token")).startswith("A chave do agente do diretório 'hq' ")


def test_a_fix_written_in_english_is_still_found_under_portuguese(portuguese):
    stored = ("The password of directory 'corp' is missing from the secret store: set it with "
              "`smartsync-tui directory edit corp --password-stdin`.")
    assert in_console(stored).endswith(": tecle e na aba Active Directory para editar o diretório 'corp' e digitar "
                                       "a senha dele.")


# -- login checks


def test_a_masked_login_counts_its_characters_with_a_plural_form(portuguese):
    assert masked_login("a") == "a…(1 caractere)"
    assert masked_login("Minh4Senha!") == "Mi…(11 caracteres)"


def test_a_masked_login_is_unchanged_in_english(english):
    assert masked_login("Minh4Senha!") == "Mi…(11 chars)"


def test_a_login_check_over_plain_ldap_says_why_in_portuguese(portuguese):
    directory = DirectorySettings(id="p", server="dc1.corp.test", tls="plain", bind_user="svc@corp.test",
                                  base_dn="DC=corp,DC=test")
    result = LoginChecker(directory, SecretStr("pw"), "(objectClass=user)").check("maria", SecretStr("x"))
    assert (result.outcome, result.reason) == ("error", "insecure_connection")  # codes sent to Identity: English
    assert result.detail.startswith("o diretório usa LDAP sem TLS: a senha atravessaria a rede sem criptografia")


# -- reading for the sync


@pytest.mark.parametrize(("read", "text"), [(0, "após 0 entrada."), (1, "após 1 entrada."), (2, "após 2 entradas.")])
def test_a_cancelled_read_counts_its_entries_in_portuguese(portuguese, read, text):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ad_errors.SearchCancelled) as caught:
        ad_sync_reader._check_cancel(cancel, read)
    assert str(caught.value) == f"A leitura do diretório foi cancelada {text}"


def test_a_missing_deleted_objects_container_is_explained_in_portuguese(portuguese, memory_dc):
    conn = ad_connect.connect(_directory(memory_dc), SecretStr(memory_dc.admin_password))
    try:
        with pytest.raises(ad_errors.DirectoryError) as caught:
            list(ad_sync_reader.iter_deleted(conn, f"OU=Nope,{memory_dc.base_dn}", since_usn=1))
    finally:
        ad_connect.close(conn)
    assert str(caught.value).startswith(
        f"O contêiner de objetos excluídos 'CN=Deleted Objects,OU=Nope,{memory_dc.base_dn}' não pode ser lido")
    assert str(caught.value).endswith("As exclusões passam então a ser detectadas pela reconciliação completa.")


# -- the proxy


def test_a_moved_proxy_asks_for_its_password_again_in_portuguese(portuguese):
    before = ProxySettings(mode="manual", host="proxy.corp.test", port=3128, user="svc")
    after = before.model_copy(update={"host": "other.corp.test"})
    with pytest.raises(InputError) as caught:
        save_proxy(None, after, None, lambda: None, previous=before)  # type: ignore[arg-type]
    assert str(caught.value).startswith("o host, a porta ou o usuário do proxy mudou: digite de novo a senha de svc")


@pytest.mark.parametrize(("outcome", "reason", "portuguese_line", "english_line"), [
    ("allowed", None, "ana permitido em 21 ms", "ana allowed in 21 ms"),
    ("denied", "unknown_user", "ana negado (unknown_user) em 40 ms", "ana denied (unknown_user) in 40 ms"),
    ("error", "directory_unreachable", "ana erro (directory_unreachable) em 5 ms", "ana error (directory_unreachable) in 5 ms"),
    ("expired", "expired", "ana expirado (expired) em 0 ms", "ana expired (expired) in 0 ms"),
])
def test_a_login_check_log_line_says_its_outcome_in_the_admins_words(outcome, reason, portuguese_line, english_line):
    """The outcome is translated; the reason stays the code Identity receives and logs."""
    latency = {"allowed": 21.0, "denied": 40.4, "error": 5.0, "expired": 0.0}[outcome]
    result = LoginCheckResult(outcome, reason, latency, "ana")
    set_language("pt_BR")
    try:
        assert describe(result) == portuguese_line
    finally:
        set_language("en")
    assert describe(result) == english_line

"""A login check binds once as the user and says why AD refused: against the real Samba DC."""

from __future__ import annotations

import uuid

import pytest
from ldap3 import MODIFY_REPLACE
from pydantic import SecretStr

from smartsync_tui.core.login_check import LoginChecker, parse_login, shown_login
from smartsync_tui.core.settings import DEFAULT_USER_FILTER

# -- the login forms (no DC needed)


@pytest.mark.parametrize(
    ("login", "kind", "name", "domain"),
    [
        ("maria.silva", "sam", "maria.silva", ""),
        ("SAMDOM\\maria.silva", "down_level", "maria.silva", "SAMDOM"),
        ("samdom.example.com\\maria.silva", "down_level", "maria.silva", "samdom.example.com"),
        ("maria.silva@samdom.example.com", "upn", "maria.silva@samdom.example.com", "samdom.example.com"),
        ("  joão@x.com ", "upn", "joão@x.com", "x.com"),
    ],
)
def test_login_forms_are_understood(login, kind, name, domain):
    parsed = parse_login(login)
    assert parsed is not None
    assert (parsed.kind, parsed.name, parsed.domain) == (kind, name, domain)


@pytest.mark.parametrize("login", ["", "   ", "a\\b\\c", "\\user", "DOM\\", "@x.com", "user@", "us\ner", "x" * 300,
                                   "DOM AIN\\user", "DOM\\us@er"])
def test_malformed_logins_are_refused(login):
    assert parse_login(login) is None


def test_a_shown_login_has_no_control_characters_and_is_bounded():
    assert shown_login("a\nb\x1b[31m") == "a?b?[31m"
    assert len(shown_login("x" * 500)) == 80


# -- against Samba


@pytest.fixture(scope="module")
def checker(samba_dc):
    checker = LoginChecker(samba_dc.directory_settings(), samba_dc.admin_secret(), DEFAULT_USER_FILTER)
    yield checker
    checker.close()


def check(checker, login, password):
    return checker.check(login, SecretStr(password))


@pytest.mark.parametrize("form", ["sam", "upn", "down_level", "dns_down_level", "implicit_upn"])
def test_the_right_password_is_allowed_in_every_login_form(samba_dc, checker, form):
    sam = "maria.silva"
    login = {
        "sam": sam,
        "upn": samba_dc.upn(sam),
        "down_level": f"{samba_dc.domain}\\{sam}",
        "dns_down_level": f"{samba_dc.realm.lower()}\\{sam}",
        "implicit_upn": f"{sam}@{samba_dc.realm.lower()}",
    }[form]
    result = check(checker, login, samba_dc.passwords[sam])
    assert (result.outcome, result.reason) == ("allowed", None)
    assert result.detail == samba_dc.user(sam)["dn"]
    assert result.latency_ms > 0


@pytest.mark.parametrize("sam", ["alice.andrade", "joao.conceicao", "ivan.petrov", "maria.silva"])
def test_non_ascii_passwords_are_sent_exactly_as_typed(samba_dc, checker, sam):
    assert check(checker, sam, samba_dc.passwords[sam]).outcome == "allowed"


def test_a_wrong_password_is_denied_as_invalid_credentials(checker):
    result = check(checker, "maria.silva", "not-her-password")
    assert (result.outcome, result.reason) == ("denied", "invalid_credentials")


def test_a_disabled_account_is_denied_as_disabled(samba_dc, checker):
    result = check(checker, "roberto.bastos", samba_dc.passwords["roberto.bastos"])
    assert (result.outcome, result.reason) == ("denied", "account_disabled")


def test_an_account_that_must_change_its_password_is_denied_with_that_reason(samba_dc, checker):
    result = check(checker, "carla.mendes", samba_dc.passwords["carla.mendes"])
    assert (result.outcome, result.reason) == ("denied", "password_must_change")


def test_an_unknown_user_or_another_domain_is_denied_as_unknown(samba_dc, checker):
    assert check(checker, "nobody.here", "x").reason == "unknown_user"
    assert check(checker, "OTHERDOM\\maria.silva", samba_dc.passwords["maria.silva"]).reason == "unknown_user"
    assert check(checker, "maria.silva@elsewhere.example", samba_dc.passwords["maria.silva"]).reason == "unknown_user"


def test_an_empty_password_is_never_allowed(checker):
    # AD takes a simple bind with an empty password as an anonymous login: it must not pass.
    result = check(checker, "maria.silva", "")
    assert (result.outcome, result.reason) == ("denied", "invalid_credentials")


def test_filter_characters_in_a_login_do_not_widen_the_lookup(checker):
    assert check(checker, "*", "x").reason == "unknown_user"
    assert check(checker, "maria*", "x").reason == "unknown_user"
    assert check(checker, "x)(sAMAccountName=*", "x").reason == "unknown_user"


def test_a_user_outside_the_base_dn_is_unknown(samba_dc):
    ou = samba_dc.make_ou()
    scoped = LoginChecker(samba_dc.directory_settings(base_dn=ou), samba_dc.admin_secret(), DEFAULT_USER_FILTER)
    try:
        result = scoped.check("maria.silva", SecretStr(samba_dc.passwords["maria.silva"]))
    finally:
        scoped.close()
    assert (result.outcome, result.reason) == ("denied", "unknown_user")


def test_a_plain_ldap_directory_is_refused_unless_allowed(samba_dc):
    plain = samba_dc.directory_settings(tls="plain", port=samba_dc.ldap_port)
    refused = LoginChecker(plain, samba_dc.admin_secret(), DEFAULT_USER_FILTER)
    result = refused.check("maria.silva", SecretStr(samba_dc.passwords["maria.silva"]))
    refused.close()
    assert (result.outcome, result.reason) == ("error", "insecure_connection")


def test_a_locked_out_account_is_denied_as_locked_and_a_failed_bind_is_not_retried(samba_dc, checker):
    """A password settings object locks this one user after 3 wrong passwords (the domain's policy is untouched)."""
    sam = "lock-" + uuid.uuid4().hex[:8]
    password = "Lock-Passw0rd!"
    ou = samba_dc.make_ou()
    dn = f"CN={sam},{ou}"
    pso = f"CN=pso-{sam},CN=Password Settings Container,CN=System,{samba_dc.base_dn}"
    conn = samba_dc.admin_connection()
    try:
        conn.add(dn, ["top", "person", "organizationalPerson", "user"],
                 {"sAMAccountName": sam, "userPrincipalName": f"{sam}@{samba_dc.realm.lower()}"})
        conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])]})
        conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [512])]})
        conn.add(pso, "msDS-PasswordSettings", {
            "msDS-PasswordSettingsPrecedence": 1,
            "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
            "msDS-PasswordHistoryLength": 0,
            "msDS-PasswordComplexityEnabled": "FALSE",
            "msDS-MinimumPasswordLength": 0,
            "msDS-MinimumPasswordAge": 0,
            "msDS-MaximumPasswordAge": -(10**15),
            "msDS-LockoutThreshold": 3,
            "msDS-LockoutObservationWindow": -(30 * 60 * 10**7),
            "msDS-LockoutDuration": -(30 * 60 * 10**7),
            "msDS-PSOAppliesTo": [dn],
        })

        def bad_pwd_count() -> int:
            conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["badPwdCount"])
            return int(conn.entries[0].badPwdCount.value or 0)

        for attempt in range(1, 4):
            result = check(checker, sam, "wrong-password")
            assert (result.outcome, result.reason) == ("denied", "invalid_credentials")
            assert bad_pwd_count() == attempt  # exactly one bind per check
        result = check(checker, sam, password)
        assert (result.outcome, result.reason) == ("denied", "account_locked")
    finally:
        conn.delete(pso)
        conn.unbind()

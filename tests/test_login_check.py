"""A login check binds once as the user and says why AD refused: against the real Samba DC."""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
import time
import uuid
from typing import Callable, Iterator

import pytest
from ldap3 import MODIFY_REPLACE
from pydantic import SecretStr

from smartsync_tui.targets.identity import pass_through as command_loop
from smartsync_tui.ad import login_check
from smartsync_tui.ad.errors import AdBindReason
from smartsync_tui.ad.connect import _bind_failure
from smartsync_tui.ad.errors import DirectoryError
from smartsync_tui.ad.login_check import MAX_IDLE_SECONDS, LoginChecker, parse_login, shown_login
from smartsync_tui.config.settings import DEFAULT_USER_FILTER, DirectorySettings
from smartsync_tui.ui.screens import details

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


# C1 controls (\x9b is the 8-bit CSI terminals act on, \x85 a line break) and the
# bidi overrides and isolates, which make a log line read other than it is.
C1_AND_BIDI = ["\x80", "\x85", "\x9b", "\x9f", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
               "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.mark.parametrize("char", C1_AND_BIDI)
def test_c1_controls_and_bidi_overrides_are_not_shown(char):
    assert shown_login(f"admin{char}31m") == "admin?31m"


@pytest.mark.parametrize("char", C1_AND_BIDI)
def test_a_login_with_c1_controls_or_bidi_overrides_is_refused(char):
    assert parse_login(f"maria{char}.silva") is None
    assert parse_login(f"SAMDOM\\maria{char}") is None  # also at the end, where strip() would drop \x85
    assert parse_login(f"{char}maria.silva") is None


@pytest.mark.parametrize("char", ["\x1c", "\x1f"])
def test_a_control_at_the_end_is_refused_not_stripped(char):
    assert parse_login(f"maria.silva{char}") is None


def test_letters_next_to_the_control_ranges_are_still_logins():
    # \xa0 (no-break space) and up are printable; U+2065 and U+2070 border the bidi ranges.
    for login in ("joão", "andré\xa0x", "x\u2070y", "a\u2065b"):
        assert parse_login(login) is not None
        assert "?" not in shown_login(login)


# -- how a refused bind is answered (no DC: the refusal is made by ad/connect.py's own _bind_failure)

WINDOWS_MESSAGE = "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data {}, v893"
USER_DN = "CN=Maria Silva,OU=Staff,DC=example,DC=com"


@pytest.fixture
def offline_checker(monkeypatch):
    """A checker whose lookup always finds USER_DN and whose user bind is ``bind`` (set by the test)."""
    directory = DirectorySettings(id="unit", server="dc1.example.com", bind_user="svc@example.com",
                                  base_dn="DC=example,DC=com")
    checker = LoginChecker(directory, SecretStr("svc-password"), DEFAULT_USER_FILTER, timeout=10.0)
    monkeypatch.setattr(checker, "_find", lambda parsed: login_check._Lookup(USER_DN))
    binds: list[dict] = []

    def fake_connect(settings, password, *, timeout, check_base_dn):
        binds.append({"dn": settings.bind_user, "timeout": timeout})
        if checker.refusal is not None:
            raise checker.refusal

    monkeypatch.setattr(login_check, "connect", fake_connect)
    monkeypatch.setattr(login_check, "close", lambda conn: None)
    checker.refusal = None
    checker.binds = binds
    yield checker
    checker.close()


def refused(directory: DirectorySettings, message: str, code: int = 49) -> DirectoryError:
    failure = _bind_failure(directory.model_copy(update={"bind_user": USER_DN}), code, "invalidCredentials", message)
    assert failure.stage == "bind"
    return failure


@pytest.mark.parametrize(
    ("message", "outcome", "reason"),
    [
        (WINDOWS_MESSAGE.format("52e"), "denied", "invalid_credentials"),
        (WINDOWS_MESSAGE.format("775"), "denied", "account_locked"),
        (WINDOWS_MESSAGE.format("533"), "denied", "account_disabled"),
        ("invalid credentials", "denied", "invalid_credentials"),  # result 49 without a data code
        (WINDOWS_MESSAGE.format("525"), "denied", "unknown_user"),
        (WINDOWS_MESSAGE.format("80090346"), "error", "ldap_refused"),  # channel binding
        (WINDOWS_MESSAGE.format("1f4"), "error", "ldap_refused"),
    ],
)
def test_a_refused_bind_is_answered_from_its_data_code(offline_checker, message, outcome, reason):
    offline_checker.refusal = refused(offline_checker.directory, message)
    result = offline_checker.check("maria.silva", SecretStr("pw"))
    assert (result.outcome, result.reason) == (outcome, reason)
    assert len(offline_checker.binds) == 1


def test_an_unknown_data_code_is_named_in_the_log_detail(offline_checker):
    offline_checker.refusal = refused(offline_checker.directory, WINDOWS_MESSAGE.format("80090346"))
    assert offline_checker.refusal.data_code == "80090346"
    result = offline_checker.check("maria.silva", SecretStr("pw"))
    assert "80090346" in result.detail and USER_DN in result.detail


def test_the_directory_test_still_reads_525_as_a_wrong_password(offline_checker):
    # Outside login checks (the read account's own bind) 525 must not tell who exists.
    failure = refused(offline_checker.directory, WINDOWS_MESSAGE.format("525"))
    assert failure.reason is AdBindReason.INVALID_CREDENTIALS and failure.data_code == "525"


def test_another_ldap_code_is_ldap_refused(offline_checker):
    offline_checker.refusal = refused(offline_checker.directory, "", code=53)
    result = offline_checker.check("maria.silva", SecretStr("pw"))
    assert (result.outcome, result.reason) == ("error", "ldap_refused")
    assert "53" in result.detail


def test_a_connection_failure_before_the_bind_says_why(offline_checker):
    offline_checker.refusal = DirectoryError("tls", "The certificate of dc1.example.com:636 has expired.")
    result = offline_checker.check("maria.silva", SecretStr("pw"))
    assert (result.outcome, result.reason) == ("error", "ldap_unavailable")
    assert USER_DN in result.detail and "has expired" in result.detail


# -- a password typed into the login field (no DC)


def test_a_login_refused_as_malformed_is_kept_masked(offline_checker):
    result = offline_checker.check("S3nh@ Secreta\\x", SecretStr("pw"))  # a password, typed as the login
    assert (result.outcome, result.reason, result.login) == ("denied", "invalid_login", "S3…(15 chars)")
    assert "Secreta" not in login_check.describe(result) and offline_checker.binds == []


def test_an_unknown_login_is_kept_masked(offline_checker, monkeypatch):
    monkeypatch.setattr(offline_checker, "_find", lambda parsed: login_check._Lookup(None, "no such user"))
    result = offline_checker.check("Minh4Senha!", SecretStr("pw"))
    assert (result.outcome, result.reason, result.login) == ("denied", "unknown_user", "Mi…(11 chars)")
    assert login_check.describe(result).startswith("Mi…(11 chars) denied (unknown_user) in ")


def test_a_masked_login_shows_no_control_character():
    assert login_check.masked_login("\x1b[2Jrest") == "?[…(8 chars)"


def test_a_known_login_is_shown_whole(offline_checker):
    offline_checker.refusal = refused(offline_checker.directory, WINDOWS_MESSAGE.format("52e"))
    assert offline_checker.check("maria.silva", SecretStr("pw")).login == "maria.silva"


# -- every reason has words in the console (no DC)


def _reason_codes() -> set[str]:
    """The reasons login_check and command_loop answer with: their constants and AD's."""
    codes = set(login_check.REASON_BY_BIND.values())
    for module in (login_check, command_loop):
        codes |= {value for name, value in vars(module).items()
                  if name.isupper() and isinstance(value, str) and re.fullmatch("[a-z]+(_[a-z]+)*", value)}
    return codes


def test_every_reason_answered_is_a_constant():
    # The reasons given to done() and _answer(), and returned by bind_refusal() (whose answer
    # done(*...) takes), are the constants collected above, not literals.
    def assert_constant(reason: ast.expr) -> None:
        assert isinstance(reason, (ast.Name, ast.Subscript)) or (
            isinstance(reason, ast.Constant) and reason.value is None), ast.unparse(reason)

    seen = 0
    for module, call, position in ((login_check, "done", 1), (command_loop, "_answer", 0)):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == call:
                if isinstance(node.args[0], ast.Starred):
                    assert ast.unparse(node.args[0].value).startswith("bind_refusal("), ast.unparse(node)
                    continue
                assert_constant(node.args[position])
                seen += 1
    for node in ast.walk(ast.parse(inspect.getsource(login_check.bind_refusal))):
        if isinstance(node, ast.Return):
            assert isinstance(node.value, ast.Tuple)
            assert_constant(node.value.elts[1])
            seen += 1
    assert seen >= 14


def test_the_details_screen_has_words_for_every_reason():
    codes = _reason_codes()
    assert {"unknown_user", "invalid_login", "bad_command", "undecryptable", "account_locked"} <= codes
    assert codes - set(details.REASONS) == set()


# -- the deadline (no DC)


def test_a_deadline_passed_during_the_lookup_is_expired_without_a_bind(offline_checker):
    result = offline_checker.check("maria.silva", SecretStr("pw"), deadline_at=time.perf_counter() - 0.001)
    assert (result.outcome, result.reason) == ("expired", "expired")
    assert offline_checker.binds == []


@pytest.mark.parametrize(("left", "low", "high"), [(None, 10.0, 10.0), (100.0, 10.0, 10.0), (4.0, 3.0, 4.0),
                                                    (0.2, 1.0, 1.0)])
def test_the_bind_waits_at_most_the_time_left(offline_checker, left, low, high):
    deadline_at = None if left is None else time.perf_counter() + left
    assert offline_checker.check("maria.silva", SecretStr("pw"), deadline_at=deadline_at).outcome == "allowed"
    assert low <= offline_checker.binds[0]["timeout"] <= high


# -- the read account's pool (no DC)


class FakeConn:
    def __init__(self) -> None:
        self.closed = False

    def unbind(self) -> None:
        self.closed = True


def test_a_connection_given_back_after_close_is_closed_not_pooled(offline_checker, monkeypatch):
    checker = offline_checker
    monkeypatch.setattr(login_check, "close", lambda conn: conn.unbind())
    conn = FakeConn()
    # close() runs between _give's first look at _closed and its put: the second look drains.
    real_put = checker._pool.put

    def put_during_close(item):
        checker.close()
        real_put(item)

    monkeypatch.setattr(checker._pool, "put", put_during_close)
    checker._give(conn)
    assert conn.closed and checker._pool.empty()


def test_a_connection_idle_too_long_is_closed_not_handed_out(offline_checker, monkeypatch):
    checker = offline_checker
    monkeypatch.setattr(login_check, "close", lambda conn: conn.unbind())
    fresh = FakeConn()
    monkeypatch.setattr(checker, "_connect", lambda: fresh)
    stale, recent = FakeConn(), FakeConn()
    now = time.monotonic()
    checker._pool.put((stale, now - MAX_IDLE_SECONDS - 1))
    checker._pool.put((recent, now - 10))
    assert checker._take() is recent
    assert checker._take() is fresh and stale.closed and not fresh.closed


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


@contextlib.contextmanager
def user_counting_bad_passwords(samba_dc, threshold: int) -> Iterator[tuple[str, str, Callable[[], int]]]:
    """(sAMAccountName, password, badPwdCount reader) of a new user whose failed binds are counted.

    Samba counts bad passwords only where a lockout threshold applies: a
    password settings object gives this one user one (the domain's policy is untouched).
    """
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
            "msDS-LockoutThreshold": threshold,
            "msDS-LockoutObservationWindow": -(30 * 60 * 10**7),
            "msDS-LockoutDuration": -(30 * 60 * 10**7),
            "msDS-PSOAppliesTo": [dn],
        })

        def bad_pwd_count() -> int:
            conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["badPwdCount"])
            return int(conn.entries[0].badPwdCount.value or 0)

        yield sam, password, bad_pwd_count
    finally:
        conn.delete(pso)
        conn.unbind()


def test_filter_characters_in_a_login_do_not_widen_the_lookup(samba_dc, checker):
    with user_counting_bad_passwords(samba_dc, threshold=50) as (sam, _password, bad_pwd_count):
        # Unescaped, each of these would find the user (or maria.silva) and bind with a wrong password.
        payloads = [
            "*", "maria*", "maria.silva)(|(cn=*", "x)(sAMAccountName=*",
            f"{sam[:-2]}*", f"{sam})(|(cn=*", f"{sam})(sAMAccountName={sam}", f"*)(sAMAccountName={sam}",
            f"{samba_dc.domain}\\{sam[:-2]}*", f"{sam[:-2]}*@{samba_dc.realm.lower()}",
            f"{sam}\\2a", f"{sam}\x00",
        ]
        maria = samba_dc.user("maria.silva")["dn"]
        for login in payloads:
            result = check(checker, login, "wrong-password")
            assert result.outcome == "denied" and result.reason in ("unknown_user", "invalid_login"), login
            assert result.detail != maria, login
        assert bad_pwd_count() == 0  # no bind as the user happened
        # the counter does count: one wrong password is one
        assert check(checker, sam, "wrong-password").reason == "invalid_credentials"
        assert bad_pwd_count() == 1


def test_a_deadline_passed_after_the_lookup_is_expired_without_a_bind(samba_dc, checker):
    with user_counting_bad_passwords(samba_dc, threshold=50) as (sam, password, bad_pwd_count):
        result = checker.check(sam, SecretStr("wrong-password"), deadline_at=time.perf_counter())
        assert (result.outcome, result.reason) == ("expired", "expired")
        assert bad_pwd_count() == 0
        result = checker.check(sam, SecretStr(password), deadline_at=time.perf_counter() + 20)
        assert (result.outcome, result.reason) == ("allowed", None)


def pooled(checker: LoginChecker) -> list:
    return [conn for conn, _last_used in list(checker._pool.queue)]


@pytest.mark.parametrize("how", ["socket", "strategy"])
def test_dead_pooled_connections_still_give_the_right_answer(samba_dc, how):
    """The DC (MaxConnIdleTime) or a firewall drops idle pooled connections: the check must not notice."""
    checker = LoginChecker(samba_dc.directory_settings(), samba_dc.admin_secret(), DEFAULT_USER_FILTER)
    password = samba_dc.passwords["maria.silva"]
    try:
        assert check(checker, "maria.silva", password).outcome == "allowed"
        # several pooled connections, all to be dropped
        extra = [checker._take() for _ in range(2)]
        for conn in extra:
            checker._give(conn)
        dead = pooled(checker)
        assert len(dead) >= 2
        for conn in dead:
            if how == "socket":
                conn.socket.close()
            else:
                conn.strategy.close()
        result = check(checker, "maria.silva", password)
        assert (result.outcome, result.reason) == ("allowed", None)
        assert (check(checker, "maria.silva", "wrong").outcome, check(checker, "nobody.here", "x").reason) == (
            "denied", "unknown_user")
        # the retry drained the pool rather than trying the next dead connection
        assert not set(map(id, pooled(checker))) & set(map(id, dead))
    finally:
        checker.close()
    assert checker._pool.empty()


def test_a_pooled_connection_idle_too_long_is_replaced(samba_dc):
    checker = LoginChecker(samba_dc.directory_settings(), samba_dc.admin_secret(), DEFAULT_USER_FILTER)
    try:
        assert check(checker, "maria.silva", samba_dc.passwords["maria.silva"]).outcome == "allowed"
        (old, last_used), = list(checker._pool.queue)
        checker._pool.queue[0] = (old, last_used - MAX_IDLE_SECONDS - 1)
        assert check(checker, "maria.silva", samba_dc.passwords["maria.silva"]).outcome == "allowed"
        assert old.closed and pooled(checker) and old not in pooled(checker)
    finally:
        checker.close()


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
    """The user is locked after 3 wrong passwords."""
    with user_counting_bad_passwords(samba_dc, threshold=3) as (sam, password, bad_pwd_count):
        for attempt in range(1, 4):
            result = check(checker, sam, "wrong-password")
            assert (result.outcome, result.reason) == ("denied", "invalid_credentials")
            assert bad_pwd_count() == attempt  # exactly one bind per check
        result = check(checker, sam, password)
        assert (result.outcome, result.reason) == ("denied", "account_locked")

"""Pass-through authentication end to end: Identity (the emulator) asks, the agent's
command loop decrypts, binds to the real Samba DC as the user, and answers."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlparse

import pytest

from smartsync_tui.targets.identity import agent_keys
from smartsync_tui.targets.identity.pass_through import (
    CommandLoopState,
    LoginChecked,
    LoginCheckService,
)
from smartsync_tui.logs.event_log import export_log
from smartsync_tui.logs.setup import setup_logging
from tests.support.emulator import start_emulator
from tests.support.sync_env import make_sync_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.samba


@pytest.fixture
def staff_env(samba_dc, emulator, tmp_path):
    """A home whose directory is the DC's Staff OU (the seeded users with passwords)."""
    env = make_sync_env(samba_dc, emulator, tmp_path, ou=samba_dc.staff_ou)
    yield env
    env.ad.close()
    env.state.close()


class Running:
    """The login-check service of a home, with its events and its application log."""

    def __init__(self, env) -> None:
        self.env = env
        self.events: list = []
        self.handler = setup_logging(env.home)
        self.service = LoginCheckService(lambda: env.settings, env.secrets, env.home.state_db,
                                         on_event=self.events.append)

    def __enter__(self) -> "Running":
        self.service.reconcile()
        return self

    def __exit__(self, *exc) -> None:
        self.service.stop()
        logging.getLogger("smartsync").removeHandler(self.handler)
        self.handler.close()

    def wait_for_key(self, timeout: float = 20) -> str:
        """The fingerprint of the key the agent published (once it has)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for agent in self.env.emulator.agents():
                key = agent["public_key"]
                if agent["registered_with_directory"] == self.env.identity_directory and key:
                    stored = self.env.secrets.get(agent_keys.directory_private_key("corp"))
                    if stored and agent_keys.PrivateKey(stored).public_pem == key["public_key_pem"]:
                        return agent_keys.fingerprint(key["public_key_pem"])
            time.sleep(0.05)
        raise AssertionError("the agent did not publish its public key")

    def ask(self, login: str, password: str, **options) -> dict:
        command = self.env.emulator.login_check(self.env.identity_directory, login, password, **options)
        return self.env.emulator.wait_for_result(command["id"])["result"]


def test_logins_are_checked_through_identity_and_no_password_is_kept_anywhere(samba_dc, staff_env):
    passwords = samba_dc.passwords
    wrong = "Wr0ng-Senha-Única!"
    with Running(staff_env) as running:
        running.wait_for_key()
        answers = {
            "right": running.ask(samba_dc.upn("maria.silva"), passwords["maria.silva"]),
            "accents": running.ask("joao.conceicao", passwords["joao.conceicao"]),
            "down_level": running.ask(f"{samba_dc.domain}\\ivan.petrov", passwords["ivan.petrov"]),
            "wrong": running.ask("maria.silva", wrong),
            "disabled": running.ask("roberto.bastos", passwords["roberto.bastos"]),
            "must_change": running.ask("carla.mendes", passwords["carla.mendes"]),
            "unknown": running.ask("nobody.at.all", wrong),
        }
    outcomes = {name: (a["outcome"], a["reason"]) for name, a in answers.items()}
    assert outcomes == {
        "right": ("allowed", None),
        "accents": ("allowed", None),
        "down_level": ("allowed", None),
        "wrong": ("denied", "invalid_credentials"),
        "disabled": ("denied", "account_disabled"),
        "must_change": ("denied", "password_must_change"),
        "unknown": ("denied", "unknown_user"),
    }
    assert all(a["latency_ms"] > 0 for a in answers.values())

    # What an admin sees: one line per check with the login, the result and its reason.
    log_text = (staff_env.home.log_dir / "application.log").read_text(encoding="utf-8")
    assert f"login check corp: {samba_dc.upn('maria.silva')} allowed in" in log_text
    assert "login check corp: roberto.bastos denied (account_disabled) in" in log_text
    # A login nobody has may be a password typed in the wrong field: only its start is kept.
    assert "nobody.at.all" not in log_text and "login check corp: no…(13 chars) denied (unknown_user)" in log_text
    checks = staff_env.state.login_checks("corp", limit=50)
    assert [c.outcome for c in checks].count("allowed") == 3 and len(checks) == 7

    # The passwords are nowhere: log, export, state database, settings.
    export = staff_env.home.log_dir.parent / "export.txt"
    export_log(staff_env.home, "application", None, None, export)
    files = [p for p in staff_env.home.config_dir.parent.rglob("*") if p.is_file() and p.name != "secrets.json"]
    assert export in files and staff_env.home.state_db in files
    used = [wrong] + [passwords[s] for s in ("maria.silva", "joao.conceicao", "ivan.petrov", "roberto.bastos",
                                             "carla.mendes")]
    for path in files:
        data = path.read_bytes()
        for secret in used:
            for encoded in (secret.encode("utf-8"), secret.encode("utf-16-le")):
                assert encoded not in data, f"a password is in {path}"


def maria_logs_in(samba_dc, emulator, tmp_path, **directory) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """maria.silva's right password checked through a directory with these settings: the answer, the log."""
    env = make_sync_env(samba_dc, emulator, tmp_path, ou=samba_dc.staff_ou, **directory)
    try:
        with Running(env) as running:
            running.wait_for_key()
            answer = running.ask("maria.silva", samba_dc.passwords["maria.silva"])
    finally:
        env.ad.close()
        env.state.close()
    return answer, (env.home.log_dir / "application.log").read_text(encoding="utf-8")


def test_a_plain_ldap_directory_refuses_login_checks(samba_dc, emulator, tmp_path):
    answer, _log = maria_logs_in(samba_dc, emulator, tmp_path, tls="plain", port=samba_dc.ldap_port)
    assert (answer["outcome"], answer["reason"]) == ("error", "insecure_connection")


def test_a_check_that_waited_past_the_deadline_is_answered_expired_without_a_bind(samba_dc, staff_env):
    staff_env.settings.login_checks.deadline_seconds = 2
    staff_env.settings.login_checks.poll_wait_seconds = 1  # the first agent is gone before Identity asks
    with Running(staff_env) as running:
        running.wait_for_key()
    # The agent is stopped while Identity asks; it starts again 3 s later.
    command = staff_env.emulator.login_check(staff_env.identity_directory, "maria.silva", "wrong-but-never-tried")
    time.sleep(3)
    conn = samba_dc.admin_connection()
    dn = samba_dc.user("maria.silva")["dn"]

    def bad_pwd_count() -> int:
        conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["badPwdCount"])
        return int(conn.entries[0].badPwdCount.value or 0)

    before = bad_pwd_count()
    with Running(staff_env):
        answer = staff_env.emulator.wait_for_result(command["id"])["result"]
    assert (answer["outcome"], answer["reason"]) == ("expired", "expired")
    assert bad_pwd_count() == before  # no bind was made
    conn.unbind()


def test_registering_again_rotates_the_key_pair(samba_dc, staff_env):
    from pydantic import SecretStr

    from smartsync_tui.checks.directory import store_directory_secrets

    with Running(staff_env) as running:
        first = running.wait_for_key()
        # Entered again while the agent runs (the CLI or the console, maybe another process):
        # a new token, agent key and key pair. The running loop picks them up by itself.
        token = staff_env.emulator.new_token(staff_env.identity_directory)
        store_directory_secrets(staff_env.settings, staff_env.secrets, staff_env.settings.directories[0], None,
                                SecretStr(token))
        second = running.wait_for_key()
        assert second != first
        answer = running.ask("maria.silva", samba_dc.passwords["maria.silva"])
    assert answer["outcome"] == "allowed"


def test_the_loop_recovers_by_itself_when_identity_is_away_and_back(samba_dc, tmp_path):
    data = tmp_path / "identity"
    with start_emulator(data) as identity:
        port = urlparse(identity.url).port
        env = make_sync_env(samba_dc, identity, tmp_path / "agent", ou=samba_dc.staff_ou)
        running = Running(env).__enter__()
        running.wait_for_key()
        assert running.ask("maria.silva", samba_dc.passwords["maria.silva"])["outcome"] == "allowed"
    try:
        # Identity is away: the loop notices, says so, and backs off.
        wait_until(lambda: any(isinstance(e, CommandLoopState) and not e.connected for e in running.events),
                   30.0, "the loop to notice that Identity is away")
        with start_emulator(data, port=port) as identity_again:
            env.emulator = identity_again
            answer = running.ask("maria.silva", samba_dc.passwords["maria.silva"])
            assert answer["outcome"] == "allowed"
    finally:
        running.__exit__(None, None, None)
        env.ad.close()
        env.state.close()
    log_text = (env.home.log_dir / "application.log").read_text(encoding="utf-8")
    assert "login checks wait" in log_text
    assert "Identity reachable again, answering login checks" in log_text
    checked = [e for e in running.events if isinstance(e, LoginChecked)]
    assert [e.result.outcome for e in checked] == ["allowed", "allowed"]


def test_a_plain_ldap_directory_answers_when_explicitly_allowed(samba_dc, emulator, tmp_path):
    answer, _log = maria_logs_in(samba_dc, emulator, tmp_path, tls="plain", port=samba_dc.ldap_port,
                                 allow_plain_login_checks=True)
    assert (answer["outcome"], answer["reason"]) == ("allowed", None)


def test_an_unreachable_dc_is_an_error_not_a_denial(samba_dc, emulator, tmp_path):
    answer, log_text = maria_logs_in(samba_dc, emulator, tmp_path, port=1)  # nothing listens there
    assert (answer["outcome"], answer["reason"]) == ("error", "ldap_unavailable")
    assert "login check corp: maria.silva error (ldap_unavailable)" in log_text


def test_a_revoked_token_stops_the_checks_until_a_new_one_is_entered(samba_dc, staff_env):
    from pydantic import SecretStr

    from smartsync_tui.checks.directory import store_directory_secrets

    staff_env.settings.login_checks.poll_wait_seconds = 1
    with Running(staff_env) as running:
        running.wait_for_key()
        staff_env.emulator.revoke_token(staff_env.identity_directory)
        wait_until(lambda: any(isinstance(e, CommandLoopState) and not e.connected for e in running.events),
                   30.0, "the loop to notice the revoked token")
        log_text = (staff_env.home.log_dir / "application.log").read_text(encoding="utf-8")
        assert "generate a new token" in log_text and "login checks wait" in log_text
        # The admin enters a new token (the CLI or the console): the loop takes it without a restart.
        token = staff_env.emulator.new_token(staff_env.identity_directory)
        store_directory_secrets(staff_env.settings, staff_env.secrets, staff_env.settings.directories[0], None,
                                SecretStr(token))
        running.wait_for_key()
        answer = running.ask("maria.silva", samba_dc.passwords["maria.silva"])
    assert answer["outcome"] == "allowed"


def test_a_deleted_directorys_loop_does_not_hold_up_the_delete_while_it_waits_in_a_long_poll(samba_dc, staff_env):
    staff_env.settings.login_checks.poll_wait_seconds = 30
    with Running(staff_env) as running:
        wait_until(lambda: running.service.connected().get("corp"), 30.0, "the loop to connect")
        time.sleep(0.5)  # in its 30 s long poll
        staff_env.settings.directories = []  # deleted
        started = time.monotonic()
        running.service.reconcile()
        wait_until(lambda: not running.service.busy("corp"), 3, "the stopped loop to be out of the way")
        assert time.monotonic() - started < 2
    log_text = (staff_env.home.log_dir / "application.log").read_text(encoding="utf-8")
    assert "stopped unexpectedly" not in log_text

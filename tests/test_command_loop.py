"""The login-check loop's own rules, with a scripted Identity client and a fake checker
(unit tests: the real DC and emulator are in test_pass_through.py)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from smartsync_tui.targets.identity import agent_keys
from smartsync_tui.targets.identity import pass_through as command_loop
from smartsync_tui.targets.identity.pass_through import CommandLoop, LoginChecked
from smartsync_tui.targets.identity.errors import IdentityUnreachable
from smartsync_tui.ad.login_check import LoginCheckResult
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import (
    SecretStore,
    directory_agent_key,
    directory_password_key,
    directory_token_key,
)
from smartsync_tui.config.settings import AppSettings, DirectorySettings
from tests.support.waiting import wait_until

PAIR = agent_keys.new_key_pair()


class FakeClient:
    """Hands out scripted commands once each; records what the loop posts and publishes."""

    def __init__(self, script: list[list[dict]], *, failing_posts: int = 0) -> None:
        self.script = script
        self.failing_posts = failing_posts
        self.posts: list[tuple[str, dict]] = []
        self.published: list[str] = []
        self.server_clock_offset = 0.0
        self.closed = False
        self.last_failure = 0.0

    def put_public_key(self, pem: str, algorithm: str) -> dict:
        self.published.append(pem)
        return {}

    def get_directory(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the directory has its own user filter")

    def poll_commands(self, wait: float) -> list[dict]:
        # An entry may be a function: the commands it returns once it returns some (a lease that ends).
        if self.script:
            entry = self.script[0]
            commands = entry() if callable(entry) else entry
            if commands is not None:
                self.script.pop(0)
                return commands
        time.sleep(0.02)
        return []

    def post_command_result(self, command_id: str, body: dict) -> None:
        if self.failing_posts:
            self.failing_posts -= 1
            self.last_failure = time.monotonic()
            raise IdentityUnreachable("Identity is away (test)")
        self.posts.append((command_id, body))

    def abort(self, thread=None) -> None:  # type: ignore[no-untyped-def]
        """Its polls are short already (``poll_commands`` sleeps 20 ms)."""

    def close(self) -> None:
        self.closed = True


class FakeChecker:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.checked: list[tuple[str, str]] = []
        self.deadlines: list[float | None] = []

    def check(self, login: str, password: SecretStr, *, received_at: float, deadline_at: float | None = None):  # type: ignore[no-untyped-def]
        self.checked.append((login, password.get_secret_value()))
        self.deadlines.append(deadline_at)
        time.sleep(self.delay)
        allowed = password.get_secret_value() == "right"
        return LoginCheckResult("allowed" if allowed else "denied", None if allowed else "invalid_credentials",
                                1.0, login)

    def close(self) -> None:
        pass


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = resolve_home(tmp_path / "home").ensure()
    secrets = SecretStore(home.secrets_file)
    secrets.set_many({
        directory_token_key("corp"): "tok", directory_agent_key("corp"): "iak_x", directory_password_key("corp"): "pw",
        agent_keys.directory_private_key("corp"): PAIR.private_pem,
    })
    settings = AppSettings(directories=[DirectorySettings(
        id="corp", server="dc1.corp.example", bind_user="svc@corp.example", base_dn="DC=corp,DC=example",
        user_filter="(objectClass=user)")])
    settings.login_checks.concurrency = 2
    checker = FakeChecker()
    monkeypatch.setattr(CommandLoop, "_checker", lambda self, directory, client: checker)
    monkeypatch.setattr(command_loop, "_CREDENTIALS_POLL_SECONDS", 0.05)

    class Env:
        pass

    e = Env()
    e.home, e.secrets, e.settings, e.checker = home, secrets, settings, checker
    return e


def command(n: int, password: str = "right", *, age: float = 0.0, **payload) -> dict:  # type: ignore[no-untyped-def]
    created = datetime.now(timezone.utc) - timedelta(seconds=age)
    body = {"login": f"user{n}", "password_encrypted": agent_keys.encrypt(PAIR.public_pem, password),
            "algorithm": "RSA-OAEP-SHA256", "key_fingerprint": PAIR.fingerprint, **payload}
    return {"id": f"cmd_{n}", "type": "login_check", "created_at": created.isoformat(), "payload": body}


def run_loop(env, clients: list[FakeClient], until, timeout: float = 10.0) -> list:  # type: ignore[no-untyped-def]
    events: list = []
    made = iter(clients)
    loop = CommandLoop("corp", lambda: env.settings, env.secrets, env.home.state_db,
                       on_event=events.append, client_factory=lambda settings: next(made))
    loop.start()
    deadline = time.monotonic() + timeout
    try:
        while not until(events) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        loop.stop()
        loop.join(5)
    assert not loop.alive
    return events


def checked(events: list) -> list[LoginChecked]:
    return [e for e in events if isinstance(e, LoginChecked)]


def test_a_result_that_could_not_be_sent_is_sent_again_without_a_second_bind(env):
    first = command(1, "wrong")
    # The three posts fail; when its lease ends, Identity hands the command out again.
    client = FakeClient([[first], lambda: [first] if client.failing_posts == 0 and
                         time.monotonic() - client.last_failure > 0.3 else None], failing_posts=3)
    run_loop(env, [client], lambda events: client.posts)
    assert env.checker.checked == [("user1", "wrong")]  # one bind only
    assert client.posts == [("cmd_1", {"outcome": "denied", "reason": "invalid_credentials", "latency_ms": 1.0})]


def test_malformed_or_foreign_commands_are_answered_or_left_without_a_check(env):
    client = FakeClient([[
        {"id": "cmd_a", "type": "login_check", "created_at": datetime.now(timezone.utc).isoformat(), "payload": "x"},
        command(2, algorithm="RSA-PKCS1"),
        command(3, password_encrypted="bm90IGZvciB0aGlzIGtleQ=="),
        {"id": "cmd_b", "type": "rotate_secrets", "payload": {}},
        command(4, key_fingerprint="f" * 64),
    ]])
    events = run_loop(env, [client], lambda events: len(checked(events)) == 3, timeout=5)
    answers = {c: (b["outcome"], b["reason"]) for c, b in client.posts}
    assert answers == {"cmd_a": ("error", "bad_command"), "cmd_2": ("error", "bad_command"),
                       "cmd_3": ("error", "undecryptable")}
    assert env.checker.checked == []  # and nothing was bound
    assert len(checked(events)) == 3


def test_a_check_that_waited_past_the_deadline_is_expired_on_identitys_clock(env):
    env.settings.login_checks.deadline_seconds = 20
    naive = command(6, age=0)
    naive["created_at"] = (datetime.now(timezone.utc) - timedelta(seconds=30)).replace(tzinfo=None).isoformat()
    client = FakeClient([[command(5, age=30), naive, command(7, age=5)]])
    run_loop(env, [client], lambda events: len(client.posts) == 3)
    answers = {c: b["outcome"] for c, b in client.posts}
    assert answers == {"cmd_5": "expired", "cmd_6": "expired", "cmd_7": "allowed"}
    assert [login for login, _ in env.checker.checked] == ["user7"]
    # The checker gets the time left, so a slow lookup cannot bind past the deadline.
    (deadline_at,) = env.checker.deadlines
    assert deadline_at is not None and 10 < deadline_at - time.perf_counter() < 16

    # An agent whose clock runs 60 s behind Identity's still ages checks right.
    env.checker.checked.clear()
    behind = FakeClient([[command(8, age=-60)]])
    behind.server_clock_offset = 60.0
    run_loop(env, [behind], lambda events: behind.posts)
    assert behind.posts[0][1]["outcome"] == "allowed"


def test_stopping_leaves_queued_checks_to_identity_and_does_not_hang(env):
    env.checker.delay = 0.5
    env.settings.login_checks.concurrency = 1
    client = FakeClient([[command(n) for n in range(10)]])
    started = time.monotonic()
    run_loop(env, [client], lambda events: env.checker.checked, timeout=5)
    assert time.monotonic() - started < 3
    assert 1 <= len(env.checker.checked) <= 2
    # The checks bound are answered; the queued ones, cancelled, are not (Identity hands them out again).
    bound = {f"cmd_{login.removeprefix('user')}" for login, _password in env.checker.checked}
    assert {command_id for command_id, _body in client.posts} == bound
    assert len(client.posts) == len(bound)


def test_a_directory_registered_again_meanwhile_is_picked_up_without_a_restart(env):
    old = FakeClient([[]])
    new_pair = agent_keys.new_key_pair()
    new = FakeClient([])
    events: list = []
    clients = iter([old, new])
    loop = CommandLoop("corp", lambda: env.settings, env.secrets, env.home.state_db,
                       on_event=events.append, client_factory=lambda settings: next(clients))
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while not old.published and time.monotonic() < deadline:
            time.sleep(0.02)
        # What `directory edit --token-stdin` stores: a new agent key and key pair.
        env.secrets.set_many({directory_agent_key("corp"): "iak_new",
                              agent_keys.directory_private_key("corp"): new_pair.private_pem})
        while not new.published and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        loop.stop()
        loop.join(5)
    assert old.published == [PAIR.public_pem] and new.published == [new_pair.public_pem]
    assert old.closed


def test_a_loop_that_died_is_started_again_later(env, monkeypatch, caplog):
    monkeypatch.setattr(command_loop, "RESTART_AFTER_SECONDS", 0.3)
    crashed_at: list[float] = []
    connected = threading.Event()

    def connect(self, settings):  # type: ignore[no-untyped-def]
        if not crashed_at:
            crashed_at.append(time.monotonic())
            raise RuntimeError("a bug (test)")  # not a UserError: the loop's thread dies of it
        return FakeClient([])

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if isinstance(event, command_loop.CommandLoopState) and event.connected:
            connected.set()

    monkeypatch.setattr(CommandLoop, "_connect", connect)
    service = command_loop.LoginCheckService(lambda: env.settings, env.secrets, env.home.state_db, on_event=on_event)
    try:
        service.reconcile()
        deadline = time.monotonic() + 10
        while not connected.is_set() and time.monotonic() < deadline:
            service.reconcile()  # the scheduler calls it every second
            connected.wait(0.02)
        assert connected.is_set() and service.connected() == {"corp": True}
        # Started again, but only after RESTART_AFTER_SECONDS (no tight cycle of crashes).
        assert crashed_at and time.monotonic() - crashed_at[0] >= 0.3
        assert "login checks corp stopped unexpectedly" in caplog.text
    finally:
        service.stop()


def _count_starts(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    started: list[str] = []
    real_start = CommandLoop.start

    def start(self):  # type: ignore[no-untyped-def]
        started.append(self.directory_id)
        return real_start(self)

    monkeypatch.setattr(CommandLoop, "start", start)
    return started


def test_a_changed_directory_keeps_its_loop_and_an_unwanted_one_is_stopped(env, monkeypatch):
    clients: list[FakeClient] = []
    monkeypatch.setattr(CommandLoop, "_connect", lambda self, settings: clients.append(FakeClient([])) or clients[-1])
    started = _count_starts(monkeypatch)
    service = command_loop.LoginCheckService(lambda: env.settings, env.secrets, env.home.state_db)
    try:
        service.reconcile()
        wait_until(lambda: service.connected() == {"corp": True}, 5, "the loop to connect")
        # Edited (the loop re-reads its settings every pass): the same loop, the same client.
        env.settings.directories[0] = env.settings.directories[0].model_copy(
            update={"display_name": "Corp (edited)", "user_filter": "(objectClass=person)"})
        service.reconcile()
        time.sleep(0.2)
        service.reconcile()
        assert started == ["corp"] and len(clients) == 1 and service.connected() == {"corp": True}
        # Login checks off, then disabled, then removed: the loop stops each time.
        for change in ({"login_checks": False}, {"enabled": False}, None):
            env.settings.directories[0] = env.settings.directories[0].model_copy(
                update={"login_checks": True, "enabled": True})
            service.reconcile()
            wait_until(lambda: service.connected() == {"corp": True}, 5, "the loop to connect")
            if change is None:
                removed = env.settings.directories.pop(0)
            else:
                env.settings.directories[0] = env.settings.directories[0].model_copy(update=change)
            service.reconcile()
            assert service.connected() == {}
            wait_until(lambda: not service.busy("corp"), 5, "the stopped loop to end")
            if change is None:
                env.settings.directories.append(removed)
        assert started == ["corp"] * 3
    finally:
        service.stop()


def test_the_loop_reconnects_when_the_identity_environment_or_the_proxy_changes(env):
    first, second, third = FakeClient([]), FakeClient([]), FakeClient([])
    clients = iter([first, second, third])
    loop = CommandLoop("corp", lambda: env.settings, env.secrets, env.home.state_db,
                       client_factory=lambda settings: next(clients))
    loop.start()
    try:
        wait_until(lambda: first.published, 5, "the first key published")
        env.settings.identity = env.settings.identity.model_copy(update={"environment": "identity.other.example"})
        wait_until(lambda: second.published, 5, "the second client")
        env.settings.proxy = env.settings.proxy.model_copy(update={"mode": "none"})
        wait_until(lambda: third.published, 5, "the third client")
    finally:
        loop.stop()
        loop.join(5)
    assert first.closed and second.closed
    assert [first.published, second.published, third.published] == [[PAIR.public_pem]] * 3


def test_no_key_is_created_for_a_directory_without_a_token(env):
    env.secrets.delete_prefix("directory/corp/")
    with pytest.raises(command_loop.UserError, match="no token"):
        command_loop.load_or_create_key(env.secrets, "corp")
    assert env.secrets.get(agent_keys.directory_private_key("corp")) is None
    # Registered (a token stored): the key is created once, then reused.
    env.secrets.set(directory_token_key("corp"), "tok")
    key = command_loop.load_or_create_key(env.secrets, "corp")
    assert command_loop.load_or_create_key(env.secrets, "corp").fingerprint == key.fingerprint

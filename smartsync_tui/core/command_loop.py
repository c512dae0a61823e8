"""Pass-through authentication's command loop: Identity's login checks, answered.

One :class:`CommandLoop` per directory (with ``login_checks`` on) long-polls
``GET /commands`` and hands each ``login_check`` to a bounded pool of threads
(``login_checks.concurrency``) that decrypt the password, check it against AD
(:mod:`smartsync_tui.core.login_check`) and post the result. The loop never
waits for a check, so a slow DC delays only the checks, never the next poll;
and it runs in threads of its own, beside the sync scheduler, so neither
stalls the other.

When Identity is away the loop backs off (1 s, 2 s, 4 s ... at most 60 s, with
jitter; a rejected token or agent key: 5 min) and says so once per outage in
the application log, and again when it is back. Each (re)connection publishes
the public key again (idempotent), so a registration lost on Identity's side
heals by itself.

A command is answered ``expired`` without a bind when it waited longer than
``login_checks.deadline_seconds`` (the user has given up, and a late bind only
counts toward a lockout); a command encrypted to another key (this directory
was registered again by another agent) is left alone for its owner. Every
check is logged (login, outcome, reason, latency: never the password) and
kept in the state store for the console's directory details.

:class:`LoginCheckService` keeps one loop per directory in step with the
settings; the `run` scheduler and a console that is the engine both use it.
Nothing here imports textual.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from smartsync_tui.core import agent_keys
from smartsync_tui.core.agent_keys import (
    DecryptionFailed,
    PrivateKey,
    directory_private_key,
)
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.identity_access import identity_client
from smartsync_tui.core.identity_client import (
    AgentKeyRejected,
    CommandGone,
    IdentityClient,
    TokenRejected,
)
from smartsync_tui.core.login_check import (
    BAD_COMMAND,
    EXPIRED,
    UNDECRYPTABLE,
    LoginChecker,
    LoginCheckResult,
    describe,
    shown_login,
)
from smartsync_tui.core.secret_store import SecretStore, directory_password_key
from smartsync_tui.core.settings import (
    DEFAULT_USER_FILTER,
    AppSettings,
    DirectorySettings,
)
from smartsync_tui.core.state_store import LoginCheckRecord, StateStore

log = logging.getLogger("smartsync.login")

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
REJECTED_WAIT_SECONDS = 300.0
# Commands waiting in the pool beyond this many per thread: stop polling until it drains.
_QUEUE_PER_THREAD = 8
_POST_ATTEMPTS = 3


@dataclass(frozen=True)
class LoginChecked:
    """A check was answered (or could not be)."""

    directory_id: str
    result: LoginCheckResult
    at: float  # time.time()
    posted: bool  # Identity took the result


@dataclass(frozen=True)
class CommandLoopState:
    """The loop's link with Identity changed."""

    directory_id: str
    connected: bool
    error: str | None = None


CommandLoopEvent = LoginChecked | CommandLoopState


def load_or_create_key(secrets: SecretStore, directory_id: str) -> PrivateKey:
    """The directory's private key; created (and stored, 0600) when there is none yet."""
    stored = secrets.get(directory_private_key(directory_id))
    if stored is None:
        pair = agent_keys.new_key_pair()
        secrets.set(directory_private_key(directory_id), pair.private_pem)
        log.info("login checks %s: created the agent's key pair (%s, fingerprint %s)",
                 directory_id, agent_keys.ALGORITHM, pair.fingerprint[:16])
        stored = pair.private_pem
    return PrivateKey(stored)


def _created_at(command: dict) -> float | None:
    try:
        return datetime.fromisoformat(str(command["created_at"])).timestamp()
    except (KeyError, ValueError):
        return None


class CommandLoop:
    """The login-check loop of one directory; :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        directory_id: str,
        settings: Callable[[], AppSettings],
        secrets: SecretStore,
        state_db: Path,
        *,
        on_event: Callable[[CommandLoopEvent], None] | None = None,
        client_factory: Callable[[AppSettings], IdentityClient] | None = None,
    ) -> None:
        self.directory_id = directory_id
        self._settings = settings
        self._secrets = secrets
        self._state_db = state_db
        self._on_event = on_event
        self._client_factory = client_factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"login-checks-{directory_id}", daemon=True)
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._skipped_keys: set[str] = set()
        self.connected = False

    # -- life

    def start(self) -> "CommandLoop":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Poll no more; the checks in flight still finish and post their result."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the loop

    def _loop(self) -> None:
        failures = 0
        away_said = False
        client: IdentityClient | None = None
        checker: LoginChecker | None = None
        checker_for: DirectorySettings | None = None
        key: PrivateKey | None = None
        store = StateStore(self._state_db)
        try:
            while not self._stop.is_set():
                settings = self._settings()
                directory = settings.directory(self.directory_id)
                if directory is None or not directory.enabled or not directory.login_checks:
                    return
                pool = self._pool_for(settings)
                try:
                    if client is None:
                        client = self._connect(settings)
                        key = load_or_create_key(self._secrets, self.directory_id)
                        client.put_public_key(key.public_pem, agent_keys.ALGORITHM)
                        checker, checker_for = None, None
                    if checker is None or checker_for != directory:
                        if checker is not None:
                            checker.close()
                        checker = self._checker(directory, client)
                        checker_for = directory
                    if failures or not self.connected:
                        log.info("login checks %s: %s", self.directory_id,
                                 "Identity reachable again, answering login checks" if away_said
                                 else "waiting for login checks from Identity")
                        failures, away_said = 0, False
                        self._set_connected(True)
                    if self._backlog() >= _QUEUE_PER_THREAD * settings.login_checks.concurrency:
                        self._stop.wait(0.05)  # the pool is full: let it drain before taking more
                        continue
                    commands = client.poll_commands(settings.login_checks.poll_wait_seconds)
                except UserError as exc:
                    if client is not None:
                        client.close()
                    client = None
                    failures += 1
                    rejected = isinstance(exc, (TokenRejected, AgentKeyRejected))
                    wait = REJECTED_WAIT_SECONDS if rejected else random.uniform(
                        0.5, 1.0) * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(failures - 1, 10))
                    if not away_said:
                        log.warning("login checks %s: %s; login checks wait (next try in %d s, then with backoff)",
                                    self.directory_id, exc, max(1, round(wait)))
                        away_said = True
                        self._set_connected(False, str(exc))
                    self._stop.wait(wait)
                    continue
                if self._stop.is_set():
                    break  # stopping: what this poll leased goes back to Identity when the lease ends
                for command in commands:
                    self._dispatch(command, pool, client, checker, key, store, settings)
        except Exception:  # never let the thread die silently
            log.exception("login checks %s stopped unexpectedly", self.directory_id)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)  # the checks in flight finish and post
            if checker is not None:
                checker.close()
            if client is not None:
                client.close()
            store.close()
            self._set_connected(False)

    def _connect(self, settings: AppSettings) -> IdentityClient:
        if self._client_factory is not None:
            return self._client_factory(settings)
        # No retries inside the client: this loop backs off itself and must notice a stop.
        return identity_client(settings, self._secrets, directory_id=self.directory_id, max_retries=0)

    def _checker(self, directory: DirectorySettings, client: IdentityClient) -> LoginChecker:
        password = self._secrets.get(directory_password_key(directory.id))
        if password is None:
            raise UserError(
                f"the password of directory '{directory.id}' is missing from the secret store: set it with "
                f"`smartsync-tui directory edit {directory.id} --password-stdin`"
            )
        user_filter = directory.user_filter or client.get_directory().user_filter or DEFAULT_USER_FILTER
        return LoginChecker(directory, password, user_filter)

    def _pool_for(self, settings: AppSettings) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=settings.login_checks.concurrency, thread_name_prefix=f"login-check-{self.directory_id}"
            )
        return self._pool

    def _backlog(self) -> int:
        with self._in_flight_lock:
            return len(self._in_flight)

    def _set_connected(self, connected: bool, error: str | None = None) -> None:
        if connected != self.connected:
            self.connected = connected
            self._emit(CommandLoopState(self.directory_id, connected, error))

    # -- one command

    def _dispatch(self, command: dict, pool: ThreadPoolExecutor, client: IdentityClient, checker: LoginChecker,
                  key: PrivateKey, store: StateStore, settings: AppSettings) -> None:
        command_id = command["id"]
        if command.get("type") != "login_check":
            log.debug("login checks %s: command %s of unknown type ignored", self.directory_id, command_id)
            return
        payload = command.get("payload") if isinstance(command.get("payload"), dict) else {}
        fingerprint = payload.get("key_fingerprint")
        if isinstance(fingerprint, str) and fingerprint != key.fingerprint:
            if fingerprint not in self._skipped_keys:
                self._skipped_keys.add(fingerprint)
                log.warning(
                    "login checks %s: a check was encrypted to another agent's key (%s...): left for that agent. "
                    "If this agent should answer, enter the directory's token again to register it.",
                    self.directory_id, fingerprint[:16])
            return
        with self._in_flight_lock:
            if command_id in self._in_flight:
                return  # handed out again while still being checked (its lease ran out)
            self._in_flight.add(command_id)
        received = time.perf_counter()
        pool.submit(self._check, command_id, command, payload, received, client, checker, key, store,
                    settings.login_checks.deadline_seconds)

    def _check(self, command_id: str, command: dict, payload: dict, received: float, client: IdentityClient,
               checker: LoginChecker, key: PrivateKey, store: StateStore, deadline: float) -> None:
        try:
            login = payload.get("login")
            encrypted = payload.get("password_encrypted")
            created = _created_at(command)
            shown = shown_login(login) if isinstance(login, str) else "?"
            if created is not None and time.time() - created > deadline:
                result = self._answer(EXPIRED, shown, received, "expired", f"asked {time.time() - created:.0f} s ago")
            elif not isinstance(login, str) or not isinstance(encrypted, str):
                result = self._answer(BAD_COMMAND, shown, received, "error", "no login or encrypted password")
            else:
                try:
                    password: SecretStr | None = key.decrypt(encrypted)
                except DecryptionFailed:
                    password = None
                if password is None:
                    result = self._answer(UNDECRYPTABLE, shown, received, "error", "not encrypted to this agent's key")
                else:
                    result = checker.check(login, password, received_at=received)
                    del password
            posted = self._post(client, command_id, result)
            self._record(store, result)
            self._emit(LoginChecked(self.directory_id, result, time.time(), posted))
        except Exception:
            log.exception("login check %s failed unexpectedly", self.directory_id)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(command_id)

    @staticmethod
    def _answer(reason: str, login: str, received: float, outcome: str, detail: str) -> LoginCheckResult:
        return LoginCheckResult(outcome, reason, (time.perf_counter() - received) * 1000, login, detail)  # type: ignore[arg-type]

    def _post(self, client: IdentityClient, command_id: str, result: LoginCheckResult) -> bool:
        """Post the result; a result is idempotent, so posting again after a failure is safe (the bind is not redone)."""
        level = logging.WARNING if result.outcome == "error" else logging.INFO
        for attempt in range(_POST_ATTEMPTS):
            try:
                client.post_command_result(command_id, result.as_api())
            except CommandGone:
                log.log(level, "login check %s: %s; Identity no longer waited for the answer",
                        self.directory_id, describe(result))
                return False
            except UserError as exc:
                if attempt + 1 < _POST_ATTEMPTS and not self._stop.is_set():
                    time.sleep(0.2 * (attempt + 1))
                    continue
                log.warning("login check %s: %s; the result could not be sent: %s", self.directory_id,
                            describe(result), exc)
                return False
            log.log(level, "login check %s: %s%s", self.directory_id, describe(result),
                    f" ({result.detail})" if result.outcome == "error" and result.detail else "")
            return True
        return False

    def _record(self, store: StateStore, result: LoginCheckResult) -> None:
        try:
            store.record_login_check(
                self.directory_id,
                LoginCheckRecord(time.time(), result.login, result.outcome, result.reason, round(result.latency_ms, 1)),
            )
        except Exception:  # the history is for display: a busy database must not lose the answer
            log.warning("login check %s: could not be recorded in the state store", self.directory_id, exc_info=True)

    def _emit(self, event: CommandLoopEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("the login-check listener failed on %s", type(event).__name__)


class LoginCheckService:
    """One :class:`CommandLoop` per enabled directory with login checks on, kept in step with the settings."""

    def __init__(
        self,
        settings: Callable[[], AppSettings],
        secrets: SecretStore,
        state_db: Path,
        *,
        on_event: Callable[[CommandLoopEvent], None] | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._state_db = state_db
        self._on_event = on_event
        self._loops: dict[str, tuple[DirectorySettings, CommandLoop]] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def reconcile(self) -> None:
        """Start the loops wanted by the settings, stop the others; a changed directory gets a new loop."""
        settings = self._settings()
        wanted = {d.id: d for d in settings.directories if d.enabled and d.login_checks}
        with self._lock:
            if self._stopped:
                return
            for directory_id, (directory, loop) in list(self._loops.items()):
                if wanted.get(directory_id) != directory or not loop.alive:
                    # A dead loop ended on purpose (directory gone or off) or after a crash it logged.
                    if wanted.get(directory_id) == directory and not loop.alive:
                        continue  # do not restart a crashed loop in a tight cycle; a settings change will
                    loop.stop()
                    del self._loops[directory_id]
            for directory_id, directory in wanted.items():
                if directory_id not in self._loops:
                    loop = CommandLoop(directory_id, self._settings, self._secrets, self._state_db,
                                       on_event=self._on_event)
                    self._loops[directory_id] = (directory, loop.start())

    def connected(self) -> dict[str, bool]:
        with self._lock:
            return {directory_id: loop.connected for directory_id, (_d, loop) in self._loops.items()}

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every loop; waits up to ``timeout`` for the checks in flight (a long poll is not waited for)."""
        with self._lock:
            self._stopped = True
            loops = [loop for _d, loop in self._loops.values()]
            self._loops.clear()
        for loop in loops:
            loop.stop()
        deadline = time.monotonic() + timeout
        for loop in loops:
            loop.join(max(0.0, deadline - time.monotonic()))

"""Pass-through authentication's command loop: Identity's login checks, answered.

One :class:`CommandLoop` per directory (with ``login_checks`` on) long-polls
``GET /commands`` and hands each ``login_check`` to a bounded pool of threads
(``login_checks.concurrency``) that decrypt the password, check it against AD
(:mod:`smartsync_tui.ad.login_check`) and post the result. The loop never
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

Why one module (~620 lines): the command loop, the decryption of a check and its answer
are one protocol (docs/pass-through.md) whose steps share the loop's state; split, each
part would reach into the others' private state.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import SecretStr

from smartsync_tui.targets.identity import agent_keys
from smartsync_tui.targets.identity.agent_keys import (
    DecryptionFailed,
    PrivateKey,
    directory_private_key,
)
from smartsync_tui.core.errors import UserError
from smartsync_tui.targets.identity.access import identity_client
from smartsync_tui.targets.identity.client import IdentityClient
from smartsync_tui.targets.identity.errors import AgentKeyRejected, CommandGone, TokenRejected
from smartsync_tui.ad.login_check import (
    BAD_COMMAND,
    EXPIRED,
    UNDECRYPTABLE,
    LoginChecker,
    LoginCheckResult,
    describe,
    shown_login,
)
from smartsync_tui.core.remedy import secret_command, set_secret
from smartsync_tui.config.secret_store import (
    PROXY_PASSWORD_KEY,
    SecretStore,
    directory_agent_key,
    directory_password_key,
    directory_token_key,
)
from smartsync_tui.config.settings import (
    DEFAULT_USER_FILTER,
    AppSettings,
    DirectorySettings,
)
from smartsync_tui.store.state_store import LoginCheckRecord, StateStore
from smartsync_tui.targets.base import Companion, CompanionReport
from smartsync_tui.i18n import _, number

log = logging.getLogger("smartsync.login")

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
REJECTED_WAIT_SECONDS = 300.0
# Commands waiting in the pool beyond this many per thread: stop polling until it drains.
_QUEUE_PER_THREAD = 8
_POST_ATTEMPTS = 3
# How often a loop refused by Identity looks for new credentials (a token entered again).
_CREDENTIALS_POLL_SECONDS = 5.0
# Answers remembered for commands handed out again (their lease is 15 s, their life at most minutes).
_ANSWERS_KEPT = 10_000
_ANSWER_KEPT_SECONDS = 600.0
# A loop that died unexpectedly is started again after this long.
RESTART_AFTER_SECONDS = 30.0


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
    """The directory's private key; created (and stored, 0600) when there is none yet.

    Refused (:class:`UserError`) when the directory has no token stored: it is
    not registered (or was just deleted, its secrets with it), so there is
    nothing to create a key for, and a key written now would outlive it.
    """
    if secrets.get(directory_token_key(directory_id)) is None:
        raise UserError(
            _("directory '{id}' has no token in the secret store (not registered, or deleted): "
              "no agent key is created for it; register it with {command}").format(
                id=directory_id, command=secret_command(directory_id, "token"))
        )
    stored = secrets.get(directory_private_key(directory_id))
    if stored is None:
        pair = agent_keys.new_key_pair()
        secrets.set(directory_private_key(directory_id), pair.private_pem)
        log.info(_("login checks {id}: created the agent's key pair ({algorithm}, fingerprint {fingerprint})").format(
            id=directory_id, algorithm=agent_keys.ALGORITHM, fingerprint=pair.fingerprint[:16]))
        stored = pair.private_pem
    return PrivateKey(stored)


def _created_at(command: dict) -> float | None:
    """When Identity queued the command (a timestamp without a zone is taken as UTC); None if unreadable."""
    try:
        when = datetime.fromisoformat(str(command["created_at"]))
    except (KeyError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _signature(secrets: SecretStore, directory_id: str) -> str:
    """What the loop's connection was built from (token, agent key, key pair, read password, proxy password), hashed.

    Registering the directory again (a token entered in the CLI or the
    console, from another process) changes it: the loop then reconnects with
    the new credentials and key instead of skipping checks until a restart.
    """
    digest = hashlib.sha256()
    for key in (directory_token_key(directory_id), directory_agent_key(directory_id),
                directory_private_key(directory_id), directory_password_key(directory_id), PROXY_PASSWORD_KEY):
        value = secrets.get(key)
        digest.update(b"\0" if value is None else value.get_secret_value().encode("utf-8") + b"\1")
    return digest.hexdigest()


class _Reconnect(Exception):
    """The stored credentials changed: build the connection and the key again."""


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
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        # Answers already given (id -> (result body, time.monotonic())): a command handed out
        # again because its result was lost is answered from here, never checked (bound) twice.
        self._answered: OrderedDict[str, tuple[dict, float]] = OrderedDict()
        self._client: IdentityClient | None = None
        self._retired_clients: list[IdentityClient] = []
        self._skipped_keys: set[str] = set()
        self.connected = False
        self._polling = False
        self.ended_at: float | None = None  # time.monotonic() when the thread ended

    # -- life

    def start(self) -> "CommandLoop":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Poll no more; the binds in progress finish and post, the checks still queued are left to Identity.

        A long poll in progress is cut (within a fraction of a second): what it
        might still bring is handed out again when its lease ends.
        """
        self._stop.set()
        with self._lock:
            client = self._client if self._polling else None
        if client is not None:
            client.abort(self._thread)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def quiet(self) -> bool:
        """Stopped, and only waiting for its long poll to return: it will touch nothing more.

        (A poll cannot be cut short from another thread; after it, a stopped
        loop drops what it got and ends without reading secrets or writing rows.)
        """
        with self._lock:
            return not self._thread.is_alive() or (self._stop.is_set() and self._polling and not self._in_flight)

    # -- the loop

    def _loop(self) -> None:
        failures = 0
        away_said = False
        checker: LoginChecker | None = None
        checker_for: tuple[DirectorySettings, str] | None = None
        key: PrivateKey | None = None
        signature = ""
        # The Identity environment and proxy the client was made for: a change makes a new client.
        client_for: tuple[object, object] | None = None
        store: StateStore | None = None
        try:
            store = StateStore(self._state_db)
            while not self._stop.is_set():
                settings = self._settings()
                directory = settings.directory(self.directory_id)
                if directory is None or not directory.enabled or not directory.login_checks:
                    return
                pool = self._pool_for(settings)
                self._close_retired_clients()
                try:
                    if (self._client is None or _signature(self._secrets, self.directory_id) != signature
                            or (settings.identity, settings.proxy) != client_for):
                        self._retire_client()
                        signature = _signature(self._secrets, self.directory_id)
                        client_for = (settings.identity, settings.proxy)
                        client = self._connect(settings)
                        with self._lock:
                            self._client = client
                        key = load_or_create_key(self._secrets, self.directory_id)
                        signature = _signature(self._secrets, self.directory_id)  # the key may just have been made
                        client.put_public_key(key.public_pem, agent_keys.ALGORITHM)
                        checker_for = None
                    client = self._client
                    assert client is not None and key is not None
                    if checker is None or checker_for != (directory, signature):
                        if checker is not None:
                            checker.close()
                        checker = self._checker(directory, client)
                        checker_for = (directory, signature)
                    if failures or not self.connected:
                        log.info((_("login checks {id}: Identity reachable again, answering login checks") if away_said
                                  else _("login checks {id}: waiting for login checks from Identity")).format(
                            id=self.directory_id))
                        failures, away_said = 0, False
                        self._set_connected(True)
                    if self._backlog() >= _QUEUE_PER_THREAD * settings.login_checks.concurrency:
                        self._stop.wait(0.05)  # the pool is full: let it drain before taking more
                        continue
                    with self._lock:  # stop() reads both under it, to cut this poll
                        self._polling = True
                    if self._stop.is_set():
                        break
                    try:
                        commands = client.poll_commands(settings.login_checks.poll_wait_seconds)
                    finally:
                        with self._lock:
                            self._polling = False
                    received = time.perf_counter()
                except UserError as exc:
                    self._retire_client()
                    if self._stop.is_set():
                        break  # the stop cut the poll (IdentityRequestStopped): not a failure to report
                    failures += 1
                    rejected = isinstance(exc, (TokenRejected, AgentKeyRejected))
                    wait = REJECTED_WAIT_SECONDS if rejected else random.uniform(
                        0.5, 1.0) * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(failures - 1, 10))
                    if not away_said:
                        log.warning(_("login checks {id}: {reason}; login checks wait (next try in {seconds} s, "
                                      "then with backoff)").format(
                            id=self.directory_id, reason=exc, seconds=number(max(1, round(wait)))))
                        away_said = True
                        self._set_connected(False, str(exc))
                    self._wait_or_new_credentials(wait, signature)
                    continue
                if self._stop.is_set():
                    break  # stopping: what this poll leased goes back to Identity when the lease ends
                for command in commands:
                    try:
                        self._dispatch(command, pool, checker, key, store, settings, received,
                                       client.server_clock_offset, signature)
                    except _Reconnect:
                        self._retire_client()
                        break
        except Exception:  # never let the thread die silently (the service restarts it later)
            log.exception(_("login checks {id} stopped unexpectedly").format(id=self.directory_id))
        finally:
            if self._pool is not None:
                # The binds in progress finish and post; queued checks are left to Identity
                # (their lease ends and they are handed out again), so a stop does not hang.
                self._pool.shutdown(wait=True, cancel_futures=True)
            if checker is not None:
                checker.close()
            self._retire_client()
            self._close_retired_clients(force=True)
            if store is not None:
                store.close()
            self._set_connected(False)
            self.ended_at = time.monotonic()

    def _wait_or_new_credentials(self, wait: float, signature: str) -> None:
        """Sleep ``wait`` seconds, less if the stored credentials change meanwhile (a new token entered)."""
        deadline = time.monotonic() + wait
        while not self._stop.wait(min(_CREDENTIALS_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or _signature(self._secrets, self.directory_id) != signature:
                return

    def _connect(self, settings: AppSettings) -> IdentityClient:
        if self._client_factory is not None:
            return self._client_factory(settings)
        # No retries inside the client: this loop backs off itself and must notice a stop.
        return identity_client(settings, self._secrets, directory_id=self.directory_id, max_retries=0)

    def _retire_client(self) -> None:
        """Stop using the current client; it is closed once no check may still post through it."""
        with self._lock:
            if self._client is not None:
                self._retired_clients.append(self._client)
                self._client = None

    def _close_retired_clients(self, *, force: bool = False) -> None:
        with self._lock:
            if not force and self._in_flight:
                return
            retired, self._retired_clients = self._retired_clients, []
        for client in retired:
            client.close()

    def _checker(self, directory: DirectorySettings, client: IdentityClient) -> LoginChecker:
        password = self._secrets.get(directory_password_key(directory.id))
        if password is None:
            raise UserError(
                _("the password of directory '{id}' is missing from the secret store: {remedy}").format(
                    id=directory.id, remedy=set_secret(directory.id, "password"))
            )
        user_filter = directory.user_filter or client.get_directory().user_filter or DEFAULT_USER_FILTER
        return LoginChecker(directory, password, user_filter)

    def _pool_for(self, settings: AppSettings) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=settings.login_checks.concurrency, thread_name_prefix=f"login-check-{self.directory_id}"
            )
        return self._pool

    @property
    def in_flight(self) -> int:
        """Checks taken from Identity and not answered yet."""
        return self._backlog()

    def _backlog(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _set_connected(self, connected: bool, error: str | None = None) -> None:
        if connected != self.connected:
            self.connected = connected
            self._emit(CommandLoopState(self.directory_id, connected, error))

    # -- one command

    def _dispatch(self, command: dict, pool: ThreadPoolExecutor, checker: LoginChecker, key: PrivateKey,
                  store: StateStore, settings: AppSettings, received: float, clock_offset: float,
                  signature: str) -> None:
        command_id = command["id"]
        if command.get("type") != "login_check":
            log.debug("login checks %s: command %s of unknown type ignored", self.directory_id, shown_login(command_id))
            return
        with self._lock:
            if command_id in self._in_flight:
                return  # handed out again while still being checked (its lease ran out)
            answered = self._answered.get(command_id)
            self._in_flight.add(command_id)
        if answered is not None:
            # Its result was lost on the way: the same answer again, without a second bind.
            pool.submit(self._repost, command_id, answered[0])
            return
        payload = command.get("payload") if isinstance(command.get("payload"), dict) else {}
        fingerprint = payload.get("key_fingerprint")
        if isinstance(fingerprint, str) and fingerprint != key.fingerprint:
            with self._lock:
                self._in_flight.discard(command_id)
            if _signature(self._secrets, self.directory_id) != signature:
                raise _Reconnect  # registered again here meanwhile: take the new key, then this check
            if fingerprint not in self._skipped_keys and len(self._skipped_keys) < 100:
                self._skipped_keys.add(fingerprint)
                log.warning(
                    _("login checks {id}: a check was encrypted to another agent's key ({fingerprint}...): left for "
                      "that agent. If this agent should answer, enter the directory's token again to register it.").format(
                        id=self.directory_id, fingerprint=shown_login(fingerprint)[:16]))
            return
        # Aged on Identity's clock: how long the check had waited when it arrived.
        created = _created_at(command)
        waited = 0.0 if created is None else max(0.0, time.time() + clock_offset - created)
        deadline_at = received + settings.login_checks.deadline_seconds - waited
        pool.submit(self._check, command_id, payload, received, deadline_at, waited, checker, key, store)

    def _check(self, command_id: str, payload: dict, received: float, deadline_at: float, waited: float,
               checker: LoginChecker, key: PrivateKey, store: StateStore) -> None:
        try:
            login = payload.get("login")
            encrypted = payload.get("password_encrypted")
            shown = shown_login(login) if isinstance(login, str) else "?"
            if time.perf_counter() >= deadline_at:
                result = self._answer(EXPIRED, shown, received, "expired",
                                      _("asked {seconds} s before it arrived").format(seconds=number(waited)))
            elif (not isinstance(login, str) or not isinstance(encrypted, str)
                  or payload.get("algorithm", agent_keys.ALGORITHM) != agent_keys.ALGORITHM):
                result = self._answer(BAD_COMMAND, shown, received, "error",
                                      _("no login or encrypted password, or another algorithm"))
            else:
                try:
                    password: SecretStr | None = key.decrypt(encrypted)
                except DecryptionFailed:
                    password = None
                if password is None:
                    result = self._answer(UNDECRYPTABLE, shown, received, "error",
                                          _("not encrypted to this agent's key"))
                else:
                    result = checker.check(login, password, received_at=received, deadline_at=deadline_at)
                    del password
            with self._lock:
                self._remember(command_id, result.as_api())
            posted = self._post(command_id, result.as_api(), describe(result), result.outcome,
                                result.detail if result.outcome == "error" else "")
            self._record(store, result)
            self._emit(LoginChecked(self.directory_id, result, time.time(), posted))
        except Exception:
            log.exception(_("login check {id} failed unexpectedly").format(id=self.directory_id))
        finally:
            with self._lock:
                self._in_flight.discard(command_id)

    def _repost(self, command_id: str, body: dict) -> None:
        try:
            self._post(command_id, body, _("the answer to {command} again").format(command=shown_login(command_id)),
                       str(body.get("outcome")), "")
        finally:
            with self._lock:
                self._in_flight.discard(command_id)

    def _remember(self, command_id: str, body: dict) -> None:
        """Caller holds the lock. Kept as long as Identity may hand the command out again."""
        now = time.monotonic()
        self._answered[command_id] = (body, now)
        while self._answered and (len(self._answered) > _ANSWERS_KEPT
                                  or next(iter(self._answered.values()))[1] < now - _ANSWER_KEPT_SECONDS):
            self._answered.popitem(last=False)

    @staticmethod
    def _answer(reason: str, login: str, received: float, outcome: str, detail: str) -> LoginCheckResult:
        return LoginCheckResult(outcome, reason, (time.perf_counter() - received) * 1000, login, detail)  # type: ignore[arg-type]

    def _post(self, command_id: str, body: dict, what: str, outcome: str, detail: str) -> bool:
        """Post a result; posting is idempotent, so it is tried again (on the loop's current client) after a failure."""
        level = logging.WARNING if outcome == "error" else logging.INFO
        for attempt in range(_POST_ATTEMPTS):
            with self._lock:
                client = self._client
            try:
                if client is None:
                    raise UserError(_("Identity is not reachable at the moment"))
                client.post_command_result(command_id, body)
            except CommandGone:
                log.log(level, _("login check {id}: {what}; Identity no longer waited for the answer").format(
                    id=self.directory_id, what=what))
                return False
            except Exception as exc:  # a client closed under us is retried on the next one too
                if attempt + 1 < _POST_ATTEMPTS and not self._stop.is_set():
                    time.sleep(0.5 * (attempt + 1))
                    continue
                shown = exc if isinstance(exc, UserError) else type(exc).__name__
                log.warning(_("login check {id}: {what}; the result could not be sent ({reason}): it is sent again "
                              "if Identity asks again").format(id=self.directory_id, what=what, reason=shown))
                return False
            line = (_("login check {id}: {what} ({detail})") if detail else _("login check {id}: {what}"))
            log.log(level, line.format(id=self.directory_id, what=what, detail=detail))
            return True
        return False

    def _record(self, store: StateStore, result: LoginCheckResult) -> None:
        try:
            store.record_login_check(
                self.directory_id,
                LoginCheckRecord(time.time(), result.login, result.outcome, result.reason, round(result.latency_ms, 1)),
            )
        except Exception:  # the history is for display: a busy database must not lose the answer
            log.warning(_("login check {id}: could not be recorded in the state store").format(id=self.directory_id),
                        exc_info=True)

    def _emit(self, event: CommandLoopEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception(_("the login-check listener failed on {event}").format(event=type(event).__name__))


class LoginCheckService(Companion):
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
        # Loops stopped by reconcile that may still be finishing their checks (see busy()).
        self._stopping: list[CommandLoop] = []
        self._lock = threading.Lock()
        self._stopped = False

    def reconcile(self) -> None:
        """Start the loops wanted by the settings, stop the others; start again a loop that died.

        Only a directory no longer wanted (removed, disabled, login checks off)
        has its loop stopped. A directory whose settings changed keeps its loop:
        the loop reads them on every pass (a new checker for new directory
        settings, a new client for another Identity or proxy), and a new loop
        would make the old one drop what its long poll leased, delaying logins.
        """
        settings = self._settings()
        wanted = {d.id: d for d in settings.directories if d.enabled and d.login_checks and d.target == "identity"}
        with self._lock:
            if self._stopped:
                return
            self._stopping = [loop for loop in self._stopping if loop.alive]
            for directory_id, (_directory, loop) in list(self._loops.items()):
                if directory_id not in wanted:
                    loop.stop()
                    self._stopping.append(loop)
                    del self._loops[directory_id]
                elif not loop.alive:
                    # It ended after an unexpected error (logged): start it again, but not in a tight cycle.
                    if loop.ended_at is None or time.monotonic() - loop.ended_at < RESTART_AFTER_SECONDS:
                        continue
                    del self._loops[directory_id]
            for directory_id, directory in wanted.items():
                if directory_id not in self._loops:
                    loop = CommandLoop(directory_id, self._settings, self._secrets, self._state_db,
                                       on_event=self._on_event)
                    self._loops[directory_id] = (directory, loop.start())

    def busy(self, directory_id: str) -> bool:
        """Whether a loop of this directory still runs (one stopped but finishing its checks included).

        A deleted directory's rows and secrets go only once this is False: a
        check in flight records its result, and a loop reconnecting reads the
        directory's secrets.
        """
        with self._lock:
            loops = [loop for _d, loop in self._loops.values() if loop.directory_id == directory_id]
            loops += [loop for loop in self._stopping if loop.directory_id == directory_id]
        return not all(loop.quiet for loop in loops)

    def connected(self) -> dict[str, bool]:
        with self._lock:
            return {directory_id: loop.connected for directory_id, (_d, loop) in self._loops.items()}

    def report(self) -> dict[str, CompanionReport]:
        with self._lock:
            loops = [loop for _d, loop in self._loops.values()]
        return {loop.directory_id: CompanionReport(loop.connected, loop.in_flight) for loop in loops}

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every loop; waits up to ``timeout`` for the checks in flight (a long poll is not waited for)."""
        with self._lock:
            self._stopped = True
            loops = [loop for _d, loop in self._loops.values()]
            self._loops.clear()
        for loop in loops:
            loop.stop()
        deadline = time.monotonic() + timeout
        # Quiet is enough: a loop left only with its long poll touches nothing more (its thread is a daemon).
        while not all(loop.quiet for loop in loops) and time.monotonic() < deadline:
            time.sleep(0.02)

"""The engine: the scheduler, the login checks and the control channel, composed once.

``smartsync-tui run`` runs an :class:`EngineService` in its main thread; a
console that holds the engine lock runs the same service in a thread of its
own, hosting the jobs as Textual workers (ui/engine_link.py). Either way the
backoff, the queued triggers, the status and the channel's answers come from
the one scheduler (engine/scheduler.py).

Events fan out to every listener (:meth:`EngineService.listen`): the channel's
handler (which runs are in flight, for a forget), and a console's bridge that
turns them into Textual messages. A request that came over the channel is told
to the listeners too (:class:`ChannelRequest`), so the console that is the
engine can say that another console asked for it.

Nothing here imports textual.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from smartsync_tui.channel import control_channel
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.config.paths import Home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncResult
from smartsync_tui.engine.events import ChannelRequest, DirectoryState, EngineEvent, RunFinished, RunStarted
from smartsync_tui.engine.health import DirectoryHealth, assess, directory_json, health_document
from smartsync_tui.engine.scheduler import Scheduler
from smartsync_tui.engine.notify import NO_MANAGER, ServiceNotifier
from smartsync_tui.i18n import _, ngettext, number

log = logging.getLogger("smartsync.engine")


class Closable(Protocol):
    def close(self) -> None: ...

# A forget waits for the batch in flight; it answers before the channel's client gives up.
FORGET_TIMEOUT = control_channel.FORGET_TIMEOUT - 10


class EngineService:
    """The one engine of a home. The caller holds the home's engine lock.

    ``scheduler_options`` go to :class:`Scheduler` (``paused``, ``host``,
    ``target_factory``, ``backoff_base``...). ``serve_channel``: serve the
    control channel while :meth:`run_forever` runs. ``say``: where its lifecycle lines go
    (``run`` prints them as well as logging them); the application log by default.
    """

    def __init__(self, home: Home, *, secrets: SecretStore | None = None, serve_channel: bool = True,
                 stop_event: threading.Event | None = None, forget_timeout: float = FORGET_TIMEOUT,
                 say: Callable[[str], None] | None = None, notifier: ServiceNotifier = NO_MANAGER,
                 status_server: Callable[["EngineService"], Closable | None] | None = None,
                 **scheduler_options: Any) -> None:
        self.home = home
        self.started_at = time.time()
        # The health and metrics endpoints (status/server.py), started with the channel: the
        # composition (run, a console that is the engine) passes them in, the engine knows them
        # only as something to close.
        self._status_server = status_server
        self.status_endpoint: Closable | None = None
        # Whether each directory's last run reached its target (for /health).
        self._target_connected: dict[str, bool | None] = {}
        # The service manager (systemd's notifications; engine/notify.py): a no-op without one.
        self.notifier = notifier
        self._reload_asked = threading.Event()
        self._say = say or (lambda line: log.info("%s", line))
        self._listeners: list[Callable[[EngineEvent], None]] = []
        # Loads appsettings.json: a broken file refuses the start rather than guessing.
        self.scheduler = Scheduler(home, secrets=secrets, stop_event=stop_event, on_event=self.emit,
                                   **scheduler_options)
        self.secrets = self.scheduler.secrets
        self.handler = ChannelHandler(self, forget_timeout=forget_timeout)
        self.serve_channel = serve_channel
        self.channel: control_channel.ControlServer | None = None
        self._thread: threading.Thread | None = None

    # -- composition

    def listen(self, listener: Callable[[EngineEvent], None]) -> None:
        """Call ``listener`` with every event, from the engine's threads (quick, must not block)."""
        self._listeners.append(listener)

    def run_forever(self) -> None:
        """Schedule (and serve the channel) until :meth:`stop`; returns once the runs in flight finished their batch."""
        def serve() -> None:
            # Served only while the lock is ours (the caller took it): the lock says who the engine is.
            # And only once the scheduler has every directory: a status asked at once lists them all.
            if self.serve_channel:
                self.channel = control_channel.serve(self.home, self.handler)
                if self.channel is not None:
                    self._say(_("control channel listening on {path}").format(path=self.channel.path))
            ids = self.scheduler.directory_ids
            self.notifier.ready(ngettext("syncing {n} directory", "syncing {n} directories", len(ids)).format(
                n=len(ids)))

        def tick() -> None:
            if self.scheduler.stop_event.is_set():
                return  # stopping (STOPPING=1 said): the stop's own timeout governs now
            self.notifier.watchdog()
            if self._reload_asked.is_set():
                self._reload_asked.clear()
                self.notifier.reloading()
                try:
                    self.reload()
                except Exception:  # the engine keeps running with the settings it has
                    log.exception(_("the settings could not be read again"))
                finally:
                    self.notifier.ready()

        # The status endpoints before the first run starts: their metrics count every run.
        if self._status_server is not None:
            self.status_endpoint = self._status_server(self)
        try:
            self.scheduler.run_forever(on_ready=serve, on_tick=tick)
        finally:
            if self.status_endpoint is not None:
                self.status_endpoint.close()
            if self.channel is not None:
                self.channel.close()

    def request_reload(self) -> None:
        """Read the settings again from the scheduler's loop (SIGHUP: safe from a signal handler)."""
        self._reload_asked.set()

    def run_once(self) -> list[SyncResult]:
        """One run of every enabled directory, in parallel, with no channel (``run --once``)."""
        return self.scheduler.run_once()

    def start(self) -> None:
        """:meth:`run_forever` in a thread of its own (a console that is the engine)."""
        self._thread = threading.Thread(target=self.run_forever, name="engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Every run in flight stops after its batch; :meth:`run_forever` returns then."""
        self.scheduler.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread of :meth:`start`; whether it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # -- what a client asks (the channel's handler, or a console in the same process)

    @property
    def channel_path(self) -> str | None:
        return str(self.channel.path) if self.channel is not None else None

    def status(self) -> dict[str, DirectoryState]:
        return self.scheduler.status()

    @property
    def settings(self) -> AppSettings:
        return self.scheduler.settings

    def health(self) -> list[DirectoryHealth]:
        """Every enabled directory against docs/monitoring.md's rules (from any thread)."""
        settings = self.scheduler.settings
        states = self.scheduler.status()
        reports = self.scheduler.companion_reports()
        out = []
        # A connection of its own: this runs in the status endpoint's or the channel's threads.
        with StateStore(self.home.state_db) as state:
            for directory in settings.directories:
                if directory.enabled:
                    out.append(assess(directory, settings, states.get(directory.id), state.summary(directory.id),
                                      started_at=self.started_at,
                                      target_connected=self._target_connected.get(directory.id),
                                      login_checks=reports.get(directory.id)))
        return out

    def sync(self, directory_id: str, *, full: bool = False, allow_deletes: bool = False) -> bool:
        """A run now, or right after the one in flight; True when it is queued behind that one."""
        queued = bool((state := self.scheduler.status().get(directory_id)) and state.running)
        self.scheduler.trigger(directory_id, full=full, allow_deletes=allow_deletes)
        return queued

    def reload(self) -> bool:
        changed = self.scheduler.reload_settings_if_changed()
        if changed:
            self.scheduler.reconcile()
        return changed

    def forget(self, directory_id: str) -> None:
        """A directory gone from appsettings.json: its run stops after its batch, then its rows and secrets go."""
        scheduler = self.scheduler
        scheduler.reload_settings_if_changed()
        if scheduler.settings.directory(directory_id) is not None:
            raise InputError(
                "directory", _("directory '{id}' is still in appsettings.json: remove it first "
                               "(smartsync-tui directory remove {id}, or delete it in the console)").format(id=directory_id),
            )
        scheduler.reconcile()  # retires its thread and stops its login-check loop now

        def busy() -> bool:
            return (self.handler.in_flight(directory_id) or directory_id in scheduler.status()
                    or scheduler.finishing(directory_id)
                    or scheduler.companion_busy(directory_id))

        forget_when_idle(self.home, self.secrets, directory_id, busy,
                         timeout=self.handler.forget_timeout, poll=self.handler.poll)

    def emit(self, event: EngineEvent) -> None:
        """Tell every listener (the scheduler's events, and the channel's requests)."""
        self.handler.on_event(event)
        if isinstance(event, RunFinished) and event.result.target_connected is not None:
            # The last run that asked the target says (one that failed on AD first did not ask).
            self._target_connected[event.directory_id] = event.result.target_connected
        if isinstance(event, RunFinished) and self.notifier.enabled:
            result = event.result
            self.notifier.status(_("{id}: {outcome} at {time}").format(  # systemctl status's line
                id=result.directory_id, outcome=result.outcome, time=time.strftime("%H:%M:%S")))
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception(_("the engine's event listener failed on {event}").format(event=type(event).__name__))


class ChannelHandler:
    """The control channel's requests (channel/control_channel.py), done by the service."""

    def __init__(self, service: EngineService, *, forget_timeout: float = FORGET_TIMEOUT, poll: float = 0.1) -> None:
        self.service = service
        self.forget_timeout = forget_timeout
        self.poll = poll
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def on_event(self, event: EngineEvent) -> None:
        if isinstance(event, RunStarted | RunFinished):
            with self._lock:
                if isinstance(event, RunStarted):
                    self._in_flight.add(event.directory_id)
                else:
                    self._in_flight.discard(event.directory_id)

    def in_flight(self, directory_id: str) -> bool:
        with self._lock:
            return directory_id in self._in_flight

    # called from the channel's threads

    def status(self) -> dict[str, dict[str, Any]]:
        return {directory_id: state_json(state) for directory_id, state in self.service.status().items()}

    def sync(self, directory: str, *, full: bool, allow_deletes: bool) -> None:
        self.service.sync(directory, full=full, allow_deletes=allow_deletes)
        self.service.emit(ChannelRequest("sync", directory, full, allow_deletes))

    def reload(self) -> bool:
        return self.service.reload()

    def health(self) -> dict[str, Any]:
        directories = self.service.health()
        return {"health": health_document(directories),
                "directories": {d.directory_id: directory_json(d) for d in directories}}

    def forget(self, directory: str) -> None:
        self.service.forget(directory)
        self.service.emit(ChannelRequest("forget", directory))


def forget_when_idle(home: Home, secrets: SecretStore, directory_id: str, busy: Callable[[], bool], *,
                     timeout: float, poll: float = 0.1) -> None:
    """Forget a deleted directory once nothing of it runs any more; :class:`UserError` after ``timeout`` s.

    ``busy``: whether something of the directory still runs (its sync's batch
    in flight, its login-check loop finishing its checks). Its rows and secrets
    go only after: a batch would write its rows back, a check its result, a
    loop reconnecting would read (or create) its key. On the deadline nothing
    is deleted and the error says so.
    """
    deadline = time.monotonic() + timeout
    while busy():
        if time.monotonic() >= deadline:
            log.warning(_("directory {id} not forgotten: its sync or login checks still ran after {seconds} s; "
                          "its state and secrets are kept").format(id=directory_id, seconds=number(timeout, None)))
            raise UserError(forget_timed_out(directory_id, timeout))
        time.sleep(poll)
    forget_directory(home, secrets, directory_id)


def forget_timed_out(directory_id: str, timeout: float) -> str:
    return _("directory '{id}' is still finishing a sync batch or its login checks after "
             "{seconds} s: its state and secrets were not deleted (see the application log)").format(
        id=directory_id, seconds=number(timeout, None))


def forget_directory(home: Home, secrets: SecretStore, directory: str) -> None:
    """What an engine keeps of a deleted directory goes: state-store rows and secrets.

    Call it only when nothing of the directory runs any more: see :func:`forget_when_idle`.
    """
    with StateStore(home.state_db) as state:
        state.forget_directory(directory)
    secrets.delete_prefix(f"directory/{directory}/")
    log.info(_("directory {id} forgotten: its state and its secrets were deleted").format(id=directory))


def state_json(state: DirectoryState) -> dict[str, Any]:
    out = asdict(state)
    out.pop("directory_id", None)
    return out

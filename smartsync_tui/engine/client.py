"""How the console reaches the engine: the one door, whichever process the engine is.

- :class:`LocalEngine`: the console holds the engine lock, so it is the engine:
  the engine service (engine/service.py) runs in this process, in its own
  threads, its jobs hosted where the console says (as Textual workers).
- :class:`RemoteEngine`: another process holds the lock (``smartsync-tui run``,
  or another console): requests go over the control channel.

Both answer the same four requests (sync, reload, forget, status), with the
same errors (:class:`~smartsync_tui.core.errors.UserError`, whose text is for
the admin). They block: call them from a worker thread, never from the
console's event loop. A console's preview runs here too (:func:`run_preview`):
it changes nothing, so it runs in the console whichever process the engine is.

It is also the engine's public face for the console: the plain data the console shows (a
run's options, progress and result, the plan, the engine's events) and the engine lock are
re-exported here, so the console imports nothing else of the engine (the ``console-engine``
contract in pyproject.toml). This module imports only the channel and that plain data: the
engine, the AD source and the targets load when the local engine starts (after the
console's first paint).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from smartsync_tui.channel import control_channel
from smartsync_tui.core.errors import UserError
from smartsync_tui.config.paths import Home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.engine.events import ChannelRequest, EngineEvent, RunFinished, RunProgress, RunStarted
from smartsync_tui.engine.lock import EngineLock, EngineRunning
from smartsync_tui.engine.lock import acquire as acquire_lock
from smartsync_tui.engine.plan import PlannedOp, SyncPlan, describe_change
from smartsync_tui.engine.results import SyncOptions, SyncProgress, SyncResult, count_text
from smartsync_tui.i18n import _

if TYPE_CHECKING:
    from smartsync_tui.config.settings import AppSettings
    from smartsync_tui.engine.jobs import CancelSignal, JobHost, SyncJob  # noqa: F401 (SyncJob: for the console's hints)
    from smartsync_tui.engine.service import EngineService

__all__ = [
    "EngineClient", "LocalEngine", "RemoteEngine", "EitherSet", "run_preview",
    "SyncOptions", "SyncProgress", "SyncResult", "count_text", "PlannedOp", "SyncPlan", "describe_change",
    "ChannelRequest", "EngineEvent", "RunFinished", "RunProgress", "RunStarted",
    "EngineLock", "EngineRunning", "acquire_lock",
]


class EngineClient(Protocol):
    """What the console asks its engine (from a worker thread)."""

    def sync(self, directory_id: str, *, full: bool = False, allow_deletes: bool = False) -> bool:
        """A run now, or right after the one in flight; True when known to be queued behind it."""
        ...

    def reload(self) -> bool:
        """appsettings.json re-read now; whether it had changed."""
        ...

    def forget(self, directory_id: str) -> None:
        """A directory removed from appsettings.json: its state and secrets go once nothing of it runs."""
        ...

    def status(self) -> dict[str, dict[str, Any]]:
        """Per scheduled directory: running, queued, next_run_at, failures_in_a_row, last_outcome."""
        ...


class LocalEngine:
    """The engine service of this process, started by :meth:`start` (or by the first request).

    ``settings``: what the console runs with now (the file's, with the environment's overrides).
    """

    def __init__(self, home: Home, settings: Callable[[], AppSettings], secrets: SecretStore, *, paused: bool,
                 serve_channel: bool, host: JobHost, listener: Callable[[EngineEvent], None] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.home = home
        self._settings = settings
        self._secrets = secrets
        self._paused = paused
        self._serve_channel = serve_channel
        self._host = host
        self._listener = listener
        self._options = dict(options or {})
        self._service: EngineService | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def service(self) -> EngineService:
        """The running service, started now if it was not yet."""
        with self._lock:
            if self._service is None:
                if self._stopped:
                    raise UserError(_("the engine is stopping: the run was not started"))
                # Imported here: the engine, the AD reader and the targets are not needed to paint.
                from smartsync_tui.engine.service import EngineService

                # The console's settings when it starts (a change saved since is in the file already).
                service = EngineService(self.home, secrets=self._secrets, settings=self._settings(),
                                        serve_channel=self._serve_channel, paused=self._paused,
                                        login_checks=not self._paused, host=self._host, **self._options)
                if self._listener is not None:
                    service.listen(self._listener)
                service.start()
                self._service = service
            return self._service

    def start(self) -> None:
        self.service  # noqa: B018 (started on first use)

    @property
    def started(self) -> bool:
        return self._service is not None

    def stop(self) -> None:
        """Every run stops after its batch; the login checks finish the ones in flight."""
        with self._lock:
            self._stopped = True
            service = self._service
        if service is not None:
            service.stop()

    def join(self, timeout: float | None = None) -> bool:
        service = self._service
        return service.join(timeout) if service is not None else True

    def sync(self, directory_id: str, *, full: bool = False, allow_deletes: bool = False) -> bool:
        return self.service.sync(directory_id, full=full, allow_deletes=allow_deletes)

    def reload(self) -> bool:
        return self.service.reload()

    def forget(self, directory_id: str) -> None:
        self.service.forget(directory_id)

    def status(self) -> dict[str, dict[str, Any]]:
        return self.service.handler.status()

    def idle(self) -> bool:
        """No run in flight or queued (a service not started has none)."""
        service = self._service
        return service is None or not any(s.running or s.queued for s in service.status().values())


class RemoteEngine:
    """The engine of another process, over its control channel (channel/control_channel.py)."""

    def __init__(self, home: Home, pid: int | None) -> None:
        self.home = home
        self.pid = pid

    def _ask(self, message: dict[str, Any], timeout: float = control_channel.DEFAULT_TIMEOUT) -> dict[str, Any]:
        return control_channel.request(self.home, message, engine_pid=self.pid, timeout=timeout)

    def sync(self, directory_id: str, *, full: bool = False, allow_deletes: bool = False) -> bool:
        self._ask({"op": "sync", "directory": directory_id, "full": full, "allow_deletes": allow_deletes})
        return False  # the protocol's reply does not say

    def reload(self) -> bool:
        return bool(self._ask({"op": "reload"}).get("changed"))

    def forget(self, directory_id: str) -> None:
        self._ask({"op": "forget", "directory": directory_id}, timeout=control_channel.FORGET_TIMEOUT)

    def status(self) -> dict[str, dict[str, Any]]:
        directories = self._ask({"op": "status"}).get("directories")
        return directories if isinstance(directories, dict) else {}


class EitherSet:
    """A cancel signal set when any of its signals is: the scheduler's and the host's own."""

    def __init__(self, *signals: CancelSignal) -> None:
        self.signals = signals

    def is_set(self) -> bool:
        return any(signal.is_set() for signal in self.signals)


def run_preview(home: Home, settings: AppSettings, secrets: SecretStore, directory_id: str, options: SyncOptions,
                *, cancel: CancelSignal | None = None, progress: Callable[[SyncProgress], None] | None = None,
                target_factory: Any = None) -> SyncResult:
    """A dry run of one directory in this process: the same job as a sync, changing nothing."""
    from smartsync_tui.engine.jobs import run_sync_job

    return run_sync_job(home, settings, secrets, directory_id, options, progress=progress, cancel=cancel,
                        target_factory=target_factory)

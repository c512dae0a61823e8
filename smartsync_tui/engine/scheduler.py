"""The engine's scheduler: every enabled directory synced on its interval.

One thread per directory, so directories sync in parallel and a directory
never has two runs at once. The thread decides when; its job runs where the
scheduler's host says (engine/jobs.py): in that thread for ``smartsync-tui run``,
as a Textual worker for a console that is the engine. Each thread runs a pass every
``sync.delta_interval_seconds`` after the previous one finished (the first
one at once); the engine itself decides between delta and full, including
the scheduled full reconcile, from the state store. A run that could not be
done (AD or Identity away, a rejected password...) backs that directory off:
30 s, 60 s, 120 s ... up to 10 min, back to the interval after a success, so a
dead server is not hammered.

``appsettings.json`` is watched (its mtime, size and inode, once a second):
directories added, edited, enabled, disabled or removed with the CLI or an
editor are picked up without a restart. A file that does not load is
reported in the log and the previous settings are kept.

:meth:`Scheduler.trigger` asks for a run now (full, or applying held
disables); while one runs it is queued and runs right after. :meth:`stop`
(or setting ``stop_event``) makes :meth:`run_forever` return once the runs in
flight have finished their batch: the engine checks its cancel event between
pages and batches, so the state store is left consistent.

A paused scheduler (``paused=True``: a console opened to set things up, the
tests) runs only what it is asked for, never on the interval, and answers no
login checks.

Beside the syncs, each target's companion (targets/registry.py; Identity's answers its
login checks, pass-through authentication) runs while :meth:`run_forever` runs, on the
same settings. The scheduler knows companions only by the contract in targets/base.py.

Progress and results go to ``on_event`` (called from the scheduler's
threads; it must be quick and must not raise). The engine logs every result
itself. Nothing here imports textual.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartsync_tui.core.errors import UserError
from smartsync_tui.config.paths import Home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, load_settings
from smartsync_tui.engine.events import DirectoryState, RunFinished, RunProgress, RunStarted, SchedulerEvent, SettingsReloaded
from smartsync_tui.engine.results import SyncOptions, SyncResult
from smartsync_tui.engine.jobs import CancelSignal, JobHost, ThreadHost, run_sync_job
from smartsync_tui.i18n import _, ngettext, number
from smartsync_tui.engine.sources import SourcePool
from smartsync_tui.targets.base import Companion, CompanionReport
from smartsync_tui.targets.registry import TargetFactory, open_companions

log = logging.getLogger("smartsync.scheduler")

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 600.0
SETTINGS_POLL_SECONDS = 1.0
_TICK_SECONDS = 0.1


@dataclass(frozen=True)
class _Request:
    full: bool = False
    allow_deletes: bool = False

    def merged(self, other: "_Request") -> "_Request":
        return _Request(self.full or other.full, self.allow_deletes or other.allow_deletes)


def backoff_delay(failures_in_a_row: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Wait after this many failed runs in a row: base, 2*base, 4*base ... at most cap."""
    if failures_in_a_row <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures_in_a_row - 1, 30))


class _DirectoryWorker:
    """The thread of one directory: at most one run at a time."""

    def __init__(self, scheduler: "Scheduler", directory_id: str, *, scheduled: bool, once: bool = False) -> None:
        self.scheduler = scheduler
        self.directory_id = directory_id
        self.scheduled = scheduled  # False: manual runs only (paused, run_once)
        self.once = once  # run_once: the thread ends after its manual run
        self.cond = threading.Condition()
        self.cancel = threading.Event()  # stops the run in flight after its batch
        self.retired = False
        self.request: _Request | None = None  # a manual run asked for
        self.next_due = time.monotonic()  # the first scheduled run: at once
        self.running = False
        self.failures = 0
        self.last_outcome: str | None = None
        self.results: list[SyncResult] = []  # run_once only: a scheduled worker keeps no history
        self.thread = threading.Thread(target=self._loop, name=f"scheduler-{directory_id}", daemon=True)

    # called from other threads

    def ask(self, request: _Request) -> None:
        with self.cond:
            self.request = request if self.request is None else self.request.merged(request)
            self.cond.notify_all()

    def retire(self) -> None:
        """Stop: no new run; the one in flight stops after its batch."""
        with self.cond:
            self.retired = True
            self.cancel.set()
            self.cond.notify_all()

    def state(self) -> DirectoryState:
        with self.cond:
            next_at = None
            if self.scheduled and not self.running and not self.retired:
                next_at = time.time() + max(0.0, self.next_due - time.monotonic())
            return DirectoryState(
                self.directory_id, self.running, self.request is not None, next_at, self.failures, self.last_outcome
            )

    # the thread

    def _next(self) -> tuple[_Request, bool] | None:
        with self.cond:
            while True:
                if self.retired or self.scheduler.stop_event.is_set():
                    return None
                # Running from the moment the request is taken: a status never shows a run
                # that is neither queued nor running.
                if self.request is not None:
                    request, self.request = self.request, None
                    self.running = True
                    return request, True
                now = time.monotonic()
                if self.scheduled and now >= self.next_due:
                    self.running = True
                    return _Request(), False
                if self.once:
                    return None  # run_once: the manual run was done
                # Wake up at least once a second: stop_event may be set without a notify.
                self.cond.wait(min(self.next_due - now, 1.0) if self.scheduled else 1.0)

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            request, manual = job
            try:
                result = self.scheduler._run_one(self.directory_id, request, manual, self.cancel)
            except BaseException:
                with self.cond:
                    self.running = False
                raise
            self._finished(result, manual)

    def _finished(self, result: SyncResult, manual: bool) -> None:
        scheduler = self.scheduler
        with self.cond:
            if self.once:
                self.results.append(result)
            recovered = self.failures > 0 and result.outcome not in ("failed", "cancelled")
            self.last_outcome = result.outcome
            if result.outcome == "failed":
                self.failures += 1
            elif result.outcome != "cancelled":
                self.failures = 0
            interval = float(scheduler.settings.sync.delta_interval_seconds)
            wait = max(interval, backoff_delay(self.failures, scheduler.backoff_base, scheduler.backoff_cap))
            self.next_due = time.monotonic() + wait
            stopping = self.retired or scheduler.stop_event.is_set() or self.once
            scheduled = self.scheduled and not stopping
            failures = self.failures
        if result.outcome == "failed" and scheduled:
            log.warning(ngettext(
                "sync {id} could not run ({n} time in a row); next try in {seconds} s",
                "sync {id} could not run ({n} times in a row); next try in {seconds} s", failures,
            ).format(id=self.directory_id, n=number(failures), seconds=number(round(wait))))
        elif recovered and scheduled:
            log.info(_("sync {id} runs again after failures; back to every {seconds} s").format(  # not a count
                id=self.directory_id, seconds=number(round(wait))))
        scheduler._emit(RunFinished(result, manual, failures, time.time() + wait if scheduled else None))
        # Not running only once its result is told: a status never shows it idle and untold.
        with self.cond:
            self.running = False


class Scheduler:
    """Runs every enabled directory of ``home`` until stopped.

    ``settings`` defaults to the home's appsettings.json (with the
    environment's overrides); it is re-read whenever the file changes.
    """

    def __init__(
        self,
        home: Home,
        *,
        settings: AppSettings | None = None,
        secrets: SecretStore | None = None,
        on_event: Callable[[SchedulerEvent], None] | None = None,
        stop_event: threading.Event | None = None,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        settings_poll: float = SETTINGS_POLL_SECONDS,
        login_checks: bool = True,
        paused: bool = False,
        host: JobHost | None = None,
        target_factory: TargetFactory | None = None,
    ) -> None:
        self.home = home
        self.secrets = secrets or SecretStore(home.secrets_file)
        self.on_event = on_event
        self.stop_event = stop_event or threading.Event()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.settings_poll = settings_poll
        self.paused = paused
        self.host: JobHost = host or ThreadHost()
        self.target_factory = target_factory
        self._settings_signature = _signature(home.settings_file)
        self.settings: AppSettings = settings if settings is not None else load_settings(home.settings_file)
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._workers: dict[str, _DirectoryWorker] = {}
        self._retired: list[_DirectoryWorker] = []
        self._running = False
        self._said_idle = False
        # The targets' companions beside the syncs (Identity's login checks), on the same
        # settings; started by run_forever only.
        # Each directory's AD connection, kept from one run to the next (engine/sources.py).
        self.sources = SourcePool()
        self.companions: list[Companion] = (
            open_companions(lambda: self.settings, self.secrets, home.state_db, self._emit)
            if login_checks and not paused else []
        )

    # -- public API

    def companion_busy(self, directory_id: str) -> bool:
        """Whether a companion (a login check) still works for this directory."""
        return any(companion.busy(directory_id) for companion in self.companions)

    def companion_reports(self) -> dict[str, CompanionReport]:
        """What the companions show monitoring, per directory (Identity's login checks)."""
        out: dict[str, CompanionReport] = {}
        for companion in self.companions:
            out.update(companion.report())
        return out

    @property
    def directory_ids(self) -> list[str]:
        """The enabled directories, the ones that are scheduled."""
        return [d.id for d in self.settings.directories if d.enabled]

    def run_forever(self, on_ready: Callable[[], None] | None = None,
                    on_tick: Callable[[], None] | None = None) -> None:
        """Schedule until :meth:`stop`; returns after the runs in flight finished their batch.
        ``on_ready`` is called once every directory has its worker (its status can be asked);
        ``on_tick`` at each turn of this loop, from its thread (the service manager's watchdog:
        a loop that wedges stops calling it)."""
        with self._lock:
            self._running = True
        try:
            self._reconcile_workers()
            if on_ready is not None:
                on_ready()
            next_poll = time.monotonic() + self.settings_poll
            # Polls is_set() rather than wait(): a signal handler that sets the
            # event then never meets its lock held by this very thread.
            while not self.stop_event.is_set():
                time.sleep(_TICK_SECONDS)
                if on_tick is not None:
                    on_tick()
                if time.monotonic() >= next_poll and not self.stop_event.is_set():
                    try:
                        self.reload_settings_if_changed()
                        self._reconcile_workers()
                    except Exception:  # the engine keeps running with what it has
                        log.exception(_("the scheduler could not apply the settings"))
                    next_poll = time.monotonic() + self.settings_poll
        finally:
            self._shutdown()

    def run_once(self) -> list[SyncResult]:
        """One run of every enabled directory, in parallel; their results (``stop`` cancels them)."""
        workers = [_DirectoryWorker(self, directory_id, scheduled=False, once=True) for directory_id in self.directory_ids]
        for worker in workers:
            worker.ask(_Request())
            worker.thread.start()
        with self._lock:
            self._workers = {w.directory_id: w for w in workers}
        try:
            while any(worker.thread.is_alive() for worker in workers):
                if self.stop_event.is_set():
                    for worker in workers:
                        worker.cancel.set()
                time.sleep(_TICK_SECONDS)
        finally:
            with self._lock:
                self._workers = {}
        return [r for w in workers for r in w.results]

    def stop(self) -> None:
        """Ask every run in flight to stop after its batch, and run_forever to return."""
        self.stop_event.set()
        with self._lock:
            workers = list(self._workers.values()) + list(self._retired)
        for worker in workers:
            worker.retire()

    def trigger(self, directory_id: str, *, full: bool = False, allow_deletes: bool = False) -> None:
        """A manual run of this directory now (after the one in flight, if any).

        Raises :class:`~smartsync_tui.core.errors.InputError` for an unknown or disabled directory (the
        settings file is re-read first, so one just added is known).
        """
        self.reload_settings_if_changed()
        self.settings.enabled_directory(directory_id)
        if self.stop_event.is_set():
            raise UserError(_("the engine is stopping: the run was not started"))
        with self._lock:
            worker = self._workers.get(directory_id)
            if worker is None:
                if any(w.directory_id == directory_id and w.thread.is_alive() for w in self._retired):
                    raise UserError(
                        _("directory '{id}' is still finishing its previous run: try again in a moment").format(
                            id=directory_id)
                    )
                # Just enabled, or before run_forever started: schedule it now.
                worker = self._new_worker(directory_id)
        worker.ask(_Request(full=full, allow_deletes=allow_deletes))

    def reconcile(self) -> None:
        """Threads and login-check loops in step with the settings now, not at the next poll."""
        self._reconcile_workers()

    def finishing(self, directory_id: str) -> bool:
        """Whether a thread of this directory, retired (removed, disabled), still ends its batch."""
        with self._lock:
            return any(w.directory_id == directory_id and w.thread.is_alive() for w in self._retired)

    def status(self) -> dict[str, DirectoryState]:
        with self._lock:
            workers = list(self._workers.values())
        return {w.directory_id: w.state() for w in workers}

    def reload_settings_if_changed(self) -> bool:
        """Re-read appsettings.json if it changed; True when new settings were taken."""
        with self._reload_lock:
            return self._reload_if_changed()

    def _reload_if_changed(self) -> bool:
        signature = _signature(self.home.settings_file)
        if signature == self._settings_signature:
            return False
        self._settings_signature = signature
        try:
            settings = load_settings(self.home.settings_file)
        except UserError as exc:
            log.error(_("settings not reloaded, the engine keeps the previous ones: {error}").format(error=exc))
            self._emit(SettingsReloaded(tuple(self.directory_ids), error=str(exc)))
            return False
        before = {d.id: d for d in self.settings.directories}
        self.settings = settings
        after = {d.id: d for d in settings.directories}
        for directory_id in after.keys() - before.keys():
            if after[directory_id].enabled:
                log.info(_("settings: directory {id} added").format(id=directory_id))
            else:
                log.info(_("settings: directory {id} added (disabled)").format(id=directory_id))
        for directory_id in before.keys() - after.keys():
            log.info(_("settings: directory {id} removed; its sync stops").format(id=directory_id))
        for directory_id in before.keys() & after.keys():
            old, new = before[directory_id], after[directory_id]
            if old.enabled != new.enabled and new.enabled:
                log.info(_("settings: directory {id} enabled").format(id=directory_id))
            elif old.enabled != new.enabled:
                log.info(_("settings: directory {id} disabled; its sync stops").format(id=directory_id))
            elif old != new:
                log.info(_("settings: directory {id} changed; its next run uses the new settings").format(id=directory_id))
        log.info(_("settings reloaded from {path}").format(path=self.home.settings_file))
        self._emit(SettingsReloaded(tuple(self.directory_ids)))
        return True

    # -- inside

    def _new_worker(self, directory_id: str) -> _DirectoryWorker:
        """Create and (when scheduling) start a worker. Caller holds self._lock."""
        worker = _DirectoryWorker(self, directory_id, scheduled=not self.paused)
        self._workers[directory_id] = worker
        if self._running:
            worker.thread.start()
        return worker

    def _reconcile_workers(self) -> None:
        wanted = self.directory_ids
        with self._lock:
            self._retired = [w for w in self._retired if w.thread.is_alive()]
            for directory_id in list(self._workers):
                if directory_id not in wanted:
                    worker = self._workers.pop(directory_id)
                    worker.retire()
                    self._retired.append(worker)
                    self.sources.discard(directory_id)
            busy = {w.directory_id for w in self._retired}
            for directory_id in wanted:
                # Re-added while its old thread still finishes a batch: next time round.
                if directory_id not in self._workers and directory_id not in busy:
                    self._new_worker(directory_id)
            for worker in self._workers.values():
                if not worker.thread.is_alive() and worker.thread.ident is None:
                    worker.thread.start()  # triggered before run_forever started
            idle = not self._workers
        if self._running:
            for companion in self.companions:
                companion.reconcile()
        if idle and not self._said_idle:
            log.info(_("no enabled directory to sync: waiting for one to be added ({command}, or the console)").format(
                command="smartsync-tui directory add"))
        self._said_idle = idle

    def _shutdown(self) -> None:
        self.stop()
        for companion in self.companions:
            companion.stop()
        with self._lock:
            workers = list(self._workers.values()) + list(self._retired)
        busy = [w.directory_id for w in workers if w.running]
        if busy:
            log.info(_("stopping: waiting for the runs in flight to finish their batch ({ids})").format(ids=", ".join(busy)))
        for worker in workers:
            if worker.thread.ident is not None:
                worker.thread.join()
        with self._lock:
            self._workers = {}
            self._retired = []
            self._running = False
        self.sources.close()

    def _run_one(self, directory_id: str, request: _Request, manual: bool, cancel: threading.Event) -> SyncResult:
        settings = self.settings  # one snapshot for the whole run
        options = SyncOptions(
            full=request.full, allow_deletes=request.allow_deletes,
            batch_size=settings.sync.batch_size, concurrency=settings.sync.concurrency,
        )
        self._emit(RunStarted(directory_id, request.full, request.allow_deletes, manual))

        def job(signal: CancelSignal) -> SyncResult:
            return run_sync_job(self.home, settings, self.secrets, directory_id, options,
                                progress=lambda p: self._emit(RunProgress(p)), cancel=signal,
                                target_factory=self.target_factory, sources=self.sources)

        try:
            return self.host.run(directory_id, job, cancel)
        except Exception as exc:  # a host that could not run it: never kill the directory's thread
            log.exception(_("sync {id} failed unexpectedly").format(id=directory_id))
            return SyncResult(directory_id, outcome="failed", error=_("unexpected {error}").format(error=type(exc).__name__),
                              error_kind="unexpected")

    def _emit(self, event: SchedulerEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            log.exception(_("the scheduler's event listener failed on {event}").format(event=type(event).__name__))


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)

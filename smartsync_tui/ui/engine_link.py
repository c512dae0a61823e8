"""The console and its engine (engine/client.py), both ways.

- :class:`ConsoleHost`: where the engine's jobs run when this console is the
  engine. The scheduler's thread for a directory hands the job over as a
  message; the App starts it as a thread worker (group ``sync-<id>``, so it is
  cancellable and counted like any other), and the scheduler's thread waits
  for its result, as it waits in ``smartsync-tui run``.
- :func:`bridge`: the engine's events, from its threads, as Textual messages.
- :func:`ask_engine`: a request to the engine in a thread worker, so the
  screen never waits on it; the answer or the failure becomes a notification,
  never a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.message import Message

from smartsync_tui.core.errors import UserError
from smartsync_tui.engine.client import ChannelRequest, EitherSet, RunFinished, RunProgress, RunStarted, SyncResult
from smartsync_tui.ui.i18n import _
from smartsync_tui.ui.messages import EngineAsked, SyncFinished, SyncProgressed, SyncStarted

if TYPE_CHECKING:
    from textual.app import App

    from smartsync_tui.engine.client import CancelSignal, EngineEvent, SyncJob, SyncResult

# How often a scheduler thread whose job was never started looks whether it should give up.
_POLL_SECONDS = 0.5


class HostedJob:
    """One job handed from a scheduler thread to the App, and its result handed back."""

    def __init__(self, directory_id: str, job: SyncJob, cancel: threading.Event) -> None:
        self.directory_id = directory_id
        self._job = job
        self._cancel = cancel
        self._lock = threading.Lock()
        self._state = "waiting"  # -> running | abandoned
        self._done = threading.Event()
        self._result: SyncResult | None = None

    def run(self, worker_cancelled: CancelSignal) -> None:
        """In the worker: the job, stopped by the scheduler or by cancelling the worker."""
        with self._lock:
            if self._state == "abandoned":
                return
            self._state = "running"
        try:
            self._result = self._job(EitherSet(self._cancel, worker_cancelled))
        finally:
            self._done.set()

    def wait(self) -> SyncResult:
        """In the scheduler's thread: the result; a cancel if the console closed before starting it."""
        while not self._done.wait(_POLL_SECONDS):
            with self._lock:
                if self._state == "waiting" and self._cancel.is_set():
                    self._state = "abandoned"
                    return _not_started(self.directory_id)
        if self._result is None:  # the worker died of a BaseException
            return _not_started(self.directory_id)
        return self._result


class JobReady(Message):
    """A scheduler thread's job, for the App to start as a worker."""

    def __init__(self, job: HostedJob) -> None:
        super().__init__()
        self.job = job


class ConsoleHost:
    """The engine's job host (engine/jobs.py) in a console: each job a Textual thread worker."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app

    def run(self, directory_id: str, job: SyncJob, cancel: threading.Event) -> SyncResult:
        hosted = HostedJob(directory_id, job, cancel)
        if not self.app.post_message(JobReady(hosted)):  # the console is closing
            return _not_started(directory_id)
        return hosted.wait()


def start_hosted(app: App[Any], message: JobReady) -> None:
    """On the App's thread: the job as a worker that outlives any screen."""
    hosted = message.job

    def in_thread() -> None:
        from textual.worker import get_current_worker

        hosted.run(get_current_worker().cancelled_event)

    app.run_worker(in_thread, name=f"sync {hosted.directory_id}", group=f"sync-{hosted.directory_id}",
                   thread=True, exit_on_error=False)


def _not_started(directory_id: str) -> SyncResult:
    return SyncResult(directory_id, outcome="cancelled", error_kind="cancelled",
                      error=_("cancelled; nothing is lost: the next run goes on from here"))


def bridge(app: App[Any]) -> Callable[[EngineEvent], None]:
    """The engine's events (from its threads) posted to ``app`` as messages."""
    def on_event(event: EngineEvent) -> None:
        if isinstance(event, RunStarted):
            app.post_message(SyncStarted(event.directory_id, manual=event.manual))
        elif isinstance(event, RunProgress):
            app.post_message(SyncProgressed(event.progress))
        elif isinstance(event, RunFinished):
            app.post_message(SyncFinished(event.result))
        elif isinstance(event, ChannelRequest):
            app.post_message(EngineAsked(event.op, event.directory_id))

    return on_event


def ask_engine(app: App[Any], call: Callable[[], object], done: str | Callable[[Any], str | None] | None) -> None:
    """``call`` (a request to the engine client) in a thread worker; ``done`` (or what it makes of the
    answer) notified, or the failure."""

    def in_thread() -> None:
        try:
            answer = call()
        except UserError as exc:
            _notify(app, str(exc), severity="error")
            return
        text = done(answer) if callable(done) else done
        if text:
            _notify(app, text, severity="information")

    app.run_worker(in_thread, name="engine request", group="engine-channel", thread=True, exit_on_error=False)


def _notify(app: App[Any], text: str, *, severity: str) -> None:
    try:
        app.call_from_thread(app.notify, text, severity=severity, timeout=10 if severity == "error" else 5)
    except RuntimeError:  # the console closed meanwhile: nobody to tell
        pass

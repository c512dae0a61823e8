"""One sync job, two hosts.

The scheduler (engine/scheduler.py) decides *when* a directory syncs; a host
decides *where* the job runs. ``smartsync-tui run`` runs it in the
directory's own scheduler thread (:class:`ThreadHost`); a console that is the
engine runs it as a Textual thread worker (ui/engine_link.py), so its syncs
are workers like every other background job of the console. Both run the
same function, :func:`run_sync_job`, and the console's previews run it too.

Nothing here imports textual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from smartsync_tui.core.errors import UserError
from smartsync_tui.config.paths import Home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncOptions, SyncProgress, SyncResult
from smartsync_tui.engine.sources import SourcePool
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.i18n import _
from smartsync_tui.targets.registry import TargetFactory

log = logging.getLogger("smartsync.scheduler")


class CancelSignal(Protocol):
    """What a job polls between pages and batches (a ``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


#: A job as a host receives it: run it with the signal that stops it after its batch.
SyncJob = Callable[[CancelSignal], SyncResult]


class JobHost(Protocol):
    """Where the scheduler's jobs run. ``run`` returns the job's result once it is done.

    Called from the directory's scheduler thread, which waits for it (a directory
    never has two runs at once). ``cancel`` is the scheduler's signal for this
    directory; a host may add its own (a cancelled Textual worker).
    """

    def run(self, directory_id: str, job: SyncJob, cancel: threading.Event) -> SyncResult: ...


class ThreadHost:
    """``smartsync-tui run``: the job runs in the directory's scheduler thread itself."""

    def run(self, directory_id: str, job: SyncJob, cancel: threading.Event) -> SyncResult:
        return job(cancel)


def run_sync_job(
    home: Home,
    settings: AppSettings,
    secrets: SecretStore,
    directory_id: str,
    options: SyncOptions,
    *,
    progress: Callable[[SyncProgress], None] | None = None,
    cancel: CancelSignal | None = None,
    target_factory: TargetFactory | None = None,
    sources: SourcePool | None = None,
) -> SyncResult:
    """One run of one directory; its result, never an exception (the failure is the result).
    ``sources``: a resident engine's AD connections, kept between runs (engine/sources.py)."""
    try:
        # A connection of its own: SQLite connections are not shared between threads.
        with StateStore(home.state_db) as state:
            engine = SyncEngine(settings, secrets, state, target_factory=target_factory, sources=sources)
            return engine.run(directory_id, options, progress=progress, cancel=cancel)  # type: ignore[arg-type]
    except UserError as exc:  # the state store cannot be opened
        log.error(_("sync {id} could not run: {error}").format(id=directory_id, error=exc))
        return SyncResult(directory_id, outcome="failed", dry_run=options.dry_run, error=str(exc), error_kind=exc.kind)
    except Exception as exc:  # never kill the thread that runs it
        log.exception(_("sync {id} failed unexpectedly").format(id=directory_id))
        return SyncResult(directory_id, outcome="failed", dry_run=options.dry_run,
                          error=_("unexpected {error}").format(error=type(exc).__name__), error_kind="unexpected")

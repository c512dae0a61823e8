"""What the engine reports while it runs: a run started, progressed, finished; the
settings reloaded; a request that came over the channel; and a directory's state for a
status view. Plain data, delivered to :meth:`EngineService.listen` listeners from the
engine's threads (the console turns them into messages: ui/engine_link.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from smartsync_tui.engine.results import SyncProgress, SyncResult


@dataclass(frozen=True)
class RunStarted:
    directory_id: str
    full: bool
    allow_deletes: bool
    manual: bool


@dataclass(frozen=True)
class RunProgress:
    progress: SyncProgress

    @property
    def directory_id(self) -> str:
        return self.progress.directory_id


@dataclass(frozen=True)
class RunFinished:
    result: SyncResult
    manual: bool
    failures_in_a_row: int
    next_run_at: float | None  # time.time() of the next scheduled run; None: not scheduled (stopping, removed)

    @property
    def directory_id(self) -> str:
        return self.result.directory_id


@dataclass(frozen=True)
class SettingsReloaded:
    directories: tuple[str, ...]  # the enabled directories now scheduled
    error: str | None = None  # the file did not load: the previous settings are kept


# A target's companion (Identity's login checks) reports its own events through the same
# fan-out; their types belong to that target, so the engine passes them on as they are.
SchedulerEvent = RunStarted | RunProgress | RunFinished | SettingsReloaded | object


@dataclass(frozen=True)
class DirectoryState:
    """What the scheduler knows of one directory, for a status view."""

    directory_id: str
    running: bool
    queued: bool  # a manual run waits for the one in flight
    next_run_at: float | None  # time.time(); None while running or not scheduled
    failures_in_a_row: int
    last_outcome: str | None


@dataclass(frozen=True)
class ChannelRequest:
    """Another console asked this engine for something over the channel (done already)."""

    op: str  # "sync" | "forget"
    directory_id: str
    full: bool = False
    allow_deletes: bool = False


EngineEvent = SchedulerEvent | ChannelRequest

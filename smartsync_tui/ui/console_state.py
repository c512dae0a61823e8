"""What the console keeps about each directory's sync (the table's rows)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from smartsync_tui.engine.client import SyncProgress, SyncResult


# A run's outcome (engine/sync.py) as the table's state; anything else could not run.
_ROW_STATES = {"ok": "synced", "held": "held", "partial": "partial", "cancelled": "cancelled"}


def row_state(outcome: str | None) -> str:
    """The table's state after a run that ended with ``outcome``: a stopped run is not a failure."""
    return _ROW_STATES.get(outcome or "", "failed")


@dataclass
class DirectoryStatus:
    directory_id: str
    # Syncing | Synced | Failed | Held back | Partial | Never synced
    state: str = "never"
    percent: float | None = None
    phase: str = ""
    target_connected: bool | None = None
    # The last run that completed (ok, held or partial), and the last run of any outcome.
    last_sync: float | None = None
    last_attempt: float | None = None
    users: int = 0
    groups: int = 0
    last_result: SyncResult | None = None
    history: list[SyncResult] = field(default_factory=list)

    def started(self) -> None:
        self.state = "syncing"
        self.percent = None
        self.phase = "connecting"

    def progressed(self, progress: SyncProgress) -> None:
        self.state = "syncing"
        self.phase = progress.phase
        self.percent = progress.percent

    def finished(self, result: SyncResult, counts: dict[str, int]) -> None:
        # Kept without its plan: a full sync's plan is one object per user, and
        # holding it would only slow the console's garbage collections.
        result = replace(result, plan=None)
        self.last_result = result
        self.history = [result, *self.history][:20]
        self.state = row_state(result.outcome)
        self.percent = None
        self.phase = ""
        self.last_attempt = time.time()
        if result.outcome in ("ok", "held", "partial"):
            self.last_sync = self.last_attempt
        self.users = counts.get("users", 0) + counts.get("disabled_users", 0)
        self.groups = counts.get("groups", 0)
        if result.target_connected is not None:
            self.target_connected = result.target_connected
        elif result.outcome in ("ok", "held", "partial"):
            self.target_connected = True

"""The sync engine's own words for a plan, made by its real code paths (a state store in a
folder, no AD): the mode and reason of a run and the held-disable note, for the tests and
the snapshots that show them in each language."""

from __future__ import annotations

import time
from pathlib import Path

from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, DirectorySettings
from smartsync_tui.store.state_store import StateStore, Watermark
from smartsync_tui.engine.results import SyncOptions
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.ad.records import DcIdentity
from smartsync_tui.engine.plan import PlannedOp, Planner

CORP = DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                         base_dn="DC=corp,DC=example")


def engine_reason(state: StateStore, *, filters_changed: bool = False) -> tuple[str, str]:
    """The mode and reason the engine gives a run after a full one on the same DC (USN 4242);
    with ``filters_changed``, after the user or group filter was edited."""
    state.set_watermark("corp", Watermark("dc1.corp.example", "inv-1", 4242, "f", time.time()))
    engine = SyncEngine(AppSettings(directories=[CORP]), SecretStore(Path(state.path).parent / "s.json"), state)
    dc = DcIdentity("dc1.corp.example", "inv-1", 4300)
    mode, reason, _since = engine._mode("corp", dc, SyncOptions(), "changed" if filters_changed else "f")
    return mode, reason


def held_planner(state: StateStore, disables: int, *, max_count: int = 0, mode: str = "delta",
                 reason: str = "test", why: str = "") -> Planner:
    """A planner whose ``disables`` users are over the threshold: its plan holds them back."""
    planner = Planner("corp", state, mode, reason)
    planner.plan.users_read = 100  # a read that found users: the plain threshold, not "AD returned nobody"
    for i in range(disables):
        planner.plan.ops.append(PlannedOp(f"g-{i}", "user", "disable", f"CN=User {i},OU=Staff,DC=corp,DC=example",
                                          {"login": f"user{i}@corp.example", "active": False}, why=why))
    planner.apply_threshold(max_count=max_count, max_percent=None, allow_deletes=False)
    return planner


def held_note(state: StateStore, disables: int) -> str:
    return held_planner(state, disables).plan.threshold_note

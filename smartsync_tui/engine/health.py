"""How each directory is, for monitoring: the rules behind ``GET /health`` and ``smartsync-tui status``.

One assessment per enabled directory, from what the scheduler knows (running, failures in a
row), what the state store holds (pending, held, the last successful run, which survives a
restart) and what the target's companion reports (Identity's login checks). The rules and
their thresholds (``status.*`` in appsettings.json) are written down in docs/monitoring.md;
this module is their only implementation. The document follows the draft-inadarei
"Health Check Response Format for HTTP APIs" (``application/health+json``).

Counts, flags, times and directory ids only: never a login, a DN, a name or a secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from smartsync_tui import __version__
from smartsync_tui.config.settings import AppSettings, DirectorySettings
from smartsync_tui.engine.events import DirectoryState
from smartsync_tui.i18n import _, ngettext, number
from smartsync_tui.store.state_store import StoreSummary
from smartsync_tui.targets.base import CompanionReport

PASS, WARN, FAIL = "pass", "warn", "fail"
_RANK = {PASS: 0, WARN: 1, FAIL: 2}
CONTENT_TYPE = "application/health+json"


def worst(statuses: list[str] | tuple[str, ...]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=PASS)


def exit_code(status: str) -> int:
    """``smartsync-tui status``'s exit code: 0 pass, 1 warn, 2 fail."""
    return _RANK[status]


@dataclass(frozen=True)
class Check:
    """One measurement of one directory (a draft-inadarei check object)."""

    name: str  # "component:measurement"
    status: str
    observed: Any  # a number, a bool or None (not known yet)
    unit: str | None = None
    output: str = ""  # why, when not pass
    at: float | None = None  # time.time() the observation refers to


@dataclass(frozen=True)
class DirectoryHealth:
    directory_id: str
    target: str
    running: bool
    queued: bool
    next_run_at: float | None
    failures_in_a_row: int
    last_outcome: str | None
    last_run_at: float | None
    last_success_at: float | None
    pending: int
    held: int
    target_connected: bool | None
    login_checks: CompanionReport | None
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst([c.status for c in self.checks])


def assess(
    directory: DirectorySettings,
    settings: AppSettings,
    state: DirectoryState | None,
    summary: StoreSummary,
    *,
    started_at: float,
    target_connected: bool | None,
    login_checks: CompanionReport | None,
    now: float | None = None,
) -> DirectoryHealth:
    """One directory against the rules of docs/monitoring.md."""
    now = time.time() if now is None else now
    rules = settings.status
    cadence = float(settings.sync.delta_interval_seconds)
    running = bool(state and state.running)
    failures = state.failures_in_a_row if state else 0
    # The last outcome this engine saw, else the store's (a restart keeps it).
    last_outcome = (state.last_outcome if state else None) or summary.last_outcome
    checks: list[Check] = []

    # The age of the last successful sync, against the cadence. Never synced: counted from the
    # engine's start. A run in progress (a long full sync) holds it at warn: it is working.
    since = summary.last_success_at if summary.last_success_at is not None else started_at
    age = max(0.0, now - since)
    status, output = PASS, ""
    if age > rules.fail_after_intervals * cadence and not running:
        status = FAIL
    elif age > rules.warn_after_intervals * cadence:
        status = WARN
    if status != PASS:
        seconds = number(round(age))
        output = (_("no successful sync for {seconds} s (a sync is running)") if running
                  else _("no successful sync for {seconds} s")).format(seconds=seconds)
        if summary.last_success_at is None:
            output = (_("no successful sync since the engine started {seconds} s ago (a sync is running)") if running
                      else _("no successful sync since the engine started {seconds} s ago")).format(seconds=seconds)
    checks.append(Check("sync:lastSuccessAge", status, round(age, 1), "s", output, summary.last_success_at))

    status = FAIL if failures >= rules.fail_after_failures else WARN if failures >= rules.warn_after_failures else PASS
    checks.append(Check("sync:failuresInARow", status, failures, None, "" if status == PASS else ngettext(
        "the last {n} run could not sync", "the last {n} runs could not sync", failures).format(n=number(failures))))

    checks.append(Check("sync:heldDisables", WARN if summary.held else PASS, summary.held, None, "" if not summary.held
                        else ngettext("{n} disable held back by the deletion threshold: confirm them or fix the filter",
                                      "{n} disables held back by the deletion threshold: confirm them or fix the filter",
                                      summary.held).format(n=number(summary.held))))

    partial = last_outcome == "partial"
    checks.append(Check("sync:pendingOperations", WARN if partial else PASS, summary.pending, None, "" if not partial
                        else ngettext("the target refused objects in the last run: {n} operation waits "
                                      "(see the directory's failures)",
                                      "the target refused objects in the last run: {n} operations wait "
                                      "(see the directory's failures)", summary.pending).format(n=number(summary.pending))))

    checks.append(Check("target:reachable", WARN if target_connected is False else PASS, target_connected, None,
                        _("the last run could not reach the target or was refused its credentials")
                        if target_connected is False else ""))

    if login_checks is not None:
        checks.append(Check("loginChecks:inFlight", PASS if login_checks.connected else WARN, login_checks.in_flight,
                            None, "" if login_checks.connected else _("login checks are not connected to Identity")))

    return DirectoryHealth(
        directory.id, directory.target, running, bool(state and state.queued), state.next_run_at if state else None,
        failures, last_outcome, summary.last_run_at, summary.last_success_at, summary.pending, summary.held,
        target_connected, login_checks, checks,
    )


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def health_document(directories: list[DirectoryHealth], *, now: float | None = None) -> dict[str, Any]:
    """The ``application/health+json`` body: one check object per directory under each measurement."""
    now = time.time() if now is None else now
    checks: dict[str, list[dict[str, Any]]] = {}
    for health in directories:
        for check in health.checks:
            item: dict[str, Any] = {
                "componentId": health.directory_id,
                "componentType": health.target,
                "observedValue": check.observed,
                "status": check.status,
                "time": _iso(check.at if check.at is not None else now),
            }
            if check.unit:
                item["observedUnit"] = check.unit
            if check.output:
                item["output"] = check.output
            checks.setdefault(check.name, []).append(item)
    status = worst([h.status for h in directories])
    document: dict[str, Any] = {
        "status": status,
        "version": __version__.split(".")[0],
        "releaseId": __version__,
        "description": "smartsync-tui engine",
        "checks": checks,
    }
    if not directories:
        document["notes"] = [_("no enabled directory")]
    return document


def directory_json(health: DirectoryHealth) -> dict[str, Any]:
    """One directory for ``smartsync-tui status --json`` (and the channel's ``health`` answer)."""
    return {
        "target": health.target,
        "status": health.status,
        "state": "running" if health.running else "queued" if health.queued else "idle",
        "running": health.running,
        "queued": health.queued,
        "next_run_at": health.next_run_at,
        "last_run_at": health.last_run_at,
        "last_success_at": health.last_success_at,
        "last_outcome": health.last_outcome,
        "failures_in_a_row": health.failures_in_a_row,
        "pending": health.pending,
        "held": health.held,
        "target_connected": health.target_connected,
        "login_checks": None if health.login_checks is None else {
            "connected": health.login_checks.connected, "in_flight": health.login_checks.in_flight},
        "problems": [c.output for c in health.checks if c.status != PASS and c.output],
    }

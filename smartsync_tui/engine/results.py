"""What a sync pass is asked and what it answers: options, progress and the result.

Plain data, shared by the engine, its clients (the console, the CLI) and the channel's
status; importing it loads no engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smartsync_tui.i18n import N_, ngettext, number

if TYPE_CHECKING:
    from smartsync_tui.engine.plan import SyncPlan

PHASES = ("connecting", "reading users", "reading groups", "planning", "applying", "done")


@dataclass(frozen=True)
class SyncOptions:
    full: bool = False
    dry_run: bool = False
    allow_deletes: bool = False
    batch_size: int = 500
    concurrency: int = 4
    page_size: int = 1000


@dataclass(frozen=True)
class SyncProgress:
    directory_id: str
    phase: str
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def percent(self) -> float | None:
        return None if not self.total else min(100.0, 100.0 * self.done / self.total)


@dataclass
class SyncResult:
    directory_id: str
    dry_run: bool = False
    mode: str = ""
    mode_reason: str = ""
    # ok | partial (some objects failed) | held (disables held back) | cancelled | failed (could not run)
    outcome: str = "failed"
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # guid, dn, error
    plan: SyncPlan | None = None
    error: str | None = None
    # What kind of failure ``error`` words, for code to compare instead of the (translated) text:
    # a UserError's kind ("identity-unreachable", "token-rejected", "secret-missing"...), "cancelled"
    # or "unexpected"; None when the run did not fail.
    error_kind: str | None = None
    duration: float = 0.0
    # Of which reading AD (connecting, users, groups, deletions): the metrics' LDAP read seconds.
    read_seconds: float = 0.0
    # Whether the target answered in this run: True once a call to it succeeded, False when it
    # could not be reached or refused the credentials, None when the run never got to ask it.
    target_connected: bool | None = None

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 1, "held": 1, "cancelled": 1}.get(self.outcome, 2)


# A run's last log line, one message per outcome (the outcome's name is a code elsewhere: --json, the state store).
OUTCOME_LINES = {
    "ok": N_("sync {id} {mode}: ok in {seconds} s{summary}"),
    "partial": N_("sync {id} {mode}: partial in {seconds} s{summary}"),
    "held": N_("sync {id} {mode}: held in {seconds} s{summary}"),
    "cancelled": N_("sync {id} {mode}: cancelled in {seconds} s{summary}"),
    "failed": N_("sync {id} {mode}: failed in {seconds} s{summary}"),
}


def count_text(key: str, n: int) -> str:
    """One of a run's counts (``SyncResult.counts``) in words: ``create 3``, in pt_BR ``3 criações``."""
    shown = number(n)
    if key == "create":
        return ngettext("create {n}", "create {n}", n).format(n=shown)
    if key == "update":
        return ngettext("update {n}", "update {n}", n).format(n=shown)
    if key == "disable":
        return ngettext("disable {n}", "disable {n}", n).format(n=shown)
    if key == "enable":
        return ngettext("enable {n}", "enable {n}", n).format(n=shown)
    if key == "group_create":
        return ngettext("group_create {n}", "group_create {n}", n).format(n=shown)
    if key == "group_update":
        return ngettext("group_update {n}", "group_update {n}", n).format(n=shown)
    if key == "skipped":
        return ngettext("skipped {n}", "skipped {n}", n).format(n=shown)
    if key == "held":
        return ngettext("held {n}", "held {n}", n).format(n=shown)
    if key == "users_read":
        return ngettext("users_read {n}", "users_read {n}", n).format(n=shown)
    if key == "groups_read":
        return ngettext("groups_read {n}", "groups_read {n}", n).format(n=shown)
    if key == "failed":
        return ngettext("failed {n}", "failed {n}", n).format(n=shown)
    if key == "failed_create":
        return ngettext("failed_create {n}", "failed_create {n}", n).format(n=shown)
    if key == "failed_update":
        return ngettext("failed_update {n}", "failed_update {n}", n).format(n=shown)
    if key == "failed_disable":
        return ngettext("failed_disable {n}", "failed_disable {n}", n).format(n=shown)
    if key == "failed_enable":
        return ngettext("failed_enable {n}", "failed_enable {n}", n).format(n=shown)
    if key == "failed_group_create":
        return ngettext("failed_group_create {n}", "failed_group_create {n}", n).format(n=shown)
    if key == "failed_group_update":
        return ngettext("failed_group_update {n}", "failed_group_update {n}", n).format(n=shown)
    return f"{key} {shown}"




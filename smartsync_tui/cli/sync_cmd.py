"""`smartsync-tui sync [--directory D] [--full] [--dry-run] [--allow-deletes] [--json]`.

Exit codes (cli/exit_codes.py): 0 every directory synced; 1 some objects
failed, disables are held back, or the run was interrupted (the next run
finishes the work); 2 a directory could not be synced at all.

Names, DNs and errors come from AD and Identity: every line goes through
:func:`~smartsync_tui.cli.output.say`, so none of them can write to the
terminal or start a line of its own.
"""

from __future__ import annotations

import argparse
import signal
import threading

from smartsync_tui.cli.context import CliContext
from smartsync_tui.cli.output import print_json, say
from smartsync_tui.core.errors import InputError
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncOptions, SyncResult
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.engine.plan import SyncPlan, describe_change
from smartsync_tui.i18n import N_, _, ngettext, number

_LIST_LIMIT = 20
_LABELS = {
    "create": N_("create"), "update": N_("update"), "disable": N_("disable"), "enable": N_("re-enable"),
    "group-create": N_("group create"), "group-update": N_("group update"),
}
_MODES = {"delta": N_("delta"), "full": N_("full")}
# A directory's result line, per run (sync or dry run) and outcome: each a sentence of its own.
_RESULT_LINES = {
    (False, "ok"): N_("{id}: sync, {mode}: ok in {seconds} s"),
    (False, "partial"): N_("{id}: sync, {mode}: partial in {seconds} s"),
    (False, "held"): N_("{id}: sync, {mode}: held in {seconds} s"),
    (False, "cancelled"): N_("{id}: sync, {mode}: cancelled in {seconds} s"),
    (False, "failed"): N_("{id}: sync, {mode}: failed in {seconds} s"),
    (True, "ok"): N_("{id}: dry run, {mode}: ok in {seconds} s"),
    (True, "partial"): N_("{id}: dry run, {mode}: partial in {seconds} s"),
    (True, "held"): N_("{id}: dry run, {mode}: held in {seconds} s"),
    (True, "cancelled"): N_("{id}: dry run, {mode}: cancelled in {seconds} s"),
    (True, "failed"): N_("{id}: dry run, {mode}: failed in {seconds} s"),
}
_OTHER_RESULT = {False: N_("{id}: sync, {mode}: {outcome} in {seconds} s"),
                 True: N_("{id}: dry run, {mode}: {outcome} in {seconds} s")}


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()
    if args.directory:
        directory = settings.directory(args.directory)
        if directory is None:
            known = ", ".join(d.id for d in settings.directories) or _("none yet")
            raise InputError("directory", _("there is no directory '{id}' (known: {known})").format(
                id=args.directory, known=known))
        targets = [directory.id]
    else:
        targets = [d.id for d in settings.directories if d.enabled]
        if not targets:
            raise InputError("directory", _("no enabled directory to sync: add one with `smartsync-tui directory add`"))
    options = SyncOptions(
        full=args.full, dry_run=args.dry_run, allow_deletes=args.allow_deletes,
        batch_size=settings.sync.batch_size, concurrency=settings.sync.concurrency,
    )
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())  # finish the batch in flight, then stop
    results: list[SyncResult] = []
    try:
        with StateStore(ctx.home.state_db) as state:
            engine = SyncEngine(settings, ctx.secrets, state)
            for directory_id in targets:
                results.append(engine.run(directory_id, options, cancel=cancel))
                if cancel.is_set():
                    break
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print_json([_as_json(r, options) for r in results])
    else:
        for r in results:
            _print_result(r, options)
    return max(r.exit_code for r in results)


def _summary(r: SyncResult, *, dry_run: bool = False) -> str:
    """What was done (what a dry run would do): the plan's counts less what Identity did not take."""
    c = {key: value - r.counts.get(f"failed_{key}", 0) for key, value in r.counts.items()}
    if dry_run:
        parts = [
            ngettext("to create {n}", "to create {n}", c.get("create", 0)),
            ngettext("to update {n}", "to update {n}", c.get("update", 0)),
            ngettext("to disable {n}", "to disable {n}", c.get("disable", 0)),
            ngettext("to re-enable {n}", "to re-enable {n}", c.get("enable", 0)),
            ngettext("groups to create {n}", "groups to create {n}", c.get("group_create", 0)),
            ngettext("groups to update {n}", "groups to update {n}", c.get("group_update", 0)),
            ngettext("skipped {n}", "skipped {n}", c.get("skipped", 0)),
            ngettext("failed {n}", "failed {n}", c.get("failed", 0)),
            ngettext("held back {n}", "held back {n}", c.get("held", 0)),
        ]
    else:
        parts = [
            ngettext("created {n}", "created {n}", c.get("create", 0)),
            ngettext("updated {n}", "updated {n}", c.get("update", 0)),
            ngettext("disabled {n}", "disabled {n}", c.get("disable", 0)),
            ngettext("re-enabled {n}", "re-enabled {n}", c.get("enable", 0)),
            ngettext("groups created {n}", "groups created {n}", c.get("group_create", 0)),
            ngettext("groups updated {n}", "groups updated {n}", c.get("group_update", 0)),
            ngettext("skipped {n}", "skipped {n}", c.get("skipped", 0)),
            ngettext("failed {n}", "failed {n}", c.get("failed", 0)),
            ngettext("held back {n}", "held back {n}", c.get("held", 0)),
        ]
    keys = ("create", "update", "disable", "enable", "group_create", "group_update", "skipped", "failed", "held")
    # A list, one figure per piece: each piece is a message of its own, with its plural.
    return ", ".join(part.format(n=number(c.get(key, 0))) for part, key in zip(parts, keys))


def _print_result(r: SyncResult, options: SyncOptions) -> None:
    # A run that failed before the DC answered has the mode it was going to run in, and no reason yet.
    if not r.mode:
        mode = _("not started")
    elif r.mode_reason:
        mode = f"{_(_MODES.get(r.mode, r.mode))} ({r.mode_reason})"
    else:
        mode = _(_MODES.get(r.mode, r.mode))
    line = _RESULT_LINES.get((options.dry_run, r.outcome))
    fields = {"id": r.directory_id, "mode": mode, "seconds": number(r.duration, 2), "outcome": r.outcome}
    say(_(line).format(**fields) if line else _(_OTHER_RESULT[options.dry_run]).format(**fields))
    if r.error:
        _detail(_("problem: {error}").format(error=r.error))
    if r.plan is None:
        return
    _detail(_("read {users} and {groups}").format(
        users=ngettext("{n} user", "{n} users", r.plan.users_read).format(n=number(r.plan.users_read)),
        groups=ngettext("{n} group", "{n} groups", r.plan.groups_read).format(n=number(r.plan.groups_read))))
    if options.dry_run:
        _detail(_summary(r, dry_run=True))
        _print_plan(r.plan)
    else:
        _detail(_summary(r))
    for guid, dn, reason in r.plan.skipped[:_LIST_LIMIT]:
        _detail(_("skipped {dn}: {reason}").format(dn=dn, reason=reason))
    if len(r.plan.skipped) > _LIST_LIMIT:
        more = len(r.plan.skipped) - _LIST_LIMIT
        _detail(ngettext("... and {n} more skipped (all of them: --json)",
                         "... and {n} more skipped (all of them: --json)", more).format(n=number(more)))
    for guid, dn, error in r.failures[:_LIST_LIMIT]:
        _detail(_("failed {dn}: {error} (retried on the next run)").format(dn=dn, error=error))
    if r.plan.threshold_note:
        _detail(_("held: {note}").format(note=r.plan.threshold_note))


def _detail(text: str) -> None:
    """A line under a directory's result line, indented."""
    say(f"  {text}")


def _print_plan(plan: SyncPlan) -> None:
    for op in plan.ops:
        label = _(_LABELS[op.op]) if op.op in _LABELS else op.op
        diff = "; ".join(describe_change(c, value=repr, arrow="->") for c in op.changes)
        say(f"  {label:<13} {op.name}  [{op.dn}]  {diff}" if diff else f"  {label:<13} {op.name}  [{op.dn}]")
    held = _("held disable")
    for op in plan.held:
        say(f"  {held:<13} {op.name}  [{op.dn}]  ({op.why})")


def _as_json(r: SyncResult, options: SyncOptions) -> dict:
    data: dict = {
        "directory": r.directory_id, "dry_run": options.dry_run, "mode": r.mode, "mode_reason": r.mode_reason,
        "outcome": r.outcome, "exit_code": r.exit_code, "error": r.error, "duration_s": round(r.duration, 3),
        "counts": r.counts,
        "failures": [{"guid": g, "dn": dn, "error": e} for g, dn, e in r.failures],
    }
    if r.plan is not None:
        data["skipped"] = [{"guid": g, "dn": dn, "reason": why} for g, dn, why in r.plan.skipped]
        data["held"] = [{"guid": op.guid, "dn": op.dn, "why": op.why} for op in r.plan.held]
        data["threshold"] = r.plan.threshold_note or None
        if options.dry_run:
            data["plan"] = [
                {"op": op.op, "kind": op.kind, "guid": op.guid, "dn": op.dn, "payload": op.payload,
                 "changes": [list(c) for c in op.changes], "why": op.why}
                for op in r.plan.ops
            ]
    return data

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
from smartsync_tui.core.state_store import StateStore
from smartsync_tui.core.sync_engine import SyncEngine, SyncOptions, SyncResult
from smartsync_tui.core.sync_plan import SyncPlan, describe_change

_LIST_LIMIT = 20
_LABELS = {
    "create": "create", "update": "update", "disable": "disable", "enable": "re-enable",
    "group-create": "group create", "group-update": "group update",
}


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()
    if args.directory:
        directory = settings.directory(args.directory)
        if directory is None:
            known = ", ".join(d.id for d in settings.directories) or "none yet"
            raise InputError("directory", f"there is no directory '{args.directory}' (known: {known})")
        targets = [directory.id]
    else:
        targets = [d.id for d in settings.directories if d.enabled]
        if not targets:
            raise InputError("directory", "no enabled directory to sync: add one with `smartsync-tui directory add`")
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


def _summary(r: SyncResult) -> str:
    # What was done: the plan's counts less what Identity did not take (counted as failed).
    c = {key: value - r.counts.get(f"failed_{key}", 0) for key, value in r.counts.items()}
    parts = [
        f"created {c.get('create', 0)}", f"updated {c.get('update', 0)}", f"disabled {c.get('disable', 0)}",
        f"re-enabled {c.get('enable', 0)}",
        f"groups created {c.get('group_create', 0)}", f"groups updated {c.get('group_update', 0)}",
        f"skipped {c.get('skipped', 0)}", f"failed {c.get('failed', 0)}", f"held back {c.get('held', 0)}",
    ]
    return ", ".join(parts)


def _print_result(r: SyncResult, options: SyncOptions) -> None:
    what = "dry run" if options.dry_run else "sync"
    # A run that failed before the DC answered has the mode it was going to run in, and no reason yet.
    mode = (f"{r.mode} ({r.mode_reason})" if r.mode_reason else r.mode) if r.mode else "not started"
    say(f"{r.directory_id}: {what}, {mode}: {r.outcome} in {r.duration:.2f} s")
    if r.error:
        say(f"  problem: {r.error}")
    if r.plan is None:
        return
    say(f"  read {r.plan.users_read} users and {r.plan.groups_read} groups")
    say(f"  {'would ' if options.dry_run else ''}{_summary(r)}")
    if options.dry_run:
        _print_plan(r.plan)
    for guid, dn, reason in r.plan.skipped[:_LIST_LIMIT]:
        say(f"  skipped {dn}: {reason}")
    if len(r.plan.skipped) > _LIST_LIMIT:
        say(f"  ... and {len(r.plan.skipped) - _LIST_LIMIT} more skipped (all of them: --json)")
    for guid, dn, error in r.failures[:_LIST_LIMIT]:
        say(f"  failed {dn}: {error} (retried on the next run)")
    if r.plan.threshold_note:
        say(f"  held: {r.plan.threshold_note}")


def _print_plan(plan: SyncPlan) -> None:
    for op in plan.ops:
        label = _LABELS.get(op.op, op.op)
        diff = "; ".join(describe_change(c, value=repr, arrow="->") for c in op.changes)
        say(f"  {label:<13} {op.name}  [{op.dn}]" + (f"  {diff}" if diff else ""))
    for op in plan.held:
        say(f"  held disable  {op.name}  [{op.dn}]  ({op.why})")


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

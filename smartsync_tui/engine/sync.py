"""One sync pass of one directory: connect, read AD, plan, apply.

The same engine runs under `smartsync-tui sync`, the headless `run` and the
console's workers. It reports progress through a callback and checks a
cancel event between pages and batches (threads cannot be killed). Nothing
here imports textual.

Safety rules (docs/sync.md, step 4 and 5): a read that failed never produces disables
(deletions are planned only after a complete read); the deletion threshold
holds mass disables; every planned operation is written to the state store
before it is sent, so a crash or an outage loses nothing and the next run
finishes the work (upserts are idempotent, keyed by objectGUID).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pydantic import SecretStr

from smartsync_tui.ad.errors import SearchCancelled
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.remedy import SecretMissing
from smartsync_tui.config.secret_store import SecretStore, directory_password_key
from smartsync_tui.config.settings import DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER, AppSettings, DirectorySettings
from smartsync_tui.store.state_store import StateStore, SyncedObject, Watermark
from smartsync_tui.engine.mapping import content_hash
from smartsync_tui.engine.plan import PlannedOp, Planner, SyncPlan, mode_name
from smartsync_tui.ad.base import open_source
from smartsync_tui.engine.sources import SourcePool
from smartsync_tui.engine.results import OUTCOME_LINES, SyncOptions, SyncProgress, SyncResult, count_text
from smartsync_tui.i18n import _, number
from smartsync_tui.targets.base import ItemResult, Known, Target, TargetError, TargetStopped, TargetUnavailable
from smartsync_tui.targets.registry import TargetContext, TargetFactory, factory

log = logging.getLogger("smartsync.sync")

class _Cancelled(Exception):
    pass


def _managers_first(ops: list[PlannedOp]) -> list[PlannedOp]:
    """Users in the order a target naming managers by its own ids wants: a manager before the
    users who report to it (by depth in the chain; a cycle is cut), so that a report's batch
    usually finds its manager created. Stable: without managers the order is the plan's."""
    by_guid = {op.guid: op for op in ops}
    if not any(op.payload.get("manager") in by_guid for op in ops):
        return ops
    depth: dict[str, int] = {}
    for op in ops:
        chain: list[str] = []
        guid: str | None = op.guid
        while guid in by_guid and guid not in depth and guid not in chain:
            chain.append(guid)
            guid = by_guid[guid].payload.get("manager")
        base = depth.get(guid, -1) if guid is not None else -1
        for n, g in enumerate(reversed(chain), start=1):
            depth[g] = base + n
    return sorted(ops, key=lambda op: depth[op.guid])


def filters_hash(user_filter: str, group_filter: str, target_key: str = "") -> str:
    """What the read and the payloads depend on besides AD: a change makes the next run a full one.
    Without a target key, the hash of the filters alone (what a home written before holds)."""
    text = f"{user_filter}\n{group_filter}" + (f"\n{target_key}" if target_key else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SyncEngine:
    def __init__(
        self,
        settings: AppSettings,
        secrets: SecretStore,
        state: StateStore,
        *,
        target_factory: TargetFactory | None = None,
        sources: SourcePool | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.state = state
        # A resident engine's connections, kept between runs (engine/sources.py); None: one per run.
        self._sources = sources
        self._target_factory = target_factory

    # -- entry point

    def run(
        self,
        directory_id: str,
        options: SyncOptions = SyncOptions(),
        *,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        started = time.monotonic()
        result = SyncResult(directory_id, dry_run=options.dry_run)
        cancel = cancel or threading.Event()
        report = progress or (lambda p: None)
        run_id: int | None = None
        try:
            directory = self._directory(directory_id)
            # The mode it would run in, until the DC's answer settles it: a run that fails before
            # (AD unreachable) is recorded as the delta or full it was, not as "auto".
            full = options.full or self.state.watermark(directory_id) is None
            result.mode = "full" if full else "delta"
            if not options.dry_run:
                run_id = self.state.start_run(directory_id, result.mode, dry_run=False)
            self._run(directory, options, result, report, cancel)
        except (_Cancelled, SearchCancelled):
            result.outcome = "cancelled"
            result.error = _("cancelled; nothing is lost: the next run goes on from here")
            result.error_kind = "cancelled"
        except UserError as exc:
            result.outcome = "failed"
            result.error = str(exc)
            result.error_kind = exc.kind
            if isinstance(exc, TargetError):
                result.target_connected = False
        except Exception as exc:  # a bug must not kill the scheduler or the console
            log.exception(_("sync of {id} failed unexpectedly").format(id=directory_id))
            result.outcome = "failed"
            result.error = _("unexpected {error} (details in the application log)").format(error=type(exc).__name__)  # not a count
            result.error_kind = "unexpected"
        result.duration = time.monotonic() - started
        if run_id is not None:
            self.state.finish_run(
                run_id, outcome=result.outcome, counts=result.counts, error=result.error, mode=result.mode or None
            )
        self._log_result(result, options)
        report(SyncProgress(directory_id, "done", message=result.outcome))
        return result

    # -- the pass

    def _directory(self, directory_id: str) -> DirectorySettings:
        directory = self.settings.directory(directory_id)
        if directory is None:
            known = ", ".join(d.id for d in self.settings.directories) or _("none")
            raise UserError(_("There is no directory '{id}' (configured: {known}).").format(id=directory_id, known=known))
        return directory

    def _secret(self, key: str, what: str, directory: DirectorySettings, *, flag: str) -> SecretStr:
        value = self.secrets.get(key)
        if value is None:
            raise SecretMissing(what, directory.id, flag)  # type: ignore[arg-type]
        return value

    def _target(self, directory: DirectorySettings) -> Target:
        """The directory's target, open for this run (a UserError says what is missing first)."""
        open_target = self._target_factory or factory(directory.target)
        return open_target(TargetContext(self.settings, self.secrets, directory))

    def _run(
        self,
        directory: DirectorySettings,
        options: SyncOptions,
        result: SyncResult,
        report: Callable[[SyncProgress], None],
        cancel: threading.Event,
    ) -> None:
        did = directory.id
        report(SyncProgress(did, "connecting", message=f"{directory.server}:{directory.effective_port}"))
        password = self._secret(directory_password_key(did), "password", directory, flag="password")
        target = self._target(directory)
        try:
            user_filter, group_filter = self._filters(directory, target, result)
            read_started = time.monotonic()
            source, reused = (self._sources.take(directory, password) if self._sources is not None
                              else (open_source(directory, password), False))
            read_all = False
            try:
                try:
                    dc = source.read_dc()
                except (SearchCancelled, _Cancelled):
                    raise
                except Exception:
                    if not reused or self._sources is None:
                        raise
                    # A kept connection the DC or a firewall dropped while idle: once more, on a new one.
                    log.info(_("sync {id}: the kept AD connection no longer answers; connecting again").format(id=did))
                    source.close()
                    source = self._sources.open(directory, password)
                    dc = source.read_dc()
                fhash = filters_hash(user_filter, group_filter, target.settings_key())
                mode, reason, since = self._mode(did, dc, options, fhash)
                result.mode, result.mode_reason = mode, reason
                log.info(_("sync {id}: {mode} ({reason}) from {dc}, users {user_filter}, groups {group_filter}").format(
                    id=did, mode=mode_name(mode), reason=reason, dc=dc.dns_host_name,
                    user_filter=user_filter, group_filter=group_filter,
                ))
                attributes = target.user_attributes()
                planner = Planner(did, self.state, mode, reason, refusal=target.refusal, user_fields=target.user_fields,
                                  managers="manager" in attributes, mark_gone=target.deletes_gone())
                # A full read's percent is against the users the store holds; a delta reads the few that
                # changed (no percent), and counting 100,000 rows would cost it more than its read.
                expected = 0
                if mode == "full":
                    counts = self.state.counts(did)
                    expected = counts["users"] + counts["disabled_users"]
                report(SyncProgress(did, "reading users", 0, expected))
                planner.add_users(
                    source.users(directory.base_dn, user_filter, since_usn=since, page_size=options.page_size,
                                 cancel=cancel, attributes=attributes),
                    # No estimate on a first run: no percent rather than a false 100%.
                    on_progress=lambda n: report(SyncProgress(did, "reading users", n, max(n, expected) if expected else 0)),
                )
                report(SyncProgress(did, "reading groups"))
                flatten = None
                if directory.flatten_nested_groups or target.flattens_groups():
                    def flatten(group):  # type: ignore[no-untyped-def]
                        return source.nested_user_guids(
                            directory.base_dn, group.dn, user_filter, page_size=options.page_size, cancel=cancel
                        )
                planner.add_groups(
                    source.groups(directory.base_dn, group_filter, since_usn=since, page_size=options.page_size, cancel=cancel),
                    flatten=flatten, groups_among=lambda dns: source.groups_among(dns, cancel=cancel),
                )
                # Only now, after every read completed, may absence mean "gone".
                if mode == "full":
                    planner.add_gone_after_full_read()
                else:
                    planner.add_tombstones(
                        source.deleted(since_usn=since, cancel=cancel)
                    )
                read_all = True
            finally:
                if read_all and self._sources is not None:
                    self._sources.give_back(directory, password, source)
                else:
                    source.close()  # a read that failed or was cancelled: the connection is not trusted again
                result.read_seconds = time.monotonic() - read_started
            report(SyncProgress(did, "planning"))
            planner.add_leftovers(self.state.pending(did))
            held_before = self.state.held(did)
            if options.allow_deletes and held_before:
                planner.add_leftovers(held_before)
            cfg = self.settings.deletion_threshold
            planner.apply_threshold(
                max_count=cfg.max_count, max_percent=cfg.max_percent, allow_deletes=options.allow_deletes
            )
            planner.fill_field_changes()
            plan = planner.plan
            result.plan = plan
            result.counts = plan.counts() | {"users_read": plan.users_read, "groups_read": plan.groups_read}
            if options.dry_run:
                result.outcome = "held" if plan.held else "ok"
                return
            # The plan is on disk before anything is sent: a crash from here on loses nothing.
            self.state.add_pending(did, [op.as_pending() for op in plan.ops])
            self.state.hold(did, [op.as_pending() for op in plan.held])
            self.state.set_skipped(did, plan.skipped, replace_all=mode == "full")
            self.state.unskip(did, [op.guid for op in plan.ops])
            if plan.moved:
                self.state.update_dns(did, plan.moved)
            previous = self.state.watermark(did)
            self.state.set_watermark(
                did,
                Watermark(
                    dc.dns_host_name, dc.invocation_id, dc.highest_committed_usn, fhash,
                    time.time() if mode == "full" else (previous.full_at if previous else time.time()),
                ),
            )
            failures = self._apply(did, plan, target, options, report, cancel)
        finally:
            target.close()
        result.failures = failures
        result.counts["failed"] = len(failures)
        # Per kind of operation too ("failed_create"...): the plan's counts are what was planned,
        # and a run's summary must not call a refused create "created".
        refused = {guid for guid, _dn, _error in failures}
        for op in plan.ops:
            if op.guid in refused:
                key = "failed_" + op.op.replace("-", "_")
                result.counts[key] = result.counts.get(key, 0) + 1
        if plan.ops:
            result.target_connected = True  # it took the batches (refusing some items is an answer too)
        if failures:
            result.outcome = "partial"
        elif plan.held:
            result.outcome = "held"
        else:
            result.outcome = "ok"

    def _filters(self, directory: DirectorySettings, target: Target, result: SyncResult) -> tuple[str, str]:
        """Local override, else the target's scope (Identity's directory record), else the defaults."""
        user_filter, group_filter = directory.user_filter, directory.group_filter
        if user_filter is None or group_filter is None:
            scope = target.scope()
            if scope is not None:
                result.target_connected = True  # it answered
                user_filter = user_filter or scope.user_filter
                group_filter = group_filter or scope.group_filter
        return user_filter or DEFAULT_USER_FILTER, group_filter or DEFAULT_GROUP_FILTER

    def _mode(self, did: str, dc, options: SyncOptions, fhash: str) -> tuple[str, str, int | None]:  # type: ignore[no-untyped-def]
        mark = self.state.watermark(did)
        # The reason is for the admin (the preview's heading, the log); the mode is the code.
        if mark is None:
            return "full", _("first sync of this directory"), None
        if options.full:
            return "full", _("full sync asked for"), None
        if mark.dns_host_name.lower() != dc.dns_host_name.lower():
            return "full", _("another DC answered ({dc}, last time {previous})").format(
                dc=dc.dns_host_name, previous=mark.dns_host_name), None
        if mark.invocation_id != dc.invocation_id:
            return "full", _("the DC's database changed (invocationId {id}, was {previous}: restored?)").format(
                id=dc.invocation_id, previous=mark.invocation_id), None
        if dc.highest_committed_usn < mark.usn:
            return "full", _("the DC's USN went back ({usn} < {previous}: restored?)").format(
                usn=dc.highest_committed_usn, previous=mark.usn), None
        if mark.filters_hash != fhash:
            return "full", _("the user or group filter, or what the target is sent, changed"), None
        interval = self.settings.sync.full_reconcile_interval_hours * 3600
        if time.time() - mark.full_at >= interval:
            return "full", _("scheduled full reconcile"), None
        return "delta", _("changes since USN {usn}").format(usn=mark.usn), mark.usn

    # -- applying

    def _apply(
        self,
        did: str,
        plan: SyncPlan,
        target: Target,
        options: SyncOptions,
        report: Callable[[SyncProgress], None],
        cancel: threading.Event,
    ) -> list[tuple[str, str, str]]:
        users = _managers_first([op for op in plan.ops if op.kind == "user"])
        groups = [op for op in plan.ops if op.kind == "group"]
        total = len(plan.ops)
        done = 0
        failures: list[tuple[str, str, str]] = []
        report(SyncProgress(did, "applying", 0, total))
        # Users first so that group links land on existing users.
        def known(payloads: list[dict]) -> dict[str, Known]:
            if not target.needs_known:
                return {}
            held = self.state.get_objects(did, [p["external_id"] for p in payloads])
            return {guid: Known(o.remote_id, o.payload) for guid, o in held.items()}

        def send_users(payloads: list[dict]) -> list[ItemResult]:
            held = known(payloads)
            if not target.needs_member_ids:
                return target.apply_users(payloads, held)
            # Read per batch: a manager created by an earlier batch of this run has its id by now.
            # The manager named last time too: a change compares the two by their remote ids.
            managers = {p["manager"] for p in payloads if p.get("manager")}
            managers.update(k.payload["manager"] for k in held.values() if k.payload.get("manager"))
            return target.apply_users(payloads, held, self.state.remote_ids(did, managers))

        def send_groups(payloads: list[dict]) -> list[ItemResult]:
            held = known(payloads)
            if not target.needs_member_ids:
                return target.apply_groups(payloads, {}, held)
            # Read after the users' batches landed: a member created in this run has its id by now.
            # The members a group had last time too: a removal names the member by its remote id.
            members = {m for p in payloads for m in p.get("members", ())}
            members.update(m for k in held.values() for m in k.payload.get("members", ()))
            return target.apply_groups(payloads, self.state.remote_ids(did, members), held)

        def phase(kind: str, ops: list[PlannedOp], send: Callable[[list[dict]], list[ItemResult]]) -> list[PlannedOp]:
            """Apply ``ops`` in batches over the engine's threads; the ops the target took only in
            part (ItemResult.applied) are returned."""
            nonlocal done, failures
            partial: list[PlannedOp] = []
            size = min(options.batch_size, target.max_batch_size or options.batch_size)
            batches = [ops[i : i + size] for i in range(0, len(ops), size)]
            with ThreadPoolExecutor(max_workers=max(1, options.concurrency), thread_name_prefix=f"sync-{did}") as pool:
                running: dict[Future, list[PlannedOp]] = {}
                queue = list(reversed(batches))
                while queue or running:
                    # Cancelled: let the batches in flight finish and be recorded, send no more.
                    if cancel.is_set() and not running:
                        raise _Cancelled()
                    while queue and len(running) < options.concurrency and not cancel.is_set():
                        batch = queue.pop()
                        running[pool.submit(send, [op.payload for op in batch])] = batch
                    if not running:
                        continue
                    finished, _pending = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        batch = running.pop(future)
                        failed, took_part = self._record(did, kind, batch, future, target.display_name)
                        failures += failed
                        partial += took_part
                        done += len(batch)
                        report(SyncProgress(did, "applying", done, total))
            return partial

        partial = phase("user", users, send_users)
        # A user sent before its manager had an id (a manager created later in the same run):
        # once every user landed, the manager is named (one more call each, only for those).
        retry = [op for op in partial if op.payload.get("manager")]
        if retry:
            total += len(retry)
            phase("user", retry, send_users)
        phase("group", groups, send_groups)
        return failures

    def _record(self, did: str, kind: str, batch: list[PlannedOp], future: Future,
                target_name: str) -> tuple[list[tuple[str, str, str]], list[PlannedOp]]:
        """Commit one batch's outcome to the state store (its own transaction): the objects that
        failed, and the ops the target took only in part."""
        try:
            results: list[ItemResult] = future.result()
        except TargetStopped:
            raise _Cancelled() from None  # a stop cut the wait for its answer: the batch stays pending
        except TargetUnavailable:
            raise  # every later batch would fail the same way; what is left stays pending
        except UserError as exc:  # BatchRefused, or a target's own refusal of the batch
            self.state.mark_failed(did, {op.guid: str(exc) for op in batch})
            return [(op.guid, op.dn, str(exc)) for op in batch], []
        by_id = {r.external_id: r for r in results}
        applied: list[SyncedObject] = []
        failed: dict[str, str] = {}
        for_good: list[tuple[str, str, str]] = []
        partial: list[PlannedOp] = []
        for op in batch:
            answer = by_id.get(op.guid)
            if answer is None or not answer.ok:
                failed[op.guid] = (answer.error if answer is not None else None) or _(
                    "{target} returned no result for it").format(target=target_name)
                if answer is not None and not answer.retry:
                    for_good.append((op.guid, op.dn, failed[op.guid]))
                continue
            if answer.applied is not None:
                partial.append(op)
            took = op.payload if answer.applied is None else answer.applied
            applied.append(
                SyncedObject(
                    op.guid, kind, op.dn, answer.remote_id, content_hash(took), took, bool(took.get("active", True)),
                )
            )
        if applied:
            self.state.record_applied(did, applied)
        if for_good:  # no longer pending: listed as skipped with the target's reason
            self.state.refuse(did, for_good)
        waiting = {guid for guid, _dn, _error in for_good}
        retried = {guid: error for guid, error in failed.items() if guid not in waiting}
        if retried:
            self.state.mark_failed(did, retried)
        return [(op.guid, op.dn, failed[op.guid]) for op in batch if op.guid in failed], partial

    def _log_result(self, result: SyncResult, options: SyncOptions) -> None:
        summary = ", ".join(count_text(k, v) for k, v in result.counts.items() if v)
        level = logging.INFO if result.outcome in ("ok", "held") else logging.WARNING
        mode = mode_name(result.mode) if result.mode else "-"
        if options.dry_run:
            mode = _("{mode} (dry run)").format(mode=mode)
        said = OUTCOME_LINES.get(result.outcome)
        line = (_(said) if said else _("sync {id} {mode}: {outcome} in {seconds} s{summary}")).format(
            id=result.directory_id, mode=mode, outcome=result.outcome, seconds=number(result.duration, 2),
            summary=f" ({summary})" if summary else "",
        )
        log.log(level, line)
        if result.error:
            log.warning(_("sync {id}: {error}").format(id=result.directory_id, error=result.error))
        for guid, dn, error in result.failures[:50]:
            log.warning(_("sync {id}: {dn} ({guid}) failed: {error}").format(
                id=result.directory_id, dn=dn, guid=guid, error=error))

"""The engine's Prometheus metrics: what ``GET /metrics`` exposes (docs/monitoring.md lists them).

Counters and histograms follow the engine's events (a run finished, a login check answered);
gauges are read when scraped, from the same assessment as ``/health`` (engine/health.py), and
the targets' request counts from core/telemetry.py. A registry of its own, not the library's
global one: two engines in one test process never mix their figures.

Labels hold directory ids, modes, outcomes, operations, target kinds and HTTP statuses: never a
login, a name, a DN or a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from smartsync_tui import __version__
from smartsync_tui.core import telemetry
from smartsync_tui.engine.events import RunFinished
from smartsync_tui.engine.plan import GROUP_OPS, USER_OPS
from smartsync_tui.targets.identity.pass_through import LoginChecked

if TYPE_CHECKING:
    from smartsync_tui.engine.health import DirectoryHealth

# A delta takes tenths of a second, a full sync of 100,000 users minutes.
RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# A login check is one or two LDAP binds: milliseconds, seconds when the DC is slow.
LOGIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)
_OPERATIONS = tuple(op.replace("-", "_") for op in USER_OPS + GROUP_OPS)


class EngineMetrics:
    """The metrics of one engine. ``health``: the directories' assessment now (EngineService.health)."""

    def __init__(self, health: Callable[[], list["DirectoryHealth"]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter("smartsync_sync_runs", "Sync runs that ended, by directory, mode and outcome.",
                            ["directory", "mode", "outcome"], registry=r)
        self.duration = Histogram("smartsync_sync_run_duration_seconds", "How long a sync run took.",
                                  ["directory", "mode"], buckets=RUN_BUCKETS, registry=r)
        self.ldap_read = Histogram("smartsync_ldap_read_seconds",
                                   "Time a sync run spent reading Active Directory (connect, users, groups).",
                                   ["directory", "mode"], buckets=RUN_BUCKETS, registry=r)
        self.applied = Counter("smartsync_sync_objects_applied", "Objects the target took, by operation.",
                               ["directory", "operation"], registry=r)
        self.refused = Counter("smartsync_sync_objects_failed", "Objects the target refused, by operation.",
                               ["directory", "operation"], registry=r)
        self.login_checks = Counter("smartsync_login_checks", "Login checks answered, by outcome.",
                                    ["directory", "outcome"], registry=r)
        self.login_latency = Histogram("smartsync_login_check_duration_seconds",
                                       "From a login check's arrival to its answer.", ["directory"],
                                       buckets=LOGIN_BUCKETS, registry=r)
        r.register(_ScrapeCollector(health))

    def on_event(self, event: object) -> None:
        """An engine listener (EngineService.listen): quick, from the engine's threads."""
        if isinstance(event, RunFinished):
            result = event.result
            if result.dry_run:
                return
            mode = result.mode or "unknown"
            self.runs.labels(result.directory_id, mode, result.outcome).inc()
            self.duration.labels(result.directory_id, mode).observe(result.duration)
            if result.read_seconds:
                self.ldap_read.labels(result.directory_id, mode).observe(result.read_seconds)
            counts = result.counts
            for op in _OPERATIONS:
                failed = counts.get("failed_" + op, 0)
                # What was planned and not refused was taken: a run stopped midway leaves the rest pending.
                taken = counts.get(op, 0) - failed if result.outcome in ("ok", "partial", "held") else 0
                if taken > 0:
                    self.applied.labels(result.directory_id, op).inc(taken)
                if failed > 0:
                    self.refused.labels(result.directory_id, op).inc(failed)
        elif isinstance(event, LoginChecked):
            self.login_checks.labels(event.directory_id, event.result.outcome).inc()
            self.login_latency.labels(event.directory_id).observe(event.result.latency_ms / 1000)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The body and its content type: OpenMetrics when the scraper asks for it, else Prometheus text."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _ScrapeCollector(Collector):
    """Gauges read at scrape time: the state of each directory, and the targets' request counts."""

    def __init__(self, health: Callable[[], list["DirectoryHealth"]]) -> None:
        self._health = health

    def describe(self) -> list[Metric]:
        return []  # collected fresh each time: nothing to check names against at registration

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("smartsync_build_info", "The agent's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        directories = self._health()
        gauges: dict[str, GaugeMetricFamily] = {}

        def gauge(name: str, help_text: str, directory: str, value: float, labels: list[str] | None = None,
                  extra: list[str] | None = None) -> None:
            family = gauges.get(name)
            if family is None:
                family = gauges[name] = GaugeMetricFamily(name, help_text, labels=["directory", *(labels or [])])
            family.add_metric([directory, *(extra or [])], value)

        now = time.time()
        for d in directories:
            gauge("smartsync_sync_pending_operations", "Operations planned and not yet taken by the target.",
                  d.directory_id, d.pending)
            gauge("smartsync_sync_held_disables", "Disables held back by the deletion threshold.",
                  d.directory_id, d.held)
            gauge("smartsync_sync_failures_in_a_row", "Runs in a row that could not sync.", d.directory_id,
                  d.failures_in_a_row)
            gauge("smartsync_sync_running", "1 while a sync of the directory runs.", d.directory_id, int(d.running))
            if d.last_success_at is not None:
                gauge("smartsync_sync_last_success_timestamp_seconds",
                      "When the last successful sync ended (Unix time).", d.directory_id, d.last_success_at)
                gauge("smartsync_sync_seconds_since_last_success", "Seconds since the last successful sync ended.",
                      d.directory_id, max(0.0, now - d.last_success_at))
            gauge("smartsync_health_status", "The directory's /health status: 0 pass, 1 warn, 2 fail.",
                  d.directory_id, {"pass": 0, "warn": 1, "fail": 2}[d.status])
            if d.login_checks is not None:
                gauge("smartsync_login_checks_in_flight", "Login checks taken and not answered yet.",
                      d.directory_id, d.login_checks.in_flight)
                gauge("smartsync_login_checks_connected", "1 while the login checks' link with Identity is up.",
                      d.directory_id, int(d.login_checks.connected))
        yield from gauges.values()
        counts = telemetry.snapshot()
        requests = CounterMetricFamily("smartsync_target_requests", "Requests sent to the targets, by HTTP status "
                                       "(error: no answer).", labels=["target", "code"])
        for (target, code), n in sorted(counts.requests.items()):
            requests.add_metric([target, code], n)
        yield requests
        throttled = CounterMetricFamily("smartsync_target_throttled", "429 answers (too many requests) from the "
                                        "targets.", labels=["target"])
        for target, n in sorted(counts.throttled.items()):
            throttled.add_metric([target], n)
        yield throttled
        waited = CounterMetricFamily("smartsync_target_wait_seconds", "Seconds spent waiting on the targets' rate "
                                     "limits (Retry-After and the pace).", labels=["target"])
        for target, seconds in sorted(counts.waited.items()):
            waited.add_metric([target], seconds)
        yield waited

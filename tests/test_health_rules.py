"""/health's rules (engine/health.py, docs/monitoring.md) and the metrics of engine events, without Samba.

The rules are checked over the whole space of states with hypothesis: the status only gets worse
as failures and age grow, a run in progress never reads as failed for its age, and nothing but
directory ids, counts, flags and times reaches the document.
"""

from __future__ import annotations

import json

from hypothesis import given, settings as hsettings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from smartsync_tui.ad.login_check import LoginCheckResult
from smartsync_tui.config.settings import AppSettings, DirectorySettings, StatusSettings, SyncSettings
from smartsync_tui.engine.events import DirectoryState, RunFinished
from smartsync_tui.engine.health import FAIL, PASS, WARN, assess, directory_json, exit_code, health_document
from smartsync_tui.engine.results import SyncResult
from smartsync_tui.status.metrics import EngineMetrics
from smartsync_tui.store.state_store import StoreSummary
from smartsync_tui.targets.base import CompanionReport
from smartsync_tui.targets.identity.pass_through import LoginChecked

NOW = 1_800_000_000.0
RANK = {PASS: 0, WARN: 1, FAIL: 2}


def _settings(**status: object) -> AppSettings:
    return AppSettings(sync=SyncSettings(delta_interval_seconds=30), status=StatusSettings(**status))


def _directory(directory_id: str = "corp") -> DirectorySettings:
    return DirectorySettings(id=directory_id, server="dc.example.test", bind_user="svc", base_dn="DC=example,DC=test")


def _assess(*, age: float | None, failures: int = 0, running: bool = False, held: int = 0, pending: int = 0,
            outcome: str | None = "ok", connected: bool | None = True, checks: CompanionReport | None = None,
            started_ago: float = 3600.0, settings: AppSettings | None = None):
    state = DirectoryState("corp", running, False, None, failures, outcome)
    success = None if age is None else NOW - age
    summary = StoreSummary(pending, held, success, success, outcome)
    return assess(_directory(), settings or _settings(), state, summary, started_at=NOW - started_ago,
                  target_connected=connected, login_checks=checks, now=NOW)


def _by_name(health) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.name: c.status for c in health.checks}


def test_a_fresh_success_passes_and_the_thresholds_follow_the_cadence():
    assert _assess(age=10).status == PASS
    # 30 s cadence: warn past 3 intervals (90 s), fail past 10 (300 s).
    assert _by_name(_assess(age=89))["sync:lastSuccessAge"] == PASS
    assert _by_name(_assess(age=91))["sync:lastSuccessAge"] == WARN
    assert _by_name(_assess(age=301))["sync:lastSuccessAge"] == FAIL
    # A run in progress (a long full sync) is working: warn, never fail, for its age.
    assert _by_name(_assess(age=10_000, running=True))["sync:lastSuccessAge"] == WARN
    # Never synced: counted from the engine's start.
    assert _assess(age=None, started_ago=5).status == PASS
    never = _assess(age=None, started_ago=400)
    assert never.status == FAIL and "since the engine started" in never.checks[0].output


def test_failures_held_disables_refusals_the_target_and_login_checks():
    assert _by_name(_assess(age=1, failures=1))["sync:failuresInARow"] == WARN
    assert _by_name(_assess(age=1, failures=3))["sync:failuresInARow"] == FAIL
    assert _by_name(_assess(age=1, failures=3, settings=_settings(fail_after_failures=5)))["sync:failuresInARow"] == WARN
    held = _assess(age=1, held=7)
    assert held.status == WARN and "7 disables held back" in " ".join(c.output for c in held.checks)
    assert _assess(age=1, pending=4, outcome="partial").status == WARN
    assert _assess(age=1, pending=4, outcome="ok").status == PASS  # planned, being sent
    assert _by_name(_assess(age=1, connected=False))["target:reachable"] == WARN
    assert "loginChecks:inFlight" not in _by_name(_assess(age=1))
    assert _by_name(_assess(age=1, checks=CompanionReport(False, 0)))["loginChecks:inFlight"] == WARN
    assert _assess(age=1, checks=CompanionReport(True, 3)).status == PASS


def test_the_warn_and_fail_figures_are_checked_in_order():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must not be below"):
        StatusSettings(warn_after_failures=4, fail_after_failures=2)
    with pytest.raises(ValidationError, match="HOST:PORT"):
        StatusSettings(listen="9325")
    for good in ("", "127.0.0.1:9325", "[::1]:0", "0.0.0.0:9325", "localhost:9100"):
        StatusSettings(listen=good)
    for bad in ("127.0.0.1:", "127.0.0.1:99999", "[::1", "host name:80", "http://127.0.0.1:9325", ":9325"):
        with pytest.raises(ValidationError):
            StatusSettings(listen=bad)


@hsettings(max_examples=300, deadline=None)
@given(age=st.one_of(st.none(), st.floats(0, 1e6)), failures=st.integers(0, 50), more=st.integers(0, 50),
       older=st.floats(0, 1e6), running=st.booleans(), held=st.integers(0, 10**6), pending=st.integers(0, 10**6),
       outcome=st.sampled_from([None, "ok", "partial", "held", "failed", "cancelled"]),
       connected=st.sampled_from([None, True, False]))
def test_the_status_only_gets_worse_with_more_failures_and_age(age, failures, more, older, running, held, pending,
                                                                outcome, connected):
    base = _assess(age=age, failures=failures, running=running, held=held, pending=pending, outcome=outcome,
                   connected=connected)
    worse = _assess(age=None if age is None else age + older, failures=failures + more, running=running, held=held,
                    pending=pending, outcome=outcome, connected=connected)
    assert RANK[worse.status] >= RANK[base.status]
    if running:
        assert _by_name(worse)["sync:lastSuccessAge"] != FAIL
    document = health_document([base, worse], now=NOW)
    assert document["status"] == max(base.status, worse.status, key=RANK.__getitem__)
    assert exit_code(document["status"]) == RANK[document["status"]]
    # Only ids, kinds, figures, flags, times and sentences of the product: JSON all the way.
    text = json.dumps(document)
    assert json.loads(text) == document
    for entries in document["checks"].values():
        for entry in entries:
            assert entry["componentId"] == "corp" and entry["status"] in RANK
            assert entry["observedValue"] is None or isinstance(entry["observedValue"], (bool, int, float))
    assert directory_json(base)["status"] == base.status


def test_no_directory_is_a_pass_with_a_note():
    document = health_document([], now=NOW)
    assert document["status"] == PASS and document["checks"] == {} and document["notes"]


def _parsed(metrics: EngineMetrics) -> dict:
    body, content_type = metrics.exposition(None)
    assert content_type.startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_runs_and_login_checks_become_counters_and_histograms():
    metrics = EngineMetrics(lambda: [_assess(age=5)])
    ok = SyncResult("corp", mode="full", outcome="ok", duration=2.0, read_seconds=0.5,
                    counts={"create": 10, "update": 2, "failed_create": 0})
    partial = SyncResult("corp", mode="delta", outcome="partial", duration=0.2, read_seconds=0.1,
                         counts={"update": 3, "failed_update": 1, "disable": 1})
    failed = SyncResult("corp", mode="delta", outcome="failed", duration=0.1, counts={})
    dry = SyncResult("corp", mode="delta", outcome="ok", dry_run=True, counts={"create": 99})
    for result in (ok, partial, failed, dry):
        metrics.on_event(RunFinished(result, False, 0, None))
    for outcome, ms in (("allowed", 12.0), ("denied", 30.0), ("allowed", 2500.0)):
        metrics.on_event(LoginChecked("corp", LoginCheckResult(outcome, None, ms, "maria@example.test"), NOW, True))
    samples = _parsed(metrics)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("smartsync_sync_runs_total", directory="corp", mode="full", outcome="ok") == 1
    assert value("smartsync_sync_runs_total", directory="corp", mode="delta", outcome="partial") == 1
    assert value("smartsync_sync_runs_total", directory="corp", mode="delta", outcome="failed") == 1
    assert value("smartsync_sync_objects_applied_total", directory="corp", operation="create") == 10
    assert value("smartsync_sync_objects_applied_total", directory="corp", operation="update") == 2 + 2
    assert value("smartsync_sync_objects_failed_total", directory="corp", operation="update") == 1
    assert value("smartsync_sync_objects_applied_total", directory="corp", operation="disable") == 1
    assert value("smartsync_sync_run_duration_seconds_count", directory="corp", mode="delta") == 2
    assert value("smartsync_ldap_read_seconds_sum", directory="corp", mode="full") == 0.5
    assert value("smartsync_login_checks_total", directory="corp", outcome="allowed") == 2
    assert value("smartsync_login_check_duration_seconds_count", directory="corp") == 3
    assert value("smartsync_login_check_duration_seconds_bucket", directory="corp", le="0.025") == 1
    assert value("smartsync_health_status", directory="corp") == 0
    assert "maria" not in metrics.exposition(None)[0].decode()
    openmetrics, kind = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert kind.startswith("application/openmetrics-text") and openmetrics.endswith(b"# EOF\n")


def test_status_says_for_each_directory_whether_login_checks_apply(capsys, english):
    from smartsync_tui.cli import status_cmd

    base = {"status": "pass", "state": "idle", "pending": 0, "held": 0, "failures_in_a_row": 0}
    status_cmd._show(4242, "run", "pass", {
        "corp": {**base, "target": "identity", "login_checks": {"connected": True, "in_flight": 2}},
        "lab": {**base, "target": "identity", "login_checks": None},
        "aws": {**base, "target": "scim", "login_checks": None},
    })
    lines = capsys.readouterr().out.splitlines()
    after = {line.split(" [")[0]: lines[i + 2].strip() for i, line in enumerate(lines) if " [" in line}
    assert after == {"aws": "login checks: do not apply (this directory syncs to scim)",
                     "corp": "login checks: connected, 2 in flight", "lab": "login checks: none running for this directory"}

"""`run`'s /health and /metrics, and `smartsync-tui status`, while a real engine syncs and checks logins.

Against the session's Samba DC (reached through a relay the test can stop: the DC going away)
and the Identity emulator, with `run` as a real subprocess. The exposition is parsed with
prometheus-client's own parser, as a Prometheus server would read it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from smartsync_tui.channel import control_channel
from smartsync_tui.config.secret_store import directory_agent_key, directory_password_key, directory_token_key
from tests.support.relay import Relay
from tests.support.sync_env import make_sync_env
from tests.support.waiting import wait_until
from tests.test_run_engine import INTERVAL, REPO, Engine, _environ, _root

# /health's thresholds for this test: warn 2 intervals (10 s) after the last success, fail at 4 (20 s).
RULES = {"SMARTSYNC_STATUS__LISTEN": "127.0.0.1:0", "SMARTSYNC_STATUS__WARN_AFTER_INTERVALS": "2",
         "SMARTSYNC_STATUS__FAIL_AFTER_INTERVALS": "4", "SMARTSYNC_STATUS__FAIL_AFTER_FAILURES": "10"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _status(root, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartsync_tui", "--home", str(root), "status", *args],
                          capture_output=True, text=True, env=_environ(), timeout=60, cwd=REPO)


def _directory_checks(document: dict) -> dict[str, str]:
    return {name: entries[0]["status"] for name, entries in document["checks"].items()}


def test_health_and_metrics_follow_a_real_sync_login_checks_and_a_dc_that_goes_away(samba_dc, emulator, tmp_path):
    relay = Relay(samba_dc.host, 636).start()
    env = make_sync_env(samba_dc, emulator, tmp_path / "agent", ou=samba_dc.staff_ou, server="127.0.0.1",
                        port=relay.port)
    engine = Engine(_root(env), tmp_path, extra_env=RULES)
    try:
        engine.started()
        line = wait_until(lambda: re.search(r"status endpoints on (http://127\.0\.0\.1:\d+)/health", engine.stdout()),
                          30, "the status endpoints' line")
        base = line.group(1)
        http = httpx.Client(base_url=base, timeout=10)
        wait_until(lambda: env.state.runs("corp") and env.state.runs("corp")[0].outcome == "ok", 60,
                   "the first full sync")

        # A login check answered beside the syncs.
        command = wait_until(lambda: emulator.try_login_check(env.identity_directory, samba_dc.upn("maria.silva"),
                                                             samba_dc.passwords["maria.silva"]),
                             30, "the agent's public key", every=0.2)
        assert emulator.wait_for_result(command["id"])["result"]["outcome"] == "allowed"

        answer = http.get("/metrics")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = _samples(answer.text)
        assert _value(samples, "smartsync_sync_runs_total", directory="corp", mode="full", outcome="ok") == 1
        users = len(env.identity_users())
        assert users > 0
        assert _value(samples, "smartsync_sync_objects_applied_total", directory="corp", operation="create") == users
        assert _value(samples, "smartsync_sync_run_duration_seconds_count", directory="corp", mode="full") == 1
        assert _value(samples, "smartsync_ldap_read_seconds_count", directory="corp", mode="full") == 1
        assert 0 < _value(samples, "smartsync_ldap_read_seconds_sum", directory="corp", mode="full") \
            < _value(samples, "smartsync_sync_run_duration_seconds_sum", directory="corp", mode="full")
        assert _value(samples, "smartsync_target_requests_total", target="identity", code="200") > 0
        wait_until(lambda: _value(_samples(http.get("/metrics").text), "smartsync_login_checks_total",
                                  directory="corp", outcome="allowed") == 1, 10, "the login check in the metrics")
        samples = _samples(http.get("/metrics").text)
        assert _value(samples, "smartsync_login_check_duration_seconds_count", directory="corp") == 1
        assert _value(samples, "smartsync_login_checks_connected", directory="corp") == 1
        assert _value(samples, "smartsync_sync_pending_operations", directory="corp") == 0
        assert _value(samples, "smartsync_sync_failures_in_a_row", directory="corp") == 0
        assert 0 <= _value(samples, "smartsync_sync_seconds_since_last_success", directory="corp") < 3 * INTERVAL

        health = http.get("/health")
        assert health.status_code == 200 and health.headers["content-type"] == "application/health+json"
        document = health.json()
        assert document["status"] == "pass", document
        assert _directory_checks(document)["loginChecks:inFlight"] == "pass"
        assert {e["componentId"] for entries in document["checks"].values() for e in entries} == {"corp"}

        # No secret, no login, no name in either.
        exposed = answer.text + http.get("/metrics").text + health.text
        for secret in (env.secrets.get(directory_password_key("corp")), env.secrets.get(directory_token_key("corp")),
                       env.secrets.get(directory_agent_key("corp"))):
            assert secret is not None and secret.get_secret_value() not in exposed
        assert "maria" not in exposed.lower() and samba_dc.passwords["maria.silva"] not in exposed

        status = _status(_root(env))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "corp [identity] pass" in status.stdout
        as_json = json.loads(_status(_root(env), "--json").stdout)
        assert as_json["status"] == "pass" and as_json["directories"]["corp"]["failures_in_a_row"] == 0

        # The DC goes away: the next delta fails (warn at once), then the last success ages past 4 intervals (fail).
        relay.stop()
        stopped_at = time.monotonic()
        wait_until(lambda: http.get("/health").json()["status"] == "warn", 3 * INTERVAL, "/health to warn")
        document = http.get("/health").json()
        assert _directory_checks(document)["sync:failuresInARow"] == "warn"
        warned = _status(_root(env))
        assert warned.returncode == 1, warned.stdout + warned.stderr
        assert "the last 1 run could not sync" in warned.stdout
        wait_until(lambda: http.get("/health").status_code == 503, 6 * INTERVAL, "/health to fail")
        assert time.monotonic() - stopped_at >= 4 * INTERVAL - INTERVAL - 1  # on schedule, not at once
        failed = http.get("/health").json()
        assert failed["status"] == "fail" and _directory_checks(failed)["sync:lastSuccessAge"] == "fail"
        assert "no successful sync for" in failed["checks"]["sync:lastSuccessAge"][0]["output"]
        assert _status(_root(env)).returncode == 2
        samples = _samples(http.get("/metrics").text)
        assert _value(samples, "smartsync_sync_runs_total", directory="corp", mode="delta", outcome="failed") >= 1
        assert _value(samples, "smartsync_health_status", directory="corp") == 2

        # It comes back: a sync asked now (no waiting for the backoff) passes again.
        relay.start()
        control_channel.request(env.home, {"op": "sync", "directory": "corp"})
        wait_until(lambda: http.get("/health").json()["status"] == "pass", 30, "/health back to pass")
        assert _status(_root(env)).returncode == 0
        assert engine.stop() == 0, engine.output()
        assert "Traceback" not in engine.output()
    finally:
        engine.kill()
        relay.stop()
        env.ad.close()
        env.state.close()


def test_status_without_an_engine_says_so_and_exits_2(tmp_path):
    root = tmp_path / "home"
    for args in ((), ("--json",)):
        done = _status(root, *args)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert "error: no engine runs for this home: start it" in _status(root).stderr
    assert json.loads(_status(root, "--json").stdout)["kind"] == "unreachable"


def test_run_on_a_taken_status_address_says_what_to_change_and_syncs_on(tmp_path):
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    engine = Engine(tmp_path / "home", tmp_path, extra_env={"SMARTSYNC_STATUS__LISTEN": f"127.0.0.1:{port}"})
    try:
        engine.started()
        wait_until(lambda: "could not listen" in engine.stderr_path.read_text(), 10, "the refusal on stderr")
        said = engine.stderr_path.read_text()
        assert f"127.0.0.1:{port}" in said and "set status.listen in appsettings.json" in said
        # The engine itself goes on: its channel answers, and `status` reports it.
        assert _status(tmp_path / "home").returncode == 0
        assert engine.stop() == 0
        assert "Traceback" not in engine.output()
    finally:
        engine.kill()
        blocker.close()

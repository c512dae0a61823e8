"""`smartsync-tui sync` as an admin or a script runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.test_sync_engine import seed_basic

pytestmark = pytest.mark.samba


def sync_cli(env, *args: str, extra_env: dict[str, str] | None = None, **popen) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    environ.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(env.home.config_dir.parent), "sync", *args],
        capture_output=True, text=True, env=environ, timeout=300, **popen,
    )


def slow_sync_until(env, *, batch_size: int, landed: int) -> subprocess.Popen[str]:
    """`smartsync-tui sync` in small batches, returned once `landed` users reached Identity."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    environ.update(SMARTSYNC_SYNC__BATCH_SIZE=str(batch_size), SMARTSYNC_SYNC__CONCURRENCY="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartsync_tui", "--home", str(env.home.config_dir.parent), "sync"],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while len(env.identity_users()) < landed and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_summary_exit_codes_and_json(sync_env):
    dns = seed_basic(sync_env)
    done = sync_cli(sync_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "corp: sync, full (first sync of this directory): ok" in done.stdout
    assert "created 3, updated 0, disabled 0, re-enabled 0, groups created 2" in done.stdout
    assert f"skipped CN=Sem Email,{sync_env.ad.ou}: missing mail" in done.stdout

    sync_env.ad.modify(dns["ana"], sn="Lima")
    dry = sync_cli(sync_env, "--dry-run")
    assert dry.returncode == 0
    assert f"update        {sync_env.ad.login('ana.goncalves')}" in dry.stdout
    assert "last name: 'Gonçalves' -> 'Lima'" in dry.stdout

    as_json = json.loads(sync_cli(sync_env, "--json").stdout)
    assert as_json[0]["outcome"] == "ok" and as_json[0]["mode"] == "delta"
    assert as_json[0]["counts"]["update"] == 1
    assert sync_env.by_login()["ana.goncalves"]["last_name"] == "Lima"
    assert sync_env.ad.dc.admin_password not in json.dumps(as_json)

    unknown = sync_cli(sync_env, "--directory", "nope")
    assert unknown.returncode == 2 and "there is no directory 'nope'" in unknown.stderr


def test_a_wrong_password_makes_the_run_fail_with_exit_2(sync_env):
    seed_basic(sync_env)
    sync_env.secrets.set("directory/corp/bind_password", "Not-The-Passw0rd")
    done = sync_cli(sync_env)
    assert done.returncode == 2
    assert "problem: AD refused the login" in done.stdout
    assert "Not-The-Passw0rd" not in done.stdout + done.stderr


def test_killing_the_sync_mid_apply_loses_and_duplicates_nothing(sync_env):
    for i in range(40):
        sync_env.ad.add_user(f"k{i:02d}", "Kill", f"Test {i}")
    sync_env.emulator.faults(latency_ms=150)
    try:
        proc = slow_sync_until(sync_env, batch_size=4, landed=8)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        sync_env.emulator.clear_faults()
    landed = len(sync_env.identity_users())
    assert 8 <= landed < 40, "the kill must land mid-apply"

    done = sync_cli(sync_env)
    assert done.returncode == 0, done.stdout + done.stderr
    users = sync_env.identity_users()
    logins = [u["login"] for u in users.values()]
    assert len(users) == 40 and len(set(logins)) == 40
    assert all(u["active"] for u in users.values())
    assert sync_env.state.pending("corp") == []
    again = json.loads(sync_cli(sync_env, "--json").stdout)[0]
    assert again["outcome"] == "ok" and sum(again["counts"][k] for k in ("create", "update", "disable", "enable")) == 0


def test_ctrl_c_finishes_the_batch_in_flight_and_stops(sync_env):
    for i in range(30):
        sync_env.ad.add_user(f"c{i:02d}", "Ctrl", f"C {i}")
    sync_env.emulator.faults(latency_ms=150)
    try:
        proc = slow_sync_until(sync_env, batch_size=3, landed=6)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        sync_env.emulator.clear_faults()
    assert proc.returncode == 1, out + err
    assert "cancelled" in out and "Traceback" not in err
    # Everything Identity confirmed is in the state store; the rest is pending.
    confirmed = sync_env.state.counts("corp")["users"]
    assert confirmed == len(sync_env.identity_users()) < 30
    assert len(sync_env.state.pending("corp")) == 30 - confirmed
    assert sync_cli(sync_env).returncode == 0
    assert len(sync_env.identity_users()) == 30


def test_a_missing_agent_key_says_which_command_restores_it(sync_env):
    data = json.loads(sync_env.home.secrets_file.read_text())
    del data["directory/corp/agent_key"]
    sync_env.home.secrets_file.write_text(json.dumps(data))
    done = sync_cli(sync_env)
    assert done.returncode == 2
    assert ("problem: The agent key of directory 'corp' is missing from the secret store: set it with "
            "`smartsync-tui directory edit corp --token-stdin`.") in done.stdout

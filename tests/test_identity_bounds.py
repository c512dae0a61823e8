"""Reads from Identity are bounded (docs/security.md): against a hostile HTTP server on 127.0.0.1.

`smartsync-tui identity test` as a real subprocess against an endless body, a
gzip bomb, a huge Content-Length and answers that drip: it ends with a clear
message, in bounded time and memory (peak RSS of that process). The client
against the same server: a stop cuts a dripping read; compressed answers that
are fine are still read. With Samba and the emulator: `run` stops within a few
seconds of SIGTERM while a batch's answer drips, and batch results of the
wrong shape fail their object only, end to end.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from pydantic import SecretStr

from smartsync_tui.targets.identity.client import IdentityClient

from smartsync_tui.targets.identity.errors import IdentityProtocolError, IdentityRequestStopped, IdentityUnreachable

from smartsync_tui.targets.identity.network import MAX_ANSWER_BYTES, ProxyChoice
from smartsync_tui.config.settings import AppSettings
from tests.support import hostile_http
from tests.test_run_engine import Engine, _edit_settings, _root

REPO = Path(__file__).resolve().parents[1]
TOKEN = SecretStr("idt_bounds-test-token-0123456789")
AGENT_KEY = SecretStr("iak_bounds-test-key-0123456789")
# Correctness bounds for one `identity test`, not a benchmark: an unbounded read reached GBs.
MAX_SECONDS = 30.0
MAX_PEAK_MB = 300.0


@dataclass
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float


def _environ() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    environ["PYTHONUNBUFFERED"] = "1"
    return environ


def run_measured(tmp_path: Path, *args: str, timeout: float = 120) -> Measured:
    """`smartsync-tui --home HOME ARGS` as a subprocess: its exit code, output, wall time and peak RSS."""
    out_path, err_path, rss_path = tmp_path / "out.txt", tmp_path / "err.txt", tmp_path / "maxrss.txt"
    command = [sys.executable, "-m", "smartsync_tui", "--home", str(tmp_path / "home"), *args]
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", hostile_http.PEAK_RSS_LAUNCHER, str(rss_path), *command], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, env=_environ(), cwd=REPO, start_new_session=True)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:  # a hang fails the test, not the suite
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"`smartsync-tui {' '.join(args)}` still running after {timeout:g} s")
        seconds = time.monotonic() - started
    return Measured(code, out_path.read_text(), err_path.read_text(), seconds, int(rss_path.read_text()) / 1024)


def _point_home_at(tmp_path: Path, host: str) -> None:
    done = subprocess.run([sys.executable, "-m", "smartsync_tui", "--home", str(tmp_path / "home"), "identity", "set",
                           "--protocol", "http", "--environment", host], capture_output=True, text=True,
                          env=_environ(), cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "smartsync_tui", "--home", str(tmp_path / "home"), "proxy", "set",
                           "none"], capture_output=True, text=True, env=_environ(), cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


_TOO_LARGE = f"exceeded {MAX_ANSWER_BYTES // (1024 * 1024)} MB: a proxy or server is misbehaving"


@pytest.mark.parametrize(("attack", "expected"), [
    pytest.param(hostile_http.endless_chunked, _TOO_LARGE, id="endless-chunked-body"),
    pytest.param(hostile_http.gzip_bomb, _TOO_LARGE, id="gzip-bomb"),
    pytest.param(hostile_http.huge_content_length, _TOO_LARGE, id="huge-content-length"),
    pytest.param(lambda: hostile_http.drip(0.5), "did not arrive within 25 s", id="drip-body"),
    pytest.param(lambda: hostile_http.drip(0.5, in_headers=True), "did not arrive within 25 s", id="drip-headers"),
])
def test_identity_test_ends_with_a_clear_message_in_bounded_time_and_memory(tmp_path, attack, expected):
    with hostile_http.HostileServer(attack()) as server:
        _point_home_at(tmp_path, server.host)
        result = run_measured(tmp_path, "identity", "test")
    print(f"identity test: {result.seconds:.1f} s, peak RSS {result.peak_mb:.0f} MB")
    assert result.code == 1, result.out + result.err
    assert "NOT reachable" in result.out and expected in result.out, result.out
    assert "Traceback" not in result.out + result.err
    assert result.seconds < MAX_SECONDS
    assert result.peak_mb < MAX_PEAK_MB
    assert len(server.requests) == 1, "a misbehaving answer is not asked for again"


def test_identity_test_json_names_the_breach(tmp_path):
    with hostile_http.HostileServer(hostile_http.endless_chunked()) as server:
        _point_home_at(tmp_path, server.host)
        result = run_measured(tmp_path, "identity", "test", "--json")
    report = json.loads(result.out)
    assert result.code == 1 and report["ok"] is False and report["reason"] == "identity-protocol"
    assert _TOO_LARGE in report["error"]


# -- the client against the same server


def _client(server: hostile_http.HostileServer, **options) -> IdentityClient:  # type: ignore[no-untyped-def]
    return IdentityClient(server.url, token=TOKEN, agent_key=AGENT_KEY, proxy=ProxyChoice("none"), **options)


def test_a_stop_cuts_a_dripping_read_within_a_second():
    with hostile_http.HostileServer(hostile_http.drip(0.2)) as server, _client(server) as client:
        outcome: list[BaseException] = []

        def ping() -> None:
            try:
                client.ping()
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                outcome.append(exc)

        thread = threading.Thread(target=ping)
        thread.start()
        assert server.reached["*"].wait(10)
        time.sleep(1)  # well into the drip
        stopped_at = time.monotonic()
        client.abort(thread)
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - stopped_at < 1.0
    assert isinstance(outcome[0], IdentityRequestStopped)
    assert "Stopped while waiting for Identity's answer to GET /api/agent/v1/ping" in str(outcome[0])


def test_the_long_poll_deadline_is_its_wait_plus_a_margin():
    # A poll answer that drips: the poll ends at wait + read timeout + 10 s, not never.
    with hostile_http.HostileServer(hostile_http.drip(0.3)) as server, _client(server, timeout=1) as client:
        started = time.monotonic()
        with pytest.raises(IdentityUnreachable, match=r"did not arrive within 13 s"):
            client.poll_commands(2)
        assert 12 < time.monotonic() - started < 15


def test_compressed_answers_that_are_fine_are_read_and_an_unasked_encoding_is_refused():
    service = {"service": "identity-agent-api", "version": "1"}
    with hostile_http.HostileServer(hostile_http.deflate_answer(service)) as server, _client(server) as client:
        assert client.ping()["service"] == "identity-agent-api"
        assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    data = gzip.compress(json.dumps(service).encode())

    def answer(encoding: str) -> hostile_http.Action:
        def action(conn: hostile_http.Connection, request: hostile_http.Request) -> None:
            conn.head(headers={"Content-Type": "application/json", "Content-Encoding": encoding,
                               "Content-Length": str(len(data))})
            conn.send(data)
        return action

    with hostile_http.HostileServer(answer("gzip")) as server, _client(server) as client:
        assert client.ping()["service"] == "identity-agent-api"
    with hostile_http.HostileServer(answer("br")) as server, _client(server) as client:
        with pytest.raises(IdentityProtocolError, match="came compressed as 'br', which this agent did not ask for"):
            client.ping()


def test_the_largest_legitimate_answer_is_well_under_the_cap(emulator):
    """The figure behind MAX_ANSWER_BYTES: 1000 failed results quoting the longest login there can be."""
    directory, token = emulator.create_directory("bounds: largest answer")
    login = "\U0001F600" * 256  # 256 characters that take the most room as JSON

    def user(n: int) -> dict:
        return {"external_id": str(uuid.UUID(int=n + 1)), "login": login, "first_name": "F" * 256,
                "last_name": "L" * 256, "email": "e@example.com"}

    with IdentityClient(emulator.url, token=SecretStr(token), proxy=ProxyChoice("none")) as client:
        client.register_agent("bounds")
        assert client.upsert_users([user(0)])[0]["status"] == "created"
        key = client._agent_key
    headers = {"Authorization": f"Bearer {token}", "X-Agent-Key": key.get_secret_value()}
    answer = httpx.post(f"{emulator.url}/api/agent/v1/users:batch", headers=headers,
                        json={"users": [user(n) for n in range(1, 1001)]}, timeout=60)
    assert answer.status_code == 200
    assert all(r["status"] == "failed" and "already used" in r["detail"] for r in answer.json()["results"])
    size = len(answer.content)
    print(f"largest batch answer: {size} bytes ({size / 1e6:.1f} MB); cap {MAX_ANSWER_BYTES} bytes")
    assert size * 4 < MAX_ANSWER_BYTES


# -- batch results of the wrong shape (unit: every class of JSON value in each field)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "status": st.sampled_from(["created", "updated", "unchanged", "failed"]) | _json_values,
    "id": st.text(min_size=1, max_size=10) | _json_values | st.text(min_size=201, max_size=210),
    "detail": st.none() | st.text(max_size=10) | _json_values | st.just("d" * 4001),
    "external_id": st.just("own") | _json_values,
}), min_size=1, max_size=5))
def test_each_batch_result_is_one_the_engine_can_store_or_that_objects_failure(results):
    items = [{"external_id": f"g{n}"} for n in range(len(results))]
    for n, result in enumerate(results):
        if result["external_id"] == "own":
            result["external_id"] = f"g{n}"
    body = json.dumps({"results": results})
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body,
                                                                   headers={"Content-Type": "application/json"}))
    with IdentityClient("https://identity.example.com", token=TOKEN, agent_key=AGENT_KEY, transport=transport) as client:
        answered = client.upsert_users(items)
    assert len(answered) == len(items)
    for sent, got in zip(results, answered):
        assert got["external_id"] is None or isinstance(got["external_id"], str)
        assert got["detail"] is None or (isinstance(got["detail"], str) and len(got["detail"]) <= 4000)
        if got["status"] == "failed":
            assert got == sent or "was not understood" in got["detail"]
        else:
            assert got == sent and isinstance(got["id"], str) and 0 < len(got["id"]) <= 200
            assert got["status"] in ("created", "updated", "unchanged")


# -- with Samba and the emulator


def test_run_stops_within_seconds_of_sigterm_while_a_batch_answer_drips(sync_env, tmp_path):
    env = sync_env
    for i in range(3):
        env.ad.add_user(f"drip{i}", "Drip", f"D {i}")
    # Identity applies the batch, then its answer drips (1 byte/s) for ever.
    with hostile_http.HostileServer(hostile_http.relay(env.emulator.url), {
        "/users:batch": hostile_http.relay(env.emulator.url, then=hostile_http.drip(1.0)),
    }) as server:
        _edit_settings(env.home, lambda s: setattr(s.identity, "environment", server.host))
        engine = Engine(_root(env), tmp_path)
        try:
            engine.started()
            assert server.reached["/users:batch"].wait(60), engine.output()
            time.sleep(2)  # the read is blocked in the drip
            started = time.monotonic()
            code = engine.stop(timeout=60)
            seconds = time.monotonic() - started
        finally:
            engine.kill()
    print(f"run stopped {seconds:.1f} s after SIGTERM while a batch answer dripped")
    assert code == 0, engine.output()
    assert seconds < 8, engine.output()
    log = engine.log()
    assert "cutting the answers still awaited from Identity" in log
    assert "engine stopped (SIGTERM)" in log and "Traceback" not in engine.output() + log
    assert "sync corp full: cancelled" in log  # a stop, not a failure of the directory
    # Nothing it could not confirm is recorded as synced: the next run sends it again.
    assert len(env.state.pending("corp")) >= 3


def test_batch_results_of_the_wrong_shape_fail_their_object_only(sync_env):
    env = sync_env
    names = ["shape0", "shape1", "shape2", "shape3"]
    for name in names:
        env.ad.add_user(name, "Shape", name)

    def rewrite(request: hostile_http.Request, body: object) -> object:
        results = body["results"]  # type: ignore[index]
        results[0]["id"] = ["not", "text"]
        results[1]["status"] = "failed"
        results[1]["detail"] = {"not": "text"}
        results[2]["id"] = "x" * 5000
        return body

    with hostile_http.HostileServer(hostile_http.relay(env.emulator.url), {
        "/users:batch": hostile_http.relay(env.emulator.url, rewrite),
    }) as server:
        env.settings = AppSettings.model_validate({
            **env.settings.model_dump(), "identity": {"protocol": "http", "environment": server.host},
        })
        first = env.sync()
    assert first.outcome != "failed", first.error
    failed = {dn: error for _guid, dn, error in first.failures}
    assert len(failed) == 3, failed
    assert all("Identity's answer for this object was not understood" in e for e in failed.values())
    # The objects Identity answered well are synced; the others are sent again by the next run.
    env.settings = AppSettings.model_validate({
        **env.settings.model_dump(), "identity": {"protocol": "http", "environment": env.emulator.url.split("//")[1]},
    })
    second = env.sync()
    assert second.outcome == "ok", second.error
    assert {u["login"].split("@")[0].rsplit(".", 1)[0] for u in env.identity_users().values()} >= set(names)
    assert env.state.pending("corp") == []

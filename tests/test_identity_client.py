"""IdentityClient: unit tests on httpx.MockTransport, then against the real emulator,
a real loopback proxy and a real TLS server with a self-signed certificate."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from smartsync_tui.targets.identity import agent_keys
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.targets.identity.client import IdentityClient
from smartsync_tui.targets.identity.errors import AgentKeyRejected, CommandGone, IdentityCredentialsMissing, IdentityProtocolError, IdentityServerError, IdentityThrottled, IdentityTlsError, IdentityUnreachable, TokenRejected
from smartsync_tui.targets.identity.network import DirectoryRecord, ProxyChoice, parse_retry_after

TOKEN = "idt_TOPSECRET-token-value-0123456789"
AGENT_KEY = "iak_TOPSECRET-agent-key-9876543210"
PROXY_PASSWORD = "pr0xy-S3cret!"
SECRETS = (TOKEN, AGENT_KEY, PROXY_PASSWORD)
BASE = "https://identity.example.com"
PROBLEM_TYPE = "https://identity-agent-api.invalid/problems/"


def problem(status: int, slug: str, detail: str = "Something happened.", headers: dict | None = None) -> httpx.Response:
    body = {"type": PROBLEM_TYPE + slug, "title": slug, "status": status, "detail": detail}
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json", **(headers or {})}
    )


class Recorder:
    """A MockTransport handler that answers from a script and remembers the requests."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


class MaxJitter:
    """An rng whose uniform(a, b) returns b, and that records the ranges asked for."""

    def __init__(self) -> None:
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


def make_client(recorder: Recorder, **options) -> tuple[IdentityClient, list[float]]:
    sleeps: list[float] = []
    options.setdefault("token", SecretStr(TOKEN))
    options.setdefault("agent_key", SecretStr(AGENT_KEY))
    options.setdefault("proxy", ProxyChoice("none"))
    client = IdentityClient(BASE, transport=httpx.MockTransport(recorder), sleep=sleeps.append, **options)
    return client, sleeps


def ok_users(request: httpx.Request) -> httpx.Response:
    users = json.loads(request.content)["users"]
    return httpx.Response(200, json={"results": [{"external_id": u["external_id"], "id": "x", "status": "created"} for u in users]})


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def everything_about(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


# --------------------------------------------------------------------------- retries and backoff


def test_retries_500_with_full_jitter_exponential_backoff():
    recorder = Recorder(problem(500, "server-error"), problem(502, "server-error"), httpx.Response(200, json={"service": "identity-agent-api"}))
    rng = MaxJitter()
    client, sleeps = make_client(recorder, rng=rng)
    assert client.ping()["service"] == "identity-agent-api"
    assert len(recorder.requests) == 3
    # Full jitter: uniform(0, base * 2**attempt); MaxJitter picks the top of each range.
    assert rng.ranges == [(0.0, 0.5), (0.0, 1.0)]
    assert sleeps == [0.5, 1.0]


def test_backoff_grows_to_a_cap_and_is_random_below_it():
    recorder = Recorder(problem(504, "server-error"))
    rng = MaxJitter()
    client, sleeps = make_client(recorder, rng=rng, max_retries=8)
    with pytest.raises(IdentityServerError):
        client.ping()
    assert [b for _, b in rng.ranges] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert len(recorder.requests) == 9

    import random

    recorder = Recorder(problem(500, "server-error"))
    client, sleeps = make_client(recorder, rng=random.Random(7), max_retries=6)
    with pytest.raises(IdentityServerError):
        client.ping()
    assert all(0 <= delay <= min(30, 0.5 * 2**i) for i, delay in enumerate(sleeps))
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed schedule


def test_retry_after_seconds_is_honoured():
    recorder = Recorder(problem(429, "throttled", headers={"Retry-After": "7"}), httpx.Response(200, json={"service": "identity-agent-api"}))
    client, sleeps = make_client(recorder)
    client.ping()
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured():
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    recorder = Recorder(problem(503, "unavailable", headers={"Retry-After": when}), httpx.Response(200, json={"service": "identity-agent-api"}))
    client, sleeps = make_client(recorder)
    client.ping()
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 20


def test_retry_after_is_capped_at_60_seconds():
    recorder = Recorder(problem(429, "throttled", headers={"Retry-After": "3600"}), httpx.Response(200, json={"service": "identity-agent-api"}))
    client, sleeps = make_client(recorder)
    client.ping()
    assert sleeps == [60.0]


def test_parse_retry_after():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(email.utils.formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert parse_retry_after(email.utils.formatdate(1_000_000, usegmt=True), now=1_000_100) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_throttled_after_retries_are_exhausted():
    recorder = Recorder(problem(429, "throttled", headers={"Retry-After": "1"}))
    client, sleeps = make_client(recorder, max_retries=3)
    with pytest.raises(IdentityThrottled) as caught:
        client.upsert_users([{"external_id": "x"}])
    assert len(recorder.requests) == 4
    assert sleeps == [1.0, 1.0, 1.0]
    assert "429" in str(caught.value) and "identity.example.com" in str(caught.value)
    assert caught.value.status == 429


def test_server_error_after_retries_says_what_the_server_said():
    recorder = Recorder(problem(503, "unavailable", detail="Maintenance window until 03:00 UTC."))
    client, _ = make_client(recorder, max_retries=2)
    with pytest.raises(IdentityServerError) as caught:
        client.get_directory()
    message = str(caught.value)
    assert len(recorder.requests) == 3
    assert "HTTP 503" in message
    assert "Maintenance window until 03:00 UTC" in message
    assert "after 3 attempts" in message


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 422])
def test_other_client_errors_are_not_retried(status):
    recorder = Recorder(problem(status, "invalid-request", detail="The body must be an object."))
    client, sleeps = make_client(recorder)
    with pytest.raises(IdentityProtocolError) as caught:
        client.upsert_users([{"external_id": "x"}])
    assert len(recorder.requests) == 1
    assert sleeps == []
    assert f"HTTP {status}" in str(caught.value)


def test_connect_errors_are_retried_then_reported_as_unreachable():
    recorder = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    client, sleeps = make_client(recorder, max_retries=2)
    with pytest.raises(IdentityUnreachable) as caught:
        client.ping()
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2
    message = str(caught.value)
    assert message.startswith("Cannot reach Identity at identity.example.com: ")
    assert "refused" in message
    assert message.endswith("Check the address, DNS, the firewall and the proxy settings.")


def test_dns_failure_is_named():
    recorder = Recorder(httpx.ConnectError("[Errno -2] Name or service not known"))
    client, _ = make_client(recorder, max_retries=0)
    with pytest.raises(IdentityUnreachable, match="does not resolve"):
        client.ping()


def test_timeouts_are_retried_for_idempotent_calls_only():
    recorder = Recorder(httpx.ReadTimeout("timed out"), httpx.Response(200, json={"service": "identity-agent-api"}))
    client, sleeps = make_client(recorder)
    client.ping()
    assert len(recorder.requests) == 2

    # Registering twice would leave a second agent: a read timeout is not retried there...
    recorder = Recorder(httpx.ReadTimeout("timed out"))
    client, _ = make_client(recorder, agent_key=None)
    with pytest.raises(IdentityUnreachable, match="timed out"):
        client.register_agent("host")
    assert len(recorder.requests) == 1
    # ...nor is a 500, while a 503 (not processed) is.
    recorder = Recorder(problem(500, "server-error"))
    client, _ = make_client(recorder, agent_key=None)
    with pytest.raises(IdentityServerError):
        client.register_agent("host")
    assert len(recorder.requests) == 1
    recorder = Recorder(problem(503, "unavailable"), httpx.Response(201, json={"agent_id": "a1", "api_key": "iak_new-key-123"}))
    client, _ = make_client(recorder, agent_key=None)
    assert client.register_agent("host")[0] == "a1"
    assert len(recorder.requests) == 2


def test_certificate_problem_is_a_tls_error_and_not_retried():
    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc)) from exc

    recorder = Recorder(handler)
    client, sleeps = make_client(recorder)
    with pytest.raises(IdentityTlsError) as caught:
        client.ping()
    assert len(recorder.requests) == 1 and sleeps == []
    assert "certificate" in str(caught.value)


# --------------------------------------------------------------------------- credentials and answers


def test_token_rejected_says_to_generate_a_new_token():
    recorder = Recorder(problem(401, "token-rejected", detail="Token revoked."))
    client, sleeps = make_client(recorder)
    with pytest.raises(TokenRejected) as caught:
        client.get_directory()
    assert "generate a new token in Identity" in str(caught.value)
    assert "copy it into this directory" in str(caught.value)
    assert len(recorder.requests) == 1 and sleeps == []
    assert caught.value.kind == "token-rejected"


def test_agent_key_rejected():
    recorder = Recorder(problem(401, "agent-key-rejected"))
    client, _ = make_client(recorder)
    with pytest.raises(AgentKeyRejected, match="register"):
        client.upsert_groups([{"external_id": "g"}])


def test_missing_credentials_are_reported_before_any_request():
    recorder = Recorder(httpx.Response(200, json={}))
    client, _ = make_client(recorder, token=None, agent_key=None)
    with pytest.raises(IdentityCredentialsMissing, match="token"):
        client.get_directory()
    client, _ = make_client(recorder, agent_key=None)
    with pytest.raises(IdentityCredentialsMissing, match="not registered"):
        client.upsert_users([{"external_id": "a"}])
    with pytest.raises(IdentityCredentialsMissing, match="not registered"):
        client.poll_commands(0)
    assert recorder.requests == []


def test_headers_sent_for_each_kind_of_call():
    recorder = Recorder(
        httpx.Response(200, json={"service": "identity-agent-api", "version": "1"}),
        httpx.Response(201, json={"agent_id": "agt_1", "api_key": AGENT_KEY}),
        httpx.Response(200, json={"id": "d1", "name": "CORP", "user_filter": "(u)", "group_filter": "(g)", "created_at": "2025-01-31T12:00:00.123Z"}),
    )
    client, _ = make_client(recorder, agent_key=None)
    client.ping()
    agent_id, key = client.register_agent("srv01")
    record = client.get_directory()
    ping, register, directory = recorder.requests
    assert "authorization" not in ping.headers and "x-agent-key" not in ping.headers
    assert register.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-agent-key" not in register.headers
    assert json.loads(register.content) == {"name": "srv01"}
    assert directory.headers["x-agent-key"] == AGENT_KEY
    assert (agent_id, key.get_secret_value()) == ("agt_1", AGENT_KEY)
    assert isinstance(record, DirectoryRecord) and record.user_filter == "(u)"
    assert record.created_at.year == 2025 and record.created_at.utcoffset().total_seconds() == 0
    assert str(directory.url) == "https://identity.example.com/api/agent/v1/directory"


def test_batches_are_split_at_1000_and_results_kept_in_order():
    recorder = Recorder(ok_users)
    client, _ = make_client(recorder)
    users = [{"external_id": f"id-{n}"} for n in range(2500)]
    results = client.upsert_users(users)
    assert [len(json.loads(r.content)["users"]) for r in recorder.requests] == [1000, 1000, 500]
    assert [r["external_id"] for r in results] == [u["external_id"] for u in users]


def test_results_that_do_not_match_the_batch_are_a_protocol_error():
    recorder = Recorder(httpx.Response(200, json={"results": []}))
    client, _ = make_client(recorder)
    with pytest.raises(IdentityProtocolError, match="does not understand"):
        client.upsert_users([{"external_id": "a"}])


def test_an_html_page_instead_of_json_is_a_protocol_error():
    recorder = Recorder(httpx.Response(200, text="<html>Proxy login</html>", headers={"Content-Type": "text/html"}))
    client, _ = make_client(recorder)
    with pytest.raises(IdentityProtocolError, match="not JSON"):
        client.get_directory()


def test_a_server_that_is_not_the_agent_api():
    client, _ = make_client(Recorder(httpx.Response(200, json={"hello": "world"})))
    with pytest.raises(IdentityProtocolError, match="not as the Identity agent API"):
        client.ping()
    client, _ = make_client(Recorder(httpx.Response(404, text="Not Found")))
    with pytest.raises(IdentityProtocolError, match="no Identity agent API"):
        client.ping()


def test_redirects_are_not_followed():
    recorder = Recorder(httpx.Response(301, headers={"Location": "https://elsewhere.example.com/"}))
    client, _ = make_client(recorder)
    with pytest.raises(IdentityProtocolError, match="redirect"):
        client.ping()
    assert len(recorder.requests) == 1


def test_proxy_authentication_required_is_unreachable_with_a_hint():
    client, _ = make_client(Recorder(httpx.Response(407, text="auth")))
    with pytest.raises(IdentityUnreachable, match="proxy user and password"):
        client.ping()


def test_long_poll_read_timeout_covers_the_wait():
    recorder = Recorder(httpx.Response(200, json={"commands": [{"id": "c1", "type": "login_check", "payload": {}}]}))
    client, _ = make_client(recorder, timeout=10)
    commands = client.poll_commands(25)
    assert commands[0]["id"] == "c1"
    request = recorder.requests[0]
    assert request.url.params["wait"] == "25"
    assert request.extensions["timeout"]["read"] >= 35
    client.poll_commands(90)
    assert recorder.requests[1].url.params["wait"] == "30"


def test_command_result_for_a_gone_command():
    client, _ = make_client(Recorder(problem(410, "command-expired", detail="The command expired.")))
    with pytest.raises(CommandGone, match="no longer waits"):
        client.post_command_result("cmd_1", {"outcome": "allowed"})


# --------------------------------------------------------------------------- secrets


def test_secrets_never_appear_in_messages_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="smartsync.identity")
    answers = [
        problem(401, "token-rejected", detail=f"Token {TOKEN} was revoked."),
        problem(401, "agent-key-rejected", detail=f"Key {AGENT_KEY} unknown."),
        problem(500, "server-error", detail=f"Failed for {TOKEN}", headers={"X-Echo": TOKEN}),
        problem(429, "throttled"),
        problem(400, "invalid-request", detail=f"Bad header X-Agent-Key: {AGENT_KEY}"),
        httpx.Response(200, text=f"<html>{TOKEN}</html>"),
        httpx.ConnectError(f"refused while sending {TOKEN}"),
    ]
    errors: list[UserError] = []
    for answer in answers:
        client, _ = make_client(Recorder(answer), max_retries=1)
        with pytest.raises(UserError) as caught:
            client.get_directory()
        errors.append(caught.value)
        assert_no_secret(everything_about(caught.value), repr(client))
    assert "***" in str(errors[2])  # the server's detail is shown, with the token masked
    assert [type(e) for e in errors] == [
        TokenRejected, AgentKeyRejected, IdentityServerError, IdentityThrottled,
        IdentityProtocolError, IdentityProtocolError, IdentityUnreachable,
    ]
    records = [r.getMessage() for r in caplog.records if r.name == "smartsync.identity"]
    assert records and all(" -> " in line and " ms" in line for line in records)
    assert_no_secret(*records)

    proxy = ProxyChoice("manual", f"http://proxyuser:{PROXY_PASSWORD}@proxy.corp:3128")
    assert_no_secret(repr(proxy), str(proxy), repr(IdentityClient(BASE, proxy=proxy, token=SecretStr(TOKEN))))
    assert "proxy.corp:3128" in repr(proxy)


def test_log_lines_carry_method_path_status_and_time_only(caplog):
    caplog.set_level(logging.DEBUG, logger="smartsync.identity")
    client, _ = make_client(Recorder(httpx.Response(200, json={"service": "identity-agent-api"})))
    client.ping()
    [line] = [r.getMessage() for r in caplog.records if r.name == "smartsync.identity"]
    assert line.startswith("GET /api/agent/v1/ping -> 200 in ")
    assert line.endswith(" ms")


# --------------------------------------------------------------------------- configuration


def test_proxy_choice_validation():
    assert ProxyChoice("system").url is None
    with pytest.raises(InputError):
        ProxyChoice("manual")
    with pytest.raises(InputError, match="http://"):
        ProxyChoice("manual", f"socks5://u:{PROXY_PASSWORD}@proxy:1080")
    with pytest.raises(InputError, match="port"):
        ProxyChoice("manual", "http://proxy.corp")
    with pytest.raises(InputError):
        ProxyChoice("none", "http://proxy.corp:3128")
    with pytest.raises(InputError):
        ProxyChoice("pac")  # type: ignore[arg-type]
    try:
        ProxyChoice("manual", f"ftp://u:{PROXY_PASSWORD}@proxy:21")
    except InputError as exc:
        assert PROXY_PASSWORD not in str(exc)


def test_base_url_forms():
    assert IdentityClient("https://app.fluigidentity.com/").base_url == "https://app.fluigidentity.com/api/agent/v1"
    assert IdentityClient("http://127.0.0.1:8765/api/agent/v1").host == "127.0.0.1:8765"
    for bad in ("app.fluigidentity.com", "ftp://x", f"https://u:{TOKEN}@x.example.com"):
        with pytest.raises(InputError) as caught:
            IdentityClient(bad)
        assert TOKEN not in str(caught.value)


def test_certificate_checks_cannot_be_turned_off(tmp_path):
    with pytest.raises(InputError, match="cannot be turned off"):
        IdentityClient(BASE, verify=False)
    with pytest.raises(IdentityTlsError, match="does not exist"):
        IdentityClient(BASE, verify=str(tmp_path / "missing-ca.pem"))


# --------------------------------------------------------------------------- against the real emulator


def _client(emulator, **options) -> tuple[IdentityClient, list[float]]:
    sleeps: list[float] = []
    options.setdefault("proxy", ProxyChoice("none"))
    return IdentityClient(emulator.url, sleep=sleeps.append, **options), sleeps


def _guid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def _user(n: int, **changes) -> dict:
    return {"external_id": _guid(n), "login": f"u{n}", "first_name": "Ana", "last_name": f"L{n}",
            "email": f"u{n}@corp.example.com", "display_name": None, "job_title": None, "department": None,
            "active": True, **changes}


@pytest.fixture
def registered(emulator) -> Iterator[tuple[str, IdentityClient, list[float]]]:
    directory_id, token = emulator.create_directory("Client tests")
    client, sleeps = _client(emulator, token=SecretStr(token))
    client.register_agent("srv-test")
    yield directory_id, client, sleeps
    client.close()


def test_full_flow_against_the_emulator(emulator):
    directory_id, token = emulator.create_directory("Flow", group_filter="(&(objectCategory=group)(cn=App*))")
    with _client(emulator, token=SecretStr(token))[0] as client:
        assert client.ping()["version"] == "1"
        record = client.get_directory()  # before registration: token only
        assert (record.id, record.group_filter) == (directory_id, "(&(objectCategory=group)(cn=App*))")
        agent_id, key = client.register_agent("srv-sync01")
        assert agent_id and key.get_secret_value().startswith("iak_")
        users = [_user(n) for n in range(1, 1201)]
        assert {r["status"] for r in client.upsert_users(users)} == {"created"}
        assert {r["status"] for r in client.upsert_users(users)} == {"unchanged"}
        groups = [{"external_id": _guid(9000), "name": "App Users", "description": None, "members": [_guid(1), _guid(2)]}]
        assert client.upsert_groups(groups)[0]["status"] == "created"
        pair = agent_keys.new_key_pair()
        assert client.put_public_key(pair.public_pem)["fingerprint_sha256"] == pair.fingerprint
    stored = {u["external_id"]: u for u in emulator.users(directory_id)}
    assert len(stored) == 1200
    assert stored[_guid(1)]["groups"] == [_guid(9000)]


def test_token_rejected_after_revoke(emulator, registered):
    directory_id, client, sleeps = registered
    emulator.revoke_token(directory_id)
    with pytest.raises(TokenRejected) as caught:
        client.upsert_users([_user(1)])
    assert "generate a new token in Identity" in str(caught.value)
    assert sleeps == []
    with pytest.raises(TokenRejected):
        client.get_directory()


def test_wrong_agent_key_is_rejected(emulator):
    _, token = emulator.create_directory("Wrong key")
    client, _ = _client(emulator, token=SecretStr(token), agent_key=SecretStr("iak_not-issued-by-identity"))
    with pytest.raises(AgentKeyRejected):
        client.upsert_users([_user(1)])


def test_retries_through_injected_500s(emulator_clean, registered):
    directory_id, client, sleeps = registered
    before = emulator_clean.stats()
    emulator_clean.faults(fail_next=2, status=500)
    results = client.upsert_users([_user(1), _user(2)])
    assert [r["status"] for r in results] == ["created", "created"]
    after = emulator_clean.stats()
    assert after["faults_injected"] - before["faults_injected"] == 2
    endpoint = "POST /api/agent/v1/users:batch"
    assert after["by_endpoint"][endpoint] - before["by_endpoint"].get(endpoint, 0) == 3
    assert len(sleeps) == 2
    assert len(emulator_clean.users(directory_id)) == 2


def test_retries_through_injected_429_honouring_retry_after(emulator_clean, registered):
    _, client, sleeps = registered
    emulator_clean.faults(fail_next=2, status=429, retry_after=3)
    assert client.get_directory().name == "Client tests"
    assert sleeps == [3.0, 3.0]


def test_server_error_when_faults_outlast_the_retries(emulator_clean, registered):
    directory_id, client, sleeps = registered
    client.max_retries = 2
    emulator_clean.faults(fail_next=10, status=503)
    with pytest.raises(IdentityServerError, match="HTTP 503"):
        client.upsert_users([_user(1)])
    assert len(sleeps) == 2
    assert emulator_clean.admin.get("/admin/faults").json()["fail_next"] == 7
    assert emulator_clean.users(directory_id) == []


def test_unreachable_on_a_closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    client = IdentityClient(f"http://127.0.0.1:{port}", proxy=ProxyChoice("none"), max_retries=2, sleep=sleeps.append)
    with pytest.raises(IdentityUnreachable) as caught:
        client.ping()
    assert str(caught.value).startswith(f"Cannot reach Identity at 127.0.0.1:{port}: the connection was refused")
    assert len(sleeps) == 2


def test_commands_through_the_client(emulator, registered):
    directory_id, client, _ = registered
    queued: dict = {}
    timer = threading.Timer(0.3, lambda: queued.update(emulator.queue_command(directory_id, {"login": "ana"})))
    timer.start()
    started = time.monotonic()
    commands = client.poll_commands(15)
    assert time.monotonic() - started < 5
    timer.join()
    assert [c["id"] for c in commands] == [queued["id"]]
    client.post_command_result(queued["id"], {"outcome": "denied", "reason": "invalid_credentials", "latency_ms": 5})
    assert emulator.command(queued["id"])["result"]["reason"] == "invalid_credentials"

    expired = emulator.queue_command(directory_id, {}, ttl_seconds=0.1)
    time.sleep(0.3)
    with pytest.raises(CommandGone):
        client.post_command_result(expired["id"], {"outcome": "error"})


# --------------------------------------------------------------------------- a real proxy and a real TLS server


class _ForwardProxy(BaseHTTPRequestHandler):
    """A minimal forward proxy for plain-HTTP targets that requires basic credentials."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str | None]]
    expected_auth: str

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Proxy-Authorization")))  # type: ignore[attr-defined]
        if self.headers.get("Proxy-Authorization") != self.server.expected_auth:  # type: ignore[attr-defined]
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="corp"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        upstream = httpx.get(self.path, headers={"Accept": "application/json"}, trust_env=False)
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)


@pytest.fixture
def forward_proxy() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    server.expected_auth = "Basic " + base64.b64encode(f"proxyuser:{PROXY_PASSWORD}".encode()).decode()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _clear_proxy_env(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_manual_proxy_with_credentials_is_used(emulator, forward_proxy, monkeypatch):
    _clear_proxy_env(monkeypatch)
    port = forward_proxy.server_address[1]
    choice = ProxyChoice("manual", f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:{port}")
    with IdentityClient(emulator.url, proxy=choice) as client:
        assert client.ping()["service"] == "identity-agent-api"
    assert forward_proxy.seen == [(f"{emulator.url}/api/agent/v1/ping", forward_proxy.expected_auth)]


def test_manual_proxy_with_a_wrong_password(emulator, forward_proxy, monkeypatch):
    _clear_proxy_env(monkeypatch)
    port = forward_proxy.server_address[1]
    choice = ProxyChoice("manual", f"http://proxyuser:wrong-{PROXY_PASSWORD}@127.0.0.1:{port}")
    with IdentityClient(emulator.url, proxy=choice, sleep=lambda s: None) as client:
        with pytest.raises(IdentityUnreachable, match="proxy") as caught:
            client.ping()
    assert_no_secret(everything_about(caught.value))


def test_system_proxy_follows_the_environment_and_none_ignores_it(emulator, forward_proxy, monkeypatch):
    _clear_proxy_env(monkeypatch)
    port = forward_proxy.server_address[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:{port}")
    with IdentityClient(emulator.url, proxy=ProxyChoice("system")) as client:
        client.ping()
    assert len(forward_proxy.seen) == 1
    with IdentityClient(emulator.url, proxy=ProxyChoice("none")) as client:
        client.ping()
    assert len(forward_proxy.seen) == 1  # went straight to the emulator


def test_manual_proxy_that_is_down(emulator, monkeypatch):
    _clear_proxy_env(monkeypatch)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    choice = ProxyChoice("manual", f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:{port}")
    with IdentityClient(emulator.url, proxy=choice, max_retries=1, sleep=lambda s: None) as client:
        with pytest.raises(IdentityUnreachable) as caught:
            client.ping()
    assert f"cannot reach the proxy at 127.0.0.1:{port}: the connection was refused" in str(caught.value)
    assert_no_secret(everything_about(caught.value))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


class _PingHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"service":"identity-agent-api","version":"1"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def tls_server(self_signed) -> Iterator[str]:
    cert, key = self_signed
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PingHandler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_untrusted_certificate_is_a_tls_error(tls_server, monkeypatch):
    _clear_proxy_env(monkeypatch)
    sleeps: list[float] = []
    with IdentityClient(tls_server, proxy=ProxyChoice("none"), sleep=sleeps.append) as client:
        with pytest.raises(IdentityTlsError) as caught:
            client.ping()
    assert "certificate" in str(caught.value) and "not trusted" in str(caught.value)
    assert sleeps == []


def test_certificate_trusted_through_a_ca_file(tls_server, self_signed, monkeypatch):
    _clear_proxy_env(monkeypatch)
    cert, _ = self_signed
    with IdentityClient(tls_server, proxy=ProxyChoice("none"), verify=str(cert)) as client:
        assert client.ping()["service"] == "identity-agent-api"

"""The Identity emulator, over real HTTP, as docs/identity-agent-api.md describes it.

Every test runs against ``python -m smartsync_tui emulator`` in a subprocess.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from smartsync_tui.targets.identity import agent_keys
from tests.support.emulator import EmulatorProcess, start_emulator

API = "/api/agent/v1"
DEFAULT_USER_FILTER = "(&(objectClass=user)(objectCategory=person))"
DEFAULT_GROUP_FILTER = "(objectCategory=group)"


def guid(n: int, prefix: str = "00000000") -> str:
    return f"{prefix}-0000-4000-8000-{n:012x}"


def user(n: int, **changes) -> dict:
    base = {
        "external_id": guid(n),
        "login": f"user{n}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"user{n}@corp.example.com",
        "display_name": f"First{n} Last{n}",
        "job_title": "Analista",
        "department": "TI",
        "active": True,
    }
    return {**base, **changes}


def group(n: int, members: list[str], **changes) -> dict:
    return {"external_id": guid(n, "11111111"), "name": f"Group {n}", "description": None, "members": members, **changes}


@dataclass
class Agent:
    directory_id: str
    token: str
    key: str
    http: httpx.Client

    def users_batch(self, users: list[dict]) -> list[dict]:
        response = self.http.post(f"{API}/users:batch", json={"users": users})
        assert response.status_code == 200, response.text
        return response.json()["results"]

    def groups_batch(self, groups: list[dict]) -> list[dict]:
        response = self.http.post(f"{API}/groups:batch", json={"groups": groups})
        assert response.status_code == 200, response.text
        return response.json()["results"]


def register(emulator: EmulatorProcess, name: str = "Corp") -> Agent:
    directory_id, token = emulator.create_directory(f"{name} {uuid.uuid4().hex[:6]}")
    response = httpx.post(f"{emulator.url}{API}/agents", json={"name": "srv-sync01"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    key = response.json()["api_key"]
    http = httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Bearer {token}", "X-Agent-Key": key}, timeout=40.0
    )
    return Agent(directory_id, token, key, http)


@pytest.fixture
def agent(emulator) -> Agent:
    registered = register(emulator)
    yield registered
    registered.http.close()


def assert_problem(response: httpx.Response, status: int, suffix: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + suffix)
    assert body["title"] and body["detail"]
    return body


# --------------------------------------------------------------------------- reachability and credentials


def test_ping_needs_no_credentials(emulator):
    response = httpx.get(f"{emulator.url}{API}/ping")
    assert response.status_code == 200
    assert response.json()["service"] == "identity-agent-api"
    assert response.json()["version"] == "1"


def test_directory_record_with_token_only_has_default_filters(emulator):
    directory_id, token = emulator.create_directory("Defaults")
    response = httpx.get(f"{emulator.url}{API}/directory", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    record = response.json()
    assert record["id"] == directory_id
    assert record["name"] == "Defaults"
    assert record["user_filter"] == DEFAULT_USER_FILTER
    assert record["group_filter"] == DEFAULT_GROUP_FILTER
    assert record["created_at"].endswith("Z")


def test_directory_record_keeps_custom_filters(emulator):
    _, token = emulator.create_directory("Custom", user_filter="(&(objectClass=user)(department=TI))")
    record = httpx.get(f"{emulator.url}{API}/directory", headers={"Authorization": f"Bearer {token}"}).json()
    assert record["user_filter"] == "(&(objectClass=user)(department=TI))"
    assert record["group_filter"] == DEFAULT_GROUP_FILTER


def test_unknown_token_is_rejected_with_problem_details(emulator):
    response = httpx.get(f"{emulator.url}{API}/directory", headers={"Authorization": "Bearer idt_not-a-real-token"})
    assert_problem(response, 401, "token-rejected")
    assert "Bearer" in response.headers["www-authenticate"]


def test_missing_token_is_its_own_problem(emulator):
    assert_problem(httpx.get(f"{emulator.url}{API}/directory"), 401, "token-missing")


def test_agent_key_is_required_and_checked(emulator, agent):
    token_only = {"Authorization": f"Bearer {agent.token}"}
    payload = {"users": [user(1)]}
    missing = httpx.post(f"{emulator.url}{API}/users:batch", json=payload, headers=token_only)
    assert_problem(missing, 401, "agent-key-missing")
    wrong = httpx.post(
        f"{emulator.url}{API}/users:batch", json=payload, headers={**token_only, "X-Agent-Key": "iak_wrong"}
    )
    assert_problem(wrong, 401, "agent-key-rejected")
    # A wrong key is refused on /directory too, where the key is optional.
    assert_problem(
        httpx.get(f"{emulator.url}{API}/directory", headers={**token_only, "X-Agent-Key": "iak_wrong"}),
        401,
        "agent-key-rejected",
    )
    assert emulator.users(agent.directory_id) == []
    assert agent.http.get(f"{API}/directory").status_code == 200


def test_registration_issues_distinct_keys(emulator):
    _, token = emulator.create_directory("Two agents")
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.post(f"{emulator.url}{API}/agents", json={"name": "a"}, headers=headers).json()
    second = httpx.post(f"{emulator.url}{API}/agents", json={"name": "b"}, headers=headers).json()
    assert first["agent_id"] != second["agent_id"]
    assert first["api_key"] != second["api_key"]
    assert_problem(httpx.post(f"{emulator.url}{API}/agents", json={}, headers=headers), 400, "invalid-request")


# --------------------------------------------------------------------------- users


def test_user_batch_creates_then_second_identical_batch_is_unchanged(emulator, agent):
    batch = [user(n) for n in range(1, 4)]
    first = agent.users_batch(batch)
    assert [r["status"] for r in first] == ["created"] * 3
    assert [r["external_id"] for r in first] == [u["external_id"] for u in batch]
    second = agent.users_batch(batch)
    assert [r["status"] for r in second] == ["unchanged"] * 3
    assert [r["id"] for r in second] == [r["id"] for r in first]

    stored = {u["external_id"]: u for u in emulator.users(agent.directory_id)}
    assert len(stored) == 3
    one = stored[guid(1)]
    for field in ("login", "first_name", "last_name", "email", "display_name", "job_title", "department", "active"):
        assert one[field] == batch[0][field]
    assert one["id"] == first[0]["id"]
    assert one["groups"] == []
    assert one["created_at"] and one["updated_at"]


def test_changed_field_is_updated_and_others_unchanged(emulator, agent):
    agent.users_batch([user(1), user(2)])
    results = agent.users_batch([user(1, last_name="Souza"), user(2)])
    assert [r["status"] for r in results] == ["updated", "unchanged"]
    stored = {u["external_id"]: u for u in emulator.users(agent.directory_id)}
    assert stored[guid(1)]["last_name"] == "Souza"


def test_disable_and_enable_again(emulator, agent):
    agent.users_batch([user(7)])
    assert agent.users_batch([user(7, active=False)])[0]["status"] == "updated"
    assert emulator.users(agent.directory_id)[0]["active"] is False
    assert agent.users_batch([user(7, active=False)])[0]["status"] == "unchanged"
    assert agent.users_batch([user(7, active=True)])[0]["status"] == "updated"
    assert emulator.users(agent.directory_id)[0]["active"] is True


def test_invalid_items_fail_alone_and_the_rest_is_applied(emulator, agent):
    batch = [
        user(1),
        user(2, external_id="NOT-A-GUID"),
        user(3, external_id=guid(3, "abcdef00").upper()),
        user(4, email="not an address"),
        {k: v for k, v in user(5).items() if k != "first_name"},
        user(6, active="yes"),
        user(7, shoe_size=42),
        user(8, login="USER1"),  # same login as user 1, case-insensitively
        user(1),  # the same external_id twice in one batch
    ]
    results = agent.users_batch(batch)
    assert [r["status"] for r in results] == ["created"] + ["failed"] * 8
    details = [r["detail"] for r in results[1:]]
    assert "external_id" in details[0] and "external_id" in details[1]
    assert "email" in details[2]
    assert "first_name" in details[3]
    assert "active" in details[4]
    assert "shoe_size" in details[5]
    assert "login" in details[6] and "already used" in details[6]
    assert "more than once" in details[7]
    assert results[1]["id"] is None
    assert [u["external_id"] for u in emulator.users(agent.directory_id)] == [guid(1)]


@pytest.mark.parametrize("char", ["\x1b", "\x85", "\x9b", "\u2028", "\u202e", "\u2066", "\u200f"])
def test_text_fields_with_controls_separators_or_bidi_characters_are_refused(emulator, agent, char):
    # The same characters the agent never shows (core/text.py): C0, C1, separators, bidi.
    results = agent.users_batch([user(1, display_name=f"Ana{char}Lima"), user(2)])
    assert [r["status"] for r in results] == ["failed", "created"]
    assert "display_name" in results[0]["detail"] and "control characters" in results[0]["detail"]


def test_login_can_move_between_users_in_one_batch(emulator, agent):
    agent.users_batch([user(1, login="alpha"), user(2, login="beta")])
    results = agent.users_batch([user(1, login="beta"), user(2, login="alpha")])
    assert [r["status"] for r in results] == ["updated", "updated"]
    logins = {u["external_id"]: u["login"] for u in emulator.users(agent.directory_id)}
    assert logins == {guid(1): "beta", guid(2): "alpha"}


def test_batch_limits(emulator, agent):
    too_many = agent.http.post(f"{API}/users:batch", json={"users": [user(n) for n in range(1001)]})
    assert assert_problem(too_many, 413, "batch-too-large")["max_items"] == 1000
    assert emulator.users(agent.directory_id) == []
    assert agent.users_batch([]) == []
    assert_problem(agent.http.post(f"{API}/users:batch", json={"people": []}), 400, "invalid-request")
    not_json = agent.http.post(
        f"{API}/users:batch", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(not_json, 400, "invalid-json")
    wrong_type = agent.http.post(f"{API}/users:batch", content=b"users=1", headers={"Content-Type": "text/plain"})
    assert_problem(wrong_type, 415, "unsupported-media-type")


def test_directories_are_isolated(emulator, agent):
    other = register(emulator, "Other")
    try:
        agent.users_batch([user(1)])
        assert other.users_batch([user(1)])[0]["status"] == "created"
        assert len(emulator.users(other.directory_id)) == 1
        assert len(emulator.users(agent.directory_id)) == 1
    finally:
        other.http.close()


# --------------------------------------------------------------------------- groups


def test_groups_link_members_and_replace_them(emulator, agent):
    agent.users_batch([user(1), user(2), user(3)])
    sales = group(1, [guid(1), guid(2)])
    team = group(2, [sales["external_id"], guid(3)], description="Nested")
    assert [r["status"] for r in agent.groups_batch([sales, team])] == ["created", "created"]
    assert [r["status"] for r in agent.groups_batch([sales, team])] == ["unchanged", "unchanged"]
    # The same members in another order, with a duplicate, are the same set.
    reordered = group(1, [guid(2), guid(1), guid(2)])
    assert agent.groups_batch([reordered])[0]["status"] == "unchanged"

    users = {u["external_id"]: u for u in emulator.users(agent.directory_id)}
    assert users[guid(1)]["groups"] == [sales["external_id"]]
    assert users[guid(3)]["groups"] == [team["external_id"]]
    groups = {g["external_id"]: g for g in emulator.groups(agent.directory_id)}
    assert sorted(groups[sales["external_id"]]["members"]) == sorted([guid(1), guid(2)])
    assert sorted(groups[team["external_id"]]["members"]) == sorted([sales["external_id"], guid(3)])
    assert groups[team["external_id"]]["description"] == "Nested"

    # Members replace the previous list.
    assert agent.groups_batch([group(1, [guid(3)])])[0]["status"] == "updated"
    users = {u["external_id"]: u for u in emulator.users(agent.directory_id)}
    assert users[guid(1)]["groups"] == []
    assert sorted(users[guid(3)]["groups"]) == sorted([sales["external_id"], team["external_id"]])
    assert agent.groups_batch([group(1, [])])[0]["status"] == "updated"
    groups = {g["external_id"]: g for g in emulator.groups(agent.directory_id)}
    assert groups[sales["external_id"]]["members"] == []


def test_group_may_name_members_not_sent_yet(emulator, agent):
    agent.groups_batch([group(1, [guid(9)])])
    agent.users_batch([user(9)])
    assert emulator.users(agent.directory_id)[0]["groups"] == [guid(1, "11111111")]


def test_invalid_groups_fail_alone(emulator, agent):
    results = agent.groups_batch(
        [
            group(1, [guid(1)]),
            group(2, ["not-a-guid"]),
            group(3, [guid(3, "11111111")]),  # itself
            {k: v for k, v in group(4, []).items() if k != "members"},
            group(5, [], name=""),
        ]
    )
    assert [r["status"] for r in results] == ["created", "failed", "failed", "failed", "failed"]
    assert "itself" in results[2]["detail"]
    assert "members" in results[3]["detail"]
    assert "name" in results[4]["detail"]
    assert len(emulator.groups(agent.directory_id)) == 1


# --------------------------------------------------------------------------- tokens


def test_revoked_token_is_rejected_and_a_new_token_works(emulator, agent):
    agent.users_batch([user(1)])
    emulator.revoke_token(agent.directory_id)
    for response in (
        agent.http.get(f"{API}/directory"),
        agent.http.post(f"{API}/users:batch", json={"users": [user(2)]}),
        agent.http.get(f"{API}/commands"),
    ):
        assert_problem(response, 401, "token-rejected")
    listing = {d["id"]: d for d in emulator.admin.get("/admin/directories").json()["directories"]}
    assert listing[agent.directory_id]["token_active"] is False

    new_token = emulator.new_token(agent.directory_id)
    assert new_token != agent.token
    # The agent key survives token rotation.
    headers = {"Authorization": f"Bearer {new_token}", "X-Agent-Key": agent.key}
    response = httpx.post(f"{emulator.url}{API}/users:batch", json={"users": [user(1), user(2)]}, headers=headers)
    assert [r["status"] for r in response.json()["results"]] == ["unchanged", "created"]


def test_rotating_a_token_stops_the_old_one(emulator, agent):
    new_token = emulator.new_token(agent.directory_id)
    assert_problem(agent.http.get(f"{API}/directory"), 401, "token-rejected")
    assert httpx.get(f"{emulator.url}{API}/directory", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200


def test_tokens_and_keys_are_stored_hashed_and_never_logged(emulator, agent):
    db = emulator.data_dir / "emulator.sqlite3"
    with sqlite3.connect(db) as connection:
        dump = "\n".join(connection.iterdump())
    assert agent.token not in dump
    assert agent.key not in dump
    assert agent.token not in emulator.stderr_text()


# --------------------------------------------------------------------------- faults


def test_fail_next_500_then_recovers(emulator_clean, agent):
    emulator = emulator_clean
    emulator.faults(fail_next=2, status=500)
    before = emulator.stats()["faults_injected"]
    first = agent.http.post(f"{API}/users:batch", json={"users": [user(1)]})
    second = agent.http.get(f"{API}/ping")
    assert_problem(first, 500, "server-error")
    assert_problem(second, 500, "server-error")
    assert emulator.users(agent.directory_id) == []  # the failed batch was not applied
    assert agent.users_batch([user(1)])[0]["status"] == "created"
    assert emulator.stats()["faults_injected"] - before == 2


def test_fail_next_429_sends_retry_after(emulator_clean, agent):
    emulator = emulator_clean
    emulator.faults(fail_next=1, status=429, retry_after=7)
    response = agent.http.get(f"{API}/directory")
    assert_problem(response, 429, "throttled")
    assert response.headers["retry-after"] == "7"
    assert agent.http.get(f"{API}/directory").status_code == 200


def test_fail_next_503_and_admin_side_is_never_faulted(emulator_clean, agent):
    emulator = emulator_clean
    emulator.faults(fail_next=1, status=503, retry_after=2)
    assert emulator.admin.get("/admin/directories").status_code == 200
    assert emulator.admin.get("/admin/faults").json()["fail_next"] == 1
    response = agent.http.get(f"{API}/directory")
    assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"] == "2"


def test_latency_applies_until_cleared(emulator_clean, agent):
    emulator = emulator_clean
    emulator.faults(latency_ms=300)
    started = time.monotonic()
    assert agent.http.get(f"{API}/ping").status_code == 200
    assert agent.http.get(f"{API}/ping").status_code == 200
    assert time.monotonic() - started >= 0.6
    emulator.clear_faults()
    started = time.monotonic()
    assert agent.http.get(f"{API}/ping").status_code == 200
    assert time.monotonic() - started < 0.3


# --------------------------------------------------------------------------- commands


def test_long_poll_returns_as_soon_as_a_command_is_queued(emulator, agent):
    answer: dict = {}

    def poll() -> None:
        started = time.monotonic()
        answer["response"] = agent.http.get(f"{API}/commands", params={"wait": 20})
        answer["seconds"] = time.monotonic() - started

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    queued = emulator.queue_command(agent.directory_id, {"login": "maria.silva"})
    poller.join(timeout=25)
    assert not poller.is_alive()
    assert answer["response"].status_code == 200
    assert answer["seconds"] < 5
    commands = answer["response"].json()["commands"]
    assert [c["id"] for c in commands] == [queued["id"]]
    assert commands[0]["type"] == "login_check"
    assert commands[0]["payload"] == {"login": "maria.silva"}
    assert commands[0]["expires_at"] > commands[0]["created_at"]
    assert emulator.command(queued["id"])["state"] == "delivered"

    # Handed out once: the next short poll is empty (the lease holds it).
    assert agent.http.get(f"{API}/commands", params={"wait": 0}).json()["commands"] == []

    result = {"outcome": "allowed", "reason": None, "latency_ms": 12}
    posted = agent.http.post(f"{API}/commands/{queued['id']}/result", json=result)
    assert posted.status_code == 200
    assert posted.json()["state"] == "completed"
    stored = emulator.command(queued["id"])
    assert stored["state"] == "completed"
    assert stored["result"] == result
    # Idempotent; a different second result is a conflict.
    assert agent.http.post(f"{API}/commands/{queued['id']}/result", json=result).status_code == 200
    conflict = agent.http.post(f"{API}/commands/{queued['id']}/result", json={**result, "outcome": "denied"})
    assert_problem(conflict, 409, "result-conflict")


def test_long_poll_without_commands_waits_then_answers_empty(emulator, agent):
    started = time.monotonic()
    response = agent.http.get(f"{API}/commands", params={"wait": 1})
    elapsed = time.monotonic() - started
    assert response.json() == {"commands": []}
    assert 0.9 <= elapsed < 3
    assert_problem(agent.http.get(f"{API}/commands", params={"wait": 31}), 400, "invalid-request")


def test_commands_of_another_directory_are_invisible(emulator, agent):
    other = register(emulator, "Other")
    try:
        queued = emulator.queue_command(agent.directory_id, {"n": 1})
        assert other.http.get(f"{API}/commands").json()["commands"] == []
        refused = other.http.post(f"{API}/commands/{queued['id']}/result", json={"outcome": "allowed"})
        assert_problem(refused, 404, "not-found")
    finally:
        other.http.close()


def test_expired_command_is_gone(emulator, agent):
    queued = emulator.queue_command(agent.directory_id, {}, ttl_seconds=0.2)
    time.sleep(0.4)
    assert agent.http.get(f"{API}/commands").json()["commands"] == []
    assert emulator.command(queued["id"])["state"] == "expired"
    late = agent.http.post(f"{API}/commands/{queued['id']}/result", json={"outcome": "error", "reason": "late"})
    assert_problem(late, 410, "command-expired")


def test_public_key_is_stored(emulator, agent):
    pem = agent_keys.new_key_pair().public_pem
    response = agent.http.put(f"{API}/public-key", json={"algorithm": "RSA-OAEP-SHA256", "public_key_pem": pem})
    assert response.status_code == 200, response.text
    assert response.json()["fingerprint_sha256"] == agent_keys.fingerprint(pem)
    agents = emulator.admin.get("/admin/agents").json()["agents"]
    assert any(a["public_key"] and a["public_key"]["public_key_pem"] == pem for a in agents)
    bad = agent.http.put(f"{API}/public-key", json={"algorithm": "RSA-OAEP-SHA256", "public_key_pem": "hello"})
    assert_problem(bad, 400, "invalid-request")
    # A well-formed block that is not an RSA key of 2048 bits or more is refused too.
    ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
    assert_problem(agent.http.put(f"{API}/public-key", json={"algorithm": "RSA-OAEP-SHA256", "public_key_pem": ec}),
                   400, "invalid-request")


def test_a_login_check_is_encrypted_to_the_newest_agent_key(emulator, agent):
    no_key = emulator.admin.post(f"/admin/directories/{agent.directory_id}/login-checks",
                                 json={"login": "maria.silva", "password": "Senha²-Forte!"})
    assert_problem(no_key, 409, "no-public-key")
    pair = agent_keys.new_key_pair()
    agent.http.put(f"{API}/public-key", json={"algorithm": "RSA-OAEP-SHA256", "public_key_pem": pair.public_pem})
    created = emulator.admin.post(f"/admin/directories/{agent.directory_id}/login-checks",
                                  json={"login": "maria.silva", "password": "Senha²-Forte!"})
    assert created.status_code == 201, created.text
    assert "Senha" not in created.text
    polled = agent.http.get(f"{API}/commands?wait=0").json()["commands"]
    payload = next(c for c in polled if c["id"] == created.json()["id"])["payload"]
    assert payload["login"] == "maria.silva" and payload["key_fingerprint"] == pair.fingerprint
    key = agent_keys.PrivateKey(pair.private_pem)
    assert key.decrypt(payload["password_encrypted"]).get_secret_value() == "Senha²-Forte!"
    assert "Senha" not in emulator.admin.get(f"/admin/commands/{created.json()['id']}").text
    result = agent.http.post(f"{API}/commands/{created.json()['id']}/result",
                             json={"outcome": "allowed", "reason": None, "latency_ms": 12})
    assert result.status_code == 200
    for bad in ({"login": "", "password": "x"}, {"login": "a", "password": 3}, {"login": "a", "password": "é" * 200}):
        response = emulator.admin.post(f"/admin/directories/{agent.directory_id}/login-checks", json=bad)
        assert_problem(response, 400, "invalid-request")


# --------------------------------------------------------------------------- process and persistence


def test_state_survives_a_restart(tmp_path: Path):
    data = tmp_path / "data"
    with start_emulator(data) as first:
        registered = register(first, "Persistent")
        registered.users_batch([user(1), user(2, active=False)])
        registered.groups_batch([group(1, [guid(1)])])
        registered.http.close()
        exit_code = first.stop()
    assert exit_code == 0
    assert registered.token not in first.stderr_text()

    with start_emulator(data) as second:
        headers = {"Authorization": f"Bearer {registered.token}", "X-Agent-Key": registered.key}
        again = httpx.post(
            f"{second.url}{API}/users:batch", json={"users": [user(1), user(2, active=False)]}, headers=headers
        )
        assert [r["status"] for r in again.json()["results"]] == ["unchanged", "unchanged"]
        users = {u["external_id"]: u for u in second.users(registered.directory_id)}
        assert users[guid(2)]["active"] is False
        assert users[guid(1)]["groups"] == [guid(1, "11111111")]


def test_refuses_a_public_address_without_allow_public():
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-c",
         "import sys; from smartsync_tui.emulator.server import serve_forever_cli;"
         " sys.exit(serve_forever_cli('0.0.0.0', 0, None))"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parents[1],
    )
    assert completed.returncode == 2
    assert "loopback" in completed.stderr
    assert completed.stdout == ""

"""The status endpoints' HTTP server against hostile clients on a shared machine (no Samba needed).

A fake engine behind it (its health is a fixed list): what is tested is the server, its
bounds and what it answers to requests a scraper would never send.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from smartsync_tui.config.settings import AppSettings
from smartsync_tui.engine.health import Check, DirectoryHealth
from smartsync_tui.status import server as status_server
from smartsync_tui.status.server import StatusServer


class _Engine:
    settings = AppSettings()

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.listeners: list = []

    def listen(self, listener) -> None:  # type: ignore[no-untyped-def]
        self.listeners.append(listener)

    def health(self) -> list[DirectoryHealth]:
        if self.broken:
            raise OSError("database is locked")
        return [DirectoryHealth("corp", "identity", False, False, None, 0, "ok", time.time(), time.time(), 0, 0, True,
                                None, [Check("sync:lastSuccessAge", "pass", 1.0, "s")])]


@pytest.fixture
def served(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(status_server, "CONNECTION_SECONDS", 1.0)
    monkeypatch.setattr(status_server, "MAX_CONNECTIONS", 4)
    server = StatusServer(_Engine(), "127.0.0.1", 0).start()
    yield server
    server.close()


def _raw(server: StatusServer, data: bytes, *, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def _healthy(server: StatusServer) -> bool:
    return httpx.get(server.url + "/health", timeout=5).status_code == 200


def test_only_get_and_head_on_two_paths(served):
    assert httpx.get(served.url + "/health").json()["status"] == "pass"
    head = httpx.head(served.url + "/metrics")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert httpx.post(served.url + "/health", content=b"x" * 10_000).status_code == 405
    assert httpx.request("DELETE", served.url + "/metrics").headers["allow"] == "GET, HEAD"
    assert httpx.get(served.url + "/").status_code == 404
    assert httpx.get(served.url + "/health?x=1#y").status_code == 200
    answer = httpx.get(served.url + "/health")
    assert answer.headers["cache-control"] == "no-store" and answer.headers["connection"] == "close"
    assert "Python" not in answer.headers.get("server", "")


def test_a_web_page_cannot_read_it_through_dns_rebinding(served):
    assert httpx.get(served.url + "/health", headers={"Host": "attacker.example:9325"}).status_code == 421
    assert b" 421 " in _raw(served, b"GET /health HTTP/1.0\r\n\r\n")  # no Host at all
    for host in ("localhost:9325", f"127.0.0.1:{served.port}", "[::1]:9325", "127.1.2.3"):
        assert httpx.get(served.url + "/health", headers={"Host": host}).status_code == 200


def test_idle_and_dripping_clients_are_cut_and_do_not_starve_a_scrape(served):
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(4)]
    try:
        time.sleep(0.2)
        # Every slot is held: the next connection is closed at once, not queued forever.
        assert _raw(served, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n") == b""
        started = time.monotonic()
        for sock in idle:
            sock.settimeout(5)
            assert sock.recv(100) == b""  # cut after CONNECTION_SECONDS
        assert time.monotonic() - started < 3
    finally:
        for sock in idle:
            sock.close()
    assert _healthy(served)
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as drip:
        started = time.monotonic()
        try:
            for byte in b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100:
                drip.sendall(bytes([byte]))
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - started < 3  # cut within the deadline, whatever it still had to send
    assert _healthy(served)


def test_an_engine_that_cannot_be_read_is_a_failure_said_not_a_crash(monkeypatch):
    server = StatusServer(_Engine(broken=True), "127.0.0.1", 0).start()
    try:
        answer = httpx.get(server.url + "/health")
        assert answer.status_code == 503 and answer.json()["status"] == "fail"
        assert "locked" not in answer.text  # the reason goes to the log, not to whoever asks
        assert httpx.get(server.url + "/metrics").status_code == 500
    finally:
        server.close()


def test_a_taken_address_is_said_and_the_engine_goes_on(caplog):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    engine = _Engine()
    engine.settings = AppSettings(status={"listen": f"127.0.0.1:{blocker.getsockname()[1]}"})
    try:
        assert status_server.serve(engine) is None  # type: ignore[arg-type]
    finally:
        blocker.close()
    assert "could not listen on 127.0.0.1" in caplog.text and "status.listen" in caplog.text
    engine.settings = AppSettings(status={"listen": ""})
    assert status_server.serve(engine) is None  # type: ignore[arg-type]  (off: nothing said, nothing bound)


@pytest.fixture(scope="module")
def one_server():  # type: ignore[no-untyped-def]
    server = StatusServer(_Engine(), "127.0.0.1", 0).start()
    yield server
    server.close()


@hsettings(max_examples=150, deadline=None)
@given(request_bytes=st.one_of(
    st.binary(max_size=600),
    st.builds(lambda method, path, extra: method + b" " + path + b" HTTP/1.1\r\nHost: localhost\r\n" + extra,
              st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b"BREW"]),
              st.binary(max_size=200).map(lambda b: b"/" + b.replace(b" ", b"")),
              st.binary(max_size=300))))
def test_whatever_arrives_the_server_answers_or_closes_and_serves_on(one_server, request_bytes):
    reply = _raw(one_server, request_bytes + b"\r\n\r\n")
    assert reply == b"" or reply.startswith(b"HTTP/1.")
    assert b"Traceback" not in reply and b"<html" not in reply.lower()
    assert _healthy(one_server)

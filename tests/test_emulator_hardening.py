"""The emulator as another local account or a hostile client meets it, as a real process.

Loopback is shared by every account on the host: without a key, any of them
could create directories and tokens or queue login checks (a password
oracle against the agent's AD). A client that connected and sent nothing, or
dripped a request, held a thread for ever; connections were not capped; and
`--port 99999` ended in a traceback.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from smartsync_tui.cli.exit_codes import COULD_NOT_RUN
from smartsync_tui.emulator.server import MAX_CONNECTIONS, REQUEST_SECONDS
from tests.support.emulator import EmulatorProcess, start_emulator

ROOT = Path(__file__).resolve().parents[1]


def _address(instance: EmulatorProcess) -> tuple[str, int]:
    host, port = instance.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _hung_up_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the emulator closed ``sock`` (fails when it did not within ``seconds``)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"the emulator still held the connection after {seconds:g} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}, **extra}


# -- the admin key


def test_the_admin_side_needs_the_key_and_the_agent_side_does_not(emulator):
    anyone = httpx.Client(base_url=emulator.url, timeout=10)
    try:
        for headers in ({}, {"X-Admin-Key": "guessed-" + "x" * 24}, {"X-Admin-Key": emulator.admin_key[:-1]}):
            for method, path in (("POST", "/admin/directories"), ("GET", "/admin/agents"),
                                 ("POST", "/admin/directories/x/login-checks"), ("GET", "/admin/stats")):
                response = anyone.request(method, path, json={"name": "mine"}, headers=headers)
                assert response.status_code == 401, (method, path, headers, response.text)
                assert "X-Admin-Key" in response.json()["detail"]
        assert anyone.get("/api/agent/v1/ping").status_code == 200
    finally:
        anyone.close()
    directory_id, _token = emulator.create_directory("With the key")  # the support's client sends it
    assert any(d["id"] == directory_id for d in emulator.admin.get("/admin/directories").json()["directories"])


def test_without_a_key_given_the_emulator_prints_one_it_made_and_takes_only_that(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "smartsync_tui", "emulator", "--port", "0", "--data", str(tmp_path / "d")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(SMARTSYNC_HOME=str(tmp_path / "h")),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        url = re.fullmatch(r"emulator listening on (http://\S+)\n", process.stdout.readline()).group(1)
        key = re.match(r"emulator admin key: (\S+) \(send it as the X-Admin-Key header", process.stdout.readline()).group(1)
        assert len(key) >= 16
        assert httpx.get(f"{url}/admin/agents", timeout=10).status_code == 401
        assert httpx.get(f"{url}/admin/agents", headers={"X-Admin-Key": key}, timeout=10).status_code == 200
    finally:
        process.terminate()  # our own child, by its handle
        process.wait(timeout=15)


def test_a_short_admin_key_and_a_port_out_of_range_are_refused_cleanly(tmp_path):
    base = [sys.executable, "-m", "smartsync_tui", "emulator", "--data", str(tmp_path / "d")]
    short = subprocess.run([*base, "--port", "0"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env=_env(SMARTSYNC_HOME=str(tmp_path / "h"), SMARTSYNC_EMULATOR_ADMIN_KEY="short"))
    assert short.returncode == COULD_NOT_RUN and "at least 16 printable characters" in short.stderr, short.stderr
    for port in ("99999", "-5"):
        done = subprocess.run([*base, f"--port={port}"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env=_env(SMARTSYNC_HOME=str(tmp_path / "h")))
        assert done.returncode == COULD_NOT_RUN, done.stderr
        assert done.stderr == f"emulator: --port {port} is not a port: give a number from 0 to 65535 (0 picks a free one)\n"
        assert done.stdout == ""


# -- clients that hold a thread


@pytest.fixture
def own_emulator(tmp_path):
    """An instance of its own: these tests hold its connections."""
    with start_emulator(tmp_path / "emulator") as instance:
        yield instance


def test_a_client_that_sends_nothing_or_drips_is_hung_up_on(own_emulator):
    silent = socket.create_connection(_address(own_emulator))
    dripping = socket.create_connection(_address(own_emulator))
    started = time.monotonic()
    request = b"GET /api/agent/v1/ping HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
    try:
        dripping.settimeout(1)
        # A byte every 0.2 s: each read is quick, the request never ends.
        for byte in request:
            if time.monotonic() - started > REQUEST_SECONDS + 5:
                pytest.fail("the emulator kept reading a dripping request")
            try:
                dripping.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.2)
            dripping.setblocking(False)
            try:
                if dripping.recv(1) == b"":
                    break  # hung up on
            except BlockingIOError:
                pass
            finally:
                dripping.setblocking(True)
        dripped = time.monotonic() - started
        assert dripped < REQUEST_SECONDS + 3, dripped
        waited = _hung_up_within(silent, REQUEST_SECONDS + 5 - (time.monotonic() - started))
        assert time.monotonic() - started < REQUEST_SECONDS + 3, waited
        # Meanwhile and after, everyone else is served.
        assert httpx.get(f"{own_emulator.url}/api/agent/v1/ping", timeout=5).status_code == 200
    finally:
        silent.close()
        dripping.close()


def test_connections_past_the_cap_get_a_quick_503_and_the_rest_are_served_after(own_emulator):
    held = [socket.create_connection(_address(own_emulator)) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.5)  # every one accepted and waiting on its thread
        started = time.monotonic()
        response = httpx.get(f"{own_emulator.url}/api/agent/v1/ping", timeout=5)
        assert response.status_code == 503 and time.monotonic() - started < 3
        assert f"at most {MAX_CONNECTIONS} connections" in response.json()["detail"]
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{own_emulator.url}/api/agent/v1/ping", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the slots were not given back when the clients left"
        time.sleep(0.1)


def test_a_keep_alive_client_is_served_across_requests(own_emulator):
    with httpx.Client(base_url=own_emulator.url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/api/agent/v1/ping").status_code == 200
            time.sleep(0.5)


# -- TLS (the hook tests/support uses to put the emulator behind HTTPS)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_with_an_ssl_context_it_serves_https_and_a_silent_handshake_holds_no_one_up(tmp_path):
    import ssl

    from smartsync_tui.emulator.server import RunningEmulator

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    with RunningEmulator("127.0.0.1", 0, tmp_path / "data", ssl_context=context) as running:
        assert running.url.startswith("https://127.0.0.1:")
        host, port = running.url.removeprefix("https://").rsplit(":", 1)
        silent = socket.create_connection((host, int(port)))  # never says hello
        try:
            with httpx.Client(base_url=running.url, verify=ssl.create_default_context(cafile=str(cert_file)),
                              timeout=5) as client:
                assert client.get("/api/agent/v1/ping").status_code == 200
                assert client.get("/admin/agents").status_code == 401
                assert client.get("/admin/agents", headers=running.admin_headers).status_code == 200
        finally:
            silent.close()

"""Connections to `web` are bounded before any request is read (cli/web_connections.py).

The attack: any local account opens many sockets to the loopback port and sends
each half a header line. aiohttp waited for the rest for ever and took every
connection, until `web` ran out of file descriptors and answered no one (its
log growing by tens of MB a minute). Played here against the real `web`.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from smartsync_tui.cli.web_connections import HEADER_SECONDS, MAX_CONNECTIONS
from tests.test_web_mode import base_of, browser, log_in, web


def _half_requests(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never the rest
        sockets.append(sock)
    return sockets


def _closed(sock: socket.socket, within: float) -> bool:
    """Whether the server hung up on ``sock`` within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_half_sent_requests_are_cut_and_the_console_stays_reachable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        port = urlsplit(login_url).port
        assert port is not None
        started = time.monotonic()
        held = await asyncio.to_thread(_half_requests, port, MAX_CONNECTIONS + 20)
        try:
            # Past the cap: closed at once, not queued for ever.
            extra = held[MAX_CONNECTIONS:]
            assert all([await asyncio.to_thread(_closed, sock, 3.0) for sock in extra])
            # The rest: cut once their headers are late.
            first = held[:MAX_CONNECTIONS]
            assert all([await asyncio.to_thread(_closed, sock, HEADER_SECONDS + 10) for sock in first])
            assert time.monotonic() - started < HEADER_SECONDS + 15
        finally:
            for sock in held:
                sock.close()
        # And the admin gets in as usual.
        async with browser() as session:
            await log_in(session, login_url)
            async with session.get(f"{base_of(login_url)}/") as response:
                assert response.status == 200
        assert server.stop() == 0
    # One line about it, not one per connection (nor a traceback each).
    text = "".join(server.stderr) + "".join(p.read_text() for p in (home / "logs").glob("*.log"))
    assert text.count("closed") <= 4 and "Traceback" not in text, text[-2000:]

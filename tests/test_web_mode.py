"""`smartsync-tui web`: the console served in a browser by textual-serve.

Each test runs the real command in a subprocess on a free loopback port and
talks to it over HTTP and the websocket, as a browser would: it opens the
login address `web` printed (the token traded for a cookie) first.
The login's attacks are in test_web_login.py; sessions ending at any moment
in test_web_sessions.py.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import aiohttp
import pytest

from smartsync_tui.cli import web_cmd
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, save_settings

START_TIMEOUT = 30.0
SCREEN_TIMEOUT = 45.0


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


class WebProcess:
    """`python -m smartsync_tui --home HOME web ...`, its output read line by line in the background."""

    def __init__(self, home: Path, *args: str, stdin: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartsync_tui", "--home", str(home), "web", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            text=True,
            env=env,
        )
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, sink: list[str], announce: bool) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            sink.append(line)
            if announce:
                self._lines.put(line)

    def wait_serving(self) -> str:
        """The login URL from `serving the console on URL` (http://127.0.0.1:PORT/?token=...)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            match = re.match(r"serving the console on (http://\S+)", line)
            if match:
                self.login_url = match.group(1)
                return self.login_url
        self.stop()
        raise AssertionError(f"web did not start: stdout={''.join(self.stdout)!r} stderr={''.join(self.stderr)!r}")

    def finish(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not go; the exit code of the clean stop, else None."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.finish(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.finish()

    @property
    def err(self) -> str:
        return "".join(self.stderr)


@contextmanager
def web(home: Path, *args: str) -> Iterator[WebProcess]:
    process = WebProcess(home, *args)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def base_of(login_url: str) -> str:
    """http://HOST:PORT of the login URL."""
    return login_url.split("/?", 1)[0]


def token_of(login_url: str) -> str:
    return login_url.split("?token=", 1)[1]


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies of 127.0.0.1 (aiohttp refuses those of an IP by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(session: aiohttp.ClientSession, login_url: str) -> None:
    """Open the printed address, as the admin does: the token becomes the session's cookie."""
    async with session.get(login_url) as response:
        assert response.status == 200, await response.text()


def console_pids(home: Path) -> list[int]:
    """Processes running `... --home HOME console` (the consoles textual-serve started), Linux only."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(home).encode() in argv and b"console" in argv:
            pids.append(int(entry.name))
    return pids


async def read_screen(login_url: str, *, origin: str, expect: str) -> str:
    """Log in, open the websocket as the page does, send the terminal size, read the screen until `expect`."""
    async with browser() as session:
        await log_in(session, login_url)
        async with session.ws_connect(f"{base_of(login_url)}/ws?width=120&height=40", headers={"Origin": origin}) as ws:
            return await read_until(ws, expect)


async def read_until(ws: aiohttp.ClientWebSocketResponse, expect: str, *, size: tuple[int, int] = (120, 40)) -> str:
    """Send the terminal size, then read the screen (escapes dropped) until `expect` shows."""
    await ws.send_json(["resize", {"width": size[0], "height": size[1]}])
    data = b""
    text = ""
    try:
        async with asyncio.timeout(SCREEN_TIMEOUT):
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    data += message.data
                    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data.decode("utf-8", "replace"))
                    if expect in text:
                        return text
    except TimeoutError:
        pass
    raise AssertionError(f"{expect!r} never appeared on the console's screen; got {text[-2000:]!r}")


# -- the page and the console behind it


async def test_serves_the_console_page_over_http(home: Path) -> None:
    port = free_port()
    with web(home, "--port", str(port)) as server:
        login_url = server.wait_serving()
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/\?token=[A-Za-z0-9_-]{{43}}", login_url)
        url = base_of(login_url)
        async with browser() as session:
            async with session.get(login_url) as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                assert str(response.url) == f"{url}/"  # the token left the address bar
                page = await response.text()
            # The textual-serve client, and a websocket address the browser can reach.
            assert '<script src="/static/js/textual.js">' in page
            assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
            assert "smartsync-tui" in page
            async with session.get(f"{url}/static/js/textual.js") as response:
                assert response.status == 200
                assert "WebSocket" in await response.text()
        assert await asyncio.to_thread(server.stop) == 0


async def test_the_websocket_streams_the_console_and_sigterm_closes_it(home: Path) -> None:
    port = free_port()
    with web(home, "--port", str(port)) as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        # The first screen of a fresh home: the setup wizard, under the console's header.
        screen = await read_screen(login_url, origin=url, expect="Identity")
        assert "smartsync-tui" in screen

        # A tab left open while the server is stopped: its console is told to quit too.
        async with browser() as session:
            await log_in(session, login_url)
            async with session.ws_connect(f"{url}/ws?width=100&height=30", headers={"Origin": url}) as ws:
                await ws.send_json(["resize", {"width": 100, "height": 30}])
                await ws.receive(timeout=SCREEN_TIMEOUT)  # the console is up and drawing
                if sys.platform == "linux":
                    assert console_pids(home), "no console process behind the open tab"
                assert await asyncio.to_thread(server.stop) == 0
        assert "stopped" in "".join(server.stdout)
        if sys.platform == "linux":
            deadline = time.monotonic() + 10
            while console_pids(home) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert console_pids(home) == []


async def test_a_page_of_another_site_cannot_open_the_console(home: Path) -> None:
    port = free_port()
    with web(home, "--port", str(port)) as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)  # even with the admin's own login cookie
            # Any page open in the admin's browser could reach ws://127.0.0.1:PORT (an SSH tunnel).
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{url}/ws", headers={"Origin": "https://evil.example"})
            assert refused.value.status == 403
            # DNS rebinding: a foreign name that resolves to 127.0.0.1.
            async with session.get(f"{url}/", headers={"Host": f"evil.example:{port}"}) as response:
                assert response.status == 403
                assert "127.0.0.1" in await response.text()
            async with session.get(f"{url}/", headers={"Host": f"localhost:{port}"}) as response:
                assert response.status == 200
                assert f'data-session-websocket-url="ws://localhost:{port}/ws"' in await response.text()


# -- where it listens


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "server.example.com"])
def test_a_public_host_is_refused_without_the_flag(home: Path, host: str) -> None:
    port = free_port()
    with web(home, "--host", host, "--port", str(port)) as server:
        assert server.finish() == 2
        assert "refusing to serve the console" in server.err
        assert "--public" in server.err and "ssh -L 5325:127.0.0.1:5325" in server.err
        assert "serving" not in "".join(server.stdout)
    assert not listening(port)


def test_public_serves_with_a_warning(home: Path) -> None:
    with web(home, "--host", "0.0.0.0", "--port", "0", "--public") as server:
        url = base_of(server.wait_serving())
        assert url.startswith("http://0.0.0.0:")
        assert "WARNING" in server.err and "plain http" in server.err and "TLS" in server.err
        assert "no login" not in server.err  # there is one, and --public keeps it
        assert "ssh -L 5325:127.0.0.1:5325 server" in server.err
        port = int(url.rsplit(":", 1)[1])
        assert port != 0 and listening(port)
        assert server.stop() == 0


def test_the_port_comes_from_appsettings_url(home: Path) -> None:
    port = free_port()
    save_settings(resolve_home(home).ensure().settings_file, AppSettings(url=f"http://127.0.0.1:{port}"))
    with web(home) as server:
        assert base_of(server.wait_serving()) == f"http://127.0.0.1:{port}"
        assert listening(port)
        assert server.stop() == 0


def test_a_port_in_use_is_a_clear_error(home: Path) -> None:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with web(home, "--port", str(port)) as server:
            assert server.finish() == 2
            assert f"cannot serve on 127.0.0.1:{port}: the port is in use" in server.err
            assert "Traceback" not in server.err


def test_the_default_address_is_the_originals() -> None:
    assert web_cmd._settings_address(AppSettings().url)[:2] == ("127.0.0.1", 5325)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("server.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert web_cmd.is_loopback(host) is loopback


def test_the_console_command_keeps_the_home(tmp_path: Path) -> None:
    import argparse

    command = web_cmd.console_command(argparse.Namespace(home=str(tmp_path / "a home")))
    assert shlex.split(command) == [sys.executable, "-m", "smartsync_tui", "--home", str(tmp_path / "a home"), "console"]

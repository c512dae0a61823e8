"""The browser console's login (cli/web_auth.py), attacked as a second local user would.

Loopback is shared by every account on the host: a websocket client with no
Origin header, or a plain HTTP client, reaches 127.0.0.1:PORT like the admin's
browser. Each test runs the real `web` and attacks it from outside.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsync_tui.cli import web_auth
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore
from tests.test_web_mode import (
    WebProcess,
    base_of,
    browser,
    log_in,
    read_until,
    token_of,
    web,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


async def test_without_the_token_every_route_is_refused_with_a_page_that_says_how_to_get_in(home: Path) -> None:
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with aiohttp.ClientSession() as stranger:
            for path in ("/", "/static/js/textual.js", "/download/0123456789abcdef", "/ws"):
                async with stranger.get(f"{url}{path}") as response:
                    assert response.status == 403, path
                    text = await response.text()
                    assert "login link" in text and "smartsync-tui web" in text and "?token=" in text
            # The attack of the review: a websocket client with no Origin header.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await stranger.ws_connect(f"{url}/ws?width=80&height=24")
            assert refused.value.status == 403
            # A wrong token, one of the right length, and a forged cookie are refused alike.
            wrong = "A" * len(token_of(login_url))
            for params, cookies in (({"token": wrong}, {}), ({"token": ""}, {}),
                                    ({}, {web_auth.COOKIE_NAME: token_of(login_url)}),
                                    ({}, {web_auth.COOKIE_NAME: "0" * 64})):
                async with stranger.get(f"{url}/", params=params, cookies=cookies,
                                        allow_redirects=False) as response:
                    assert response.status == 403, (params, cookies)
                    assert "Set-Cookie" not in response.headers
        await asyncio.to_thread(server.stop)
    # No console was started for any of them.
    assert "console pid" not in (resolve_home(home).log_dir / "application.log").read_text()


async def test_the_token_is_traded_for_a_strict_httponly_cookie_and_leaves_the_address(home: Path) -> None:
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            async with session.get(f"{login_url}&fontsize=20", allow_redirects=False) as response:
                assert response.status == 303
                assert response.headers["Location"] == "/?fontsize=20"  # other parameters kept, the token not
                cookie = response.headers["Set-Cookie"]
                assert response.headers["Referrer-Policy"] == "no-referrer"
            attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")}
            assert {"httponly", "path"} <= attributes and "samesite=strict" in cookie.lower()
            assert token_of(login_url) not in cookie  # the cookie is not the token itself
            # The cookie alone opens everything, the websocket too.
            async with session.get(f"{url}/") as response:
                assert response.status == 200 and "textual.js" in await response.text()
            async with session.ws_connect(f"{url}/ws?width=80&height=24", headers={"Origin": url}) as ws:
                await read_until(ws, "smartsync-tui", size=(80, 24))
        await asyncio.to_thread(server.stop)


async def test_the_token_is_printed_once_and_never_logged(home: Path) -> None:
    with web(home, "--port", "0") as server:
        login_url = server.wait_serving()
        token = token_of(login_url)
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            async with aiohttp.ClientSession() as stranger:  # refusals are logged: with the path only
                async with stranger.get(f"{url}/", params={"token": token[:-1] + "x"}) as response:
                    assert response.status == 403
            async with session.ws_connect(f"{url}/ws?token={token}", headers={"Origin": url}) as ws:
                await read_until(ws, "smartsync-tui", size=(80, 24))
        await asyncio.to_thread(server.stop)
    out = "".join(server.stdout)
    assert out.count(token) == 1 and server.err.count(token) == 0
    logs = resolve_home(home).log_dir
    written = "".join(p.read_text(errors="replace") for p in logs.iterdir() if p.is_file())
    assert "refused GET / from 127.0.0.1" in written
    assert token not in written and token[:-1] not in written


def test_public_keeps_the_login(home: Path) -> None:
    async def attack(url: str) -> int:
        async with aiohttp.ClientSession() as stranger, stranger.get(f"{url}/") as response:
            return response.status

    with web(home, "--host", "0.0.0.0", "--port", "0", "--public") as server:
        login_url = server.wait_serving()
        port = base_of(login_url).rsplit(":", 1)[1]
        assert asyncio.run(attack(f"http://127.0.0.1:{port}")) == 403
        assert "?token=" in login_url
        assert server.stop() == 0


async def test_a_token_kept_with_token_stdin_stays_across_restarts(home: Path) -> None:
    token = "kept-token-" + "x" * 30
    for attempt in range(2):
        process = WebProcess(home, "--port", "0", *(["--token-stdin"] if attempt == 0 else []),
                             stdin=token + "\n" if attempt == 0 else None)
        try:
            login_url = process.wait_serving()
            assert token_of(login_url) == token
        finally:
            process.stop()
    assert SecretStore(resolve_home(home).secrets_file).get(web_auth.WEB_TOKEN_KEY).get_secret_value() == token
    assert token not in "".join(process.stdout[1:]) + process.err


@pytest.mark.parametrize("bad", ["short", "x" * 30 + " space", "x" * 30 + "\u00e9"])
def test_a_weak_or_odd_token_is_refused_with_what_to_fix(home: Path, bad: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), "web", "--port", "0", "--token-stdin"],
        input=bad + "\n", capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "error: the web token" in done.stderr and "Traceback" not in done.stderr
    assert bad not in done.stderr
    assert not resolve_home(home).secrets_file.exists()  # nothing half-written


def test_a_token_on_the_command_line_is_refused(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), "web", "--token", "visible-in-ps"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "--token-stdin" in done.stderr


# -- unit: the comparisons


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_only_the_token_itself_and_its_cookie_are_accepted(candidate: str) -> None:
    login = web_auth.WebLogin("T" * 43, stored=False)
    assert login.token_ok(candidate) is (candidate == "T" * 43)
    assert login.cookie_ok(candidate) is (candidate == login.cookie_value)
    assert "T" * 43 not in repr(login)



def test_a_cookie_ends_with_its_start_and_after_its_hours() -> None:
    """Browsers send a host's cookies to all its ports: one seen by another local program must not last."""
    login = web_auth.WebLogin("T" * 43, stored=True)
    issued = 1_800_000_000.0
    cookie = login.cookie_for(issued)
    assert login.cookie_ok(cookie, now=issued + 60)
    assert login.cookie_ok(cookie, now=issued + web_auth.COOKIE_HOURS * 3600)
    assert not login.cookie_ok(cookie, now=issued + web_auth.COOKIE_HOURS * 3600 + 1)
    assert not login.cookie_ok(cookie, now=issued - 3600)  # issued in the future: forged
    # The same stored token after a restart: a new key, so yesterday's cookie is refused.
    restarted = web_auth.WebLogin("T" * 43, stored=True)
    assert not restarted.cookie_ok(cookie, now=issued + 60)
    # Another issue time under the same signature is refused.
    _issued, signature = cookie.split(".")
    assert not login.cookie_ok(f"{int(issued) + 1}.{signature}", now=issued + 60)
    assert "max-age=43200" in web_auth.cookie_header(login, secure=False).lower()

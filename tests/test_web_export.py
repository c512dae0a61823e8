"""Home's log export in a browser: offered as a download (as the original did), behind the login."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import AppSettings, save_settings
from tests.test_web_mode import SCREEN_TIMEOUT, base_of, browser, log_in, read_until, web


async def test_the_export_is_downloaded_by_the_browser_and_only_with_the_login(tmp_path: Path) -> None:
    home = resolve_home(tmp_path / "home").ensure()
    save_settings(home.settings_file, AppSettings())  # set up: the console opens on Home
    with web(tmp_path / "home", "--port", "0") as server:
        login_url = server.wait_serving()
        url = base_of(login_url)
        async with browser() as session:
            await log_in(session, login_url)
            async with session.ws_connect(f"{url}/ws?width=120&height=40", headers={"Origin": url}) as ws:
                await read_until(ws, "Export")
                # The palette's Export logs focuses the period; Enter there exports.
                for keys in ("\x10", "export logs", "\r", "\r"):
                    await ws.send_json(["stdin", keys])
                    await asyncio.sleep(0.5)
                key = None
                async with asyncio.timeout(SCREEN_TIMEOUT):
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            kind, value = json.loads(message.data)[:2]
                            if kind == "deliver_file_start":
                                key = value
                                break
                assert key, "the browser was never offered the file"
                # What the page does (window.open of /download/KEY): with the login cookie, the file.
                async with aiohttp.ClientSession() as stranger, stranger.get(f"{url}/download/{key}") as response:
                    assert response.status == 403
                async with session.get(f"{url}/download/{key}") as response:
                    assert response.status == 200
                    assert response.headers["Content-Disposition"].startswith("attachment; filename=smartsync-application-")
                    body = await response.text()
                assert "web: serving the console on 127.0.0.1" in body  # the application log's lines
                assert login_url.split("token=")[1] not in body
                screen = await read_until(ws, "the browser downloads it as")
                assert "Wrote" in screen
        await asyncio.to_thread(server.stop)
    # The file is also on the server, as in a terminal.
    assert any(p.name.startswith("smartsync-application-") for p in home.export_dir.iterdir())

"""`smartsync-tui demo`: a first look without touching a real install.

Starts the Identity emulator with a demo directory and, where one can be
started, a throw-away Samba AD DC on 127.0.0.1 seeded with demo users; writes
a throw-away home pointed at both; opens the console; removes it all on exit.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import httpx
from pydantic import SecretStr

from smartsync_tui.core.directory_check import check_directory, store_directory_secrets
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.logs import setup_logging
from smartsync_tui.core.paths import resolve_home
from smartsync_tui.core.secret_store import SecretStore
from smartsync_tui.core.settings import AppSettings, IdentitySettings, save_settings
from smartsync_tui.emulator.server import RunningEmulator
from smartsync_tui.testbed import samba_dc
from smartsync_tui.testbed.directory import dc_directory

log = logging.getLogger("smartsync.demo")
DEMO_USERS = 200


def _start_dc(workdir: Path) -> samba_dc.DCInfo | None:
    print(f"Starting a throw-away Samba AD DC on 127.0.0.1 with {DEMO_USERS} demo users...", flush=True)
    try:
        return samba_dc.up(workdir / "dc", users=DEMO_USERS)
    except samba_dc.SambaDCError as exc:
        print(f"No AD DC could be started here: {exc}\nThe console opens with the emulator only.", flush=True)
        return None


def _add_demo_directory(settings: AppSettings, secrets: SecretStore, dc: samba_dc.DCInfo, token: str) -> None:
    directory = dc_directory(dc, id="demo", display_name="Demo AD (Samba)")
    password, secret_token = SecretStr(dc.admin_password), SecretStr(token)
    check = check_directory(settings, secrets, directory, password, secret_token)
    if not check.ok:
        print("The demo directory did not pass its check:\n" + "\n".join(check.problems()), flush=True)
        return
    store_directory_secrets(settings, secrets, directory, password, secret_token)
    settings.put_directory(directory)


def run() -> int:
    from smartsync_tui.ui.app import run_console

    workdir = Path(tempfile.mkdtemp(prefix="smartsync-demo-"))
    home = resolve_home(workdir / "home").ensure()
    handler = setup_logging(home)
    emulator = RunningEmulator("127.0.0.1", 0, workdir / "emulator").start()
    dc: samba_dc.DCInfo | None = None
    try:
        print(f"Identity emulator on {emulator.url}", flush=True)
        created = httpx.post(f"{emulator.url}/admin/directories", json={"name": "Demo directory"}, timeout=10)
        created.raise_for_status()
        token = created.json()["token"]
        environment = emulator.url.removeprefix("http://")
        settings = AppSettings(identity=IdentitySettings(protocol="http", environment=environment))
        secrets = SecretStore(home.secrets_file)
        dc = _start_dc(workdir)
        if dc is not None:
            _add_demo_directory(settings, secrets, dc, token)
        save_settings(home.settings_file, settings)
        return run_console(home)
    except UserError as exc:
        print(f"error: the demo could not start: {exc}")
        return 2
    finally:
        if dc is not None and dc.pid:
            samba_dc.stop(dc.pid)
        emulator.stop()
        logging.getLogger("smartsync").removeHandler(handler)
        handler.close()
        shutil.rmtree(workdir, ignore_errors=True)
        print("Demo stopped; its emulator, DC and files were removed.")

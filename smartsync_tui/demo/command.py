"""`smartsync-tui demo`: a first look without touching a real install.

Starts the Identity emulator with a demo directory and an AD to sync into it:
a throw-away Samba AD DC on 127.0.0.1 where one can be started (root, Samba
installable, no other DC running), else an in-memory directory
(smartsync_tui/testbed/memory_dc.py) that the real engine reads through the
same LDAP code, clearly named as not a real AD. Writes a throw-away home
pointed at both (delta syncs every few seconds), changes the directory a
little every few seconds so the syncs have work, opens the console, and
removes it all on exit.

``SMARTSYNC_DEMO_NO_SAMBA=1`` skips Samba (the in-memory directory at once).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from smartsync_tui.cli.output import CliError, say
from smartsync_tui.checks.directory import check_directory, store_directory_secrets
from smartsync_tui.core.errors import UserError
from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    IdentitySettings,
    ProxySettings,
    SyncSettings,
    save_settings,
)
from smartsync_tui.emulator.server import RunningEmulator
from smartsync_tui.i18n import _, ngettext, number
from smartsync_tui.testbed import samba_dc
from smartsync_tui.testbed.directory import dc_directory
from smartsync_tui.testbed.login_trickle import LoginTrickle
from smartsync_tui.testbed.memory_dc import MemoryDC
from smartsync_tui.testbed.trickle import ChangeTrickle, DemoChanges, samba_admin_connection

log = logging.getLogger("smartsync.demo")
DEMO_USERS = 200
# Short, so that the trickled changes show up in Identity while one watches.
DEMO_DELTA_SECONDS = 10
DEMO_CHANGE_SECONDS = 4.0
DEMO_LOGIN_SECONDS = 7.0
NO_SAMBA_VARIABLE = "SMARTSYNC_DEMO_NO_SAMBA"


@dataclass
class Demo:
    """Everything the demo started, for :meth:`close` to take down in reverse."""

    workdir: Path
    home: Home
    emulator: RunningEmulator
    handler: logging.Handler
    dc: samba_dc.DCInfo | None = None
    memory: MemoryDC | None = None
    trickle: ChangeTrickle | None = None
    logins: LoginTrickle | None = None
    directory: DirectorySettings | None = None
    identity_directory: str = ""

    def close(self) -> None:
        if self.logins is not None:
            self.logins.stop()
        if self.trickle is not None:
            self.trickle.stop()
        if self.memory is not None:
            self.memory.unregister()
        if self.dc is not None and self.dc.pid:
            samba_dc.stop(self.dc.pid)
        self.emulator.stop()
        logging.getLogger("smartsync").removeHandler(self.handler)
        self.handler.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _samba_wanted() -> bool:
    return os.environ.get(NO_SAMBA_VARIABLE, "").strip().lower() not in ("1", "true", "yes")


def _start_samba(demo: Demo) -> bool:
    say(ngettext("Starting a throw-away Samba AD DC on 127.0.0.1 with {n} demo user...",
                 "Starting a throw-away Samba AD DC on 127.0.0.1 with {n} demo users...", DEMO_USERS).format(
        n=number(DEMO_USERS)), flush=True)
    try:
        demo.dc = samba_dc.up(demo.workdir / "dc", users=DEMO_USERS)
    except samba_dc.DCBusy:
        # Samba's ports are fixed: one DC per machine, and a test run or another demo has it.
        say(_("Another Samba DC already runs on this machine (a test run or another demo)."), flush=True)
        return False
    except samba_dc.SambaDCError as exc:
        say(_("No Samba AD DC could be started here: {reason}").format(reason=exc), flush=True)
        return False
    demo.directory = dc_directory(demo.dc, id="demo", display_name=_("Demo AD (Samba)"))
    demo.trickle = ChangeTrickle(
        samba_admin_connection(demo.dc), DemoChanges(demo.dc.base_dn),
        interval=DEMO_CHANGE_SECONDS, label=_("the demo's Samba DC"),
    )
    return True


def _start_memory(demo: Demo) -> None:
    say(
        ngettext("Using an in-memory demo directory with {n} demo user: it is NOT a real Active "
                 "Directory, only a stand-in that the real sync engine reads over the same LDAP code.",
                 "Using an in-memory demo directory with {n} demo users: it is NOT a real Active "
                 "Directory, only a stand-in that the real sync engine reads over the same LDAP code.",
                 DEMO_USERS).format(n=number(DEMO_USERS)),
        flush=True,
    )
    demo.memory = MemoryDC(DEMO_USERS).register()
    demo.directory = DirectorySettings(
        id="demo",
        display_name=_("Demo AD (in memory)"),
        server=demo.memory.host,
        # Nothing crosses a network: there is no TLS to set up.
        tls="plain",
        # ... so its login checks may run without TLS too (a real directory refuses that).
        allow_plain_login_checks=True,
        bind_user=demo.memory.admin_user,
        base_dn=demo.memory.base_dn,
    )
    # The warning first: the log pane shows a line's first 80 columns at 80x24.
    notice = _(
        "demo: NOT a real Active Directory: '{name}' ({host}) is an "
        "in-memory demo directory that exists only while the demo runs"
    ).format(name=demo.directory.label, host=demo.memory.host)
    log.warning("%s", notice)
    demo.trickle = ChangeTrickle(
        demo.memory.admin_connection, DemoChanges(demo.memory.base_dn),
        interval=DEMO_CHANGE_SECONDS, label=_("the in-memory demo AD"), announce=notice,
    )


def _add_directory(demo: Demo, settings: AppSettings, secrets: SecretStore, token: str) -> bool:
    assert demo.directory is not None
    password = SecretStr(demo.dc.admin_password if demo.dc else demo.memory.admin_password)  # type: ignore[union-attr]
    secret_token = SecretStr(token)
    check = check_directory(settings, secrets, demo.directory, password, secret_token)
    if not check.ok:
        say(_("The demo directory did not pass its check:"), *check.problems(), flush=True)
        return False
    store_directory_secrets(settings, secrets, demo.directory, password, secret_token)
    settings.put_directory(demo.directory)
    return True


def _login_checks(demo: Demo) -> list[tuple[str, str]]:
    """Who logs in, and with what: right and wrong passwords, the three login forms, an unknown user."""
    wrong = "Not-the-Passw0rd!"
    passwords = samba_dc.PASSWORDS
    if demo.dc is not None:
        realm = demo.dc.dns_domain
        return [
            (f"maria.silva@{realm}", passwords["maria.silva"]),
            ("joao.conceicao", wrong),
            (f"{demo.dc.domain}\\ivan.petrov", passwords["ivan.petrov"]),
            ("roberto.bastos", passwords["roberto.bastos"]),  # disabled in AD
            ("carla.mendes", passwords["carla.mendes"]),  # must change her password
            ("nobody.here", wrong),
        ]
    # The in-memory directory checks passwords only (it has no account states).
    return [
        ("alice.andrade", passwords["alice.andrade"]),
        ("joao.conceicao", wrong),
        ("ivan.petrov", passwords["ivan.petrov"]),
        ("nobody.here", wrong),
    ]


def prepare(*, use_samba: bool | None = None, workdir: Path | None = None) -> Demo:
    """Start the emulator and a directory, write the throw-away home; the trickle is not started yet.

    ``use_samba`` None: try Samba unless ``SMARTSYNC_DEMO_NO_SAMBA`` is set.
    Raises :class:`UserError` when the demo cannot be set up (after cleaning up).
    """
    workdir = workdir or Path(tempfile.mkdtemp(prefix="smartsync-demo-"))
    home = resolve_home(workdir / "home").ensure()
    handler = setup_logging(home)
    try:
        emulator = RunningEmulator("127.0.0.1", 0, workdir / "emulator").start()
    except BaseException:
        logging.getLogger("smartsync").removeHandler(handler)
        handler.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    demo = Demo(workdir, home, emulator, handler)
    try:
        # Loopback is shared by every account on this host: any of them reaches the port; the admin
        # side (directories, tokens, login checks) answers only this process, which holds its key.
        say(_("Identity emulator on {url} (every local account can reach it; its admin side "
              "needs a key only this demo holds)").format(url=emulator.url), flush=True)
        name = "Demo directory"
        try:
            created = httpx.post(f"{emulator.url}/admin/directories", json={"name": name}, timeout=10,
                                 headers=emulator.admin_headers)
            created.raise_for_status()
        except httpx.HTTPError as exc:
            raise UserError(_("the demo's Identity emulator did not answer: {reason}").format(reason=exc)) from None
        demo.identity_directory = created.json()["id"]
        token = created.json()["token"]
        settings = AppSettings(
            identity=IdentitySettings(protocol="http", environment=emulator.url.removeprefix("http://")),
            # The emulator is on 127.0.0.1: a proxy from the environment must not be asked for it.
            proxy=ProxySettings(mode="none"),
            sync=SyncSettings(delta_interval_seconds=DEMO_DELTA_SECONDS),
        )
        secrets = SecretStore(home.secrets_file)
        want_samba = _samba_wanted() if use_samba is None else use_samba
        if not (want_samba and _start_samba(demo)):
            _start_memory(demo)
        if not _add_directory(demo, settings, secrets, token):
            # Without its directory the demo would only show an empty console.
            demo.trickle = None
        else:
            demo.logins = LoginTrickle(emulator.url, demo.identity_directory, _login_checks(demo),
                                       interval=DEMO_LOGIN_SECONDS, headers=emulator.admin_headers)
        save_settings(home.settings_file, settings)
    except BaseException:
        demo.close()
        raise
    return demo


_CLEANUP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGHUP", "SIGTERM") if hasattr(signal, name))


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run() -> int:
    from smartsync_tui.ui.app import run_console

    try:
        demo = prepare()
    except UserError as exc:
        # Its own emulator or directory did not come up: it could not run (exit 2, from main).
        raise CliError(_("the demo could not start: {reason}").format(reason=exc), kind="unreachable") from None
    # Closing the terminal (SIGHUP) or a kill (SIGTERM) must still take the DC,
    # the emulator and the files down: turn them into an exit that runs `finally`.
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in _CLEANUP_SIGNALS}
    try:
        if demo.trickle is not None:
            demo.trickle.start()
        if demo.logins is not None:
            demo.logins.start()
        # Open where things move: the directory table and the live log.
        return run_console(demo.home, initial_tab="directories", show_log=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        demo.close()
        if demo.dc is not None:
            say(_("Demo stopped; its emulator, Samba DC and files were removed."))
        else:
            say(_("Demo stopped; its emulator, in-memory directory and files were removed."))

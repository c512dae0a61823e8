"""The demo's trickle of login checks: users logging in to Identity.

Every few seconds a background thread plays Identity's part: it asks, through
the emulator's admin endpoint, for one login check (the emulator encrypts the
password to the agent's public key), cycling through right and wrong
passwords and an unknown user, so the console's log shows pass-through
authentication at work. It only asks; the agent's command loop answers, and
its own log line says how. No password is ever logged here.
"""

from __future__ import annotations

import itertools
import logging
import threading

import httpx

from smartsync_tui.i18n import _

log = logging.getLogger("smartsync.demo")


class LoginTrickle:
    """Ask for one check of ``checks`` (login, password) every ``interval`` seconds, round and round."""

    def __init__(self, emulator_url: str, identity_directory: str, checks: list[tuple[str, str]], *,
                 interval: float = 7.0, headers: dict[str, str] | None = None) -> None:
        self.url = f"{emulator_url}/admin/directories/{identity_directory}/login-checks"
        self.headers = headers or {}  # the emulator's admin key
        self.checks = checks
        self.interval = interval
        self.asked: list[str] = []  # the logins asked for, in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-logins", daemon=True)

    def start(self) -> "LoginTrickle":
        self._thread.start()
        return self

    def ask(self, login: str, password: str) -> bool:
        """One check; False while the agent has not published its key yet (Identity then cannot ask)."""
        response = httpx.post(self.url, json={"login": login, "password": password}, timeout=10, headers=self.headers)
        if response.status_code == 409:
            return False
        response.raise_for_status()
        self.asked.append(login)
        # Not the login itself: the agent's own line names it, masked when AD does not know it
        # (it may be a password typed in the login field), and the demo must not undo that.
        log.info("%s", _("demo: Identity asks the agent for a login check"))
        return True

    def _run(self) -> None:
        for login, password in itertools.cycle(self.checks):
            if self._stop.wait(self.interval):
                return
            try:
                self.ask(login, password)
            except httpx.HTTPError as exc:  # the demo goes on without this check
                log.warning("%s", _("demo: a login check could not be asked for: {error}").format(error=exc))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

"""The service manager's side of the engine: systemd's notification protocol (sd_notify(3)).

With ``Type=notify`` (docs/smartsync-tui.service) systemd gives the engine a datagram socket in
``NOTIFY_SOCKET``; the engine says ``READY=1`` once its settings are read and its channel is up,
``STATUS=`` after each run (the one line ``systemctl status`` shows), ``WATCHDOG=1`` from the
scheduler's own loop (a wedged scheduler stops pinging, and systemd restarts it), ``RELOADING=1``
around a SIGHUP's re-read of the settings, and ``STOPPING=1`` when a stop begins.

Without ``NOTIFY_SOCKET`` (a console, a shell, Windows: docs/windows.md) every call does nothing.
The protocol is a few lines over a Unix datagram socket: no library is needed for it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

log = logging.getLogger("smartsync.engine")


class ServiceNotifier:
    """Tells the service manager how the engine is; a no-op without one."""

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self._address = address
        # Pinged at half the manager's timeout, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._last_ping = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> "ServiceNotifier":
        """From systemd's variables, taken out of the environment (a child process must not speak
        for the engine); the watchdog only when it is meant for this process (WATCHDOG_PID)."""
        address = os.environ.pop("NOTIFY_SOCKET", None) or None
        usec = os.environ.pop("WATCHDOG_USEC", None)
        pid = os.environ.pop("WATCHDOG_PID", None)
        watchdog = int(usec) if usec and usec.isdigit() and int(usec) > 0 and pid in (None, str(os.getpid())) else None
        return cls(address, watchdog_usec=watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: str) -> None:
        """One notification (``READY="1"``, ``STATUS="..."``); a failure is logged, never raised:
        the engine must not stop syncing because the manager went away."""
        if self._address is None:
            return
        text = "\n".join(f"{key}={_one_line(value)}" for key, value in fields.items())
        address = "\0" + self._address[1:] if self._address.startswith("@") else self._address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(text.encode("utf-8"), address)
        except OSError as exc:
            log.debug("service manager notification failed: %s", type(exc).__name__)

    def ready(self, status: str | None = None) -> None:
        self.send(READY="1", **({"STATUS": status} if status else {}))

    def status(self, text: str) -> None:
        self.send(STATUS=text)

    def reloading(self) -> None:
        # systemd 253+ wants the time with it (Type=notify-reload); older ones ignore it.
        self.send(RELOADING="1", MONOTONIC_USEC=str(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000))

    def stopping(self) -> None:
        self.send(STOPPING="1")

    def watchdog(self) -> None:
        """A ping, at most every half timeout (called from each turn of the scheduler's loop)."""
        if self.watchdog_interval is None or self._address is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last_ping < self.watchdog_interval:
                return
            self._last_ping = now
        self.send(WATCHDOG="1")


def _one_line(value: str) -> str:
    """A field's value is one line: a newline would start another field."""
    return " ".join(str(value).split())[:500]


#: The engine's notifier when no service manager is there.
NO_MANAGER = ServiceNotifier(None)

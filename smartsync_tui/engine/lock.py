"""One engine per home: an exclusive lock on ``<data_dir>/engine.lock``.

Whoever runs the sync scheduler (``smartsync-tui run``, or a console that
starts its own workers) holds an exclusive ``flock`` on that file for its
whole life and writes who it is in it as JSON::

    {"pid": 1234, "started_at": "2026-11-27T14:02:11-03:00", "host": "agent01",
     "version": "0.1.0", "mode": "run"}

The kernel drops the lock when the process dies, however it dies (``kill
-9`` included), so a file left behind by a dead engine never blocks the next
one: the lock, not the PID in the file, says whether an engine runs. The file
itself is never removed (removing it would let two processes lock two
different files of the same name); a released lock leaves it empty.

- :func:`acquire` takes the lock or raises :class:`EngineRunning`, whose
  message names the running engine and says what to do.
- :func:`read_holder` tells who holds it (``None`` when nobody does), without
  keeping it: what a console checks to decide whether to attach.

Nothing here imports textual.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from smartsync_tui import __version__
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.file_protection import open_private
from smartsync_tui.config.paths import Home
from smartsync_tui.i18n import _

try:
    import fcntl
except ImportError:  # Windows: msvcrt below
    fcntl = None  # type: ignore[assignment]
    import msvcrt

EngineMode = Literal["run", "console"]
LOCK_FILE = "engine.lock"
# A holder writes its body right after it took the lock; a reader that finds
# the lock taken and the file still empty waits this long for the body.
_BODY_WAIT_SECONDS = 1.0
# Windows only: the byte that is locked, far past the JSON body so the body stays readable.
_WINDOWS_LOCK_OFFSET = 1 << 30
# Without shared locks: how long a reader keeps trying before it takes the lock for an engine's.
_READER_RETRY_SECONDS = 0.2


def lock_path(home: Home) -> Path:
    return home.data_dir / LOCK_FILE


class EngineRunning(UserError):
    """Another engine holds this home's lock; ``holder`` is what it wrote (maybe partial)."""

    kind = "engine-running"

    def __init__(self, holder: dict[str, Any], path: Path) -> None:
        super().__init__(describe_running(holder))
        self.holder = holder
        self.path = path

    @property
    def pid(self) -> int | None:
        pid = self.holder.get("pid")
        return pid if isinstance(pid, int) else None


def describe_running(holder: dict[str, Any]) -> str:
    """The sentence an admin reads when an engine already runs for the home."""
    pid = holder.get("pid")
    mode = holder.get("mode")
    # "smartsync-tui run" is the command's name: it stays as typed in every language.
    what = _("the smartsync-tui console") if mode == "console" else "smartsync-tui run"
    details = [what]
    started = _shown_time(holder.get("started_at"))
    if started:
        details.append(_("started {time}").format(time=started))
    host = holder.get("host")
    if host and host != socket.gethostname():
        details.append(_("on host {host}").format(host=host))
    listed = ", ".join(details)
    who = f"pid {pid} ({listed})" if pid else f"({listed})"
    kill = f"kill {pid}" if pid else _("stop that process")
    if mode == "console":
        advice = _("close that console first (or {kill})").format(kill=kill)
    else:
        advice = _("stop it first (systemctl stop smartsync-tui, or {kill}) "
                   "or open the console to attach to it").format(kill=kill)
    return _("an engine is already running for this home: {who}; {advice}").format(who=who, advice=advice)


def _shown_time(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


@dataclass
class EngineLock:
    """The held lock. Release it with :meth:`release` or by leaving a ``with`` block."""

    path: Path
    holder: dict[str, Any]
    _fd: int | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return int(self.holder["pid"])

    @property
    def mode(self) -> str:
        return str(self.holder["mode"])

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the file and drop the lock (idempotent). Dying releases it as well."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            _unlock(fd)
            os.close(fd)

    def __enter__(self) -> "EngineLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a lock object dropped without release (tests): do not leak the fd
        try:
            self.release()
        except Exception:
            pass


def acquire(home: Home, mode: EngineMode = "run") -> EngineLock:
    """Take the home's engine lock for this process, or raise :class:`EngineRunning`."""
    if mode not in ("run", "console"):
        raise ValueError(f"unknown engine mode {mode!r}")
    home.ensure()
    path = lock_path(home)
    deadline = time.monotonic() + _BODY_WAIT_SECONDS
    while True:
        fd = _open(path)
        if _try_lock(fd, exclusive=True):
            break
        holder = _read_body(fd)
        os.close(fd)
        # An empty body: the holder is writing it, or a reader (read_holder)
        # holds the lock for an instant. Try again for a short while. Without shared
        # locks (Windows) any reader holds it exclusively for an instant, whatever the
        # file says (a dead engine's body stays in it): try again in every case.
        if (holder is None or not PRIMITIVES.shared) and time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        raise EngineRunning(holder or {}, path)
    holder = {
        "pid": os.getpid(),
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "version": __version__,
        "mode": mode,
    }
    try:
        body = (json.dumps(holder) + "\n").encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, body)
        os.fsync(fd)
    except BaseException:
        _unlock(fd)
        os.close(fd)
        raise
    return EngineLock(path, holder, fd)


def read_holder(home: Home) -> dict[str, Any] | None:
    """Who holds the home's engine lock: its JSON body, or ``None`` when no engine runs.

    The answer comes from the lock itself (a non-blocking try, released at
    once), never from the PID in the file, so a dead engine's file reads as
    free. A holder that has not written its body yet reads as ``{}``.
    """
    path = lock_path(home)
    if not path.exists():
        return None
    try:
        fd = _open(path)
    except OSError:
        return None
    try:
        # A shared lock: two readers at once do not see each other as an engine. Without
        # shared locks, another reader holds it for an instant: tried again for a moment
        # before the lock is taken as an engine's.
        tries_until = time.monotonic() + (0 if PRIMITIVES.shared else _READER_RETRY_SECONDS)
        while not _try_lock(fd, exclusive=False):
            if time.monotonic() >= tries_until:
                break
            time.sleep(0.005)
        else:
            _unlock(fd)
            return None
        deadline = time.monotonic() + _BODY_WAIT_SECONDS
        while True:
            holder = _read_body(fd)
            if holder is not None or time.monotonic() >= deadline:
                return holder or {}
            time.sleep(0.05)
    finally:
        os.close(fd)


# -- the platform's locks


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Not inherited by child processes: a child never keeps the lock alive. Never through a
    # link: the holder's body is written into the file, wherever a planted link would point.
    return open_private(path, os.O_RDWR | os.O_CREAT)


class LockPrimitives:
    """The platform's seam (docs/windows.md): try a lock on an open file without waiting, and release it.

    POSIX has shared and exclusive ``flock`` locks; Windows' ``msvcrt.locking`` has only an
    exclusive one, so there a reader takes it for an instant and :func:`acquire` retries for a
    short while when it meets one (the same code runs on both; tests/test_platform_seams.py
    runs it with exclusive-only primitives).
    """

    shared: bool = True  # whether a reader's lock lets other readers in

    def try_lock(self, fd: int, *, exclusive: bool) -> bool:
        raise NotImplementedError

    def unlock(self, fd: int) -> None:
        raise NotImplementedError


class FlockPrimitives(LockPrimitives):
    def try_lock(self, fd: int, *, exclusive: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class MsvcrtPrimitives(LockPrimitives):
    shared = False

    def try_lock(self, fd: int, *, exclusive: bool) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(self, fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass


PRIMITIVES: LockPrimitives = FlockPrimitives() if fcntl is not None else MsvcrtPrimitives()


def _try_lock(fd: int, *, exclusive: bool) -> bool:
    return PRIMITIVES.try_lock(fd, exclusive=exclusive)


def _unlock(fd: int) -> None:
    PRIMITIVES.unlock(fd)


def _read_body(fd: int) -> dict[str, Any] | None:
    """The holder's JSON, or None while it is empty or half written."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 64 * 1024)
    except OSError:
        return None
    if not raw.strip():
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None

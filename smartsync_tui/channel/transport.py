"""Where the control channel's bytes go: the platform's seam under the protocol (docs/windows.md).

The protocol (channel/control_channel.py: JSON lines, one request, one reply) runs over a
:class:`Transport`: something that listens for the engine, connects for a client, and says
whether the process on the other end may use the channel. On Linux and macOS that is
:class:`UnixSocketTransport`, a Unix socket in the data dir, 0600, with the peer's uid checked
where the kernel tells it (``SO_PEERCRED``). On a system without Unix sockets (a Windows whose
Python has no ``AF_UNIX``) there is no transport yet: :func:`for_this_system` returns one that is
not available, and the engine runs without a channel (docs/windows.md says what a named-pipe
transport must do).

A connection is anything with ``settimeout``, ``makefile("rb")``, ``sendall`` and ``close``
(a socket is one).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import _

if TYPE_CHECKING:
    from smartsync_tui.config.paths import Home

log = logging.getLogger("smartsync.channel")

SOCKET_NAME = "engine.sock"
# Linux's sun_path is 108 bytes with the terminating NUL.
_MAX_PATH_BYTES = 107


class ChannelError(UserError):
    """The channel could not carry a request (the engine is away, refused it, or failed on it)."""

    kind = "channel"


class ChannelUnavailable(ChannelError):
    """No transport on this system, or its address cannot be used."""


class NoChannel(OSError):
    """Nothing listens at the transport's address (no file there): no engine serves a channel."""


class Connection(Protocol):
    def settimeout(self, seconds: float | None) -> None: ...

    def makefile(self, mode: str) -> Any: ...

    def sendall(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


class Listener(Protocol):
    def accept(self) -> Connection:
        """The next connection; OSError once closed."""
        ...

    def close(self) -> None:
        """Stop listening and remove what :meth:`Transport.listen` created (idempotent)."""
        ...


class Transport:
    """What the protocol needs of a platform. Subclasses implement every method."""

    name = "none"

    def available(self) -> bool:
        """Whether this transport can work on this system."""
        return False

    def address(self, home: "Home") -> Path:
        """Where the engine of ``home`` listens (shown in messages)."""
        return home.data_dir / SOCKET_NAME

    def listen(self, home: "Home") -> Listener:
        """Listen for ``home``'s engine; :class:`ChannelError` saying why when it cannot."""
        raise ChannelUnavailable(_("the control channel is not available on this system (no Unix sockets)"))

    def connect(self, home: "Home", timeout: float) -> Connection:
        """A connection to ``home``'s engine; :class:`NoChannel` when none listens, OSError else."""
        raise ChannelUnavailable(_("the control channel is not available on this system (no Unix sockets)"))

    def refusal(self, conn: Connection) -> str | None:
        """Why the process on the other end may not use the channel (for the log), or None."""
        return None


class UnixSocketTransport(Transport):
    """A Unix socket at ``<data dir>/engine.sock``, 0600 in a 0700 folder, the peer's uid checked.

    Only the lock holder creates the socket; a socket file left by a dead engine (nobody
    answers on it) is replaced, one that answers is never touched.
    """

    name = "unix"

    def available(self) -> bool:
        return hasattr(socket, "AF_UNIX")

    def listen(self, home: "Home") -> Listener:
        path = self.address(home)
        check_path_length(path)
        home.ensure()
        _make_private(home.data_dir)
        _remove_if_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            # Before listen(): nobody can connect until the mode is ours alone.
            os.chmod(path, 0o600)
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise ChannelError(_("cannot create the control channel at {path}: {reason}").format(
                path=path, reason=exc.strerror or exc)) from None
        return _UnixListener(sock, path)

    def connect(self, home: "Home", timeout: float) -> Connection:
        path = self.address(home)
        check_path_length(path)
        if not path.exists():
            raise NoChannel(errno.ENOENT, str(path))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except BaseException:
            sock.close()
            raise
        return sock

    def refusal(self, conn: Connection) -> str | None:
        uid = peer_uid(conn)  # type: ignore[arg-type]
        if uid is not None and uid != os.geteuid():
            return _("control channel: refused a connection from uid {uid} (only uid {me} may use it)").format(
                uid=uid, me=os.geteuid())
        return None


class _UnixListener:
    def __init__(self, sock: socket.socket, path: Path) -> None:
        self._sock: socket.socket | None = sock
        self.path = path

    def accept(self) -> Connection:
        sock = self._sock
        if sock is None:
            raise OSError(errno.EBADF, "closed")
        conn, _address = sock.accept()
        return conn

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            # Remove before closing: a new engine's socket of the same name is never ours to remove.
            if _same_socket(self.path, sock):
                self.path.unlink()
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def for_this_system() -> Transport:
    """The transport this system offers: the Unix socket where there are Unix sockets, else none."""
    unix = UnixSocketTransport()
    return unix if unix.available() else Transport()


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process on the other end (Linux: SO_PEERCRED); None where it cannot be asked."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None  # macOS and the BSDs: the socket's 0600 mode is the only check
    try:
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    except OSError:
        return None
    return uid


def check_path_length(path: Path) -> None:
    if len(os.fsencode(path)) > _MAX_PATH_BYTES:
        raise ChannelUnavailable(
            _("the control channel's path {path} is longer than Unix sockets allow ({limit} bytes): "  # not a count
              "use a shorter --home (or SMARTSYNC_HOME)").format(path=path, limit=_MAX_PATH_BYTES)
        )


def _make_private(folder: Path) -> None:
    """The data dir holds the state store and the socket: the user's alone."""
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        os.chmod(folder, mode & 0o700)
        log.info(_("control channel: {path} was open to other users (mode {mode}); it is now {new}").format(
            path=folder, mode=f"{mode:o}", new=f"{mode & 0o700:o}"))


def _remove_if_stale(path: Path) -> None:
    """Remove a socket file nobody answers on; refuse when someone does, or when it is not a socket."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ChannelError(_("{path} exists and is not a socket: move it away, then restart the engine").format(path=path))  # not a count
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise ChannelError(_("cannot check the old control channel at {path}: {reason}").format(
                path=path, reason=exc.strerror or exc)) from None
    else:
        raise ChannelError(
            _("another process answers on {path}: is a second engine running for this home?").format(path=path)
        )
    finally:
        probe.close()
    try:
        path.unlink()
        log.info(_("control channel: removed the stale socket {path} (its engine is gone)").format(path=path))
    except FileNotFoundError:
        pass


def _same_socket(path: Path, sock: socket.socket) -> bool:
    """Whether the file at ``path`` is still the one ``sock`` is bound to."""
    try:
        return path.is_socket() and sock.getsockname() == str(path)
    except OSError:
        return False

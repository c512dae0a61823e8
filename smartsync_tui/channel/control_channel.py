"""The engine's local control channel: how an attached console drives the engine.

Whoever holds the home's engine lock (``smartsync-tui run``, or a console that
syncs itself) serves a Unix socket at ``<data dir>/engine.sock``. A console
that attached to that engine sends its requests there: sync now, full sync,
allow held disables, forget a deleted directory, reload the settings.

Who can use it: only the OS user the engine runs as. The data dir is 0700,
the socket 0600, and on Linux the server also asks the kernel who is on the
other end (``SO_PEERCRED``) and refuses any other uid (root included: a root
console would write files the service user cannot read). Only the lock holder
creates the socket; a socket file left by a dead engine (nobody answers on it)
is replaced, one that answers is never touched.

Protocol: JSON lines. The client connects, writes one request object on one
line (UTF-8, at most 64 KiB), reads one reply line, and closes::

    {"op": "ping"}
        -> {"ok": true, "pid": 1234, "version": "0.1.0", "protocol": 1}
    {"op": "status"}
        -> {"ok": true, "directories": {"corp": {"running": false, "queued": false,
            "next_run_at": 1764255000.0, "failures_in_a_row": 0, "last_outcome": "ok"}}}
    {"op": "sync", "directory": "corp", "full": false, "allow_deletes": false}
        -> {"ok": true}                 (the run starts now, or right after the one in flight)
    {"op": "forget", "directory": "corp"}
        -> {"ok": true}                 (the directory must be gone from appsettings.json already:
                                          its run in flight stops after its batch, then its
                                          state-store rows and its secrets directory/<id>/ go)
    {"op": "reload"}
        -> {"ok": true, "changed": true} (appsettings.json re-read if it changed)
    {"op": "health"}
        -> {"ok": true, "health": {...}, "directories": {"corp": {"status": "pass", "state": "idle",
            "last_success_at": ..., "pending": 0, "held": 0, ...}}}
                                         (what `smartsync-tui status` shows: the /health document
                                          of docs/monitoring.md and each directory's figures)

Any failure is a reply, never a dropped connection: ``{"ok": false, "error":
"<a sentence for the admin>", "kind": "input"|"refused"|"protocol"|"error"}``
(bad JSON, an unknown op, a missing field, a refused uid, an error of the
engine). Several requests may be sent on one connection, one line each.

The bytes go over a transport (channel/transport.py, the platform's seam): a Unix
socket on Linux and macOS. Where the system offers none (a Windows whose Python has
no ``AF_UNIX``; docs/windows.md), :meth:`ControlServer.start` raises
:class:`ChannelUnavailable` (the engine runs without the channel and logs why) and
:func:`request` raises it too: an attached console then only watches.

Nothing here imports textual.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from smartsync_tui import __version__
from smartsync_tui.channel import transport
from smartsync_tui.channel.transport import (  # noqa: F401 (ChannelError, ChannelUnavailable, peer_uid: the channel's API)
    ChannelError,
    ChannelUnavailable,
    Connection,
    Listener,
    NoChannel,
    Transport,
    for_this_system,
    peer_uid,
)
from smartsync_tui.core.errors import UserError
from smartsync_tui.config.paths import Home
from smartsync_tui.i18n import _, number

log = logging.getLogger("smartsync.channel")

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 64 * 1024
# A client that connects and says nothing does not hold a server thread for long.
IDLE_SECONDS = 10.0
# What a request may take: a forget waits for the batch in flight, the others answer at once.
DEFAULT_TIMEOUT = 10.0
FORGET_TIMEOUT = 120.0


def socket_path(home: Home) -> Path:
    """Where this system's transport listens for ``home``'s engine (the Unix socket's path)."""
    return transport.for_this_system().address(home)


def available() -> bool:
    """Whether this system has a transport for the channel (Unix sockets: every Linux and macOS)."""
    return transport.for_this_system().available()


class ChannelHandler(Protocol):
    """What an engine does for the channel. Called from the channel's threads.

    Raise :class:`UserError` with a sentence for the admin when a request
    cannot be done; anything else is logged and answered as an unexpected error.
    """

    def status(self) -> dict[str, dict[str, Any]]: ...

    def sync(self, directory: str, *, full: bool, allow_deletes: bool) -> None: ...

    def forget(self, directory: str) -> None: ...

    def reload(self) -> bool: ...

    def health(self) -> dict[str, Any]: ...


# -- the server


class ControlServer:
    """Serves ``handler`` on the home's channel from a daemon thread; :meth:`close` stops it.

    ``transport``: where the bytes go (channel/transport.py), this system's by default.
    """

    def __init__(self, home: Home, handler: ChannelHandler, *, transport: Transport | None = None) -> None:
        self.home = home
        self.transport = transport or for_this_system()
        self.path = self.transport.address(home)
        self.handler = handler
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> Path:
        """Start listening and answering; raises :class:`ChannelError` when it cannot."""
        if not self.transport.available():
            raise ChannelUnavailable(_("the control channel is not available on this system (no Unix sockets)"))
        self._listener = self.transport.listen(self.home)
        self._thread = threading.Thread(target=self._accept_loop, name="control-channel", daemon=True)
        self._thread.start()
        return self.path

    def close(self) -> None:
        """Stop answering and remove what the transport created (idempotent)."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._closing.set()
        listener.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def __enter__(self) -> ControlServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn = listener.accept()
            except OSError:
                if self._closing.is_set():
                    return
                log.exception(_("the control channel stopped accepting connections"))
                return
            threading.Thread(target=self._serve, args=(conn,), name="control-channel-client", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            conn.settimeout(IDLE_SECONDS)
            refusal = self.transport.refusal(conn)
            if refusal is not None:
                log.warning("%s", refusal)
                # The request line is read (and ignored) first: closing with it unread could
                # reset the connection before the caller reads why it was refused.
                conn.settimeout(1.0)
                try:
                    conn.makefile("rb").readline(MAX_LINE_BYTES + 1)
                except (OSError, ValueError):
                    pass
                _send(conn, _error("refused", _("refused: only the user the engine runs as may use its control channel")))
                return
            reader = conn.makefile("rb")
            while not self._closing.is_set():
                try:
                    line = reader.readline(MAX_LINE_BYTES + 1)
                except (OSError, ValueError):  # idle too long, or the client went away
                    return
                if not line:
                    return
                if len(line) > MAX_LINE_BYTES:
                    _send(conn, _error("protocol", _("the request is longer than {limit} bytes").format(  # not a count
                        limit=MAX_LINE_BYTES)))
                    return
                if not _send(conn, self.answer(line)):
                    return

    def answer(self, line: bytes) -> dict[str, Any]:
        """The reply to one request line (never raises)."""
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error("protocol", _("the request is not a JSON object on one line"))
        if not isinstance(request, dict):
            return _error("protocol", _("the request is not a JSON object on one line"))
        op = request.get("op")
        try:
            return {"ok": True, **self._dispatch(op, request)}
        except UserError as exc:
            return _error(exc.kind if exc.kind in ("input", "refused") else "error", str(exc))
        except Exception as exc:
            log.exception(_("control channel: {op!r} failed").format(op=op))
            return _error("error", _("the engine failed on '{op}': unexpected {error} (see its application log)").format(
                op=op, error=type(exc).__name__))

    def _dispatch(self, op: object, request: dict[str, Any]) -> dict[str, Any]:
        if op == "ping":
            return {"pid": os.getpid(), "version": __version__, "protocol": PROTOCOL_VERSION}
        if op == "status":
            return {"directories": self.handler.status()}
        if op == "sync":
            directory = _directory_of(request)
            full, allow_deletes = _flag(request, "full"), _flag(request, "allow_deletes")
            log.info(_asked(full, allow_deletes).format(id=directory))
            self.handler.sync(directory, full=full, allow_deletes=allow_deletes)
            return {}
        if op == "forget":
            directory = _directory_of(request)
            log.info(_("control channel: forgetting {id} asked").format(id=directory))
            self.handler.forget(directory)
            return {}
        if op == "reload":
            return {"changed": bool(self.handler.reload())}
        if op == "health":
            return self.handler.health()
        raise _ProtocolError(_("unknown op {op!r}: ping, status, health, sync, forget and reload are known").format(
            op=op))


def _asked(full: bool, allow_deletes: bool) -> str:
    """The log line of a sync asked on the channel, with an ``{id}`` field."""
    if full:
        return (_("control channel: full sync of {id} asked, allowing the held disables") if allow_deletes
                else _("control channel: full sync of {id} asked"))
    return (_("control channel: sync of {id} asked, allowing the held disables") if allow_deletes
            else _("control channel: sync of {id} asked"))


class _ProtocolError(UserError):
    kind = "input"


def _directory_of(request: dict[str, Any]) -> str:
    directory = request.get("directory")
    if not isinstance(directory, str) or not directory:
        raise _ProtocolError(_("'{op}' needs \"directory\": the directory's id").format(op=request.get("op")))
    return directory


def _flag(request: dict[str, Any], name: str) -> bool:
    value = request.get(name, False)
    if not isinstance(value, bool):
        raise _ProtocolError(_("\"{name}\" must be true or false").format(name=name))
    return value


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "kind": kind}


def _send(conn: Connection, reply: dict[str, Any]) -> bool:
    try:
        conn.sendall((json.dumps(reply) + "\n").encode("utf-8"))
    except OSError:
        return False
    return True


# -- the client


def request(home: Home, message: dict[str, Any], *, engine_pid: int | None = None,
            timeout: float = DEFAULT_TIMEOUT, transport: Transport | None = None) -> dict[str, Any]:
    """Send one request to the home's engine and return its reply (``"ok": true``).

    Every failure is a :class:`ChannelError` whose message says what to do.
    """
    via = transport or for_this_system()
    path = via.address(home)
    who = _("the engine (pid {pid})").format(pid=engine_pid) if engine_pid else _("the engine")
    if not via.available():
        raise ChannelUnavailable(
            _("the control channel is not available on this system (no Unix sockets): {who} syncs on its "  # not a count
              "schedule; use smartsync-tui sync --directory ID to sync now").format(who=who)
        )
    try:
        try:
            conn = via.connect(home, timeout)
        except NoChannel:
            raise ChannelError(
                _("{who} has no control channel at {path}: is it still running? (an engine of an older version, "
                  "or a `run --once` pass, serves none)").format(who=who, path=path)
            ) from None
        with conn:
            conn.settimeout(timeout)
            try:
                conn.sendall((json.dumps(message) + "\n").encode("utf-8"))
            except (BrokenPipeError, ConnectionResetError):
                pass  # an engine that refuses this user answers and closes without reading: its answer is there
            raw = conn.makefile("rb").readline(MAX_LINE_BYTES + 1)
    except PermissionError:
        raise ChannelError(
            _("{who} refused this user on {path}: open the console as the user the engine runs as "
              "(e.g. sudo -u smartsync smartsync-tui)").format(who=who, path=path)
        ) from None
    except TimeoutError:
        raise ChannelError(
            _("{who} does not answer on {path} (no reply in {seconds} s): is it still running? "
              "Look at its application log, or restart it").format(who=who, path=path, seconds=number(timeout, None))
        ) from None
    except OSError as exc:
        raise ChannelError(
            _("{who} does not answer on {path}: is it still running? ({reason}); "
              "start it again (systemctl start smartsync-tui) or reopen the console").format(
                who=who, path=path, reason=exc.strerror or exc)
        ) from None
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        reply = None
    if not isinstance(reply, dict):
        raise ChannelError(
            _("{who} closed the channel at {path} without a proper answer: look at its application log").format(
                who=who, path=path)
        )
    if not reply.get("ok") and reply.get("kind") == "refused":
        raise ChannelError(_("{who} refused this user on {path}: open the console as the user the engine runs as").format(
            who=who, path=path), kind="refused")
    if not reply.get("ok"):
        raise ChannelError(_("{who} could not do it: {reason}").format(who=who, reason=reply.get("error") or _("no reason given")),
                           kind=str(reply.get("kind") or "channel"))
    return reply


def serve(home: Home, handler: ChannelHandler) -> ControlServer | None:
    """Start a server for ``handler``, or log why it cannot and return None (the engine syncs on)."""
    server = ControlServer(home, handler)
    try:
        server.start()
    except UserError as exc:
        log.warning(_("control channel not started: {reason}; attached consoles can only watch").format(reason=exc))
        return None
    return server

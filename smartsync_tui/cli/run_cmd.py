"""`smartsync-tui run [--once]`: the engine, headless (systemd, nohup, tmux).

Takes the home's engine lock (one engine per home; a second `run` exits 2
naming the first), then syncs every enabled directory on its schedule until
SIGTERM or SIGINT. The first signal lets the batches in flight finish (an
answer from Identity still awaited after a few seconds, as from a server that
drips it, is cut: what it carried stays pending), leaves the state store
consistent and exits 0; a second one, a second or more later,
exits at once with 130 (nothing is lost either way: the next run sends what is
still pending; a signal repeated within the second is the same stop, as when
a process-group kill and a wrapper both deliver it).
appsettings.json is re-read when it changes, so directories added or edited
with the CLI are picked up without a restart. With no enabled directory it
keeps running and waits for one.

`--once` runs each enabled directory once, in parallel, and exits with the
codes of `sync` (for cron and tests).

It runs the engine service (engine/service.py), the same one a console that
holds the lock runs. While it runs (not with `--once`) it serves the control channel
(channel/control_channel.py) on `<data dir>/engine.sock`, so an attached console
can ask for a sync, allow held disables or forget a deleted directory. A
channel that cannot be served is a warning, not a reason to stop syncing.

Lifecycle lines go to standard output and warnings to standard error (the
journal under systemd); everything is in the application log.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from types import FrameType

from smartsync_tui import __version__
from smartsync_tui.cli.context import CliContext
from smartsync_tui.cli.exit_codes import INTERRUPTED, OK
from smartsync_tui.cli.output import say
from smartsync_tui.engine import lock as engine_lock
from smartsync_tui.engine.notify import ServiceNotifier
from smartsync_tui.targets.identity import network as identity_network
from smartsync_tui.core.errors import InputError
from smartsync_tui.logs.setup import LOG_DATE_FORMAT, LOG_FORMAT
from smartsync_tui.core.redaction import install_log_redaction
from smartsync_tui.engine.service import EngineService
from smartsync_tui.i18n import _

if TYPE_CHECKING:
    from smartsync_tui.status.server import StatusServer

log = logging.getLogger("smartsync.engine")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A second signal this soon after the first is taken as the same stop, not as "now".
_SAME_STOP_SECONDS = 1.0
# After a stop, answers from Identity still awaited this long are cut (systemd's
# TimeoutStopSec is 90 s by default; an admin's Ctrl-C expects less).
STOP_GRACE_SECONDS = identity_network.STOP_GRACE_SECONDS
# ...and again this often, for a request started after the cut (a login check's result).


def _status_server(say_line: Callable[[str], None]) -> Callable[[EngineService], StatusServer | None]:
    """The health and metrics endpoints (status/server.py), started once the channel is up."""
    def start(service: EngineService) -> StatusServer | None:
        from smartsync_tui.status import server  # prometheus_client only for an engine that serves it

        return server.serve(service, say_line)
    return start


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        lock = engine_lock.acquire(ctx.home, "run")
    except engine_lock.EngineRunning as exc:
        log.warning(_("run refused: {reason}").format(reason=exc))
        raise  # reported by main: kind "busy", exit 2
    with lock:
        stderr_handler = _warnings_to_stderr()
        try:
            return _run_locked(ctx, args, lock)
        finally:
            logging.getLogger("smartsync").removeHandler(stderr_handler)


def _run_locked(ctx: CliContext, args: argparse.Namespace, lock: engine_lock.EngineLock) -> int:
    stop = threading.Event()
    if not args.once:
        # systemd's notifications (Type=notify, docs/service.md); nothing without a service manager.
        notifier = ServiceNotifier.from_environment()
        signals: list[int] = []
        previous = _install_signal_handlers(stop, signals, on_stop=notifier.stopping)
        try:
            code = serve_engine(ctx, stop, notifier, lock=lock,
                                on_service=lambda service: _reload_on_sighup(service, previous))
        finally:
            _restore(previous)
        _say_stopped(signals)
        return code
    # Loads appsettings.json: a broken file refuses the start (exit 2) rather than guessing.
    service = EngineService(ctx.home, secrets=ctx.secrets, stop_event=stop, serve_channel=False, say=_say)
    directories = service.scheduler.directory_ids
    if not directories:
        raise InputError("directory", _("no enabled directory to sync: add one with `smartsync-tui directory add`"))
    signals: list[int] = []
    previous = _install_signal_handlers(stop, signals)
    finished = _cut_reads_once_stopped(stop)
    try:
        _say(_("engine started (pid {pid}, home {home}, directories: {directories}, version {version}, once)"
               ).format(**_started(ctx, lock, directories)))
        results = service.run_once()
        code = max((r.exit_code for r in results), default=OK)
    finally:
        finished.set()
        _restore(previous)
    _say_stopped(signals)
    return code


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _say_stopped(signals: list[int]) -> None:
    """The engine's last line, once it ran (which signal stopped it)."""
    _say(_("engine stopped ({signal})").format(signal=signal.Signals(signals[0]).name) if signals
         else _("engine stopped"))


def serve_engine(ctx: CliContext, stop: threading.Event, manager: ServiceNotifier, *,
                 lock: engine_lock.EngineLock | None = None,
                 on_service: Callable[[EngineService], None] | None = None) -> int:
    """The engine, until ``stop`` is set: the service entry point (docs/windows.md).

    ``run`` calls it with systemd's notifier and its signal handlers setting ``stop``; a
    Windows service's ``SvcDoRun`` calls it with the Service Control Manager's, ``SvcStop``
    setting ``stop``. ``manager`` hears ready, status, watchdog, reloading (engine/notify.py);
    saying ``stopping`` is the caller's, when it decides to stop. Without ``lock`` it takes the
    home's engine lock itself (:class:`~smartsync_tui.engine.lock.EngineRunning` if another
    engine holds it) and releases it on return. Returns the exit code (0).
    """
    if lock is None:
        with engine_lock.acquire(ctx.home, "run") as own:
            return serve_engine(ctx, stop, manager, lock=own, on_service=on_service)
    # Loads appsettings.json: a broken file refuses the start (exit 2) rather than guessing.
    service = EngineService(ctx.home, secrets=ctx.secrets, stop_event=stop, serve_channel=True, say=_say,
                            notifier=manager, status_server=_status_server(_say))
    if on_service is not None:
        on_service(service)
    directories = service.scheduler.directory_ids
    finished = _cut_reads_once_stopped(stop)
    try:
        _say(_("engine started (pid {pid}, home {home}, directories: {directories}, version {version})"
               ).format(**_started(ctx, lock, directories)))
        say(
            _("syncing every {seconds} s; stop with SIGTERM or Ctrl-C "  # not a count
              "(the batches in flight finish first)").format(seconds=service.settings.sync.delta_interval_seconds),
            flush=True,
        )
        if not directories:  # the scheduler logs it too
            say(_("no enabled directory yet: waiting for one (smartsync-tui directory add, or the console)"),
                flush=True)
        service.run_forever()
    finally:
        finished.set()
    return OK


def _reload_on_sighup(service: EngineService, previous: dict[int, Any]) -> None:
    if hasattr(signal, "SIGHUP"):
        # SIGHUP (systemctl reload): the settings read again from the scheduler's loop.
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda signum, frame: service.request_reload())


def _started(ctx: CliContext, lock: engine_lock.EngineLock, directories: list[str]) -> dict[str, Any]:
    return {"pid": lock.pid, "home": _home_text(ctx), "directories": ", ".join(directories) or _("none"),
            "version": __version__}


def _cut_reads_once_stopped(stop: threading.Event) -> threading.Event:
    """Start the thread that cuts the reads still awaited after a stop; set the event it returns when done."""
    finished = threading.Event()
    threading.Thread(target=_cut_reads_after_stop, args=(stop, finished), name="stop-cuts-reads",
                     daemon=True).start()
    return finished


def _cut_reads_after_stop(stop: threading.Event, finished: threading.Event) -> None:
    """Once stopped, the answers awaited from Identity get their grace, then are cut."""
    while not stop.wait(1.0):
        if finished.is_set():
            return
    identity_network.cut_open_requests(finished, STOP_GRACE_SECONDS)


def _home_text(ctx: CliContext) -> str:
    home = ctx.home
    if home.config_dir.parent == home.data_dir.parent == home.log_dir.parent:  # --home / SMARTSYNC_HOME
        return str(home.config_dir.parent)
    return _("config {config}, data {data}, logs {logs}").format(
        config=home.config_dir, data=home.data_dir, logs=home.log_dir)


def _say(message: str) -> None:
    """A lifecycle line (already translated): in the application log and on standard output."""
    log.info("%s", message)
    say(message, flush=True)


def _warnings_to_stderr() -> logging.Handler:
    """Warnings and errors also on standard error: the journal under systemd, nohup.out otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=LOG_DATE_FORMAT))
    install_log_redaction(handler)
    logging.getLogger("smartsync").addHandler(handler)
    return handler


def _install_signal_handlers(stop: threading.Event, signals: list[int], *,
                             on_stop: Callable[[], None] = lambda: None) -> dict[int, Callable | int | None]:
    """First SIGTERM/SIGINT: stop after the batches in flight. Second (a second or more
    later): exit 130 at once.

    The handler only sets the event (nobody else ever holds its lock: the
    scheduler polls ``is_set``), so it cannot deadlock the main thread.
    """

    first_at: list[float] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if not first_at:
            first_at.append(now)
            signals.append(signum)
            stop.set()
            on_stop()  # systemd's STOPPING=1: one datagram, no lock
            return
        if now - first_at[0] < _SAME_STOP_SECONDS:
            return  # the same stop delivered twice (a process-group kill plus a wrapper forwarding it)
        signals.append(signum)
        try:
            name = signal.Signals(signum).name
            os.write(2, "{}\n".format(_("second {signal}: stopping at once").format(signal=name)).encode())
            log.warning(_("engine stopped at once (second signal, {signal}); what was not sent is still pending"
                          ).format(signal=name))
        finally:
            os._exit(INTERRUPTED)

    previous: dict[int, Callable | int | None] = {}
    for signum in _STOP_SIGNALS:
        previous[signum] = signal.signal(signum, handler)
    return previous

"""The console and the engine's control channel (core/control_channel.py), both ways.

- :class:`ConsoleChannelHandler`: a console that is itself the engine serves
  the channel, so a second console attached to it can drive it. The channel
  calls it from its own threads; everything that touches the App goes through
  ``app.call_from_thread`` (the App is not thread-safe).
- :func:`ask_engine`: an attached console's request, in a thread worker so
  the screen never waits on the socket; the answer or the failure becomes a
  notification, never a traceback.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from smartsync_tui.core import control_channel
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.ui.i18n import _

if TYPE_CHECKING:
    from smartsync_tui.ui.app import SmartSyncApp


class ConsoleChannelHandler:
    """The channel's requests done by a console's own sync workers."""

    def __init__(self, app: SmartSyncApp, *, forget_timeout: float = control_channel.FORGET_TIMEOUT - 10,
                 poll: float = 0.1) -> None:
        self.app = app
        self.forget_timeout = forget_timeout
        self.poll = poll

    # called from the channel's threads

    def status(self) -> dict[str, dict[str, Any]]:
        return self.app.call_from_thread(self._status)

    def sync(self, directory: str, *, full: bool, allow_deletes: bool) -> None:
        self.app.call_from_thread(self._sync, directory, full, allow_deletes)

    def reload(self) -> bool:
        return self.app.call_from_thread(self.app.reload_settings)

    def forget(self, directory: str) -> None:
        self.app.call_from_thread(self._retire, directory)
        # Cancelled workers stop after their batch; the rows go only after that,
        # or the batch would write them back.
        deadline = time.monotonic() + self.forget_timeout
        while self.app.sync_threads_running(directory):
            if time.monotonic() >= deadline:
                raise UserError(f"directory '{directory}' is still finishing a batch: ask again in a minute")
            time.sleep(self.poll)
        control_channel.forget_directory(self.app.home, self.app.secrets, directory)
        self.app.call_from_thread(self._forgotten, directory)

    # on the App's thread

    def _status(self) -> dict[str, dict[str, Any]]:
        app = self.app
        out = {}
        for d in app.settings.directories:
            if d.enabled:
                status = app.statuses.get(d.id)
                out[d.id] = {
                    "running": app.is_syncing(d.id), "queued": False, "next_run_at": None,
                    "failures_in_a_row": 0,
                    "last_outcome": status.last_result.outcome if status and status.last_result else None,
                }
        return out

    def _sync(self, directory_id: str, full: bool, allow_deletes: bool) -> None:
        app = self.app
        app.reload_settings()  # a directory another console just added is known
        directory = app.settings.directory(directory_id)
        if directory is None:
            known = ", ".join(d.id for d in app.settings.directories) or "none yet"
            raise InputError("directory", f"there is no directory '{directory_id}' (known: {known})")
        if not directory.enabled:
            raise InputError("directory", f"directory '{directory_id}' is disabled: enable it first")
        if app.is_syncing(directory_id):
            raise UserError(f"{directory_id} is syncing already: ask again when this run has finished")
        app.start_sync(directory_id, full=full, allow_deletes=allow_deletes)
        app.notify(_("Another console asked for a sync of {id}.").format(id=directory_id))

    def _retire(self, directory_id: str) -> None:
        app = self.app
        app.reload_settings()
        if app.settings.directory(directory_id) is not None:
            raise InputError(
                "directory", f"directory '{directory_id}' is still in appsettings.json: remove it first",
            )
        for worker in app.workers:
            if worker.group == f"sync-{directory_id}":
                worker.cancel()

    def _forgotten(self, directory_id: str) -> None:
        self.app.statuses.pop(directory_id, None)
        self.app.refresh_directories()
        self.app.notify(_("Another console deleted directory {id}.").format(id=directory_id))


def ask_engine(app: SmartSyncApp, message: dict[str, Any], done: str, *, timeout: float | None = None) -> None:
    """Send ``message`` to the engine ``app`` is attached to; notify ``done`` or the failure."""

    def in_thread() -> None:
        try:
            control_channel.request(
                app.home, message, engine_pid=app.attached_pid,
                timeout=timeout or (control_channel.FORGET_TIMEOUT if message.get("op") == "forget"
                                    else control_channel.DEFAULT_TIMEOUT),
            )
        except UserError as exc:
            _notify(app, str(exc), severity="error")
        else:
            _notify(app, done, severity="information")

    app.run_worker(in_thread, name=f"engine {message.get('op')}", group="engine-channel",
                   thread=True, exit_on_error=False)


def _notify(app: SmartSyncApp, text: str, *, severity: str) -> None:
    try:
        app.call_from_thread(app.notify, text, severity=severity, timeout=10 if severity == "error" else 5)
    except RuntimeError:  # the console closed meanwhile: nobody to tell
        pass

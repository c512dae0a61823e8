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

from typing import TYPE_CHECKING, Any

from smartsync_tui.core import control_channel
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.core.settings import DirectoryDisabled, DirectoryNotFound
from smartsync_tui.ui.i18n import _, number

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
        # Cancelled workers stop after their batch, the login-check loop after its checks;
        # the rows and secrets go only after both.
        try:
            control_channel.forget_when_idle(self.app.home, self.app.secrets, directory,
                                             lambda: self.app.directory_busy(directory),
                                             timeout=self.forget_timeout, poll=self.poll)
        except UserError:
            raise UserError(forget_timed_out(directory, self.forget_timeout)) from None
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
        try:
            app.settings.enabled_directory(directory_id)  # the checks of the `run` scheduler's trigger
        except DirectoryNotFound as exc:
            raise InputError("directory", _("there is no directory '{id}' (known: {known})").format(
                id=directory_id, known=", ".join(exc.known) or _("none yet"))) from None
        except DirectoryDisabled:
            raise InputError("directory", _("directory '{id}' is disabled: enable it first "
                                            "(smartsync-tui directory edit {id} --enable)").format(id=directory_id)) from None
        if app.is_syncing(directory_id):
            raise UserError(_("{id} is syncing already: ask again when this run has finished").format(id=directory_id))
        app.start_sync(directory_id, full=full, allow_deletes=allow_deletes)
        app.notify(_("Another console asked for a sync of {id}.").format(id=directory_id))

    def _retire(self, directory_id: str) -> None:
        app = self.app
        app.reload_settings()  # its login-check loop is stopped when the settings change
        if app.settings.directory(directory_id) is not None:
            raise InputError(
                "directory", _("directory '{id}' is still in appsettings.json: remove it first").format(id=directory_id),
            )
        for worker in app.workers:
            if worker.group == f"sync-{directory_id}":
                worker.cancel()
        app.reconcile_login_checks()  # settings already current: stop its loop all the same

    def _forgotten(self, directory_id: str) -> None:
        self.app.statuses.pop(directory_id, None)
        self.app.refresh_directories()
        self.app.notify(_("Another console deleted directory {id}.").format(id=directory_id))


def forget_timed_out(directory_id: str, timeout: float) -> str:
    return _("directory '{id}' is still finishing a sync batch or its login checks after {seconds} s: its state "
             "and secrets were not deleted (see the application log)").format(id=directory_id, seconds=number(timeout, None))


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

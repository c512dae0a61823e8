"""Logging set-up shared by every command: a rotating application log under
the log dir, every record passed through the filter of
:func:`~smartsync_tui.core.redaction.install_log_redaction` first (secrets
masked, then each record one line plus its prefixed traceback, controls escaped).

Beside it, ``console.log`` holds what admins did (the ``smartsync.audit``
logger, see :mod:`smartsync_tui.logs.event_log`); audit lines go only there.

Both logs keep to the ``logs`` section of appsettings.json
(:class:`~smartsync_tui.config.settings.LogSettings`): each rotates by size
(``name.log.1`` is the newest rotated file), keeps at most ``max_files`` files
and deletes rotated files older than ``max_age_days``, when logging is set up
and at every rotation (an agent that runs for months rotates; one that is
started daily sets up).

Log files are opened never through a symbolic link and created 0600
(:func:`~smartsync_tui.core.file_protection.open_private`): a link planted at
a log's path is refused, so the audit lines never land in a file of someone
else's choosing.
"""

from __future__ import annotations

import logging
import os
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from smartsync_tui.core.errors import UserError
from smartsync_tui.core.file_protection import open_private
from smartsync_tui.config.paths import Home
from smartsync_tui.core.redaction import install_log_redaction
from smartsync_tui.config.settings import LogSettings, load_settings
from smartsync_tui.i18n import _

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Every line starts with its time and zone, e.g. 2026-11-27T14:30:05-0300.
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
APPLICATION_LOG = "application.log"
CONSOLE_LOG = "console.log"
AUDIT_LOGGER = "smartsync.audit"
_MB = 1024 * 1024


class RetainingFileHandler(RotatingFileHandler):
    """A size-rotating log that also forgets rotated files beyond the count or the age limit.

    ``RotatingFileHandler`` alone never deletes a rotated file numbered above
    its backup count (left there when the limit was lowered) and keeps any
    file however old; both are removed here. With ``max_files`` 1 (no backup)
    it would never roll over at all; here the current file is truncated instead.
    """

    def __init__(self, path: Path, limits: LogSettings) -> None:
        super().__init__(
            path,
            maxBytes=max(1, int(limits.max_file_size_mb * _MB)),
            backupCount=limits.max_files - 1,
            encoding="utf-8",
        )
        self.max_age_seconds = None if limits.max_age_days is None else limits.max_age_days * 86400
        self.prune()

    def _open(self):  # type: ignore[no-untyped-def]
        # logging's own open follows a link and creates the file 0666 & ~umask.
        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        return self._builtin_open(fd, "a", encoding=self.encoding, errors=self.errors)

    def rotated_files(self) -> list[tuple[int, Path]]:
        current = Path(self.baseFilename)
        found = []
        for path in current.parent.glob(current.name + ".*"):
            suffix = path.name[len(current.name) + 1:]
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def prune(self) -> None:
        """Delete the rotated files numbered past the limit or older than the age limit."""
        oldest_kept = None if self.max_age_seconds is None else time.time() - self.max_age_seconds
        for number, path in self.rotated_files():
            try:
                too_old = oldest_kept is not None and path.stat().st_mtime < oldest_kept
                if number > self.backupCount or too_old:
                    path.unlink()
            except FileNotFoundError:
                pass  # another process sharing the log dir pruned it first
            except OSError as exc:
                # A log that cannot be pruned must not stop the agent; say so once per rotation.
                logging.getLogger("smartsync.logs").warning(
                    _("could not delete the old log file {path}: {reason}").format(path=path, reason=exc))

    def doRollover(self) -> None:
        if self.backupCount > 0:
            super().doRollover()
        else:
            # max_files 1: only the current file. RotatingFileHandler with no backup
            # would reopen the file for appending and let it grow without limit.
            if self.stream:
                self.stream.close()
                self.stream = None  # type: ignore[assignment]
            os.close(open_private(Path(self.baseFilename), os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
            if not self.delay:
                self.stream = self._open()
        self.prune()


def log_limits(home: Home) -> LogSettings:
    """The ``logs`` section of the home's settings; the defaults when there is none or it is broken.

    A broken settings file is reported by the command that loads it for its own
    work; logging must still come up to record that.
    """
    try:
        return load_settings(home.settings_file).logs
    except UserError:
        return LogSettings()


def _rotating_handler(path: Path, limits: LogSettings) -> RotatingFileHandler:
    handler = RetainingFileHandler(path, limits)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=LOG_DATE_FORMAT))
    install_log_redaction(handler)
    return handler


def setup_logging(home: Home, *, level: int = logging.INFO, limits: LogSettings | None = None) -> logging.Handler:
    """Route the ``smartsync`` loggers to application.log (and audit lines to console.log).

    ``limits``: the logs' size and retention; by default the home's settings.
    """
    home.ensure()
    limits = limits or log_limits(home)
    handler = _rotating_handler(home.log_dir / APPLICATION_LOG, limits)
    root = logging.getLogger("smartsync")
    root.setLevel(level)
    root.addHandler(handler)
    root.propagate = False
    setup_console_log(home, limits=limits)
    return handler


def setup_console_log(home: Home, *, limits: LogSettings | None = None) -> logging.Handler:
    """Route the ``smartsync.audit`` logger to console.log, and only there.

    Replaces the console.log handler of an earlier call (another home in the
    same process), so a line is never written twice or to the wrong home.
    """
    audit = logging.getLogger(AUDIT_LOGGER)
    for old in [h for h in audit.handlers if getattr(h, "_smartsync_console_log", False)]:
        audit.removeHandler(old)
        old.close()
    handler = _rotating_handler(home.log_dir / CONSOLE_LOG, limits or log_limits(home))
    handler._smartsync_console_log = True  # type: ignore[attr-defined]
    audit.setLevel(logging.INFO)
    audit.addHandler(handler)
    audit.propagate = False
    return handler

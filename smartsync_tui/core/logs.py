"""Logging set-up shared by every command: a rotating application log under
the log dir, every line passed through the secret redactor first.

Beside it, ``console.log`` holds what admins did (the ``smartsync.audit``
logger, see :mod:`smartsync_tui.core.event_log`); audit lines go only there.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

from smartsync_tui.core.paths import Home
from smartsync_tui.core.redaction import install_log_redaction

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Every line starts with its time and zone, e.g. 2026-11-27T14:30:05-0300.
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
APPLICATION_LOG = "application.log"
CONSOLE_LOG = "console.log"
AUDIT_LOGGER = "smartsync.audit"


def _rotating_handler(path, *, max_bytes: int, backups: int) -> RotatingFileHandler:  # type: ignore[no-untyped-def]
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=LOG_DATE_FORMAT))
    install_log_redaction(handler)
    return handler


def setup_logging(home: Home, *, level: int = logging.INFO) -> logging.Handler:
    home.ensure()
    handler = _rotating_handler(home.log_dir / APPLICATION_LOG, max_bytes=10 * 1024 * 1024, backups=10)
    root = logging.getLogger("smartsync")
    root.setLevel(level)
    root.addHandler(handler)
    root.propagate = False
    setup_console_log(home)
    return handler


def setup_console_log(home: Home) -> logging.Handler:
    """Route the ``smartsync.audit`` logger to console.log, and only there.

    Replaces the console.log handler of an earlier call (another home in the
    same process), so a line is never written twice or to the wrong home.
    """
    audit = logging.getLogger(AUDIT_LOGGER)
    for old in [h for h in audit.handlers if getattr(h, "_smartsync_console_log", False)]:
        audit.removeHandler(old)
        old.close()
    handler = _rotating_handler(home.log_dir / CONSOLE_LOG, max_bytes=5 * 1024 * 1024, backups=5)
    handler._smartsync_console_log = True  # type: ignore[attr-defined]
    audit.setLevel(logging.INFO)
    audit.addHandler(handler)
    audit.propagate = False
    return handler

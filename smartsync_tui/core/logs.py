"""Logging set-up shared by every command: a rotating application log under
the log dir, every line passed through the secret redactor first."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

from smartsync_tui.core.paths import Home
from smartsync_tui.core.redaction import install_log_redaction

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
APPLICATION_LOG = "application.log"


def setup_logging(home: Home, *, level: int = logging.INFO) -> logging.Handler:
    home.ensure()
    handler = RotatingFileHandler(
        home.log_dir / APPLICATION_LOG, maxBytes=10 * 1024 * 1024, backupCount=10, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    install_log_redaction(handler)
    root = logging.getLogger("smartsync")
    root.setLevel(level)
    root.addHandler(handler)
    root.propagate = False
    return handler

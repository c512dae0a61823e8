"""Test helper: the file handlers a test's setup_logging() added, closed and removed."""

from __future__ import annotations

import logging
import sys
from datetime import datetime

from smartsync_tui.logs.setup import AUDIT_LOGGER


def close_file_logging() -> None:
    """Close the application and console log files (so their home can be removed), keep other handlers."""
    for name in ("smartsync", AUDIT_LOGGER):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if hasattr(h, "baseFilename")]:
            logger.removeHandler(handler)
            handler.close()


def emit_at(logger_name: str, when: datetime, message: str, *, level: int = logging.INFO, exc: bool = False) -> None:
    """A record at a chosen time, through the real handlers (format, redaction, rotation)."""
    logger = logging.getLogger(logger_name)
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"boom in {message}")
        except RuntimeError:
            exc_info = sys.exc_info()
    record = logger.makeRecord(logger.name, level, __file__, 0, message, (), exc_info)
    record.created = when.timestamp()
    record.msecs = 0
    logger.handle(record)

"""Test helper: the file handlers a test's setup_logging() added, closed and removed."""

from __future__ import annotations

import logging

from smartsync_tui.core.logs import AUDIT_LOGGER


def close_file_logging() -> None:
    """Close the application and console log files (so their home can be removed), keep other handlers."""
    for name in ("smartsync", AUDIT_LOGGER):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if hasattr(h, "baseFilename")]:
            logger.removeHandler(handler)
            handler.close()

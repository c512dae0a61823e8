"""Keep secrets out of every log line and traceback.

Every secret the agent loads or receives is registered here; the logging
filter installed by :func:`install_log_redaction` replaces any registered
value (and credentials in URLs) with ``***`` in the message, its arguments and
the formatted traceback before a handler writes it.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_lock = threading.Lock()
_values: set[str] = set()
# Very short values would mask ordinary words; real secrets are longer.
_MIN_LENGTH = 4


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _values.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # Format the traceback now, redacted, and drop exc_info so no
            # handler formats the raw one again.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(handler: logging.Handler) -> logging.Handler:
    handler.addFilter(RedactingFilter())
    return handler

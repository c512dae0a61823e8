"""Keep secrets out of every log line and traceback, and every record on its own line.

Every secret the agent loads or receives is registered here; the logging
filter installed by :func:`install_log_redaction` (on every handler the agent
creates) replaces any registered value (and credentials in URLs) with ``***``
in the message, its arguments and the formatted traceback before a handler
writes it. The same filter then applies the log rendering of the one rule for
outside text (:mod:`smartsync_tui.core.text`): a value from AD, Identity, the
settings or an admin can neither start a forged record with a line break nor
reach a terminal with an escape.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from smartsync_tui.core.text import continuation, escaped
from smartsync_tui.i18n import _

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_lock = threading.Lock()
_values: set[str] = set()
# Very short values would mask ordinary words; real secrets are longer.
_MIN_LENGTH = 4
# Set on a record once it is safe: the next handler of the same logger must not
# prefix its traceback a second time.
_SAFE = "_smartsync_safe"


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _values.update(_renderings(value))


def _renderings(value: str) -> set[str]:
    """The forms a secret can take in a line: as it is, escaped by the log rendering, and inside its repr.

    A secret with a control in it is written escaped (``%r`` of it, or of a list
    holding it, escapes it too): masking only the raw form would let it through.
    """
    return {value, escaped(value), repr(value)[1:-1]}


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


def _safe(text: str, render: Callable[[str], str]) -> str:
    # Masked on the raw text first: a secret with a line break or an ESC in it is
    # only found before its controls are escaped. Masked again after, so that no
    # line ever shows a secret's text, even one the escapes happened to spell.
    return redact(render(redact(text)))


def safe_line(text: str) -> str:
    """One line for a log or the log pane: secrets masked, every control escaped."""
    return _safe(text, escaped)


def _message(record: logging.LogRecord) -> str:
    """The record's message with its arguments, formatted as logging would."""
    try:
        return record.getMessage()
    except Exception as exc:  # noqa: BLE001 (a log call must never raise into the code that logs)
        # A message whose '%' does not fit its arguments (one built with outside text
        # in it): logging would lose the record; keep what it had instead.
        return _("{message} {args} (the message did not fit its arguments: {error})").format(
            message=f"{record.msg!s}", args=f"{record.args!r}", error=exc)


class RedactingFilter(logging.Filter):
    """Masks secrets, then makes the record one line plus its traceback, with no control character.

    The message is formatted with its raw arguments first (``%d`` of a number,
    ``%r``, a ``%`` inside an argument and dict arguments work as ever), and the
    whole result is escaped: whatever an argument is (a string, a number, an
    object whose ``str()`` has a line break), its controls are in the result and
    escaped there. The traceback and the stack are rendered by
    :func:`~smartsync_tui.core.text.continuation`: each line prefixed, so no
    exception message can forge a record either.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SAFE, False):
            return True  # made safe by another handler of the same logger
        record.msg = safe_line(_message(record))
        record.args = None
        if record.exc_info:
            # Format the traceback now and drop exc_info, so no handler formats
            # the raw one again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = _safe(record.exc_text, continuation)
        if record.stack_info:
            record.stack_info = _safe(record.stack_info, continuation)
        setattr(record, _SAFE, True)
        return True


def install_log_redaction(handler: logging.Handler) -> logging.Handler:
    """Add the filter that masks secrets and keeps each record on its line; every handler the agent creates needs it."""
    handler.addFilter(RedactingFilter())
    return handler

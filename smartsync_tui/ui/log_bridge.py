"""Where the live log pane's lines come from.

Two sources, one shape: ``drain() -> list[(levelno, text)]`` returns what
arrived since the last call and never blocks.

- :class:`ConsoleLogHandler` (the engine runs in this process): a logging
  handler on the ``smartsync`` logger that formats each record like the
  application log (secrets masked, controls escaped by the same filter as the
  log files) and appends it to a bounded deque. Any thread may log; the pane's
  timer drains the deque on the UI thread.
- :class:`FileFollower` ("attached": another process runs the engine): reads
  the complete lines appended to the application log since the last call,
  following it across rotation and truncation.

Either way a record reaches the pane as one line with no control character,
followed by its traceback's lines (each prefixed, see
:func:`smartsync_tui.core.text.continuation`), joined by ``\n`` only: the pane
shows each of those lines as a row.

Neither imports Textual: they are plain objects the pane polls.
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from pathlib import Path
from typing import Protocol

from smartsync_tui.logs.setup import LOG_FORMAT
from smartsync_tui.core.redaction import install_log_redaction, safe_line

LogLine = tuple[int, str]
"""A log line for the pane: the level number (``logging.INFO``...) and the text, maybe several lines."""

DEFAULT_CAPACITY = 5_000
# Live lines show the time only: the date is today's and the columns are few.
CONSOLE_DATE_FORMAT = "%H:%M:%S"


class LogSource(Protocol):
    def drain(self) -> list[LogLine]:
        """Every line that arrived since the last call (oldest first); never blocks."""
        ...


class ConsoleLogHandler(logging.Handler):
    """Formats (masked and escaped) and keeps the newest ``capacity`` records for the pane.

    When the pane drains more slowly than the engine logs, the oldest lines
    are dropped here (counted in :attr:`dropped`) rather than piling up: the
    pane keeps only its newest lines anyway.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, level: int = logging.NOTSET,
                 datefmt: str = CONSOLE_DATE_FORMAT) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=datefmt))
        # The log files' filter: secrets masked in the message, its arguments and the
        # traceback, then every control escaped, so one record is one line (plus its traceback).
        install_log_redaction(self)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self.dropped = 0

    @property
    def capacity(self) -> int:
        return self._lines.maxlen or 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 (logging's convention: report, never raise)
            self.handleError(record)
            return
        # logging.Handler.handle holds self.lock around emit; drain takes it too.
        if len(self._lines) == self._lines.maxlen:
            self.dropped += 1
        self._lines.append((record.levelno, text))

    def drain(self) -> list[LogLine]:
        with self.lock:  # type: ignore[union-attr]
            lines = list(self._lines)
            self._lines.clear()
        return lines


def install(logger_name: str = "smartsync", *, capacity: int = DEFAULT_CAPACITY) -> ConsoleLogHandler:
    """Attach a :class:`ConsoleLogHandler` to ``logger_name`` and return it (the pane's source).

    It receives what the logger lets through (its level, INFO by default).
    """
    handler = ConsoleLogHandler(capacity)
    logging.getLogger(logger_name).addHandler(handler)
    handler._smartsync_logger_name = logger_name  # type: ignore[attr-defined]
    return handler


def uninstall(handler: ConsoleLogHandler) -> None:
    name = getattr(handler, "_smartsync_logger_name", "smartsync")
    logging.getLogger(name).removeHandler(handler)
    handler.close()


_LEVELS = {name: number for number, name in logging._levelToName.items()}  # type: ignore[attr-defined]
# "<date>T<time><zone> LEVEL logger message", as logs/setup.py writes it.
_LEVEL_AFTER_TIME = re.compile(r"^\S+ (?P<level>[A-Z]+) ")


def level_of(line: str) -> int | None:
    """The level named by a log line in the application log's format, or None when it names none."""
    match = _LEVEL_AFTER_TIME.match(line)
    if match is None:
        return None
    return _LEVELS.get(match.group("level"))


class FileFollower:
    """The complete lines appended to a log file since the last :meth:`drain`.

    Starts at the file's end (``from_start=False``) or its beginning. Survives
    rotation (the path now names a new file: the rest of the old one is read
    first, then the new one from its start) and truncation (read again from
    the start). A line without its newline yet waits for the next call. Each
    call reads at most ``max_bytes``, so a huge backlog never stalls the UI;
    the rest comes on later calls. Lines that do not start with a time and a
    level (traceback lines) take the level of the line before.
    """

    def __init__(self, path: str | os.PathLike[str], *, from_start: bool = False, max_bytes: int = 1 << 20) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._file = None  # type: ignore[var-annotated]
        self._identity: tuple[int, int] | None = None
        self._partial = b""
        self._level = logging.INFO
        self._open(at_end=not from_start)

    def _open(self, *, at_end: bool) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (kept open between calls on purpose)
        except OSError:
            return False
        stat = os.fstat(handle.fileno())
        if self._file is not None:
            self._file.close()
        self._file = handle
        self._identity = (stat.st_dev, stat.st_ino)
        self._partial = b""
        if at_end:
            handle.seek(0, os.SEEK_END)
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read(self, budget: int) -> bytes:
        assert self._file is not None
        try:
            return self._file.read(budget)
        except OSError:
            return b""

    def drain(self) -> list[LogLine]:
        if self._file is None and not self._open(at_end=False):
            # Not there when we started (or unreadable): once it appears, all of it is new.
            return []
        data = self._read(self.max_bytes)
        lines = self._split(data)
        budget = self.max_bytes - len(data)
        if budget <= 0:
            return lines  # more to read from this file first; rotation is looked at next time
        try:
            stat = os.stat(self.path)
        except OSError:
            return lines  # rotated away and not recreated yet
        assert self._file is not None
        if (stat.st_dev, stat.st_ino) != self._identity:
            # Rotated: the old file was read to its end above; now the new one from its start.
            if self._partial:
                lines.append(self._line(self._partial))
                self._partial = b""
            if self._open(at_end=False):
                lines.extend(self._split(self._read(budget)))
        elif stat.st_size < self._file.tell():
            # Truncated in place: start again from the top.
            self._file.seek(0)
            self._partial = b""
            lines.extend(self._split(self._read(budget)))
        return lines

    def _line(self, raw: bytes) -> LogLine:
        text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        level = level_of(text)
        if level is not None:
            self._level = level
        # Written by an older version or another tool, a line may still carry a secret or
        # a control: masked, and escaped so the pane cannot split it into a forged record.
        return (self._level, safe_line(text))

    def _split(self, data: bytes) -> list[LogLine]:
        if not data:
            return []
        *complete, self._partial = (self._partial + data).split(b"\n")
        return [self._line(raw) for raw in complete]

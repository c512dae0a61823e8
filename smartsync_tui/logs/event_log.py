"""The two event logs of the original, and exporting a period of one to .txt.

``application``: what the engine did (runs, counts, filters, connection
tests, errors): ``application.log``. ``console``: what admins did (settings
changed, directories added, edited or deleted, exports): ``console.log``,
written through :func:`audit`. Both sit in the log dir, rotate by size
(``name.log.1`` is the newest backup) and start every record with its time and
zone (:data:`~smartsync_tui.logs.setup.LOG_DATE_FORMAT`); the lines after a
record's first one (a traceback) belong to it.

:func:`export_log` copies the records of a period, oldest first, to a plain
UTF-8 text file any editor opens; :func:`parse_when` reads the times an
admin types for the period.
"""

from __future__ import annotations

import calendar
import getpass
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.core.file_protection import open_private
from smartsync_tui.logs.setup import APPLICATION_LOG, AUDIT_LOGGER, CONSOLE_LOG, LOG_DATE_FORMAT
from smartsync_tui.config.paths import Home
from smartsync_tui.core.redaction import safe_line
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.i18n import N_, _, ngettext

LogName = Literal["application", "console"]
LOG_NAMES: tuple[LogName, ...] = ("application", "console")
LOG_FILES: dict[str, str] = {"application": APPLICATION_LOG, "console": CONSOLE_LOG}

_audit_log = logging.getLogger(AUDIT_LOGGER)
# A record's first line: its timestamp, then a space (the format of logs/setup.py).
_RECORD_START = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{4}|Z)) ")
# How the period is written in messages.
_SHOWN = "%Y-%m-%d %H:%M:%S %z"


class EventLogError(UserError):
    """An export that cannot be done; the message says what to change."""

    kind = "logs"


class NothingToExport(EventLogError):
    """The log has no line in the period asked for; nothing was written."""

    kind = "empty"


class ExportExists(EventLogError):
    """The destination exists and replacing it was not asked for."""

    kind = "exists"

    def __init__(self, path: Path) -> None:
        super().__init__(_("{path} already exists: choose another file name, or replace it.").format(path=path))
        self.path = path


# -- the console log


def audit(event: str, message: str, **fields: object) -> None:
    """Record what an admin did in the console log (never in the application log).

    ``event`` is a short dotted name (``identity.changed``, ``directory.added``,
    ``logs.exported``); ``message`` says it in a sentence; ``fields`` are added
    as ``key=value`` (``directory="corp"``). The OS user is added as ``user``
    unless given. Secrets are masked by the log's redaction filter.
    """
    fields.setdefault("user", _os_user())
    details = ", ".join(f"{key}={_field_value(value)}" for key, value in fields.items() if value is not None)
    _audit_log.info("%s: %s (%s)", event, message, details)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without passwd entry): still audit the action
        return "unknown"


def _field_value(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in " ,()=\"'\n\t"):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


# -- times typed by an admin

_RELATIVE = re.compile(r"^-\s*(\d+)\s*(m|min|h|d|w)$", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(:\d{2})?$")
# 27/11/2026 or 27/11/2026 14:30[:15]: day first (pt_BR); in English refused, as either order may be meant.
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# The forms parse_when reads, for its refusals (marked here, translated where they are shown).
WHEN_FORMATS = N_("2026-11-27, 2026-11-27 14:30, 2026-11-27T14:30:00-03:00, now, or a time ago such as -2h or -7d")
WHEN_FORMATS_DAY_FIRST = N_(
    "27/11/2026, 27/11/2026 14:30, 2026-11-27, 2026-11-27T14:30:00-03:00, now, or a time ago such as -2h or -7d"
)
# Not calendar.month_name: it follows LC_TIME, not the language the messages are in (translated with _()).
_MONTHS = (N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
           N_("August"), N_("September"), N_("October"), N_("November"), N_("December"))


class WhenError(InputError):
    """A time that cannot be read. ``reason`` and ``details`` let the console say it in the admin's language.

    ``reason``: ``unreadable`` (no accepted form), ``impossible`` (a day past its
    month's end: ``details`` has ``day``, ``month``, ``year``, ``days``),
    ``ambiguous`` (``01/12/2026`` without day-first: ``details["dates"]`` are
    the ISO dates it could mean), ``too_far`` (beyond any log: ``details["days"]``).
    """

    def __init__(self, value: str, reason: str, message: str, **details: object) -> None:
        super().__init__("when", message)
        self.value = value
        self.reason = reason
        self.details = details


def parse_when(text: str, *, now: datetime | None = None, end: bool = False, day_first: bool = False) -> datetime:
    """A time typed by an admin, as an aware datetime (local zone unless one is given).

    Accepts ``2026-11-27``, ``2026-11-27 14:30`` (seconds optional), ISO 8601
    with a zone (``2026-11-27T14:30:00-03:00``, ``...Z``), ``now`` (or ``agora``), and a time
    ago: ``-30m``, ``-2h``, ``-7d``, ``-1w``. With ``end=True`` (the end of a
    period) a date means the end of that day and a minute the end of that
    minute, so "until 2026-11-27" includes the whole 27th.

    ``day_first`` (the admin's language writes dates day first: pt_BR) also
    accepts ``DD/MM/AAAA`` and ``DD/MM/AAAA HH:MM`` (seconds optional, day and
    month of one or two digits): ``01/12/2026`` is 1 December 2026. Without
    it (English) a slashed date is refused, never guessed: ``01/12/2026`` is 1
    December to a Brazilian and January 12 to an American, and a log exported
    for the wrong month looks plausible; the message says to write it year
    first (``2026-12-01``). A day past its month's end (``31/02/2026``,
    ``2026-02-31``) is refused as :class:`WhenError` with reason
    ``impossible``, which says how many days that month has.
    """
    value = (text or "").strip()
    try:
        return _parse_when(value, now, end, day_first)
    except OverflowError:
        # -99999999999d, or a date at the calendar's edge that the local zone pushes past it.
        raise WhenError(
            value, "too_far", _("'{value}' is further from today than any log reaches: give a time ago of at most "
                                "-{days}d, or a date between the years 2 and 9998").format(
                value=value, days=_MAX_DAYS_AGO),
            days=_MAX_DAYS_AGO,
        ) from None


#: A time ago is at most this many days (a hundred years: far older than any log).
_MAX_DAYS_AGO = 36500


def _local(when: datetime) -> datetime:
    """``when`` (naive: local time) in the local zone; OverflowError at the calendar's edge."""
    try:
        return when.astimezone()
    except (OverflowError, ValueError, OSError):  # year 1 or 9999 pushed past the edge by the zone
        raise OverflowError(when) from None


def _check_day(value: str, year: int, month: int, day: int) -> None:
    """Refuse a day past its month's end by name (the generic refusal would not say what is wrong)."""
    if 1 <= month <= 12 and year >= 1 and day > calendar.monthrange(year, month)[1]:
        days = calendar.monthrange(year, month)[1]
        raise WhenError(
            value, "impossible", ngettext("'{value}' is not a date: {month} {year} has {days} day",
                                          "'{value}' is not a date: {month} {year} has {days} days", days).format(
                value=value, month=_(_MONTHS[month - 1]), year=year, days=days),
            day=day, month=month, year=year, days=days,
        )


def _slashed(value: str, found: re.Match[str], end: bool, day_first: bool) -> datetime:
    first, second, year = int(found.group(1)), int(found.group(2)), int(found.group(3))
    clock = value[found.end(3):]  # the time as typed, if any: " 14:30"
    if not day_first:
        readings = [f"{year:04d}-{month:02d}-{day:02d}{clock}" for day, month in ((first, second), (second, first))
                    if 1 <= month <= 12 and 1 <= day <= 31]
        readings = list(dict.fromkeys(readings))  # 05/05/2026 reads the same both ways
        if readings:  # else no order makes it a date: the usual refusal lists what is accepted
            shown = readings[0] if len(readings) == 1 else _("{first} or {second}").format(
                first=readings[0], second=readings[1])
            raise WhenError(
                value, "ambiguous", _("'{value}' is not read in English, where 01/12 is January 12 to some and "
                                      "1 December to others: write the date year first, as {dates}").format(
                    value=value, dates=shown),
                dates=readings,
            )
        raise ValueError(value)
    _check_day(value, year, second, first)
    when = datetime(year, second, first, int(found.group(4) or 0), int(found.group(5) or 0), int(found.group(6) or 0))
    if end and not found.group(4):
        return _local(when + timedelta(days=1, microseconds=-1))
    if end and not found.group(6):
        return _local(when + timedelta(minutes=1, microseconds=-1))
    return _local(when)


def _parse_when(value: str, now: datetime | None, end: bool, day_first: bool) -> datetime:
    current = (now or datetime.now()).astimezone()
    if value.lower() in ("now", "agora"):
        return current
    relative = _RELATIVE.match(value)
    if relative:
        amount = relative.group(1).lstrip("0") or "0"
        ago = timedelta(**{_UNITS[relative.group(2).lower()]: int(amount)}) if len(amount) <= 9 else None
        if ago is None or ago > timedelta(days=_MAX_DAYS_AGO):
            raise OverflowError(value)
        return current - ago
    slashed = _SLASHED.match(value)
    iso_date = _DATE.match(value[:10])
    if iso_date and (len(value) == 10 or value[10] in " T"):
        _check_day(value, int(iso_date.group(1)), int(iso_date.group(2)), int(iso_date.group(3)))
    try:
        if slashed:
            return _slashed(value, slashed, end, day_first)
        if _DATE.match(value):
            day = datetime.strptime(value, "%Y-%m-%d")
            return _local(day + timedelta(days=1, microseconds=-1) if end else day)
        simple = _DATE_TIME.match(value)
        if simple:
            when = datetime.strptime(f"{simple.group(1)} {simple.group(2)}", "%Y-%m-%d %H:%M")
            if simple.group(3):
                return _local(when.replace(second=int(simple.group(3)[1:])))
            return _local(when + timedelta(minutes=1, microseconds=-1) if end else when)
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None:
        formats = _(WHEN_FORMATS_DAY_FIRST if day_first else WHEN_FORMATS)
        raise WhenError(
            value, "unreadable",
            _("'{value}' is not a time I can read: write it as {formats}").format(value=value, formats=formats)
            if value else _("give a time: {formats}").format(formats=formats),
        )
    return _local(when) if when.tzinfo is None else when


def describe_period(since: datetime | None, until: datetime | None) -> str:
    """``between A and B`` / ``since A`` / ``until B`` / ``at all``, for messages."""
    if since and until:
        return _("between {since} and {until}").format(since=since.strftime(_SHOWN), until=until.strftime(_SHOWN))
    if since:
        return _("since {since}").format(since=since.strftime(_SHOWN))
    if until:
        return _("until {until}").format(until=until.strftime(_SHOWN))
    return _("at all")


# -- reading and exporting


def log_files(home: Home, log: LogName) -> list[Path]:
    """The log's files, oldest first: the rotated backups (highest number first), then the current file."""
    if log not in LOG_FILES:
        raise InputError("log", _("there is no '{log}' log: choose application or console").format(log=log))
    current = home.log_dir / LOG_FILES[log]
    backups = []
    for path in home.log_dir.glob(LOG_FILES[log] + ".*"):
        suffix = path.name[len(current.name) + 1:]
        if suffix.isdigit():
            backups.append((int(suffix), path))
    files = [path for _number, path in sorted(backups, reverse=True)]
    if current.exists():
        files.append(current)
    return files


def _records(files: list[Path]) -> Iterator[tuple[datetime, list[str]]]:
    """(time, lines) of each record, across the files in order; lines keep their newline."""
    when: datetime | None = None
    lines: list[str] = []
    for path in files:
        try:
            # Only \n ends a line, as the handlers write them: a lone \r left in a line
            # by an older version is part of it, escaped when exported, never a record of its own.
            # Never through a link (core.file_protection): an export must not copy out a file
            # that a link planted in the log dir points at.
            fd = open_private(path, os.O_RDONLY)
        except FileNotFoundError:  # rotated away while reading
            continue
        handle = open(fd, encoding="utf-8", errors="replace", newline="\n")
        with handle:
            for line in handle:
                if not line.endswith("\n"):
                    line += "\n"
                match = _RECORD_START.match(line)
                stamp = _parse_stamp(match.group(1)) if match else None
                if stamp is None:
                    # Part of the record above (a traceback); before any record: unplaceable, dropped.
                    if when is not None:
                        lines.append(line)
                    continue
                if when is not None:
                    yield when, lines
                when, lines = stamp, [line]
    if when is not None:
        yield when, lines


def _parse_stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.replace("Z", "+0000"), LOG_DATE_FORMAT)
    except ValueError:
        return None


def _aware(when: datetime | None) -> datetime | None:
    return when.astimezone() if when is not None and when.tzinfo is None else when


def check_destination(path: Path, *, overwrite: bool = False) -> Path:
    """The export's file, refused early with what to change (no folder, a folder, exists)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise EventLogError(
            _("{path} is a folder: give a file name inside it, for example {example}.").format(
                path=path, example=path / "smartsync-log.txt")
        )
    if not path.parent.is_dir():
        raise EventLogError(
            _("The folder {path} does not exist: create it first or choose another folder.").format(path=path.parent)
        )
    if path.exists() and not overwrite:
        raise ExportExists(path)
    return path


def export_log(
    home: Home,
    log: LogName,
    since: datetime | None,
    until: datetime | None,
    path: Path,
    *,
    overwrite: bool = False,
    empty_ok: bool = False,
) -> int:
    """Write the log's records from ``since`` to ``until`` (both included, None: open) to ``path``.

    Returns the number of log lines written. The file appears whole or not at all
    (written beside it, then renamed) and is private to the user, as the logs
    are. Every line is redacted again in case a secret got into an old line, and its
    controls escaped in case an older version wrote them raw.
    For a period without lines: raises :class:`NothingToExport` (nothing
    written), or with ``empty_ok`` writes a file holding only
    :func:`empty_export_header` and returns 0 (a nightly export of a quiet
    night is not a failure). Raises :class:`ExportExists` unless ``overwrite``,
    :class:`EventLogError` for a missing folder or a folder given as the file.
    """
    since, until = _aware(since), _aware(until)
    if since and until and since > until:
        raise InputError("since", _("the period starts after it ends ({period}): swap the two times").format(
            period=describe_period(since, until)))
    path = check_destination(path, overwrite=overwrite)
    _register_stored_secrets(home)
    files = log_files(home, log)
    if not files and not empty_ok:
        raise NothingToExport(
            _("The {log} log has no lines {period} (nothing was recorded in {path} yet); nothing was written.").format(
                log=log, period=describe_period(since, until), path=home.log_dir / LOG_FILES[log])
        )
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for when, lines in _records(files):
                if (since is None or when >= since) and (until is None or when <= until):
                    for line in lines:
                        out.write(safe_line(line.rstrip("\r\n")) + "\n")
                    written += len(lines)
            if written == 0 and empty_ok:
                out.write(empty_export_header(log, since, until))
            out.flush()
            os.fsync(out.fileno())
        if written == 0 and not empty_ok:
            raise NothingToExport(_("The {log} log has no lines {period}; nothing was written.").format(
                log=log, period=describe_period(since, until)))
        if not overwrite and path.exists():  # created meanwhile: still not replaced
            raise ExportExists(path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    audit(
        "logs.exported",
        _("{log} log {period} exported").format(log=log, period=describe_period(since, until)),
        log=log, file=str(path), lines=written,
    )
    return written


def empty_export_header(log: LogName, since: datetime | None, until: datetime | None) -> str:
    """The one line of an export of a period without lines: which log, which period, that it was quiet.

    It starts with '#', never with a timestamp, so it cannot be read as a record of the log.
    """
    period = describe_period(since, until) if since or until else _("from its start")
    line = _("# smartsync-tui {log} log {period}: no lines in this period").format(log=log, period=period)
    return f"{line}\n"


def _register_stored_secrets(home: Home) -> None:
    """Register the stored secrets with the redactor, so an export masks them even in old lines."""
    try:
        SecretStore(home.secrets_file).keys()  # reading registers every value
    except UserError:
        # An unreadable store is reported where it is used; lines were redacted when written.
        pass


def default_export_name(log: LogName, when: datetime) -> str:
    """``smartsync-<log>-<date>.txt``, the file name the console and the CLI suggest."""
    return f"smartsync-{log}-{when.strftime('%Y-%m-%d')}.txt"

"""The event logs: the console log's audit lines, exporting a period of a log
(through the real logging set-up, across rotated files), and `logs export`."""

from __future__ import annotations

import getpass
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from smartsync_tui.core.errors import InputError
from smartsync_tui.logs.event_log import (
    EventLogError,
    ExportExists,
    NothingToExport,
    audit,
    export_log,
    log_files,
    WhenError,
    parse_when,
)
from smartsync_tui.logs.setup import AUDIT_LOGGER, setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, LogSettings, save_settings
from tests.support.logs import close_file_logging, emit_at

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
# The records' times: one an hour from 2026-01-01 00:00 UTC.
BASE = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "Pr0xy-Passw0rd-for-export-test"


@pytest.fixture
def home(tmp_path) -> Home:
    resolved = resolve_home(tmp_path / "home").ensure()
    yield resolved
    close_file_logging()


def _application_log_in_three_files(home: Home) -> logging.Handler:
    """Events 0-9 an hour apart: 0-2 in application.log.2, 3-5 in .1, 6-9 in the current file.

    Event 5 carries a traceback; event 4 mentions a secret (masked when written).
    """
    handler = setup_logging(home)
    register_secret(SECRET)
    for i in range(10):
        if i in (3, 6):
            handler.doRollover()
        message = f"event-{i:02d} proxy password {SECRET}" if i == 4 else f"event-{i:02d}"
        emit_at("smartsync.engine", BASE + timedelta(hours=i), message, exc=(i == 5))
    handler.flush()
    return handler


def _file_lines(home: Home, log: str = "application") -> list[str]:
    return [line for path in log_files(home, log) for line in path.read_text(encoding="utf-8").splitlines()]


def _between(lines: list[str], first: str, after_last: str | None) -> list[str]:
    """The lines from the record containing ``first`` up to (not including) the one containing ``after_last``."""
    start = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i, line in enumerate(lines) if after_last in line) if after_last else len(lines)
    return lines[start:end]


# -- exporting


def test_export_by_period_matches_the_lines_in_the_files(home, tmp_path):
    _application_log_in_three_files(home)
    assert [p.name for p in log_files(home, "application")] == ["application.log.2", "application.log.1", "application.log"]
    out = tmp_path / "export.txt"

    # 02:00 to 07:00 UTC, asked for in another zone: events 2 to 7, across all three files.
    since = datetime(2025, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-3)))
    until = BASE + timedelta(hours=7)
    written = export_log(home, "application", since, until, out)

    exported = out.read_text(encoding="utf-8").splitlines()
    expected = _between(_file_lines(home), "event-02", "event-08")
    assert exported == expected
    assert written == len(expected)
    traceback = [line for line in exported if "RuntimeError: boom in event-05" in line]
    assert traceback, "the traceback lines stay with their record"
    assert [line.split(" ")[3] for line in exported if " INFO " in line] == [f"event-{i:02d}" for i in range(2, 8)]


def test_export_has_open_ends_and_is_utf8_text(home, tmp_path):
    _application_log_in_three_files(home)
    emit_at("smartsync.engine", BASE + timedelta(hours=10), "usuário São Paulo ✓")
    out = tmp_path / "all.txt"
    assert export_log(home, "application", None, None, out) == len(_file_lines(home))
    assert out.read_bytes().decode("utf-8").splitlines() == _file_lines(home)
    assert export_log(home, "application", BASE + timedelta(hours=9), None, tmp_path / "tail.txt") == 2
    assert "São Paulo ✓" in (tmp_path / "tail.txt").read_text(encoding="utf-8")


def test_export_contains_no_registered_secret(home, tmp_path):
    _application_log_in_three_files(home)
    # A line written before the secret was known (an old file, another tool): the export masks it too.
    backup = home.log_dir / "application.log.1"
    with backup.open("a", encoding="utf-8") as handle:
        handle.write(f"2026-01-01T05:30:00+0000 INFO smartsync.old token {SECRET} and http://bob:hunter22@proxy:3128\n")
    SecretStore(home.secrets_file).set("proxy/password", SECRET)
    out = tmp_path / "export.txt"
    export_log(home, "application", None, None, out)
    text = out.read_text(encoding="utf-8")
    assert SECRET not in text and "hunter22" not in text
    assert "event-04 proxy password ***" in text and "token *** and http://***@proxy:3128" in text
    for path in home.log_dir.iterdir():  # and it was never in the files either, except the planted line
        if path.name != "application.log.1":
            assert SECRET not in path.read_text(encoding="utf-8")


def test_an_empty_period_says_so_and_writes_nothing(home, tmp_path):
    _application_log_in_three_files(home)
    out = tmp_path / "empty.txt"
    with pytest.raises(NothingToExport, match=r"no lines between 2027-01-01 00:00:00 \+0000 and 2027-01-02"):
        export_log(home, "application", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC), out)
    assert not out.exists()
    assert list(tmp_path.glob(".empty.txt.*")) == []  # no temporary file left behind
    with pytest.raises(NothingToExport, match="console log has no lines"):
        export_log(home, "console", None, None, out)
    assert not out.exists()


def test_an_existing_file_is_refused_unless_overwrite(home, tmp_path):
    _application_log_in_three_files(home)
    out = tmp_path / "export.txt"
    out.write_text("keep me\n")
    with pytest.raises(ExportExists, match="already exists"):
        export_log(home, "application", None, None, out)
    assert out.read_text() == "keep me\n"
    assert export_log(home, "application", None, None, out, overwrite=True) > 0
    assert "event-09" in out.read_text()


def test_a_missing_folder_or_a_folder_as_the_file_is_refused(home, tmp_path):
    _application_log_in_three_files(home)
    with pytest.raises(EventLogError, match="does not exist"):
        export_log(home, "application", None, None, tmp_path / "nowhere" / "x.txt")
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(EventLogError, match="is a folder"):
        export_log(home, "application", None, None, tmp_path)
    with pytest.raises(InputError, match="starts after it ends"):
        export_log(home, "application", BASE + timedelta(hours=2), BASE, tmp_path / "x.txt")


# -- the console log


def test_audit_lines_go_to_the_console_log_only(home, tmp_path):
    _application_log_in_three_files(home)
    audit("directory.added", "added directory corp (dc1.corp.example)", directory="corp", user="alice")
    audit("proxy.changed", f"proxy set to manual with password {SECRET}", mode="manual")
    export_log(home, "application", None, None, tmp_path / "app.txt")
    logging.getLogger("smartsync").handlers[-1].flush()

    console = (home.log_dir / "console.log").read_text(encoding="utf-8").splitlines()
    assert len(console) == 3  # the two above and the export's own line
    stamp, level, logger, rest = console[0].split(" ", 3)
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").tzinfo is not None
    assert (level, logger) == ("INFO", "smartsync.audit")
    assert rest == "directory.added: added directory corp (dc1.corp.example) (directory=corp, user=alice)"
    assert SECRET not in console[1] and "***" in console[1]
    assert console[2].split(" ", 3)[3] == (
        f"logs.exported: application log at all exported (log=application, file={tmp_path / 'app.txt'}, "
        f"lines={len(_file_lines(home))}, user={getpass.getuser()})"
    )
    application = "\n".join(_file_lines(home))
    assert "smartsync.audit" not in application


def test_setting_up_logging_again_moves_the_console_log(tmp_path):
    first, second = (resolve_home(tmp_path / name).ensure() for name in ("a", "b"))
    try:
        setup_logging(first)
        setup_logging(second)
        audit("test.event", "only once, in the second home")
    finally:
        close_file_logging()
    assert (first.log_dir / "console.log").read_text() == ""
    assert (second.log_dir / "console.log").read_text().count("only once") == 1


# -- times typed by an admin

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=timezone(timedelta(hours=-3)))


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2026-11-27", False, datetime(2026, 11, 27).astimezone()),
        ("2026-11-27", True, datetime(2026, 11, 27, 23, 59, 59, 999999).astimezone()),
        ("2026-11-27 14:30", False, datetime(2026, 11, 27, 14, 30).astimezone()),
        ("2026-11-27 14:30", True, datetime(2026, 11, 27, 14, 30, 59, 999999).astimezone()),
        ("2026-11-27T14:30", False, datetime(2026, 11, 27, 14, 30).astimezone()),
        ("2026-11-27 14:30:15", True, datetime(2026, 11, 27, 14, 30, 15).astimezone()),
        ("2026-11-27T14:30:00-03:00", False, datetime(2026, 11, 27, 17, 30, tzinfo=UTC)),
        ("2026-11-27T17:30:00Z", False, datetime(2026, 11, 27, 17, 30, tzinfo=UTC)),
        ("2026-11-27T17:30:00+0000", True, datetime(2026, 11, 27, 17, 30, tzinfo=UTC)),
        ("-2h", False, NOW - timedelta(hours=2)),
        ("-7d", False, NOW - timedelta(days=7)),
        ("-30m", False, NOW - timedelta(minutes=30)),
        ("-1w", False, NOW - timedelta(weeks=1)),
        (" now ", True, NOW),
        ("agora", False, NOW),
    ],
)
def test_parse_when(text, end, expected):
    parsed = parse_when(text, now=NOW, end=end)
    assert parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-11-27 25:00", "31/31/2026", "-2x", "", "2h"])
def test_parse_when_says_what_it_accepts(text):
    with pytest.raises(InputError, match=r"2026-11-27 14:30.*-2h"):
        parse_when(text, now=NOW)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "00/12/2026", "13/13/2026", "01/12/26", "01-12-2026",
                                  "01/12/2026 25:00", "01/12/2026T14:30", ""])
def test_parse_when_day_first_says_what_it_accepts_brazilian_form_first(text):
    with pytest.raises(WhenError, match=r"write it as 27/11/2026, 27/11/2026 14:30, 2026-11-27, .*-2h|"
                                        r"give a time: 27/11/2026") as refused:
        parse_when(text, now=NOW, day_first=True)
    assert refused.value.reason == "unreadable"


# Day first (pt_BR): 01/12/2026 is 1 December; an end of period means the whole day or minute.
@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("01/12/2026", False, datetime(2026, 12, 1).astimezone()),
        ("01/12/2026", True, datetime(2026, 12, 1, 23, 59, 59, 999999).astimezone()),
        ("1/2/2026", False, datetime(2026, 2, 1).astimezone()),
        ("01/12/2026 14:30", False, datetime(2026, 12, 1, 14, 30).astimezone()),
        ("01/12/2026 14:30", True, datetime(2026, 12, 1, 14, 30, 59, 999999).astimezone()),
        ("01/12/2026 9:05:07", True, datetime(2026, 12, 1, 9, 5, 7).astimezone()),
        ("29/02/2028", False, datetime(2028, 2, 29).astimezone()),
        # The other forms still work.
        ("2026-11-27 14:30", False, datetime(2026, 11, 27, 14, 30).astimezone()),
        ("-2h", False, NOW - timedelta(hours=2)),
        ("agora", False, NOW),
    ],
)
def test_parse_when_day_first(text, end, expected):
    assert parse_when(text, now=NOW, end=end, day_first=True) == expected


@hypothesis.given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
                  st.booleans(), st.booleans(), st.booleans())
def test_a_date_written_day_first_reads_back_as_the_same_minute(when, with_time, padded, end):
    minute = when.replace(second=0, microsecond=0) if with_time else when.replace(hour=0, minute=0, second=0,
                                                                                   microsecond=0)
    day, month = (f"{minute.day:02d}", f"{minute.month:02d}") if padded else (str(minute.day), str(minute.month))
    text = f"{day}/{month}/{minute.year:04d}" + (f" {minute.hour:02d}:{minute.minute:02d}" if with_time else "")
    parsed = parse_when(text, now=NOW, end=end, day_first=True)
    assert parsed.tzinfo is not None  # local time, as the log's records are compared
    expected = minute + (timedelta(minutes=1) if with_time else timedelta(days=1)) - timedelta(microseconds=1) \
        if end else minute
    assert parsed.replace(tzinfo=None) == expected


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("01/12/2026", "as 2026-12-01 or 2026-01-12"),
        ("01/12/2026 14:30", "as 2026-12-01 14:30 or 2026-01-12 14:30"),
        ("27/11/2026", "as 2026-11-27"),
        ("05/05/2026", "as 2026-05-05"),
    ],
)
def test_in_english_a_slashed_date_is_refused_with_the_year_first_form(text, shown):
    with pytest.raises(WhenError, match="is January 12 to some and 1 December to others") as refused:
        parse_when(text, now=NOW)
    assert refused.value.reason == "ambiguous"
    assert str(refused.value).endswith(f"write the date year first, {shown}")


@pytest.mark.parametrize("day_first", [True, False])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31/02/2026", "'31/02/2026' is not a date: February 2026 has 28 days"),
        ("29/02/2027 10:00", "'29/02/2027 10:00' is not a date: February 2027 has 28 days"),
        ("31/04/2026", "'31/04/2026' is not a date: April 2026 has 30 days"),
        ("2026-02-31", "'2026-02-31' is not a date: February 2026 has 28 days"),
        ("2026-06-31 08:00", "'2026-06-31 08:00' is not a date: June 2026 has 30 days"),
    ],
)
def test_an_impossible_date_says_how_long_its_month_is(text, message, day_first):
    if "/" in text and not day_first:
        return  # slashed in English: refused as ambiguous above, before its day is looked at
    with pytest.raises(WhenError) as refused:
        parse_when(text, now=NOW, day_first=day_first)
    assert str(refused.value) == message
    assert refused.value.reason == "impossible"
    assert isinstance(refused.value, InputError)  # the CLI's exit 2 and kind "input"


# -- the command line


def _cli(home: Home, *args: str, tz: str = "America/Sao_Paulo", lang: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": tz}
    env.pop("SMARTSYNC_HOME", None)
    if lang is not None:  # the locale decides the language unless the settings name one
        for variable in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
            env.pop(variable, None)
        env["LANG"] = lang
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home.config_dir.parent), "logs", "export", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )


def test_cli_logs_export(home, tmp_path):
    _application_log_in_three_files(home)
    close_file_logging()  # the command writes to these files itself
    out = tmp_path / "cli.txt"

    # Local times in São Paulo (-03:00): 2025-12-31 23:00 to 2026-01-01 04:59:59 = events 2 to 7 UTC.
    done = _cli(home, "--log", "application", "--since", "2025-12-31 23:00", "--until", "2026-01-01 04:00", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Wrote {len(out.read_text().splitlines())} lines of the application log")
    assert done.stdout.rstrip().endswith(f"to {out}")
    assert out.read_text().splitlines() == _between(_file_lines(home), "event-02", "event-08")
    assert SECRET not in out.read_text()

    again = _cli(home, "--log", "application", "--since", "2025-12-31", "-o", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    forced = _cli(home, "--log", "application", "--since", "2025-12-31", "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr

    # A quiet period is not a failure (a nightly job): a file with only a header, said on stderr.
    empty = _cli(home, "--log", "application", "--since", "2030-01-01", "--until", "2030-01-02", "-o", str(tmp_path / "none.txt"))
    assert empty.returncode == 0, empty.stderr
    assert "no lines between 2030-01-01 00:00:00 -0300 and 2030-01-02 23:59:59 -0300" in empty.stderr
    assert (tmp_path / "none.txt").read_text().splitlines() == [
        "# smartsync-tui application log between 2030-01-01 00:00:00 -0300 and 2030-01-02 23:59:59 -0300: "
        "no lines in this period"
    ]

    bad = _cli(home, "--log", "application", "--since", "last tuesday", "-o", str(tmp_path / "bad.txt"))
    assert bad.returncode == 2 and "--since: 'last tuesday' is not a time" in bad.stderr

    # The exports (the quiet one too) were audited in the console log, which exports too.
    console = _cli(home, "--log", "console", "-o", str(tmp_path / "console.txt"), "--json")
    assert console.returncode == 0, console.stderr
    assert '"lines": 3' in console.stdout
    assert (tmp_path / "console.txt").read_text().count("logs.exported: application log") == 3


def test_cli_logs_export_reads_day_first_dates_in_portuguese(home, tmp_path):
    setup_logging(home)
    # São Paulo (-03:00) local times around 1 December 2026, written as UTC by the handler.
    sao_paulo = timezone(timedelta(hours=-3))
    for label, when in [("november-30-late", datetime(2026, 11, 30, 23, 59, tzinfo=sao_paulo)),
                        ("december-01-early", datetime(2026, 12, 1, 0, 0, tzinfo=sao_paulo)),
                        ("december-01-afternoon", datetime(2026, 12, 1, 14, 30, tzinfo=sao_paulo)),
                        ("december-01-late", datetime(2026, 12, 1, 23, 59, 30, tzinfo=sao_paulo)),
                        ("december-02-early", datetime(2026, 12, 2, 0, 0, tzinfo=sao_paulo)),
                        ("january-12", datetime(2026, 1, 12, 10, 0, tzinfo=sao_paulo))]:
        emit_at("smartsync.engine", when, f"event {label}")
    close_file_logging()

    def exported(path: Path) -> list[str]:
        return [line.split("event ", 1)[1] for line in path.read_text(encoding="utf-8").splitlines() if "event " in line]

    day = tmp_path / "day.txt"
    done = _cli(home, "--log", "application", "--since", "01/12/2026", "--until", "01/12/2026", "-o", str(day),
                lang="pt_BR.UTF-8")
    assert done.returncode == 0, done.stderr
    assert exported(day) == ["december-01-early", "december-01-afternoon", "december-01-late"]
    assert "entre 2026-12-01 00:00:00 -0300 e 2026-12-01 23:59:59 -0300" in done.stdout  # the CLI speaks pt_BR too

    minutes = tmp_path / "minutes.txt"
    done = _cli(home, "--log", "application", "--since", "01/12/2026 14:30", "--until", "1/12/2026 23:59",
                "-o", str(minutes), lang="pt_BR.UTF-8")
    assert done.returncode == 0, done.stderr
    assert exported(minutes) == ["december-01-afternoon", "december-01-late"]

    impossible = _cli(home, "--log", "application", "--since", "31/02/2026", "-o", str(tmp_path / "x.txt"),
                      lang="pt_BR.UTF-8")
    assert impossible.returncode == 2
    assert "--since: '31/02/2026' não é uma data: fevereiro de 2026 tem 28 dias" in impossible.stderr

    # In English the same text is refused, never read as January 12.
    english = _cli(home, "--log", "application", "--since", "01/12/2026", "-o", str(tmp_path / "en.txt"),
                   lang="en_US.UTF-8")
    assert english.returncode == 2 and not (tmp_path / "en.txt").exists()
    assert "write the date year first, as 2026-12-01 or 2026-01-12" in english.stderr

    # The language setting wins over the locale, as in the console.
    save_settings(home.settings_file, AppSettings(language="pt_BR"))
    chosen = tmp_path / "chosen.txt"
    done = _cli(home, "--log", "application", "--since", "01/12/2026", "--until", "01/12/2026", "-o", str(chosen),
                lang="en_US.UTF-8")
    assert done.returncode == 0, done.stderr
    assert exported(chosen) == ["december-01-early", "december-01-afternoon", "december-01-late"]


# -- size and retention


def _log_bytes(home: Home, log: str = "application") -> list[int]:
    return [path.stat().st_size for path in log_files(home, log)]


def test_rotation_keeps_the_files_within_the_limits_and_the_newest_lines(home):
    limits = LogSettings(max_file_size_mb=4096 / 1024 / 1024, max_files=4, max_age_days=None)
    handler = setup_logging(home, limits=limits)
    log = logging.getLogger("smartsync.engine")
    total = 3000  # ~110 bytes a line: about 80 rotations of a 4 KB file
    for i in range(total):
        log.info("line-%05d %s", i, "x" * 60)
        if i % 100 == 99:
            handler.flush()
            sizes = _log_bytes(home)
            assert len(sizes) <= 4 and max(sizes) <= 4096 and sum(sizes) <= 4 * 4096, sizes
    handler.flush()
    assert len(_log_bytes(home)) == 4
    kept = [int(line.split("line-")[1][:5]) for line in _file_lines(home) if "line-" in line]
    # The newest lines, all of them, in order, and none of the oldest.
    assert kept == list(range(total - len(kept), total))
    assert len(kept) > 3 * 30
    assert not (home.log_dir / "application.log.4").exists()


def test_max_files_1_keeps_only_the_current_file_within_the_size(home):
    # Left by an earlier, larger max_files: deleted when logging starts.
    (home.log_dir / "application.log.1").write_text("2026-01-01T00:00:00+0000 INFO smartsync.old backup\n")
    handler = setup_logging(home, limits=LogSettings(max_file_size_mb=4096 / 1024 / 1024, max_files=1, max_age_days=None))
    log = logging.getLogger("smartsync.engine")
    for i in range(500):  # ~110 bytes a line: about 13 rollovers of a 4 KB file
        log.info("line-%05d %s", i, "x" * 60)
        if i % 50 == 49:
            handler.flush()
            assert [p.name for p in log_files(home, "application")] == ["application.log"]
            assert (home.log_dir / "application.log").stat().st_size <= 4096
    handler.flush()
    kept = [int(line.split("line-")[1][:5]) for line in _file_lines(home) if "line-" in line]
    # The newest lines since the last rollover, in order; the oldest are gone.
    assert kept and kept == list(range(500 - len(kept), 500)) and kept[0] > 400
    assert not list(home.log_dir.glob("application.log.*"))


def test_rotated_files_past_the_age_or_the_count_limit_are_deleted(home):
    old = time.time() - 40 * 86400
    for n in (1, 2, 3, 7):  # .7: left by an earlier, larger max_files
        path = home.log_dir / f"application.log.{n}"
        path.write_text(f"2026-01-01T00:00:00+0000 INFO smartsync.old backup {n}\n", encoding="utf-8")
        if n >= 2:
            os.utime(path, (old, old))
    handler = setup_logging(home, limits=LogSettings(max_file_size_mb=1, max_files=5, max_age_days=30))
    assert sorted(p.name for p in home.log_dir.glob("application.log.*")) == ["application.log.1"]

    # At rotation too: the backup that ages past the limit goes when the files move up.
    os.utime(home.log_dir / "application.log.1", (old, old))
    logging.getLogger("smartsync.engine").info("before the rotation")
    handler.doRollover()
    assert sorted(p.name for p in home.log_dir.glob("application.log.*")) == ["application.log.1"]
    assert "before the rotation" in (home.log_dir / "application.log.1").read_text(encoding="utf-8")


def test_the_logs_section_of_appsettings_sets_the_limits(home):
    home.settings_file.write_text(
        '{"logs": {"max_file_size_mb": 0.5, "max_files": 3, "max_age_days": null}}', encoding="utf-8"
    )
    handler = setup_logging(home)
    assert (handler.maxBytes, handler.backupCount) == (512 * 1024, 2)
    console = next(h for h in logging.getLogger(AUDIT_LOGGER).handlers if hasattr(h, "baseFilename"))
    assert (console.maxBytes, console.backupCount) == (512 * 1024, 2)
    close_file_logging()
    # A broken settings file does not keep logging from starting (the command reports the file).
    home.settings_file.write_text('{"logs": {"max_files": 0}}', encoding="utf-8")
    handler = setup_logging(home)
    assert handler.backupCount == LogSettings().max_files - 1


# -- no secret in the logs of a real sync


def _assert_no_secret(texts: dict[str, str], secrets: list[str]) -> None:
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret is in {name}"


def _export_everything(home: Home, out_dir: Path) -> dict[str, str]:
    """Both logs exported by export_log and by `smartsync-tui logs export`, and the log files."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in home.log_dir.iterdir()}
    for log in ("application", "console"):
        export_log(home, log, None, None, out_dir / f"{log}.txt")
        texts[f"{log}.txt"] = (out_dir / f"{log}.txt").read_text(encoding="utf-8")
    close_file_logging()
    done = _cli(home, "--log", "application", "-o", str(out_dir / "cli.txt"))
    assert done.returncode == 0, done.stderr
    texts["cli.txt"] = (out_dir / "cli.txt").read_text(encoding="utf-8")
    return texts


def test_logs_of_syncs_with_the_in_memory_directory_hold_no_password_or_token(tmp_path):
    from smartsync_tui.demo import command as demo_cmd
    from smartsync_tui.config.secret_store import (
        directory_password_key,
        directory_token_key,
    )
    from smartsync_tui.config.settings import load_settings
    from smartsync_tui.store.state_store import StateStore
    from smartsync_tui.engine.results import SyncOptions
    from smartsync_tui.engine.sync import SyncEngine

    demo = demo_cmd.prepare(use_samba=False, workdir=tmp_path / "demo")
    try:
        secrets = SecretStore(demo.home.secrets_file)
        password = secrets.get(directory_password_key("demo")).get_secret_value()
        token = secrets.get(directory_token_key("demo")).get_secret_value()
        wrong = f"Wrong-{password}"
        engine = SyncEngine(load_settings(demo.home.settings_file), secrets, StateStore(demo.home.state_db))
        assert engine.run("demo", SyncOptions()).outcome == "ok"
        demo.trickle.step()
        assert engine.run("demo", SyncOptions()).mode == "delta"
        secrets.set(directory_password_key("demo"), wrong)  # a failed bind is logged too
        assert engine.run("demo", SyncOptions()).outcome != "ok"
        texts = _export_everything(demo.home, tmp_path)
        assert "sync demo" in texts["application.txt"] and "sync demo" in texts["cli.txt"]
        _assert_no_secret(texts, [password, token, wrong])
    finally:
        close_file_logging()
        demo.close()


@pytest.mark.samba
def test_logs_of_syncs_with_samba_hold_no_password_or_token(sync_env, tmp_path):
    from smartsync_tui.config.secret_store import (
        directory_password_key,
        directory_token_key,
    )

    handler = setup_logging(sync_env.home)
    password = sync_env.secrets.get(directory_password_key("corp")).get_secret_value()
    token = sync_env.secrets.get(directory_token_key("corp")).get_secret_value()
    wrong = "Wrong-Test-Passw0rd-ção!"
    sync_env.ad.add_user("secret.test", "Sérgio", "Simões")
    assert sync_env.sync().outcome == "ok"
    sync_env.secrets.set(directory_password_key("corp"), wrong)
    assert sync_env.sync().outcome != "ok"
    handler.flush()
    texts = _export_everything(sync_env.home, tmp_path)
    assert "sync corp" in texts["application.txt"]
    _assert_no_secret(texts, [password, token, wrong])

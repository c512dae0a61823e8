"""Text from AD, Identity or the settings file reaches the terminal as data: no escape sequence
(an OSC 52 clipboard write, the 8-bit CSI), no bidi control, no line of its own; and --json still
gives a script the exact value.

In this process for the settings file (fast, many examples); against the session's Samba DC and the
Identity emulator, as a subprocess, for a sync (a user whose names are hostile) and a directory test
(an Identity directory with a hostile name).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from ldap3.utils.dn import escape_rdn

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore, directory_password_key, directory_token_key
from tests.support.cli import run_main
from tests.support.hostile import hostile_piece, hostile_text, markup_safe_name

# The display pieces every hostile-text test shares, and what attacks a line of a CLI report:
# a forged log record after a line break, CR LF, DEL, the other bidi marks and separators.
CLI_PIECES = ["\n2026-12-01T00:00:00+0000 CRITICAL smartsync.audit forged", "\r\n", "\x7f", "\u2069", "\u061c", "\u2029"]
hostile = st.one_of(
    hostile_text(),
    st.lists(st.one_of(hostile_piece, st.sampled_from(CLI_PIECES)), min_size=1, max_size=6).map("".join),
)

# What a terminal acts on, besides the line feed that ends each record.
_BIDI_AND_SEPARATORS = set("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def terminal_problems(data: bytes) -> list[str]:
    """Every character in ``data`` (all a command wrote) that a terminal would act on."""
    text = data.decode("utf-8")  # strict: what was written is UTF-8
    return [
        f"U+{ord(ch):04X} at {i}" for i, ch in enumerate(text)
        if ch != "\n" and (unicodedata.category(ch) == "Cc" or ch in _BIDI_AND_SEPARATORS)
    ]


# -- the settings file


_homes = count()


def _home_with(root: Path, directory: dict) -> Path:
    home = resolve_home(root / f"home-{next(_homes)}").ensure()
    home.settings_file.write_text(json.dumps({
        "identity": {"protocol": "http", "environment": "127.0.0.1:1"}, "proxy": {"mode": "none"},
        "directories": [directory],
    }), encoding="utf-8")
    SecretStore(home.secrets_file).set_many({
        directory_password_key("corp"): "Passw0rd-Never-Shown", directory_token_key("corp"): "idt_" + "x" * 40,
    })
    return home.config_dir.parent


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile, ou=hostile, user=hostile)
def test_hostile_values_in_the_settings_file_are_printed_as_data(tmp_path, capfdbinary, name, ou, user):
    directory = {"id": "corp", "display_name": name, "server": "127.0.0.1", "port": 1, "tls": "plain",
                 "bind_user": f"{user}@corp.example", "base_dn": f"OU={escape_rdn(ou)},DC=corp,DC=example"}
    home = _home_with(tmp_path, directory)
    for argv in (["directory", "list"], ["directory", "test", "corp"], ["directory", "remove", "corp"],
                 ["sync", "--directory", "other"]):
        for as_json in (False, True):
            code, out, err = run_main(capfdbinary, "--home", str(home), *argv, *(["--json"] if as_json else []))
            assert terminal_problems(out) == [] and terminal_problems(err) == [], (argv, as_json)
            assert b"Traceback" not in out + err and b"Passw0rd" not in out + err
            if as_json:
                answer = json.loads(out)
                if argv == ["directory", "list"] and code == 0:
                    # Escaped, not replaced: a script gets the exact values back.
                    assert answer[0]["display_name"] == name
            elif argv == ["directory", "list"] and code == 0:
                assert len(out.splitlines()) == 1, out  # one directory, one line


def test_a_lone_surrogate_in_the_settings_file_does_not_stop_the_command(tmp_path, capfdbinary):
    home = _home_with(tmp_path, {"id": "corp", "display_name": "Corp \ud800", "server": "127.0.0.1", "port": 1,
                                 "tls": "plain", "bind_user": "svc@corp.example", "base_dn": "DC=corp,DC=example"})
    code, out, err = run_main(capfdbinary, "--home", str(home), "directory", "list")
    assert code == 0 and b"Corp ?" in out and err == b""
    code, out, _err = run_main(capfdbinary, "--home", str(home), "directory", "list", "--json")
    assert code == 0 and json.loads(out)[0]["display_name"] == "Corp \ud800"


# -- AD and Identity


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    return subprocess.run([sys.executable, "-m", "smartsync_tui", "--home", str(home), *args],
                          capture_output=True, env=env, timeout=300)


def _one_record_per_line(out: bytes) -> None:
    """Each line of a sync report is a record we wrote: the directory's line, or one indented under it."""
    for line in out.decode().splitlines():
        assert line.startswith(("corp: ", "  ")), line


def _ad_safe(text: str, limit: int) -> str:
    """``text`` as a value Samba keeps, within the attribute's length in the AD schema (64 for cn
    and givenName, 256 for displayName)."""
    return markup_safe_name(text[:limit])


@pytest.mark.samba
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_name=hostile, cn=hostile)
def test_hostile_names_from_ad_are_data_in_every_sync_output(sync_env, given_name, cn):
    ad = sync_env.ad
    sam = f"h{next(_homes)}"
    # The CN ends with the account's name: each example adds a user of its own to the OU.
    display_name, given_name, cn = _ad_safe(given_name, 256), _ad_safe(given_name, 64), _ad_safe(cn, 56) + f" {sam}"
    ad.conn.add(f"CN={escape_rdn(cn)},{ad.ou}", ["top", "person", "organizationalPerson", "user"], {
        "sAMAccountName": ad.sam(sam), "userPrincipalName": ad.login(sam), "userAccountControl": 512,
        "givenName": given_name, "sn": "Hostil", "displayName": display_name, "mail": f"{ad.sam(sam)}@corp.example",
    })
    home = sync_env.home.config_dir.parent
    plan = _cli(home, "sync", "--dry-run", "--full", "--json")
    assert terminal_problems(plan.stdout) == [] and terminal_problems(plan.stderr) == []
    # The exact name, escaped in the JSON, not replaced.
    payloads = [op["payload"] for op in json.loads(plan.stdout)[0]["plan"] if op["op"] == "create"]
    assert given_name in {p.get("first_name") for p in payloads}

    for args in (["sync", "--dry-run", "--full"], ["sync"], ["sync", "--json"]):
        done = _cli(home, *args)
        assert done.returncode in (0, 1), done.stdout + done.stderr  # the emulator may refuse the name
        assert terminal_problems(done.stdout) == [] and terminal_problems(done.stderr) == [], args
        assert b"Traceback" not in done.stderr
        if "--json" in args:
            json.loads(done.stdout)
        else:
            _one_record_per_line(done.stdout)


@pytest.mark.samba
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile)
def test_a_hostile_directory_name_from_identity_is_data(sync_env, name):
    name = name[:200] if name[:200].strip() else "x" + name[:199]  # what Identity takes as a name
    identity_directory, token = sync_env.emulator.create_directory(name)
    key = directory_token_key("corp")
    original = sync_env.secrets.get(key)
    sync_env.secrets.set(key, token)
    try:
        home = sync_env.home.config_dir.parent
        text = _cli(home, "directory", "test", "corp")
        as_json = _cli(home, "directory", "test", "corp", "--json")
    finally:
        sync_env.secrets.set(key, original.get_secret_value())
    assert text.returncode == as_json.returncode == 0, text.stdout + text.stderr
    for done in (text, as_json):
        assert terminal_problems(done.stdout) == [] and terminal_problems(done.stderr) == []
    assert json.loads(as_json.stdout)["identity"]["name"] == name.strip()
    assert f"({identity_directory})".encode() in text.stdout


def test_every_line_the_cli_writes_goes_through_output():
    """A new print() in a command would bypass the rule: only cli/output.py writes to the terminal."""
    cli = Path(__file__).resolve().parents[1] / "smartsync_tui" / "cli"
    for path in cli.glob("*.py"):
        if path.name == "output.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "print(" not in text and "json.dumps(" not in text and "sys.stdout" not in text, path.name


@pytest.mark.samba
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(detail=hostile)
def test_a_hostile_detail_from_identity_is_one_line_of_the_sync_report(sync_env, detail):
    """Identity refuses a user with words of its own (a forged log record, an OSC 52 write)."""
    ad = sync_env.ad
    sam = f"d{next(_homes)}"
    dn = ad.add_user(sam, "Recusado", f"Por Identity {sam}")
    sync_env.emulator.refuse(sync_env.identity_directory, ad.guid(dn), detail)
    try:
        home = sync_env.home.config_dir.parent
        text = _cli(home, "sync")
        as_json = _cli(home, "sync", "--json")
    finally:
        sync_env.emulator.clear_refusals(sync_env.identity_directory)
    for done in (text, as_json):
        assert done.returncode == 1, done.stdout + done.stderr  # some objects failed
        assert terminal_problems(done.stdout) == [] and terminal_problems(done.stderr) == []
    _one_record_per_line(text.stdout)
    assert any(line.startswith(f"  failed {dn}: ") for line in text.stdout.decode().splitlines())
    assert dn in {f["dn"] for f in json.loads(as_json.stdout)[0]["failures"]}

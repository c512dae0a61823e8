"""The CLI keeps its promises: one table of exit codes and error kinds, the same code with and
without --json, every option with help and every --help with examples, and values that start
with '-' taken after a space.

Error paths run the real commands in this process (`main(argv)`) against a real home: no server
is needed for them (an unreachable Identity or DC is 127.0.0.1:1). A few run as a subprocess, the
way a script sees them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smartsync_tui.cli import exit_codes, main as cli_main
from smartsync_tui.cli.exit_codes import COULD_NOT_RUN, FAILED, INTERRUPTED, KINDS, OK
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore, directory_password_key, directory_token_key
from smartsync_tui.config.settings import AppSettings, DirectorySettings, IdentitySettings, ProxySettings, save_settings
from smartsync_tui.engine.results import SyncResult
from tests.support.cli import run_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose Identity and only directory are unreachable (127.0.0.1:1), with its secrets stored."""
    root = tmp_path / "home"
    resolved = resolve_home(root).ensure()
    save_settings(resolved.settings_file, AppSettings(
        identity=IdentitySettings(protocol="http", environment="127.0.0.1:1"),
        proxy=ProxySettings(mode="none"),
        directories=[DirectorySettings(id="corp", server="127.0.0.1", port=1, tls="plain",
                                       bind_user="svc@corp.example", base_dn="DC=corp,DC=example")],
    ))
    SecretStore(resolved.secrets_file).set_many({
        directory_password_key("corp"): "Passw0rd-Never-Shown", directory_token_key("corp"): "idt_" + "x" * 40,
    })
    return root


# -- one table


def test_every_kind_has_one_code_and_the_readme_table_says_the_same():
    assert set(KINDS.values()) == {FAILED, COULD_NOT_RUN, INTERRUPTED}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented: dict[str, int] = {}
    for line in readme.splitlines():
        row = re.match(r"^\| `(\d+)` \| .* \| (.*) \|$", line)
        if row:
            for kind in re.findall(r"`([a-z_]+)`", row.group(2)):
                documented[kind] = int(row.group(1))
    assert documented == KINDS
    assert "smartsync_tui/cli/exit_codes.py" in readme


def test_core_error_kinds_map_into_the_fixed_set():
    for core_kind in ("settings", "secrets", "input", "identity-unreachable", "token-rejected", "directory",
                      "engine-running", "exists", "logs", "error", "something-new"):
        assert exit_codes.kind_of(core_kind) in KINDS
    assert exit_codes.code_of("secrets") == COULD_NOT_RUN and exit_codes.code_of("exists") == FAILED
    assert exit_codes.code_of("engine-running") == COULD_NOT_RUN


def test_sync_outcomes_exit_with_the_table_codes():
    codes = {outcome: SyncResult("corp", outcome=outcome).exit_code
             for outcome in ("ok", "partial", "held", "cancelled", "failed")}
    assert codes == {"ok": OK, "partial": FAILED, "held": FAILED, "cancelled": FAILED, "failed": COULD_NOT_RUN}


def test_no_command_defines_exit_codes_of_its_own():
    for path in (ROOT / "smartsync_tui" / "cli").glob("*.py"):
        if path.name == "exit_codes.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*EXIT_\w+\s*[,=]", text, re.M), f"{path.name} defines exit codes"
        assert not re.search(r"\breturn [12]\b", text), f"{path.name} returns a bare exit code"


# -- error paths of every command, with and without --json


# (arguments, exit code, kind, JSON accepted). The home fixture's Identity and DC are unreachable.
ERROR_PATHS = [
    (["identity", "show"], "broken", COULD_NOT_RUN, "settings", True),
    (["identity", "set"], "home", COULD_NOT_RUN, "input", True),
    (["identity", "set", "--environment", "https://app.example.com/x"], "home", COULD_NOT_RUN, "input", True),
    (["identity", "set", "--protocol", "ftp"], "home", COULD_NOT_RUN, "usage", True),
    (["identity", "test"], "home", FAILED, "check_failed", True),
    (["proxy", "show"], "broken", COULD_NOT_RUN, "settings", True),
    (["proxy", "set", "manual", "--host", "proxy.corp.example"], "home", COULD_NOT_RUN, "input", True),
    (["proxy", "set", "manual", "--host", "p", "--port", "3128", "--user", "u", "--password", "x"], "home",
     COULD_NOT_RUN, "usage", True),
    (["proxy", "test"], "home", FAILED, "check_failed", True),
    (["directory", "list"], "broken", COULD_NOT_RUN, "settings", True),
    (["directory", "add", "--server", "LDAP://dc1:389", "--user", "a", "--base-dn", "DC=x,DC=y"], "home",
     COULD_NOT_RUN, "input", True),
    (["directory", "add", "--server", "dc1"], "home", COULD_NOT_RUN, "usage", True),
    (["directory", "edit", "nope", "--name", "x"], "home", COULD_NOT_RUN, "input", True),
    (["directory", "edit", "corp"], "home", COULD_NOT_RUN, "input", True),
    (["directory", "edit", "corp", "--name", "Corp HQ"], "home", FAILED, "check_failed", True),
    (["directory", "remove", "nope", "--yes"], "home", COULD_NOT_RUN, "input", True),
    (["directory", "remove", "corp"], "home", COULD_NOT_RUN, "input", True),  # not confirmed, no terminal
    (["directory", "test", "nope"], "home", COULD_NOT_RUN, "input", True),
    (["directory", "test", "corp"], "home", FAILED, "check_failed", True),
    (["directory", "frobnicate"], "home", COULD_NOT_RUN, "usage", True),
    (["sync", "--directory", "nope"], "home", COULD_NOT_RUN, "input", True),
    (["sync"], "broken", COULD_NOT_RUN, "settings", True),
    (["logs", "export", "--log", "application", "--since", "last tuesday", "-o", "{tmp}/x.txt"], "home",
     COULD_NOT_RUN, "input", True),
    (["logs", "export", "--log", "application", "-o", "{tmp}/x.txt"], "exists", FAILED, "refused", True),
    (["logs", "export", "--log", "application", "-o", "{tmp}/no/such/folder/x.txt"], "home",
     COULD_NOT_RUN, "input", True),
    (["logs", "export", "--log", "application", "--since", "-1h", "--until", "-2h", "-o", "{tmp}/x.txt"], "home",
     COULD_NOT_RUN, "input", True),
    (["logs", "export", "--log", "nope", "-o", "{tmp}/x.txt"], "home", COULD_NOT_RUN, "usage", True),
    (["run", "--once"], "empty", COULD_NOT_RUN, "input", False),
    (["run"], "broken", COULD_NOT_RUN, "settings", False),
    (["web", "--host", "0.0.0.0"], "home", COULD_NOT_RUN, "usage", False),
    (["web", "--port", "70000"], "home", COULD_NOT_RUN, "input", False),
    (["web"], "broken", COULD_NOT_RUN, "settings", False),
    (["--no-such-option"], "home", COULD_NOT_RUN, "usage", True),
]


def _home_for(which: str, home: Path, tmp_path: Path) -> Path:
    if which == "broken":
        (home / "config" / "appsettings.json").write_text('{"identity": {"protocol": "http",,}}')
    elif which == "empty":
        (home / "config" / "appsettings.json").write_text("{}")  # no directory
    elif which == "exists":
        (tmp_path / "x.txt").write_text("kept\n")
    return home


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("argv, which, code, kind, takes_json", ERROR_PATHS,
                         ids=[" ".join(p[0][:3]) + f" ({p[1]})" for p in ERROR_PATHS])
def test_error_paths_exit_with_the_kinds_code_with_and_without_json(
    capsys, home, tmp_path, argv, which, code, kind, takes_json, as_json
):
    if as_json and not takes_json:
        pytest.skip("a long-running command: no --json")
    root = _home_for(which, home, tmp_path)
    args = ["--home", str(root), *(a.replace("{tmp}", str(tmp_path)) for a in argv)] + (["--json"] if as_json else [])
    got, out, err = run_main(capsys, *args)
    assert got == code == KINDS[kind], (out, err)
    assert "Traceback" not in out + err and "Passw0rd-Never-Shown" not in out + err
    if as_json:
        assert err == ""
        answer = json.loads(out)
        assert answer["kind"] == kind and answer["error"]
        if kind != "check_failed":
            assert set(answer) == {"error", "kind"} and out.count("\n") == 1  # one line
    else:
        assert err.startswith("error: ") or kind == "check_failed", err
        if kind != "check_failed":
            assert out == ""


def test_an_unexpected_error_is_one_line_without_its_text_with_and_without_json(capsys, home, monkeypatch):
    from smartsync_tui.cli import identity_cmd

    def broken(*_args, **_kwargs):
        raise RuntimeError("Hunter2-Secret \x1b]52;c;evil\x07 in a message")

    monkeypatch.setattr(identity_cmd, "check_identity", broken)
    for as_json in (False, True):
        code, out, err = run_main(capsys, "--home", str(home), "identity", "test", *(["--json"] if as_json else []))
        assert code == COULD_NOT_RUN
        shown = out if as_json else err
        assert "Hunter2" not in out + err and "\x1b" not in out + err and "Traceback" not in out + err
        assert shown.count("\n") == 1 and "unexpected RuntimeError" in shown and "application.log" in shown
        if as_json:
            assert json.loads(out)["kind"] == "internal"
    log = (home / "logs" / "application.log").read_text()
    assert "Traceback" in log  # the details are where the message says


def test_ctrl_c_is_130_with_and_without_json(capsys, home, monkeypatch):
    from smartsync_tui.cli import identity_cmd

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(identity_cmd, "check_identity", interrupted)
    assert run_main(capsys, "--home", str(home), "identity", "test")[0] == INTERRUPTED
    code, out, _err = run_main(capsys, "--home", str(home), "identity", "test", "--json")
    assert code == INTERRUPTED and json.loads(out) == {"error": "interrupted", "kind": "interrupted"}


def test_a_demo_that_cannot_start_exits_2(capsys, monkeypatch):
    from smartsync_tui.demo import command as demo_cmd
    from smartsync_tui.core.errors import UserError

    def cannot_start(**_kwargs):
        raise UserError("the demo's Identity emulator did not answer: connection refused")

    monkeypatch.setattr(demo_cmd, "prepare", cannot_start)  # a real demo starts servers and the console
    code, out, err = run_main(capsys, "demo")
    assert code == COULD_NOT_RUN and out == ""
    assert err == "error: the demo could not start: the demo's Identity emulator did not answer: connection refused\n"


def test_emulator_refuses_a_public_host_with_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    done = subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "emulator", "--host", "0.0.0.0", "--data", str(tmp_path / "d")],
        capture_output=True, text=True, env={**env, "SMARTSYNC_HOME": str(tmp_path / "h")}, timeout=60,
    )
    assert done.returncode == COULD_NOT_RUN and "refusing to listen" in done.stderr


def test_a_script_sees_the_same_code_and_one_json_line(tmp_path):
    """As a subprocess: the usage error argparse finds itself is JSON too, and the code is 2 both ways."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    base = [sys.executable, "-m", "smartsync_tui", "--home", str(tmp_path / "h"), "logs", "export", "--log", "application"]
    text = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    as_json = subprocess.run([*base, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert text.returncode == as_json.returncode == COULD_NOT_RUN
    assert text.stderr.startswith("error: the following arguments are required: -o/--output")
    assert json.loads(as_json.stdout)["kind"] == "usage" and as_json.stderr == ""


# -- a quiet period


def test_logs_export_of_a_quiet_period_writes_a_header_and_exits_0(capsys, home, tmp_path):
    out_file = tmp_path / "quiet.txt"
    code, out, err = run_main(capsys, "--home", str(home), "logs", "export", "--log", "console",
                             "--since", "2030-01-01", "--until", "2030-01-01", "-o", str(out_file))
    assert code == OK and out == ""
    assert "no lines between 2030-01-01 00:00:00" in err and str(out_file) in err
    header, = out_file.read_text().splitlines()
    assert header.startswith("# smartsync-tui console log between 2030-01-01 00:00:00")
    assert header.endswith(": no lines in this period")
    code, out, err = run_main(capsys, "--home", str(home), "logs", "export", "--log", "console",
                             "--since", "2030-01-01", "-o", str(out_file), "--force", "--json")
    assert code == OK and json.loads(out)["lines"] == 0 and "no lines" in err


# -- values that start with '-'


def test_relative_times_after_a_space(capsys, home, tmp_path):
    code, out, err = run_main(capsys, "--home", str(home), "logs", "export", "--log", "console",
                             "--since", "-2h", "--until", "-30m", "-o", str(tmp_path / "a.txt"))
    assert code == OK, err
    code, _out, err = run_main(capsys, "--home", str(home), "logs", "export", "--log", "console",
                              "--since", "-7d", "--until", "now", "-o", str(tmp_path / "-dash.txt"), "--force")
    assert code == OK, err


def test_a_missing_value_is_still_a_usage_error(capsys, home, tmp_path):
    code, _out, err = run_main(capsys, "--home", str(home), "logs", "export", "--log", "console",
                              "--since", "-o", str(tmp_path / "a.txt"))
    assert code == COULD_NOT_RUN and "--since: expected one argument" in err


def test_join_dash_values():
    parser = cli_main.build_parser()
    join = cli_main.join_dash_values
    assert join(parser, ["logs", "export", "--since", "-2h", "--until", "-30m"]) == [
        "logs", "export", "--since=-2h", "--until=-30m"]
    assert join(parser, ["directory", "edit", "x", "--name", "-Corp-"]) == ["directory", "edit", "x", "--name=-Corp-"]
    assert join(parser, ["logs", "export", "--since", "-o", "f"]) == ["logs", "export", "--since", "-o", "f"]
    assert join(parser, ["logs", "export", "--since", "--json"]) == ["logs", "export", "--since", "--json"]
    assert join(parser, ["sync", "--json", "-x"]) == ["sync", "--json", "-x"]  # a flag takes no value


def _parsers(parser: argparse.ArgumentParser, name: str = "smartsync-tui"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_no_option_is_a_flag_in_one_command_and_takes_a_value_in_another():
    takes_value: set[str] = set()
    flags: set[str] = set()
    for _name, parser in _parsers(cli_main.build_parser()):
        for action in parser._actions:
            (takes_value if action.nargs is None else flags).update(action.option_strings)
    assert takes_value & flags == set()


# -- help


def test_every_option_has_help_and_every_help_ends_with_examples():
    missing = []
    for name, parser in _parsers(cli_main.build_parser()):
        for action in parser._actions:
            if not action.help:
                missing.append(f"{name}: {action.option_strings or action.dest}")
        assert parser.epilog and parser.epilog.startswith("examples:"), name
        assert isinstance(parser.formatter_class, type) and issubclass(
            parser.formatter_class, argparse.RawDescriptionHelpFormatter), name
        last = parser.format_help().rstrip().splitlines()[-1]
        assert "smartsync-tui" in last or last.startswith("    "), f"{name}: --help ends with {last!r}"
    assert missing == []


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli_main.main(["logs", "export", "--help"])
    assert stopped.value.code == 0
    assert "--since -2h" in capsys.readouterr().out

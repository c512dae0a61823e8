"""A hostile or broken appsettings.json, as the commands read it.

Whoever can write the file must not be able to make a command do something
else than read settings: a key starting with ``_`` reached pydantic-settings
as an init option (``_cli_parse_args`` made every command print a help and
exit 0 having done nothing; ``_env_prefix`` let unprefixed variables override
the settings). Every outcome is a loaded settings or the settings message
with exit code 2, and the file is left as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from smartsync_tui.cli.exit_codes import COULD_NOT_RUN, OK
from smartsync_tui.config.paths import resolve_home
from tests.support.cli import run_main

ROOT = Path(__file__).resolve().parents[1]

VALID_DIRECTORY = {"id": "corp", "server": "dc1.corp.example", "bind_user": "svc@corp.example",
                   "base_dn": "DC=corp,DC=example", "tls": "ldaps"}


def _cli(home: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), *argv],
        capture_output=True, text=True, env={**clean, **(env or {})}, timeout=60, cwd=ROOT,
    )


def _home_with(tmp_path: Path, text: str) -> tuple[Path, Path]:
    home = tmp_path / "home"
    settings_file = resolve_home(home).ensure().settings_file
    settings_file.write_bytes(text.encode("utf-8", "surrogatepass"))  # as is: no newline translation
    return home, settings_file


def _refused(done: subprocess.CompletedProcess[str], settings_file: Path, text: str, *words: str) -> None:
    assert done.returncode == COULD_NOT_RUN, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {settings_file}"), done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    assert settings_file.read_bytes() == text.encode("utf-8", "surrogatepass")


def test_an_init_option_in_the_file_does_not_turn_commands_into_a_help(tmp_path):
    text = '{"_cli_parse_args": ["--help"]}'
    home, settings_file = _home_with(tmp_path, text)
    for argv in (("directory", "list"), ("identity", "show"), ("sync", "--dry-run")):
        _refused(_cli(home, *argv), settings_file, text, "'_cli_parse_args' is not a setting")


def test_an_env_prefix_in_the_file_does_not_let_other_variables_in(tmp_path):
    text = '{"_env_prefix": ""}'
    home, settings_file = _home_with(tmp_path, text)
    done = _cli(home, "identity", "show", env={"IDENTITY": '{"environment": "evil.example"}'})
    _refused(done, settings_file, text, "'_env_prefix' is not a setting")
    assert "evil.example" not in done.stderr


def test_underscore_and_unknown_keys_are_refused_at_every_level(tmp_path):
    text = json.dumps({"proxy": {"_case_sensitive": True}, "directories": [{**VALID_DIRECTORY, "_x": 1, "colour": 2}]})
    home, settings_file = _home_with(tmp_path, text)
    _refused(_cli(home, "directory", "list"), settings_file, text,
             "proxy._case_sensitive: '_case_sensitive' is not a setting",
             "directories[0]._x: '_x' is not a setting", "directories[0].colour: unknown setting 'colour'")


def test_a_key_written_twice_is_refused_with_its_line(tmp_path):
    text = '{\n  "sync": {\n    "batch_size": 100,\n    "batch_size": 900\n  }\n}\n'
    home, settings_file = _home_with(tmp_path, text)
    _refused(_cli(home, "directory", "list"), settings_file, text,
             'the key "batch_size" is written twice', "line 4, column 5")


def test_ports_and_switches_are_json_numbers_and_booleans(tmp_path):
    for value, said in ((True, "must be a whole number, not true"), ("389", 'without quotes), not "389"'),
                        (389.0, "not 389.0")):
        text = json.dumps({"directories": [{**VALID_DIRECTORY, "port": value}]})
        home, settings_file = _home_with(tmp_path / str(value), text)
        _refused(_cli(home, "directory", "list"), settings_file, text, "directories[0].port: must be a whole number", said)
    text = json.dumps({"directories": [{**VALID_DIRECTORY, "enabled": "no"}]})
    home, settings_file = _home_with(tmp_path / "enabled", text)
    _refused(_cli(home, "directory", "list"), settings_file, text, "directories[0].enabled: must be true or false")


def test_a_5000_digit_number_and_100k_brackets_get_the_usual_message(tmp_path):
    for name, text, said in (
        ("digits", '{"sync": {"batch_size": ' + "9" * 5000 + "}}", "a number of 5000 characters"),
        ("nested", "[" * 100_000, "nested more than 32 deep"),
        ("nan", '{"sync": {"full_reconcile_interval_hours": NaN}}', "NaN is not a JSON number"),
        ("huge", '{"sync": {"full_reconcile_interval_hours": 1e999}}', "1e999 is too large a number"),
    ):
        home, settings_file = _home_with(tmp_path / name, text)
        _refused(_cli(home, "directory", "list"), settings_file, text, said, "is not valid JSON", "at line 1")


def test_half_a_character_in_a_refused_value_is_named_not_a_crash(tmp_path):
    """A lone surrogate escape where a host name goes: pydantic cannot word its refusal; we do."""
    text = '{"identity": {"environment": "\\ud800.example.com"}}'
    home, settings_file = _home_with(tmp_path, text)
    done = _cli(home, "identity", "show")
    _refused(done, settings_file, text, "identity: holds half a character (a lone \\uD800-\\uDFFF escape)")


def test_a_settings_file_that_is_not_a_small_regular_file_is_refused_before_reading(tmp_path):
    home = tmp_path / "home"
    settings_file = resolve_home(home).ensure().settings_file
    os.mkfifo(settings_file)  # an open() that waited for a writer would hang every command
    done = _cli(home, "directory", "list")
    # The home's checks may name it first ("is not a regular file"); either way, refused without a hang.
    assert done.returncode == COULD_NOT_RUN and str(settings_file) in done.stderr, done.stderr
    assert "is a named pipe (FIFO)" in done.stderr or "is not a regular file" in done.stderr, done.stderr
    settings_file.unlink()
    with open(settings_file, "wb") as file:
        file.truncate(3 * 1024 * 1024 * 1024)  # sparse: 3 GB that cost no disk
    done = _cli(home, "directory", "list")
    assert done.returncode == COULD_NOT_RUN and "a settings file is at most 1048576 bytes" in done.stderr, done.stderr
    assert settings_file.stat().st_size == 3 * 1024 * 1024 * 1024


# -- any document

_NAMES = st.sampled_from([
    "identity", "proxy", "directories", "sync", "logs", "url", "language", "port", "enabled", "mode", "host",
    "_cli_parse_args", "_env_prefix", "_case_sensitive", "_secrets_dir", "id", "server", "bind_user", "base_dn",
    "tls", "batch_size", "max_count", "password", "__class__", "",
])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.sampled_from(["--help", "ldaps", "plain", "manual", "389", "http://127.0.0.1:5325"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_NAMES, inner, max_size=4)),
    max_leaves=12,
)
_DOCUMENTS = st.one_of(
    st.dictionaries(_NAMES, _VALUES, max_size=5).map(json.dumps),
    st.builds(lambda key, a, b: f'{{"{key}": {json.dumps(a)}, "{key}": {json.dumps(b)}}}', _NAMES, _VALUES, _VALUES),
    st.integers(1, 6000).map(lambda n: '{"sync": {"batch_size": ' + "7" * n + "}}"),
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 5000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.text(max_size=40),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_DOCUMENTS)
def test_any_document_is_loaded_or_refused_with_the_settings_message(capsys, tmp_path_factory, text):
    home, settings_file = _home_with(tmp_path_factory.mktemp("doc"), text)
    code, out, err = run_main(capsys, "--home", str(home), "directory", "list", "--json")
    assert settings_file.read_bytes() == text.encode("utf-8", "surrogatepass")
    assert "Traceback" not in out + err and "unexpected" not in out + err
    if code == OK:
        assert isinstance(json.loads(out), list) and err == ""  # the directories, not a help or nothing
    else:
        assert code == COULD_NOT_RUN, (code, out, err)
        answer = json.loads(out)
        assert answer["kind"] == "settings" and str(settings_file) in answer["error"], answer

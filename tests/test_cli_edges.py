"""Values at the edge of what the CLI takes: files that are not files, times past the calendar.

`--ca-file /dev/zero` read for ever and a CA "file" of gigabytes was read
into memory; a FIFO hung the command at open(). `--since=-99999999999d`
ended in "unexpected OverflowError". Each is now a clear refusal (exit 2,
kind input) that names the option, before anything else is asked or read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartsync_tui.cli.exit_codes import COULD_NOT_RUN, OK

ROOT = Path(__file__).resolve().parents[1]


def _cli(home: Path, *argv: str, tz: str = "UTC") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), *argv],
        input="", capture_output=True, text=True, env={**env, "TZ": tz}, timeout=60, cwd=ROOT,
    )


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == COULD_NOT_RUN, (done.returncode, done.stdout, done.stderr)
    answer = json.loads(done.stdout)
    assert answer["kind"] == "input", answer
    for word in words:
        assert word in answer["error"], answer
    assert "unexpected" not in answer["error"] and "Traceback" not in done.stderr


def _add(home: Path, ca_file: str) -> subprocess.CompletedProcess[str]:
    return _cli(home, "directory", "add", "--server", "dc1.corp.example", "--user", "svc@corp.example",
                "--base-dn", "DC=corp,DC=example", "--ca-file", ca_file, "--password-stdin", "--token-stdin", "--json")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "ca.fifo"
    os.mkfifo(path)
    return path


@pytest.fixture
def huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.pem"
    with open(path, "wb") as file:
        file.truncate(8 * 1024 * 1024 * 1024)  # sparse: 8 GB on paper, nothing on disk
    return path


def test_a_ca_file_that_is_a_device_a_fifo_a_folder_or_huge_is_refused_before_reading(tmp_path, fifo, huge):
    home = tmp_path / "home"
    for path, said in (("/dev/zero", "/dev/zero is a device"), (str(fifo), "is a named pipe (FIFO)"),
                       (str(tmp_path), "is a folder"), (str(huge), "is 8589934592 bytes, too large for a CA file")):
        started = time.monotonic()
        done = _add(home, path)
        _refused(done, "--ca-file: ", said, "give the PEM file of the CA")
        assert time.monotonic() - started < 20, f"{path} took {time.monotonic() - started:.1f} s"
    assert not (home / "config" / "appsettings.json").exists()


@pytest.mark.parametrize("flag, value, tz", [
    ("--since", "-99999999999d", "UTC"),
    ("--since", "-" + "9" * 5000 + "d", "UTC"),
    ("--since", "-1000000w", "UTC"),
    ("--since", "0001-01-01", "Pacific/Kiritimati"),
    ("--until", "9999-12-31", "Pacific/Pago_Pago"),
    ("--until", "9999-12-31 23:59", "Pacific/Kiritimati"),
])
def test_a_time_past_the_calendar_is_a_clear_error(tmp_path, flag, value, tz):
    home = tmp_path / "home"
    out = tmp_path / "out.txt"
    done = _cli(home, "logs", "export", "--log", "application", f"{flag}={value}", "-o", str(out), "--json", tz=tz)
    _refused(done, f"{flag}: ", "further from today than any log reaches", "-36500d")
    assert not out.exists()


def test_the_edges_that_are_inside_the_calendar_still_export(tmp_path):
    home = tmp_path / "home"
    for n, (flag, value) in enumerate((("--since", "-36500d"), ("--until", "9999-12-31"), ("--since", "2026-11-27"))):
        done = _cli(home, "logs", "export", "--log", "application", f"{flag}={value}", "-o", str(tmp_path / f"{n}.txt"))
        assert done.returncode == OK, done.stderr

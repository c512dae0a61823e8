"""Test helper: `smartsync-tui ARGV` run in the test's own process, as main() sees it."""

from __future__ import annotations

from typing import AnyStr

import pytest

from smartsync_tui.cli import main as cli_main
from tests.support.logs import close_file_logging


def run_main(capture: pytest.CaptureFixture[AnyStr], *argv: str) -> tuple[int, AnyStr, AnyStr]:
    """(exit code, stdout, stderr) of ``main(argv)``; ``capture`` is capsys (text) or capfdbinary (bytes).

    The log files the command opened are closed after it, so a test may run many commands
    (hypothesis examples) without a handler, and an open file, per command left behind.
    """
    capture.readouterr()
    try:
        code = cli_main.main(list(argv))
    finally:
        close_file_logging()
    out, err = capture.readouterr()
    return code, out, err

"""The Identity emulator as a real subprocess, for integration tests.

``emulator`` (session-scoped) starts ``python -m smartsync_tui emulator`` on a
free loopback port with its own data dir and stops it with SIGTERM at the end.
Tests that set faults must clear them (``clear_faults``), since the instance
is shared; ``emulator_clean`` does that for them.

``start_emulator(data_dir)`` starts a separate instance (a context manager),
for tests that need to stop and restart one.

Each instance gets an admin key of its own (``SMARTSYNC_EMULATOR_ADMIN_KEY``);
``admin`` sends it, ``admin_headers`` is it for any other client.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT = 15.0
_LISTENING = re.compile(r"^emulator listening on (http://\S+)$")


class EmulatorProcess:
    """A running emulator: ``url``, ``admin`` (an httpx.Client on the admin side) and helpers."""

    def __init__(self, data_dir: Path, *, port: int = 0, home: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.data_dir.parent / f"{self.data_dir.name}.stderr.log"
        env = dict(os.environ)
        env["SMARTSYNC_HOME"] = str(home or self.data_dir.parent / f"{self.data_dir.name}-home")
        env["PYTHONUNBUFFERED"] = "1"
        self.admin_key = secrets.token_urlsafe(24)
        env["SMARTSYNC_EMULATOR_ADMIN_KEY"] = self.admin_key
        self._stderr = open(self.stderr_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smartsync_tui", "emulator", "--host", "127.0.0.1", "--port", str(port),
             "--data", str(self.data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.pid = self.process.pid
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain_stdout, args=(lines,), daemon=True).start()
        self.url = self._wait_for_listening(lines)
        self.admin = httpx.Client(base_url=self.url, timeout=30.0, headers=self.admin_headers)

    @property
    def admin_headers(self) -> dict[str, str]:
        """The header every ``/admin/...`` request needs."""
        return {"X-Admin-Key": self.admin_key}

    def _drain_stdout(self, lines: "queue.Queue[str | None]") -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:  # keep reading so the pipe never fills
            lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        lines.put(None)

    def _wait_for_listening(self, lines: "queue.Queue[str | None]") -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.01)) if remaining > 0 else None
            except queue.Empty:
                line = None
            if line is not None:
                match = _LISTENING.match(line)
                if match:
                    return match.group(1)
                seen.append(line)
                continue
            # EOF or timeout: the emulator did not come up.
            self._kill()
            stderr = self.stderr_path.read_text(errors="replace")
            pytest.fail(
                f"the emulator did not print its listening line within {STARTUP_TIMEOUT:g} s "
                f"(exit code {self.process.poll()}).\nstdout: {seen}\nstderr:\n{stderr}",
                pytrace=False,
            )

    # -- admin helpers

    def create_directory(self, name: str, **filters: str) -> tuple[str, str]:
        """(directory id, token) of a new directory; ``user_filter=`` / ``group_filter=`` are optional."""
        response = self.admin.post("/admin/directories", json={"name": name, **filters})
        response.raise_for_status()
        body = response.json()
        return body["id"], body["token"]

    def new_token(self, directory_id: str) -> str:
        response = self.admin.post(f"/admin/directories/{directory_id}/token")
        response.raise_for_status()
        return response.json()["token"]

    def revoke_token(self, directory_id: str) -> None:
        self.admin.delete(f"/admin/directories/{directory_id}/token").raise_for_status()

    def users(self, directory_id: str) -> list[dict[str, Any]]:
        response = self.admin.get(f"/admin/directories/{directory_id}/users")
        response.raise_for_status()
        return response.json()["users"]

    def groups(self, directory_id: str) -> list[dict[str, Any]]:
        response = self.admin.get(f"/admin/directories/{directory_id}/groups")
        response.raise_for_status()
        return response.json()["groups"]

    def faults(self, **settings: Any) -> dict[str, Any]:
        """Set faults: ``fail_next``, ``status``, ``retry_after``, ``latency_ms``."""
        response = self.admin.post("/admin/faults", json=settings)
        response.raise_for_status()
        return response.json()

    def clear_faults(self) -> None:
        self.admin.delete("/admin/faults").raise_for_status()

    def refuse(self, directory_id: str, external_id: str, detail: str) -> None:
        """Make Identity answer this item ``failed`` with ``detail`` in every batch, until ``clear_refusals``."""
        self.admin.post(
            f"/admin/directories/{directory_id}/refusals", json={"external_id": external_id, "detail": detail}
        ).raise_for_status()

    def clear_refusals(self, directory_id: str) -> None:
        self.admin.delete(f"/admin/directories/{directory_id}/refusals").raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.admin.get("/admin/stats")
        response.raise_for_status()
        return response.json()

    def queue_command(
        self, directory_id: str, payload: Any = None, *, type: str = "login_check", ttl_seconds: float = 60
    ) -> dict[str, Any]:
        response = self.admin.post(
            f"/admin/directories/{directory_id}/commands",
            json={"type": type, "payload": payload if payload is not None else {}, "ttl_seconds": ttl_seconds},
        )
        response.raise_for_status()
        return response.json()

    def login_check(self, directory_id: str, login: str, password: str, *, ttl_seconds: float = 60) -> dict[str, Any]:
        """What Identity does when a user logs in: the password encrypted to the agent's key, queued."""
        response = self.admin.post(
            f"/admin/directories/{directory_id}/login-checks",
            json={"login": login, "password": password, "ttl_seconds": ttl_seconds},
        )
        response.raise_for_status()
        return response.json()

    def try_login_check(self, directory_id: str, login: str, password: str) -> dict[str, Any] | None:
        """:meth:`login_check`, or None while the agent has not published its key yet (poll it)."""
        response = self.admin.post(f"/admin/directories/{directory_id}/login-checks",
                                   json={"login": login, "password": password})
        return response.json() if response.status_code == 201 else None

    def agents(self) -> list[dict[str, Any]]:
        response = self.admin.get("/admin/agents")
        response.raise_for_status()
        return response.json()["agents"]

    def wait_for_result(self, command_id: str, timeout: float = 30) -> dict[str, Any]:
        """The command once it is completed or expired (AssertionError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            command = self.command(command_id)
            if command["state"] in ("completed", "expired") or time.monotonic() > deadline:
                assert command["state"] in ("completed", "expired"), f"no result within {timeout} s: {command}"
                return command
            time.sleep(0.05)

    def command(self, command_id: str) -> dict[str, Any]:
        response = self.admin.get(f"/admin/commands/{command_id}")
        response.raise_for_status()
        return response.json()

    # -- lifecycle

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, and return the exit code (killed after ``timeout``: a failure in itself)."""
        self.admin.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        self._stderr.close()
        return self.process.returncode

    def _kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextlib.contextmanager
def start_emulator(data_dir: Path, *, port: int = 0) -> Iterator[EmulatorProcess]:
    """A separate emulator instance on ``data_dir``, stopped when the block ends."""
    instance = EmulatorProcess(data_dir, port=port)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator for the whole session (shared: create your own directory in each test)."""
    with start_emulator(tmp_path_factory.mktemp("emulator") / "data") as instance:
        yield instance


@pytest.fixture
def emulator_clean(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The shared emulator, with its faults cleared before and after the test."""
    emulator.clear_faults()
    yield emulator
    emulator.clear_faults()

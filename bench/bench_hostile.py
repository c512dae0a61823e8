#!/usr/bin/env python3
"""Benchmark: what a hostile Identity costs the agent, and what browser consoles cost `web`.

1. `smartsync-tui identity test` (a process of its own) against the hostile
   server of the test suite on 127.0.0.1 (tests/support/hostile_http.py): an
   endless chunked body, a gzip bomb (1 GiB decoded), a huge Content-Length, a
   body that drips a byte every 0.5 s. Per attack: wall time and peak RSS of
   the command (VmHWM-like: ru_maxrss of a freshly spawned child), and the
   first words of its answer. The floor is `identity test` against the real
   emulator.
2. `smartsync-tui web` with N consoles open (a websocket each, drawn at 80x24):
   the RSS of `web` and of every console it started, summed, for each N in
   ``--sessions``; then one past the cap, which must be refused.

    python bench/bench_hostile.py [--sessions 1,4]

docs/security.md gives what these bound and why. A benchmark, not a test: it
prints figures, and exits 1 only when something could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import hostile_http  # noqa: E402
from smartsync_tui.emulator.server import RunningEmulator  # noqa: E402



def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartsync_tui", "--home", str(home), *args],
                          capture_output=True, text=True, env=_environ(), cwd=ROOT, timeout=120)


def identity_test(work: Path, host: str) -> tuple[float, float, str]:
    """(seconds, peak MB, first line of the answer) of `identity test` against ``host``."""
    home = work / f"home-{time.monotonic_ns()}"
    for args in (("identity", "set", "--protocol", "http", "--environment", host), ("proxy", "set", "none")):
        done = _cli(home, *args)
        if done.returncode != 0:
            raise SystemExit(f"could not set up the home: {done.stdout}{done.stderr}")
    rss = work / "maxrss.txt"
    command = [sys.executable, "-m", "smartsync_tui", "--home", str(home), "identity", "test"]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", hostile_http.PEAK_RSS_LAUNCHER, str(rss), *command], capture_output=True, text=True,
                          env=_environ(), cwd=ROOT, timeout=300)
    seconds = time.monotonic() - started
    said = next((line.strip() for line in done.stdout.splitlines() if "reachable" in line), done.stdout.strip()[:80])
    return seconds, int(rss.read_text()) / 1024, said[:110]


def bench_identity(work: Path) -> None:
    print("identity test against a hostile Identity (wall s, peak RSS MB):")
    emulator = RunningEmulator("127.0.0.1", 0, work / "emulator").start()
    try:
        seconds, peak, said = identity_test(work, emulator.url.removeprefix("http://"))
    finally:
        emulator.stop()
    print(f"  {'the emulator (floor)':24} {seconds:6.1f} s {peak:7.1f} MB  {said}")
    for name, attack in (
        ("endless chunked body", hostile_http.endless_chunked()),
        ("gzip bomb (1 GiB)", hostile_http.gzip_bomb()),
        ("huge Content-Length", hostile_http.huge_content_length()),
        ("1 byte every 0.5 s", hostile_http.drip(0.5)),
    ):
        with hostile_http.HostileServer(attack) as server:
            seconds, peak, said = identity_test(work, server.host)
        print(f"  {name:24} {seconds:6.1f} s {peak:7.1f} MB  {said}")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def bench_web(work: Path, counts: list[int]) -> None:
    from tests.test_web_mode import base_of, browser, console_pids, log_in, read_until, web

    home = work / "web-home"
    print("web: RSS of web and the consoles it runs (MB):")
    with web(home, "--port", "0", "--max-sessions", str(max(counts))) as server:
        login_url = server.wait_serving()
        async with browser() as session:
            await log_in(session, login_url)
            sockets = []
            print(f"  {'consoles':>8} {'web':>7} {'consoles':>9} {'total':>7}")
            for count in [0, *counts]:
                while len(sockets) < count:
                    ws = await session.ws_connect(f"{base_of(login_url)}/ws?width=80&height=24")
                    await read_until(ws, "smartsync-tui", size=(80, 24))
                    sockets.append(ws)
                await asyncio.sleep(2)  # settled
                web_mb = _rss_mb(server.proc.pid)
                consoles = sum(_rss_mb(pid) for pid in console_pids(home))
                print(f"  {count:>8} {web_mb:7.1f} {consoles:9.1f} {web_mb + consoles:7.1f}")
            async with session.get(f"{base_of(login_url)}/") as response:
                print(f"  one more tab past the cap: HTTP {response.status}")
            for ws in sockets:
                await ws.close()
        started = time.monotonic()
        while console_pids(home) and time.monotonic() - started < 30:
            await asyncio.sleep(0.05)
        print(f"  all tabs closed: consoles gone in {time.monotonic() - started:.2f} s "
              f"({len(console_pids(home))} left)")
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,4", help="console counts to measure web at (default 1,4)")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.sessions.split(",") if n.strip()})
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as work:
        bench_identity(Path(work))
        asyncio.run(bench_web(Path(work), counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

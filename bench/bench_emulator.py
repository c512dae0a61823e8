"""Benchmark: upsert users through IdentityClient into the emulator (a real subprocess).

    python bench/bench_emulator.py [--users 10000] [--batch 500] [--rounds 3]

Prints users/s for a first pass (every user created), a second identical pass
(every user unchanged) and a third where every user changed (updated), each
the best of ``--rounds`` fresh directories, plus the round-trip time of one
1000-user batch. Not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from smartsync_tui.targets.identity.client import IdentityClient, ProxyChoice  # noqa: E402


def make_users(count: int, generation: int = 0) -> list[dict]:
    return [
        {
            "external_id": f"00000000-0000-4000-8000-{n:012x}",
            "login": f"user{n:05d}",
            "first_name": f"First{n}",
            "last_name": f"Last{n}-{generation}",
            "email": f"user{n:05d}@corp.example.com",
            "display_name": f"First{n} Last{n}",
            "job_title": "Analista",
            "department": f"Dept{n % 37}",
            "active": True,
        }
        for n in range(count)
    ]


def start_emulator(data_dir: str) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "smartsync_tui", "emulator", "--host", "127.0.0.1", "--port", "0", "--data", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    match = re.fullmatch(r"emulator listening on (http://\S+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"the emulator did not start (said {line!r})")
    key = re.match(r"emulator admin key: (\S+)", process.stdout.readline())  # printed once, after the address
    if not key:
        process.kill()
        raise SystemExit("the emulator did not print its admin key")
    return process, match.group(1), key.group(1)


def timed_pass(client: IdentityClient, users: list[dict], batch: int, expect: str) -> float:
    started = time.perf_counter()
    for start in range(0, len(users), batch):
        results = client.upsert_users(users[start : start + batch])
        if any(r["status"] != expect for r in results):
            raise SystemExit(f"unexpected statuses: {sorted({r['status'] for r in results})}, wanted {expect}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as data_dir:
        process, url, admin_key = start_emulator(data_dir)
        try:
            admin = httpx.Client(base_url=url, headers={"X-Admin-Key": admin_key})
            best = {"created": float("inf"), "unchanged": float("inf"), "updated": float("inf")}
            for _ in range(args.rounds):
                token = admin.post("/admin/directories", json={"name": "bench"}).json()["token"]
                with IdentityClient(url, token=SecretStr(token), proxy=ProxyChoice("none")) as client:
                    client.register_agent("bench")
                    users = make_users(args.users)
                    best["created"] = min(best["created"], timed_pass(client, users, args.batch, "created"))
                    best["unchanged"] = min(best["unchanged"], timed_pass(client, users, args.batch, "unchanged"))
                    changed = make_users(args.users, generation=1)
                    best["updated"] = min(best["updated"], timed_pass(client, changed, args.batch, "updated"))

            token = admin.post("/admin/directories", json={"name": "bench-1000"}).json()["token"]
            with IdentityClient(url, token=SecretStr(token), proxy=ProxyChoice("none")) as client:
                client.register_agent("bench")
                thousand = make_users(1000)
                one_batch = {
                    "created": timed_pass(client, thousand, 1000, "created"),
                    "unchanged": timed_pass(client, thousand, 1000, "unchanged"),
                }
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)

    print(f"{args.users} users in batches of {args.batch} through IdentityClient (best of {args.rounds}):")
    for status, seconds in best.items():
        print(f"  {status:>9}: {seconds:6.2f} s  {args.users / seconds:10,.0f} users/s")
    print("one batch of 1000 users, round trip:")
    for status, seconds in one_batch.items():
        print(f"  {status:>9}: {seconds * 1000:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

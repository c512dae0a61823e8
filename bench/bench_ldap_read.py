#!/usr/bin/env python3
"""Benchmark: read every user of a 10,000-user Samba AD DC.

Compares ``smartsync_tui.ad.search.paged_search`` (what the sync
engine uses) with a bare ldap3 paged search of the same data (the floor:
``conn.extend.standard.paged_search(..., generator=True)``), both over LDAPS
with the certificate validated, pages of 1000 (AD's MaxPageSize) and the sync
attributes. Each variant runs in a fresh interpreter (so each peak RSS is its
own), ``--repeat`` times; the best and median times are printed.

    python bench/bench_ldap_read.py [--users 10000] [--repeat 3] [--keep DIR]

Needs root or an installed Samba (see scripts/samba_dc.py); one DC per machine,
so it waits for a DC run by a test session to stop. This is a benchmark, not a
test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNC_ATTRIBUTES = [
    "objectGUID", "sAMAccountName", "userPrincipalName", "givenName", "sn", "mail", "displayName",
    "department", "userAccountControl", "uSNChanged", "whenChanged", "memberOf",
]
USER_FILTER = "(&(objectClass=user)(objectCategory=person))"
PAGE_SIZE = 1000


def _samba_dc():
    from smartsync_tui.testbed import samba_dc

    return samba_dc


def _peak_rss_mib() -> float:
    """VmHWM: a forked child's ru_maxrss starts at its parent's high-water mark."""
    from measure import peak_rss_bytes

    return peak_rss_bytes() / (1024 * 1024)


# -- children: one variant each ------------------------------------------------


def child_floor(facts: dict) -> dict:
    import ssl

    from ldap3 import NONE, Connection, Server, Tls

    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=facts["ca_file"], valid_names=[facts["tls_server_name"]])
    server = Server(facts["host"], port=636, use_ssl=True, tls=tls, get_info=NONE)
    conn = Connection(server, user=facts["admin_user"], password=facts["admin_password"], auto_bind=True)
    started = time.perf_counter()
    count = 0
    for entry in conn.extend.standard.paged_search(
        facts["base_dn"], USER_FILTER, attributes=SYNC_ATTRIBUTES, paged_size=PAGE_SIZE, generator=True
    ):
        if entry["type"] == "searchResEntry":
            count += 1
    seconds = time.perf_counter() - started
    conn.unbind()
    return {"seconds": seconds, "count": count}


def child_ours(facts: dict, page_size: int = PAGE_SIZE) -> dict:
    sys.path.insert(0, str(ROOT))
    from pydantic import SecretStr

    from smartsync_tui.ad import connect as ad_connect

    from smartsync_tui.ad import search as ad_search
    from smartsync_tui.config.settings import DirectorySettings

    directory = DirectorySettings(
        id="bench", server=facts["host"], tls="ldaps", ca_file=facts["ca_file"],
        tls_server_name=facts["tls_server_name"], bind_user=facts["admin_user"], base_dn=facts["base_dn"],
    )
    conn = ad_connect.connect(directory, SecretStr(facts["admin_password"]))
    started = time.perf_counter()
    count = 0
    for entry in ad_search.paged_search(conn, facts["base_dn"], USER_FILTER, SYNC_ATTRIBUTES, page_size=page_size):
        count += 1
    seconds = time.perf_counter() - started
    ad_connect.close(conn)
    return {"seconds": seconds, "count": count}


VARIANTS = {
    "bare ldap3 paged_search (floor)": ("floor", {}),
    f"ad_search.paged_search, pages of {PAGE_SIZE}": ("ours", {"page_size": PAGE_SIZE}),
    "ad_search.paged_search, pages of 500 (default)": ("ours", {"page_size": 500}),
}


def run_child(kind: str, options: dict, facts: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--options", json.dumps(options)],
        input=json.dumps(facts), capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout)


# -- parent -----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="keep (or reuse) the seeded DC in DIR")
    parser.add_argument("--lock-wait", type=float, default=900.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        facts = json.loads(sys.stdin.read())
        options = json.loads(args.options)
        result = child_floor(facts) if args.child == "floor" else child_ours(facts, **options)
        result["peak_rss_mib"] = round(_peak_rss_mib(), 1)
        print(json.dumps(result))
        return 0

    dc = _samba_dc()
    dc.ensure_installed(quiet=False)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="smartsync-bench-dc-"))
    reuse = (workdir / dc.INFO_FILE).exists()
    pid = None
    try:
        t0 = time.perf_counter()
        info = dc.provision(workdir)
        t1 = time.perf_counter()
        if not reuse:
            summary = dc.seed(workdir, args.users)
            print(f"seeded {len(summary['users'])} users and {len(summary['groups'])} groups in "
                  f"{summary['seconds_total']:.1f} s (users {summary['seconds_users']:.1f} s); "
                  f"'{dc.BIG_GROUP}' has {len(summary['groups'][dc.BIG_GROUP])} members")
        t2 = time.perf_counter()
        pid = dc.start(workdir, lock_wait=args.lock_wait, die_with_parent=True, owner_pid=os.getpid())
        t3 = time.perf_counter()
        print(f"DC ready: provision {t1 - t0:.2f} s, seed {t2 - t1:.2f} s, start {t3 - t2:.2f} s "
              f"(samba {info.samba_version}, -M single, PID {pid})")
        info.pid = pid
        facts = info.facts()

        results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        for _ in range(args.repeat):  # interleaved, so drift hits every variant alike
            for name, (kind, options) in VARIANTS.items():
                results[name].append(run_child(kind, options, facts))

        floor_best = min(r["seconds"] for r in results["bare ldap3 paged_search (floor)"])
        print(f"\nread all users, {len(SYNC_ATTRIBUTES)} attributes, LDAPS, best/median of {args.repeat}:")
        for name, runs in results.items():
            times = [r["seconds"] for r in runs]
            best, median = min(times), statistics.median(times)
            count = runs[0]["count"]
            rss = max(r["peak_rss_mib"] for r in runs)
            print(f"  {name:<50} {count:>6} users  best {best:6.3f} s  median {median:6.3f} s  "
                  f"{count / best:8.0f} users/s  {best / floor_best:4.2f}x floor  peak RSS {rss:5.1f} MiB")
        samba_rss = _rss_of(pid)
        if samba_rss:
            print(f"  samba (-M single) RSS now: {samba_rss:.0f} MiB")
    finally:
        if pid is not None:
            dc.stop(pid)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _rss_of(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


if __name__ == "__main__":
    sys.exit(main())

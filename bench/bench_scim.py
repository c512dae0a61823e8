#!/usr/bin/env python3
"""Benchmark: the SCIM target, from a real Samba AD DC into scim2-server (a real SCIM server).

On the DC that bench_sync.py seeds (10,000 users and 200 groups by default, cached in
/tmp/smartsync-bench-dc-<N>), each round uses a fresh scim2-server process:

- the floor: bare httpx, the same creates (the same JSON bodies: every user, then every
  group with its members' ids) at the same concurrency, nothing else (no AD read, no store);
- a first full sync (the agent in a fresh interpreter: its time, users/s, the ratio to the
  floor, its apply phase alone, peak RSS and the requests it made);
- a delta with nothing changed (its requests must be 0);
- a delta after 10 users' sn changed (requests per changed object: 1 is the floor);

then checks, through the server's own SCIM API, that it holds AD's projection.

    python bench/bench_scim.py [--users 10000] [--runs 1] [--concurrency 4] [--keep-dc]

A benchmark, not a test: it prints figures and exits 0 unless something could not run or
the server's content is wrong (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bench_sync as base  # the seeded DC, its LDAP helpers, the child runner's conventions
from measure import peak_rss_bytes

ROOT = base.ROOT
DIRECTORY_ID = base.DIRECTORY_ID
TARGET_RATIO = 0.9  # the agent's users/s against the floor's


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScimServer:
    """scim2-server in a process of its own (its CPU is not the agent's)."""

    def __init__(self, log: Path) -> None:
        import httpx

        self.token = secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{_free_port()}"
        exe = shutil.which("scim2-server") or str(Path(sys.executable).with_name("scim2-server"))
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([exe, "--hostname", "127.0.0.1", "--port", self.url.rsplit(":", 1)[1],
                                         f"--bearer-token={self.token}"], stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=self._log)
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.http.get("/ServiceProviderConfig")
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"scim2-server did not start; see {log}") from None
                time.sleep(0.1)

    def listing(self, kind: str) -> list[dict]:
        out: list[dict] = []
        start = 1
        while True:
            page = self.http.get(f"/{kind}", params={"startIndex": start, "count": 1000}).json()
            found = page.get("Resources") or []
            out += found
            start += len(found)
            if not found or start > page.get("totalResults", 0):
                return out

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


# ---------------------------------------------------------------------------
# AD's projection, as the agent sends it (built once, outside every timing)


def projection(conn, base_dn: str) -> tuple[list[dict], list[tuple[dict, list[str]]]]:  # type: ignore[no-untyped-def]
    """(the user payloads, (group payload, member guids at any depth)): what a first sync sends, read
    with the agent's own reader and mapping (so the floor sends the same bodies)."""
    import threading

    from smartsync_tui.ad import reader
    from smartsync_tui.engine.mapping import user_payload

    never = threading.Event()
    users: list[dict] = []
    by_dn: dict[str, str] = {}
    for user in reader.iter_users(conn, base_dn, base.USER_FILTER, since_usn=None, page_size=base.PAGE_SIZE,
                                  cancel=never):
        by_dn[user.dn.lower()] = user.guid
        if not user.disabled:  # disabled and never synced: a first sync does not create it
            users.append(user_payload(user))
    sent = {u["external_id"] for u in users}
    read = list(reader.iter_groups(conn, base_dn, base.GROUP_FILTER, since_usn=None, page_size=base.PAGE_SIZE,
                                   cancel=never))
    by_group = {g.dn.lower(): [m.lower() for m in g.member_dns] for g in read}

    def users_of(dn: str, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for member in by_group.get(dn, ()):
            if member in by_group and member not in seen:
                out |= users_of(member, seen | {member})
            elif by_dn.get(member) in sent:
                out.add(by_dn[member])
        return out

    return users, [({"external_id": g.guid, "name": g.name}, sorted(users_of(g.dn.lower(), {g.dn.lower()})))
                   for g in read]


# ---------------------------------------------------------------------------
# Children (each in a fresh interpreter)


def child_floor(job: dict) -> dict:
    """Bare httpx: POST every user, then every group with its members, ``concurrency`` in flight."""
    import httpx

    from smartsync_tui.targets.scim import resources

    users, groups = job["users"], job["groups"]
    bodies = [resources.user_resource(u) for u in users]
    local = threading.local()
    ids: dict[str, str] = {}

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=job["url"], timeout=60, headers={
                "Authorization": f"Bearer {job['token']}", "Content-Type": "application/scim+json"})
        return local.c

    def post_user(body: dict) -> None:
        answer = client().post("/Users", content=json.dumps(body))
        answer.raise_for_status()
        ids[body["externalId"]] = answer.json()["id"]

    def post_group(item: list) -> None:
        group, members = item
        body = resources.group_resource(group, [ids[m] for m in members])
        client().post("/Groups", content=json.dumps(body)).raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(job["concurrency"]) as pool:
        list(pool.map(post_user, bodies))
    t_users = time.perf_counter() - t0
    with ThreadPoolExecutor(job["concurrency"]) as pool:
        list(pool.map(post_group, groups))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "users_seconds": t_users, "users": len(bodies), "groups": len(groups),
            "requests": len(bodies) + len(groups), "peak_rss_bytes": peak_rss_bytes()}


def child_sync(job: dict) -> dict:
    """One SyncEngine.run of the SCIM directory, its requests counted at the client."""
    os.environ["SMARTSYNC_HOME"] = job["home"]
    from collections import Counter

    import smartsync_tui.ad.source  # noqa: F401 (imports outside the timing, as bench_sync does)
    from smartsync_tui.config.paths import resolve_home
    from smartsync_tui.config.secret_store import SecretStore
    from smartsync_tui.config.settings import load_settings
    from smartsync_tui.engine.results import SyncOptions
    from smartsync_tui.engine.sync import SyncEngine
    from smartsync_tui.store.state_store import StateStore
    from smartsync_tui.targets.scim import client as scim_client

    calls: Counter[str] = Counter()
    lock = threading.Lock()
    send = scim_client.ScimClient._send

    def counted(self, method, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            calls[f"{method} {path.split('/')[1] if '/' in path else path}"] += 1
        return send(self, method, path, *args, **kwargs)

    scim_client.ScimClient._send = counted  # type: ignore[method-assign]
    home = resolve_home(job["home"])
    state = StateStore(home.state_db)
    engine = SyncEngine(load_settings(home.settings_file), SecretStore(home.secrets_file), state)
    phases: dict[str, float] = {}

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        phases.setdefault(p.phase, time.perf_counter())

    t0 = time.perf_counter()
    result = engine.run(DIRECTORY_ID, SyncOptions(full=job["full"], concurrency=job["concurrency"],
                                                  batch_size=job["batch_size"]), progress=progress)
    seconds = time.perf_counter() - t0
    state.close()
    applying = t0 + seconds - phases["applying"] if "applying" in phases else 0.0
    marks = sorted(phases.items(), key=lambda kv: kv[1])
    spans = {name: round(nxt - at, 3) for (name, at), (_n, nxt) in zip(marks, marks[1:] + [("end", t0 + seconds)])}
    return {"seconds": seconds, "apply_seconds": applying, "phases": spans, "outcome": result.outcome, "error": result.error,
            "counts": result.counts, "calls": dict(calls), "requests": sum(calls.values()),
            "peak_rss_bytes": peak_rss_bytes()}


def run_child(kind: str, job: dict) -> dict:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind], input=json.dumps(job),
                          capture_output=True, text=True, check=False, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"bench child {kind} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------


def make_home(root: Path, facts: dict, server: ScimServer) -> Path:
    from smartsync_tui.config.paths import resolve_home
    from smartsync_tui.config.secret_store import SecretStore, directory_password_key, directory_token_key
    from smartsync_tui.config.settings import AppSettings, DirectorySettings, ProxySettings, ScimSettings, save_settings

    home = resolve_home(root).ensure()
    save_settings(home.settings_file, AppSettings(proxy=ProxySettings(mode="none"), directories=[DirectorySettings(
        id=DIRECTORY_ID, display_name="bench DC", server=facts["host"], tls="ldaps", ca_file=facts["ca_file"],
        tls_server_name=facts["tls_server_name"], bind_user=facts["admin_user"], base_dn=facts["base_dn"],
        target="scim", scim=ScimSettings(base_url=server.url))]))
    SecretStore(home.secrets_file).set_many({directory_password_key(DIRECTORY_ID): facts["admin_password"],
                                             directory_token_key(DIRECTORY_ID): server.token})
    return root


def verify(server: ScimServer, users: list[dict], groups: list, changed: dict[str, str]) -> list[str]:
    held = {u.get("externalId"): u for u in server.listing("Users")}
    problems = []
    expected = {u["external_id"]: u for u in users}
    if set(held) != set(expected):
        problems.append(f"users: {len(set(expected) - set(held))} missing, {len(set(held) - set(expected))} extra")
    for guid, sn in changed.items():
        if (held.get(guid, {}).get("name") or {}).get("familyName") != sn:
            problems.append(f"user {guid}: sn {sn} did not arrive")
    by_id = {u["id"]: guid for guid, u in held.items()}
    held_groups = {g.get("externalId"): g for g in server.listing("Groups")}
    for group, members in groups:
        got = held_groups.get(group["external_id"])
        if got is None:
            problems.append(f"group {group['name']} missing")
        elif {by_id.get(m["value"]) for m in got.get("members") or []} != set(members):
            problems.append(f"group {group['name']}: members differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep-dc", action="store_true")
    parser.add_argument("--dc-dir")
    parser.add_argument("--lock-wait", type=float, default=900.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(sys.stdin.read())
        print(json.dumps(child_floor(job) if args.child == "floor" else child_sync(job)))
        return 0

    wall0 = time.perf_counter()
    from smartsync_tui.testbed import samba_dc as dc

    dc.ensure_installed(quiet=False)
    size = f"{args.users // 1000}k" if args.users % 1000 == 0 else str(args.users)
    workdir = Path(args.dc_dir or f"/tmp/smartsync-bench-dc-{size}").resolve()
    workroot = Path(tempfile.mkdtemp(prefix="smartsync-bench-scim-"))
    pid = conn = None
    exit_code = 0
    rounds: list[dict[str, Any]] = []
    try:
        info, seeded = base.prepare_dc(dc, workdir, args.users)
        print(("seeded " if seeded else "reusing the seeded DC in ") + str(workdir))
        pid = dc.start(workdir, lock_wait=args.lock_wait, die_with_parent=True, owner_pid=os.getpid())
        info.pid = pid
        facts = info.facts()
        conn = base._ldap_conn(facts)
        base.ensure_groups(conn, info.base_dn, f"OU={dc.GROUPS_OU},{info.base_dn}", f"OU={dc.STAFF_OU},{info.base_dn}",
                           args.groups)
        users, groups = projection(conn, info.base_dn)
        print(f"AD holds {len(users)} users to create and {len(groups)} groups "
              f"({sum(len(m) for _g, m in groups)} links)")
        for r in range(args.runs):
            out: dict[str, Any] = {}
            floor_server = ScimServer(workroot / f"floor{r}.log")
            try:
                out["floor"] = run_child("floor", {"url": floor_server.url, "token": floor_server.token, "users": users,
                                                   "groups": [[g, m] for g, m in groups],
                                                   "concurrency": args.concurrency})
            finally:
                floor_server.stop()
            server = ScimServer(workroot / f"agent{r}.log")
            try:
                home = make_home(workroot / f"home{r}", facts, server)
                job = {"home": str(home), "concurrency": args.concurrency, "batch_size": args.batch_size}
                out["full"] = run_child("sync", {**job, "full": True})
                out["delta0"] = run_child("sync", {**job, "full": False})
                expected = {u["external_id"]: {"dn": "", "sn": u["last_name"]} for u in users}
                dns = base.read_expected(conn, info.base_dn)
                for guid in expected:
                    expected[guid]["dn"] = dns.get(guid, {}).get("dn", "")
                changed = base.change_surnames(conn, {g: v for g, v in expected.items() if v["dn"]},
                                               f"scim-{os.getpid()}-{r}")
                out["delta10"] = run_child("sync", {**job, "full": False})
                for key in ("full", "delta0", "delta10"):
                    if out[key]["outcome"] != "ok":
                        raise SystemExit(f"{key}: {out[key]['outcome']} {out[key]['error']}")
                out["problems"] = verify(server, [{**u, "last_name": changed.get(u["external_id"], u["last_name"])}
                                                  for u in users], groups, changed)
            finally:
                server.stop()
            rounds.append(out)
            f, s = out["floor"], out["full"]
            print(f"round {r + 1}: floor {f['seconds']:.2f} s ({f['users'] / f['users_seconds']:.0f} users/s), "
                  f"agent full {s['seconds']:.2f} s (apply {s['apply_seconds']:.2f} s), delta0 "
                  f"{out['delta0']['seconds']:.3f} s / {out['delta0']['requests']} requests, delta10 "
                  f"{out['delta10']['seconds']:.3f} s / {out['delta10']['requests']} requests; "
                  + ("content OK" if not out["problems"] else f"PROBLEMS {out['problems'][:3]}"))
            print("  full sync phases (s): " + ", ".join(f"{k} {v}" for k, v in s["phases"].items()))
            if out["problems"]:
                exit_code = 1

        med = statistics.median
        floor_rate = med(r["floor"]["users"] / r["floor"]["seconds"] for r in rounds)
        agent_rate = med(r["full"]["counts"]["create"] / r["full"]["seconds"] for r in rounds)
        apply_rate = med(r["full"]["counts"]["create"] / r["full"]["apply_seconds"] for r in rounds)
        last = rounds[-1]
        summary = {
            "users": len(users), "groups": len(groups), "concurrency": args.concurrency,
            "floor_seconds": med(r["floor"]["seconds"] for r in rounds),
            "floor_users_per_s": round(floor_rate, 1),
            "agent_seconds": med(r["full"]["seconds"] for r in rounds),
            "agent_users_per_s": round(agent_rate, 1), "ratio_to_floor": round(agent_rate / floor_rate, 3),
            "agent_apply_users_per_s": round(apply_rate, 1), "apply_ratio_to_floor": round(apply_rate / floor_rate, 3),
            "full_requests": last["full"]["requests"], "full_calls": last["full"]["calls"],
            "requests_per_created_object": round(last["full"]["requests"] / max(1, len(users) + len(groups)), 3),
            "delta0_requests": last["delta0"]["requests"],
            "delta10_requests_per_changed_user": last["delta10"]["requests"] / base.CHANGES,
            "peak_rss_mb": round(max(r["full"]["peak_rss_bytes"] for r in rounds) / 1e6, 1),
            "target_ratio": TARGET_RATIO, "pass": agent_rate / floor_rate >= TARGET_RATIO,
            "command": " ".join(["python", os.path.relpath(__file__, ROOT), *sys.argv[1:]]),
        }
        print(f"\nagent {agent_rate:.0f} users/s against the bare-httpx floor's {floor_rate:.0f}: "
              f"{agent_rate / floor_rate:.2f}x (target >= {TARGET_RATIO}) "
              f"{'PASS' if summary['pass'] else 'MISS'}; apply phase alone {apply_rate / floor_rate:.2f}x")
        print(f"requests: full {summary['full_requests']} ({summary['requests_per_created_object']} per object), "
              f"no-change delta {summary['delta0_requests']}, per changed user "
              f"{summary['delta10_requests_per_changed_user']}; peak RSS {summary['peak_rss_mb']} MB")
        print("JSON: " + json.dumps(summary))
        print(f"wall time: {time.perf_counter() - wall0:.1f} s")
    finally:
        base.clean_up(dc, conn, pid, workroot, workdir, keep_dc=args.keep_dc)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

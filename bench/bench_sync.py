#!/usr/bin/env python3
"""Benchmark: the sync engine against a real Samba AD DC and the Identity emulator.

Measures, on one seeded DC (10,000 users and 200 groups by default):

- the floor: a bare ldap3 paged search of the same users with the same
  attributes (LDAPS, certificate validated, pages of 1000), best of ``--runs``;
- a first full sync into an empty emulator directory (time, users/s, times the
  floor, peak RSS);
- a second full sync with nothing changed;
- a delta run with nothing changed;
- a delta run after 10 users' sn were changed over LDAP;

each next to the targets in docs/performance.md, with PASS or MISS, and
checks at the end that Identity holds what AD says (every syncable user, the
10 new surnames, every group). Every measured sync runs in a fresh interpreter
(its own SMARTSYNC_HOME; its VmHWM is the engine's peak RSS); the emulator
runs in a process of its own (a fresh one per round) so that neither its CPU
time nor its memory is counted as the engine's.

    python bench/bench_sync.py [--users 10000] [--groups 200] [--runs 3] [--keep-dc]
                               [--profile auto|all|none]

The seeded DC lives in /tmp/smartsync-bench-dc-<N> (``--dc-dir``) and is reused
when it is there (seeding 10,000 users takes ~35 s); ``--keep-dc`` keeps it for
the next invocation, otherwise it is removed at the end. Only one Samba DC can
run per machine: this waits (``--lock-wait``, 900 s) for a DC run by a test
session, and always stops its own at the end.

With ``--profile auto`` (the default) a step that missed a time target is run
once more under cProfile (outside the measured rounds) and its hottest
functions are printed; the .pstats files are kept under ``--profile-dir``.

A benchmark, not a test: it prints figures and exits 0 unless something could
not run or the final state in Identity is wrong (exit 1).

Why one script (~800 lines): a benchmark runs as one file, its child process included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from measure import peak_rss_bytes

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# What the engine reads for a user (ad_sync_reader.USER_ATTRIBUTES), asked for by the floor too.
USER_ATTRIBUTES = [
    "objectGUID", "sAMAccountName", "userPrincipalName", "givenName", "sn", "mail", "displayName",
    "title", "department", "userAccountControl", "uSNChanged",
]
GROUP_ATTRIBUTES = ["objectGUID", "cn", "sAMAccountName", "description", "uSNChanged", "member"]
USER_FILTER = "(&(objectClass=user)(objectCategory=person))"
GROUP_FILTER = "(objectCategory=group)"
PAGE_SIZE = 1000
DIRECTORY_ID = "bench"
BENCH_GROUP_PREFIX = "Bench Group "
MEMBERS_PER_BENCH_GROUP = 50
CHANGES = 10

# The targets of docs/performance.md.
TARGET_USERS_PER_S = 2000
TARGET_FLOOR_FACTOR = 2.0
TARGET_DELTA10_S = 0.5
TARGET_NOCHANGE_S = 0.3
TARGET_RSS_MB = 150  # decimal megabytes: 150e6 bytes (143 MiB)

STEPS = (
    ("full1", "full sync #1 (empty Identity)", True),
    ("full2", "full sync #2 (no change)", True),
    ("delta0", "delta, no change", False),
    ("delta10", f"delta, {CHANGES} sn changes", False),
)


_peak_rss_bytes = peak_rss_bytes


def _mb(n_bytes: float) -> float:
    return n_bytes / 1e6


# ---------------------------------------------------------------------------
# Children (each in a fresh interpreter)


def _ldap_conn(facts: dict):  # type: ignore[no-untyped-def]
    import ssl

    from ldap3 import NONE, Connection, Server, Tls

    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=facts["ca_file"], valid_names=[facts["tls_server_name"]])
    server = Server(facts["host"], port=636, use_ssl=True, tls=tls, get_info=NONE)
    return Connection(server, user=facts["admin_user"], password=facts["admin_password"], auto_bind=True,
                      raise_exceptions=True)


def child_floor(job: dict) -> dict:
    """Bare ldap3: every user (or group), paged, generator, nothing kept."""
    facts = job["facts"]
    kind = job.get("kind", "users")
    t_connect = time.perf_counter()
    conn = _ldap_conn(facts)
    connect_seconds = time.perf_counter() - t_connect
    ldap_filter, attributes = (USER_FILTER, USER_ATTRIBUTES) if kind != "groups" else (GROUP_FILTER, GROUP_ATTRIBUTES)
    started = time.perf_counter()
    if kind == "delta":  # what a no-change delta asks the DC: users changed after its highestCommittedUSN
        conn.search("", "(objectClass=*)", search_scope="BASE", attributes=["highestCommittedUSN"])
        usn = int(conn.response[0]["raw_attributes"]["highestCommittedUSN"][0])
        ldap_filter = f"(&(uSNChanged>={usn + 1}){USER_FILTER})"  # the engine's order (ad/reader.py's delta_filter)
    count = values = 0
    for entry in conn.extend.standard.paged_search(
        facts["base_dn"], ldap_filter, attributes=attributes, paged_size=PAGE_SIZE, generator=True
    ):
        if entry["type"] == "searchResEntry":
            count += 1
            if kind == "groups":
                values += len(entry["raw_attributes"].get("member") or ())
    seconds = time.perf_counter() - started
    conn.unbind()
    return {"seconds": seconds, "connect_seconds": connect_seconds, "count": count, "member_values": values}


def child_sync(job: dict) -> dict:
    """One SyncEngine.run in this fresh process: timings, phases, counts, peak RSS, CPU."""
    t_start = time.perf_counter()
    os.environ["SMARTSYNC_HOME"] = job["home"]
    from smartsync_tui.config.paths import resolve_home
    from smartsync_tui.config.secret_store import SecretStore
    from smartsync_tui.config.settings import load_settings
    from smartsync_tui.store.state_store import StateStore
    from smartsync_tui.engine.results import SyncOptions
    from smartsync_tui.engine.sync import SyncEngine

    # The AD source and the target are loaded by name when a run opens them (ad/base.py,
    # targets/registry.py): imported here, so the run's figure is the run's and the imports
    # stay in import_seconds, as when the engine imported them itself.
    import smartsync_tui.ad.source  # noqa: F401
    import smartsync_tui.targets.identity.target  # noqa: F401

    imported = time.perf_counter()
    home = resolve_home(job["home"])
    settings = load_settings(home.settings_file)
    state = StateStore(home.state_db)
    engine = SyncEngine(settings, SecretStore(home.secrets_file), state)
    options = SyncOptions(full=job["full"], batch_size=job["batch_size"], concurrency=job["concurrency"],
                          page_size=job["page_size"])
    phases: dict[str, float] = {}

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase not in phases:
            phases[p.phase] = time.perf_counter()

    profiler = None
    if job.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = engine.run(DIRECTORY_ID, options, progress=progress)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    state.close()
    store_bytes = sum(p.stat().st_size for p in home.state_db.parent.glob(home.state_db.name + "*"))
    if profiler is not None:
        profiler.dump_stats(job["profile"])
    # Phase durations: from one phase's first report to the next one's.
    marks = sorted(phases.items(), key=lambda kv: kv[1])
    phase_seconds = {}
    for (name, at), nxt in zip(marks, marks[1:] + [("end", t0 + seconds)]):
        phase_seconds[name] = round(nxt[1] - at, 4)
    return {
        "seconds": seconds,
        "engine_duration": result.duration,
        "outcome": result.outcome,
        "mode": result.mode,
        "mode_reason": result.mode_reason,
        "counts": result.counts,
        "error": result.error,
        "failures": [list(f) for f in result.failures[:5]],
        "phases": phase_seconds,
        "import_seconds": imported - t_start,
        "store_bytes": store_bytes,
        "cpu_seconds": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "peak_rss_bytes": _peak_rss_bytes(),
    }


def child_resident(job: dict) -> dict:
    """A resident engine's no-change deltas: one SyncEngine with a SourcePool, run after run."""
    os.environ["SMARTSYNC_HOME"] = job["home"]
    from smartsync_tui.config.paths import resolve_home
    from smartsync_tui.config.secret_store import SecretStore
    from smartsync_tui.config.settings import load_settings
    from smartsync_tui.engine.results import SyncOptions
    from smartsync_tui.engine.sources import SourcePool
    from smartsync_tui.engine.sync import SyncEngine
    from smartsync_tui.store.state_store import StateStore

    home = resolve_home(job["home"])
    settings = load_settings(home.settings_file)
    pool = SourcePool()
    options = SyncOptions(full=False, batch_size=job["batch_size"], concurrency=job["concurrency"],
                          page_size=job["page_size"])
    times = []
    with StateStore(home.state_db) as state:
        engine = SyncEngine(settings, SecretStore(home.secrets_file), state, sources=pool)
        for _ in range(job["runs"] + 1):
            t0 = time.perf_counter()
            result = engine.run(DIRECTORY_ID, options)
            times.append(time.perf_counter() - t0)
            if result.outcome != "ok" or result.mode != "delta":
                raise SystemExit(f"resident delta: {result.outcome} {result.mode} {result.error}")
    pool.close()
    return {"first_seconds": times[0], "median_seconds": statistics.median(times[1:]), "runs": len(times) - 1,
            "opened": pool.opened, "reused": pool.reused}


def run_child(kind: str, job: dict) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", kind],
        input=json.dumps(job), capture_output=True, text=True, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child {kind} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------------------
# The emulator (a process of its own)


class Emulator:
    def __init__(self, data_dir: Path) -> None:
        self.stderr = open(data_dir.parent / "emulator.stderr.log", "ab")  # noqa: SIM115 - closed in stop()
        self.admin_key = secrets.token_urlsafe(24)  # the emulator's /admin side needs it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smartsync_tui", "emulator", "--host", "127.0.0.1", "--port", "0",
             "--data", str(data_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, cwd=ROOT,
            env={**os.environ, "SMARTSYNC_HOME": str(data_dir.parent / "emulator-home"), "PYTHONUNBUFFERED": "1",
                 "SMARTSYNC_EMULATOR_ADMIN_KEY": self.admin_key},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode(errors="replace").strip()
        match = re.fullmatch(r"emulator listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise SystemExit(f"the emulator did not start (said {line!r}); see {self.stderr.name}")
        self.url = match.group(1)
        threading.Thread(target=self._drain, daemon=True).start()
        import httpx

        self.admin = httpx.Client(base_url=self.url, timeout=120.0, headers={"X-Admin-Key": self.admin_key})

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def create_directory(self, name: str) -> tuple[str, str]:
        body = self.admin.post("/admin/directories", json={"name": name}).raise_for_status().json()
        return body["id"], body["token"]

    def users(self, directory_id: str) -> list[dict]:
        return self.admin.get(f"/admin/directories/{directory_id}/users").raise_for_status().json()["users"]

    def groups(self, directory_id: str) -> list[dict]:
        return self.admin.get(f"/admin/directories/{directory_id}/groups").raise_for_status().json()["groups"]

    def stop(self) -> None:
        if hasattr(self, "admin"):
            self.admin.close()
        if self.process.poll() is None:
            self.process.terminate()  # our own child, by its Popen handle
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.stderr.close()


def make_home(root: Path, facts: dict, emulator: Emulator, name: str) -> tuple[Path, str]:
    """A SMARTSYNC_HOME with one directory 'bench' (the DC, LDAPS) bound to a new emulator directory."""
    from urllib.parse import urlparse

    from pydantic import SecretStr

    from smartsync_tui.targets.identity.client import IdentityClient

    from smartsync_tui.targets.identity.network import ProxyChoice
    from smartsync_tui.config.paths import resolve_home
    from smartsync_tui.config.secret_store import (
        SecretStore,
        directory_agent_key,
        directory_password_key,
        directory_token_key,
    )
    from smartsync_tui.config.settings import (
        AppSettings,
        DirectorySettings,
        IdentitySettings,
        ProxySettings,
        save_settings,
    )

    identity_directory, token = emulator.create_directory(name)
    home = resolve_home(root).ensure()
    settings = AppSettings(
        identity=IdentitySettings(protocol="http", environment=urlparse(emulator.url).netloc),
        proxy=ProxySettings(mode="none"),
        directories=[DirectorySettings(
            id=DIRECTORY_ID, display_name="bench DC", server=facts["host"], tls="ldaps", ca_file=facts["ca_file"],
            tls_server_name=facts["tls_server_name"], bind_user=facts["admin_user"], base_dn=facts["base_dn"],
        )],
    )
    save_settings(home.settings_file, settings)
    with IdentityClient(emulator.url, token=SecretStr(token), proxy=ProxyChoice("none")) as client:
        _agent, key = client.register_agent("bench")
    SecretStore(home.secrets_file).set_many({
        directory_password_key(DIRECTORY_ID): facts["admin_password"],
        directory_token_key(DIRECTORY_ID): token,
        directory_agent_key(DIRECTORY_ID): key.get_secret_value(),
    })
    return Path(root), identity_directory


# ---------------------------------------------------------------------------
# The DC: seeded once, reused


SEED_MARK = "bench-seeded.json"


def default_big_group(users: int) -> int:
    """The seeded big group's members: 2,000, or 50,000 from 100,000 users."""
    return 50_000 if users >= 100_000 else 2000


def prepare_dc(dc, workdir: Path, users: int, big_group: int | None = None) -> tuple[Any, dict | None]:  # type: ignore[no-untyped-def]
    # The other benchmarks (bench_scim, bench_console) reuse the DC this one seeds, with its defaults.
    big_group = default_big_group(users) if big_group is None else big_group
    mark = workdir / SEED_MARK
    if (workdir / dc.INFO_FILE).exists() and mark.exists():
        seeded = json.loads(mark.read_text())
        if seeded.get("users") == users and seeded.get("big_group", 2000) == big_group:
            return dc.DCInfo.load(workdir), None
    if workdir.exists():  # half-seeded or seeded for another size: start again
        shutil.rmtree(workdir)
    info = dc.provision(workdir)
    t0 = time.perf_counter()
    # Straight into sam.ldb with the DC stopped: Samba's fastest way (testbed/samba_dc.py).
    summary = dc.seed(workdir, users, big_group=big_group, batch=1000)
    seconds = time.perf_counter() - t0
    mark.write_text(json.dumps({"users": users, "big_group": big_group, "seeded_at": time.time()}))
    return info, {"users": len(summary["users"]), "groups": len(summary["groups"]), "seconds": seconds}


def ensure_groups(conn, base_dn: str, groups_ou: str, staff_ou: str, wanted: int,  # type: ignore[no-untyped-def]
                  members_per_group: int = 50) -> dict:
    """OU=Groups holds ``wanted`` groups: the seeded ones plus 'Bench Group NNN' of ``members_per_group`` users each."""
    from ldap3 import SUBTREE

    existing = conn.extend.standard.paged_search(
        groups_ou, "(objectClass=group)", search_scope=SUBTREE, attributes=["cn"], paged_size=1000, generator=False
    )
    names = {e["attributes"]["cn"] if isinstance(e["attributes"]["cn"], str) else e["attributes"]["cn"][0]
             for e in existing if e["type"] == "searchResEntry"}
    missing = wanted - len(names)
    if missing <= 0:
        return {"groups": len(names), "added": 0, "seconds": 0.0}
    users = conn.extend.standard.paged_search(
        staff_ou, USER_FILTER, search_scope=SUBTREE, attributes=["sAMAccountName"], paged_size=1000, generator=False
    )
    user_dns = sorted(e["dn"] for e in users if e["type"] == "searchResEntry")
    t0 = time.perf_counter()
    added = 0
    n = 0
    while added < missing:
        name = f"{BENCH_GROUP_PREFIX}{n:03d}"
        n += 1
        if name in names:
            continue
        start = (n - 1) * members_per_group
        members = [user_dns[(start + k) % len(user_dns)] for k in range(members_per_group)]
        conn.add(f"CN={name},{groups_ou}", ["top", "group"],
                 {"sAMAccountName": f"bench-g{n - 1:03d}", "description": f"benchmark group {n - 1}",
                  "member": members})
        added += 1
    return {"groups": len(names) + added, "added": added, "seconds": time.perf_counter() - t0}


def read_expected(conn, base_dn: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """AD's users as the engine's rules would send them: guid -> {dn, sn} for the ones Identity must hold.

    Skipped: no givenName, sn or mail; disabled and never synced (a first sync does not create them).
    """
    out: dict[str, dict] = {}
    for e in conn.extend.standard.paged_search(
        base_dn, USER_FILTER, attributes=USER_ATTRIBUTES, paged_size=PAGE_SIZE, generator=True
    ):
        if e["type"] != "searchResEntry":
            continue
        raw = e["raw_attributes"]
        given, sn, mail, uac = (_first_text(raw, name) for name in ("givenName", "sn", "mail", "userAccountControl"))
        if not (given and sn and mail) or int(uac or 0) & 0x2:
            continue
        guid = str(uuid.UUID(bytes_le=raw["objectGUID"][0]))
        out[guid] = {"dn": e["dn"], "sn": sn}
    return out


def read_big_group(conn, base_dn: str, expected: dict[str, dict]) -> int:  # type: ignore[no-untyped-def]
    """How many syncable users AD's big group holds (ldap3 follows its range retrieval itself)."""
    from smartsync_tui.testbed.samba_dc import BIG_GROUP

    conn.search(base_dn, f"(&(objectCategory=group)(cn={BIG_GROUP}))", attributes=["member"])
    members = {str(dn).lower() for e in conn.response if e.get("type") == "searchResEntry"
               for dn in e["attributes"].get("member", [])}
    return sum(1 for e in expected.values() if e["dn"].lower() in members)


def _first_text(raw: dict, name: str) -> str:
    values = raw.get(name) or []
    return values[0].decode("utf-8").strip() if values else ""


def change_surnames(conn, expected: dict[str, dict], tag: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Give CHANGES users (spread over the directory) a new sn; returns guid -> new sn."""
    from ldap3 import MODIFY_REPLACE

    guids = sorted(expected, key=lambda g: expected[g]["dn"].lower())
    step = max(1, len(guids) // CHANGES)
    chosen = guids[::step][:CHANGES]
    changed = {}
    for k, guid in enumerate(chosen):
        new_sn = f"Bench-{tag}-{k}"
        conn.modify(expected[guid]["dn"], {"sn": [(MODIFY_REPLACE, [new_sn])]})
        expected[guid]["sn"] = new_sn
        changed[guid] = new_sn
    return changed


# ---------------------------------------------------------------------------
# One round: a fresh emulator, a fresh home, the four steps


def one_round(facts: dict, workroot: Path, r: int, args: argparse.Namespace, conn, expected: dict,
              profile_steps: set[str] | None = None, profile_dir: Path | None = None) -> dict:  # type: ignore[no-untyped-def]
    round_dir = workroot / (f"round{r}" if profile_steps is None else f"profile{r}")
    (round_dir / "emulator").mkdir(parents=True)
    emulator = Emulator(round_dir / "emulator")
    out: dict[str, Any] = {}
    try:
        home, identity_directory = make_home(round_dir / "home", facts, emulator, f"bench round {r}")
        job_base = {"home": str(home), "batch_size": args.batch_size, "concurrency": args.concurrency,
                    "page_size": PAGE_SIZE}
        changed: dict[str, str] = {}
        for key, _label, full in STEPS:
            if key == "delta10":
                changed = change_surnames(conn, expected, f"{os.getpid()}-{r}-{int(time.time())}")
            job = {**job_base, "full": full}
            if profile_steps is not None and key in profile_steps and profile_dir is not None:
                job["profile"] = str(profile_dir / f"{key}.pstats")
            out[key] = run_child("sync", job)
            if out[key]["outcome"] not in ("ok",):
                raise SystemExit(f"{key}: the sync did not succeed: {out[key]['outcome']} {out[key]['error']} "
                                 f"{out[key]['failures']}")
        out["check"] = verify(emulator, identity_directory, expected, changed, out, args.members_per_group,
                              args.big_expected)
        if profile_steps is None and r == args.runs - 1:  # with this round's Identity still up
            out["resident"] = run_child("resident", {**job_base, "runs": 7})
    finally:
        emulator.stop()
    return out


def crash_round(facts: dict, workroot: Path, args: argparse.Namespace, expected: dict, clean_seconds: float) -> dict:
    """A full sync killed (-9) mid-apply, then the full sync that follows: nothing lost, nothing
    twice, and its time against a clean full sync of the same data (``clean_seconds``)."""
    import sqlite3

    round_dir = workroot / "crash"
    (round_dir / "emulator").mkdir(parents=True)
    emulator = Emulator(round_dir / "emulator")
    try:
        home, identity_directory = make_home(round_dir / "home", facts, emulator, "bench crash")
        job = {"home": str(home), "batch_size": args.batch_size, "concurrency": args.concurrency,
               "page_size": PAGE_SIZE, "full": True}
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", "sync"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert child.stdin is not None
        child.stdin.write(json.dumps(job))
        child.stdin.close()
        db = Path(home) / "data" / "state.sqlite3"
        landed = 0
        deadline = time.monotonic() + 1800
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as ro:
                    (landed,) = ro.execute("SELECT count(*) FROM object WHERE directory_id = ?", (DIRECTORY_ID,)).fetchone()
            except sqlite3.Error:
                continue
            if landed >= 0.3 * len(expected):
                break
        if child.poll() is not None:
            return {"ok": None, "note": "the full sync ended before it could be killed mid-apply (too small)"}
        child.kill()  # -9, our own child by its Popen handle
        child.wait(timeout=30)
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as ro:
            (pending,) = ro.execute("SELECT count(*) FROM pending WHERE directory_id = ?", (DIRECTORY_ID,)).fetchone()
        after = run_child("sync", job)
        users = emulator.users(identity_directory)
        ids = [u["external_id"] for u in users]
        ok = after["outcome"] == "ok" and set(ids) == set(expected) and len(ids) == len(set(ids))
        return {"killed_at_users": landed, "pending_after_kill": pending, "after": after,
                "ratio_to_clean": after["seconds"] / clean_seconds, "identity_users": len(users),
                "duplicates": len(ids) - len(set(ids)), "ok": ok}
    finally:
        emulator.stop()


def verify(emulator: Emulator, identity_directory: str, expected: dict, changed: dict[str, str],
           steps: dict, members_per_group: int = 50, big_group: int = 0) -> dict:
    users = {u["external_id"]: u for u in emulator.users(identity_directory)}
    groups = emulator.groups(identity_directory)
    problems: list[str] = []
    missing = set(expected) - set(users)
    extra = set(users) - set(expected)
    if missing or extra:
        problems.append(f"Identity has {len(users)} users, AD's syncable users are {len(expected)} "
                        f"({len(missing)} missing, {len(extra)} extra)")
    wrong_sn = [g for g, sn in changed.items() if users.get(g, {}).get("last_name") != sn]
    if len(changed) != CHANGES or wrong_sn:
        problems.append(f"{len(wrong_sn)} of the {len(changed)} changed surnames did not arrive")
    stale = [g for g, e in expected.items() if g in users and users[g]["last_name"] != e["sn"]]
    if stale:
        problems.append(f"{len(stale)} users have a last name that differs from AD's sn")
    groups_read = steps["full1"]["counts"].get("groups_read", 0)
    if len(groups) != groups_read:
        problems.append(f"Identity has {len(groups)} groups, the full sync read {groups_read}")
    bench_groups = [g for g in groups if g["name"].startswith(BENCH_GROUP_PREFIX)]
    # A member Identity does not hold (a skipped user) is not sent: at most 50, all of them held users.
    thin = []
    for g in bench_groups:
        if len(g["members"]) > members_per_group or not set(g["members"]) <= set(users):
            thin.append(g["name"])
    if thin:
        problems.append(f"bench groups with wrong members: {thin[:5]}")
    largest = max((len(g["members"]) for g in groups), default=0)
    if big_group and largest != big_group:
        problems.append(f"the largest group in Identity has {largest} members; AD's big group has {big_group} "
                        "syncable users")
    def applied(counts: dict) -> int:
        return sum(counts.get(k, 0) for k in ("create", "update", "disable", "enable", "group_create", "group_update"))

    for key in ("full2", "delta0"):
        if applied(steps[key]["counts"]):
            problems.append(f"{key} applied {applied(steps[key]['counts'])} changes, expected none")
    d10 = steps["delta10"]["counts"]
    if d10.get("update") != CHANGES or applied(d10) != CHANGES:
        problems.append(f"delta10 applied {applied(d10)} changes ({d10.get('update')} updates), expected {CHANGES} updates")
    for key, mode in (("full1", "full"), ("full2", "full"), ("delta0", "delta"), ("delta10", "delta")):
        if steps[key]["mode"] != mode:
            problems.append(f"{key} ran as {steps[key]['mode']} ({steps[key]['mode_reason']}), expected {mode}")
    return {
        "ok": not problems,
        "problems": problems,
        "identity_users": len(users),
        "expected_users": len(expected),
        "identity_groups": len(groups),
        "bench_groups": len(bench_groups),
        "bench_group_members": sum(len(g["members"]) for g in bench_groups),
        "identity_links": sum(len(g["members"]) for g in groups),
        "largest_group_members": largest,
        "changed_sn_arrived": len(changed) - len(wrong_sn),
    }


# ---------------------------------------------------------------------------
# Reporting


def machine_facts(info) -> dict:  # type: ignore[no-untyped-def]
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    import ldap3

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ldap3": ldap3.__version__,
        "samba": info.samba_version,
    }


def summarize(values: list[float]) -> dict:
    return {"best": min(values), "median": statistics.median(values), "all": [round(v, 4) for v in values]}


def _rss_of(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def report(facts_machine: dict, floor: list[dict], floor_groups: list[dict], floor_delta: list[dict], rounds: list[dict],
           args: argparse.Namespace, setup: dict) -> dict:
    floor_s = summarize([f["seconds"] for f in floor])
    floor_users = floor[0]["count"]
    floor_rss = max(f["peak_rss_bytes"] for f in floor)
    fg = summarize([f["seconds"] for f in floor_groups])
    fd = summarize([f["seconds"] for f in floor_delta])
    fdc = summarize([f["seconds"] + f["connect_seconds"] for f in floor_delta])
    steps: dict[str, dict] = {}
    for key, label, _full in STEPS:
        runs = [r[key] for r in rounds]
        s = summarize([x["seconds"] for x in runs])
        users_read = runs[0]["counts"].get("users_read", 0)
        steps[key] = {
            "label": label,
            "seconds": s,
            "engine_duration_best": min(x["engine_duration"] for x in runs),
            "process_seconds_best": min(x["process_seconds"] for x in runs),
            "import_seconds_best": min(x["import_seconds"] for x in runs),
            "cpu_seconds_best": min(x["cpu_seconds"] for x in runs),
            "users_read": users_read,
            "groups_read": runs[0]["counts"].get("groups_read", 0),
            "users_per_s": users_read / s["best"] if s["best"] else 0.0,
            "x_floor": s["best"] / floor_s["best"],
            "peak_rss_bytes": max(x["peak_rss_bytes"] for x in runs),
            "mode": runs[0]["mode"],
            "counts": runs[0]["counts"],
            "phases_of_best": min(runs, key=lambda x: x["seconds"])["phases"],
        }

    print()
    m = facts_machine
    print(f"machine: {m['nproc']} CPU ({m['cpu']}), {m['memory']}, Linux {m['kernel']}, Python {m['python']}, "
          f"ldap3 {m['ldap3']}, Samba {m['samba']}")
    print(f"data: {setup['users_read']} users read by the default filter under {setup['base_dn']} "
          f"({setup['expected_users']} syncable), {setup['groups_in_ou']} groups in OU=Groups "
          f"(+ built-in: {steps['full1']['groups_read']} groups read in all); engine batch {args.batch_size}, "
          f"concurrency {args.concurrency}, pages of {PAGE_SIZE}; best of {args.runs} rounds\n")
    head = f"{'step':<34}{'best':>9}{'median':>9}{'users/s':>10}{'x floor':>9}{'peak RSS':>11}{'CPU':>8}  applied"
    print(head)
    print("-" * len(head))
    print(f"{'floor: bare ldap3 paged search':<34}{floor_s['best']:>8.3f}s{floor_s['median']:>8.3f}s"
          f"{floor_users / floor_s['best']:>10,.0f}{1.0:>9.2f}{_mb(floor_rss):>8.1f} MB{'':>8}  ({floor_users} users)")
    fc = summarize([f["seconds"] + f["connect_seconds"] for f in floor])
    print(f"{'  (info) floor + connect and bind':<34}{fc['best']:>8.3f}s{fc['median']:>8.3f}s"
          f"{floor_users / fc['best']:>10,.0f}{fc['best'] / floor_s['best']:>9.2f}")
    print(f"{'  (info) bare ldap3, groups':<34}{fg['best']:>8.3f}s{fg['median']:>8.3f}s{'':>10}{'':>9}{'':>11}{'':>8}"
          f"  ({floor_groups[0]['count']} groups, {floor_groups[0]['member_values']} member values)")
    print(f"{'  (info) bare delta search, no chg':<34}{fd['best']:>8.3f}s{fd['median']:>8.3f}s{'':>10}{'':>9}{'':>11}{'':>8}"
          f"  (rootDSE + users with uSNChanged > highestCommittedUSN; {fdc['best']:.3f} s with connect and bind)")
    for key, st in steps.items():
        c = st["counts"]
        applied = ", ".join(f"{k} {v}" for k, v in c.items() if v and k not in ("users_read", "groups_read", "failed"))
        full = st["mode"] == "full"
        rate = f"{st['users_per_s']:>10,.0f}" if full else f"{'-':>10}"
        factor = f"{st['x_floor']:>9.2f}" if full else f"{'-':>9}"
        print(f"{st['label']:<34}{st['seconds']['best']:>8.3f}s{st['seconds']['median']:>8.3f}s"
              f"{rate}{factor}{_mb(st['peak_rss_bytes']):>8.1f} MB"
              f"{st['cpu_seconds_best']:>7.2f}s  {applied or '-'}")
    print("(time: SyncEngine.run() in a fresh process; a CLI run adds interpreter start + imports, "
          f"best {min(s['import_seconds_best'] for s in steps.values()):.2f} s: whole child process "
          + ", ".join(f"{k} {s['process_seconds_best']:.2f} s" for k, s in steps.items()) + ")")

    peak = max(st["peak_rss_bytes"] for st in steps.values())
    f1 = steps["full1"]
    targets = [
        ("full sync #1: users/s", f">= {TARGET_USERS_PER_S:,}/s", f"{f1['users_per_s']:,.0f}/s",
         f1["users_per_s"] >= TARGET_USERS_PER_S, "full1"),
        ("full sync #1: vs floor", f"<= {TARGET_FLOOR_FACTOR:g}x", f"{f1['x_floor']:.2f}x",
         f1["x_floor"] <= TARGET_FLOOR_FACTOR, "full1"),
        ("full sync #2 (no change): users/s", f">= {TARGET_USERS_PER_S:,}/s",
         f"{steps['full2']['users_per_s']:,.0f}/s", steps["full2"]["users_per_s"] >= TARGET_USERS_PER_S, "full2"),
        ("full sync #2 (no change): vs floor", f"<= {TARGET_FLOOR_FACTOR:g}x", f"{steps['full2']['x_floor']:.2f}x",
         steps["full2"]["x_floor"] <= TARGET_FLOOR_FACTOR, "full2"),
        (f"delta with {CHANGES} changes", f"< {TARGET_DELTA10_S} s", f"{steps['delta10']['seconds']['best']:.3f} s",
         steps["delta10"]["seconds"]["best"] < TARGET_DELTA10_S, "delta10"),
        ("no-change (delta) run", f"< {TARGET_NOCHANGE_S} s", f"{steps['delta0']['seconds']['best']:.3f} s",
         steps["delta0"]["seconds"]["best"] < TARGET_NOCHANGE_S, "delta0"),
        ("peak RSS of the engine (all steps)", f"< {TARGET_RSS_MB} MB", f"{_mb(peak):.1f} MB",
         _mb(peak) < TARGET_RSS_MB, "full1"),
    ]
    print()
    width = max(len(t[0]) for t in targets) + 2
    print(f"{'target':<{width}}{'wanted':>12}{'measured':>14}  result")
    for name, wanted, got, ok, _k in targets:
        print(f"{name:<{width}}{wanted:>12}{got:>14}  {'PASS' if ok else 'MISS'}")
    print("\nphases of the best run of each step (s):")
    for key, st in steps.items():
        print(f"  {key:<8} " + ", ".join(f"{p} {v:.3f}" for p, v in st["phases_of_best"].items()))
    return {
        "machine": facts_machine,
        "setup": setup,
        "floor": {"seconds": floor_s, "with_connect_seconds": fc, "users": floor_users, "users_per_s": floor_users / floor_s["best"],
                  "peak_rss_mb": round(_mb(floor_rss), 1)},
        "floor_groups": {"seconds": fg, "groups": floor_groups[0]["count"]},
        "floor_delta": {"seconds": fd, "with_connect_seconds": fdc},
        "steps": {k: {**v, "peak_rss_mb": round(_mb(v["peak_rss_bytes"]), 1)} for k, v in steps.items()},
        "targets": [{"target": n, "wanted": w, "measured": g, "pass": ok, "step": k} for n, w, g, ok, k in targets],
    }


def print_profile(path: Path, label: str, top: int) -> None:
    import io
    import pstats

    for order in ("cumulative", "tottime"):
        buffer = io.StringIO()
        stats = pstats.Stats(str(path), stream=buffer)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        lines = buffer.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
        print(f"\n--- cProfile of {label}, by {order} ({path}) ---")
        print("\n".join(lines[max(0, start - 1): start + top + 1]))


# ---------------------------------------------------------------------------
# Main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200, help="groups in OU=Groups (seeded + 'Bench Group NNN')")
    parser.add_argument("--big-group", type=int, default=None,
                        help="members of the seeded big group, read by range retrieval (default 2000; 50000 from 100,000 users)")
    parser.add_argument("--members-per-group", type=int, default=None,
                        help="users in each 'Bench Group NNN' (default 50; 200 from 100,000 users: 250,000 links)")
    parser.add_argument("--crash", action="store_true",
                        help="also kill -9 a full sync mid-apply and time the full sync that follows (against a clean one)")
    parser.add_argument("--runs", type=int, default=3, help="rounds (fresh emulator, fresh home) and floor runs")
    parser.add_argument("--keep-dc", action="store_true", help="keep the seeded DC folder for the next invocation")
    parser.add_argument("--dc-dir", help="the seeded DC's folder (default /tmp/smartsync-bench-dc-<N>)")
    parser.add_argument("--lock-wait", type=float, default=900.0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--profile", choices=("auto", "all", "none"), default="auto",
                        help="cProfile the steps that missed a time target (auto), every step (all) or none")
    parser.add_argument("--profile-dir", default=None, help="where to keep .pstats (default: a temp folder)")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--json", metavar="FILE", help="also write the JSON result to FILE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    large = args.users >= 100_000
    if args.big_group is None:
        args.big_group = default_big_group(args.users)
    if args.members_per_group is None:
        args.members_per_group = 200 if large else MEMBERS_PER_BENCH_GROUP

    if args.child:
        job = json.loads(sys.stdin.read())
        result = (child_floor(job) if args.child == "floor" else child_resident(job) if args.child == "resident"
                  else child_sync(job))
        result.setdefault("peak_rss_bytes", _peak_rss_bytes())
        print(json.dumps(result))
        return 0

    wall0 = time.perf_counter()
    from smartsync_tui.testbed import samba_dc as dc

    dc.ensure_installed(quiet=False)
    size = f"{args.users // 1000}k" if args.users % 1000 == 0 else str(args.users)
    workdir = Path(args.dc_dir or f"/tmp/smartsync-bench-dc-{size}").resolve()
    workroot = Path(tempfile.mkdtemp(prefix="smartsync-bench-sync-"))
    pid = None
    conn = None
    exit_code = 0
    try:
        t0 = time.perf_counter()
        info, seeded = prepare_dc(dc, workdir, args.users, args.big_group)
        if seeded:
            print(f"provisioned and seeded {workdir}: {seeded['users']} users, {seeded['groups']} groups "
                  f"in {time.perf_counter() - t0:.1f} s")
        else:
            print(f"reusing the seeded DC in {workdir}")
        t1 = time.perf_counter()
        pid = dc.start(workdir, lock_wait=args.lock_wait, die_with_parent=True, owner_pid=os.getpid())
        print(f"DC started in {time.perf_counter() - t1:.1f} s (PID {pid}, samba {info.samba_version})")
        info.pid = pid
        facts = info.facts()
        conn = _ldap_conn(facts)
        grouping = ensure_groups(conn, info.base_dn, f"OU={dc.GROUPS_OU},{info.base_dn}",
                                 f"OU={dc.STAFF_OU},{info.base_dn}", args.groups, args.members_per_group)
        if grouping["added"]:
            print(f"added {grouping['added']} groups of {args.members_per_group} members over LDAP "
                  f"in {grouping['seconds']:.1f} s")
        expected = read_expected(conn, info.base_dn)
        args.big_expected = read_big_group(conn, info.base_dn, expected)
        machine = machine_facts(info)

        floor: list[dict] = []
        floor_groups: list[dict] = []
        floor_delta: list[dict] = []
        rounds: list[dict] = []
        for r in range(args.runs):  # interleaved, so drift hits floor and engine alike
            floor.append(run_child("floor", {"facts": facts, "kind": "users"}))
            floor_groups.append(run_child("floor", {"facts": facts, "kind": "groups"}))
            floor_delta.append(run_child("floor", {"facts": facts, "kind": "delta"}))
            rounds.append(one_round(facts, workroot, r, args, conn, expected))
            f1 = rounds[-1]["full1"]
            print(f"round {r + 1}/{args.runs}: floor {floor[-1]['seconds']:.2f} s, "
                  + ", ".join(f"{k} {rounds[-1][k]['seconds']:.3f} s" for k, _l, _f in STEPS)
                  + f"; full1 peak RSS {_mb(f1['peak_rss_bytes']):.0f} MB; check "
                  + ("ok" if rounds[-1]["check"]["ok"] else "FAILED"))

        setup = {
            "base_dn": info.base_dn, "users_read": rounds[0]["full1"]["counts"].get("users_read"),
            "expected_users": len(expected), "groups_in_ou": grouping["groups"],
            "dc_dir": str(workdir), "dc_reused": seeded is None,
        }
        result = report(machine, floor, floor_groups, floor_delta, rounds, args, setup)
        stores = [r["full1"].get("store_bytes", 0) for r in rounds]
        print(f"state store after a full sync: {_mb(max(stores)):.1f} MB on disk "
              f"({max(stores) / max(1, len(expected)):.0f} bytes a user); links in Identity "
              f"{rounds[-1]['check']['identity_links']}, largest group {rounds[-1]['check']['largest_group_members']} "
              "members")
        result["store_bytes"] = max(stores)
        resident = rounds[-1]["resident"]
        bare = min(f["seconds"] for f in floor_delta)
        result["resident"] = resident | {"bare_delta_seconds": bare}
        ratio = resident["median_seconds"] / bare
        print(f"resident engine, no-change delta on its kept connection: median {resident['median_seconds']:.4f} s "
              f"of {resident['runs']} (first, connecting: {resident['first_seconds']:.3f} s; {resident['opened']} "
              f"connection opened, {resident['reused']} reuses) = {ratio:.2f}x the bare uSNChanged search "
              f"({bare:.4f} s; target <= 1.20x: {'PASS' if ratio <= 1.2 else 'MISS'})")
        if args.crash:
            clean = statistics.median(r["full1"]["seconds"] for r in rounds)
            crash = crash_round(facts, workroot, args, expected, clean)
            if crash["ok"] is None:
                print(f"crash mid-apply: not measured: {crash['note']}")
                crash = {}
        if args.crash and crash:
            result["crash"] = {k: v for k, v in crash.items() if k != "after"} | {"after_seconds": crash["after"]["seconds"]}
            clean = statistics.median(r["full1"]["seconds"] for r in rounds)
            print(f"crash mid-apply: killed at {crash['killed_at_users']} users applied ({crash['pending_after_kill']} "
                  f"pending); the next full sync took {crash['after']['seconds']:.2f} s = "
                  f"{crash['ratio_to_clean']:.2f}x a clean one ({clean:.2f} s; target <= 1.30x: "
                  f"{'PASS' if crash['ratio_to_clean'] <= 1.3 else 'MISS'}); Identity holds {crash['identity_users']} "
                  f"users, {crash['duplicates']} twice: " + ("OK" if crash["ok"] else "FAILED"))
            if not crash["ok"]:
                exit_code = 1
        samba_rss = _rss_of(pid)

        checks = [r["check"] for r in rounds]
        c = checks[-1]
        print(f"\ncorrectness (every round): Identity holds {c['identity_users']} users = {c['expected_users']} "
              f"syncable in AD, {c['identity_groups']} groups ({c['bench_groups']} bench groups, "
              f"{c['bench_group_members']} links), {c['changed_sn_arrived']}/{CHANGES} changed sn arrived: "
              + ("OK" if all(x["ok"] for x in checks) else "FAILED"))
        for n, x in enumerate(checks):
            for problem in x["problems"]:
                print(f"  round {n + 1}: {problem}")
        if not all(x["ok"] for x in checks):
            exit_code = 1
        if samba_rss:
            print(f"samba (-M single) RSS at the end: {_mb(samba_rss):.0f} MB")

        missed_time = sorted({t["step"] for t in result["targets"] if not t["pass"]})
        to_profile = set()
        if args.profile == "all":
            to_profile = {k for k, _l, _f in STEPS}
        elif args.profile == "auto":
            to_profile = set(missed_time)
        result["profiled"] = sorted(to_profile)
        if to_profile:
            profile_dir = Path(args.profile_dir or tempfile.mkdtemp(prefix="smartsync-bench-profile-"))
            profile_dir.mkdir(parents=True, exist_ok=True)
            print(f"\nprofiling {', '.join(sorted(to_profile))} (one more round under cProfile, not measured)")
            prof = one_round(facts, workroot, 0, args, conn, expected, profile_steps=to_profile,
                             profile_dir=profile_dir)
            for key, label, _f in STEPS:
                if key in to_profile:
                    print(f"\n{label}: {prof[key]['seconds']:.3f} s under cProfile; phases "
                          + ", ".join(f"{p} {v:.3f}" for p, v in prof[key]["phases"].items()))
                    print_profile(profile_dir / f"{key}.pstats", label, args.profile_top)
            result["profile_dir"] = str(profile_dir)

        result["rounds"] = rounds
        result["correct"] = all(x["ok"] for x in checks)
        result["command"] = " ".join([Path(sys.executable).name] + [os.path.relpath(__file__, ROOT)] + sys.argv[1:])
        result["wall_seconds"] = round(time.perf_counter() - wall0, 1)
        line = json.dumps(result, default=str)
        print("\nJSON: " + json.dumps({k: v for k, v in result.items() if k != "rounds"}, default=str))
        if args.json:
            Path(args.json).write_text(line + "\n")
        print(f"\nwall time of the whole script: {time.perf_counter() - wall0:.1f} s")
    finally:
        clean_up(dc, conn, pid, workroot, workdir, keep_dc=args.keep_dc)
    return exit_code


def clean_up(dc, conn, pid: int | None, workroot: Path, workdir: Path, *, keep_dc: bool) -> None:  # type: ignore[no-untyped-def]
    """What a benchmark leaves: the LDAP connection closed, its own DC stopped, its folders removed
    (the seeded DC's kept with --keep-dc)."""
    if conn is not None:
        with contextlib.suppress(Exception):  # the DC may be gone already
            conn.unbind()
    if pid is not None:
        dc.stop(pid)
    shutil.rmtree(workroot, ignore_errors=True)
    if not keep_dc:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

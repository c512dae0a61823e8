"""`smartsync-tui demo` without Samba: the in-memory directory, read by the real
engine through ad/connect.py's in-memory hook, synced into the emulator; the
trickle of changes; the command itself started and quit in a pty."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from ldap3 import MODIFY_REPLACE
from pydantic import SecretStr

from smartsync_tui.demo import command as demo_cmd
from smartsync_tui.ad import reader as ad_sync_reader
from smartsync_tui.ad import connect as ad_connect
from smartsync_tui.ad import search as ad_search
from smartsync_tui.ad.errors import DirectoryError
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import (
    DEFAULT_USER_FILTER,
    DirectorySettings,
    load_settings,
)
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.engine.results import SyncOptions
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.testbed.memory_dc import DEMO_HOST, MemoryDC
from smartsync_tui.testbed.trickle import (
    ChangeTrickle,
    DemoChanges,
    samba_admin_connection,
)
from tests.support.logs import close_file_logging

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(tmp_path) -> Any:
    prepared = demo_cmd.prepare(use_samba=False, workdir=tmp_path / "demo")
    yield prepared
    prepared.close()
    close_file_logging()
    assert not (tmp_path / "demo").exists()


def _identity_users(demo: Any) -> dict[str, dict]:
    response = httpx.get(f"{demo.emulator.url}/admin/directories/{demo.identity_directory}/users", timeout=10, headers=demo.emulator.admin_headers)
    response.raise_for_status()
    return {u["login"].split("@")[0]: u for u in response.json()["users"]}


def _identity_groups(demo: Any) -> dict[str, dict]:
    response = httpx.get(f"{demo.emulator.url}/admin/directories/{demo.identity_directory}/groups", timeout=10, headers=demo.emulator.admin_headers)
    response.raise_for_status()
    return {g["name"]: g for g in response.json()["groups"]}


def _engine(demo: Any) -> SyncEngine:
    return SyncEngine(load_settings(demo.home.settings_file), SecretStore(demo.home.secrets_file), StateStore(demo.home.state_db))


def test_the_demo_home_names_the_in_memory_directory_and_syncs_often(demo):
    settings = load_settings(demo.home.settings_file)
    (directory,) = settings.directories
    assert directory.label == "Demo AD (in memory)"
    assert directory.server == DEMO_HOST and DEMO_HOST.endswith(".invalid")
    assert settings.sync.delta_interval_seconds == demo_cmd.DEMO_DELTA_SECONDS
    log = (demo.home.log_dir / "application.log").read_text(encoding="utf-8")
    assert "demo: NOT a real Active Directory: 'Demo AD (in memory)'" in log


def test_the_in_memory_directory_syncs_into_the_emulator_with_accents(demo):
    result = _engine(demo).run("demo", SyncOptions())
    assert result.outcome == "ok" and result.mode == "full", result.error
    assert result.counts["users_read"] == demo_cmd.DEMO_USERS + 1  # and the Administrator
    users = _identity_users(demo)
    assert users["joao.conceicao"]["first_name"] == "João" and users["joao.conceicao"]["last_name"] == "Conceição"
    assert users["ivan.petrov"]["display_name"] == "Иван Петров"
    assert users["li.wei"]["display_name"] == "李伟"
    assert users["paulo.souza"]["display_name"] == "Souza, Paulo"
    assert "luis.brandao" not in users  # disabled in AD, never synced
    assert "xuxa" not in users  # no surname: skipped
    groups = _identity_groups(demo)
    assert {"TI", "Administração", "Gestores", "Vazio"} <= set(groups)
    assert len(groups["Administração"]["members"]) == 2


def test_trickled_changes_arrive_with_the_next_delta(demo):
    engine = _engine(demo)
    assert engine.run("demo", SyncOptions()).outcome == "ok"
    applied = [demo.trickle.step() for _ in range(6)]
    assert applied[0] == "alice.andrade's display name is now 'Alice Andrade Magalhães'"
    assert applied[1].startswith("new person nova001")
    result = engine.run("demo", SyncOptions())
    assert result.outcome == "ok" and result.mode == "delta", result.error
    users = _identity_users(demo)
    assert users["alice.andrade"]["display_name"] == "Alice Andrade Magalhães"
    assert users["nova001"]["active"] is True and users["nova001"]["first_name"] == "João"
    # Disabled and re-enabled between two syncs: still active.
    assert users["maria.silva"]["active"] is True

    demo.trickle.step()  # the next rename ...
    demo.trickle.step()  # ... a second newcomer
    demo.trickle.step()  # ... and a disable, seen by the delta before the re-enable
    engine.run("demo", SyncOptions())
    disabled = applied[2].split()[0]
    assert disabled == "maria.silva"
    users = _identity_users(demo)
    assert "nova002" in users
    assert users["jose.araujo"]["active"] is False  # the third round's disabled person


def test_the_demo_asks_for_login_checks_and_the_agent_answers_them(demo):
    """Pass-through authentication in the demo: the in-memory directory checks the passwords."""
    from smartsync_tui.targets.identity.pass_through import LoginChecked, LoginCheckService

    settings = load_settings(demo.home.settings_file)
    events: list = []
    service = LoginCheckService(lambda: settings, SecretStore(demo.home.secrets_file), demo.home.state_db,
                                on_event=events.append)
    service.reconcile()
    try:
        deadline = time.monotonic() + 20
        checks = demo_cmd._login_checks(demo)
        asked = 0
        while asked < len(checks) and time.monotonic() < deadline:
            if demo.logins.ask(*checks[asked]):
                asked += 1
            else:
                time.sleep(0.1)  # the agent has not published its key yet
        while len([e for e in events if isinstance(e, LoginChecked)]) < len(checks) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    answers = {e.result.login: (e.result.outcome, e.result.reason) for e in events if isinstance(e, LoginChecked)}
    assert answers == {
        "alice.andrade": ("allowed", None),
        "joao.conceicao": ("denied", "invalid_credentials"),
        "ivan.petrov": ("allowed", None),
        "no…(11 chars)": ("denied", "unknown_user"),  # a login nobody has may be a mistyped password
    }
    log_text = (demo.home.log_dir / "application.log").read_text(encoding="utf-8")
    assert "demo: Identity asks the agent for a login check" in log_text
    assert "login check demo: alice.andrade allowed in" in log_text
    # The demo's own line never names the login: the agent's masks one AD does not know.
    assert "nobody.here" not in log_text


def test_the_trickle_thread_changes_the_directory_until_stopped(tmp_path):
    memory = MemoryDC(30)
    before = memory.highest_committed_usn
    trickle = ChangeTrickle(memory.admin_connection, DemoChanges(memory.base_dn), interval=0.05).start()
    deadline = time.monotonic() + 10
    while len(trickle.applied) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    trickle.stop()
    assert len(trickle.applied) >= 4
    assert memory.highest_committed_usn >= before + 4
    stopped_at = len(trickle.applied)
    time.sleep(0.3)
    assert len(trickle.applied) == stopped_at


def test_the_in_memory_directory_answers_what_the_reader_asks():
    memory = MemoryDC(40).register()
    try:
        directory = DirectorySettings(id="m", server=memory.host, tls="plain", bind_user=memory.admin_user,
                                      base_dn=memory.base_dn)
        conn = ad_connect.connect(directory, SecretStr(memory.admin_password))
        dc = ad_sync_reader.read_dc_identity(conn)
        assert dc.dns_host_name == memory.dns_host_name and dc.highest_committed_usn == memory.highest_committed_usn
        # Paged: 41 users in pages of 7.
        users = list(ad_sync_reader.iter_users(conn, memory.base_dn, DEFAULT_USER_FILTER, page_size=7))
        assert len(users) == 41
        enabled = list(ad_sync_reader.iter_users(
            conn, memory.base_dn, "(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"))
        assert len(enabled) == len([u for u in users if not u.user_account_control & 2])
        gestores = next(g for g in ad_sync_reader.iter_groups(conn, memory.base_dn, "(objectCategory=group)")
                        if g.name == "Gestores")
        nested = ad_sync_reader.nested_user_guids(conn, memory.base_dn, gestores.dn, DEFAULT_USER_FILTER)
        assert len(nested) > len(gestores.member_dns)  # members of TI and Financeiro too

        admin = memory.admin_connection()
        maria = next(u for u in users if u.sam_account_name == "maria.silva")
        admin.modify(maria.dn, {"title": [(MODIFY_REPLACE, ["Diretora Financeira"])]})
        admin.delete(next(u for u in users if u.sam_account_name == "thais.guimaraes").dn)
        changed = list(ad_sync_reader.iter_users(conn, memory.base_dn, DEFAULT_USER_FILTER, since_usn=dc.highest_committed_usn))
        assert [u.title for u in changed] == ["Diretora Financeira"]
        deleted = list(ad_sync_reader.iter_deleted(conn, memory.base_dn, since_usn=dc.highest_committed_usn))
        assert len(deleted) == 1 and deleted[0].last_known_parent == memory.people_ou
        # A tombstone is seen only with the show-deleted control.
        assert list(ad_search.paged_search(conn, memory.base_dn, "(isDeleted=TRUE)", ["objectGUID"])) == []
        assert not [u for u in ad_sync_reader.iter_users(conn, memory.base_dn, DEFAULT_USER_FILTER)
                    if u.sam_account_name == "thais.guimaraes"]

        with pytest.raises(DirectoryError) as wrong:
            ad_connect.connect(directory, SecretStr("not-the-password"))
        assert wrong.value.stage == "bind"
    finally:
        memory.unregister()


def test_only_reserved_names_can_be_in_memory():
    with pytest.raises(ValueError, match=".invalid"):
        ad_connect.register_in_memory("dc1.corp.example", lambda **options: None)  # type: ignore[arg-type,return-value]
    # Unregistered, the reserved name is an ordinary (unresolvable) server.
    directory = DirectorySettings(id="m", server=DEMO_HOST, tls="plain", bind_user="a@b", base_dn="DC=b")
    with pytest.raises(DirectoryError) as failure:
        ad_connect.connect(directory, SecretStr("x"), timeout=2)
    assert failure.value.stage == "dns"


def _read_until(fd: int, needle: bytes, timeout: float, seen: bytearray) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return needle in seen
            if not chunk:
                return needle in seen
            seen.extend(chunk)
            if needle in seen:
                return True
    return needle in seen


def test_smartsync_tui_demo_starts_without_samba_and_quits_cleanly(tmp_path):
    env = {**os.environ, demo_cmd.NO_SAMBA_VARIABLE: "1", "TMPDIR": str(tmp_path), "TERM": "xterm-256color",
           "LANG": "C.UTF-8", "COLUMNS": "100", "LINES": "30"}
    env.pop("SMARTSYNC_HOME", None)
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "smartsync_tui", "demo"], stdin=child, stdout=child, stderr=child,
        cwd=ROOT, env=env, start_new_session=True,
    )
    os.close(child)
    seen = bytearray()
    try:
        assert _read_until(main, b"NOT a real Active", 30, seen), seen.decode(errors="replace")
        # The console is up once it draws its footer; the first sync runs at once.
        assert _read_until(main, b"Quit", 30, seen), seen.decode(errors="replace")[-2000:]
        time.sleep(3)
        os.write(main, b"q")
        if not _read_until(main, b"Demo stopped", 3, seen) and b"Quit now?" in seen:
            os.write(main, b"q")  # a delta was running at that moment: the console asked first
        assert _read_until(main, b"Demo stopped", 30, seen), seen.decode(errors="replace")[-2000:]
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)
    # Its throw-away home, emulator data and logs are gone.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("smartsync-demo-")]


@pytest.mark.samba
def test_changes_trickle_into_samba_and_arrive_with_the_next_delta(sync_env, samba_dc):
    """The Samba demo's changes (same code, over LDAPS as Administrator), on this test's own OU."""
    ad = sync_env.ad
    people = []
    for i, (given, sn) in enumerate((("Inês", "Simões"), ("Otávio", "Falcão"), ("Cecília", "Leão"), ("Sérgio", "Romão"))):
        ad.add_user(f"p{i}", given, sn)
        people.append({"sam": ad.sam(f"p{i}"), "name": f"{given} {sn}"})
    ad.add_group("Equipe Ágil")
    assert sync_env.sync().outcome == "ok"
    changes = DemoChanges(samba_dc.base_dn, people_ou=ad.ou, groups_ou=ad.ou, people=people,
                          groups=["Equipe Ágil"], new_sam=lambda n: ad.sam(f"nova{n}"))
    trickle = ChangeTrickle(samba_admin_connection(samba_dc), changes)
    applied = [trickle.step() for _ in range(4)]  # rename, newcomer, disable, membership
    result = sync_env.sync()
    assert result.outcome == "ok" and result.mode == "delta", (result.error, applied)
    users = sync_env.by_login()
    assert users["p0"]["display_name"] == "Inês Simões Magalhães"
    assert users["nova1"]["first_name"] == "João" and users["nova1"]["active"] is True
    assert users["p3"]["active"] is False
    (group,) = sync_env.identity_groups().values()
    assert group["members"] == [users["p0"]["external_id"]]

"""pytest plugin: one real Samba AD DC for the whole test session.

Use the ``samba_dc`` fixture (tests that use it are marked ``samba``
automatically). The DC listens on 127.0.0.1 (LDAP 389, LDAPS 636) and holds a
small seeded data set (see ``scripts/samba_dc.py``: ``FIXED_USERS``,
``PASSWORDS``, ``GROUPS``):

- ``OU=Staff``: 20 people, accented and non-Latin names (João Conceição,
  Иван Петров, 李伟, "Souza, Paulo" with a comma in its CN), two disabled
  (luis.brandao, roberto.bastos), two without mail (fernanda.lima,
  diego.ramos), one without sn (xuxa), one who must change her password
  (carla.mendes); six of them can log in (``samba_dc.passwords``).
- ``OU=Groups``: TI, Financeiro, Engenharia, Recursos Humanos, Comercial,
  Administração, Gestores (nests Financeiro and TI), Vazio (empty) and
  Grupo Grande (all 20 staff).

The DC is shared by the whole session: a test that changes AD should work in an
OU of its own (``samba_dc.make_ou()``) and leave Staff and Groups alone.

Only one DC can run per machine (Samba's ports are fixed): a second test
session waits for the first one's DC to stop (``SMARTSYNC_SAMBA_LOCK_WAIT``
seconds, default 900). Under ``CI=true`` a DC that cannot be installed or
started fails the tests; elsewhere they are skipped only when Samba is not
installed and cannot be (not root).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from smartsync_tui.testbed import samba_dc as samba_dc_script


@dataclass
class SambaDC:
    """A running DC and what the tests need to reach it."""

    host: str
    ldap_port: int
    ldaps_port: int
    realm: str
    domain: str
    base_dn: str
    admin_user: str
    admin_dn: str
    admin_password: str
    ca_file: str
    tls_server_name: str
    pid: int
    dir: Path
    staff_ou: str
    groups_ou: str
    #: Seeded users: dicts with sam, dn, name, flags, mail, password (None for most).
    users: list[dict[str, Any]] = field(default_factory=list)
    #: Group name -> members (sAMAccountNames; "group:<name>" for a nested group).
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: sAMAccountName -> password, for the users who can log in.
    passwords: dict[str, str] = field(default_factory=dict)
    #: Seconds spent in provision, seed, start (for the session's report).
    timings: dict[str, float] = field(default_factory=dict)

    def user(self, sam: str) -> dict[str, Any]:
        return next(u for u in self.users if u["sam"] == sam)

    def upn(self, sam: str) -> str:
        return f"{sam}@{self.realm.lower()}"

    def admin_connection(self, tls: str = "ldaps") -> Any:
        """A new ldap3 connection bound as Administrator (raise_exceptions=True); unbind it when done.

        For test set-up only (adding, changing, deleting objects): the code
        under test reaches the DC through smartsync_tui.ad (ad/connect.py).
        """
        import ssl

        from ldap3 import NONE, Connection, Server, Tls

        tls_config = Tls(
            validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_file, valid_names=[self.tls_server_name]
        )
        if tls == "ldaps":
            server = Server(self.host, port=self.ldaps_port, use_ssl=True, tls=tls_config, get_info=NONE)
        else:
            server = Server(self.host, port=self.ldap_port, tls=tls_config, get_info=NONE)
        conn = Connection(server, user=self.admin_user, password=self.admin_password, raise_exceptions=True)
        conn.open()
        if tls == "starttls":
            conn.start_tls()
        conn.bind()
        return conn

    def directory_settings(self, **overrides: Any) -> Any:
        """A DirectorySettings for this DC: LDAPS, CA validated, bound as Administrator."""
        from smartsync_tui.testbed.directory import dc_directory

        return dc_directory(self, **{"id": "samba", "display_name": "Samba test DC", **overrides})

    def admin_secret(self) -> Any:
        from pydantic import SecretStr

        return SecretStr(self.admin_password)

    def make_ou(self, name: str | None = None) -> str:
        """Create a new OU under the domain root (a unique name by default); returns its DN."""
        dn = f"OU={name or 'Test-' + uuid.uuid4().hex[:8]},{self.base_dn}"
        conn = self.admin_connection()
        try:
            conn.add(dn, "organizationalUnit")
        finally:
            conn.unbind()
        return dn

    @contextlib.contextmanager
    def restarted_with(self, **options: str) -> Iterator["SambaDC"]:
        """Run the DC with smb.conf [global] options changed, then restore it.

        Keyword names use underscores for spaces, e.g.
        ``restarted_with(ldap_server_require_strong_auth="yes")``. Costs two
        restarts (about 0.3 s each); the data is kept; ``pid`` changes.
        """
        script = samba_dc_script
        conf = self.dir / "etc" / "smb.conf"
        original = conf.read_text(encoding="utf-8")
        changed = _with_options(original, {k.replace("_", " "): v for k, v in options.items()})
        start = dict(die_with_parent=True, owner_pid=os.getpid(), keep_lock=True)
        conf.write_text(changed, encoding="utf-8")
        try:
            self.pid = script.restart(self.dir, self.pid, **start)
            yield self
        finally:
            conf.write_text(original, encoding="utf-8")
            self.pid = script.restart(self.dir, self.pid, **start)

    def set_password(self, dn: str, password: str) -> None:
        """Set an account's password (unicodePwd over LDAPS) as Administrator."""
        from ldap3 import MODIFY_REPLACE

        conn = self.admin_connection()
        try:
            conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])]})
        finally:
            conn.unbind()


def _with_options(conf: str, options: dict[str, str]) -> str:
    lines = conf.splitlines()
    for key, value in options.items():
        wanted = f"\t{key} = {value}"
        for i, line in enumerate(lines):
            if line.strip().split("=", 1)[0].strip().lower() == key.lower():
                lines[i] = wanted
                break
        else:
            lines.insert(lines.index("[global]") + 1, wanted)
    return "\n".join(lines) + "\n"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


_STARTED: list[SambaDC] = []


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    script = samba_dc_script
    try:
        script.ensure_installed()
    except script.SambaNotInstalled as exc:
        message = f"Samba AD DC unavailable: {exc}"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        if os.geteuid() != 0:
            pytest.skip(message)
        pytest.fail(message, pytrace=False)

    root = tmp_path_factory.mktemp("samba-dc")
    timings: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        info = script.provision(root)
        t1 = time.monotonic()
        summary = script.seed(root, len(script.FIXED_USERS))
        t2 = time.monotonic()
        pid = script.start(
            root,
            lock_wait=float(os.environ.get("SMARTSYNC_SAMBA_LOCK_WAIT", "900")),
            die_with_parent=True,
            owner_pid=os.getpid(),
            keep_lock=True,  # restarted_with() must not let another session's DC in
        )
        t3 = time.monotonic()
    except script.SambaDCError as exc:
        pytest.fail(f"The Samba AD DC could not be started: {exc}", pytrace=False)
    timings.update(provision=round(t1 - t0, 3), seed=round(t2 - t1, 3), start=round(t3 - t2, 3),
                   total=round(t3 - t0, 3))
    dc = SambaDC(
        host=info.host,
        ldap_port=script.LDAP_PORT,
        ldaps_port=script.LDAPS_PORT,
        realm=info.realm,
        domain=info.domain,
        base_dn=info.base_dn,
        admin_user=info.admin_user,
        admin_dn=info.admin_dn,
        admin_password=info.admin_password,
        ca_file=info.ca_file,
        tls_server_name=info.tls_server_name,
        pid=pid,
        dir=Path(info.dir),
        staff_ou=summary["ou"],
        groups_ou=summary["groups_ou"],
        users=summary["users"],
        groups=summary["groups"],
        passwords={u["sam"]: u["password"] for u in summary["users"] if u["password"]},
        timings=timings,
    )
    _STARTED.append(dc)
    try:
        yield dc
    finally:
        script.stop(dc.pid)
        script.release_lock()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Before `-m` filtering runs, so `-m "not samba"` deselects these tests.
    for item in items:
        if "samba_dc" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.samba)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "samba: needs a live Samba AD DC (fails under CI=true when Samba is missing)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for dc in _STARTED:
        t = dc.timings
        terminalreporter.write_line(
            f"samba_dc: {dc.tls_server_name} PID {dc.pid}, ready in {t.get('total')} s "
            f"(provision {t.get('provision')} s, seed {t.get('seed')} s, start {t.get('start')} s)"
        )

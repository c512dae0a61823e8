#!/usr/bin/env python3
"""A throw-away Samba AD domain controller for tests, benchmarks and CI.

Standard library only: this file runs under the project's Python (tests,
benchmarks, ``.ci``) and, for seeding, under Debian's ``/usr/bin/python3``,
which has Samba's own Python bindings (``python3-samba``).

Command line::

    python scripts/samba_dc.py install           # apt-get the Samba packages (root)
    python scripts/samba_dc.py provision DIR     # a new domain in DIR (no DNS, loopback only)
    python scripts/samba_dc.py seed DIR --users N
    python scripts/samba_dc.py start DIR         # prints the DC's connection facts (JSON)
    python scripts/samba_dc.py stop PID
    python scripts/samba_dc.py up DIR [--users N]   # install + provision (+ seed) + start
    python scripts/samba_dc.py status            # which DC (if any) this script is running

**One DC per machine.** Samba binds fixed ports on 127.0.0.1 (LDAP 389, LDAPS
636, global catalog 3268/3269; and 88/464 when the KDC service is enabled) and
they cannot be moved, so only one DC can run at a time. ``start`` takes an
exclusive lock (``/tmp/smartsync-samba-dc.lock``) that the samba process
inherits and holds for its lifetime: a second ``start`` either waits for it
(``lock_wait``) or fails saying which PID and folder hold it.

The DC's TLS certificate (issued by its own CA, ``DIR/private/tls/ca.pem``)
names ``DC1.<realm>`` and no IP address: a validating client connecting to
``127.0.0.1`` must expect the name ``dc1.<realm>`` (ldap3
``Tls(valid_names=[...])``, or the product's ``tls_server_name``). Nothing here
edits ``/etc/hosts``.

Provisioning takes ~3.5 s and the first start another ~1 s to generate the
TLS certificate; both are cached in a template folder
(``/tmp/smartsync-samba-template-<samba version>-<key>``) that later
``provision`` calls copy in ~0.1 s.

Why one module (~1,090 lines, a development tool): provisioning, seeding, starting and
stopping one throw-away DC share its folder layout and its process; the measured facts it
encodes are in its comments.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

# ---------------------------------------------------------------------------
# Constants

HOST = "127.0.0.1"
LDAP_PORT = 389
LDAPS_PORT = 636
GC_PORT = 3268
GC_SSL_PORT = 3269
KDC_PORTS = (88, 464)

DEFAULT_REALM = "SMARTSYNC.TEST"
DEFAULT_DOMAIN = "SMARTSYNC"
DEFAULT_HOST_NAME = "dc1"
# A test-only domain on loopback: a fixed password keeps the template reusable.
DEFAULT_ADMIN_PASSWORD = "Smartsync-Adm1n-2024!"
# Only the LDAP server: the default list starts winbindd (not installed: samba
# exits), smbd, DNS update and replication services nobody here needs. Add
# "kdc" (ports 88/464) only if Kerberos is wanted.
DEFAULT_SERVICES = ("ldap",)

SAMBA_PACKAGES = (
    "samba",
    "samba-dsdb-modules",
    "samba-vfs-modules",
    "samba-ad-provision",
    "ldb-tools",
    "python3-samba",
)
# Debian's interpreter: the only one with Samba's Python bindings.
SAMBA_PYTHON = "/usr/bin/python3"
# Machine-wide like the ports it guards: not under $TMPDIR, which differs between sessions.
LOCK_FILE = Path("/tmp/smartsync-samba-dc.lock")
INFO_FILE = "smartsync-dc.json"
TEMPLATE_FORMAT = 1  # bump when the template's layout or smb.conf changes
_SBIN_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
)


class SambaDCError(RuntimeError):
    """Something about the throw-away DC went wrong; the message says what to do."""


class DCBusy(SambaDCError):
    """Another DC (of a test session, a benchmark, another demo) holds the machine's DC lock."""


class SambaNotInstalled(SambaDCError):
    """Samba is missing and cannot be installed from here (not root, or apt failed)."""


# ---------------------------------------------------------------------------
# Facts about one DC


@dataclass
class DCInfo:
    """What a client needs to reach the DC; saved as DIR/smartsync-dc.json."""

    dir: str
    realm: str
    domain: str
    host_name: str
    admin_password: str
    services: list[str] = field(default_factory=lambda: list(DEFAULT_SERVICES))
    samba_version: str = ""
    host: str = HOST
    pid: int | None = None

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.realm.lower().split("."))

    @property
    def dns_domain(self) -> str:
        return self.realm.lower()

    @property
    def admin_user(self) -> str:
        return f"Administrator@{self.dns_domain}"

    @property
    def admin_dn(self) -> str:
        return f"CN=Administrator,CN=Users,{self.base_dn}"

    @property
    def ca_file(self) -> str:
        return str(Path(self.dir) / "private" / "tls" / "ca.pem")

    @property
    def tls_server_name(self) -> str:
        # The certificate says DC1.<realm>; name matching is case-insensitive.
        return f"{self.host_name}.{self.dns_domain}".lower()

    @property
    def ports(self) -> dict[str, int]:
        ports = {"ldap": LDAP_PORT, "ldaps": LDAPS_PORT, "gc": GC_PORT, "gc_ssl": GC_SSL_PORT}
        if "kdc" in self.services:
            ports.update(kerberos=KDC_PORTS[0], kpasswd=KDC_PORTS[1])
        return ports

    @property
    def smb_conf(self) -> str:
        return str(Path(self.dir) / "etc" / "smb.conf")

    @property
    def log_file(self) -> str:
        return str(Path(self.dir) / "log" / "samba.log")

    def facts(self) -> dict[str, Any]:
        """The JSON line printed by ``up`` and ``start``."""
        return {
            "host": self.host,
            "ports": self.ports,
            "realm": self.realm,
            "domain": self.domain,
            "base_dn": self.base_dn,
            "admin_user": self.admin_user,
            "admin_dn": self.admin_dn,
            "admin_password": self.admin_password,
            "ca_file": self.ca_file,
            "tls_server_name": self.tls_server_name,
            "dir": self.dir,
            "pid": self.pid,
            "samba_version": self.samba_version,
        }

    def save(self) -> None:
        path = Path(self.dir) / INFO_FILE
        data = {k: v for k, v in asdict(self).items() if k != "pid"}
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> "DCInfo":
        path = Path(directory) / INFO_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SambaDCError(
                f"{directory} holds no DC provisioned by this script ({INFO_FILE} is missing): "
                f"run `python {Path(__file__).name} provision {directory}` first"
            ) from None
        data["dir"] = str(Path(directory).resolve())
        return cls(**data)


# ---------------------------------------------------------------------------
# Installation


def _which(name: str) -> str | None:
    return shutil.which(name, path=_SBIN_PATH)


def is_installed() -> bool:
    return bool(
        _which("samba")
        and _which("samba-tool")
        and Path(SAMBA_PYTHON).exists()
        and Path("/usr/lib/python3/dist-packages/samba/samdb.py").exists()
    )


def samba_version() -> str:
    binary = _which("samba")
    if not binary:
        raise SambaNotInstalled("Samba is not installed (no `samba` binary).")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().removeprefix("Version ").strip() or "unknown"


def ensure_installed(*, quiet: bool = True) -> None:
    """Install Debian's Samba AD DC packages when missing (root only)."""
    if is_installed():
        return
    if os.geteuid() != 0:
        raise SambaNotInstalled(
            "Samba AD DC is not installed and this is not root, so it cannot be installed here. "
            "Install it with: sudo apt-get install -y --no-install-recommends "
            + " ".join(SAMBA_PACKAGES)
        )
    if not _which("apt-get"):
        raise SambaNotInstalled("Samba AD DC is not installed and there is no apt-get on this machine.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = Path(tempfile.gettempdir()) / "smartsync-samba-apt.log"
    commands = [
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"],
        [
            "apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends",
            *SAMBA_PACKAGES,
        ],
    ]
    with open(log, "ab") as out:
        for command in commands:
            if not quiet:
                print("+ " + " ".join(command), file=sys.stderr)
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
            if result.returncode != 0:
                raise SambaNotInstalled(
                    f"`{' '.join(command)}` failed (exit {result.returncode}); see {log}:\n"
                    + _tail(log, 15)
                )
    if not is_installed():
        raise SambaNotInstalled(f"apt-get finished but Samba is still incomplete; see {log}.")


# ---------------------------------------------------------------------------
# Provisioning


def _smb_conf(info: DCInfo) -> str:
    d = info.dir
    services = ", ".join(info.services)
    return f"""# Written by scripts/samba_dc.py: a throw-away test DC, loopback only.
[global]
	netbios name = {info.host_name.upper()}
	realm = {info.realm}
	workgroup = {info.domain}
	server role = active directory domain controller
	idmap_ldb:use rfc2307 = yes
	interfaces = {info.host}
	bind interfaces only = yes
	server services = {services}
	# Plain-LDAP simple binds must work in tests (real DCs may refuse them).
	ldap server require strong auth = no
	tls enabled = yes
	private dir = {d}/private
	binddns dir = {d}/bind-dns
	lock directory = {d}
	state directory = {d}/state
	cache directory = {d}/cache
	pid directory = {d}/run
	ncalrpc dir = {d}/run/ncalrpc
	winbindd socket directory = {d}/run/winbindd
	log file = {d}/log/samba.log
	logging = file
	max log size = 10000
"""


def _write_conf(info: DCInfo) -> None:
    root = Path(info.dir)
    for sub in ("etc", "log", "run", "state", "cache", "private"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "smb.conf").write_text(_smb_conf(info), encoding="utf-8")


def _provision_into(info: DCInfo) -> None:
    """Run samba-tool domain provision into info.dir (slow path, ~3.5 s)."""
    tool = _which("samba-tool")
    if not tool:
        raise SambaNotInstalled("samba-tool is missing: run `python scripts/samba_dc.py install` (root).")
    root = Path(info.dir)
    root.mkdir(parents=True, exist_ok=True)
    command = [
        tool, "domain", "provision",
        "--server-role=dc", "--use-rfc2307", "--dns-backend=NONE",
        f"--realm={info.realm}", f"--domain={info.domain}",
        f"--adminpass={info.admin_password}",
        f"--host-name={info.host_name}", f"--host-ip={info.host}",
        f"--targetdir={root}",
        f"--option=interfaces = {info.host}", "--option=bind interfaces only = yes",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SambaDCError(
            f"samba-tool domain provision failed (exit {result.returncode}) in {root}:\n{tail}\n"
            "(Without samba-vfs-modules it fails in setsysvolacl: install it.)"
        )
    _write_conf(info)
    info.save()


def _template_dir(info: DCInfo) -> Path:
    key = hashlib.sha256(
        json.dumps(
            [TEMPLATE_FORMAT, info.realm, info.domain, info.host_name, info.admin_password,
             info.services, info.host]
        ).encode()
    ).hexdigest()[:12]
    version = re.sub(r"[^A-Za-z0-9.]+", "_", info.samba_version)
    return Path(tempfile.gettempdir()) / f"smartsync-samba-template-{version}-{key}"


def _copy_tree(src: Path, dst: Path) -> None:
    # cp -a keeps modes (Samba refuses a TLS key readable by others) and xattrs.
    dst.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["cp", "-a", f"{src}/.", str(dst)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SambaDCError(f"copying {src} to {dst} failed: {result.stderr.strip()}")


def provision(
    dir: str | os.PathLike[str],
    realm: str = DEFAULT_REALM,
    domain: str = DEFAULT_DOMAIN,
    adminpass: str = DEFAULT_ADMIN_PASSWORD,
    *,
    host_name: str = DEFAULT_HOST_NAME,
    services: Iterable[str] = DEFAULT_SERVICES,
    use_template: bool = True,
) -> DCInfo:
    """A new domain in DIR (empty or missing). Idempotent for a DIR it provisioned."""
    root = Path(dir).resolve()
    if (root / INFO_FILE).exists():
        return DCInfo.load(root)
    if root.exists() and any(root.iterdir()):
        raise SambaDCError(f"{root} is not empty: give an empty or new folder to provision into")
    info = DCInfo(
        dir=str(root), realm=realm.upper(), domain=domain.upper(), host_name=host_name.lower(),
        admin_password=adminpass, services=list(services), samba_version=samba_version(),
    )
    if not use_template:
        _provision_into(info)
        return info
    template = _template_dir(info)
    if not (template / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix=template.name + ".", dir=template.parent))
        try:
            _provision_into(DCInfo(**{**asdict(info), "dir": str(staging)}))
            (staging / ".complete").write_text("", encoding="utf-8")
            try:
                os.rename(staging, template)  # atomic: a concurrent builder may have won
            except OSError:
                pass
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    _copy_tree(template, root)
    (root / ".complete").unlink(missing_ok=True)
    for stale in ("log", "run"):
        shutil.rmtree(root / stale, ignore_errors=True)
    _write_conf(info)
    info.save()
    return info


def _remember_tls(info: DCInfo) -> None:
    """Keep the certificate Samba generated at first start in the template (saves ~1 s)."""
    template = _template_dir(info)
    tls = Path(info.dir) / "private" / "tls"
    if not (template / ".complete").exists() or (template / "private" / "tls" / "ca.pem").exists():
        return
    if not all((tls / name).exists() for name in ("ca.pem", "cert.pem", "key.pem")):
        return
    staging = Path(tempfile.mkdtemp(prefix="tls.", dir=template / "private"))
    try:
        _copy_tree(tls, staging)
        target = template / "private" / "tls"
        if target.exists() and not any(target.iterdir()):
            target.rmdir()
        os.rename(staging, target)
    except OSError:
        pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------
# Probes (raw LDAP, stdlib only)

# An anonymous rootDSE search: base "", scope base, filter (objectClass=*).
_ROOTDSE_SEARCH = bytes.fromhex(
    "3025020101" "6320" "0400" "0a0100" "0a0100" "020100" "020100" "010100"
    "870b" + b"objectClass".hex() + "3000"
)


def _ldap_answers(port: int, *, use_tls: bool, host: str = HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock: socket.socket = raw
            if use_tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw)
            sock.settimeout(timeout)
            sock.sendall(_ROOTDSE_SEARCH)
            reply = sock.recv(4096)
            return bool(reply) and reply[0] == 0x30
    except (OSError, ssl.SSLError):
        return False


def _port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Start / stop

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _tail(path: str | os.PathLike[str], lines: int = 25) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} cannot be read)"
    return "\n".join(text.strip().splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def _is_our_samba(pid: int) -> bool:
    # samba rewrites its command line ("samba: root process"): look at the binary.
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name == "samba"
    except OSError:
        cmd = _cmdline(pid)
        return bool(cmd) and cmd[0].split(":")[0].endswith("samba")


def _read_lock_holder() -> dict[str, Any]:
    try:
        return json.loads(LOCK_FILE.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    return f"samba PID {holder.get('pid')} (folder {holder.get('dir')}, started by PID {holder.get('owner_pid') or 'the command line'})"


_held_lock_fd: int | None = None  # kept by a process that restarts its DC (keep_lock=True)


def release_lock() -> None:
    """Let go of a lock kept with ``start(..., keep_lock=True)`` (after stopping the DC)."""
    global _held_lock_fd
    if _held_lock_fd is not None:
        os.close(_held_lock_fd)
        _held_lock_fd = None


def _acquire_lock(lock_wait: float) -> int:
    """An exclusive lock on LOCK_FILE; returns the fd (to hand to samba)."""
    if _held_lock_fd is not None:  # this process already owns the machine's DC slot
        return _held_lock_fd
    deadline = time.monotonic() + lock_wait
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise
        holder = _read_lock_holder()
        owner, pid = holder.get("owner_pid"), holder.get("pid")
        # A DC whose test session died (killed pytest): stop the orphan, by its PID.
        if owner and not _alive(int(owner)) and pid and _is_our_samba(int(pid)):
            print(f"samba_dc: stopping orphan Samba DC PID {pid} (its session {owner} is gone)",
                  file=sys.stderr)
            stop(int(pid))
            continue
        if time.monotonic() >= deadline:
            os.close(fd)
            raise DCBusy(
                f"Another Samba DC is running: {_describe_holder(holder)}. Only one DC can run per "
                f"machine because Samba binds fixed ports on {HOST} (LDAP 389, LDAPS 636, "
                f"GC 3268/3269). Stop it first (`python scripts/samba_dc.py stop {pid}`) or wait."
            )
        if not announced:
            print(f"samba_dc: waiting up to {lock_wait:.0f} s for {_describe_holder(holder)} to stop",
                  file=sys.stderr)
            announced = True
        time.sleep(0.25)


def _preexec_die_with_parent() -> None:  # pragma: no cover - runs in the child
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(
    dir: str | os.PathLike[str],
    *,
    timeout: float = 30.0,
    lock_wait: float = 0.0,
    die_with_parent: bool = False,
    owner_pid: int | None = None,
    keep_lock: bool = False,
    wait_ports: Iterable[int] = (LDAP_PORT, LDAPS_PORT),
    process_model: str = "single",
) -> int:
    """Start samba for DIR (``-M single`` unless ``process_model`` says ``prefork`` or
    ``standard``), wait until LDAP and LDAPS answer; return its PID.

    Samba's ports are fixed (389, 636, 3268, 3269 on 127.0.0.1): they cannot be
    chosen, ``wait_ports`` only says which must answer before returning.
    ``owner_pid`` names the process the DC belongs to (a test session): if that
    process dies without stopping it, the next ``start`` stops the orphan.
    ``keep_lock=True`` keeps the machine's DC lock in this process too, so that
    a stop + start (``restart``) cannot let another session's DC slip in; call
    :func:`release_lock` after the last ``stop``.
    """
    global _held_lock_fd
    if process_model not in ("single", "prefork", "standard"):
        raise ValueError(f"unknown samba process model {process_model!r}")
    info = DCInfo.load(dir)
    binary = _which("samba")
    if not binary:
        raise SambaNotInstalled("samba is not installed: run `python scripts/samba_dc.py install` (root).")
    wait_ports = tuple(wait_ports)
    lock_fd = _acquire_lock(lock_wait)
    try:
        busy = [port for port in sorted(set(info.ports.values())) if _port_open(port)]
        if busy:
            raise SambaDCError(
                f"Port(s) {', '.join(map(str, busy))} on {HOST} are already taken by a process this "
                "script did not start (another LDAP server or Samba?). Only one DC can run per "
                "machine; find it with `ss -ltnp` and stop it."
            )
        Path(info.dir, "log").mkdir(exist_ok=True)
        Path(info.dir, "run").mkdir(exist_ok=True)
        stdout = open(Path(info.dir, "log", "samba.stdout"), "ab")
        try:
            process = subprocess.Popen(
                [binary, "-s", info.smb_conf, "-F", "--no-process-group", "-M", process_model],
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                pass_fds=(lock_fd,), start_new_session=True,
                preexec_fn=_preexec_die_with_parent if die_with_parent else None,
            )
        finally:
            stdout.close()
        _CHILDREN[process.pid] = process
        # samba inherited the locked descriptor: the lock now lives as long as samba.
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, json.dumps(
            {"pid": process.pid, "dir": info.dir, "owner_pid": owner_pid, "started": time.time()}
        ).encode(), 0)
    except BaseException:
        if lock_fd != _held_lock_fd:
            os.close(lock_fd)
        raise
    if keep_lock:
        _held_lock_fd = lock_fd
    elif lock_fd != _held_lock_fd:
        os.close(lock_fd)

    deadline = time.monotonic() + timeout
    pending = {port: port != LDAP_PORT and port != GC_PORT for port in wait_ports}  # port -> TLS?
    while pending:
        if process.poll() is not None:
            raise SambaDCError(
                f"samba exited with status {process.returncode} while starting ({info.smb_conf}). "
                f"Last lines of {info.log_file}:\n{_tail(info.log_file)}\n{_tail(Path(info.dir, 'log', 'samba.stdout'), 5)}"
            )
        for port, use_tls in list(pending.items()):
            if _ldap_answers(port, use_tls=use_tls, timeout=0.5):
                del pending[port]
        if not pending:
            break
        if time.monotonic() > deadline:
            stop(process.pid)
            raise SambaDCError(
                f"samba did not answer LDAP on {HOST} port(s) {sorted(pending)} within {timeout:.0f} s; "
                f"stopped it. Last lines of {info.log_file}:\n{_tail(info.log_file)}"
            )
        time.sleep(0.05)
    _remember_tls(info)
    return process.pid


def stop(pid: int, *, timeout: float = 10.0) -> None:
    """Stop the samba with this PID: SIGTERM, wait, SIGKILL after ``timeout``."""
    if not _alive(pid) and pid not in _CHILDREN:
        return
    if _alive(pid) and not _is_our_samba(pid):
        raise SambaDCError(f"PID {pid} is not a samba process started by this script; not stopping it.")
    process = _CHILDREN.pop(pid, None)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process is not None:
                if process.poll() is not None:
                    return
            else:
                try:  # reap it if it is our child (a CLI `up` in this process)
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                if not _alive(pid):
                    return
            time.sleep(0.05)
    if process is not None:
        process.wait(timeout=5)


def restart(dir: str | os.PathLike[str], pid: int, **start_options: Any) -> int:
    """Stop the DC with ``pid`` and start DIR's again (e.g. after editing its smb.conf)."""
    stop(pid)
    return start(dir, **start_options)


def status() -> dict[str, Any]:
    """The DC this script is running on this machine, if any."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_lock_holder()
            return {"running": True, **holder}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return {"running": False}
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# Seeding (runs under Debian's python3 with Samba's bindings)

STAFF_OU = "Staff"
GROUPS_OU = "Groups"

# The named people: the first len(FIXED_USERS) users of every seed. Fields:
# sAMAccountName, givenName, sn, cn/displayName, title, department, flags.
# flags: "nomail", "disabled", "nosn", "must_change".
FIXED_USERS: list[dict[str, Any]] = [
    dict(sam="alice.andrade", given="Alice", sn="Andrade", name="Alice Andrade",
         title="Administradora de Sistemas", department="TI"),
    dict(sam="joao.conceicao", given="João", sn="Conceição", name="João Conceição",
         title="Analista de Sistemas", department="TI"),
    dict(sam="ivan.petrov", given="Иван", sn="Петров", name="Иван Петров",
         title="Инженер", department="Engenharia"),
    dict(sam="maria.silva", given="Maria", sn="da Silva", name="Maria da Silva",
         title="Gerente Financeira", department="Financeiro"),
    dict(sam="jose.araujo", given="José Antônio", sn="Araújo", name="José Antônio Araújo",
         title="Contador", department="Financeiro"),
    dict(sam="ana.goncalves", given="Ana Beatriz", sn="Gonçalves", name="Ana Beatriz Gonçalves",
         title="Engenheira de Software", department="Engenharia"),
    dict(sam="fernanda.lima", given="Fernanda", sn="Câmara Lima", name="Fernanda Câmara Lima",
         title="Analista de RH", department="Recursos Humanos", flags=["nomail"]),
    dict(sam="luis.brandao", given="Luís Otávio", sn="Brandão", name="Luís Otávio Brandão",
         title="Técnico de Suporte", department="TI", flags=["disabled"]),
    dict(sam="marcia.pecanha", given="Márcia", sn="Conceição Peçanha", name="Márcia Conceição Peçanha",
         title="Coordenadora Comercial", department="Comercial"),
    dict(sam="antonio.junior", given="Antônio Carlos", sn="Júnior", name="Antônio Carlos Júnior",
         title="Diretor Jurídico", department="Jurídico"),
    dict(sam="thais.guimaraes", given="Thaís", sn="Guimarães", name="Thaís Guimarães",
         title="Analista Financeira", department="Financeiro"),
    # A comma in the CN: the DN is CN=Souza\, Paulo,OU=Staff,...
    dict(sam="paulo.souza", given="Paulo", sn="Souza", name="Souza, Paulo",
         title="Vendedor", department="Comercial"),
    dict(sam="zoe.obrien", given="Zoë", sn="O'Brien", name="Zoë O'Brien",
         title="Designer", department="Marketing"),
    dict(sam="cagla.yilmaz", given="Çağla", sn="Yılmaz", name="Çağla Yılmaz",
         title="Engenheira de Dados", department="Engenharia"),
    dict(sam="li.wei", given="伟", sn="李", name="李伟",
         title="Analista de Suporte", department="TI"),
    dict(sam="roberto.bastos", given="Roberto", sn="Bastos", name="Roberto Bastos",
         title="Auditor", department="Financeiro", flags=["disabled"]),
    dict(sam="carla.mendes", given="Carla", sn="Mendes", name="Carla Mendes",
         title="Estagiária", department="Recursos Humanos", flags=["must_change"]),
    dict(sam="diego.ramos", given="Diego", sn="Ramos", name="Diego Ramos",
         title="Motorista", department="Logística", flags=["nomail"]),
    # No surname: a user missing a required attribute (to be skipped by a sync).
    dict(sam="xuxa", given="Xuxa", sn=None, name="Xuxa",
         title="Apresentadora", department="Comercial", flags=["nosn"]),
    dict(sam="erica.nobrega", given="Érica", sn="Nóbrega", name="Érica Nóbrega",
         title="Gerente de RH", department="Recursos Humanos"),
]

# Users who can bind. maria.silva's password has "²", which SASLprep (ldap3's
# treatment of str passwords) maps to "2": only a client that sends the exact
# UTF-8 bytes can log her in, as with a real AD.
PASSWORDS: dict[str, str] = {
    "alice.andrade": "Alice-Passw0rd!",
    "joao.conceicao": "Conceição-2024!",
    "ivan.petrov": "Пароль-2024!",
    "maria.silva": "Senha²-Forte!",
    "roberto.bastos": "Roberto-Passw0rd!",  # disabled: a right password gives AD data 533
    "carla.mendes": "Carla-Passw0rd!",      # must change password: AD data 773
}

GROUPS: dict[str, list[str]] = {
    # group name -> sAMAccountNames of fixed users, or "group:<name>" for nesting
    "TI": ["alice.andrade", "joao.conceicao", "li.wei", "luis.brandao"],
    "Financeiro": ["maria.silva", "jose.araujo", "thais.guimaraes", "roberto.bastos"],
    "Engenharia": ["ivan.petrov", "ana.goncalves", "cagla.yilmaz"],
    "Recursos Humanos": ["fernanda.lima", "erica.nobrega", "carla.mendes"],
    "Comercial": ["marcia.pecanha", "paulo.souza", "xuxa"],
    "Administração": ["alice.andrade", "maria.silva"],
    "Gestores": ["group:Financeiro", "group:TI", "antonio.junior"],  # nested groups
    "Vazio": [],
    # "Grupo Grande" gets the first min(N, big_group) users (2,000 by default).
}
BIG_GROUP = "Grupo Grande"

FIRST_NAMES = ["Ana", "João", "José", "Maria", "Antônio", "Luís", "Márcia", "Cecília", "Fábio",
                "Inês", "Débora", "Otávio", "Sérgio", "Vitória", "Lúcia", "Mônica", "André",
                "Bárbara", "Cláudio", "Érica"]
LAST_NAMES = ["Silva", "Conceição", "Araújo", "Gonçalves", "Brandão", "Peçanha", "Guimarães",
               "Nóbrega", "Magalhães", "Simões", "Falcão", "Assunção", "Leão", "Romão", "Pereira",
               "Souza", "Carvalho", "Lima", "Gomes", "Ribeiro"]
_DEPARTMENTS = ["TI", "Financeiro", "Engenharia", "Recursos Humanos", "Comercial", "Jurídico"]
_TITLES = ["Analista", "Gerente", "Coordenador(a)", "Diretor(a)", "Assistente", "Engenheiro(a)"]

UF_ACCOUNTDISABLE = 0x2
UF_NORMAL_ACCOUNT = 0x200
UF_DONT_EXPIRE_PASSWD = 0x10000


def user_spec(i: int, realm: str) -> dict[str, Any]:
    """The i-th seeded user (0-based), deterministic: fixed people first, then generated ones."""
    domain = realm.lower()
    if i < len(FIXED_USERS):
        spec = dict(FIXED_USERS[i])
        spec.setdefault("flags", [])
    else:
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        flags = []
        if i % 20 == 0:
            flags.append("disabled")
        if i % 50 == 1:
            flags.append("nomail")
        spec = dict(sam=f"user{i:05d}", given=first, sn=last, name=f"{first} {last} {i:05d}",
                    title=_TITLES[i % len(_TITLES)], department=_DEPARTMENTS[i % len(_DEPARTMENTS)],
                    flags=flags)
    spec["mail"] = None if "nomail" in spec["flags"] else f"{spec['sam']}@{domain}"
    spec["upn"] = f"{spec['sam']}@{domain}"
    spec["password"] = PASSWORDS.get(spec["sam"])
    return spec


def rdn_escape(value: str) -> str:
    out = value.replace("\\", "\\\\")
    for char in ',+"<>;=#':
        out = out.replace(char, "\\" + char)
    if out.startswith(" "):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out




def _seed_worker(spec: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - Debian python
    """Add OUs, users and groups straight into DIR/private/sam.ldb with Samba's bindings."""
    import ldb
    from samba.auth import system_session
    from samba.param import LoadParm
    from samba.samdb import SamDB

    started = time.monotonic()
    lp = LoadParm()
    lp.load(spec["smb_conf"])
    db = SamDB(url=spec["sam_ldb"], session_info=system_session(), lp=lp)
    base = str(db.get_default_basedn())
    realm = spec["realm"]
    ou_dn = f"OU={spec['ou']},{base}"
    groups_dn = f"OU={spec['groups_ou']},{base}"

    def ensure_ou(dn: str) -> None:
        try:
            db.add({"dn": dn, "objectClass": "organizationalUnit"})
        except ldb.LdbError as exc:
            if exc.args[0] != ldb.ERR_ENTRY_ALREADY_EXISTS:
                raise

    ensure_ou(ou_dn)
    ensure_ou(groups_dn)
    users: list[dict[str, Any]] = []
    dn_by_sam: dict[str, str] = {}
    batch = int(spec.get("batch", 100))
    start_index = int(spec.get("start", 0))
    count = int(spec["users"])
    must_change: list[str] = []
    db.transaction_start()
    try:
        for n, i in enumerate(range(start_index, start_index + count)):
            u = user_spec(i, realm)
            dn = f"CN={rdn_escape(u['name'])},{ou_dn}"
            uac = UF_NORMAL_ACCOUNT
            if u["password"] and "must_change" not in u["flags"]:
                uac |= UF_DONT_EXPIRE_PASSWD
            if "disabled" in u["flags"]:
                uac |= UF_ACCOUNTDISABLE
            message: dict[str, Any] = {
                "dn": dn, "objectClass": "user", "sAMAccountName": u["sam"],
                "userPrincipalName": u["upn"], "givenName": u["given"], "displayName": u["name"],
                "title": u["title"], "department": u["department"], "userAccountControl": str(uac),
            }
            if u["sn"]:
                message["sn"] = u["sn"]
            if u["mail"]:
                message["mail"] = u["mail"]
            if u["password"]:
                message["unicodePwd"] = ('"%s"' % u["password"]).encode("utf-16-le")
            db.add(message)
            if "must_change" in u["flags"]:
                must_change.append(dn)
            dn_by_sam[u["sam"]] = dn
            users.append({"sam": u["sam"], "dn": dn, "name": u["name"], "flags": u["flags"],
                          "mail": u["mail"], "password": u["password"]})
            if (n + 1) % batch == 0:
                db.transaction_commit()
                db.transaction_start()
        for dn in must_change:
            m = ldb.Message(ldb.Dn(db, dn))
            m["pwdLastSet"] = ldb.MessageElement("0", ldb.FLAG_MOD_REPLACE, "pwdLastSet")
            db.modify(m)
        db.transaction_commit()
    except BaseException:
        db.transaction_cancel()
        raise
    users_done = time.monotonic()

    groups: dict[str, list[str]] = {}
    if spec.get("groups", True):
        big = min(int(spec.get("big_group", 2000)), len(users))
        plan: dict[str, list[str]] = {}
        for name, members in GROUPS.items():
            plan[name] = [m for m in members if m.startswith("group:") or m in dn_by_sam]
        # A sample of the generated users joins its department's group.
        for n, u in enumerate(users):
            if u["sam"].startswith("user") and n % 10 == 0:
                dept = user_spec(start_index + n, realm)["department"]
                if dept in plan:
                    plan[dept].append(u["sam"])
        plan[BIG_GROUP] = [u["sam"] for u in users[:big]]
        order = sorted(plan, key=lambda g: any(m.startswith("group:") for m in plan[g]))
        db.transaction_start()
        try:
            for name in order:
                gdn = f"CN={rdn_escape(name)},{groups_dn}"
                member_dns = [
                    f"CN={rdn_escape(m[6:])},{groups_dn}" if m.startswith("group:") else dn_by_sam[m]
                    for m in plan[name]
                ]
                message = {"dn": gdn, "objectClass": "group", "sAMAccountName": name[:20],
                           "description": f"Grupo {name}"}
                if member_dns:
                    message["member"] = member_dns
                try:
                    db.add(message)
                except ldb.LdbError as exc:
                    if exc.args[0] != ldb.ERR_ENTRY_ALREADY_EXISTS:
                        raise
                    # a second seed (--start-index): add the members it does not have yet
                    existing = db.search(base=gdn, scope=ldb.SCOPE_BASE, attrs=["member"])
                    have = {str(v).lower() for v in existing[0].get("member", [])} if existing else set()
                    new = [dn for dn in member_dns if dn.lower() not in have]
                    if new:
                        m = ldb.Message(ldb.Dn(db, gdn))
                        m["member"] = ldb.MessageElement(new, ldb.FLAG_MOD_ADD, "member")
                        db.modify(m)
                groups[name] = plan[name]
            db.transaction_commit()
        except BaseException:
            db.transaction_cancel()
            raise
    return {
        "base_dn": base,
        "ou": ou_dn,
        "groups_ou": groups_dn,
        "users": users,
        "groups": groups,
        "seconds_users": round(users_done - started, 3),
        "seconds_total": round(time.monotonic() - started, 3),
    }


def seed(
    dir: str | os.PathLike[str],
    users: int = len(FIXED_USERS),
    *,
    ou: str = STAFF_OU,
    groups_ou: str = GROUPS_OU,
    groups: bool = True,
    big_group: int = 2000,
    start_index: int = 0,
    batch: int = 100,
) -> dict[str, Any]:
    """Create ``users`` users in OU=<ou> and the groups in OU=<groups_ou>.

    Writes straight into DIR/private/sam.ldb through Samba's bindings (about 1.5 to
    3 ms a user, commits every ``batch`` adds). Works with the DC stopped (the
    fast, safe way: seed before ``start``) and also while it runs (Samba's
    databases are shared with locking, as ``samba-tool`` does).
    Returns a summary: the users (sam, dn, name, flags, mail, password), the
    groups and their members (sAMAccountNames, "group:<name>" for nesting).
    """
    info = DCInfo.load(dir)
    if not Path(SAMBA_PYTHON).exists():
        raise SambaNotInstalled(f"{SAMBA_PYTHON} is missing: install python3-samba.")
    job = {
        "smb_conf": info.smb_conf, "sam_ldb": str(Path(info.dir, "private", "sam.ldb")),
        "realm": info.realm, "users": users, "ou": ou, "groups_ou": groups_ou,
        "groups": groups, "big_group": big_group, "start": start_index, "batch": batch,
    }
    result = subprocess.run(
        [SAMBA_PYTHON, str(Path(__file__).resolve()), "_seed-worker"],
        input=json.dumps(job).encode(), capture_output=True, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    if result.returncode != 0:
        raise SambaDCError(
            "seeding failed:\n" + result.stderr.decode(errors="replace").strip()[-3000:]
        )
    return json.loads(result.stdout.decode())


# ---------------------------------------------------------------------------
# Command line


def up(dir: str | os.PathLike[str], *, users: int = 0, timeout: float = 30.0,
       lock_wait: float = 0.0) -> DCInfo:
    """install + provision (+ seed) + start."""
    ensure_installed(quiet=False)
    fresh = not (Path(dir) / INFO_FILE).exists()
    info = provision(dir)
    if users and fresh:
        seed(info.dir, users)
    info.pid = start(info.dir, timeout=timeout, lock_wait=lock_wait)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="samba_dc.py",
        description="A throw-away Samba AD DC on 127.0.0.1 for tests and benchmarks "
                    "(one per machine: Samba's ports are fixed).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="apt-get install the Samba AD DC packages (root)")
    p = sub.add_parser("provision", help="provision a new domain into DIR")
    p.add_argument("dir")
    p.add_argument("--realm", default=DEFAULT_REALM)
    p.add_argument("--domain", default=DEFAULT_DOMAIN)
    p.add_argument("--adminpass", default=DEFAULT_ADMIN_PASSWORD)
    p.add_argument("--no-template", action="store_true", help="do not use/create the cached template")
    p = sub.add_parser("start", help="start the DC of DIR; prints its facts as JSON")
    p.add_argument("dir")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--lock-wait", type=float, default=0.0)
    p = sub.add_parser("stop", help="stop the samba with this PID")
    p.add_argument("pid", type=int)
    p = sub.add_parser("seed", help="add users and groups (best before start)")
    p.add_argument("dir")
    p.add_argument("--users", type=int, default=len(FIXED_USERS))
    p.add_argument("--ou", default=STAFF_OU)
    p.add_argument("--big-group", type=int, default=2000)
    p.add_argument("--start-index", type=int, default=0)
    p.add_argument("--no-groups", action="store_true")
    p.add_argument("--full", action="store_true", help="print the whole summary (all users)")
    p = sub.add_parser("up", help="install + provision + (seed) + start; prints facts as JSON")
    p.add_argument("dir")
    p.add_argument("--users", type=int, default=0, help="seed this many users first (new DIR only)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--lock-wait", type=float, default=0.0)
    sub.add_parser("status", help="is a DC from this script running?")
    sub.add_parser("_seed-worker")  # internal: run by seed() under Debian's python3
    args = parser.parse_args(argv)

    try:
        if args.command == "_seed-worker":
            summary = _seed_worker(json.loads(sys.stdin.read()))
            sys.stdout.write(json.dumps(summary, ensure_ascii=False))
        elif args.command == "install":
            ensure_installed(quiet=False)
            print(json.dumps({"installed": True, "samba_version": samba_version()}))
        elif args.command == "provision":
            t0 = time.monotonic()
            info = provision(args.dir, args.realm, args.domain, args.adminpass,
                             use_template=not args.no_template)
            print(json.dumps({**info.facts(), "seconds": round(time.monotonic() - t0, 3)}))
        elif args.command == "start":
            t0 = time.monotonic()
            info = DCInfo.load(args.dir)
            info.pid = start(args.dir, timeout=args.timeout, lock_wait=args.lock_wait)
            print(json.dumps({**info.facts(), "seconds": round(time.monotonic() - t0, 3)}))
        elif args.command == "stop":
            stop(args.pid)
            print(json.dumps({"stopped": args.pid}))
        elif args.command == "seed":
            summary = seed(args.dir, args.users, ou=args.ou, big_group=args.big_group,
                           start_index=args.start_index, groups=not args.no_groups)
            if not args.full:
                summary["passwords"] = {u["sam"]: u["password"] for u in summary["users"] if u["password"]}
                summary["users"] = len(summary["users"])
                summary["groups"] = {name: len(m) for name, m in summary["groups"].items()}
            print(json.dumps(summary, ensure_ascii=False))
        elif args.command == "up":
            t0 = time.monotonic()
            info = up(args.dir, users=args.users, timeout=args.timeout, lock_wait=args.lock_wait)
            print(json.dumps({**info.facts(), "seconds": round(time.monotonic() - t0, 3)}))
        elif args.command == "status":
            print(json.dumps(status()))
    except SambaDCError as exc:
        print(f"samba_dc: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

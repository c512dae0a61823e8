"""Test helper: Debian's Squid as a real forward proxy on 127.0.0.1, with Basic auth.

``start_squid(user=..., password=..., deny_connect_to=[port, ...])`` (a context
manager) writes a config of its own, a password file, and runs
``/usr/sbin/squid -N`` (foreground, no daemon) on a free port until the block
ends. Squid answers 407 to a wrong password, 403 to a CONNECT to a port in
``deny_connect_to``, and tunnels every other CONNECT of an authenticated user.

Where it lives: Squid refuses to run as root, so as root it switches to the
``proxy`` user (``cache_effective_user``), and its password helper then reads
the password file as that user. pytest's ``tmp_path`` is under a 0700 folder
of root's that ``proxy`` cannot enter, so the instance gets a folder of its own
under the system's temp dir, 0700 and owned by ``proxy``, removed at the end.

``squid_or_skip()`` says whether the binary is there: missing, it is a failure
under ``CI=true`` (``.ci/run`` installs it) and a skip elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.samba import _in_ci

SQUID = "/usr/sbin/squid"
NCSA_AUTH = "/usr/lib/squid/basic_ncsa_auth"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 20.0
RUN_AS = "proxy"  # Debian's squid package creates this user


@dataclass
class Squid:
    """A running Squid: where it listens, who may use it, and its logs."""

    host: str
    port: int
    user: str
    password: str
    dir: Path
    process: subprocess.Popen
    #: Seconds from the start of ``squid`` to its port accepting connections.
    start_seconds: float
    _passwd_mtime: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, password: str | None = None) -> str:
        """``http://user:password@host:port`` (the right password unless another is given), quoted."""
        secret = self.password if password is None else password
        return f"http://{quote(self.user, safe='')}:{quote(secret, safe='')}@{self.address}"

    def connects(self) -> list[str]:
        """The access log's CONNECT lines (``... TCP_TUNNEL/200 ... CONNECT host:port user ...``), oldest first."""
        path = self.dir / "access.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return [line for line in lines if " CONNECT " in line]

    def wait_for_connects(self, count: int, timeout: float = 10.0) -> list[str]:
        """The CONNECT lines once there are ``count``: Squid writes a tunnel's line when the tunnel closes."""
        deadline = time.monotonic() + timeout
        while len(lines := self.connects()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return lines

    def add_user(self, user: str, password: str) -> None:
        """Let one more user in; the password helper reads its file again when the file's mtime changes."""
        passwd = self.dir / "passwd"
        _write_passwd(passwd, passwd.read_text() + _passwd_line(user, password))
        # The helper compares whole seconds: a new second for each change, even two in the same second.
        self._passwd_mtime = max(self._passwd_mtime + 1, int(time.time()) + 1)
        os.utime(passwd, (self._passwd_mtime, self._passwd_mtime))

    def logs_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("*.log")))


def squid_or_skip() -> None:
    """Fail (CI) or skip (elsewhere) with a reason when Debian's Squid is not installed."""
    missing = [path for path in (SQUID, NCSA_AUTH) if not os.access(path, os.X_OK)]
    if missing:
        message = f"Squid is not installed ({', '.join(missing)} missing): apt-get install squid"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _config(folder: Path, port: int, deny_connect_to: Sequence[int]) -> str:
    deny = ""
    if deny_connect_to:
        deny = (f"acl refused_ports port {' '.join(str(p) for p in deny_connect_to)}\n"
                "http_access deny CONNECT refused_ports\n")
    return f"""\
http_port {HOST}:{port}
pid_filename {folder}/squid.pid
cache_log {folder}/cache.log
access_log stdio:{folder}/access.log
coredump_dir {folder}
cache_effective_user {RUN_AS}
# Nothing cached, no shared memory cache, no pinger: a proxy, quick to start and to stop.
cache deny all
cache_mem 0 MB
memory_cache_shared off
pinger_enable off
netdb_filename none
logfile_rotate 0
max_filedescriptors 1024
shutdown_lifetime 0 seconds
auth_param basic program {NCSA_AUTH} {folder}/passwd
auth_param basic children 2 startup=1 idle=1
auth_param basic realm smartsync-tui tests
acl CONNECT method CONNECT
acl authenticated proxy_auth REQUIRED
{deny}http_access allow authenticated
http_access deny all
"""


def _passwd_line(user: str, password: str) -> str:
    # basic_ncsa_auth takes a bare MD5 hex digest besides crypt/apr1: no htpasswd binary needed.
    return f"{user}:{hashlib.md5(password.encode()).hexdigest()}\n"


def _write_passwd(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)
    if os.geteuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        os.chown(path, account.pw_uid, account.pw_gid)


def _owned_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="smartsync-squid-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def _give_away(folder: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        for path in folder.iterdir():
            os.chown(path, account.pw_uid, account.pw_gid)


@contextlib.contextmanager
def start_squid(*, user: str, password: str, deny_connect_to: Sequence[int] = ()) -> Iterator[Squid]:
    """A Squid on a free 127.0.0.1 port that lets ``user``/``password`` through; stopped when the block ends."""
    squid_or_skip()
    folder = _owned_folder()
    port = _free_port()
    (folder / "squid.conf").write_text(_config(folder, port, deny_connect_to))
    _write_passwd(folder / "passwd", _passwd_line(user, password))
    _give_away(folder)
    # A service name of its own: Squid names its shared-memory segments after it, and one
    # left behind by a crashed Squid would stop the next from starting.
    service = f"smartsync{uuid.uuid4().hex[:8]}"
    with open(folder / "squid.stderr", "wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [SQUID, "-N", "-n", service, "-f", str(folder / "squid.conf")],
            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
        )
    try:
        _wait_until_listening(process, port, folder)
        yield Squid(HOST, port, user, password, folder, process, round(time.monotonic() - started, 3))
    finally:
        _stop(process)
        for leftover in Path("/dev/shm").glob(f"{service}-*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_listening(process: subprocess.Popen, port: int, folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.01)
    _stop(process)
    said = "\n".join(
        (folder / name).read_text(errors="replace")[-3000:] for name in ("squid.stderr", "cache.log")
        if (folder / name).exists()
    )
    pytest.fail(f"Squid did not listen on {HOST}:{port} within {STARTUP_TIMEOUT:g} s "
                f"(exit code {process.poll()}):\n{said}", pytrace=False)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

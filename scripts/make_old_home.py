"""Make tests/fixtures/old_home/: a home and an emulator data folder written, and synced once, by
the code of an earlier main, so that tests/test_old_home.py checks the current code opens them.

It must run with that earlier code, not this checkout's (the one it was made with: commit 580d820,
the layout before docs/architecture.md's reorganisation):

    git archive 580d820 | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=/tmp/old python /path/to/scripts/make_old_home.py OUT /tmp/old

The secrets in it (a directory token, an agent key, a key pair, a password) belong to a
throw-away emulator and an in-memory directory: they open nothing anywhere else.
"""
import os, socket, subprocess, sys, time, shutil
from pathlib import Path
import httpx
OUT = Path(sys.argv[1]); OLD = Path(sys.argv[2])
shutil.rmtree(OUT, ignore_errors=True); OUT.mkdir(parents=True)
from smartsync_tui.core.paths import resolve_home
from smartsync_tui.core.settings import AppSettings, DirectorySettings, IdentitySettings, ProxySettings, save_settings, load_settings
from smartsync_tui.core.secret_store import SecretStore, directory_password_key
from smartsync_tui.core.state_store import StateStore
from smartsync_tui.core.sync_engine import SyncEngine, SyncOptions
from smartsync_tui.core.directory_check import store_directory_secrets
from smartsync_tui.testbed.memory_dc import MemoryDC
from pydantic import SecretStr
import uuid

# The seeded groups get the GUIDs the current test bed gives them (the earlier one drew new ones
# each time; the same seed must be the same directory for tests/test_old_home.py).
_add_group = MemoryDC.add_group
def _stable_add_group(self, name, member_dns, *, sam=None):
    def _add(dn, attributes, _orig=self._add):
        attributes["objectGUID"] = uuid.uuid5(uuid.NAMESPACE_DNS, f"group:{name}.{self.realm}").bytes_le
        return _orig(dn, attributes)
    self._add, saved = _add, self._add
    try:
        return _add_group(self, name, member_dns, sam=sam)
    finally:
        self._add = saved
MemoryDC.add_group = _stable_add_group
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ, SMARTSYNC_EMULATOR_ADMIN_KEY="fixture-admin-key", SMARTSYNC_HOME=str(OUT / "emulator-home"), PYTHONPATH=str(OLD))
emu = subprocess.Popen([sys.executable, "-m", "smartsync_tui", "emulator", "--host", "127.0.0.1", "--port", str(port), "--data", str(OUT / "emulator")], env=env, cwd=OLD, stdout=subprocess.PIPE, text=True)
print(emu.stdout.readline().strip())
try:
    url = f"http://127.0.0.1:{port}"
    created = httpx.post(f"{url}/admin/directories", json={"name": "Corp"}, headers={"X-Admin-Key": "fixture-admin-key"}, timeout=10).json()
    token = created["token"]
    dc = MemoryDC(12).register()
    home = resolve_home(OUT / "home").ensure()
    directory = DirectorySettings(id="corp", server=dc.host, tls="plain", bind_user=dc.admin_user, base_dn=dc.base_dn, login_checks=False)
    settings = AppSettings(identity=IdentitySettings(protocol="http", environment=f"127.0.0.1:{port}"), proxy=ProxySettings(mode="none"), directories=[directory], language="en")
    save_settings(home.settings_file, settings)
    settings = load_settings(home.settings_file)
    secrets = SecretStore(home.secrets_file)
    store_directory_secrets(settings, secrets, directory, SecretStr(dc.admin_password), SecretStr(token))
    with StateStore(home.state_db) as state:
        result = SyncEngine(settings, secrets, state).run("corp", SyncOptions(full=True))
    print(result.outcome, result.counts)
    assert result.outcome == "ok", result.error
finally:
    emu.terminate(); emu.wait(10)
shutil.rmtree(OUT / "emulator-home", ignore_errors=True)
for p in sorted(OUT.rglob("*")): print(p.relative_to(OUT), p.stat().st_size if p.is_file() else "")

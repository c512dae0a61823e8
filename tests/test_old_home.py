"""A home written by the main before the reorganisation (docs/architecture.md) opens as it was
written, and its next full sync sends nothing: the on-disk formats (appsettings.json,
secrets.json, the state database and the emulator's data) and the content hashes did not move.

The fixture, tests/fixtures/old_home/, was made by scripts/make_old_home.py with the code of
commit 580d820: the in-memory directory's 12 seeded people synced once into the emulator.
"""

import os
import shutil
from pathlib import Path

import pytest

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import (
    SecretStore,
    directory_agent_key,
    directory_password_key,
    directory_token_key,
)
from smartsync_tui.config.settings import load_settings, save_settings
from smartsync_tui.engine.results import SyncOptions
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.store.state_store import StateStore
from smartsync_tui.testbed.memory_dc import MemoryDC
from tests.support.emulator import start_emulator

FIXTURE = Path(__file__).parent / "fixtures" / "old_home"


@pytest.fixture
def old_home(tmp_path):
    root = tmp_path / "old"
    shutil.copytree(FIXTURE, root)
    # Git keeps no file modes but the executable bit: give the home back the private modes
    # the agent wrote it with (it refuses a secrets file other users can read).
    for path in (root / "home").rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    os.chmod(root / "home", 0o700)
    return root


def test_an_old_home_opens_and_its_next_full_sync_sends_nothing(old_home):
    home = resolve_home(old_home / "home")
    settings = load_settings(home.settings_file)  # as written: no migration, no complaint
    (directory,) = settings.directories
    assert (directory.id, directory.target) == ("corp", "identity")
    secrets = SecretStore(home.secrets_file)
    assert secrets.get(directory_token_key("corp")) is not None
    assert secrets.get(directory_agent_key("corp")) is not None
    with StateStore(home.state_db) as state:
        counts = state.counts("corp")
        known = {o.guid: (o.remote_id, o.content_hash) for o in state.objects("corp")}
    assert counts["users"] + counts["disabled_users"] == 10 and counts["groups"] == 8
    assert all(remote_id for remote_id, _hash in known.values())

    dc = MemoryDC(12).register()
    try:
        with start_emulator(old_home / "emulator") as emulator:
            # What moved: the emulator's port (a new process) and the in-memory DC's password (new
            # per instance), set as an admin would; everything else is read as it was written.
            editable = load_settings(home.settings_file, environment=False)
            editable.identity.environment = emulator.url.removeprefix("http://")
            save_settings(home.settings_file, editable)
            secrets.set(directory_password_key("corp"), dc.admin_password)
            emulator.admin.delete("/admin/stats")

            with StateStore(home.state_db) as state:
                result = SyncEngine(load_settings(home.settings_file), secrets, state).run(
                    "corp", SyncOptions(full=True))
                after = {o.guid: (o.remote_id, o.content_hash) for o in state.objects("corp")}
            stats = emulator.admin.get("/admin/stats").json()
    finally:
        dc.unregister()

    assert result.outcome == "ok", result.error
    assert result.mode == "full"
    assert result.plan is not None and result.plan.ops == []
    assert {k: v for k, v in result.counts.items() if k not in ("users_read", "groups_read", "skipped") and v} == {}
    assert after == known
    # Identity was asked for the directory (its filters) and sent no user and no group.
    sent = {endpoint: n for endpoint, n in stats["by_endpoint"].items() if "users" in endpoint or "groups" in endpoint}
    assert stats["agent_requests"] >= 1 and sent == {}, stats

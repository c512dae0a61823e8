"""The home is checked like ssh checks ~/.ssh: another local user cannot plant a link where the
agent writes, nor replace what it reads (core/file_protection.py).

Each attack is played as the real `smartsync-tui` command sees it, in a subprocess. "Another
user" is uid 65534 (nobody): as root (as CI runs the suite) a file or folder is simply given to
it with chown, which is what that user creating it first leaves behind.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartsync_tui.engine import lock as engine_lock
from smartsync_tui.core.file_protection import UnsafeHomeError
from smartsync_tui.logs.setup import CONSOLE_LOG, RetainingFileHandler
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.settings import LogSettings
from smartsync_tui.store.state_store import StateStore

OTHER_UID = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), *args],
        input="", capture_output=True, text=True, env=env, timeout=120,
    )


def made_home(tmp_path: Path) -> Path:
    """A home as the agent leaves it after its first command."""
    home = tmp_path / "home"
    done = cli(home, "identity", "show")
    assert done.returncode == 0, done.stderr
    return home


def planted_link(home: Path, victim: Path) -> None:
    """The attack: the agent's console log is a link to a file of the attacker's choosing."""
    log = home / "logs" / CONSOLE_LOG
    log.unlink(missing_ok=True)
    log.symlink_to(victim)


def assert_refused(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr


# -- another user's home


@needs_root
def test_a_home_another_user_created_is_refused_and_its_planted_log_link_is_not_followed(tmp_path):
    home = made_home(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("the attacker's file\n")
    planted_link(home, victim)
    for path in [home, *home.rglob("*")]:
        os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)

    done = cli(home, "identity", "set", "--environment", "app.fluigidentity.com")

    assert_refused(done, f"The folder {home} belongs to nobody (uid {OTHER_UID})", f"`chown -R root {home}`")
    assert victim.read_text() == "the attacker's file\n"  # no audit line appended to it
    assert not (home / "config" / "appsettings.json").exists()  # nothing half-written


@needs_root
def test_settings_another_user_put_in_the_home_are_not_used(tmp_path):
    home = made_home(tmp_path)
    settings_file = home / "config" / "appsettings.json"
    settings_file.write_text(json.dumps({"identity": {"protocol": "https", "environment": "attacker.example"}}))
    os.chown(settings_file, OTHER_UID, OTHER_UID)

    done = cli(home, "identity", "show")

    assert_refused(done, f"The file {settings_file} belongs to nobody", f"`chown root {settings_file}`")
    assert "attacker.example" not in done.stdout


@needs_root
def test_a_folder_above_the_home_owned_by_another_user_is_refused(tmp_path):
    above = tmp_path / "theirs"
    above.mkdir()
    os.chown(above, OTHER_UID, OTHER_UID)

    done = cli(above / "home", "identity", "show")

    assert_refused(done, f"The folder {above} belongs to nobody", "whose folders above it belong to you or to root")
    assert not (above / "home").exists()


# -- folders and files open to others (any user can play these)


@pytest.mark.parametrize("folder", ["", "config", "data", "logs"])
def test_a_home_folder_others_can_write_is_refused_with_the_chmod(tmp_path, folder):
    home = made_home(tmp_path)
    os.chmod(home / folder, 0o777)

    done = cli(home, "identity", "show", "--json")

    assert done.returncode == 2
    error = json.loads(done.stdout)
    path = home / folder if folder else home
    assert error["kind"] == "settings"
    assert f"The folder {path} can be written by other users (mode 777)" in error["error"]
    assert f"`chmod 700 {path}`" in error["error"]


def test_a_folder_above_the_home_others_can_write_is_refused_unless_sticky(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert_refused(cli(shared / "home", "identity", "show"),
                   f"The folder {shared}, above the home {shared / 'home'}, can be written by other users (mode 777)",
                   f"`chmod go-w {shared}`")
    assert not (shared / "home").exists()

    # Sticky, as /tmp: nobody may rename or remove another user's entry there.
    os.chmod(shared, 0o1777)
    done = cli(shared / "home", "identity", "show")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("name", "secret"), [
    ("config/appsettings.json", False), ("config/secrets.json", True), ("data/state.sqlite3", False),
    ("data/engine.lock", False), ("logs/application.log", False), ("logs/console.log.1", False),
])
def test_a_home_file_others_can_write_is_refused_with_the_chmod(tmp_path, name, secret):
    home = made_home(tmp_path)
    path = home / name
    if not path.exists():
        path.write_text("{}\n" if path.suffix == ".json" else "")
    os.chmod(path, 0o644 if secret else 0o666)

    done = cli(home, "identity", "show")

    assert_refused(done, f"{path} can be {'read' if secret else 'written'} by other users", f"`chmod 600 {path}`")


@pytest.mark.parametrize("name", ["config/appsettings.json", "config/secrets.json", "logs/application.log"])
def test_a_link_at_a_home_file_is_refused_not_followed(tmp_path, name):
    home = made_home(tmp_path)
    victim = tmp_path / "victim.json"
    victim.write_text("{}\n")
    os.chmod(victim, 0o600)
    path = home / name
    path.unlink(missing_ok=True)
    path.symlink_to(victim)

    done = cli(home, "identity", "set", "--environment", "app.fluigidentity.com")

    assert_refused(done, f"{path} is a symbolic link", f"`rm {path}`")
    assert victim.read_text() == "{}\n"


def test_the_console_log_link_is_refused_and_the_victim_gets_no_audit_line(tmp_path):
    home = made_home(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("")
    planted_link(home, victim)

    done = cli(home, "identity", "set", "--environment", "app.fluigidentity.com")

    assert_refused(done, f"{home / 'logs' / CONSOLE_LOG} is a symbolic link")
    assert victim.read_text() == ""


@needs_root
def test_a_home_given_through_another_users_link_is_refused(tmp_path):
    """The link's owner could point it at any folder (another install's home, /etc) at any moment."""
    real = made_home(tmp_path)
    link = tmp_path / "home-link"
    link.symlink_to(real)
    os.chown(link, OTHER_UID, OTHER_UID, follow_symlinks=False)

    done = cli(link, "identity", "set", "--environment", "app.fluigidentity.com")

    assert_refused(done, f"The link {link} belongs to nobody (uid {OTHER_UID})", f"({real}) as --home")
    assert not (real / "config" / "appsettings.json").exists()  # nothing written through it


def test_a_home_given_through_ones_own_link_is_used(tmp_path):
    real = made_home(tmp_path)
    link = tmp_path / "home-link"
    link.symlink_to(real)
    done = cli(link, "identity", "set", "--environment", "app.fluigidentity.com")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["logs/application.log", "logs/console.log", "config/appsettings.json"])
def test_a_hard_link_at_a_home_file_is_refused_not_written_through(tmp_path, name):
    home = made_home(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("{}\n")
    os.chmod(victim, 0o600)
    path = home / name
    path.unlink(missing_ok=True)
    os.link(victim, path)

    done = cli(home, "identity", "set", "--environment", "app.fluigidentity.com")

    assert_refused(done, f"{path} has 1 other name (a hard link)", f"`mv {path} {path}.suspect`")
    assert victim.read_text() == "{}\n"


# -- what is created is private


def test_everything_a_first_run_creates_is_the_users_alone(tmp_path):
    home = tmp_path / "home"
    assert cli(home, "identity", "set", "--environment", "app.fluigidentity.com").returncode == 0
    # What the engine creates beside them, by the same modules in this process (whose umask is 022).
    resolved = resolve_home(home).ensure()
    StateStore(resolved.state_db).close()
    engine_lock.acquire(resolved).release()

    made = {path.relative_to(home).as_posix(): stat.S_IMODE(path.lstat().st_mode) for path in home.rglob("*")}

    assert {"config/appsettings.json", "data/engine.lock", "data/state.sqlite3", "logs/application.log",
            "logs/console.log"} <= made.keys()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert {name: mode for name, mode in made.items() if mode not in (0o700, 0o600)} == {}
    assert all(mode == 0o700 for name, mode in made.items() if (home / name).is_dir())


# -- links planted after the home was checked: the opens themselves do not follow them


def test_a_link_planted_after_the_check_is_refused_where_each_file_is_opened(tmp_path):
    home = resolve_home(tmp_path / "home").ensure()
    victim = tmp_path / "victim"
    victim.write_text("")
    for path in (home.log_dir / CONSOLE_LOG, home.state_db, engine_lock.lock_path(home)):
        path.symlink_to(victim)
    with pytest.raises(UnsafeHomeError, match=f"{home.log_dir / CONSOLE_LOG} is a symbolic link"):
        RetainingFileHandler(home.log_dir / CONSOLE_LOG, LogSettings())
    with pytest.raises(UnsafeHomeError, match=f"{home.state_db} is a symbolic link"):
        StateStore(home.state_db)
    with pytest.raises(UnsafeHomeError, match=f"{engine_lock.lock_path(home)} is a symbolic link"):
        engine_lock._open(engine_lock.lock_path(home))
    assert victim.read_text() == ""


# -- the rule, for every mode


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.integers(min_value=0o700, max_value=0o777))
def test_a_home_folder_is_refused_exactly_when_group_or_others_may_write_it(tmp_path, mode):
    home = resolve_home(tmp_path / "home")
    home.ensure()
    os.chmod(home.data_dir, mode)
    try:
        if mode & 0o022:
            with pytest.raises(UnsafeHomeError, match=f"chmod 700 {home.data_dir}"):
                home.ensure()
        else:
            home.ensure()
    finally:
        os.chmod(home.data_dir, 0o700)

"""`smartsync-tui directory …` and `identity …` as an admin runs them: a real
Samba AD DC, the real emulator, the real command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.samba


def cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def home(tmp_path, emulator):
    """A fresh home pointed at the emulator."""
    home = tmp_path / "home"
    environment = urlparse(emulator.url).netloc
    done = cli(home, "identity", "set", "--protocol", "http", "--environment", environment)
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def token(emulator):
    _directory_id, token = emulator.create_directory("Corp")
    return token


def secrets_in(text: str, *secrets: str) -> list[str]:
    return [s for s in secrets if s in text]


def everything_written(home: Path) -> str:
    """appsettings.json and every log: what must never hold a secret."""
    parts = []
    for path in home.rglob("*"):
        if path.is_file() and path.name != "secrets.json" and not path.name.startswith("state"):
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def add_args(samba_dc, tls: str, *extra: str) -> list[str]:
    args = ["directory", "add", "--id", f"corp-{tls}", "--server", samba_dc.host, "--tls", tls,
            "--user", samba_dc.admin_user, "--base-dn", samba_dc.base_dn, "--password-stdin", "--token-stdin"]
    if tls != "plain":
        args += ["--ca-file", str(samba_dc.ca_file), "--tls-server-name", samba_dc.tls_server_name]
    return args + list(extra)


def settings_of(home: Path) -> dict:
    path = home / "config" / "appsettings.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize("tls", ["ldaps", "starttls", "plain"])
def test_add_checks_bind_and_token_then_saves_without_secrets(samba_dc, home, token, tls):
    done = cli(home, *add_args(samba_dc, tls, "--json"), stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["added"] is True
    assert result["directory"]["id"] == f"corp-{tls}"
    saved = settings_of(home)["directories"]
    assert [(d["id"], d["tls"], d["server"]) for d in saved] == [(f"corp-{tls}", tls, samba_dc.host)]
    assert secrets_in(done.stdout + done.stderr, samba_dc.admin_password, token) == []
    assert secrets_in(everything_written(home), samba_dc.admin_password, token) == []
    secrets = json.loads((home / "config" / "secrets.json").read_text())
    assert secrets[f"directory/corp-{tls}/bind_password"] == samba_dc.admin_password
    assert secrets[f"directory/corp-{tls}/token"] == token
    assert oct((home / "config" / "secrets.json").stat().st_mode & 0o777) == "0o600"

    listed = cli(home, "directory", "list", "--json")
    assert json.loads(listed.stdout)[0]["password_set"] is True
    assert secrets_in(listed.stdout, samba_dc.admin_password, token) == []
    tested = cli(home, "directory", "test", f"corp-{tls}")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def assert_nothing_saved(home: Path) -> None:
    assert settings_of(home).get("directories", []) == []
    secrets = home / "config" / "secrets.json"
    assert not secrets.exists() or "directory/" not in secrets.read_text()


def test_wrong_password_is_refused_with_ads_reason(samba_dc, home, token):
    done = cli(home, *add_args(samba_dc, "ldaps"), stdin=f"Wrong-Passw0rd-123\n{token}\n")
    assert done.returncode == 1
    assert "password" in done.stdout.lower() and "Nothing was added" in done.stdout
    assert "Wrong-Passw0rd-123" not in done.stdout + done.stderr + everything_written(home)
    assert_nothing_saved(home)


def test_wrong_base_dn_is_refused(samba_dc, home, token):
    args = add_args(samba_dc, "ldaps")
    args[args.index("--base-dn") + 1] = "OU=Nowhere," + samba_dc.base_dn
    done = cli(home, *args, stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert done.returncode == 1
    assert "OU=Nowhere" in done.stdout and "does not exist" in done.stdout
    assert_nothing_saved(home)


def test_unreachable_server_is_refused(samba_dc, home, token):
    args = add_args(samba_dc, "ldaps", "--port", "1")
    done = cli(home, *args, stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert done.returncode == 1
    assert "127.0.0.1:1" in done.stdout
    assert_nothing_saved(home)


def test_revoked_token_is_refused_with_generate_a_new_one(samba_dc, home, emulator):
    directory_id, token = emulator.create_directory("Revoked")
    emulator.revoke_token(directory_id)
    done = cli(home, *add_args(samba_dc, "ldaps"), stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert done.returncode == 1
    assert "generate a new token in Identity" in done.stdout
    assert token not in done.stdout + done.stderr
    assert_nothing_saved(home)


def test_server_with_scheme_or_port_is_refused_before_anything_is_asked(home):
    done = cli(home, "directory", "add", "--server", "LDAP://dc1.corp.example:389", "--user", "a",
               "--base-dn", "DC=corp,DC=example", "--password-stdin", "--token-stdin")
    assert done.returncode == 2
    assert "--server: give only the IP or server name, without 'LDAP://'" in done.stderr
    assert "Traceback" not in done.stderr
    assert_nothing_saved(home)


def test_corrupt_settings_file_is_reported_and_left_intact(home):
    path = home / "config" / "appsettings.json"
    broken = path.read_bytes().replace(b'"http"', b'"http",,', 1)
    path.write_bytes(broken)
    for args in (["directory", "list"], ["identity", "set", "--environment", "other.example.com"]):
        done = cli(home, *args)
        assert done.returncode == 2
        assert "not valid JSON" in done.stderr and "line 3" in done.stderr
        assert "Traceback" not in done.stderr
        assert path.read_bytes() == broken


def test_identity_test_reports_reachable_and_unreachable(home, tmp_path):
    done = cli(home, "identity", "test", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True
    other = tmp_path / "other"
    cli(other, "identity", "set", "--protocol", "http", "--environment", "127.0.0.1:1")
    done = cli(other, "identity", "test")
    assert done.returncode == 1
    assert "NOT reachable" in done.stdout and "Cannot reach Identity" in done.stdout


def test_proxy_password_stays_out_of_the_settings_file(home):
    done = cli(home, "proxy", "set", "manual", "--host", "proxy.corp.example", "--port", "3128",
               "--user", "alice", "--password-stdin", stdin="Pr0xy-Secret!\n")
    assert done.returncode == 0, done.stderr
    shown = cli(home, "proxy", "show")
    assert "manual, proxy.corp.example:3128, user alice (password set)" in shown.stdout
    assert "Pr0xy-Secret!" not in everything_written(home) + shown.stdout
    bad = cli(home, "proxy", "set", "manual", "--host", "proxy.corp.example")
    assert bad.returncode == 2 and "--host and --port" in bad.stderr


def test_edit_rechecks_and_remove_deletes_settings_and_secrets(samba_dc, home, token, emulator):
    added = cli(home, *add_args(samba_dc, "ldaps"), stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert added.returncode == 0, added.stdout + added.stderr

    # A bad password on edit changes nothing: the stored one keeps working.
    bad = cli(home, "directory", "edit", "corp-ldaps", "--password-stdin", stdin="Not-The-Passw0rd\n")
    assert bad.returncode == 1 and "Nothing was changed" in bad.stdout
    assert cli(home, "directory", "test", "corp-ldaps").returncode == 0

    # A new token replaces the old one after it is checked.
    _id, new_token = emulator.create_directory("Corp again")
    edited = cli(home, "directory", "edit", "corp-ldaps", "--name", "Corp HQ", "--token-stdin", stdin=f"{new_token}\n")
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert settings_of(home)["directories"][0]["display_name"] == "Corp HQ"
    assert json.loads((home / "config" / "secrets.json").read_text())["directory/corp-ldaps/token"] == new_token

    refused = cli(home, "directory", "remove", "corp-ldaps")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    removed = cli(home, "directory", "remove", "corp-ldaps", "--yes")
    assert removed.returncode == 0
    assert_nothing_saved(home)
    assert new_token not in (home / "config" / "secrets.json").read_text()


def test_a_secret_typed_as_an_option_is_refused_and_never_echoed(home):
    for args in (
        ["directory", "add", "--server", "dc1", "--user", "a", "--base-dn", "DC=x", "--password", "Hunter2-Secret"],
        ["directory", "add", "--server", "dc1", "--user", "a", "--base-dn", "DC=x", "--token=idt_Hunter2Secret99"],
        ["proxy", "set", "manual", "--host", "p", "--port", "3128", "--user", "u", "--password", "Hunter2-Secret"],
    ):
        done = cli(home, *args)
        assert done.returncode == 2
        assert "never taken on the command line" in done.stderr
        assert "Hunter2" not in done.stdout + done.stderr + everything_written(home)


def test_home_may_follow_the_command_and_a_bad_home_says_what_to_do(tmp_path):
    done = subprocess.run([sys.executable, "-m", "smartsync_tui", "identity", "show", "--home", str(tmp_path / "h")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "h" / "config").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = cli(blocker / "home", "identity", "show")
    assert done.returncode == 2
    assert "Cannot create the folder" in done.stderr and "Choose another --home" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_same_directory_cannot_be_added_twice(samba_dc, home, token):
    first = cli(home, *add_args(samba_dc, "ldaps"), stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert first.returncode == 0, first.stdout + first.stderr
    args = add_args(samba_dc, "starttls")
    args[args.index("--id") + 1] = "another-id"
    again = cli(home, *args, stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert again.returncode == 2
    assert "already reads DC=smartsync,DC=test" in again.stderr and "directory edit corp-ldaps" in again.stderr
    assert [d["id"] for d in settings_of(home)["directories"]] == ["corp-ldaps"]


def test_checks_use_the_environment_override_that_the_agent_runs_with(samba_dc, tmp_path, emulator, token):
    home = tmp_path / "home"
    cli(home, "identity", "set", "--protocol", "http", "--environment", "127.0.0.1:1")
    env = {**os.environ, "SMARTSYNC_IDENTITY__ENVIRONMENT": urlparse(emulator.url).netloc,
           "SMARTSYNC_IDENTITY__PROTOCOL": "http"}
    done = subprocess.run(
        [sys.executable, "-m", "smartsync_tui", "--home", str(home), *add_args(samba_dc, "ldaps")],
        input=f"{samba_dc.admin_password}\n{token}\n", capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    saved = settings_of(home)
    assert saved["identity"]["environment"] == "127.0.0.1:1"  # the override was not written into the file
    assert [d["id"] for d in saved["directories"]] == ["corp-ldaps"]

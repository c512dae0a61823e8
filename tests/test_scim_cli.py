"""`smartsync-tui directory add|edit|test|list` and `sync` for a SCIM directory, against Samba and
scim2-server: checked for real, saved only when both checks pass, and never a secret on screen."""

from __future__ import annotations

import json

import pytest

from tests.test_cli_directory import cli, everything_written, secrets_in, settings_of

pytestmark = pytest.mark.samba


def scim_args(samba_dc, ou: str, url: str, *extra: str) -> list[str]:
    return ["directory", "add", "--id", "corp", "--server", samba_dc.host, "--user", samba_dc.admin_user,
            "--base-dn", ou, "--ca-file", str(samba_dc.ca_file), "--tls-server-name", samba_dc.tls_server_name,
            "--target", "scim", "--scim-url", url, "--password-stdin", "--token-stdin", *extra]


def ou_with_ana(samba_dc):  # type: ignore[no-untyped-def]
    """A fresh OU holding one user, ana.goncalves: (its DN, the editor that made it, closed)."""
    from tests.support.sync_env import AdEditor

    ou = samba_dc.make_ou()
    ad = AdEditor(samba_dc, ou)
    try:
        ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    finally:
        ad.close()
    return ou, ad


def test_a_scim_directory_is_checked_saved_listed_tested_and_synced(samba_dc, scim_gate, scim_tenant, tmp_path):
    home = tmp_path / "home"
    ou, ad = ou_with_ana(samba_dc)
    token = scim_tenant.server.token
    done = cli(home, *scim_args(samba_dc, ou, scim_gate.url, "--profile", "aws-identity-center"),
               stdin=f"{samba_dc.admin_password}\n{token}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AWS IAM Identity Center at" in done.stdout and "the token is accepted" in done.stdout
    assert "group members per PATCH: 100 added, 100 removed" in done.stdout
    [saved] = settings_of(home)["directories"]
    assert (saved["target"], saved["scim"]["base_url"], saved["scim"]["profile"]) == (
        "scim", scim_gate.url, "aws-identity-center")
    secrets = json.loads((home / "config" / "secrets.json").read_text())
    assert secrets["directory/corp/token"] == token and "directory/corp/agent_key" not in secrets
    assert secrets_in(done.stdout + done.stderr + everything_written(home), samba_dc.admin_password, token) == []

    listed = cli(home, "directory", "list")
    assert f"-> SCIM {scim_gate.url}" in listed.stdout
    tested = cli(home, "directory", "test", "corp", "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    report = json.loads(tested.stdout)
    assert report["ok"] and report["scim"]["patch"] is True and report["scim"]["filter"] is True
    assert "identity" not in report

    synced = cli(home, "sync", "--json")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert [u["userName"] for u in scim_tenant.users().values()] == [ad.login("ana.goncalves")]


def test_a_refused_token_or_a_bad_scim_option_saves_nothing_and_says_what_to_fix(samba_dc, scim_gate, tmp_path):
    home = tmp_path / "home"
    ou = samba_dc.base_dn
    bad = cli(home, *scim_args(samba_dc, ou, scim_gate.url), stdin=f"{samba_dc.admin_password}\nnot-the-token-at-all\n")
    assert bad.returncode != 0
    assert "SCIM: The SCIM provider refused the bearer token" in bad.stdout + bad.stderr
    assert "Nothing was added" in bad.stdout + bad.stderr
    assert settings_of(home).get("directories", []) == []
    for extra, said in (
        (["--profile", "okta"], "There is no SCIM profile 'okta' (known: generic, aws-identity-center"),
    ):
        done = cli(home, *scim_args(samba_dc, ou, scim_gate.url, *extra), stdin=f"{samba_dc.admin_password}\nx" * 1)
        assert done.returncode != 0 and said in done.stderr, done.stderr
    plain = cli(home, *scim_args(samba_dc, ou, "http://scim.example.com/scim"), stdin="")
    assert plain.returncode != 0 and "--scim-url: a SCIM URL must use https" in plain.stderr, plain.stderr
    missing = cli(home, "directory", "add", "--id", "corp", "--server", samba_dc.host, "--user", "u@x",
                  "--base-dn", ou, "--target", "scim", "--password-stdin", "--token-stdin", stdin="")
    assert missing.returncode != 0 and "needs its scim section" in missing.stderr, missing.stderr
    stray = cli(home, "directory", "add", "--id", "corp", "--server", samba_dc.host, "--user", "u@x",
                "--base-dn", ou, "--scim-url", scim_gate.url, stdin="")
    assert stray.returncode != 0 and "add --target scim" in stray.stderr, stray.stderr
    assert settings_of(home).get("directories", []) == []


def test_an_identity_directory_edited_into_a_scim_one_is_checked_then_syncs_there(samba_dc, emulator, scim_gate,
                                                                                  scim_tenant, tmp_path):
    from tests.test_cli_directory import add_args, cli as run
    from urllib.parse import urlparse

    home = tmp_path / "home"
    assert run(home, "identity", "set", "--protocol", "http", "--environment",
               urlparse(emulator.url).netloc).returncode == 0
    _id, identity_token = emulator.create_directory("Corp")
    added = run(home, *add_args(samba_dc, "ldaps"), stdin=f"{samba_dc.admin_password}\n{identity_token}\n")
    assert added.returncode == 0, added.stdout + added.stderr
    # A new target needs its own token: refused without one, nothing changed.
    alone = run(home, "directory", "edit", "corp-ldaps", "--target", "scim", "--scim-url", scim_gate.url)
    assert alone.returncode != 0 and "--token-stdin" in alone.stdout + alone.stderr
    assert settings_of(home)["directories"][0].get("target", "identity") == "identity"
    # A wrong one: refused by the provider, nothing changed either.
    wrong = run(home, "directory", "edit", "corp-ldaps", "--target", "scim", "--scim-url", scim_gate.url,
                "--token-stdin", stdin="not-the-token-at-all\n")
    assert wrong.returncode != 0 and settings_of(home)["directories"][0].get("target", "identity") == "identity"
    token = scim_tenant.server.token
    ou, ad = ou_with_ana(samba_dc)
    moved = run(home, "directory", "edit", "corp-ldaps", "--target", "scim", "--scim-url", scim_gate.url,
                "--base-dn", ou, "--token-stdin", stdin=f"{token}\n")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "the token is accepted" in moved.stdout
    [saved] = settings_of(home)["directories"]
    assert (saved["target"], saved["scim"]["base_url"], saved["scim"]["profile"]) == ("scim", scim_gate.url, "generic")
    assert json.loads((home / "config" / "secrets.json").read_text())["directory/corp-ldaps/token"] == token
    assert secrets_in(moved.stdout + moved.stderr + everything_written(home), samba_dc.admin_password, token,
                      identity_token) == []
    synced = run(home, "sync", "--directory", "corp-ldaps", "--json")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert [u["userName"] for u in scim_tenant.users().values()] == [ad.login("ana.goncalves")]

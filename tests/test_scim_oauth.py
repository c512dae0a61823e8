"""OAuth2 client credentials for a SCIM directory, against Samba and both real SCIM servers behind a
token endpoint on 127.0.0.1 (tests/support/scim_server.py's OAuthIssuer): one access token for
many requests, a new one before it expires or after a 401, a refused client said with what to fix,
and neither the client secret nor an access token anywhere an admin or a log can read."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from smartsync_tui.config.secret_store import directory_token_key
from smartsync_tui.config.settings import ScimSettings
from smartsync_tui.targets.base import TargetCredentialsRejected, TargetUnavailable
from smartsync_tui.targets.scim.oauth import ClientCredentials, Grant
from tests.support.scim_server import OAuthIssuer
from tests.test_cli_directory import cli, everything_written, secrets_in, settings_of
from tests.test_scim_cli import scim_args
from tests.test_scim_sync import ScimEnv

SECRET = "s3cr3t-of-the-client"


@pytest.fixture
def oauth_env(samba_dc, scim_gate, scim_tenant, tmp_path):  # type: ignore[no-untyped-def]
    issuer = OAuthIssuer("smartsync", SECRET, scim_tenant.server.token)
    scim_gate.oauth = issuer
    env = ScimEnv(samba_dc, scim_gate, scim_tenant, tmp_path, auth="oauth2",
                  token_url=f"{scim_gate.url}/oauth/token", client_id="smartsync", scope="scim:write")
    env.secrets.set_many({directory_token_key("corp"): SECRET})
    env.issuer = issuer
    try:
        yield env
    finally:
        env.close()


def _writes(calls: Counter) -> Counter:
    """The SCIM requests, without the token endpoint's and the generic profile's two questions."""
    asked = ("GET ServiceProviderConfig", "GET ResourceTypes")
    return Counter({k: v for k, v in calls.items() if "oauth" not in k and k not in asked})


@pytest.mark.samba
def test_one_access_token_serves_a_whole_run_and_a_new_one_comes_before_it_expires_or_after_a_401(
        oauth_env, caplog):
    caplog.set_level(logging.DEBUG)
    env, issuer = oauth_env, oauth_env.issuer
    users = [env.ad.add_user(f"u{i}", "Usuária", f"Número {i}") for i in range(12)]
    first, calls = env.calls_of(env.sync)
    assert first.outcome == "ok", first.error
    assert issuer.issued == 1 and issuer.scopes == ["scim:write"]
    assert _writes(calls) == Counter({"POST Users": 12}), calls
    assert len(env.users()) == 12

    issuer.revoke_all()  # revoked early: the provider answers 401, one new token, the same request again
    env.ad.modify(users[0], sn="Mudou")
    second = env.sync()
    assert second.outcome == "ok", second.error
    assert issuer.issued == 2 and env.users()[env.ad.guid(users[0])]["name"]["familyName"] == "Mudou"

    issuer.lifetime = 2  # short-lived: bought again before it ends, without a 401
    issuer.revoke_all()
    env.ad.modify(users[1], sn="Outra")
    assert env.sync().outcome == "ok"
    issued, refused = issuer.issued, sum(1 for _m, _p, status in env.gate.log if status == 401)
    time.sleep(2.1)
    env.ad.modify(users[2], sn="Mais uma")
    assert env.sync().outcome == "ok"
    assert issuer.issued == issued + 1
    assert sum(1 for _m, _p, status in env.gate.log if status == 401) == refused

    issuer.fail_next = 2  # the token endpoint having a bad moment: retried
    issuer.revoke_all()
    env.ad.modify(users[3], sn="De novo")
    assert env.sync().outcome == "ok"
    tokens = list(issuer.live)
    assert tokens and all(t not in caplog.text for t in tokens) and SECRET not in caplog.text


@pytest.mark.samba
def test_a_refused_client_stops_the_run_saying_what_to_fix_and_never_the_secret(oauth_env):
    env = oauth_env
    env.ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    env.secrets.set_many({directory_token_key("corp"): "not-the-secret"})
    result = env.sync()
    assert result.outcome == "failed" and result.error_kind == "scim-token-rejected"
    assert "invalid_client" in result.error and "--client-id" in result.error and "--token-stdin" in result.error
    assert "not-the-secret" not in result.error
    assert env.users() == {}  # nothing sent without a token


@pytest.mark.samba
def test_the_cli_adds_an_oauth2_directory_checked_for_real_and_keeps_it_oauth2_on_edit(
        samba_dc, scim_gate, scim_tenant, tmp_path):
    scim_gate.oauth = OAuthIssuer("smartsync", SECRET, scim_tenant.server.token)
    home = tmp_path / "home"
    oauth = ["--scim-auth", "oauth2", "--token-url", f"{scim_gate.url}/oauth/token", "--client-id", "smartsync"]
    wrong = cli(home, *scim_args(samba_dc, samba_dc.base_dn, scim_gate.url, *oauth),
                stdin=f"{samba_dc.admin_password}\nwrong-secret\n")
    assert wrong.returncode != 0 and "invalid_client" in wrong.stdout + wrong.stderr
    assert settings_of(home).get("directories", []) == []
    done = cli(home, *scim_args(samba_dc, samba_dc.base_dn, scim_gate.url, *oauth),
               stdin=f"{samba_dc.admin_password}\n{SECRET}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    [saved] = settings_of(home)["directories"]
    assert (saved["scim"]["auth"], saved["scim"]["client_id"]) == ("oauth2", "smartsync")
    assert json.loads((home / "config" / "secrets.json").read_text())["directory/corp/token"] == SECRET
    edited = cli(home, "directory", "edit", "corp", "--delete-gone")
    assert edited.returncode == 0, edited.stdout + edited.stderr
    [saved] = settings_of(home)["directories"]
    assert (saved["scim"]["auth"], saved["scim"]["delete_gone"]) == ("oauth2", True)
    back = cli(home, "directory", "edit", "corp", "--scim-auth", "bearer")
    assert back.returncode != 0 and "--token-stdin" in back.stderr, back.stderr
    assert secrets_in(done.stdout + done.stderr + everything_written(home), SECRET) == []


def test_oauth2_needs_its_token_url_and_client_id_and_the_url_is_https():
    with pytest.raises(ValidationError, match="token URL and the client id"):
        ScimSettings(base_url="https://s.example.com", auth="oauth2", client_id="x")
    with pytest.raises(ValidationError, match="OAuth2 token URL"):
        ScimSettings(base_url="https://s.example.com", auth="oauth2", client_id="x",
                     token_url="http://login.example.com/token")
    assert ScimSettings(base_url="https://s.example.com").auth == "bearer"  # a file written before: unchanged


answers = st.one_of(
    st.none(), st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["access_token", "token_type", "expires_in", "error", "error_description"]),
                    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**9), st.floats(allow_nan=True),
                              st.text(max_size=40), st.just("Bearer"), st.just("\x00\n")), max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(status=st.sampled_from([200, 201, 400, 401, 403, 404, 500, 503]), body=answers)
def test_any_token_endpoint_answer_is_a_token_or_a_refusal_in_words(status, body):
    credentials = ClientCredentials(Grant("https://login.example.com/token", "smartsync", SecretStr(SECRET)),
                                    lambda *args: (status, body), directory_id="corp")
    try:
        header = credentials.header()
    except (TargetCredentialsRejected, TargetUnavailable) as exc:
        assert str(exc) and SECRET not in str(exc) and "\x00" not in str(exc)
    else:
        assert status == 200 and header.startswith("Bearer ") and header[7:].isprintable()


@pytest.mark.samba
def test_a_token_endpoint_that_does_not_answer_stops_the_run_in_words(oauth_env):
    import socket as sockets

    with sockets.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = oauth_env
    env.settings.directories[0].scim.token_url = f"http://127.0.0.1:{port}/token"
    env.ad.add_user("ana.goncalves", "Ana", "Gonçalves")
    result = env.sync()
    assert result.outcome == "failed"
    assert f"The OAuth2 token endpoint http://127.0.0.1:{port}/token did not answer" in result.error
    assert "Check the token URL, the network and the proxy" in result.error and SECRET not in result.error
    assert env.users() == {}

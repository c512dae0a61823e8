"""What goes wrong between the agent and a real SCIM server (scim2-server and SCIMMY, through the gate),
and what the admin reads: TLS trust, a CA file that cannot be used, a server without PATCH, a user
deleted by hand in the provider, and answers of the wrong shape to `directory test`."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from pydantic import SecretStr

from smartsync_tui.config.settings import AppSettings, DirectorySettings, ProxySettings, ScimSettings
from smartsync_tui.targets.base import TargetUnavailable
from smartsync_tui.targets.scim.check import check_endpoint
from smartsync_tui.targets.scim.client import ScimClient
from smartsync_tui.targets.scim.pace import Pace
from smartsync_tui.targets.scim.profiles import profile
from smartsync_tui.targets.scim.target import ScimTarget
from tests.support.tls import TlsFront, make_ca
from tests.test_scim_sync import ScimEnv

CORP = DirectorySettings(id="corp", server="dc1.corp.example", bind_user="svc@corp.example", base_dn="DC=corp,DC=example")


def a_user(name: str) -> dict:
    return {"external_id": str(uuid.uuid4()), "login": f"{name}@corp.example", "first_name": name.title(),
            "last_name": "Silva", "email": f"{name}@corp.example", "active": True}


def target(url: str, token: str, ca_file: str | None = None) -> ScimTarget:
    client = ScimClient(url, SecretStr(token), directory_id="corp", pace=Pace(None), ca_file=ca_file)
    return ScimTarget(client, ScimSettings(base_url=url), profile("generic"))


@pytest.fixture
def https_gate(scim_gate, tmp_path):  # type: ignore[no-untyped-def]
    """The gate behind HTTPS, its certificate from a throw-away CA: (url, ca file)."""
    ca = make_ca(tmp_path / "ca")
    front = TlsFront(int(scim_gate.url.rsplit(":", 1)[1]), ca)
    try:
        yield front.url, str(ca.ca_file)
    finally:
        front.close()


def test_https_with_the_providers_ca_syncs_and_without_it_says_so_at_once(https_gate, scim_tenant):
    url, ca_file = https_gate
    with target(url, scim_tenant.server.token, ca_file) as trusted:
        [made] = trusted.apply_users([a_user("ana")])
    assert made.ok and len(scim_tenant.users()) == 1
    started = time.monotonic()
    with target(url, scim_tenant.server.token) as untrusted, pytest.raises(TargetUnavailable) as caught:
        untrusted.apply_users([a_user("bia")])
    assert time.monotonic() - started < 3, "an untrusted certificate is not sent again and again"
    said = str(caught.value)
    assert said.startswith(f"The certificate of the SCIM provider at {url} is not trusted (")
    assert "directory edit corp --scim-ca-file PEM" in said and caught.value.kind == "scim-tls"
    assert len(scim_tenant.users()) == 1


def test_a_ca_file_that_cannot_be_used_is_said_in_words_by_the_run_and_the_check(scim_gate, scim_tenant, tmp_path):
    broken = tmp_path / "not-a-ca.pem"
    broken.write_text("this is not a certificate\n")
    for path in (str(broken), str(tmp_path / "missing.pem")):
        with pytest.raises(TargetUnavailable, match=r"The CA file .* of the SCIM provider cannot be used \("):
            target(scim_gate.url, scim_tenant.server.token, path)
        directory = CORP.model_copy(update={"target": "scim", "scim": ScimSettings(base_url=scim_gate.url,
                                                                                    ca_file=path)})
        report = check_endpoint(AppSettings(proxy=ProxySettings(mode="none")), None, directory,
                                SecretStr(scim_tenant.server.token))
        assert not report.ok and "cannot be used" in str(report.error)
    assert scim_gate.calls == {}  # nothing was sent


def test_a_server_without_patch_gets_whole_users_and_ends_holding_the_change(scim_gate, scim_tenant):
    from smartsync_tui.targets.base import Known

    ana = a_user("ana")
    with target(scim_gate.url, scim_tenant.server.token) as scim:
        [made] = scim.apply_users([ana])
        scim_gate.patch_status = 501
        changed = {**ana, "last_name": "Lima"}
        [first] = scim.apply_users([changed], {ana["external_id"]: Known(made.remote_id, ana)})
        again = {**changed, "first_name": "Ana Beatriz"}
        [second] = scim.apply_users([again], {ana["external_id"]: Known(made.remote_id, changed)})
    assert first.ok and second.ok and first.remote_id == made.remote_id
    held = scim_tenant.users()[ana["external_id"]]
    assert held["name"] == {"givenName": "Ana Beatriz", "familyName": "Lima"}
    assert scim_gate.calls["PATCH Users"] == 1 and scim_gate.calls["PUT Users"] == 2  # asked once, then PUT


def test_directory_test_says_what_is_wrong_with_answers_of_the_wrong_shape(scim_gate, scim_tenant):
    directory = CORP.model_copy(update={"target": "scim", "scim": ScimSettings(base_url=scim_gate.url)})
    settings = AppSettings(proxy=ProxySettings(mode="none"))
    token = SecretStr(scim_tenant.server.token)
    scim_gate.answers["/ServiceProviderConfig"] = (200, json.dumps({"filter": "yes", "patch": [1]}).encode())
    scim_gate.answers["/ResourceTypes"] = (200, json.dumps({"Resources": "Users"}).encode())
    odd = check_endpoint(settings, None, directory, token)
    assert odd.ok and odd.filter is True and odd.groups is None  # nothing understood, nothing assumed
    scim_gate.answers["/ServiceProviderConfig"] = (404, b"<html>not here</html>")
    wrong = check_endpoint(settings, None, directory, token)
    assert not wrong.ok and "ServiceProviderConfig answered HTTP 404: is this the SCIM base URL" in str(wrong.error)


@pytest.mark.samba
def test_a_user_deleted_by_hand_in_the_provider_is_created_again_on_its_next_change(samba_dc, scim_gate,
                                                                                      scim_tenant, tmp_path):
    env = ScimEnv(samba_dc, scim_gate, scim_tenant, tmp_path)
    try:
        dn = env.ad.add_user("ana.goncalves", "Ana", "Gonçalves")
        assert env.sync().outcome == "ok"
        guid = env.ad.guid(dn)
        scim_tenant.delete("Users", scim_tenant.users()[guid]["id"])
        env.ad.modify(dn, sn="Lima")
        result = env.sync()
        assert result.outcome == "ok", result.error
        held = scim_tenant.users()[guid]
        assert held["name"]["familyName"] == "Lima" and held["active"] is True
        assert env.state.remote_ids("corp", [guid]) == {guid: held["id"]}  # the new id is kept
    finally:
        env.close()

"""appsettings.json: defaults, environment overrides, atomic saves, broken files left intact."""

import json
import re
import os
import stat

import pytest

from smartsync_tui.core.errors import SettingsError
from smartsync_tui.config.settings import (
    AppSettings,
    DirectorySettings,
    load_settings,
    save_settings,
)


@pytest.fixture
def settings_file(tmp_path):
    return tmp_path / "config" / "appsettings.json"


def test_defaults_match_the_original_product(settings_file):
    settings = load_settings(settings_file)
    assert settings.identity.base_url == "https://app.fluigidentity.com"
    assert settings.proxy.mode == "system"
    assert settings.sync.delta_interval_seconds == 30
    assert settings.sync.full_reconcile_interval_hours == 24
    assert settings.deletion_threshold.max_count == 500
    assert settings.url == "http://127.0.0.1:5325"
    assert settings.directories == []


def test_save_then_load_round_trips_and_is_hand_editable(settings_file):
    settings = load_settings(settings_file)
    settings.directories.append(
        DirectorySettings(id="corp", server="dc1.corp.example", bind_user="svc@corp.example", base_dn="DC=corp,DC=example")
    )
    save_settings(settings_file, settings)
    text = settings_file.read_text()
    assert text.startswith("{\n  ")  # indented JSON, one key per line
    data = json.loads(text)
    assert data["directories"][0]["server"] == "dc1.corp.example"
    again = load_settings(settings_file)
    assert again.directory("corp").effective_port == 636
    assert stat.S_IMODE(os.stat(settings_file).st_mode) == 0o600
    assert not [p for p in settings_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_environment_overrides_nested_fields_but_is_never_saved(settings_file, monkeypatch):
    save_settings(settings_file, AppSettings())
    monkeypatch.setenv("SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS", "60")
    monkeypatch.setenv("SMARTSYNC_IDENTITY__ENVIRONMENT", "test.customerfi.com")
    assert load_settings(settings_file).sync.delta_interval_seconds == 60
    assert load_settings(settings_file).identity.environment == "test.customerfi.com"
    editable = load_settings(settings_file, environment=False)
    assert editable.sync.delta_interval_seconds == 30
    save_settings(settings_file, editable)
    assert json.loads(settings_file.read_text())["sync"]["delta_interval_seconds"] == 30


def test_invalid_json_names_the_line_and_the_file_is_not_overwritten(settings_file):
    settings_file.parent.mkdir(parents=True)
    broken = b'{\n  "identity": {\n    "protocol": "https",\n  }\n}\n'
    settings_file.write_bytes(broken)
    with pytest.raises(SettingsError) as caught:
        load_settings(settings_file)
    assert "line 4" in str(caught.value)
    assert "not valid JSON" in str(caught.value)
    with pytest.raises(SettingsError):
        save_settings(settings_file, AppSettings())
    assert settings_file.read_bytes() == broken


def test_validation_errors_name_each_field_and_what_is_allowed(settings_file):
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(
        json.dumps(
            {
                "identity": {"protocol": "ftp", "environment": "https://app.fluigidentity.com"},
                "directories": [
                    {"id": "corp", "server": "LDAP://dc1", "bind_user": "a", "base_dn": "DC=x", "tls": "ssl",
                     "password": "Hunter2-secret"}
                ],
            }
        )
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(settings_file)
    message = str(caught.value)
    assert "identity.protocol" in message and "'https' or 'http'" in message
    assert "identity.environment" in message and "without 'https://'" in message
    assert "directories[0].server" in message and "only the IP or server name" in message
    assert "directories[0].tls" in message and "'ldaps', 'starttls' or 'plain'" in message
    assert "directories[0].password" in message and "secret store" in message
    assert "Hunter2-secret" not in message


def test_duplicate_directory_ids_are_refused(settings_file):
    settings_file.parent.mkdir(parents=True)
    one = {"id": "corp", "server": "dc1", "bind_user": "a", "base_dn": "DC=x"}
    settings_file.write_text(json.dumps({"directories": [one, one]}))
    with pytest.raises(SettingsError, match="two directories have the id 'corp'"):
        load_settings(settings_file)


def test_bad_environment_variable_is_reported_by_field(settings_file, monkeypatch):
    monkeypatch.setenv("SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS", "soon")
    with pytest.raises(SettingsError, match=r"sync\.delta_interval_seconds"):
        load_settings(settings_file)


def test_a_file_changed_since_it_was_read_is_not_overwritten(settings_file):
    save_settings(settings_file, AppSettings())
    mine = load_settings(settings_file, environment=False)
    theirs = load_settings(settings_file, environment=False)
    theirs.sync.delta_interval_seconds = 90
    save_settings(settings_file, theirs)
    mine.identity.environment = "test.customerfi.com"
    with pytest.raises(SettingsError, match="changed since it was read"):
        save_settings(settings_file, mine)
    assert json.loads(settings_file.read_text())["sync"]["delta_interval_seconds"] == 90
    # Settings made in memory may create a file, never replace one.
    with pytest.raises(SettingsError, match="changed since it was read"):
        save_settings(settings_file, AppSettings())


def test_a_hand_edit_that_does_not_validate_is_never_overwritten(settings_file):
    save_settings(settings_file, AppSettings())
    loaded = load_settings(settings_file, environment=False)
    edited = settings_file.read_text().replace('"ldaps"', '"ssl"').replace('"system"', '"sistema"')
    settings_file.write_text(edited)
    with pytest.raises(SettingsError):
        save_settings(settings_file, loaded)
    assert settings_file.read_text() == edited


def test_environment_variable_errors_name_the_variable_not_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "absent.json")
    message = str(caught.value)
    assert "SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS" in message
    assert "absent.json" not in message and "left as it is" not in message


@pytest.mark.parametrize(
    "data, says",
    [
        ({"language": "klingon"}, "'en' or 'pt_BR'"),
        ({"url": "banana"}, "http://HOST:PORT"),
        ({"proxy": {"mode": "manual", "host": "proxy.local"}}, "host and its port"),
        ({"proxy": {"mode": "manual", "host": "http://proxy.local", "port": 3128}}, "without 'http://'"),
        ({"identity": {"environment": "::1"}}, "IPv6"),
    ],
)
def test_other_fields_are_checked_too(settings_file, data, says):
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(json.dumps(data))
    with pytest.raises(SettingsError, match=re.escape(says)):
        load_settings(settings_file)


def test_the_logs_section_has_sensible_defaults_and_bounds(settings_file, monkeypatch):
    logs = load_settings(settings_file).logs
    assert (logs.max_file_size_mb, logs.max_files, logs.max_age_days) == (10, 10, 90)
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(json.dumps({"logs": {"max_file_size_mb": 2.5, "max_files": 3, "max_age_days": None}}))
    logs = load_settings(settings_file).logs
    assert (logs.max_file_size_mb, logs.max_files, logs.max_age_days) == (2.5, 3, None)
    monkeypatch.setenv("SMARTSYNC_LOGS__MAX_AGE_DAYS", "30")
    assert load_settings(settings_file).logs.max_age_days == 30
    monkeypatch.delenv("SMARTSYNC_LOGS__MAX_AGE_DAYS")
    for bad, field in (({"max_files": 0}, "logs.max_files"), ({"max_file_size_mb": 0}, "logs.max_file_size_mb"),
                       ({"max_age_days": 0}, "logs.max_age_days"), ({"keep": 3}, "logs.keep")):
        settings_file.write_text(json.dumps({"logs": bad}))
        with pytest.raises(SettingsError, match=re.escape(field)):
            load_settings(settings_file)


def test_a_directory_syncs_to_identity_unless_its_target_says_otherwise(settings_file):
    settings_file.parent.mkdir(parents=True)
    directory = {"id": "corp", "server": "dc1.corp.example", "bind_user": "a", "base_dn": "DC=corp"}
    settings_file.write_text(json.dumps({"directories": [directory]}))
    settings = load_settings(settings_file)
    assert settings.directories[0].target == "identity"  # a file from before the setting
    save_settings(settings_file, settings)
    assert "target" not in settings_file.read_text()  # the default is not written: older releases read it
    settings_file.write_text(json.dumps({"directories": [directory | {"target": "Not A Name!"}]}))
    with pytest.raises(SettingsError, match=r"directories\[0\]\.target.*for example identity"):
        load_settings(settings_file)


def test_a_run_to_an_unknown_target_says_which_targets_exist(tmp_path):
    # The name is well formed, so the file loads; the run says what is wrong before reading AD.
    from smartsync_tui.config.paths import resolve_home
    from smartsync_tui.config.secret_store import SecretStore, directory_password_key
    from smartsync_tui.config.settings import AppSettings, DirectorySettings
    from smartsync_tui.engine.results import SyncOptions
    from smartsync_tui.engine.sync import SyncEngine
    from smartsync_tui.store.state_store import StateStore

    home = resolve_home(tmp_path / "home").ensure()
    secrets = SecretStore(home.secrets_file)
    secrets.set(directory_password_key("corp"), "not-used")
    settings = AppSettings(directories=[DirectorySettings(id="corp", server="dc1.corp.example", bind_user="a",
                                                          base_dn="DC=corp", target="ldif")])
    with StateStore(home.state_db) as state:
        result = SyncEngine(settings, secrets, state).run("corp", SyncOptions(full=True))
    assert result.outcome == "failed"
    assert result.error == "There is no sync target 'ldif' (known: identity, scim)."

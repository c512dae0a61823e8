"""The secret store and log redaction."""

import logging
import os
import stat

import pytest

from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.config.paths import resolve_home
from smartsync_tui.core.redaction import redact, register_secret
from smartsync_tui.config.secret_store import SecretStore, SecretStoreError


def test_store_is_private_and_values_come_back_masked_in_repr(tmp_path):
    store = SecretStore(tmp_path / "secrets.json")
    store.set("directory/corp/bind_password", "Pässw0rd!-corp")
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode) == 0o600
    value = store.get("directory/corp/bind_password")
    assert value.get_secret_value() == "Pässw0rd!-corp"
    assert "Pässw0rd" not in repr(value) and "Pässw0rd" not in str(value)
    store.delete_prefix("directory/corp/")
    assert store.get("directory/corp/bind_password") is None


def test_store_readable_by_others_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "secrets.json"
    SecretStore(path).set("k", "value-1234")
    os.chmod(path, 0o644)
    with pytest.raises(SecretStoreError, match="chmod 600"):
        SecretStore(path).get("k")


def test_damaged_store_is_reported_and_kept(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(SecretStoreError, match="damaged"):
        SecretStore(path).get("k")
    assert path.read_text() == "{not json"


def test_log_lines_and_tracebacks_are_redacted(tmp_path):
    home = resolve_home(tmp_path)
    handler = setup_logging(home)
    try:
        register_secret("S3cr3t-token-value")
        log = logging.getLogger("smartsync.test")
        log.warning("bind failed for token %s", "S3cr3t-token-value")
        try:
            raise RuntimeError("boom with S3cr3t-token-value inside")
        except RuntimeError:
            log.exception("failed")
        log.info("proxy http://alice:pa55word@proxy.local:3128 used")
        handler.flush()
    finally:
        logging.getLogger("smartsync").removeHandler(handler)
        handler.close()
    text = (home.log_dir / "application.log").read_text()
    assert "S3cr3t-token-value" not in text
    assert "pa55word" not in text
    assert text.count("***") >= 3
    assert "RuntimeError" in text  # the traceback is kept, only the secret is masked


def test_redact_prefers_longest_match():
    register_secret("abcd1234")
    register_secret("abcd1234-longer")
    assert redact("x abcd1234-longer y") == "x *** y"

"""Secrets (AD passwords, directory tokens, agent keys, the proxy password).

Kept in ``secrets.json`` beside appsettings.json, mode 0600, never in
appsettings.json. A file store rather than the OS keyring: the agent runs
headless under systemd, where no unlocked keyring exists (docs/configuration.md).
A store readable by group or others is refused until it is made private again,
as ssh does with keys. Values come back as ``SecretStr`` and are registered
with the log redactor the moment they are read or written.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from pydantic import SecretStr

from smartsync_tui.core.atomic import atomic_write_text
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.file_protection import UnsafeHomeError, check_private_file
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.i18n import _


class SecretStoreError(UserError):
    kind = "secrets"


def directory_password_key(directory_id: str) -> str:
    return f"directory/{directory_id}/bind_password"


def directory_token_key(directory_id: str) -> str:
    return f"directory/{directory_id}/token"


def directory_agent_key(directory_id: str) -> str:
    return f"directory/{directory_id}/agent_key"


PROXY_PASSWORD_KEY = "proxy/password"


class SecretStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        # Not a link, the user's own, closed to others (ssh's rule for keys; not on Windows,
        # where the profile folder's ACL protects it): core.file_protection.
        try:
            if check_private_file(self.path, secret=True) is None:
                return {}
        except UnsafeHomeError as exc:
            raise SecretStoreError(str(exc)) from None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SecretStoreError(
                _("Cannot read {path}: {reason}. Check its owner and permissions.").format(
                    path=self.path, reason=exc.strerror)
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SecretStoreError(
                _("{path} is damaged (not JSON). It was left as it is; move it away and "
                  "enter the passwords and tokens again.").format(path=self.path)
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretStoreError(
                _("{path} is damaged (unexpected content); move it away and re-enter the secrets.").format(path=self.path)
            )
        for value in data.values():
            register_secret(value)
        return data

    def get(self, key: str) -> SecretStr | None:
        with self._lock:
            value = self._load().get(key)
        return SecretStr(value) if value is not None else None

    def set_many(self, values: dict[str, str | SecretStr]) -> None:
        with self._lock:
            data = self._load()
            for key, value in values.items():
                plain = value.get_secret_value() if isinstance(value, SecretStr) else value
                register_secret(plain)
                data[key] = plain
            atomic_write_text(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)

    def set(self, key: str, value: str | SecretStr) -> None:
        self.set_many({key: value})

    def snapshot(self, prefix: str) -> dict[str, str]:
        """The values under ``prefix``, to put back with :meth:`restore` if a change fails."""
        with self._lock:
            return {k: v for k, v in self._load().items() if k.startswith(prefix)}

    def restore(self, prefix: str, snapshot: dict[str, str]) -> None:
        with self._lock:
            data = {k: v for k, v in self._load().items() if not k.startswith(prefix)}
            data.update(snapshot)
            atomic_write_text(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            data = self._load()
            kept = {k: v for k, v in data.items() if not k.startswith(prefix)}
            if kept != data:
                atomic_write_text(self.path, json.dumps(kept, indent=2) + "\n", mode=0o600)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._load())


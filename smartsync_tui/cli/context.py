"""What every CLI command needs: the home, its settings and its secrets."""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass

from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from smartsync_tui.cli.output import safe
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.logs.setup import setup_logging
from smartsync_tui.core.redaction import register_secret
from smartsync_tui.config.paths import Home, resolve_home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, load_settings, save_settings
from smartsync_tui.i18n import _, detect_language


M = TypeVar("M", bound=BaseModel)


# Settings fields whose command-line flag has another name.
FLAGS = {"bind_user": "user", "display_name": "name", "id": "id", "base_url": "scim_url"}


def language_setting(home: Home | None) -> str | None:
    """The home's `language` setting (environment overrides applied); None, for the locale to
    decide, when there is none or the settings file cannot be read: the CLI must still run
    (exporting the logs is how an admin finds out why the settings are broken)."""
    if home is None:
        return None
    try:
        return load_settings(home.settings_file).language
    except UserError:  # broken, unreadable or unsafe (SettingsError): the command that needs the settings says so
        return None


def home_language(home: Home | None) -> str:
    """The language the CLI speaks (and reads dates in) for ``home``: its setting, else the locale."""
    return detect_language(language_setting(home))


def flag_of(field: str) -> str:
    return FLAGS.get(field, field)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """Build a settings section from command-line values; a refusal names each flag."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["loc"]:
                problems.append(f"--{flag_of(str(error['loc'][-1])).replace('_', '-')}: {message}")
            else:
                problems.append(message)  # a rule across fields says which ones itself
        field = str(exc.errors()[0]["loc"][-1]) if exc.errors()[0]["loc"] else "value"
        raise InputError(field, "; ".join(problems)) from None


@dataclass
class CliContext:
    home: Home
    secrets: SecretStore

    @classmethod
    def open(cls, home: str | None) -> "CliContext":
        resolved = resolve_home(home).ensure()
        setup_logging(resolved)
        return cls(home=resolved, secrets=SecretStore(resolved.secrets_file))

    def settings(self) -> AppSettings:
        """Settings as the agent runs with them (environment overrides applied)."""
        return load_settings(self.home.settings_file)

    def editable_settings(self) -> AppSettings:
        """Settings as in the file, to change and save back."""
        return load_settings(self.home.settings_file, environment=False)

    def save(self, settings: AppSettings) -> None:
        save_settings(self.home.settings_file, settings)


class SecretInput:
    """Reads secrets from standard input (one per line, in the order asked) or a hidden prompt.

    Never from argv: command lines are visible to every user in `ps`.
    """

    def __init__(self, from_stdin: set[str]) -> None:
        self._from_stdin = from_stdin

    def read(self, what: str, label: str) -> SecretStr:
        """``label`` is translated by the caller (in Portuguese it carries its article: "a senha de ...")."""
        if what in self._from_stdin:
            line = sys.stdin.readline()
            if not line:
                raise InputError(what, _("expected the {label} on standard input, but it was empty").format(label=label))
            value = line.rstrip("\r\n")
        elif sys.stdin.isatty():
            value = getpass.getpass(safe(f"{label}: "))  # the label names a user from the settings
        else:
            raise InputError(
                what,
                _("the {label} is needed: pass --{what}-stdin and write it to standard input, "
                  "or run in a terminal to be prompted").format(label=label, what=what),
            )
        if not value:
            raise InputError(what, _("the {label} is empty").format(label=label))
        # Masked in every log line from now on, even if it is never stored.
        register_secret(value)
        return SecretStr(value)

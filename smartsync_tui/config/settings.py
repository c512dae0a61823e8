"""appsettings.json: the agent's settings, hand-editable, no secrets inside.

The model is a pydantic-settings class, so any field can be overridden from
the environment (prefix ``SMARTSYNC_``, nested with ``__``, for example
``SMARTSYNC_SYNC__DELTA_INTERVAL_SECONDS=60``). Writes go through
:func:`save_settings` (temp file, fsync, rename): a crash never leaves a half
file. A file that is not JSON or does not validate raises
:class:`SettingsError` naming the line or field and is never overwritten.

Why one module (~560 lines): the settings file's whole schema (docs/configuration.md),
its load and its atomic save; the input rules it shares with the CLI and the console are
in config/validation.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, field_validator, model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from smartsync_tui.core.atomic import atomic_write_text, file_lock
from smartsync_tui.core.bounded_read import FileTooLarge, NotARegularFile, read_regular_file
from smartsync_tui.core.errors import InputError, SettingsError
from smartsync_tui.core import strict_json
from smartsync_tui.config import validation
from smartsync_tui.i18n import N_, _

DEFAULT_USER_FILTER = "(&(objectClass=user)(objectCategory=person))"
DEFAULT_GROUP_FILTER = "(objectCategory=group)"
PRODUCTION_ENVIRONMENT = "app.fluigidentity.com"

TlsMode = Literal["ldaps", "starttls", "plain"]
DEFAULT_PORTS: dict[str, int] = {"ldaps": 636, "starttls": 389, "plain": 389}
# How an admin reads each mode on screen; the codes stay in the settings, the CLI's --tls and --json.
TLS_NAMES: dict[str, str] = {"ldaps": "LDAPS", "starttls": "StartTLS", "plain": N_("Plain LDAP")}


def tls_name(mode: str) -> str:
    """``mode`` (a TlsMode) in the admin's language: ``LDAPS``, ``StartTLS``, ``LDAP sem TLS``."""
    return _(TLS_NAMES[mode]) if mode in TLS_NAMES else mode


class _Section(BaseModel):
    # Unknown keys are refused so a typo in a hand-edited file is reported
    # instead of silently ignored.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IdentitySettings(_Section):
    protocol: Literal["https", "http"] = "https"
    environment: str = PRODUCTION_ENVIRONMENT
    # Only for a proxy or firewall that re-signs TLS: the CA that signs what it shows.
    ca_file: str | None = None

    _check_environment = field_validator("environment")(lambda cls, v: validation.check_environment_host(v))

    @property
    def base_url(self) -> str:
        return f"{self.protocol}://{self.environment}"


class ProxySettings(_Section):
    """How to reach Identity. The proxy password is in the secret store."""

    mode: Literal["system", "manual", "none"] = "system"
    host: str | None = None
    port: int | None = None
    user: str | None = None

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return validation.check_proxy_host(value)

    @field_validator("port")
    @classmethod
    def _check_port(cls, value: int | None) -> int | None:
        return None if value is None else validation.check_port(value)

    @model_validator(mode="after")
    def _manual_needs_host(self) -> "ProxySettings":
        if self.mode == "manual" and (not self.host or not self.port):
            raise ValueError(_("a manual proxy needs both its host and its port (--host and --port)"))
        return self


def _host_key(value: str | None) -> str | None:
    """A host name as DNS compares it: case and a trailing root dot do not make another host."""
    return value.strip().rstrip(".").lower() if value else None


def proxy_password_moves(old: ProxySettings, new: ProxySettings) -> bool:
    """Whether the stored proxy password would go to another proxy (host, port) or as another user.

    It was given for ``old``'s proxy and user; kept for any other, it would be
    sent (in the clear, in Proxy-Authorization) to whoever listens there.
    """
    if old.mode != "manual" or not old.user:
        return False  # nothing was stored for a proxy
    return (_host_key(old.host), old.port, old.user) != (_host_key(new.host), new.port, new.user)


class DirectoryNotFound(InputError):
    """No directory has this id (:meth:`AppSettings.enabled_directory`)."""

    def __init__(self, directory_id: str, known: list[str]) -> None:
        super().__init__("directory", _("there is no directory '{id}' (known: {known})").format(
            id=directory_id, known=", ".join(known) or _("none yet")))
        self.directory_id = directory_id
        self.known = known


class DirectoryDisabled(InputError):
    """The directory exists but is disabled (:meth:`AppSettings.enabled_directory`)."""

    def __init__(self, directory_id: str) -> None:
        super().__init__("directory", _("directory '{id}' is disabled: enable it first "
                                        "(smartsync-tui directory edit {id} --enable)").format(id=directory_id))
        self.directory_id = directory_id


#: The target a directory syncs to when its settings name none (targets/registry.py).
DEFAULT_TARGET_NAME = "identity"
#: A directory's target that is a SCIM 2.0 service provider (targets/scim/, docs/scim.md).
SCIM_TARGET_NAME = "scim"


class ScimMapping(_Section):
    """One SCIM path a directory sends from an AD attribute of its choice (docs/scim.md)."""

    path: str
    # The AD attribute whose value goes there; none: ``default`` always.
    attribute: str | None = None
    # Sent when the user has no value for the attribute (none: the path is left out).
    default: str | None = None

    _check_path = field_validator("path")(lambda cls, v: validation.check_scim_path(v))
    _check_attribute = field_validator("attribute")(
        lambda cls, v: None if v is None else validation.check_ad_attribute(v))

    @model_validator(mode="after")
    def _something(self) -> "ScimMapping":
        if self.attribute is None and self.default is None:
            raise ValueError(_("the mapping of {path} needs an attribute, a default, or both").format(path=self.path))  # not a count
        return self


class ScimSettings(_Section):
    """Where a ``scim`` directory's objects go (docs/scim.md); its bearer token is a secret, kept apart."""

    base_url: str
    # What the provider does not advertise (limits per PATCH, filters, paging...): a name in
    # targets/scim/profiles.py; ``generic`` reads what it can from /ServiceProviderConfig.
    profile: str = "generic"
    ca_file: str | None = None
    # ``bearer``: the secret is the provider's token. ``oauth2``: it is the secret of an OAuth2 client
    # (client credentials grant) whose access tokens are bought from ``token_url``.
    auth: Literal["bearer", "oauth2"] = "bearer"
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    # Manage a user the provider already has under the same userName (one this agent did not
    # create): off, so that nothing the agent did not create is ever changed.
    adopt_existing: bool = False
    # Send the groups (some providers have none, or an admin wants only the users).
    groups: bool = True
    # Users and groups gone from AD are deleted in the provider (DELETE) instead of deactivated and
    # emptied: off, so that a wrong filter costs a re-enable, not the users' data in the provider.
    delete_gone: bool = False
    # More SCIM paths from AD attributes, or other attributes for the agent's paths (title, userName...).
    mapping: list[ScimMapping] = Field(default_factory=list)

    @model_validator(mode="after")
    def _oauth_complete(self) -> "ScimSettings":
        if self.auth == "oauth2" and not (self.token_url and self.client_id):
            raise ValueError(_("OAuth2 needs the token URL and the client id: give --token-url URL and --client-id ID"))
        return self

    @model_validator(mode="after")
    def _one_per_path(self) -> "ScimSettings":
        seen: set[str] = set()
        for item in self.mapping:
            if item.path.lower() in seen:
                raise ValueError(_("the SCIM mapping names {path} twice: keep one").format(path=item.path))
            seen.add(item.path.lower())
        return self

    _check_url = field_validator("base_url")(lambda cls, v: validation.check_scim_url(v))
    _check_token_url = field_validator("token_url")(
        lambda cls, v: None if v is None else validation.check_scim_url(v, what=_("the OAuth2 token URL")))
    _check_client_id = field_validator("client_id", "scope")(
        lambda cls, v: None if v is None else validation.check_oauth_text(v))
    _check_profile = field_validator("profile")(lambda cls, v: validation.check_scim_profile(v))


class DirectorySettings(_Section):
    """One Active Directory domain to sync. Its password and token are secrets, kept apart."""

    id: str
    display_name: str = ""
    server: str
    port: int | None = None
    tls: TlsMode = "ldaps"
    ca_file: str | None = None
    # The name on the DC's certificate when ``server`` is an IP or an alias:
    # DC certificates carry the DC's FQDN and never an IP address.
    tls_server_name: str | None = None
    bind_user: str
    base_dn: str
    user_filter: str | None = None
    group_filter: str | None = None
    # Send each group's users at any depth instead of its direct members
    # (users and nested groups). Identity does not expand nesting itself.
    flatten_nested_groups: bool = False
    enabled: bool = True
    # Answer Identity's login checks (pass-through authentication) for this directory.
    login_checks: bool = True
    # A user's password over plain LDAP would cross the network in the clear:
    # login checks on a `plain` directory are refused unless this says otherwise.
    allow_plain_login_checks: bool = False
    # Where this directory syncs to: a name in targets/registry.py (docs/architecture.md). Files
    # written before it existed hold none and sync to Identity, as they did.
    target: str = DEFAULT_TARGET_NAME
    # The SCIM service provider, for a directory whose target is ``scim``.
    scim: ScimSettings | None = None

    _check_id = field_validator("id")(lambda cls, v: validation.check_directory_id(v))
    _check_target = field_validator("target")(lambda cls, v: validation.check_target_name(v))
    _check_server = field_validator("server")(lambda cls, v: validation.check_server(v))
    _check_base_dn = field_validator("base_dn")(lambda cls, v: validation.check_base_dn(v))
    _check_filters = field_validator("user_filter", "group_filter")(
        lambda cls, v: validation.check_ldap_filter(v)
    )

    @field_validator("port")
    @classmethod
    def _check_port(cls, value: int | None) -> int | None:
        return None if value is None else validation.check_port(value)

    @field_validator("tls_server_name")
    @classmethod
    def _check_tls_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return validation.check_server(value)

    @field_validator("bind_user")
    @classmethod
    def _check_user(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(_("give the AD user to bind as (user@domain, DOMAIN\\user or a DN)"))
        return value.strip()

    @model_validator(mode="after")
    def _check_scim(self) -> "DirectorySettings":
        if self.target == SCIM_TARGET_NAME and self.scim is None:
            raise ValueError(_("a directory whose target is scim needs its scim section (at least base_url)"))
        return self

    @property
    def syncs_to_identity(self) -> bool:
        return self.target == DEFAULT_TARGET_NAME

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.tls]

    @property
    def label(self) -> str:
        return self.display_name or self.id


#: The settings that say where a directory's bind password is sent, and as whom.
PASSWORD_DESTINATION = ("server", "port", "tls", "ca_file", "tls_server_name", "bind_user")


def password_destination_changes(old: DirectorySettings, new: DirectorySettings) -> list[str]:
    """The fields of :data:`PASSWORD_DESTINATION` that differ between ``old`` and ``new``, in that order.

    The stored password was checked against ``old``'s server, over its TLS, as
    its user: it must be typed again before it goes anywhere else (an edit
    that points a directory at a listener of one's own would otherwise be
    handed the service password, in the clear over plain LDAP). The CA file
    counts too: it says which servers are taken for the DC.
    """
    same = {
        "server": _host_key(old.server) == _host_key(new.server),
        "port": old.effective_port == new.effective_port,
        "tls": old.tls == new.tls,
        "ca_file": (old.ca_file or None) == (new.ca_file or None),
        "tls_server_name": _host_key(old.tls_server_name) == _host_key(new.tls_server_name),
        "bind_user": old.bind_user == new.bind_user,
    }
    return [field for field in PASSWORD_DESTINATION if not same[field]]


class SyncSettings(_Section):
    delta_interval_seconds: int = Field(30, ge=5, le=86400)
    full_reconcile_interval_hours: float = Field(24, gt=0, le=24 * 31)
    # Objects per request to Identity (the API takes at most 1000) and requests in flight.
    batch_size: int = Field(500, ge=1, le=1000)
    concurrency: int = Field(4, ge=1, le=16)


class StatusSettings(_Section):
    """The engine's health and metrics endpoints (docs/monitoring.md)."""

    # HOST:PORT; empty: off. Loopback unless an admin says otherwise.
    listen: str = "127.0.0.1:9325"
    # /health's rules: warn once a directory failed this many runs in a row, fail at this many.
    warn_after_failures: int = Field(1, ge=1, le=1000)
    fail_after_failures: int = Field(3, ge=1, le=1000)
    # ...and by the age of its last successful sync, in delta intervals (its cadence).
    warn_after_intervals: float = Field(3, gt=0, le=10000)
    fail_after_intervals: float = Field(10, gt=0, le=10000)

    _check_listen = field_validator("listen")(lambda cls, v: validation.check_status_listen(v))

    @model_validator(mode="after")
    def _ordered(self) -> "StatusSettings":
        if self.fail_after_failures < self.warn_after_failures or self.fail_after_intervals < self.warn_after_intervals:
            raise ValueError(_("status: a fail_after_* figure must not be below its warn_after_* figure"))
        return self


class LogSettings(_Section):
    """How much of each event log (application.log, console.log) stays on disk.

    A log rotates when the next line would take it past ``max_file_size_mb``;
    at most ``max_files`` files of it are kept (the current one included), and
    rotated files older than ``max_age_days`` are deleted (None: no age limit).
    """

    max_file_size_mb: float = Field(10, gt=0, le=1024)
    max_files: int = Field(10, ge=1, le=1000)
    max_age_days: int | None = Field(90, ge=1, le=36500)


class LoginCheckSettings(_Section):
    """Pass-through authentication: how the agent answers Identity's login checks."""

    # Checks in flight per directory (each one a bind to the DC).
    concurrency: int = Field(16, ge=1, le=64)
    # A check that waited longer than this since Identity asked is answered
    # "expired", not checked: the user has given up, and a late bind only
    # counts toward a lockout.
    deadline_seconds: int = Field(20, ge=2, le=300)
    # How long one long poll for commands waits (Identity answers at once when a check arrives).
    poll_wait_seconds: int = Field(25, ge=1, le=30)


class DeletionThreshold(_Section):
    """A run that would disable more than this holds the disables for an admin."""

    max_count: int = Field(500, ge=0)
    max_percent: float | None = Field(None, ge=0, le=100)


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SMARTSYNC_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    identity: IdentitySettings = IdentitySettings()
    proxy: ProxySettings = ProxySettings()
    directories: list[DirectorySettings] = []
    sync: SyncSettings = SyncSettings()
    login_checks: LoginCheckSettings = LoginCheckSettings()
    deletion_threshold: DeletionThreshold = DeletionThreshold()
    logs: LogSettings = LogSettings()
    status: StatusSettings = StatusSettings()
    # Where `smartsync-tui web` serves the console (the original's default port).
    url: str = "http://127.0.0.1:5325"
    # None: from the locale.
    language: Literal["en", "pt_BR"] | None = None
    # sha256 of the file as loaded (None: no file): save_settings refuses to
    # overwrite a file that changed since.
    _loaded_digest: str | None = PrivateAttr(default=None)

    _check_url = field_validator("url")(lambda cls, v: validation.check_web_url(v))

    @model_validator(mode="after")
    def _unique_ids(self) -> "AppSettings":
        seen: set[str] = set()
        for directory in self.directories:
            if directory.id in seen:
                raise ValueError(_("two directories have the id '{id}': ids must be unique").format(id=directory.id))
            seen.add(directory.id)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment wins over them.
        return (env_settings, init_settings)

    def directory(self, directory_id: str) -> DirectorySettings | None:
        return next((d for d in self.directories if d.id == directory_id), None)

    def enabled_directory(self, directory_id: str) -> DirectorySettings:
        """The directory to sync: known and enabled, else :class:`DirectoryNotFound` or :class:`DirectoryDisabled`."""
        directory = self.directory(directory_id)
        if directory is None:
            raise DirectoryNotFound(directory_id, [d.id for d in self.directories])
        if not directory.enabled:
            raise DirectoryDisabled(directory_id)
        return directory

    def put_directory(self, directory: DirectorySettings) -> None:
        """Add the directory, or replace the one with its id in place."""
        ids = [d.id for d in self.directories]
        if directory.id in ids:
            updated = list(self.directories)
            updated[ids.index(directory.id)] = directory
            self.directories = updated
        else:
            self.directories = [*self.directories, directory]

    def directory_reading(self, server: str, base_dn: str) -> DirectorySettings | None:
        """A directory that already reads this base DN from this server."""
        def same_dn(a: str, b: str) -> bool:
            return a.replace(" ", "").lower() == b.replace(" ", "").lower()

        return next(
            (d for d in self.directories if d.server.lower() == server.lower() and same_dn(d.base_dn, base_dn)),
            None,
        )

    def new_directory_id(self, base_dn: str) -> str:
        """A short id from the base DN's DC parts (DC=corp,DC=example -> corp-example)."""
        parts = re.findall(r"(?i)\bdc=([^,]+)", base_dn)
        stem = re.sub(r"[^a-z0-9_-]+", "-", "-".join(parts).lower()).strip("-")[:50]
        return stem or "directory"


class _FileOnly(AppSettings):
    """The same model without the environment: what is saved back to disk."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or _("(top level)")


def _environment_variable(loc: tuple[Any, ...]) -> str | None:
    """The SMARTSYNC_* variable that set this field, if one is set."""
    name = "SMARTSYNC_" + "__".join(str(part).upper() for part in loc if not isinstance(part, int))
    return name if loc and name in os.environ else None


def describe_validation_error(error: ValidationError, source: str) -> str:
    return describe_errors(error.errors(), source)


#: What a strict type refusal asks for, by pydantic's error type (translated where it is used).
_WANTED = {"int_type": N_("a whole number"), "int_from_float": N_("a whole number"), "float_type": N_("a number"),
           "bool_type": N_("true or false"), "string_type": N_("text in quotes")}


def _type_message(item: Any) -> str | None:
    """A strict type refusal (the file's values are JSON: 389, true, "text") in words that say what to write."""
    value = item.get("input")
    kind = item["type"]
    if kind not in ("int_type", "float_type", "bool_type", "string_type", "int_from_float"):
        return None
    written = json.dumps(value)[:40] if isinstance(value, (str, bool, int, float)) or value is None else type(value).__name__
    wanted = _(_WANTED[kind])
    if isinstance(value, str) and kind != "string_type":
        return _("must be {wanted} (without quotes), not {written}").format(wanted=wanted, written=written)
    return _("must be {wanted}, not {written}").format(wanted=wanted, written=written)


def describe_errors(errors: list[Any], source: str) -> str:
    lines = []
    for item in errors:
        where = _location(item["loc"])
        variable = _environment_variable(item["loc"])
        if variable:
            where = _("{where} (from the environment variable {variable})").format(where=where, variable=variable)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            name = str(item["loc"][-1]) if item["loc"] else where
            if "password" in name.lower() or "token" in name.lower() or "secret" in name.lower():
                message = _(
                    "'{name}' does not belong here: passwords and tokens are kept in the secret "
                    "store, set them with `smartsync-tui directory edit ID --password-stdin` "
                    "or `--token-stdin`"
                ).format(name=name)
            elif name.startswith("_"):
                message = _("'{name}' is not a setting (names starting with '_' are never read from the file)").format(
                    name=name)
            else:
                message = _("unknown setting '{name}' (a typo?)").format(name=name)
        elif item["type"] == "missing":
            message = _("is required")
        elif _type_message(item):
            message = str(_type_message(item))
        lines.append(f"  {where}: {message}")
    return _("{source} has settings that are not allowed:\n{problems}").format(source=source, problems="\n".join(lines))


#: A settings file is a few kilobytes; one much larger is not one (and is not read into memory).
MAX_SETTINGS_BYTES = 1024 * 1024


def _read_text(path: Path) -> str | None:
    """The file's text (None: no file), refused by type and size before it is read."""
    try:
        raw = read_regular_file(path, MAX_SETTINGS_BYTES)
    except FileNotFoundError:
        return None
    except NotARegularFile as exc:
        raise SettingsError(
            _("{path} is {what}. Put the settings file (JSON) there and run again.").format(path=path, what=exc.what)
        ) from None
    except FileTooLarge as exc:
        raise SettingsError(
            _("{path} is {size} bytes; a settings file is at most {limit} bytes "  # not a count: always far above 1
              "(it holds a few kilobytes). The file was left as it is.").format(
                path=path, size=exc.size, limit=MAX_SETTINGS_BYTES)
        ) from None
    except OSError as exc:
        raise SettingsError(
            _("Cannot read {path}: {reason}. Check its permissions.").format(path=path, reason=exc.strerror)
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettingsError(_("{path} is not UTF-8 text. Save it as UTF-8 and run again.").format(path=path)) from None


def _read_file(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    if text is None or not text.strip():
        return {}
    try:
        data = strict_json.loads(text)
    except (json.JSONDecodeError, strict_json.JsonProblem) as exc:
        raise SettingsError(
            _("{path} is not valid JSON: {problem} at line {line}, column {column}. "
              "Fix that line in a text editor (the file was left as it is) and run again.").format(
                path=path, problem=strict_json.describe(exc), line=exc.lineno, column=exc.colno)
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(_("{path} must hold a JSON object ({{ ... }}) at the top level.").format(path=path))
    return data


@functools.cache
def _field_type(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(AppSettings.model_fields[name].annotation)


def _file_problems(data: dict[str, Any]) -> list[Any]:
    """What is wrong in the file's own values, found before the settings class sees them.

    The class is a pydantic-settings one: a top-level key starting with ``_``
    would reach it as an init option (``_cli_parse_args``, ``_env_prefix``...)
    instead of a setting, so every top-level key must name a field. Each
    field's value is then checked strictly, as JSON types (``"port": true`` is
    not port 1, ``"389"`` is not a number); the environment's overrides are
    text and are checked by the class as usual.
    """
    problems: list[Any] = []
    for key, value in data.items():
        if key not in AppSettings.model_fields:
            problems.append({"type": "extra_forbidden", "loc": (key,), "msg": "", "input": value})
            continue
        try:
            _field_type(key).validate_python(value, strict=True)
        except ValidationError as exc:
            problems.extend({**item, "loc": (key, *item["loc"])} for item in exc.errors())
        except UnicodeEncodeError:
            # pydantic cannot even word its refusal of a value holding half a character (a lone
            # "\\ud800" escape); a value that passes keeps it, and screens and logs show it as '?'.
            problems.append({"type": "value_error", "loc": (key,), "input": value,
                             "msg": _("holds half a character (a lone \\uD800-\\uDFFF escape): write the "
                                      "character itself, or both halves of its pair")})
    return problems


def load_settings(path: Path, *, environment: bool = True) -> AppSettings:
    """Read and validate the settings file (missing file: defaults).

    ``environment=False`` ignores ``SMARTSYNC_*`` overrides: use it to load
    settings that are going to be changed and saved, so an override from the
    environment is never written into the file.
    """
    data = _read_file(path)
    model = AppSettings if environment else _FileOnly
    source = str(path) if path.exists() else _("The settings")
    advice = _("The file was left as it is; fix it and run again.") if path.exists() else _("Fix it and run again.")
    problems = _file_problems(data)
    if problems:
        raise SettingsError("\n".join((describe_errors(problems, source), advice)))
    try:
        settings = model(**data)
    except ValidationError as exc:
        raise SettingsError("\n".join((describe_validation_error(exc, source), advice))) from None
    except UnicodeEncodeError:  # as in _file_problems: a refused value holding half a character
        raise SettingsError(_("{source} holds half a character (a lone \\uD800-\\uDFFF escape) in a value "  # not a count
                              "that is refused: write the character itself.\n{advice}").format(
            source=source, advice=advice)) from None
    settings._loaded_digest = _digest(path)
    return settings


def settings_to_json(settings: AppSettings) -> str:
    data = settings.model_dump(mode="json")
    # The default target is not written: a file stays as the releases before the setting wrote
    # it (they refuse keys they do not know), so going back to one loses nothing.
    for directory in data.get("directories", []):
        if directory.get("target") == DEFAULT_TARGET_NAME:
            del directory["target"]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def save_settings(path: Path, settings: AppSettings) -> None:
    """Write atomically, only over the file these settings were loaded from.

    A file changed since it was read (another command, a hand edit, the
    console) is not overwritten: that change would be lost silently. Neither
    is a broken file. Settings built in memory (never loaded) may create the
    file but not replace one.
    """
    # Re-validate through the file-only model: a value set by assignment is checked
    # already, but a list mutated in place is not.
    try:
        checked = _FileOnly(**settings.model_dump())
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, _("The new settings"))) from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with file_lock(path.with_name(path.name + ".lock")):
        on_disk = _digest(path)
        if on_disk is not None and on_disk != settings._loaded_digest:
            _read_file(path)  # a broken file says so, with its line
            raise SettingsError(
                _("{path} changed since it was read (by another command, the console or an editor); "
                  "nothing was saved so that change is not lost. Run the command again.").format(path=path)
            )
        atomic_write_text(path, settings_to_json(checked), mode=0o600)
    settings._loaded_digest = _digest(path)

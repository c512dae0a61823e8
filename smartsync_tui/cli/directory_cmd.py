"""`smartsync-tui directory list|add|edit|remove|test`.

``add`` and ``edit`` check the AD bind and the Identity token for real and
save nothing when either fails, saying which and why.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from pydantic import SecretStr

from smartsync_tui.cli.context import CliContext, SecretInput, print_json, validated
from smartsync_tui.core import validation
from smartsync_tui.core.directory_check import check_directory, register_directory
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.core.secret_store import directory_password_key, directory_token_key
from smartsync_tui.core.settings import AppSettings, DirectorySettings

log = logging.getLogger("smartsync.cli")

_FIELD_ARGS = {
    "server": "server",
    "port": "port",
    "tls": "tls",
    "ca_file": "ca_file",
    "tls_server_name": "tls_server_name",
    "bind_user": "user",
    "base_dn": "base_dn",
    "display_name": "name",
    "user_filter": "user_filter",
    "group_filter": "group_filter",
}


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    handler = {"list": _list, "add": _add, "edit": _edit, "remove": _remove, "test": _test}[args.action]
    return handler(ctx, args)


def _secret_input(args: argparse.Namespace) -> SecretInput:
    from_stdin = {name for name in ("password", "token") if getattr(args, f"{name}_stdin", False)}
    return SecretInput(from_stdin)


def _read_token(reader: SecretInput) -> SecretStr:
    token = reader.read("token", "directory token from Identity")
    try:
        return SecretStr(validation.check_token(token.get_secret_value()))
    except ValueError as exc:
        raise InputError("token", f"token: {exc}") from None


def _check_ca_file(value: str | None) -> str | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise InputError("ca_file", f"--ca-file: {value} does not exist (give the PEM file of the CA that issued the DC's certificate)")
    try:
        path.read_bytes()
    except OSError as exc:
        raise InputError("ca_file", f"--ca-file: cannot read {value}: {exc.strerror}") from None
    return str(path.resolve())


def _default_id(base_dn: str, settings: AppSettings) -> str:
    parts = [value for attr, value in re.findall(r"(?i)\b(dc)=([^,]+)", base_dn)]
    stem = "-".join(parts).lower() if parts else "directory"
    stem = re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-")[:50] or "directory"
    candidate, n = stem, 2
    while settings.directory(candidate) is not None:
        candidate, n = f"{stem}-{n}", n + 1
    return candidate


def _add(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.editable_settings()
    data = {field: getattr(args, arg) for field, arg in _FIELD_ARGS.items() if getattr(args, arg) is not None}
    data["tls"] = data.get("tls") or "ldaps"
    data["ca_file"] = _check_ca_file(data.get("ca_file"))
    data["id"] = args.directory_id or _default_id(args.base_dn, settings)
    directory = validated(DirectorySettings, data)
    if settings.directory(directory.id) is not None:
        raise InputError("directory_id", f"--id: a directory '{directory.id}' exists already; use `directory edit {directory.id}` or another --id")
    reader = _secret_input(args)
    password = reader.read("password", f"password of {directory.bind_user}")
    token = _read_token(reader)

    return _check_and_save(ctx, args, settings, directory, password=password, token=token, verb="added")


def _existing(settings: AppSettings, directory_id: str) -> DirectorySettings:
    directory = settings.directory(directory_id)
    if directory is None:
        known = ", ".join(d.id for d in settings.directories) or "none yet"
        raise InputError("directory_id", f"there is no directory '{directory_id}' (known: {known}); see `smartsync-tui directory list`")
    return directory


def _edit(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.editable_settings()
    current = _existing(settings, args.directory_id)
    changes = {field: getattr(args, arg) for field, arg in _FIELD_ARGS.items() if getattr(args, arg) is not None}
    if "ca_file" in changes:
        changes["ca_file"] = _check_ca_file(changes["ca_file"])
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    if not changes and not args.password_stdin and not args.token_stdin:
        raise InputError("directory", "nothing to change: give the fields to change, --password-stdin or --token-stdin")
    directory = validated(DirectorySettings, {**current.model_dump(), **changes})
    reader = _secret_input(args)
    password = reader.read("password", f"password of {directory.bind_user}") if args.password_stdin else ctx.secrets.get(directory_password_key(directory.id))
    token = _read_token(reader) if args.token_stdin else ctx.secrets.get(directory_token_key(directory.id))
    if password is None or token is None:
        missing = "password" if password is None else "token"
        raise InputError(missing, f"the stored {missing} is missing: give it with --{missing}-stdin")

    return _check_and_save(
        ctx,
        args,
        settings,
        directory,
        password=password,
        token=token,
        verb="saved",
        new_password=args.password_stdin,
        new_token=args.token_stdin,
    )


def _check_and_save(
    ctx: CliContext,
    args: argparse.Namespace,
    settings: AppSettings,
    directory: DirectorySettings,
    *,
    password: SecretStr,
    token: SecretStr,
    verb: str,
    new_password: bool = True,
    new_token: bool = True,
) -> int:
    """Check AD and the token; save only when both pass, and say what happened."""
    check = check_directory(settings, ctx.secrets, directory, password, token)
    if not check.ok:
        log.warning("directory %s not %s: %s", directory.id, verb, "; ".join(check.problems()))
        if args.json:
            print_json({verb: False, "id": directory.id, **check.as_dict()})
        else:
            print("\n".join(check.report_lines()))
            nothing = "Nothing was added" if verb == "added" else "Nothing was changed"
            print(f"{nothing}. Fix what is shown above and run the command again.")
        return 1
    register_directory(
        settings, ctx.secrets, directory, password if new_password else None, token if new_token else None
    )
    try:
        ctx.save(settings)
    except UserError:
        if verb == "added":  # don't leave secrets behind for a directory that was not saved
            ctx.secrets.delete_prefix(f"directory/{directory.id}/")
        raise
    log.info(
        "directory %s %s: %s:%s %s (%s)",
        directory.id, verb, directory.server, directory.effective_port, directory.base_dn, directory.tls,
    )
    if args.json:
        print_json({verb: True, "directory": directory.model_dump(), **check.as_dict()})
    else:
        print("\n".join(check.report_lines()))
        print(f"Directory '{directory.id}' {verb}.")
    return 0


def _remove(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.editable_settings()
    directory = _existing(settings, args.directory_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("yes", "removing a directory stops its sync for good: add --yes to confirm")
        answer = input(f"Remove '{directory.id}' ({directory.server}, {directory.base_dn})? Sync stops for good. Type yes: ")
        if answer.strip().lower() != "yes":
            print("Nothing was removed.")
            return 1
    settings.directories = [d for d in settings.directories if d.id != directory.id]
    ctx.save(settings)
    ctx.secrets.delete_prefix(f"directory/{directory.id}/")
    log.info("directory %s removed", directory.id)
    print(f"Directory '{directory.id}' removed; its password and token were deleted.")
    return 0


def _test(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()
    directory = _existing(settings, args.directory_id)
    password = ctx.secrets.get(directory_password_key(directory.id))
    token = ctx.secrets.get(directory_token_key(directory.id))
    if password is None or token is None:
        missing = "password" if password is None else "token"
        raise InputError(missing, f"the stored {missing} is missing: set it with `directory edit {directory.id} --{missing}-stdin`")
    check = check_directory(settings, ctx.secrets, directory, password, token)
    log.info("directory %s test: %s", directory.id, "ok" if check.ok else "; ".join(check.problems()))
    if args.json:
        print_json({"id": directory.id, **check.as_dict()})
    else:
        print("\n".join(check.report_lines()))
    return 0 if check.ok else 1


def _list(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()
    keys = set(ctx.secrets.keys())
    rows = [
        {
            **d.model_dump(),
            "password_set": directory_password_key(d.id) in keys,
            "token_set": directory_token_key(d.id) in keys,
        }
        for d in settings.directories
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No directories yet. Add one with `smartsync-tui directory add` (see --help).")
        return 0
    for d in settings.directories:
        state = "enabled" if d.enabled else "disabled"
        print(f"{d.id:<16} {d.server}:{d.effective_port} {d.tls:<8} {d.base_dn}  ({d.bind_user}, {state})")
    return 0

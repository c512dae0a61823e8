"""`smartsync-tui directory list|add|edit|remove|test`.

``add`` and ``edit`` check the AD bind and the Identity token for real and
save nothing when either fails, saying which and why. Checks run with the
effective settings (environment overrides applied); what is saved is the
file's own content plus the change.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import SecretStr

from smartsync_tui.cli.context import CliContext, SecretInput, flag_of, validated
from smartsync_tui.cli.exit_codes import FAILED, OK
from smartsync_tui.cli.output import CliError, ask, print_json, say
from smartsync_tui.config import validation
from smartsync_tui.checks.directory import DirectoryCheck, check_directory
from smartsync_tui.checks.directory_setup import save_checked_directory
from smartsync_tui.core.errors import InputError
from smartsync_tui.logs.event_log import audit
from smartsync_tui.config.secret_store import SecretStore, directory_password_key, directory_token_key
from smartsync_tui.config.settings import SCIM_TARGET_NAME, AppSettings, DirectorySettings, password_destination_changes
from smartsync_tui.i18n import _, ngettext

log = logging.getLogger("smartsync.cli")

# Directory fields that have a command-line option of the same meaning.
_FIELDS = (
    "server", "port", "tls", "ca_file", "tls_server_name", "bind_user", "base_dn",
    "display_name", "user_filter", "group_filter",
)


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    handler = {"list": _list, "add": _add, "edit": _edit, "remove": _remove, "test": _test}[args.action]
    return handler(ctx, args)


# SCIM options by the scim section's field they set.
_SCIM_FIELDS = {"scim_url": "base_url", "profile": "profile", "scim_ca_file": "ca_file", "scim_auth": "auth",
                "token_url": "token_url", "client_id": "client_id", "scope": "scope", "delete_gone": "delete_gone"}


def _given_fields(args: argparse.Namespace, current: DirectorySettings | None = None) -> dict[str, object]:
    given = {f: getattr(args, flag_of(f)) for f in _FIELDS if getattr(args, flag_of(f)) is not None}
    scim = {field: getattr(args, option) for option, field in _SCIM_FIELDS.items() if getattr(args, option) is not None}
    for option, into in (("ca_file", given), ("scim_ca_file", scim)):
        if getattr(args, option) is not None:
            try:
                into["ca_file"] = validation.check_ca_file(str(getattr(args, option)))
            except ValueError as exc:  # the option, then the core's sentence
                raise InputError(option, f"--{option.replace('_', '-')}: {exc}") from None
    if args.target is not None:
        given["target"] = args.target
    target = args.target or (current.target if current is not None else None)
    if scim and target != SCIM_TARGET_NAME:
        raise InputError("target", _("--scim-url, --profile, --scim-ca-file, --scim-auth, --token-url, --client-id, --scope "
                                     "and --delete-gone are for a SCIM directory: add --target scim"))
    if scim:
        if "profile" in scim:
            from smartsync_tui.targets.scim.profiles import profile

            profile(str(scim["profile"]))  # an unknown one is said now, naming the known ones
        held = current.scim.model_dump() if current is not None and current.scim is not None else {}
        given["scim"] = {**held, **scim}
    return given


def _secret_input(args: argparse.Namespace) -> SecretInput:
    return SecretInput({name for name in ("password", "token") if getattr(args, f"{name}_stdin", False)})


def _read_token(reader: SecretInput, directory: DirectorySettings) -> SecretStr:
    scim = directory.target == SCIM_TARGET_NAME
    oauth = scim and directory.scim is not None and directory.scim.auth == "oauth2"
    token = reader.read("token", _("client secret of the SCIM provider's OAuth2 client") if oauth
                        else _("bearer token of the SCIM provider") if scim else _("directory token from Identity"))
    try:
        check = validation.check_bearer_token if scim else validation.check_token
        return SecretStr(check(token.get_secret_value()))
    except ValueError as exc:
        raise InputError("token", f"token: {exc}") from None


def _stored(secrets: SecretStore, directory_id: str, what: str) -> SecretStr:
    key = directory_password_key(directory_id) if what == "password" else directory_token_key(directory_id)
    value = secrets.get(key)
    if value is None:
        if what == "password":
            message = _("the stored password of '{id}' is missing: set it with "
                        "`smartsync-tui directory edit {id} --password-stdin`")
        else:
            message = _("the stored token of '{id}' is missing: set it with "
                        "`smartsync-tui directory edit {id} --token-stdin`")
        raise InputError(what, message.format(id=directory_id))
    return value


def _existing(settings: AppSettings, directory_id: str) -> DirectorySettings:
    directory = settings.directory(directory_id)
    if directory is None:
        known = ", ".join(d.id for d in settings.directories) or _("none yet")
        raise InputError("id", _("there is no directory '{id}' (known: {known}); see `smartsync-tui directory list`").format(
            id=directory_id, known=known))
    return directory


def _add(ctx: CliContext, args: argparse.Namespace) -> int:
    editable = ctx.editable_settings()
    data = _given_fields(args)
    data["id"] = args.directory_id or editable.new_directory_id(args.base_dn)
    directory = validated(DirectorySettings, data)
    if editable.directory(directory.id) is not None:
        raise InputError(
            "id", _("a directory '{id}' exists already: change it with "
                    "`smartsync-tui directory edit {id}`, or give another --id").format(id=directory.id)
        )
    same = editable.directory_reading(directory.server, directory.base_dn)
    if same is not None:
        raise InputError(
            "base_dn", _("directory '{id}' already reads {base_dn} from {server}: "
                         "change it with `smartsync-tui directory edit {id}` instead of adding it twice").format(
                id=same.id, base_dn=same.base_dn, server=same.server)
        )
    reader = _secret_input(args)
    password = reader.read("password", _("password of {user}").format(user=directory.bind_user))
    token = _read_token(reader, directory)
    return _check_and_save(ctx, args, editable, directory, password, token, new_password=True, new_token=True)


def _edit(ctx: CliContext, args: argparse.Namespace) -> int:
    editable = ctx.editable_settings()
    current = _existing(editable, args.directory_id)
    changes = _given_fields(args, current)
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    if not changes and not args.password_stdin and not args.token_stdin:
        raise InputError("directory", _("nothing to change: give the options to change, --password-stdin or --token-stdin"))
    directory = validated(DirectorySettings, {**current.model_dump(), **changes})
    moved = password_destination_changes(current, directory)
    if moved and not args.password_stdin:
        raise InputError("password", _stored_password_stays(current, directory, moved))
    reader = _secret_input(args)
    password = (
        reader.read("password", _("password of {user}").format(user=directory.bind_user)) if args.password_stdin
        else _stored(ctx.secrets, directory.id, "password")
    )
    if directory.target != current.target and not args.token_stdin:
        raise InputError("token", _("a directory that changes its target needs that target's token: add --token-stdin"))
    if directory.scim is not None and current.scim is not None and directory.scim.auth != current.scim.auth \
            and not args.token_stdin:
        raise InputError("token", _("a directory that changes how it signs in to the SCIM provider needs the new "
                                    "secret (the bearer token or the OAuth2 client secret): add --token-stdin"))
    token = _read_token(reader, directory) if args.token_stdin else _stored(ctx.secrets, directory.id, "token")
    return _check_and_save(
        ctx, args, editable, directory, password, token,
        new_password=args.password_stdin, new_token=args.token_stdin,
    )


def _stored_password_stays(current: DirectorySettings, directory: DirectorySettings, moved: list[str]) -> str:
    """Why the stored password is not sent to the edited directory, and what to type instead."""
    options = [f"--{flag_of(field).replace('_', '-')}" for field in moved]
    if directory.tls == "plain" and current.tls != "plain":
        return _(
            "--tls plain would send the stored password of '{id}' unencrypted: it is never sent over "
            "plain LDAP to a server it was not checked with. Pass --password-stdin and type it if you mean it "
            "(it crosses the network in the clear), or keep --tls ldaps or starttls"
        ).format(id=current.id)
    flags = options[0]
    for option in options[1:]:
        flags = _("{first} and {last}").format(first=flags, last=option)
    return ngettext(
        "{flags} changes where the password of '{id}' is sent: the stored one only goes to the server, "
        "TLS and user it was checked with. Pass --password-stdin and type it again",
        "{flags} change where the password of '{id}' is sent: the stored one only goes to the server, "
        "TLS and user it was checked with. Pass --password-stdin and type it again",
        len(options),
    ).format(flags=flags, id=current.id)


def _check_and_save(
    ctx: CliContext,
    args: argparse.Namespace,
    editable: AppSettings,
    directory: DirectorySettings,
    password: SecretStr,
    token: SecretStr,
    *,
    new_password: bool,
    new_token: bool,
) -> int:
    """Check AD and the token; save only when both pass, and say what happened."""
    adding = editable.directory(directory.id) is None
    verb = "added" if adding else "saved"  # the --json key
    effective = ctx.settings()
    check = check_directory(effective, ctx.secrets, directory, password, token)
    if not check.ok:
        problems = "; ".join(check.problems())
        if adding:
            log.warning(_("directory {id} not added: {problems}").format(id=directory.id, problems=problems))
            nothing = _("Nothing was added")
        else:
            log.warning(_("directory {id} not saved: {problems}").format(id=directory.id, problems=problems))
            nothing = _("Nothing was changed")
        if args.json:
            print_json({verb: False, "id": directory.id, **check.as_dict(), **_check_failed(check, nothing)})
        else:
            say(*check.report_lines(),
                _("{outcome}. Fix what is shown above and run the command again.").format(outcome=nothing))
        return FAILED
    editable.put_directory(directory)
    # Settings and secrets change together or not at all.
    save_checked_directory(
        effective, ctx.secrets, directory,
        password=password if new_password else None,
        token=token if new_token else None,
        save=lambda: ctx.save(editable),
    )
    where = {"id": directory.id, "server": directory.server, "port": directory.effective_port,
             "base_dn": directory.base_dn, "tls": directory.tls}
    if adding:
        audit("directory.added", _("Directory {id} added: {server}:{port} {base_dn} ({tls})").format(**where),
              directory=directory.id)
    else:
        audit("directory.edited", _("Directory {id} saved: {server}:{port} {base_dn} ({tls})").format(**where),
              directory=directory.id)
    if args.json:
        print_json({verb: True, "directory": directory.model_dump(), **check.as_dict()})
    else:
        done = _("Directory '{id}' added.") if adding else _("Directory '{id}' saved.")
        say(*check.report_lines(), done.format(id=directory.id))
    return OK


def _check_failed(check: DirectoryCheck, outcome: str) -> dict[str, str]:
    """What every failed ``--json`` answer carries: the error in a sentence and its kind."""
    return {"error": _("{problems}. {outcome}.").format(problems="; ".join(check.problems()), outcome=outcome),
            "kind": "check_failed"}


def _remove(ctx: CliContext, args: argparse.Namespace) -> int:
    editable = ctx.editable_settings()
    directory = _existing(editable, args.directory_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("yes", _("removing a directory stops its sync for good: add --yes to confirm"))
        # The word to type is the translated "yes" ("sim"); "yes" itself is always taken too.
        word = _("yes")
        answer = ask(_("Remove '{id}' ({server}, {base_dn})? Sync stops for good. Type {word}: ").format(
            id=directory.id, server=directory.server, base_dn=directory.base_dn, word=word))
        if answer.strip().lower() not in {"yes", word.lower()}:
            raise CliError(_("Nothing was removed: the answer was not '{word}'.").format(word=word), kind="refused")
    editable.directories = [d for d in editable.directories if d.id != directory.id]
    ctx.save(editable)
    ctx.secrets.delete_prefix(f"directory/{directory.id}/")
    audit("directory.removed", _("Directory {id} removed; its secrets were deleted").format(id=directory.id),
          directory=directory.id)
    if args.json:
        print_json({"removed": True, "id": directory.id})
    else:
        say(_("Directory '{id}' removed; its password and token were deleted.").format(id=directory.id))
    return OK


def _test(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()
    directory = _existing(settings, args.directory_id)
    password = _stored(ctx.secrets, directory.id, "password")
    token = _stored(ctx.secrets, directory.id, "token")
    check = check_directory(settings, ctx.secrets, directory, password, token)
    if check.ok:
        log.info(_("directory {id} test: ok").format(id=directory.id))
    else:
        log.info(_("directory {id} test: {problems}").format(id=directory.id, problems="; ".join(check.problems())))
    if args.json:
        print_json({"id": directory.id, **check.as_dict(),
                    **({} if check.ok else _check_failed(check, _("The check failed")))})
    else:
        say(*check.report_lines())
    return OK if check.ok else FAILED


def _list(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()
    keys = set(ctx.secrets.keys())
    if args.json:
        print_json([
            {
                **d.model_dump(),
                "password_set": directory_password_key(d.id) in keys,
                "token_set": directory_token_key(d.id) in keys,
            }
            for d in settings.directories
        ])
        return OK
    if not settings.directories:
        say(_("No directories yet. Add one with `smartsync-tui directory add` (see --help)."))
        return OK
    for d in settings.directories:
        who = (_("{user}, enabled") if d.enabled else _("{user}, disabled")).format(user=d.bind_user)
        where = _("Identity") if d.syncs_to_identity else f"SCIM {d.scim.base_url}" if d.scim else d.target
        say(f"{d.id:<16} {d.label}: {d.server}:{d.effective_port} {d.tls:<8} {d.base_dn}  ({who}) -> {where}")
    return OK

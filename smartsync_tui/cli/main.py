"""`smartsync-tui`: the console, and the scripting commands beside it.

Every handler returns an exit code from :mod:`smartsync_tui.cli.exit_codes`
(0 done, 1 refused or a check failed, 2 could not run) or raises a
:class:`~smartsync_tui.core.errors.UserError`, which :func:`main` reports in
one shape (:func:`smartsync_tui.cli.output.report_error`): as it is, or as
JSON with ``--json``. Anything else is logged (redacted) with its traceback
and reported in one line.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from smartsync_tui import __version__
from smartsync_tui.cli.argparse_text import translated_argparse
from smartsync_tui.cli.output import CliError, report_error, tolerant_streams
from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import N_, _, current_language, set_language

log = logging.getLogger("smartsync.cli")
# Until the log file is set up, nothing is printed: never Python's fallback
# handler, which would put a traceback on screen.
logging.getLogger("smartsync").addHandler(logging.NullHandler())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is raised (and reported by :func:`main`, as JSON with ``--json``)
    instead of printed and exited by argparse itself."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise CliError(_("{message} (see `{command} --help`)").format(message=message, command=self.prog), kind="usage")


class _RefuseSecretOnCommandLine(argparse.Action):
    """``--password X`` / ``--token X``: refused without repeating X (argv is visible in ps)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        parser.error(
            _("{option} is not accepted: secrets are never taken on the command line, where other "
              "users can see them (ps). Use {option}-stdin and write it to standard input, or leave "
              "it out to be asked for it.").format(option=option_string)
        )


def _refuse_secret_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        parser.add_argument(f"--{name}", action=_RefuseSecretOnCommandLine, help=argparse.SUPPRESS)


# Help texts are %-formatted by argparse: a literal percent sign would be written %%.
_JSON_HELP = N_("print the result as JSON (never a secret); errors too, as {\"error\": ..., \"kind\": ...}")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=_(_JSON_HELP))


def _add_directory_fields(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--server", required=required, help=_("AD server: IP or host name only (no LDAP://, no port)"))
    parser.add_argument("--port", type=int, help=_("LDAP port (default 636 for ldaps, 389 otherwise)"))
    parser.add_argument("--tls", choices=["ldaps", "starttls", "plain"], help=_("how to protect the connection (default ldaps)"))
    parser.add_argument("--ca-file", help=_("PEM file of the CA that issued the DC's certificate"))
    parser.add_argument(
        "--tls-server-name",
        help=_("name on the DC's certificate, when --server is an IP or an alias (e.g. dc1.example.com)"),
    )
    parser.add_argument("--user", required=required, help=_("AD user to bind as (user@domain, DOMAIN\\user or a DN)"))
    parser.add_argument("--base-dn", required=required, help=_("where users and groups are read, e.g. DC=example,DC=com"))
    parser.add_argument("--name", help=_("display name"))
    parser.add_argument("--user-filter", help=_("LDAP filter for users (overrides the one from Identity)"))
    parser.add_argument("--group-filter", help=_("LDAP filter for groups (overrides the one from Identity)"))
    parser.add_argument("--target", choices=["identity", "scim"],
                        help=_("where the directory syncs to: TOTVS Identity (default) or a SCIM 2.0 provider"))
    parser.add_argument("--scim-url", help=_("the SCIM provider's base URL (https), e.g. https://scim.example.com/scim/v2"))
    # Named here, not read from targets.scim.profiles: every command builds this parser, and the console
    # starts faster without that import (tests/test_scim_units.py checks the two lists agree).
    parser.add_argument("--profile", help=_("the SCIM provider's profile: generic, aws-identity-center, entra-id, "
                                            "zitadel, slack, github-emu, atlassian or google-cloud-identity "
                                            "(see docs/scim.md)"))
    parser.add_argument("--scim-ca-file", help=_("PEM file of the CA that issued the SCIM provider's certificate"))
    parser.add_argument("--scim-auth", choices=["bearer", "oauth2"],
                        help=_("how the agent signs in to the SCIM provider: a bearer token (default) or OAuth2 client "
                               "credentials (then --token-stdin reads the client secret)"))
    parser.add_argument("--token-url", help=_("the OAuth2 token URL (https) of the SCIM provider's client"))
    parser.add_argument("--client-id", help=_("the OAuth2 client id"))
    parser.add_argument("--scope", help=_("the OAuth2 scope to ask for, if the provider wants one"))
    parser.add_argument("--delete-gone", action=argparse.BooleanOptionalAction, default=None,
                        help=_("SCIM: delete users and groups gone from AD instead of deactivating them "
                               "(--no-delete-gone: deactivate, the default)"))
    parser.add_argument("--password-stdin", action="store_true", help=_("read the AD password from standard input"))
    parser.add_argument(
        "--token-stdin",
        action="store_true",
        help=_("read the directory token (Identity's, or the SCIM provider's bearer token) from standard input "
               "(after the password when both are given)"),
    )
    _refuse_secret_flags(parser, "password", "token")


def _examples(*lines: str | tuple[str, str]) -> str:
    """The epilog: each example a command line, or (command line, what it does); only the latter is translated."""
    shown = [line if isinstance(line, str) else f"{line[0]} # {line[1]}" for line in lines]
    return "\n".join([_("examples:"), *(f"  {line}" for line in shown)])


class _Subcommands:
    """add_parser with the shared options, examples kept as written, and without abbreviations."""

    def __init__(self, action: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        self._action = action
        self._common = common

    def add_parser(self, name: str, *, examples: Sequence[str | tuple[str, str]], **kwargs: object) -> argparse.ArgumentParser:
        return self._action.add_parser(  # type: ignore[no-any-return]
            name, parents=[self._common], allow_abbrev=False, epilog=_examples(*examples),
            formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs,  # type: ignore[arg-type]
        )


def _subcommands(parser: argparse.ArgumentParser, common: argparse.ArgumentParser, dest: str, metavar: str,
                 what: str) -> _Subcommands:
    return _Subcommands(
        parser.add_subparsers(dest=dest, metavar=metavar, required=dest == "action", help=what), common,
    )


def build_parser() -> argparse.ArgumentParser:
    home_help = _("keep settings, secrets, state and logs under this folder (or set SMARTSYNC_HOME)")
    # --home is taken before or after the command; abbreviations are off so that
    # a mistyped option is never read as another one (--password as --password-stdin).
    common = _Parser(add_help=False, allow_abbrev=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=home_help)
    parser = _Parser(
        prog="smartsync-tui",
        description=_("Keeps TOTVS Identity in sync with Active Directory. Without a command, opens the console."),
        allow_abbrev=False,
        epilog=_examples(("smartsync-tui                     ", _("the console")),
                         ("smartsync-tui directory add --help", _("how to add an AD domain from a script"))),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--home", help=home_help)
    parser.add_argument("--version", action="version", version=f"smartsync-tui {__version__}",
                        help=_("print the version and exit"))
    commands = _subcommands(parser, common, "command", _("COMMAND"), _("the command (default: console)"))

    commands.add_parser("console", help=_("open the console (the default)"),
                        examples=["smartsync-tui console", "smartsync-tui --home /srv/smartsync console"])
    commands.add_parser("demo", help=_("the console on a throw-away emulator and demo AD, removed on exit"),
                        examples=["smartsync-tui demo", ("SMARTSYNC_DEMO_NO_SAMBA=1 smartsync-tui demo  ", _("no Samba"))])

    emulator = commands.add_parser(
        "emulator", help=_("run a local Identity emulator (demos, tests, benchmarks)"),
        examples=["smartsync-tui emulator --port 8765 --data ./emulator-data"],
    )
    emulator.add_argument("--host", default="127.0.0.1",
                          help=_("address to listen on (default 127.0.0.1; any other needs --allow-public)"))
    emulator.add_argument("--port", type=int, default=8765, help=_("port to listen on (default 8765; 0 picks a free port)"))
    emulator.add_argument("--data", help=_("folder for its database (default: a temporary one, removed on exit)"))
    emulator.add_argument("--allow-public", action="store_true",
                          help=_("allow a non-loopback --host (its admin side has no authentication)"))

    identity = commands.add_parser(
        "identity", help=_("the Identity environment this agent talks to"),
        examples=["smartsync-tui identity show", "smartsync-tui identity test --json"],
    )
    identity_cmds = _subcommands(identity, common, "action", _("ACTION"), _("what to do with the Identity environment"))
    p = identity_cmds.add_parser("show", help=_("show protocol and environment"), examples=["smartsync-tui identity show --json"])
    _add_json(p)
    p = identity_cmds.add_parser(
        "set", help=_("change protocol and/or environment"),
        examples=["smartsync-tui identity set --environment app.fluigidentity.com",
                  "smartsync-tui identity set --protocol https --ca-file /etc/ssl/proxy-ca.pem"],
    )
    p.add_argument("--protocol", choices=["https", "http"],
                   help=_("https (the default) or http (only to 127.0.0.1 or localhost, unless --insecure-http)"))
    p.add_argument("--environment", help=_("host, e.g. app.fluigidentity.com (no https://)"))
    p.add_argument("--ca-file", help=_("CA that signs Identity's certificate, only behind a TLS-inspecting proxy ('' to clear)"))
    p.add_argument("--insecure-http", action="store_true",
                   help=_("allow http to a host that is not this machine (the token and agent key travel in clear)"))
    _add_json(p)
    p = identity_cmds.add_parser("test", help=_("check that the environment answers"),
                                 examples=["smartsync-tui identity test", "smartsync-tui identity test --json"])
    _add_json(p)

    proxy = commands.add_parser("proxy", help=_("how the agent reaches Identity"),
                                examples=["smartsync-tui proxy show", "smartsync-tui proxy set none"])
    proxy_cmds = _subcommands(proxy, common, "action", _("ACTION"), _("what to do with the proxy settings"))
    p = proxy_cmds.add_parser("show", help=_("show the proxy settings"), examples=["smartsync-tui proxy show --json"])
    _add_json(p)
    p = proxy_cmds.add_parser(
        "set", help=_("choose system, manual or none"),
        examples=["smartsync-tui proxy set system",
                  "printf '%s\\n' \"$PROXY_PASSWORD\" | smartsync-tui proxy set manual --host proxy.corp.example "
                  "--port 3128 --user svc-proxy --password-stdin"],
    )
    p.add_argument("mode", choices=["system", "manual", "none"],
                   help=_("system: HTTPS_PROXY/NO_PROXY from the environment; manual: --host and --port; none: direct"))
    p.add_argument("--host", help=_("proxy host name or IP (manual only)"))
    p.add_argument("--port", type=int, help=_("proxy port (manual only)"))
    p.add_argument("--user", help=_("user for a proxy that asks for one (manual only; the password is asked for)"))
    p.add_argument("--password-stdin", action="store_true", help=_("read the proxy password from standard input"))
    _refuse_secret_flags(p, "password")
    _add_json(p)
    p = proxy_cmds.add_parser("test", help=_("reach Identity through the proxy"), examples=["smartsync-tui proxy test"])
    _add_json(p)

    p = commands.add_parser(
        "sync", help=_("one sync pass of every enabled directory (or --directory D)"),
        examples=["smartsync-tui sync --directory corp --dry-run", "smartsync-tui sync --full --json > run.json"],
    )
    p.add_argument("--directory", metavar="ID", help=_("only this directory"))
    p.add_argument("--full", action="store_true", help=_("read everything, not only the changes since the last run"))
    p.add_argument("--dry-run", action="store_true", help=_("print the plan and change nothing"))
    p.add_argument("--allow-deletes", action="store_true", help=_("apply disables held back by the deletion threshold"))
    _add_json(p)

    directory = commands.add_parser(
        "directory", help=_("the Active Directory domains to sync"),
        examples=["smartsync-tui directory list", "smartsync-tui directory add --help"],
    )
    directory_cmds = _subcommands(directory, common, "action", _("ACTION"), _("what to do with the directories"))
    p = directory_cmds.add_parser("list", help=_("list directories"), examples=["smartsync-tui directory list --json"])
    _add_json(p)
    p = directory_cmds.add_parser(
        "add", help=_("add a directory (checks the AD bind and the token first)"),
        examples=["printf '%s\\n%s\\n' \"$AD_PASSWORD\" \"$IDENTITY_TOKEN\" | smartsync-tui directory add \\",
                  "    --server dc1.corp.example --ca-file /etc/ssl/corp-ca.pem --user svc-smartsync@corp.example \\",
                  "    --base-dn DC=corp,DC=example --password-stdin --token-stdin"],
    )
    p.add_argument("--id", dest="directory_id", help=_("short id (default: from the base DN)"))
    _add_directory_fields(p, required=True)
    _add_json(p)
    p = directory_cmds.add_parser(
        "edit", help=_("change a directory (checks again before saving)"),
        examples=["smartsync-tui directory edit corp --server dc2.corp.example",
                  "printf '%s\\n' \"$IDENTITY_TOKEN\" | smartsync-tui directory edit corp --token-stdin"],
    )
    p.add_argument("directory_id", metavar="ID", help=_("the directory to change (see `directory list`)"))
    _add_directory_fields(p, required=False)
    p.add_argument("--enable", dest="enabled", action="store_const", const=True, help=_("sync it again"))
    p.add_argument("--disable", dest="enabled", action="store_const", const=False,
                   help=_("stop syncing it (settings and secrets are kept)"))
    _add_json(p)
    p = directory_cmds.add_parser("remove", help=_("remove a directory and its secrets (sync stops for good)"),
                                  examples=["smartsync-tui directory remove corp --yes"])
    p.add_argument("directory_id", metavar="ID", help=_("the directory to remove (see `directory list`)"))
    p.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    _add_json(p)
    p = directory_cmds.add_parser("test", help=_("check the AD connection, rights and the token"),
                                  examples=["smartsync-tui directory test corp", "smartsync-tui directory test corp --json"])
    p.add_argument("directory_id", metavar="ID", help=_("the directory to check (see `directory list`)"))
    _add_json(p)

    # -- event logs (smartsync_tui/cli/logs_cmd.py)
    logs = commands.add_parser("logs", help=_("the application and console event logs"),
                               examples=["smartsync-tui logs export --log application --since -2h -o app.txt"])
    logs_cmds = _subcommands(logs, common, "action", _("ACTION"), _("what to do with the event logs"))
    p = logs_cmds.add_parser(
        "export", help=_("copy a period of a log to a .txt file (a quiet period gives a file with only a header)"),
        examples=["smartsync-tui logs export --log application --since -2h -o app.txt",
                  "smartsync-tui logs export --log console --since 2026-11-27 --until 2026-11-28 -o console.txt --force"],
    )
    p.add_argument("--log", choices=["application", "console"], required=True,
                   help=_("application: what the engine did; console: what admins did"))
    when = _("2026-11-27, '2026-11-27 14:30', ISO with zone, now, or ago: -30m, -2h, -7d; "
             "with the language pt_BR also 27/11/2026 and '27/11/2026 14:30'")
    p.add_argument("--since", metavar="T",
                   help=_("from this time (default: the start of the log); {forms}").format(forms=when))
    p.add_argument("--until", metavar="T", help=_("up to this time, a date meaning its whole day (default: now); same forms"))
    p.add_argument("-o", "--output", metavar=_("FILE"), required=True, help=_("the .txt file to write"))
    p.add_argument("--force", action="store_true", help=_("replace FILE if it exists"))
    _add_json(p)

    # -- the console in a browser (smartsync_tui/cli/web_cmd.py)
    p = commands.add_parser(
        "web", help=_("serve the console in a browser (textual-serve), on loopback by default"),
        examples=[("smartsync-tui web               ", _("prints http://127.0.0.1:5325/?token=... (open that)")),
                  "smartsync-tui web --port 8080 --max-sessions 2",
                  ("printf '%s\\n' \"$WEB_TOKEN\" | smartsync-tui web --token-stdin  ", _("a login token that stays"))],
    )
    p.add_argument("--host", help=_("address to listen on (default: from appsettings.json's url, 127.0.0.1)"))
    p.add_argument("--port", type=int, help=_("port (default: from appsettings.json's url, 5325; 0 picks a free one)"))
    p.add_argument("--public", action="store_true",
                   help=_("allow a non-loopback --host (the login stays on; the server speaks plain http: "
                          "put TLS in a reverse proxy)"))
    p.add_argument("--max-sessions", type=int, metavar="N",
                   help=_("consoles open at once, one per browser tab, about 60 MB each (default 4)"))
    p.add_argument("--sessions-per-minute", type=int, metavar="N",
                   help=_("new consoles allowed per minute (default 10)"))
    p.add_argument("--token-stdin", action="store_true",
                   help=_("read a login token from standard input and keep it in the secret store "
                          "(default: a new random token at each start)"))
    _refuse_secret_flags(p, "token")

    # -- the engine's status (smartsync_tui/cli/status_cmd.py)
    p = commands.add_parser(
        "status", help=_("what the engine is doing; exit 0 all well, 1 warn, 2 fail or no engine"),
        examples=["smartsync-tui status", ("smartsync-tui status --json  ", _("the /health document and each directory"))],
    )
    _add_json(p)

    # -- headless engine (smartsync_tui/cli/run_cmd.py)
    p = commands.add_parser(
        "run", help=_("the engine, headless: syncs every enabled directory on schedule until stopped"),
        examples=[("smartsync-tui run               ", _("until SIGTERM or Ctrl-C")), ("smartsync-tui run --once  ", _("cron"))],
    )
    p.add_argument("--once", action="store_true", help=_("run each enabled directory once and exit (cron, tests)"))
    return parser


def _value_options(parser: argparse.ArgumentParser) -> tuple[set[str], set[str]]:
    """(options that take one value, every option string) of the parser and all its subparsers."""
    takes_value: set[str] = set()
    every: set[str] = set()
    for action in parser._actions:
        every.update(action.option_strings)
        if action.option_strings and action.nargs is None:
            takes_value.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub_values, sub_every = _value_options(sub)
                takes_value |= sub_values
                every |= sub_every
    return takes_value, every


def join_dash_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``--since -2h`` as ``--since=-2h``: argparse reads a value starting with '-' as an option.

    Done for every option that takes a value (times ago, a file or a name that
    starts with '-'), unless the next word is itself one of our options: then the
    value was left out, and argparse says so.
    """
    takes_value, every = _value_options(parser)
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            out.extend(words[i:])
            break
        following = words[i + 1] if i + 1 < len(words) else None
        if (word in takes_value and following is not None and following.startswith("-")
                and following.split("=", 1)[0] not in every and following != "--"):
            out.append(f"{word}={following}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


#: The development tools the CLI starts, by name: the demo and the Identity emulator are shipped
#: for the README's demo command, but nothing in the product links them (the import-linter
#: contracts in pyproject.toml), so they are loaded only when asked for.
_DEV_TOOLS = {
    "emulator": "smartsync_tui.emulator.server:serve_forever_cli",
    "demo": "smartsync_tui.demo.command:run",
}


def _dev_tool(command: str) -> Callable[..., int]:
    from smartsync_tui.core.by_name import load

    return load(_DEV_TOOLS[command])  # type: ignore[no-any-return]


def _run(args: argparse.Namespace) -> int:
    if args.command == "emulator":
        return _dev_tool("emulator")(args.host, args.port, args.data, allow_public=args.allow_public)

    if args.command == "demo":
        return _dev_tool("demo")()

    from smartsync_tui.cli.context import CliContext

    ctx = CliContext.open(args.home)
    if args.command == "web":
        from smartsync_tui.cli import web_cmd

        return web_cmd.run(ctx, args)

    if args.command in (None, "console"):
        # No collection until the first screen is drawn (the console turns it back on then,
        # ui/app.py): the imports and the first screen's widgets make ~200,000 objects, almost none of
        # them garbage, and collecting them while they were made cost ~35 ms of the first screen.
        gc.disable()
        try:
            from smartsync_tui.ui.app import run_console

            return run_console(ctx.home)
        finally:
            gc.enable()  # a console that never drew (a broken settings file) leaves it as it was
    if args.command == "identity":
        from smartsync_tui.cli import identity_cmd

        return identity_cmd.run(ctx, args)
    if args.command == "proxy":
        from smartsync_tui.cli import proxy_cmd

        return proxy_cmd.run(ctx, args)
    if args.command == "sync":
        from smartsync_tui.cli import sync_cmd

        return sync_cmd.run(ctx, args)
    if args.command == "directory":
        from smartsync_tui.cli import directory_cmd

        return directory_cmd.run(ctx, args)
    if args.command == "logs":
        from smartsync_tui.cli import logs_cmd

        return logs_cmd.run(ctx, args)
    if args.command == "status":
        from smartsync_tui.cli import status_cmd

        return status_cmd.run(ctx, args)
    # -- headless engine
    if args.command == "run":
        from smartsync_tui.cli import run_cmd

        return run_cmd.run(ctx, args)
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    # Every file and folder this process creates is its user's alone (secrets, state, logs,
    # exports; the home's own checks are core/file_protection.py); restored on return, for a
    # caller that runs main() in its own process (the tests). The language too, and argparse's
    # own words (cli/argparse_text.py): a later caller finds them as they were.
    previous_umask = os.umask(0o077)
    previous_language = current_language()
    try:
        with translated_argparse():
            return _main(argv)
    finally:
        os.umask(previous_umask)
        set_language(previous_language)


def _home_word(words: Sequence[str]) -> str | None:
    """The folder of ``--home X`` or ``--home=X`` among the words (the last one given), before parsing."""
    home = None
    for i, word in enumerate(words):
        if word == "--":
            break
        if word == "--home" and i + 1 < len(words):
            home = words[i + 1]
        elif word.startswith("--home="):
            home = word.removeprefix("--home=")
    return home


def choose_language(words: Sequence[str]) -> str:
    """The CLI's language, chosen before the parser is built (its help texts are translated):
    English with ``--json`` (a script reads the keys and the values), else the home's
    ``language`` setting, else the locale."""
    if "--json" in words:
        return "en"
    from smartsync_tui.cli.context import home_language
    from smartsync_tui.config.paths import resolve_home

    try:
        home = resolve_home(_home_word(words))
    except Exception:  # a --home the command will refuse itself, with its own message
        return home_language(None)
    return home_language(home)


def _main(argv: Sequence[str] | None) -> int:
    tolerant_streams()
    words = list(sys.argv[1:] if argv is None else argv)
    # Before parsing, the only sign of --json is the word itself (a usage error is JSON too).
    json_output = "--json" in words
    set_language(choose_language(words))
    try:
        parser = build_parser()
        args = parser.parse_args(join_dash_values(parser, words))
        json_output = bool(getattr(args, "json", False))
        return _run(args)
    except UserError as exc:
        return report_error(str(exc), exc.kind, json_output=json_output)
    except KeyboardInterrupt:
        return report_error(_("interrupted"), "interrupted", json_output=json_output)
    except Exception as exc:  # the last line of defence: no traceback on screen
        log.exception("unexpected error")
        where = next((h.baseFilename for h in logging.getLogger("smartsync").handlers if hasattr(h, "baseFilename")), None)
        # The type's name only: an exception's text may hold a value from outside, or a secret.
        if where:
            message = _("unexpected {error}; the details are in {file}. Please report it.").format(
                error=type(exc).__name__, file=where)
        else:
            message = _("unexpected {error}; no log could be written. Please report it.").format(
                error=type(exc).__name__)
        return report_error(message, "internal", json_output=json_output)


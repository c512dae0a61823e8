"""`smartsync-tui`: the console, and the scripting commands beside it.

Every handler returns an exit code: 0 done, 1 refused or a check failed
(the message says why), 2 could not run (bad usage, broken settings).
Errors meant for admins (UserError) are printed as they are; anything else is
logged (redacted) with its traceback and reported in one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from smartsync_tui import __version__
from smartsync_tui.core.errors import UserError

log = logging.getLogger("smartsync.cli")
# Until the log file is set up, nothing is printed: never Python's fallback
# handler, which would put a traceback on screen.
logging.getLogger("smartsync").addHandler(logging.NullHandler())

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _RefuseSecretOnCommandLine(argparse.Action):
    """``--password X`` / ``--token X``: refused without repeating X (argv is visible in ps)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        parser.error(
            f"{option_string} is not accepted: secrets are never taken on the command line, where other "
            f"users can see them (ps). Use {option_string}-stdin and write it to standard input, or leave "
            "it out to be asked for it."
        )


def _refuse_secret_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        parser.add_argument(f"--{name}", action=_RefuseSecretOnCommandLine, help=argparse.SUPPRESS)


def _add_directory_fields(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--server", required=required, help="AD server: IP or host name only (no LDAP://, no port)")
    parser.add_argument("--port", type=int, help="LDAP port (default 636 for ldaps, 389 otherwise)")
    parser.add_argument("--tls", choices=["ldaps", "starttls", "plain"], help="how to protect the connection (default ldaps)")
    parser.add_argument("--ca-file", help="PEM file of the CA that issued the DC's certificate")
    parser.add_argument(
        "--tls-server-name",
        help="name on the DC's certificate, when --server is an IP or an alias (e.g. dc1.example.com)",
    )
    parser.add_argument("--user", required=required, help="AD user to bind as (user@domain, DOMAIN\\user or a DN)")
    parser.add_argument("--base-dn", required=required, help="where users and groups are read, e.g. DC=example,DC=com")
    parser.add_argument("--name", help="display name")
    parser.add_argument("--user-filter", help="LDAP filter for users (overrides the one from Identity)")
    parser.add_argument("--group-filter", help="LDAP filter for groups (overrides the one from Identity)")
    parser.add_argument("--password-stdin", action="store_true", help="read the AD password from standard input")
    parser.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the directory token from standard input (after the password when both are given)",
    )
    _refuse_secret_flags(parser, "password", "token")


class _Subcommands:
    """add_parser with the shared options and without abbreviations."""

    def __init__(self, action: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        self._action = action
        self._common = common

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        return self._action.add_parser(name, parents=[self._common], allow_abbrev=False, **kwargs)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    home_help = "keep settings, secrets, state and logs under this folder (or set SMARTSYNC_HOME)"
    # --home is taken before or after the command; abbreviations are off so that
    # a mistyped option is never read as another one (--password as --password-stdin).
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=home_help)
    parser = argparse.ArgumentParser(
        prog="smartsync-tui",
        description="Keeps TOTVS Identity in sync with Active Directory. Without a command, opens the console.",
        allow_abbrev=False,
    )
    parser.add_argument("--home", help=home_help)
    parser.add_argument("--version", action="version", version=f"smartsync-tui {__version__}")
    commands = _Subcommands(parser.add_subparsers(dest="command", metavar="COMMAND"), common)

    commands.add_parser("console", help="open the console (the default)")
    commands.add_parser("demo", help="the console on a throw-away emulator and demo AD, removed on exit")

    emulator = commands.add_parser("emulator", help="run a local Identity emulator (demos, tests, benchmarks)")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    emulator.add_argument("--data", help="folder for its database (default: a temporary one, removed on exit)")
    emulator.add_argument("--allow-public", action="store_true", help="allow a non-loopback --host")

    identity = commands.add_parser("identity", help="the Identity environment this agent talks to")
    identity_cmds = _Subcommands(identity.add_subparsers(dest="action", metavar="ACTION", required=True), common)
    p = identity_cmds.add_parser("show", help="show protocol and environment")
    p.add_argument("--json", action="store_true")
    p = identity_cmds.add_parser("set", help="change protocol and/or environment")
    p.add_argument("--protocol", choices=["https", "http"])
    p.add_argument("--environment", help="host, e.g. app.fluigidentity.com (no https://)")
    p.add_argument("--ca-file", help="CA that signs Identity's certificate, only behind a TLS-inspecting proxy ('' to clear)")
    p = identity_cmds.add_parser("test", help="check that the environment answers")
    p.add_argument("--json", action="store_true")

    proxy = commands.add_parser("proxy", help="how the agent reaches Identity")
    proxy_cmds = _Subcommands(proxy.add_subparsers(dest="action", metavar="ACTION", required=True), common)
    p = proxy_cmds.add_parser("show", help="show the proxy settings")
    p.add_argument("--json", action="store_true")
    p = proxy_cmds.add_parser("set", help="choose system, manual or none")
    p.add_argument("mode", choices=["system", "manual", "none"])
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--user")
    p.add_argument("--password-stdin", action="store_true", help="read the proxy password from standard input")
    _refuse_secret_flags(p, "password")
    p = proxy_cmds.add_parser("test", help="reach Identity through the proxy")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("sync", help="one sync pass of every enabled directory (or --directory D)")
    p.add_argument("--directory", metavar="ID", help="only this directory")
    p.add_argument("--full", action="store_true", help="read everything, not only the changes since the last run")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument("--allow-deletes", action="store_true", help="apply disables held back by the deletion threshold")
    p.add_argument("--json", action="store_true")

    directory = commands.add_parser("directory", help="the Active Directory domains to sync")
    directory_cmds = _Subcommands(directory.add_subparsers(dest="action", metavar="ACTION", required=True), common)
    p = directory_cmds.add_parser("list", help="list directories")
    p.add_argument("--json", action="store_true")
    p = directory_cmds.add_parser("add", help="add a directory (checks the AD bind and the token first)")
    p.add_argument("--id", dest="directory_id", help="short id (default: from the base DN)")
    _add_directory_fields(p, required=True)
    p.add_argument("--json", action="store_true")
    p = directory_cmds.add_parser("edit", help="change a directory (checks again before saving)")
    p.add_argument("directory_id", metavar="ID")
    _add_directory_fields(p, required=False)
    p.add_argument("--enable", dest="enabled", action="store_const", const=True)
    p.add_argument("--disable", dest="enabled", action="store_const", const=False)
    p.add_argument("--json", action="store_true")
    p = directory_cmds.add_parser("remove", help="remove a directory and its secrets (sync stops for good)")
    p.add_argument("directory_id", metavar="ID")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = directory_cmds.add_parser("test", help="check the AD connection, rights and the token")
    p.add_argument("directory_id", metavar="ID")
    p.add_argument("--json", action="store_true")

    # -- event logs (smartsync_tui/cli/logs_cmd.py)
    logs = commands.add_parser("logs", help="the application and console event logs")
    logs_cmds = _Subcommands(logs.add_subparsers(dest="action", metavar="ACTION", required=True), common)
    p = logs_cmds.add_parser("export", help="copy a period of a log to a .txt file")
    p.add_argument("--log", choices=["application", "console"], required=True,
                   help="application: what the engine did; console: what admins did")
    when = "2026-11-27, '2026-11-27 14:30', ISO with zone, now, or ago: -2h, -7d"
    p.add_argument("--since", metavar="T", help=f"from this time (default: the start of the log); {when}")
    p.add_argument("--until", metavar="T", help="up to this time, a date meaning its whole day (default: now)")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the .txt file to write")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--json", action="store_true")

    # -- the console in a browser (smartsync_tui/cli/web_cmd.py)
    p = commands.add_parser("web", help="serve the console in a browser (textual-serve), on loopback by default")
    p.add_argument("--host", help="address to listen on (default: from appsettings.json's url, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: from appsettings.json's url, 5325; 0 picks a free one)")
    p.add_argument("--public", action="store_true",
                   help="allow a non-loopback --host: the page has no login, put it behind an authenticating proxy")

    # -- headless engine (smartsync_tui/cli/run_cmd.py)
    p = commands.add_parser("run", help="the engine, headless: syncs every enabled directory on schedule until stopped")
    p.add_argument("--once", action="store_true", help="run each enabled directory once and exit (cron, tests)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "emulator":
        from smartsync_tui.emulator.server import serve_forever_cli

        return serve_forever_cli(args.host, args.port, args.data, allow_public=args.allow_public)

    if args.command == "demo":
        from smartsync_tui.cli import demo_cmd

        return demo_cmd.run()

    from smartsync_tui.cli.context import CliContext

    ctx = CliContext.open(args.home)
    if args.command == "web":
        from smartsync_tui.cli import web_cmd

        return web_cmd.run(ctx, args)

    if args.command in (None, "console"):
        from smartsync_tui.ui.app import run_console

        return run_console(ctx.home)
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
    # -- headless engine
    if args.command == "run":
        from smartsync_tui.cli import run_cmd

        return run_cmd.run(ctx, args)
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.kind in ("settings", "input", "secrets") else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no traceback on screen
        log.exception("unexpected error")
        where = next((h.baseFilename for h in logging.getLogger("smartsync").handlers if hasattr(h, "baseFilename")), None)
        details = f"the details are in {where}" if where else "no log could be written"
        print(f"error: unexpected {type(exc).__name__}; {details}. Please report it.", file=sys.stderr)
        return EXIT_USAGE

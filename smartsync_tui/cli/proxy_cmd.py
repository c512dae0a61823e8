"""`smartsync-tui proxy show|set|test`."""

from __future__ import annotations

import argparse

from smartsync_tui.cli import identity_cmd
from smartsync_tui.cli.context import CliContext, SecretInput, validated
from smartsync_tui.cli.exit_codes import OK
from smartsync_tui.cli.output import print_json, say
from smartsync_tui.checks.connection import save_proxy
from smartsync_tui.logs.event_log import audit
from smartsync_tui.config.secret_store import PROXY_PASSWORD_KEY
from smartsync_tui.config.settings import ProxySettings
from smartsync_tui.i18n import _


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.action == "show":
        proxy = ctx.settings().proxy
        has_password = ctx.secrets.get(PROXY_PASSWORD_KEY) is not None
        if args.json:
            print_json({**proxy.model_dump(), "password_set": has_password})
        elif proxy.mode == "manual":
            where = {"host": proxy.host, "port": proxy.port, "user": proxy.user}
            if not proxy.user:
                say(_("Proxy: manual, {host}:{port}").format(**where))
            elif has_password:
                say(_("Proxy: manual, {host}:{port}, user {user} (password set)").format(**where))
            else:
                say(_("Proxy: manual, {host}:{port}, user {user} (password not set)").format(**where))
        elif proxy.mode == "system":
            say(_("Proxy: system (from HTTPS_PROXY/NO_PROXY)"))
        else:
            say(_("Proxy: {mode}").format(mode=proxy.mode))
        return OK
    if args.action == "set":
        settings = ctx.editable_settings()
        previous = settings.proxy
        data = {"mode": args.mode}
        if args.mode == "manual":
            data.update(host=args.host, port=args.port, user=args.user)
        settings.proxy = validated(ProxySettings, data)
        password = None
        if args.mode == "manual" and args.user:
            password = SecretInput({"password"} if args.password_stdin else set()).read("password", _("proxy password"))
        save_proxy(ctx.secrets, settings.proxy, password, lambda: ctx.save(settings), previous=previous)
        if args.mode == "manual":
            changed = _("Proxy set to manual {host}:{port}").format(host=settings.proxy.host, port=settings.proxy.port)
        else:
            changed = _("Proxy set to {mode}").format(mode=args.mode)
        audit("proxy.changed", changed)
        if args.json:
            print_json({"saved": True, **settings.proxy.model_dump(), "password_set": ctx.secrets.get(PROXY_PASSWORD_KEY) is not None})
        else:
            say(_("Proxy: {mode} (saved)").format(mode=args.mode))
        return OK
    return identity_cmd.test(ctx, json_output=args.json)

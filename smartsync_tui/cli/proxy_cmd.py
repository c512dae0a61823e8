"""`smartsync-tui proxy show|set|test`."""

from __future__ import annotations

import argparse

from smartsync_tui.cli import identity_cmd
from smartsync_tui.cli.context import CliContext, SecretInput, validated
from smartsync_tui.cli.exit_codes import OK
from smartsync_tui.cli.output import print_json, say
from smartsync_tui.core.connection_check import save_proxy
from smartsync_tui.core.event_log import audit
from smartsync_tui.core.secret_store import PROXY_PASSWORD_KEY
from smartsync_tui.core.settings import ProxySettings


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.action == "show":
        proxy = ctx.settings().proxy
        has_password = ctx.secrets.get(PROXY_PASSWORD_KEY) is not None
        if args.json:
            print_json({**proxy.model_dump(), "password_set": has_password})
        elif proxy.mode == "manual":
            who = f", user {proxy.user} (password {'set' if has_password else 'not set'})" if proxy.user else ""
            say(f"Proxy: manual, {proxy.host}:{proxy.port}{who}")
        else:
            say(f"Proxy: {proxy.mode}" + (" (from HTTPS_PROXY/NO_PROXY)" if proxy.mode == "system" else ""))
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
            password = SecretInput({"password"} if args.password_stdin else set()).read("password", "proxy password")
        save_proxy(ctx.secrets, settings.proxy, password, lambda: ctx.save(settings), previous=previous)
        where = f" {settings.proxy.host}:{settings.proxy.port}" if args.mode == "manual" else ""
        audit("proxy.changed", f"Proxy set to {args.mode}{where}")
        if args.json:
            print_json({"saved": True, **settings.proxy.model_dump(), "password_set": ctx.secrets.get(PROXY_PASSWORD_KEY) is not None})
        else:
            say(f"Proxy: {args.mode} (saved)")
        return OK
    return identity_cmd.test(ctx, json_output=args.json)

"""`smartsync-tui identity show|set|test`."""

from __future__ import annotations

import argparse
import logging
import time

from smartsync_tui.cli.context import CliContext, print_json, validated
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.core.identity_access import identity_client
from smartsync_tui.core.settings import IdentitySettings

log = logging.getLogger("smartsync.cli")


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.action == "show":
        identity = ctx.settings().identity
        if args.json:
            print_json({**identity.model_dump(), "base_url": identity.base_url})
        else:
            print(f"Identity: {identity.base_url}")
        return 0
    if args.action == "set":
        settings = ctx.editable_settings()
        changes = {k: v for k, v in (("protocol", args.protocol), ("environment", args.environment)) if v}
        if not changes:
            raise InputError("environment", "nothing to change: give --protocol and/or --environment")
        settings.identity = validated(IdentitySettings, {**settings.identity.model_dump(), **changes})
        ctx.save(settings)
        log.info("identity environment set to %s", settings.identity.base_url)
        print(f"Identity: {settings.identity.base_url} (saved)")
        return 0
    return test(ctx, json_output=args.json)


def test(ctx: CliContext, *, json_output: bool) -> int:
    settings = ctx.settings()
    started = time.monotonic()
    try:
        with identity_client(settings, ctx.secrets, max_retries=1) as client:
            client.ping()
    except UserError as exc:
        log.warning("identity test failed: %s", exc)
        if json_output:
            print_json({"ok": False, "url": settings.identity.base_url, "error": str(exc), "kind": exc.kind})
        else:
            print(f"Identity at {settings.identity.base_url}: NOT reachable\n{exc}")
        return 1
    elapsed_ms = round((time.monotonic() - started) * 1000)
    log.info("identity test ok: %s in %d ms", settings.identity.base_url, elapsed_ms)
    if json_output:
        print_json({"ok": True, "url": settings.identity.base_url, "ms": elapsed_ms})
    else:
        print(f"Identity at {settings.identity.base_url}: reachable ({elapsed_ms} ms, proxy: {settings.proxy.mode})")
    return 0

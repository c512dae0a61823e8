"""`smartsync-tui identity show|set|test`."""

from __future__ import annotations

import argparse
import logging
import time

from smartsync_tui.cli.context import CliContext, print_json, validated
from smartsync_tui.core import validation
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
        changes: dict[str, object] = {k: v for k, v in (("protocol", args.protocol), ("environment", args.environment)) if v}
        if args.ca_file is not None:
            try:
                changes["ca_file"] = validation.check_ca_file(args.ca_file)
            except ValueError as exc:
                raise InputError("ca_file", f"--ca-file: {exc}") from None
        if not changes:
            raise InputError("environment", "nothing to change: give --protocol, --environment and/or --ca-file")
        settings.identity = validated(IdentitySettings, {**settings.identity.model_dump(), **changes})
        ctx.save(settings)
        log.info("identity environment set to %s", settings.identity.base_url)
        print(f"Identity: {settings.identity.base_url} (saved)")
        effective = ctx.settings().identity.base_url
        if effective != settings.identity.base_url:
            print(f"Note: SMARTSYNC_IDENTITY__* environment variables override it here; in effect: {effective}")
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

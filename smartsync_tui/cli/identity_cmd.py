"""`smartsync-tui identity show|set|test`."""

from __future__ import annotations

import argparse

from smartsync_tui.cli.context import CliContext, print_json, validated
from smartsync_tui.core import validation
from smartsync_tui.core.errors import InputError
from smartsync_tui.core.connection_check import check_identity
from smartsync_tui.core.event_log import audit
from smartsync_tui.core.settings import IdentitySettings



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
        audit("identity.changed", f"Identity environment set to {settings.identity.base_url}",
              ca_file=settings.identity.ca_file)
        print(f"Identity: {settings.identity.base_url} (saved)")
        effective = ctx.settings().identity.base_url
        if effective != settings.identity.base_url:
            print(f"Note: SMARTSYNC_IDENTITY__* environment variables override it here; in effect: {effective}")
        return 0
    return test(ctx, json_output=args.json)


def test(ctx: CliContext, *, json_output: bool) -> int:
    check = check_identity(ctx.settings(), ctx.secrets)
    if json_output:
        print_json({"ok": check.ok, "url": check.url, "ms": check.ms, "error": check.error, "kind": check.kind})
    elif check.ok:
        print(f"Identity at {check.url}: reachable ({check.ms} ms, proxy: {check.proxy})")
    else:
        print(f"Identity at {check.url}: NOT reachable\n{check.error}")
    return 0 if check.ok else 1

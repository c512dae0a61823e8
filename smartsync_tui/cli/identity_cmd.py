"""`smartsync-tui identity show|set|test`."""

from __future__ import annotations

import argparse

from smartsync_tui.cli.context import CliContext, validated
from smartsync_tui.cli.exit_codes import FAILED, OK
from smartsync_tui.cli.output import print_json, say
from smartsync_tui.config import validation
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.checks.connection import check_identity
from smartsync_tui.logs.event_log import audit
from smartsync_tui.targets.identity.environment import forget_credentials, is_plain_http_elsewhere
from smartsync_tui.config.settings import IdentitySettings
from smartsync_tui.i18n import _


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.action == "show":
        identity = ctx.settings().identity
        if args.json:
            print_json({**identity.model_dump(), "base_url": identity.base_url})
        else:
            say(_("Identity: {url}").format(url=identity.base_url))
        return OK
    if args.action == "set":
        settings = ctx.editable_settings()
        changes: dict[str, object] = {k: v for k, v in (("protocol", args.protocol), ("environment", args.environment)) if v}
        if args.ca_file is not None:
            try:
                changes["ca_file"] = validation.check_ca_file(args.ca_file)
            except ValueError as exc:
                raise InputError("ca_file", f"--ca-file: {exc}") from None
        if not changes:
            raise InputError("environment", _("nothing to change: give --protocol, --environment and/or --ca-file"))
        chosen = validated(IdentitySettings, {**settings.identity.model_dump(), **changes})
        insecure = is_plain_http_elsewhere(chosen)
        if insecure and not args.insecure_http:
            raise UserError(
                _("refused: over http the directory token and the agent key would travel in clear to "
                  "{host}, and anyone on the path could read them and queue login checks (a password "
                  "oracle). Use --protocol https; only for a test Identity on a network you trust, add --insecure-http."
                  ).format(host=chosen.environment),
                kind="refused",
            )
        previous = settings.identity.base_url
        # Before saving: a running engine that re-reads the settings finds nothing to send to the new host.
        dropped = forget_credentials(settings, ctx.secrets, chosen)
        settings.identity = chosen
        ctx.save(settings)
        audit("identity.changed", _("Identity environment set to {url}").format(url=settings.identity.base_url),
              ca_file=settings.identity.ca_file, insecure_http=insecure or None,
              credentials_removed=",".join(dropped) or None)
        effective = ctx.settings().identity.base_url
        if args.json:
            print_json({"saved": True, **settings.identity.model_dump(), "base_url": settings.identity.base_url,
                        "base_url_in_effect": effective, "insecure_http": insecure, "credentials_removed": dropped})
            return OK
        say(_("Identity: {url} (saved)").format(url=settings.identity.base_url))
        if insecure:
            say(_("warning: plain http to a host that is not this machine: the directory token and the agent key "
                  "travel in clear, and anyone on the path can queue login checks. Switch to https as soon as you can."),
                err=True)
        if dropped:
            say(_("The token and agent key of {ids} were removed: they were given for {previous} "
                  "and are never sent to {url}. Give each directory its token for the new "
                  "environment:").format(ids=", ".join(dropped), previous=previous, url=settings.identity.base_url),
                *(f"  printf '%s\\n' \"$IDENTITY_TOKEN\" | smartsync-tui directory edit {d} --token-stdin"
                  for d in dropped))
        if effective != settings.identity.base_url:
            say(_("Note: SMARTSYNC_IDENTITY__* environment variables override it here; in effect: {url}").format(
                url=effective))
        return OK
    return test(ctx, json_output=args.json)


def test(ctx: CliContext, *, json_output: bool) -> int:
    check = check_identity(ctx.settings(), ctx.secrets)
    if json_output:
        # "kind" is one of the CLI's error kinds (cli/exit_codes.py); "reason" is the core's finer one.
        print_json({"ok": check.ok, "url": check.url, "ms": check.ms, "error": check.error,
                    "kind": None if check.ok else "check_failed", "reason": check.kind})
    elif check.ok:
        say(_("Identity at {url}: reachable ({ms} ms, proxy: {proxy})").format(  # not a count
            url=check.url, ms=check.ms, proxy=check.proxy))
    else:
        say(_("Identity at {url}: NOT reachable").format(url=check.url), check.error or "")
    return OK if check.ok else FAILED

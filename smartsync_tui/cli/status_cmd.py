"""``smartsync-tui status [--json]``: what the home's engine is doing, asked over the control channel.

Exit codes for monitoring (a Nagios-style check, a cron line): 0 every directory passes, 1 one
warns, 2 one fails or no engine answers. The rules are /health's (engine/health.py,
docs/monitoring.md); the engine computes them, this command only shows them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from smartsync_tui.channel import control_channel
from smartsync_tui.cli.context import CliContext
from smartsync_tui.cli.output import print_json, report_error, say
from smartsync_tui.core.text import printable
from smartsync_tui.engine import lock as engine_lock
from smartsync_tui.engine.health import FAIL, PASS, WARN, exit_code
from smartsync_tui.i18n import _, ngettext, number

_STATUS_WORDS = {PASS: "pass", WARN: "warn", FAIL: "fail"}


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    holder = engine_lock.read_holder(ctx.home)
    if holder is None:
        return report_error(_("no engine runs for this home: start it (systemctl start smartsync-tui, "
                              "smartsync-tui run, or the console)"), "channel", json_output=args.json)
    pid = holder.get("pid") if isinstance(holder.get("pid"), int) else None
    try:
        reply = control_channel.request(ctx.home, {"op": "health"}, engine_pid=pid)
    except control_channel.ChannelError as exc:
        return report_error(str(exc), "channel", json_output=args.json)
    health, directories = reply.get("health"), reply.get("directories")
    if not isinstance(health, dict) or not isinstance(directories, dict) or health.get("status") not in _STATUS_WORDS:
        return report_error(_("the engine (pid {pid}) answered without its status: is it of an older version? "
                              "Restart it").format(pid=pid), "channel", json_output=args.json)
    status = str(health["status"])
    if args.json:
        print_json({"status": status, "engine": {"pid": pid, "mode": holder.get("mode")},
                    "directories": directories, "health": health})
    else:
        _show(pid, str(holder.get("mode") or ""), status, directories)
    return exit_code(status)


def _ago(at: Any, now: float) -> str:
    if not isinstance(at, (int, float)):
        return _("never")
    return _("{seconds} s ago").format(seconds=number(max(0, round(now - at))))


def _show(pid: int | None, mode: str, status: str, directories: dict[str, Any]) -> None:
    now = time.time()
    say(_("engine pid {pid} ({mode}): {status}").format(pid=pid, mode=mode or "?", status=_STATUS_WORDS[status]))
    if not directories:
        say(_("no enabled directory"))
    for directory_id, d in sorted(directories.items()):
        if not isinstance(d, dict):
            continue
        next_at = d.get("next_run_at")
        state = {"running": _("running"), "queued": _("queued")}.get(str(d.get("state")), _("idle"))
        say(_("{id} [{target}] {status}: {state}; last success {success}; last run {outcome} {run}").format(
            id=printable(directory_id, 64), target=printable(str(d.get("target")), 16),
            status=_STATUS_WORDS.get(str(d.get("status")), "?"), state=state, success=_ago(d.get("last_success_at"), now),
            outcome=printable(str(d.get("last_outcome") or "-"), 16), run=_ago(d.get("last_run_at"), now)))
        figures = _("pending {pending}, held {held}, failures in a row {failures}, next run {next}").format(
            pending=number(int(d.get("pending") or 0)), held=number(int(d.get("held") or 0)),
            failures=number(int(d.get("failures_in_a_row") or 0)),
            next=_("in {seconds} s").format(seconds=number(max(0, round(next_at - now))))
            if isinstance(next_at, (int, float)) else "-")
        say(f"  {figures}")
        checks = d.get("login_checks")
        if isinstance(checks, dict):
            n = int(checks.get("in_flight") or 0)
            line = (ngettext("login checks: connected, {n} in flight", "login checks: connected, {n} in flight", n)
                    if checks.get("connected") else
                    ngettext("login checks: not connected, {n} in flight", "login checks: not connected, {n} in flight", n))
            say(f"  {line.format(n=number(n))}")
        else:
            # Off in the settings, or an engine that is paused: none runs.
            line = (_("login checks: none running for this directory") if d.get("target") == "identity" else
                    # Identity's feature: another target has no login checks to answer.
                    _("login checks: do not apply (this directory syncs to {target})").format(
                        target=printable(str(d.get("target")), 16)))
            say(f"  {line}")
        for problem in d.get("problems") or []:
            say(f"  - {printable(str(problem), 300)}")

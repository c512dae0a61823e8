"""`smartsync-tui web [--host H] [--port P] [--public]`: the console in a browser.

textual-serve runs one console process per browser tab (``python -m
smartsync_tui --home DIR console`` with this interpreter) and relays its screen
over a websocket. Host and port come from appsettings.json's ``url`` (the
original product's ``http://localhost:5325``) unless given.

The page has no login of its own: whoever reaches the port gets the console
with the rights of the OS user running this command. So it listens on loopback
unless ``--public`` says otherwise, and on loopback it also refuses:

- a ``Host`` header that is not a loopback name (DNS rebinding: a web page
  whose name resolves to 127.0.0.1 would otherwise be served by us);
- a websocket whose ``Origin`` is another site (any page open in the admin's
  browser could otherwise open ``ws://localhost:5325/ws`` through an SSH
  tunnel and type into the console: websockets are not bound by the
  same-origin policy).

textual-serve is imported inside :func:`run`, so other commands do not pay for
aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from smartsync_tui.cli.context import CliContext
from smartsync_tui.cli.exit_codes import OK
from smartsync_tui.cli.output import CliError, say
from smartsync_tui.core.paths import HOME_ENV

log = logging.getLogger("smartsync.web")

# How long a closing server waits for the consoles it runs to quit.
SESSION_STOP_SECONDS = 5.0

TUNNEL_HINT = "ssh -L 5325:127.0.0.1:5325 server"


def public_warning(host: str, port: int) -> str:
    return (
        f"WARNING: --public: the console is served on {_url_host(host)}:{port} and the page has no login of its own. "
        "Anyone who reaches this port gets the console, with this account's rights over the AD and "
        "Identity settings. Put it behind a reverse proxy that asks for authentication (and passes the "
        "Host header and websocket upgrades), or leave it on 127.0.0.1 and use an SSH tunnel: "
        f"{TUNNEL_HINT}"
    )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost; anything else (0.0.0.0, ::, a name, a LAN address) is not."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _settings_address(url: str) -> tuple[str, int, str]:
    """(host, port, scheme) of appsettings.json's url (already validated by the settings)."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5325, parts.scheme


def console_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per browser session: this console, same home."""
    command = [sys.executable, "-m", "smartsync_tui"]
    chosen = getattr(args, "home", None) or os.environ.get(HOME_ENV) or None
    if chosen:
        command += ["--home", str(Path(chosen).expanduser().resolve())]
    command.append("console")
    return shlex.join(command)


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    settings = ctx.settings()  # a broken appsettings.json stops here, with its own message
    default_host, default_port, scheme = _settings_address(settings.url)
    host = (args.host if args.host is not None else default_host).strip().strip("[]")
    port = args.port if args.port is not None else default_port
    if not host:
        raise CliError("--host is empty; give an address to listen on, e.g. 127.0.0.1", kind="input")
    if not 0 <= port <= 65535:
        raise CliError(f"--port {port} is not a TCP port (0-65535; 0 picks a free one)", kind="input")
    public = bool(args.public)
    if not is_loopback(host) and not public:
        # Usage, not a refusal of a request: the same command with --public (or another --host) is fine.
        raise CliError(
            f"refusing to serve the console on {host}: it is not a loopback address, and the page has "
            "no login of its own (anyone who reaches the port would get the console). Use --host 127.0.0.1 "
            f"with an SSH tunnel ({TUNNEL_HINT}), or, behind a reverse proxy that asks for "
            "authentication, pass --public.",
            kind="usage",
        )
    if public:
        say(public_warning(host, port), err=True, flush=True)
    if scheme == "https":
        say(
            "note: appsettings.json's url says https, but this server speaks plain http; "
            "put TLS in the reverse proxy in front of it.",
            err=True,
        )

    command = console_command(args)
    _route_library_log()
    log.info("web: serving the console on %s:%s (public=%s), command %s", host, port, public, command)
    try:
        return asyncio.run(serve(command, host, port, public=public))
    except KeyboardInterrupt:  # where the loop cannot take signals (Windows)
        return OK


def _route_library_log() -> None:
    """textual-serve's own messages go to the application log, not to Python's stderr fallback."""
    library = logging.getLogger("textual-serve")
    for handler in logging.getLogger("smartsync").handlers:
        if handler not in library.handlers:
            library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False


# -- the server (aiohttp and textual-serve are imported only from here on)


def _first(value: str | None) -> str | None:
    """The first of a comma-separated forwarded header (the hop nearest the browser)."""
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


def _netloc(host: str, scheme: str) -> str:
    """host[:port] in lower case, without the scheme's default port."""
    host = host.strip().lower()
    default = ":80" if scheme in ("http", "ws") else ":443"
    return host.removesuffix(default)


def _browser_address(request: Any) -> tuple[str, str]:
    """(scheme, host[:port]) as the browser sees this server, through a reverse proxy or not."""
    proto = _first(request.headers.get("X-Forwarded-Proto"))
    scheme = "https" if (proto or "").lower() == "https" or request.secure else "http"
    host = _first(request.headers.get("X-Forwarded-Host")) or request.host
    return scheme, host


def host_refusal(request: Any) -> str | None:
    """On loopback: refuse a Host that is not a loopback name (DNS rebinding)."""
    name = urlsplit(f"//{request.host}").hostname or ""
    if is_loopback(name):
        return None
    return (
        f"This console answers only at http://127.0.0.1 or http://localhost, not at {request.host!r}. "
        "Open it through the SSH tunnel's local address, or start it with --public behind a reverse proxy."
    )


def origin_refusal(request: Any) -> str | None:
    """A websocket opened by a page of another site (cross-site websocket hijacking) is refused.

    Browsers always send Origin on a websocket; other clients (no Origin) are not browsers
    driven by a foreign page, so they are let through.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    scheme, host = _browser_address(request)
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.netloc and _netloc(parts.netloc, parts.scheme) == _netloc(host, scheme):
        return None
    return f"a page from {origin!r} may not open the console at {host!r}"


async def serve(command: str, host: str, port: int, *, public: bool) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean stop. An address that cannot be used raises CliError."""
    import errno

    import aiohttp_jinja2
    from aiohttp import web
    from textual_serve.server import Server

    sessions: set[asyncio.Task[Any]] = set()

    class ConsoleServer(Server):
        """textual-serve's server with our checks, page URLs taken from the request, no banner."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

        async def on_startup(self, app: web.Application) -> None:
            """Nothing: `run` prints its own line (textual-serve prints a banner here)."""

        async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
            # textual-serve writes absolute URLs from the --host/--port it was given, which
            # break behind an SSH tunnel on another local port, a proxy, or 0.0.0.0. The page
            # uses the address the browser used instead.
            scheme, address = _browser_address(request)
            try:
                font_size = int(request.query.get("fontsize", "16"))
            except ValueError:
                font_size = 16
            context = {
                "font_size": font_size,
                "app_websocket_url": f"{'wss' if scheme == 'https' else 'ws'}://{address}/ws",
                "config": {"static": {"url": "/static/"}},
                "application": {"name": "smartsync-tui"},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            refusal = origin_refusal(request)
            if refusal:
                log.warning("web: refused a websocket from %s: %s", request.remote, refusal)
                raise web.HTTPForbidden(text=f"Forbidden: {refusal}.\n")
            task = asyncio.current_task()
            assert task is not None
            sessions.add(task)
            log.info("web: browser session opened from %s", request.remote)
            try:
                return await super().handle_websocket(request)
            finally:
                sessions.discard(task)
                log.info("web: browser session from %s closed", request.remote)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if not public:
            refusal = host_refusal(request)
            if refusal:
                log.warning("web: refused %s %s from %s: Host %r", request.method, request.path, request.remote, request.host)
                raise web.HTTPForbidden(text=f"Forbidden. {refusal}\n")
        return await handler(request)

    # Signals are taken before the address is printed: whoever reads that line may stop us at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C arrives as KeyboardInterrupt
            pass

    server = ConsoleServer(command, host=host, port=port, title="smartsync-tui")
    runner = web.AppRunner(await server._make_app(), handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{_url_host(host)}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"cannot serve on {where}: the port is in use (another `smartsync-tui web`, or another "
                "program). Stop it, or choose another port with --port or in appsettings.json's url.",
                kind="busy",
            ) from None
        reason = exc.strerror or str(exc)
        raise CliError(f"cannot serve on {where}: {reason}. Check --host and --port.", kind="input") from None

    actual_port = next((address[1] for address in runner.addresses if isinstance(address, tuple)), port)
    url = f"http://{_url_host(host)}:{actual_port}"
    from smartsync_tui.core.event_log import audit

    audit("web.started", f"console served in a browser on {url}", public=public)
    say(f"serving the console on {url}", "(Ctrl+C or SIGTERM stops it; each browser tab runs its own console)",
        flush=True)

    try:
        await stop.wait()
    finally:
        # Each open tab's console is told to quit (textual-serve does that when its
        # websocket handler ends), then the listener closes.
        open_sessions = list(sessions)
        if open_sessions:
            say(f"stopping: closing {len(open_sessions)} browser session(s)", flush=True)
            for task in open_sessions:
                task.cancel()
            await asyncio.wait(open_sessions, timeout=SESSION_STOP_SECONDS)
        await runner.cleanup()
        log.info("web: stopped")
    say("stopped", flush=True)
    return OK

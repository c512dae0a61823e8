"""`smartsync-tui web [--host H] [--port P] [--public] [--max-sessions N] [--sessions-per-minute N]
[--token-stdin]`: the console in a browser.

textual-serve relays one console process per browser tab (``python -m
smartsync_tui --home DIR console`` with this interpreter) over a websocket.
Host and port come from appsettings.json's ``url`` (the original product's
``http://localhost:5325``) unless given.

Whoever drives a console has the rights of the OS user running this command
over the AD and Identity settings, and loopback TCP is open to every account
on the host. So every request needs the login token this command prints once
(``cli/web_auth.py``), even with ``--public``, which only lets it listen
beyond loopback (the server speaks plain http: TLS belongs in a reverse proxy).
On loopback it also refuses, as before the login existed:

- a ``Host`` header that is not a loopback name (DNS rebinding: a web page
  whose name resolves to 127.0.0.1 would otherwise be served by us);
- a websocket whose ``Origin`` is another site (websockets are not bound by
  the same-origin policy).

Consoles are capped and rate-limited, and each one ends, at any moment of its
start-up, when its tab goes and when this command stops (``cli/web_sessions.py``).
textual-serve is imported inside :func:`serve`, so other commands do not pay for
aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from smartsync_tui.cli.context import CliContext, SecretInput
from smartsync_tui.cli.exit_codes import OK
from smartsync_tui.cli.output import CliError, say
from smartsync_tui.cli.web_auth import (
    COOKIE_NAME,
    QUERY_NAME,
    WEB_TOKEN_KEY,
    WebLogin,
    check_token_text,
    cookie_header,
    load_login,
    login_needed_page,
    page,
)
from smartsync_tui.config.paths import HOME_ENV
from smartsync_tui.config.validation import is_loopback_host as is_loopback
from smartsync_tui.i18n import _, ngettext

if TYPE_CHECKING:
    from smartsync_tui.cli.web_sessions import SessionLimits

log = logging.getLogger("smartsync.web")

# How long a closing server waits for its tabs' handlers, each ending its console (quit, then
# SIGTERM, then SIGKILL: web_sessions); whatever is left after is ended by the registry.
SESSION_STOP_SECONDS = 8.0

TUNNEL_HINT = "ssh -L 5325:127.0.0.1:5325 server"


def public_warning(host: str, port: int) -> str:
    return _(
        "WARNING: --public: the console is served on {address} over plain http. The login "
        "token is still asked, but it and everything typed in the console (passwords, tokens) cross the "
        "network in the clear, readable and replayable by anyone on the path. Put TLS in a reverse proxy "
        "in front of it (passing the Host header and websocket upgrades), or leave it on 127.0.0.1 and use "
        "an SSH tunnel: {tunnel}"
    ).format(address=f"{_url_host(host)}:{port}", tunnel=TUNNEL_HINT)


def _line(text: str) -> str:
    """A plain-text answer's body: the sentence and its newline."""
    return f"{text}\n"


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
        raise CliError(_("--host is empty; give an address to listen on, e.g. 127.0.0.1"), kind="input")
    if not 0 <= port <= 65535:
        raise CliError(_("--port {port} is not a TCP port (0-65535; 0 picks a free one)").format(port=port), kind="input")
    public = bool(args.public)
    limits = _session_limits(args)
    if not is_loopback(host) and not public:
        # Usage, not a refusal of a request: the same command with --public (or another --host) is fine.
        raise CliError(
            _("refusing to serve the console on {host}: it is not a loopback address, and this server "
              "speaks plain http (the login token and all typing would cross the network in the clear). "
              "Use --host 127.0.0.1 with an SSH tunnel ({tunnel}), or, behind a reverse proxy "
              "that adds TLS, pass --public.").format(host=host, tunnel=TUNNEL_HINT),
            kind="usage",
        )
    if public:
        say(public_warning(host, port), err=True, flush=True)
    if scheme == "https":
        say(
            _("note: appsettings.json's url says https, but this server speaks plain http; "
              "put TLS in the reverse proxy in front of it."),
            err=True,
        )

    if getattr(args, "token_stdin", False):
        token = SecretInput({"token"}).read("token", _("web login token")).get_secret_value()
        problem = check_token_text(token)
        if problem:
            raise CliError(problem, kind="input")
        ctx.secrets.set(WEB_TOKEN_KEY, token)
        say(_("the web login token is kept in {file} ({key}); it stays across restarts").format(
            file=ctx.secrets.path, key=WEB_TOKEN_KEY), err=True)
    login = load_login(ctx.secrets)

    command = console_command(args)
    _route_library_log()
    log.info(_("web: serving the console on {host}:{port} (public={public}, sessions at once: {sessions}, "
               "new sessions per minute: {per_minute}), command {command}").format(
        host=host, port=port, public=public, sessions=limits.max_sessions, per_minute=limits.per_minute,
        command=command))
    try:
        return asyncio.run(serve(shlex.split(command), host, port, public=public, login=login, limits=limits))
    except KeyboardInterrupt:  # where the loop cannot take signals (Windows)
        return OK


def _session_limits(args: argparse.Namespace) -> "SessionLimits":
    from smartsync_tui.cli.web_sessions import (
        DEFAULT_MAX_SESSIONS,
        DEFAULT_SESSIONS_PER_MINUTE,
        SessionLimits,
    )

    most = getattr(args, "max_sessions", None)
    per_minute = getattr(args, "sessions_per_minute", None)
    most = DEFAULT_MAX_SESSIONS if most is None else most
    per_minute = DEFAULT_SESSIONS_PER_MINUTE if per_minute is None else per_minute
    if not 1 <= most <= 100:
        raise CliError(_("--max-sessions {value} is out of range: give 1 to 100 (each console takes about 60 MB)"
                         ).format(value=most), kind="input")
    if not 1 <= per_minute <= 1000:
        raise CliError(_("--sessions-per-minute {value} is out of range: give 1 to 1000").format(value=per_minute),
                       kind="input")
    return SessionLimits(most, per_minute)


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
    return _(
        "This console answers only at http://127.0.0.1 or http://localhost, not at {host}. "
        "Open it through the SSH tunnel's local address, or start it with --public behind a reverse proxy."
    ).format(host=repr(request.host))


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
    return _("a page from {origin} may not open the console at {host}").format(origin=repr(origin), host=repr(host))


async def serve(argv: list[str], host: str, port: int, *, public: bool, login: WebLogin,
                limits: "SessionLimits") -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean stop. An address that cannot be used raises CliError."""
    import errno
    from urllib.parse import urlencode

    import aiohttp_jinja2
    from aiohttp import WSCloseCode, web
    from textual_serve.server import Server, to_int

    from smartsync_tui.cli.web_sessions import ConsoleRegistry, ConsoleService

    sessions: set[asyncio.Task[Any]] = set()
    registry = ConsoleRegistry()

    class ConsoleServer(Server):
        """textual-serve's server with our checks, page URLs taken from the request, no banner."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

        async def on_startup(self, app: web.Application) -> None:
            """Nothing: `run` prints its own line (textual-serve prints a banner here)."""

        async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
            refused = limits.refusal(start=False)
            if refused:  # said on a page of its own: the console's page would only say "Session ended"
                return web.Response(
                    status=refused.status, content_type="text/html", headers={"Retry-After": str(refused.retry_after)},
                    text=page(_("No console can be opened now"), refused.text),
                )
            # textual-serve writes absolute URLs from the --host/--port it was given, which
            # break behind an SSH tunnel on another local port, a proxy, or 0.0.0.0. The page
            # uses the address the browser used instead.
            scheme, address = _browser_address(request)
            context = {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{'wss' if scheme == 'https' else 'ws'}://{address}/ws",
                "config": {"static": {"url": "/static/"}},
                "application": {"name": "smartsync-tui"},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            refusal = origin_refusal(request)
            if refusal:
                log.warning(_("web: refused a websocket from {remote}: {reason}").format(
                    remote=request.remote, reason=refusal))
                raise web.HTTPForbidden(text=_line(_("Forbidden: {reason}.").format(reason=refusal)))
            websocket = web.WebSocketResponse(heartbeat=15)
            await websocket.prepare(request)
            refused = limits.refusal()  # counted from here on: ended() below, whatever happens
            if refused:
                log.warning(_("web: refused a console to {remote}: {reason}").format(
                    remote=request.remote, reason=refused.text))
                # Its first sentence as the close message (at most 123 bytes, cut between characters:
                # a Portuguese one has accents); reloading shows the page.
                reason = refused.text.split(". ", 1)[0].rstrip(".") + "."
                message = reason.encode()[:123].decode("utf-8", "ignore").encode()
                await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=message)
                return websocket
            task = asyncio.current_task()
            assert task is not None
            sessions.add(task)
            log.info(_("web: browser session opened from {remote}").format(remote=request.remote))
            service: ConsoleService | None = None
            try:
                service = ConsoleService(
                    argv, registry, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                    close=websocket.close, download_manager=self.download_manager,
                )
                await service.start(to_int(request.query.get("width", "80"), 80),
                                    to_int(request.query.get("height", "24"), 24))
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                pass  # the server stops: the console is ended below all the same
            except (ValueError, TypeError, KeyError, AssertionError, IndexError) as exc:
                # A message the page never sends (not JSON, not the envelope): this tab ends.
                log.warning(_("web: a malformed message from {remote} ended its session ({error})").format(
                    remote=request.remote, error=type(exc).__name__))
            finally:
                try:
                    if service is not None:
                        await service.stop()  # quit, then SIGTERM, then SIGKILL: never left running
                finally:
                    limits.ended()
                    sessions.discard(task)
                    if not websocket.closed:
                        await asyncio.shield(websocket.close())
                    log.info(_("web: browser session from {remote} closed").format(remote=request.remote))
            return websocket

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if not public:
            refusal = host_refusal(request)
            if refusal:
                log.warning(_("web: refused {method} {path} from {remote}: Host {host}").format(
                    method=request.method, path=request.path, remote=request.remote, host=repr(request.host)))
                raise web.HTTPForbidden(text=_line(_("Forbidden. {reason}").format(reason=refusal)))
        given = request.query.get(QUERY_NAME)
        if given is not None and login.token_ok(given):
            if request.method == "GET" and request.path == "/":
                # Traded for the cookie, and out of the address bar and the history.
                rest = urlencode([(k, v) for k, v in request.query.items() if k != QUERY_NAME])
                raise web.HTTPSeeOther(
                    "/" + (f"?{rest}" if rest else ""),
                    headers={"Set-Cookie": cookie_header(login, secure=_browser_address(request)[0] == "https"),
                             "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
                )
        elif not login.cookie_ok(request.cookies.get(COOKIE_NAME)):
            # The path without its query: a wrong token is not written down either.
            log.warning(_("web: refused {method} {path} from {remote}: no valid login token or cookie").format(
                method=request.method, path=request.path, remote=request.remote))
            raise web.HTTPForbidden(text=login_needed_page(), content_type="text/html",
                                    headers={"Cache-Control": "no-store"})
        response = await handler(request)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    # Signals are taken before the address is printed: whoever reads that line may stop us at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C arrives as KeyboardInterrupt
            pass

    server = ConsoleServer(shlex.join(argv), host=host, port=port, title="smartsync-tui")
    # No access log: its request lines would carry the login token of the first request.
    runner = web.AppRunner(await server._make_app(), handle_signals=False, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    from smartsync_tui.cli.web_connections import ConnectionGuard

    connections = ConnectionGuard()

    class GuardedSite(web.TCPSite):
        """TCPSite.start with each connection behind the guard (cli/web_connections.py)."""

        async def start(self) -> None:
            await web.BaseSite.start(self)  # registers the site with the runner
            assert self._runner.server is not None
            self._server = await asyncio.get_running_loop().create_server(
                connections.wrap(self._runner.server), self._host, self._port,
                backlog=self._backlog, reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            )

    site = GuardedSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{_url_host(host)}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                _("cannot serve on {address}: the port is in use (another `smartsync-tui web`, or another "
                  "program). Stop it, or choose another port with --port or in appsettings.json's url.").format(
                    address=where),
                kind="busy",
            ) from None
        reason = exc.strerror or str(exc)
        raise CliError(_("cannot serve on {address}: {reason}. Check --host and --port.").format(
            address=where, reason=reason), kind="input") from None

    actual_port = next((address[1] for address in runner.addresses if isinstance(address, tuple)), port)
    url = f"http://{_url_host(host)}:{actual_port}"
    from smartsync_tui.logs.event_log import audit

    audit("web.started", _("console served in a browser on {url}").format(url=url), public=public)
    # The only place the token is shown: this terminal, once (never a log).
    say(_("serving the console on {url}").format(url=login.login_url(url)),
        _("(open that address: the token in it is the login; Ctrl+C or SIGTERM stops it; each browser tab "
          "runs its own console, at most {most} at once)").format(most=limits.max_sessions),
        flush=True)

    try:
        await stop.wait()
    finally:
        # Each open tab's console is asked to quit and, if it does not, ended (web_sessions);
        # then whatever console is still alive, and the listener.
        open_sessions = list(sessions)
        if open_sessions:
            say(ngettext("stopping: closing {n} browser session", "stopping: closing {n} browser sessions",
                         len(open_sessions)).format(n=len(open_sessions)), flush=True)
            for task in open_sessions:
                task.cancel()
            await asyncio.wait(open_sessions, timeout=SESSION_STOP_SECONDS)
        await registry.stop_all()
        await runner.cleanup()
        log.info(_("web: stopped"))
    say(_("stopped"), flush=True)
    return OK

"""How the Identity client reaches Identity: TLS contexts, base URLs, and the registry of open
requests that a stop cuts (the proxy choice and ``Retry-After`` are targets/http_common.py's).
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from smartsync_tui.core.errors import InputError
from smartsync_tui.i18n import _, number
from smartsync_tui.targets.http_common import (  # noqa: F401 (shared by every HTTP target; kept importable here)
    _MASK,
    ProxyChoice,
    chain as _chain,
    default_ssl_context as _default_ssl_context,
    parse_retry_after,
)
from smartsync_tui.targets.identity.errors import IdentityTlsError

if TYPE_CHECKING:
    # httpx (~50 ms to import, its CLI's click and pygments included) is imported by the
    # methods that use it: importing this module (the console's first screen does) needs none.
    import httpx

    from smartsync_tui.targets.identity.client import IdentityClient

log = logging.getLogger("smartsync.identity")

API_PATH = "/api/agent/v1"
MAX_BATCH = 1000
MAX_WAIT = 30.0
RETRY_AFTER_CAP = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses that mean the request was not processed, so even a request that is
# not idempotent (agent registration) may be sent again.
_SAFE_RETRY_STATUSES = frozenset({429, 503})

# The largest answer the agent API gives is a batch of 1000 results. The emulator's
# largest (tests/test_identity_bounds.py measures it): 1000 `failed` items whose detail
# quotes a 256-character login of 4-byte characters, 3,225,013 bytes. 16 MiB keeps a
# margin of about 5x for a real Identity's longer ids and details, and still bounds
# what a misbehaving server or proxy can make the agent hold (as sent and decoded).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# An error answer is read only for its problem details; a longer one is read no further.
MAX_ERROR_ANSWER_BYTES = 64 * 1024
# Every request ends within its read timeout plus this (the long poll: plus its wait),
# however slowly the answer drips; past it the request is given up, not retried.
DEADLINE_MARGIN = 10.0
# What a batch result may hold: an Identity id (a UUID in practice) and a sentence.
MAX_RESULT_ID_CHARS = 200
MAX_RESULT_DETAIL_CHARS = 4000
_RESULT_STATUSES = frozenset({"created", "updated", "unchanged", "failed"})


@dataclass(frozen=True)
class DirectoryRecord:
    """A directory as Identity keeps it: what the agent syncs, with which LDAP filters."""

    id: str
    name: str
    user_filter: str
    group_filter: str
    created_at: datetime


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer read within the bounds (status, headers and the decoded body)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


# Every client alive in this process, for abort_open_requests (a stop cuts what they wait for).
_clients: "weakref.WeakSet[IdentityClient]" = weakref.WeakSet()
_clients_lock = threading.Lock()
# Base URLs already warned about (plain http to a host that is not loopback): once per process.
_warned_plain_http: set[str] = set()


def abort_open_requests() -> None:
    """Cut the request every client of this process is waiting on (a stop: `run`'s SIGTERM after its grace).

    Each ends within a fraction of a second with IdentityRequestStopped;
    requests started afterwards are not affected.
    """
    with _clients_lock:
        clients = list(_clients)
    for client in clients:
        client.abort()


# After a stop (SIGTERM, Ctrl-C, a console closed), how long the answers awaited from
# Identity get before they are cut, and how often the cut is repeated for requests that
# were starting at that moment.
STOP_GRACE_SECONDS = 3.0
CUT_AGAIN_SECONDS = 0.5


def cut_open_requests(finished: threading.Event, grace: float = STOP_GRACE_SECONDS) -> None:
    """Once stopped: give the answers awaited ``grace`` seconds, then cut them until ``finished``.

    A read blocked on a server that drips its answer would otherwise hold the
    stop until the request's deadline; a batch cut this way is sent again by
    the next run (upserts are idempotent).
    """
    if finished.wait(grace):
        return
    log.info(_("stopping: cutting the answers still awaited from Identity after {seconds} s").format(seconds=_figure(grace)))
    while not finished.is_set():
        abort_open_requests()
        finished.wait(CUT_AGAIN_SECONDS)


# --------------------------------------------------------------------------- helpers


def _figure(value: float) -> str:
    """``value`` as ``%g`` writes it (3, 0.25, 12.5), with the language's decimal mark."""
    text = f"{value:g}"
    digits = 0 if "e" in text else len(text.partition(".")[2])
    return number(value, digits)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is True:
        return _default_ssl_context()
    if verify is False:
        raise InputError(
            "verify",
            _("TLS certificate verification cannot be turned off; give the CA file that issued Identity's "
              "(or the TLS-inspecting proxy's) certificate instead."),
        )
    path = os.path.expanduser(verify)
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        if os.path.isfile(path):
            return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise IdentityTlsError(
            _("The CA file {path} cannot be used to check Identity's certificate ({error}). "
              "Give a PEM file with the CA certificate.").format(path=verify, error=type(exc).__name__)
        ) from None
    raise IdentityTlsError(
        _("The CA file {path} does not exist. Give the PEM file of the CA that issued the certificate.").format(path=verify))


def _normalise_base_url(base_url: str) -> tuple[str, str]:
    """(root of the agent API, ``host[:port]`` for messages)."""
    text = (base_url or "").strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError("identity", _("the Identity address must look like https://host, not {address}").format(
            address=repr(text[:100])))
    if parts.username or parts.password:
        raise InputError("identity", _("the Identity address must not contain a user name or password"))
    if parts.query or parts.fragment:
        raise InputError("identity", _("the Identity address must not have a query (?...) or a fragment (#...)"))
    try:
        port = parts.port
    except ValueError:
        raise InputError("identity", _("the port in the Identity address is not a number")) from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    shown = f"{host}:{port}" if port else host
    path = parts.path
    if not path.endswith(API_PATH):
        path = path + API_PATH
    return f"{parts.scheme}://{parts.netloc}{path}", shown


_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._~+/-]+")

"""Reading Active Directory over LDAP: the one place that talks ldap3.

Everything the rest of the core needs from a DC goes through this small
adapter, so that ldap3 (2.9.1, unmaintained since 2021) can be replaced later
without touching the engine:

- :func:`connect` opens, secures and binds a connection in the directory's TLS
  mode and checks the base DN, raising :class:`DirectoryError` with the stage
  that failed (``dns``, ``tcp``, ``tls``, ``bind``, ``base_dn``, ``search``)
  and a sentence saying what to do.
- :func:`paged_search` streams entries page by page; an LDAP failure mid-read
  raises, so a broken read never looks like a complete (or empty) one.
- :func:`test_directory` runs the stages one by one for the console's and the
  CLI's *Test* and reports what the account can and cannot read.

Passwords never reach a message, an exception or a repr: ldap3 keeps the bind
password on the connection (its ``repr`` prints it) and in ``conn.request``,
so both are wiped after the bind; every error raised here is built from our
own words, and those that follow an ldap3 exception are raised outside the
``except`` block that caught it (no chained context holding a bind request).
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Sequence

from ldap3 import BASE, LEVEL, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.utils.conv import escape_bytes, escape_filter_chars
from pydantic import SecretStr

from smartsync_tui.ad.errors import AdBindReason, bind_data_code, describe_bind_failure, parse_bind_reason
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.remedy import option
from smartsync_tui.config.settings import DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER, DirectorySettings
from smartsync_tui.config.validation import is_ip_address
from smartsync_tui.i18n import N_, _, ngettext, number

__all__ = [
    "Stage",
    "DirectoryError",
    "SearchCancelled",
    "connect",
    "close",
    "read_root_dse",
    "paged_search",
    "test_directory",
    "DirectoryTestReport",
    "DirectoryTestStep",
    "escape_filter_value",
    "guid_to_str",
    "guid_filter_value",
    "SHOW_DELETED_OID",
    "PAGED_RESULTS_OID",
    "register_in_memory",
    "unregister_in_memory",
]

Stage = Literal["dns", "tcp", "tls", "bind", "base_dn", "search"]

SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
# The well-known GUID of a domain's Deleted Objects container (same in every AD).
_DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"
# AD's MaxPageSize is 1000: larger pages are silently cut by the server.
MAX_PAGE_SIZE = 1000

# OpenSSL verify codes (X509_V_ERR_*) that need their own explanation.
_CERT_UNTRUSTED = {2, 18, 19, 20, 21, 27}
_CERT_NAME_MISMATCH = {62, 64}
_CERT_EXPIRED = {10}
_CERT_NOT_YET_VALID = {9}

# LDAP result codes used below.
_SUCCESS = 0
_STRONGER_AUTH_REQUIRED = 8
_REFERRAL = 10
_CONFIDENTIALITY_REQUIRED = 13
_NO_SUCH_OBJECT = 32
_INVALID_DN_SYNTAX = 34
_INVALID_CREDENTIALS = 49
_INSUFFICIENT_ACCESS = 50


class DirectoryError(UserError):
    """Reaching or reading an AD directory failed; ``stage`` says where."""

    kind = "directory"

    def __init__(
        self,
        stage: Stage,
        message: str,
        *,
        reason: AdBindReason | None = None,
        result_code: int | None = None,
        data_code: str | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage: Stage = stage
        # The setting to fix when it is not the one the stage suggests (a DC that
        # accepts the connection and never answers fails at TLS or the bind, but the
        # port or the TLS mode is what is wrong): "port", "server", ...; None: the stage's.
        self.setting = setting
        self.reason = reason
        self.result_code = result_code
        # AD's raw ``data`` code of a refused bind (lower-case hex), known or
        # not: ``reason`` falls back to INVALID_CREDENTIALS for an unknown one,
        # and a login check must not report a refusal it does not understand
        # (e.g. 80090346, channel binding) as a wrong password.
        self.data_code = data_code

    def __repr__(self) -> str:
        return f"DirectoryError(stage={self.stage!r}, message={str(self)!r})"


class SearchCancelled(UserError):
    """A paged read was stopped because its cancel event was set."""

    kind = "cancelled"

    def __init__(self, entries_read: int = 0) -> None:
        super().__init__(ngettext("The directory read was cancelled after {n} entry.",
                                  "The directory read was cancelled after {n} entries.", entries_read).format(n=entries_read))
        self.entries_read = entries_read


# ---------------------------------------------------------------------------
# Small helpers


def escape_filter_value(value: str | bytes) -> str:
    """A value made safe to put inside an LDAP filter (RFC 4515).

    ``str`` values get ``\\ * ( ) NUL`` escaped; ``bytes`` (an objectGUID, a SID)
    are escaped octet by octet.
    """
    if isinstance(value, (bytes, bytearray)):
        return escape_bytes(bytes(value))
    return escape_filter_chars(value)


def guid_to_str(value: bytes) -> str:
    """objectGUID bytes (little-endian mixed, as AD stores them) -> canonical lower-case GUID."""
    if not isinstance(value, (bytes, bytearray)) or len(value) != 16:
        raise ValueError("an objectGUID is exactly 16 bytes")
    return str(uuid.UUID(bytes_le=bytes(value)))


def guid_filter_value(guid: str) -> str:
    """A GUID string as an escaped filter value, for ``(objectGUID=...)``."""
    return escape_bytes(uuid.UUID(guid).bytes_le)


def _where(directory: DirectorySettings) -> str:
    return f"{directory.server}:{directory.effective_port}"


def _port_hint(mode: str, port: int) -> str:
    """A sentence on a port that does not go with the TLS mode, or ""."""
    if mode == "ldaps" and port in (389, 3268):
        return _("Port {port} is plain LDAP, not LDAPS: use port 636 for LDAPS, "
                 "or keep {port} and choose StartTLS.").format(port=port)
    if mode in ("starttls", "plain") and port in (636, 3269):
        return _("Port {port} is the LDAPS port (TLS from the first byte): choose LDAPS, "
                 "or use port 389 for StartTLS.").format(port=port)
    return ""


def _seconds(value: float) -> str:
    """A timeout as ``{:g}`` writes it (10, 0.5), with the language's decimal mark."""
    return number(value, len(f"{value:g}".partition(".")[2]))


def _sentences(*sentences: str) -> str:
    """Whole sentences, each translated on its own, one after the other (the empty ones left out)."""
    return " ".join(sentence for sentence in sentences if sentence)


#: The port a TLS mode usually uses, for "(usually ...)".
_USUAL_PORT = {
    "ldaps": N_("636 for LDAPS"),
    "starttls": N_("389 for StartTLS"),
    "plain": N_("389 for plain LDAP"),
}


# ---------------------------------------------------------------------------
# TLS


class _ValidatingTls(Tls):
    """ldap3 ``Tls`` that uses our own SSLContext and remembers why TLS failed.

    The context checks the certificate chain and the host name itself
    (OpenSSL's own check, against ``tls_server_name`` or the server), with
    TLS 1.2 as the minimum: Server 2022 DCs are seen offering 1.2 only, so 1.3
    is not required. Keeping the original ``ssl`` exception (ldap3 flattens it
    into a string) lets us tell an untrusted CA from a name mismatch.
    """

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context
        self._server_hostname = server_hostname
        self.attempted = False
        self.failure: BaseException | None = None

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:  # ldap3 API
        self.attempted = True
        try:
            connection.socket = self._context.wrap_socket(
                connection.socket,
                server_side=False,
                do_handshake_on_connect=do_handshake,
                server_hostname=self._server_hostname,
            )
        except BaseException as exc:  # noqa: BLE001 - remembered, re-raised for ldap3
            self.failure = exc
            raise


def _tls_context(directory: DirectorySettings) -> ssl.SSLContext:
    ca_file = directory.ca_file
    if ca_file:
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except FileNotFoundError:
            raise DirectoryError(
                "tls",
                _("The CA certificate file '{path}' does not exist. Give the path of the CA "
                  "certificate that issued the DC's certificate (PEM or DER).").format(path=ca_file),
            ) from None
        except PermissionError:
            raise DirectoryError(
                "tls", _("The CA certificate file '{path}' cannot be read (permission denied).").format(path=ca_file)
            ) from None
        except (ssl.SSLError, ValueError, OSError):
            # Windows exports certificates as DER (.cer) just as often as PEM.
            try:
                with open(ca_file, "rb") as handle:
                    der = handle.read()
                context = ssl.create_default_context(cadata=der)
            except (ssl.SSLError, ValueError, OSError, TypeError):
                raise DirectoryError(
                    "tls",
                    _("The file '{path}' holds no CA certificate that can be read (expected a "
                      "PEM or DER certificate). Export the issuing CA's certificate again.").format(path=ca_file),
                ) from None
    else:
        context = ssl.create_default_context()  # the system's trusted CAs
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


_STARTTLS_REQUEST = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"


def _certificate_names(directory: DirectorySettings, timeout: float) -> list[str]:
    """The DNS names on the DC's certificate (chain checked, name not): for messages."""
    try:
        context = _tls_context(directory)
        context.check_hostname = False
        with socket.create_connection((directory.server, directory.effective_port), timeout=timeout) as raw:
            if directory.tls == "starttls":
                raw.sendall(_STARTTLS_REQUEST)
                raw.recv(4096)
            with context.wrap_socket(raw) as sock:
                cert = sock.getpeercert() or {}
    except (OSError, ssl.SSLError, DirectoryError):
        return []
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    if not names:
        for rdn in cert.get("subject", ()):
            names.extend(value for key, value in rdn if key == "commonName")
    return names


def _tls_failure(directory: DirectorySettings, failure: BaseException | None, timeout: float) -> DirectoryError:
    where = _where(directory)
    hint = _port_hint(directory.tls, directory.effective_port)
    expected = directory.tls_server_name or directory.server
    if isinstance(failure, ssl.SSLCertVerificationError):
        code = failure.verify_code
        if code in _CERT_NAME_MISMATCH:
            names = _certificate_names(directory, timeout)
            name = names[0].lower() if names else "dc1.example.com"
            issued = (
                _("it is issued to {names}").format(names=", ".join(names)) if names else _("it names another host")
            )
            if is_ip_address(expected):
                why = _("The DC's certificate does not match the address '{address}': {issued}. "
                        "DC certificates carry the DC's full DNS name (FQDN), never its IP address.").format(
                    address=expected, issued=issued)
            else:
                why = _("The DC's certificate does not match the name '{name}': {issued}.").format(
                    name=expected, issued=issued)
            return DirectoryError(
                "tls",
                _sentences(why, _("Give the server by that name ({name}), or keep '{server}' and set the TLS server "
                                  "name to the name on the certificate{option}.").format(
                    name=name, server=directory.server, option=option("tls-server-name", name))),
                setting="tls_server_name" if is_ip_address(directory.server) or directory.tls_server_name else "server",
            )
        if code in _CERT_UNTRUSTED:
            source = (
                _("the CA file '{path}'").format(path=directory.ca_file)
                if directory.ca_file
                else _("this machine's trusted CAs (no CA file is set)")
            )
            return DirectoryError(
                "tls",
                _("The certificate of {where} is not trusted: its issuer is not in {source} "
                  "({reason}). Give the certificate of the CA that issued the DC's "
                  "certificate (your enterprise root CA, PEM or DER) as the CA file{option}.").format(
                    where=where, source=source, reason=failure.verify_message,
                    option=option("ca-file", "/path/to/ca.pem")),
                setting="ca_file",
            )
        if code in _CERT_EXPIRED:
            return DirectoryError(
                "tls",
                _("The certificate of {where} has expired (or this machine's clock is wrong). "
                  "Renew the DC's certificate, or check the date and time here.").format(where=where),
            )
        if code in _CERT_NOT_YET_VALID:
            return DirectoryError(
                "tls",
                _("The certificate of {where} is not valid yet: check this machine's date and time.").format(
                    where=where),
            )
        return DirectoryError(
            "tls",
            _("The certificate of {where} was refused: {reason}. Check the DC's certificate and the CA file.").format(
                where=where, reason=failure.verify_message),
        )
    if isinstance(failure, (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError, ConnectionAbortedError)):
        return DirectoryError(
            "tls",
            _sentences(
                _("{where} closed the connection during the TLS handshake: it does not seem to speak "
                  "LDAPS on this port.").format(where=where)
                if directory.tls == "ldaps"
                else _("{where} closed the connection during the TLS handshake: it does not seem to speak "
                       "TLS after StartTLS on this port.").format(where=where),
                hint,
            ),
            setting="port",  # not TLS on this port: the port or the TLS mode is wrong, not the certificate
        )
    if isinstance(failure, (socket.timeout, TimeoutError)):
        return _silent(directory, timeout, "handshake", "tls")
    if isinstance(failure, ssl.SSLError):
        reason = getattr(failure, "reason", None) or str(failure)
        if reason in ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"):
            return DirectoryError(
                "tls", _sentences(_("{where} did not answer with TLS ({reason}).").format(where=where, reason=reason),
                                  hint), setting="port"
            )
        if reason in ("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"):
            return DirectoryError(
                "tls",
                _("{where} offers no TLS version this agent accepts (TLS 1.2 or newer is required; "  # not a count
                  "{reason}). Enable TLS 1.2 on the DC.").format(where=where, reason=reason),
            )
        return DirectoryError(
            "tls",
            _sentences(_("The TLS handshake with {where} failed ({reason}). Check that the DC has a valid "
                         "certificate for LDAP over TLS.").format(where=where, reason=reason), hint),
            setting="port" if hint else None,
        )
    return DirectoryError(
        "tls", _sentences(_("The TLS connection with {where} failed.").format(where=where), hint),
        setting="port" if hint else None,
    )


# ---------------------------------------------------------------------------
# DNS and TCP


def _resolve(directory: DirectorySettings, timeout: float) -> None:
    host = directory.server
    if is_ip_address(host):
        return
    outcome: dict[str, BaseException | None] = {}

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, directory.effective_port, type=socket.SOCK_STREAM)
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    # getaddrinfo has no timeout of its own: a broken resolver must not hang the caller.
    worker = threading.Thread(target=lookup, name=f"dns-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if "error" not in outcome:
        raise DirectoryError(
            "dns",
            _("Looking up the AD server name '{host}' in DNS took more than {seconds} s. "
              "Check this machine's DNS servers, or give the DC's IP address (then set the TLS "
              "server name to the name on the DC's certificate).").format(host=host, seconds=_seconds(timeout)),
        )
    error = outcome["error"]
    if error is None:
        return
    if isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN:
        detail = _("the DNS server did not answer (temporary failure)")
    else:
        detail = _("no such name")
    raise DirectoryError(
        "dns",
        _("The AD server name '{host}' was not found in DNS ({detail}). Check the spelling "
          "(give the DC's name or the domain's name, without LDAP:// and without a port), or "
          "give the DC's IP address and set the TLS server name to the name on its certificate.").format(
            host=host, detail=detail),
    )


def _tcp_failure(directory: DirectorySettings, timeout: float, open_error: str = "") -> DirectoryError:
    where = _where(directory)
    hint = _port_hint(directory.tls, directory.effective_port)
    expected = _(_USUAL_PORT[directory.tls])
    timed_out = DirectoryError(
        "tcp",
        _sentences(_("No answer from {where} within {seconds} s: a firewall may be dropping the "
                     "connection, or the address or port is wrong (usually {usual}).").format(
            where=where, seconds=_seconds(timeout), usual=expected), hint),
    )
    if "timed out" in open_error:  # ldap3 already waited the whole timeout: don't wait again
        return timed_out
    # ldap3 reports socket errors as flat strings: one plain connect() says what happened.
    try:
        with socket.create_connection((directory.server, directory.effective_port), timeout=timeout):
            pass
    except (socket.timeout, TimeoutError):
        return timed_out
    except ConnectionRefusedError:
        return DirectoryError(
            "tcp",
            _sentences(_("The connection to {where} was refused: nothing listens on that port. Is it the right "
                         "port for the TLS mode (usually {usual})? Is the DC's LDAP service running?").format(
                where=where, usual=expected), hint),
        )
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return DirectoryError(
                "tcp",
                _("{server} cannot be reached from this machine (no route to host). "
                  "Check the address and the network.").format(server=directory.server),
            )
        return DirectoryError(
            "tcp", _sentences(_("Cannot connect to {where} ({reason}).").format(where=where, reason=exc.strerror or exc),
                              hint)
        )
    return DirectoryError(
        "tcp",
        _sentences(_("The connection to {where} failed while opening, although the port accepts "
                     "connections.").format(where=where), hint),
    )


# ---------------------------------------------------------------------------
# Connecting


def _result(conn: Connection) -> tuple[int, str, str]:
    result = conn.result or {}
    return int(result.get("result", -1)), str(result.get("description", "")), str(result.get("message", ""))


def _scrub(conn: Connection) -> None:
    """Remove the bind password from everything ldap3 keeps on the connection."""
    conn.password = None
    conn.request = None
    outstanding = getattr(conn.strategy, "_outstanding", None)
    if isinstance(outstanding, dict):
        for request in outstanding.values():
            if isinstance(request, dict) and "authentication" in request:
                request["authentication"] = None


def close(conn: Connection | None) -> None:
    """Unbind and close, ignoring errors (the connection may be dead already)."""
    if conn is None:
        return
    try:
        conn.unbind()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


def _bind_failure(directory: DirectorySettings, code: int, description: str, message: str) -> DirectoryError:
    user = directory.bind_user
    where = _where(directory)
    if code == _INVALID_CREDENTIALS:
        reason = parse_bind_reason(message)
        text = describe_bind_failure(message)
        if reason is None or reason is AdBindReason.INVALID_CREDENTIALS:
            advice = AdBindReason.INVALID_CREDENTIALS.advice
        else:  # AD reports the account's state only once the password was right
            advice = _sentences(reason.advice, _("(The password itself was accepted.)"))
        return DirectoryError(
            "bind",
            _sentences(_("AD refused the login of '{user}' on {where}: {reason}.").format(
                user=user, where=where, reason=text), advice),
            reason=reason or AdBindReason.INVALID_CREDENTIALS,
            result_code=code,
            data_code=bind_data_code(message),
        )
    if code in (_STRONGER_AUTH_REQUIRED, _CONFIDENTIALITY_REQUIRED):
        return DirectoryError(
            "bind",
            _("{where} refused a password login over plain LDAP: the DC requires signed or encrypted "
              "LDAP (its LDAP signing policy). Use LDAPS (port 636) or StartTLS (port 389): a login "
              "over TLS satisfies that requirement.").format(where=where),
            result_code=code,
        )
    return DirectoryError(
        "bind",
        _("AD refused the login of '{user}' on {where} ({description}, LDAP code {code}).").format(
            user=user, where=where, description=description or _("error"), code=code),
        result_code=code,
    )


def _timed_out(exc: LDAPException) -> bool:
    """Whether ldap3 gave up waiting for an answer (it reports socket timeouts as text)."""
    return isinstance(exc, LDAPResponseTimeoutError) or "timed out" in str(exc)


#: What a silent server did not answer, by step: one whole sentence each.
_SILENT = {
    "handshake": N_("{where} accepts connections but did not answer the TLS handshake within {seconds} s."),  # not a count
    "starttls": N_("{where} accepts connections but did not answer the StartTLS request within {seconds} s."),  # not a count
    "bind": N_("{where} accepts connections but did not answer the login (bind) within {seconds} s."),  # not a count
}
#: What was under way when the connection was lost, by step.
_LOST = {
    "base_dn": N_("{where} closed or dropped the connection during the base DN check."),
    "starttls": N_("{where} closed or dropped the connection during StartTLS."),
    "bind": N_("{where} closed or dropped the connection during the login (bind)."),
}


def _silent(directory: DirectorySettings, timeout: float, what: str, stage: Stage) -> DirectoryError:
    """A server that accepts the connection and never answers: not AD's LDAP on that port, or held by a firewall.

    ``what``: the step it did not answer, a key of :data:`_SILENT`."""
    waited = max(1, math.ceil(timeout))  # what the socket waited: ldap3 rounds its receive timeout up
    return DirectoryError(
        stage,
        _sentences(
            _(_SILENT[what]).format(where=_where(directory), seconds=waited),
            _("A firewall or a load balancer may be holding the connection, or this port is not AD's LDAP for "
              "this TLS mode (usually {usual}).").format(usual=_(_USUAL_PORT[directory.tls])),
            _port_hint(directory.tls, directory.effective_port),
        ),
        setting="port",
    )


def _lost_connection(directory: DirectorySettings, during: str, stage: Stage) -> DirectoryError:
    """``during``: the step under way, a key of :data:`_LOST`."""
    hint = _port_hint(directory.tls, directory.effective_port)
    return DirectoryError(
        stage,
        _sentences(
            _(_LOST[during]).format(where=_where(directory)),
            hint or _("Try again; if it persists, check the DC and the network."),
        ),
        setting="port" if hint else None,
    )


def _root_dse_hint(conn: Connection) -> str:
    try:
        dse = read_root_dse(conn, ("defaultNamingContext", "namingContexts"))
    except DirectoryError:
        return ""
    default = (dse.get("defaultNamingContext") or [""])[0]
    return _("This DC's domain is {domain}.").format(domain=default) if default else ""


def _check_base_dn(conn: Connection, directory: DirectorySettings) -> DirectoryError | None:
    base = directory.base_dn
    try:
        conn.search(base, "(objectClass=*)", search_scope=BASE, attributes=["1.1"])
    except LDAPException:
        return _lost_connection(directory, "base_dn", "base_dn")
    code, description, _message = _result(conn)
    if code == _SUCCESS:
        return None
    if code in (_NO_SUCH_OBJECT, _REFERRAL):
        return DirectoryError(
            "base_dn",
            _sentences(
                _("The base DN '{base}' does not exist on this DC (or this account cannot see it).").format(base=base),
                _root_dse_hint(conn),
                _("Check the base DN, for example DC=example,DC=com or OU=Staff,DC=example,DC=com."),
            ),
            result_code=code,
        )
    if code == _INVALID_DN_SYNTAX:
        return DirectoryError(
            "base_dn",
            _("'{base}' is not a valid DN for the DC. Write it as DC=example,DC=com or "
              "OU=Staff,DC=example,DC=com.").format(base=base),
            result_code=code,
        )
    return DirectoryError(
        "base_dn",
        _("Checking the base DN '{base}' failed ({description}, LDAP code {code}).").format(
            base=base, description=description, code=code),
        result_code=code,
    )


StepCallback = Callable[[str, str], None]

# In-memory directories (the demo's, smartsync_tui/testbed/memory_dc.py) by
# host name: each opens an ldap3 Connection to its own DIT, so every read after
# the connection is the same code as against a DC. Only names under the
# reserved ".invalid" TLD (RFC 2606, never resolvable) may be registered: no
# real setting can be routed into one.
InMemoryOpener = Callable[..., Connection]
_IN_MEMORY: dict[str, InMemoryOpener] = {}
_IN_MEMORY_TLD = ".invalid"


def register_in_memory(host: str, opener: InMemoryOpener) -> None:
    """Route :func:`connect` for ``host`` to ``opener(**connection_options)``."""
    name = host.strip().lower()
    if not name.endswith(_IN_MEMORY_TLD):
        raise ValueError(f"an in-memory directory's host must end in {_IN_MEMORY_TLD}: {host!r}")
    _IN_MEMORY[name] = opener


def unregister_in_memory(host: str) -> None:
    _IN_MEMORY.pop(host.strip().lower(), None)


def connect(
    directory: DirectorySettings,
    password: SecretStr,
    *,
    timeout: float = 10.0,
    check_base_dn: bool = True,
    on_step: StepCallback | None = None,
) -> Connection:
    """A bound, read-only ldap3 connection to ``directory``, or :class:`DirectoryError`.

    TLS modes: ``ldaps`` (port 636 by default, TLS from the first byte),
    ``starttls`` (389, StartTLS before the bind), ``plain`` (389, no TLS: only
    when chosen explicitly). Certificates are always validated: against
    ``directory.ca_file`` when given, else the system's CAs; the host name is
    checked against ``tls_server_name`` when given (a DC certificate carries
    the DC's FQDN, never an IP), else against ``server``.

    The connection does not chase referrals (that would send the credentials
    to other servers), does not range-retrieve by itself (``auto_range`` off)
    and omits attributes an entry does not have. Its password is wiped after
    the bind: to log in again, call :func:`connect` again.
    ``on_step(stage, detail)`` is called after each stage that succeeded.
    """
    step = on_step or (lambda stage, detail: None)
    if not password.get_secret_value():
        raise DirectoryError(
            "bind",
            _("No password is set for '{user}': an empty password would be an "
              "anonymous login. Set the account's password.").format(user=directory.bind_user),
        )
    in_memory = _IN_MEMORY.get(directory.server.lower())
    mode = directory.tls
    tls: _ValidatingTls | None = None
    if in_memory is None:
        _resolve(directory, timeout)
        step("dns", "" if is_ip_address(directory.server) else _("{server} resolved").format(server=directory.server))
        if mode != "plain":
            tls = _ValidatingTls(_tls_context(directory), directory.tls_server_name or directory.server)
    # The password goes to ldap3 as UTF-8 bytes, sent exactly as typed. A str
    # would go through SASLprep (RFC 4013), which maps or rejects characters
    # (NFKC turns "²" into "2", a no-break space into a space, drops soft
    # hyphens); AD compares the password as it was set, so such a password
    # would never log in. Checked against Samba with "Senha²-Forte!".
    options: dict[str, Any] = dict(
        user=directory.bind_user,
        password=password.get_secret_value().encode("utf-8"),
        authentication=SIMPLE,
        raise_exceptions=False,
        read_only=True,
        auto_referrals=False,
        auto_range=False,
        return_empty_attributes=False,
        check_names=False,
        # ldap3 packs this into SO_RCVTIMEO as a whole number of seconds.
        receive_timeout=max(1, math.ceil(timeout)),
    )
    if in_memory is not None:
        conn = in_memory(**options)
    else:
        server = Server(
            directory.server,
            port=directory.effective_port,
            use_ssl=mode == "ldaps",
            tls=tls,
            get_info=NONE,
            connect_timeout=timeout,
        )
        conn = Connection(server, client_strategy="SYNC", **options)
    failure: DirectoryError | None = None
    try:
        failure = _open_and_bind(conn, directory, tls, timeout, step)
        if failure is None and check_base_dn:
            failure = _check_base_dn(conn, directory)
            if failure is None:
                step("base_dn", _("{base_dn} exists").format(base_dn=directory.base_dn))  # not a count
    except BaseException:
        close(conn)
        raise
    finally:
        _scrub(conn)
    if failure is not None:
        close(conn)
        raise failure
    return conn


def _open_and_bind(
    conn: Connection,
    directory: DirectorySettings,
    tls: _ValidatingTls | None,
    timeout: float,
    step: StepCallback,
) -> DirectoryError | None:
    mode = directory.tls
    where = _where(directory)
    # 1. TCP (and, for LDAPS, the TLS handshake)
    open_error = ""
    try:
        conn.open(read_server_info=False)
    except LDAPException as exc:
        open_error = str(exc) or type(exc).__name__  # socket errors only: no credentials here
    if open_error:
        if tls is not None and tls.attempted:
            step("tcp", _("{where} accepts connections").format(where=where))  # not a count
            return _tls_failure(directory, tls.failure, timeout)
        return _tcp_failure(directory, timeout, open_error)
    step("tcp", _("{where} accepts connections").format(where=where))  # not a count
    if mode == "ldaps":
        step("tls", _("LDAPS, certificate valid for {name}").format(name=directory.tls_server_name or directory.server))

    # 2. StartTLS
    if mode == "starttls":
        try:
            started = conn.start_tls(read_server_info=False)
        except LDAPException as exc:
            if _timed_out(exc) and (tls is None or tls.failure is None):
                return _silent(directory, timeout, "starttls", "tls")
            started = False
        if not started:
            if tls is not None and tls.failure is not None:
                return _tls_failure(directory, tls.failure, timeout)
            code, description, _message = _result(conn)
            if code > 0:
                return DirectoryError(
                    "tls",
                    _("{where} refused StartTLS ({description}, LDAP code {code}): the DC may have "
                      "no certificate for LDAP. Use LDAPS or install a DC certificate.").format(
                        where=where, description=description, code=code),
                    result_code=code,
                )
            return _lost_connection(directory, "starttls", "tls")
        step("tls", _("StartTLS, certificate valid for {name}").format(name=directory.tls_server_name or directory.server))

    # 3. Bind
    try:
        bound = conn.bind(read_server_info=False)
    except LDAPException as exc:
        if _timed_out(exc):
            return _silent(directory, timeout, "bind", "bind")
        return _lost_connection(directory, "bind", "tls" if _port_hint(mode, directory.effective_port) else "bind")
    if not bound:
        code, description, message = _result(conn)
        if code < 0:
            return _lost_connection(directory, "bind", "bind")
        return _bind_failure(directory, code, description, message)
    step("bind", _("logged in as {user}").format(user=directory.bind_user))
    return None


def read_root_dse(
    conn: Connection,
    attributes: Sequence[str] = (
        "dnsHostName",
        "defaultNamingContext",
        "namingContexts",
        "highestCommittedUSN",
        "dsServiceName",
        "supportedControl",
    ),
) -> dict[str, list[str]]:
    """The DC's rootDSE attributes, as lists of strings (missing ones are absent)."""
    try:
        conn.search("", "(objectClass=*)", search_scope=BASE, attributes=list(attributes))
    except LDAPException:
        failure = DirectoryError(
            "search", _("The connection to {where} was lost while reading its rootDSE.").format(where=_describe_conn(conn))
        )
    else:
        failure = None
        code, description, _message = _result(conn)
        if code != _SUCCESS:
            failure = DirectoryError(
                "search", _("Reading the DC's rootDSE failed ({description}, LDAP code {code}).").format(
                    description=description, code=code),
                result_code=code,
            )
    if failure is not None:
        raise failure
    for entry in conn.response or ():
        if entry.get("type") == "searchResEntry":
            raw = entry.get("raw_attributes") or {}
            return {
                str(name): [bytes(v).decode("utf-8", "replace") for v in values]
                for name, values in raw.items()
            }
    return {}


# ---------------------------------------------------------------------------
# Paged search


def _describe_conn(conn: Connection) -> str:
    server = conn.server
    return f"{server.host}:{server.port}"


def _raw_entry_decoder(original: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """ldap3's response decoder, except that search entries keep only raw values.

    ldap3 decodes every entry twice (``raw_attributes`` and str ``attributes``,
    through a case-insensitive dict and a config lookup per value); reading
    10,000 users that way costs about a quarter of the whole read. Entries are
    taken straight from ldap3's own BER decoding (the structure its
    ``raw_attributes_to_dict_fast`` reads); anything unexpected falls back to
    ldap3's decoder.
    """

    def decode(message: dict[str, Any]) -> dict[str, Any]:
        if message.get("protocolOp") == 4:  # searchResEntry
            try:
                payload = message["payload"]
                attributes = {
                    attribute[3][0][3].decode("utf-8"): [bytes(value[3]) for value in attribute[3][1][3]]
                    for attribute in payload[1][3]
                }
                dn = payload[0][3].decode("utf-8")
            except (TypeError, IndexError, KeyError, AttributeError, UnicodeDecodeError):
                return original(message)
            return {"type": "searchResEntry", "dn": dn, "raw_dn": payload[0][3],
                    "raw_attributes": attributes, "attributes": attributes}
        return original(message)

    return decode


@contextlib.contextmanager
def _raw_entries(conn: Connection) -> Iterator[None]:
    """Use :func:`_raw_entry_decoder` for the searches made inside this block only."""
    strategy = conn.strategy
    if not getattr(conn, "fast_decoder", False) or "decode_response_fast" in vars(strategy):
        yield
        return
    strategy.decode_response_fast = _raw_entry_decoder(strategy.decode_response_fast)
    try:
        yield
    finally:
        del strategy.decode_response_fast


def _abandon_paged(conn: Connection, base_dn: str, ldap_filter: str, cookie: bytes | None) -> None:
    """Tell the server to drop a paged search's state (a page of size 0)."""
    if not cookie:
        return
    try:
        conn.search(
            base_dn, ldap_filter, search_scope=SUBTREE, attributes=["1.1"],
            controls=[paged_search_control(False, 0, cookie)],
        )
    except LDAPException:
        pass


def paged_search(
    conn: Connection,
    base_dn: str,
    ldap_filter: str,
    attributes: Sequence[str],
    *,
    page_size: int = 500,
    cancel: threading.Event | None = None,
    scope: Literal["subtree", "onelevel", "base"] = "subtree",
    controls: Sequence[tuple[str, bool, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream the entries matching ``ldap_filter`` under ``base_dn``, one page at a time.

    Yields one dict per entry: ``"dn"`` (str) and, for each attribute the
    entry has, its raw values as ``list[bytes]`` under the name as requested
    (``"objectGUID"``), or as the server returned it for names not requested
    literally (``"member;range=0-1499"``, or with ``"*"``). Absent attributes
    are absent keys.

    Only one page is held at a time. ``cancel`` is checked before each page:
    once set, the server is told to drop the search and :class:`SearchCancelled`
    is raised. Any LDAP error, mid-read included, raises
    :class:`DirectoryError` (stage ``search``; ``base_dn`` when the base does
    not exist): a read that failed never ends like a complete one.
    ``controls`` are extra request controls, e.g. ``(SHOW_DELETED_OID, True, None)``.
    """
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE} (AD's MaxPageSize)")
    search_scope = {"subtree": SUBTREE, "onelevel": LEVEL, "base": BASE}[scope]
    wanted = {name.lower(): name for name in attributes if ";" not in name and name not in ("*", "+")}
    extra = list(controls or ())
    cookie: bytes | None = None
    read = 0
    while True:
        if cancel is not None and cancel.is_set():
            _abandon_paged(conn, base_dn, ldap_filter, cookie)
            raise SearchCancelled(read)
        try:
            with _raw_entries(conn):
                conn.search(
                    base_dn,
                    ldap_filter,
                    search_scope=search_scope,
                    attributes=list(attributes),
                    paged_size=page_size,
                    paged_cookie=cookie,
                    controls=extra or None,
                )
        except LDAPException as exc:
            failure = _search_exception(conn, base_dn, ldap_filter, read, exc)
        else:
            failure = None
        if failure is not None:
            raise failure
        code, description, _message = _result(conn)
        if code != _SUCCESS:
            raise _search_failed(conn, base_dn, ldap_filter, read, code, description)
        response = conn.response or []
        result = conn.result or {}
        try:
            cookie = result["controls"][PAGED_RESULTS_OID]["value"]["cookie"]
        except (KeyError, TypeError):
            cookie = None
        conn.response = None  # only this generator holds the page now
        for entry in response:
            if entry.get("type") != "searchResEntry":
                continue  # continuation references to other partitions
            item: dict[str, Any] = {"dn": entry["dn"]}
            for name, values in entry["raw_attributes"].items():
                item[wanted.get(name.lower(), name)] = values
            read += 1
            yield item
        if not cookie:
            return


def _search_exception(
    conn: Connection, base_dn: str, ldap_filter: str, read: int, exc: LDAPException
) -> DirectoryError:
    if isinstance(exc, (LDAPCommunicationError, LDAPResponseTimeoutError)):
        what = _("no answer in time") if isinstance(exc, LDAPResponseTimeoutError) else type(exc).__name__
        return DirectoryError(
            "search",
            ngettext(
                "The connection to {where} was lost while reading '{base_dn}' after {n} entry ({reason}). "
                "The read is incomplete and must not be used as a full list; try again.",
                "The connection to {where} was lost while reading '{base_dn}' after {n} entries ({reason}). "
                "The read is incomplete and must not be used as a full list; try again.",
                read,
            ).format(where=_describe_conn(conn), base_dn=base_dn, n=read, reason=what),
        )
    # Refused before anything was sent (a malformed filter, a bad attribute name):
    # ldap3's text names the problem and carries no credentials.
    return DirectoryError(
        "search",
        _("The search of '{base_dn}' with the filter {filter} could not be sent: {reason}. "
          "Correct the filter or the attribute list.").format(base_dn=base_dn, filter=ldap_filter, reason=exc),
    )


def _search_failed(
    conn: Connection, base_dn: str, ldap_filter: str, read: int, code: int, description: str
) -> DirectoryError:
    if code in (_NO_SUCH_OBJECT, _REFERRAL) and read == 0:
        return DirectoryError(
            "base_dn",
            _("The base DN '{base_dn}' does not exist on {where} (or this account "
              "cannot see it). Check the directory's base DN.").format(base_dn=base_dn, where=_describe_conn(conn)),
            result_code=code,
        )
    if code == 87 or description == "filterError":
        return DirectoryError(
            "search", _("The DC refused the LDAP filter {filter} as invalid: correct it.").format(filter=ldap_filter),
            result_code=code,
        )
    return DirectoryError(
        "search",
        ngettext(
            "Reading '{base_dn}' from {where} failed after {n} entry ({description}, LDAP code {code}). "
            "The read is incomplete and must not be used as a full list.",
            "Reading '{base_dn}' from {where} failed after {n} entries ({description}, LDAP code {code}). "
            "The read is incomplete and must not be used as a full list.",
            read,
        ).format(base_dn=base_dn, where=_describe_conn(conn), n=read, description=description or _("error"), code=code),
        result_code=code,
    )


def _sample(
    conn: Connection, base_dn: str, ldap_filter: str, attributes: Sequence[str], limit: int,
    controls: Sequence[tuple[str, bool, Any]] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """The first page only (``limit`` entries) and whether there are more."""
    try:
        conn.search(
            base_dn, ldap_filter, search_scope=SUBTREE, attributes=list(attributes),
            paged_size=limit, controls=list(controls) if controls else None,
        )
    except LDAPException as exc:
        failure = _search_exception(conn, base_dn, ldap_filter, 0, exc)
    else:
        failure = None
    if failure is not None:
        raise failure
    code, description, _message = _result(conn)
    if code != _SUCCESS:
        raise _search_failed(conn, base_dn, ldap_filter, 0, code, description)
    try:
        cookie = (conn.result or {})["controls"][PAGED_RESULTS_OID]["value"]["cookie"]
    except (KeyError, TypeError):
        cookie = None
    entries = [
        {"dn": e["dn"], **e["raw_attributes"]}
        for e in (conn.response or [])
        if e.get("type") == "searchResEntry"
    ]
    _abandon_paged(conn, base_dn, ldap_filter, cookie)
    return entries, bool(cookie)


# ---------------------------------------------------------------------------
# The directory test


@dataclass
class DirectoryTestStep:
    """One line of the test: a stage, whether it passed (None: not run or unknown), details."""

    name: str
    ok: bool | None
    detail: str


@dataclass
class DirectoryTestReport:
    directory_id: str
    server: str
    port: int
    tls: str
    ok: bool = False
    failed_stage: Stage | None = None
    #: The setting to fix when it is not the failed stage's own (DirectoryError.setting).
    failed_setting: str | None = None
    message: str = ""
    steps: list[DirectoryTestStep] = field(default_factory=list)
    dns_host_name: str | None = None
    default_naming_context: str | None = None
    base_dn_exists: bool | None = None
    users_sampled: int | None = None
    users_more: bool = False
    groups_sampled: int | None = None
    groups_more: bool = False
    can_read_users: bool | None = None
    can_read_groups: bool | None = None
    missing_user_attributes: list[str] = field(default_factory=list)
    can_read_deleted_objects: bool | None = None
    deleted_objects_note: str = ""
    warnings: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def lines(self) -> list[str]:
        """The report as short lines for a terminal."""
        # The stage names (dns, tcp, bind, ...) are the report's codes, as in --json: not translated.
        words = {True: "ok", False: _("FAIL"), None: "--"}
        warn = _("WARN")
        width = max(len(warn), *(len(word) for word in words.values()))
        out = [f"{words[s.ok].ljust(width)} {s.name}: {s.detail}" for s in self.steps]
        out.extend(f"{warn.ljust(width)} {w}" for w in self.warnings)
        out.append(self.message)
        return out


_REQUIRED_USER_ATTRIBUTES = ("objectGUID", "userAccountControl", "givenName", "sn", "mail")
_DELETED_LOSS = N_(
    "Without it, users deleted in AD are noticed only at the next full reconcile (daily by "
    "default), where they are disabled in Identity; delta syncs cannot see deletions."
)


def _count(n: int, more: bool) -> str:
    return f"{n}+" if more else str(n)


def _users(n: int, more: bool) -> str:
    """"5 users", "100+ users": a sample's size (more: the sample was cut at its page)."""
    return ngettext("{count} user", "{count} users", n).format(count=_count(n, more))


def _groups(n: int, more: bool) -> str:
    return ngettext("{count} group", "{count} groups", n).format(count=_count(n, more))


def test_directory(
    directory: DirectorySettings,
    password: SecretStr,
    *,
    timeout: float = 10.0,
    sample_size: int = 100,
) -> DirectoryTestReport:
    """Test a directory stage by stage and say what the account can and cannot read.

    Never raises :class:`DirectoryError`: a failed stage ends the report with
    ``ok=False``, ``failed_stage`` and the error's message. Reads only samples
    (one page of ``sample_size``), never the whole directory.
    """
    started = time.monotonic()
    report = DirectoryTestReport(
        directory_id=directory.id, server=directory.server, port=directory.effective_port, tls=directory.tls
    )

    def on_step(stage: str, detail: str) -> None:
        report.steps.append(DirectoryTestStep(stage, True, detail or _("not needed (an IP address)")))
        if stage == "base_dn":
            report.base_dn_exists = True

    conn: Connection | None = None
    try:
        try:
            conn = connect(directory, password, timeout=timeout, on_step=on_step)
        except DirectoryError as error:
            report.failed_stage = error.stage
            report.failed_setting = error.setting
            report.message = str(error)
            report.steps.append(DirectoryTestStep(error.stage, False, str(error)))
            if error.stage == "base_dn":
                report.base_dn_exists = False
            return report
        try:
            _probe_reads(conn, directory, report, sample_size)
        except DirectoryError as error:
            report.failed_stage = error.stage
            report.message = str(error)
            report.steps.append(DirectoryTestStep(error.stage, False, str(error)))
            return report
        report.ok = True
        report.message = _sentences(
            _("Connected to {dc} as {user}: {users} and {groups} visible under {base_dn}.").format(
                dc=report.dns_host_name or directory.server,
                user=directory.bind_user,
                users=_users(report.users_sampled or 0, report.users_more),
                groups=_groups(report.groups_sampled or 0, report.groups_more),
                base_dn=directory.base_dn,
            ),
            _("Some checks need attention (see warnings).") if report.warnings else "",
        )
        return report
    finally:
        close(conn)
        report.elapsed_seconds = round(time.monotonic() - started, 3)


def _probe_reads(conn: Connection, directory: DirectorySettings, report: DirectoryTestReport, limit: int) -> None:
    dse = read_root_dse(conn, ("dnsHostName", "defaultNamingContext"))
    report.dns_host_name = (dse.get("dnsHostName") or [None])[0]
    report.default_naming_context = (dse.get("defaultNamingContext") or [None])[0]
    report.steps.append(
        DirectoryTestStep(
            "rootdse", True,
            _("DC {dc}, domain {domain}").format(dc=report.dns_host_name or "?",
                                                 domain=report.default_naming_context or "?"),
        )
    )

    user_filter = directory.user_filter or DEFAULT_USER_FILTER
    users, more = _sample(conn, directory.base_dn, user_filter, _REQUIRED_USER_ATTRIBUTES, limit)
    report.users_sampled, report.users_more = len(users), more
    report.can_read_users = bool(users)
    if users:
        lowered = [{k.lower() for k in u} for u in users]
        report.missing_user_attributes = [
            name for name in _REQUIRED_USER_ATTRIBUTES if not any(name.lower() in keys for keys in lowered)
        ]
        detail = ngettext("{users} matches {filter}", "{users} match {filter}", len(users)).format(
            users=_users(len(users), more), filter=user_filter)
        if report.missing_user_attributes:
            missing = ", ".join(report.missing_user_attributes)
            report.warnings.append(
                ngettext(
                    "The {n} sampled user does not show {attributes}: it has none, or this account may not "
                    "read it. Users without a required attribute are skipped.",
                    "None of the {n} sampled users shows {attributes}: they have none, or this account may not "
                    "read it. Users without a required attribute are skipped.",
                    len(users),
                ).format(n=len(users), attributes=missing)
            )
        report.steps.append(DirectoryTestStep("users", True, detail))
    else:
        report.steps.append(
            DirectoryTestStep("users", False, _("no user under {base_dn} matches {filter}").format(  # not a count
                base_dn=directory.base_dn, filter=user_filter))
        )
        report.warnings.append(
            _("No user is visible under {base_dn} with the filter {filter}: the base "
              "DN or the filter selects none, or this account may not read users.").format(
                base_dn=directory.base_dn, filter=user_filter)
        )

    group_filter = directory.group_filter or DEFAULT_GROUP_FILTER
    groups, gmore = _sample(conn, directory.base_dn, group_filter, ("objectGUID",), limit)
    report.groups_sampled, report.groups_more = len(groups), gmore
    report.can_read_groups = bool(groups)
    if groups:
        report.steps.append(DirectoryTestStep("groups", True, ngettext(
            "{groups} matches {filter}", "{groups} match {filter}", len(groups)).format(
                groups=_groups(len(groups), gmore), filter=group_filter)))
    else:
        report.steps.append(
            DirectoryTestStep("groups", False, _("no group under {base_dn} matches {filter}").format(  # not a count
                base_dn=directory.base_dn, filter=group_filter))
        )
        report.warnings.append(
            _("No group is visible under {base_dn} with the filter {filter}: group "
              "links will not be synced.").format(base_dn=directory.base_dn, filter=group_filter)
        )

    domain = report.default_naming_context or directory.base_dn
    report.can_read_deleted_objects = _can_read_deleted(conn, domain)
    if report.can_read_deleted_objects:
        report.deleted_objects_note = _("Deleted users are detected at each delta sync.")
        report.steps.append(DirectoryTestStep("deleted_objects", True, _("Deleted Objects is readable")))
    else:
        report.deleted_objects_note = _sentences(
            _("This account cannot read the Deleted Objects container (by default only "
              "administrators can; an AD admin can delegate it with dsacls)."),
            _(_DELETED_LOSS),
        )
        report.steps.append(DirectoryTestStep("deleted_objects", False, report.deleted_objects_note))
        report.warnings.append(report.deleted_objects_note)


def _can_read_deleted(conn: Connection, domain_dn: str) -> bool:
    control = [(SHOW_DELETED_OID, True, None)]
    for base in (f"<WKGUID={_DELETED_OBJECTS_WKGUID},{domain_dn}>", f"CN=Deleted Objects,{domain_dn}"):
        try:
            conn.search(base, "(objectClass=*)", search_scope=BASE, attributes=["isDeleted"], controls=control)
        except LDAPException:
            return False
        code, _description, _message = _result(conn)
        if code == _SUCCESS and any(e.get("type") == "searchResEntry" for e in conn.response or ()):
            return True
        if code == _INSUFFICIENT_ACCESS:
            return False
    return False


# Its name starts with "test_": keep pytest from collecting it where it is imported.
test_directory.__test__ = False  # type: ignore[attr-defined]

"""Reaching a DC before LDAP: the TLS context and what a TLS, DNS or TCP failure means.

Every failure becomes a :class:`~smartsync_tui.ad.errors.DirectoryError` whose sentence says
what to fix (the CA file, the server's name in its certificate, the port for the TLS mode).
"""

from __future__ import annotations

import errno
import math
import socket
import ssl
import threading
from typing import Any

from ldap3 import Tls

from smartsync_tui.core.remedy import option
from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.config.validation import is_ip_address
from smartsync_tui.i18n import N_, _, number
from smartsync_tui.ad.errors import DirectoryError, Stage


# OpenSSL verify codes (X509_V_ERR_*) that need their own explanation.
_CERT_UNTRUSTED = {2, 18, 19, 20, 21, 27}
_CERT_NAME_MISMATCH = {62, 64}
_CERT_EXPIRED = {10}
_CERT_NOT_YET_VALID = {9}

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

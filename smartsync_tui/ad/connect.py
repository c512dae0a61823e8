"""Opening a connection to a DC: connect, secure, bind, check the base DN (ldap3).

:func:`connect` opens, secures and binds a connection in the directory's TLS mode and checks
the base DN, raising :class:`~smartsync_tui.ad.errors.DirectoryError` with the stage that
failed (``dns``, ``tcp``, ``tls``, ``bind``, ``base_dn``) and a sentence saying what to do.

Passwords never reach a message, an exception or a repr: ldap3 keeps the bind password on
the connection (its ``repr`` prints it) and in ``conn.request``, so both are wiped after the
bind; every error raised here is built from our own words, and those that follow an ldap3
exception are raised outside the ``except`` block that caught it (no chained context holding
a bind request). ldap3 (2.9.1, unmaintained since 2021) is imported only in this package
(the import-linter contracts in pyproject.toml), so it can be replaced without touching the
engine.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ldap3 import BASE, NONE, SIMPLE, Connection, Server
from ldap3.core.exceptions import LDAPException, LDAPResponseTimeoutError
from pydantic import SecretStr

from smartsync_tui.ad.errors import AdBindReason, bind_data_code, describe_bind_failure, parse_bind_reason
from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.config.validation import is_ip_address
from smartsync_tui.i18n import _
from smartsync_tui.ad.errors import DirectoryError
from smartsync_tui.ad.transport import (
    _ValidatingTls,
    _lost_connection,
    _port_hint,
    _resolve,
    _sentences,
    _silent,
    _tcp_failure,
    _tls_context,
    _tls_failure,
    _where,
)


# LDAP result codes used below.
_SUCCESS = 0
_STRONGER_AUTH_REQUIRED = 8
_REFERRAL = 10
_CONFIDENTIALITY_REQUIRED = 13
_NO_SUCH_OBJECT = 32
_INVALID_DN_SYNTAX = 34
_INVALID_CREDENTIALS = 49
_INSUFFICIENT_ACCESS = 50


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


def _describe_conn(conn: Connection) -> str:
    server = conn.server
    return f"{server.host}:{server.port}"


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

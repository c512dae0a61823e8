"""One login check of pass-through authentication: is this AD user's password right?

Identity sends the login as the user typed it and the password encrypted to
the agent's key (:mod:`smartsync_tui.targets.identity.agent_keys`). The check:

1. refuses at once when the directory talks plain LDAP (the password would
   cross the network in the clear) unless the directory allows it explicitly;
2. finds the user with the directory's own read account, under its base DN and
   with its user filter, so only a user in the sync's scope can log in. The
   login may be ``DOMAIN\\user`` (the domain must be this one's NetBIOS or DNS
   name), ``user@upn`` (a UPN, or the implicit ``sAMAccountName@dns.domain``)
   or a bare sAMAccountName. Nobody found: denied ``unknown_user``;
3. binds **once** as the user's DN with the password, over the directory's TLS
   (LDAPS or StartTLS), and maps AD's answer to a reason from the ``data``
   code of the bind error (52e wrong password, 533 disabled, 775 locked out,
   701 account expired, 532 password expired, 773 must change it, 530 logon
   hours, 531 workstation). A failed bind is never retried: each one counts
   toward the account's lockout. The lookup may be retried once, on a new
   connection (it uses the read account on a pooled connection, which the DC
   or a firewall may have dropped);
4. when the caller gives a deadline, a lookup that ends past it is answered
   ``expired`` without a bind, and the bind waits at most the time left.

The password is held only as a ``SecretStr`` for the bind (ad/connect.py's
``connect`` wipes it from the connection after the bind) and never logged,
stored or returned. A login answered ``unknown_user`` or ``invalid_login`` may
be a password typed into the login field: it is kept masked (its first two
characters and its length). Nothing here imports textual.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from typing import Literal

from ldap3 import SUBTREE, Connection
from ldap3.core.exceptions import LDAPException
from pydantic import SecretStr

from smartsync_tui.ad.errors import NO_SUCH_USER, AdBindReason, reason_of_data_code
from smartsync_tui.ad.reader import domain_dn_of
from smartsync_tui.ad.connect import close, connect, read_root_dse
from smartsync_tui.ad.errors import DirectoryError
from smartsync_tui.ad.search import escape_filter_value
from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.core.text import CONTROL, printable
from smartsync_tui.i18n import N_, _, ngettext, number

log = logging.getLogger("smartsync.login")

Outcome = Literal["allowed", "denied", "error", "expired"]

# The reasons sent to Identity (the API doc lists them); AD's data codes first.
REASON_BY_BIND: dict[AdBindReason, str] = {
    AdBindReason.INVALID_CREDENTIALS: "invalid_credentials",
    AdBindReason.LOGON_HOURS: "logon_hours",
    AdBindReason.WORKSTATION: "workstation_restricted",
    AdBindReason.PASSWORD_EXPIRED: "password_expired",
    AdBindReason.ACCOUNT_DISABLED: "account_disabled",
    AdBindReason.ACCOUNT_EXPIRED: "account_expired",
    AdBindReason.MUST_CHANGE_PASSWORD: "password_must_change",
    AdBindReason.LOCKED_OUT: "account_locked",
}
UNKNOWN_USER = "unknown_user"
INVALID_LOGIN = "invalid_login"
INSECURE_CONNECTION = "insecure_connection"
LDAP_UNAVAILABLE = "ldap_unavailable"
LDAP_REFUSED = "ldap_refused"
UNDECRYPTABLE = "undecryptable"
EXPIRED = "expired"
BAD_COMMAND = "bad_command"

MAX_LOGIN_LENGTH = 256
# Reasons whose login may be a password typed into the login field: kept masked.
MASKED_REASONS = frozenset((UNKNOWN_USER, INVALID_LOGIN))
# What may stand before the backslash of DOMAIN\user: a NetBIOS or DNS domain name.
_DOMAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,254}")
# A pooled read-account connection idle longer than this is not used again:
# DCs drop idle LDAP connections after MaxConnIdleTime (900 s by default) and a
# firewall may drop them silently, so an old one would cost a receive timeout.
MAX_IDLE_SECONDS = 300.0
# The shortest timeout a bind is given when a deadline is near.
MIN_BIND_TIMEOUT = 1.0


@dataclass(frozen=True)
class LoginCheckResult:
    outcome: Outcome
    reason: str | None
    latency_ms: float
    login: str  # as Identity sent it made safe to show, masked for MASKED_REASONS (never the password)
    # What an admin reads in the log beside the reason (which DN, which failure), never a secret.
    detail: str = ""

    def as_api(self) -> dict:
        """The body of ``POST /commands/{id}/result``."""
        return {"outcome": self.outcome, "reason": self.reason, "latency_ms": round(self.latency_ms, 1)}


@dataclass(frozen=True)
class ParsedLogin:
    kind: Literal["down_level", "upn", "sam"]
    name: str  # the sAMAccountName, or the whole UPN
    domain: str = ""  # DOMAIN of DOMAIN\user; the UPN suffix


def shown_login(login: object) -> str:
    """A login as it may appear in a log line or on screen: bounded, no control characters."""
    return printable(login if isinstance(login, str) else repr(login), 80)


def masked_login(login: object) -> str:
    """A login that may be a password typed into the wrong field: its first 2 characters and its length."""
    text = login if isinstance(login, str) else repr(login)
    return ngettext("{start}…({n} char)", "{start}…({n} chars)", len(text)).format(
        start=printable(text[:2]), n=len(text))


def parse_login(login: str) -> ParsedLogin | None:
    """The three login forms Identity may send, or None for anything else."""
    # Controls are looked for before strip(), which would silently drop some (\x1c-\x1f, \x85).
    if CONTROL.search(login):
        return None
    login = login.strip()
    if not login or len(login) > MAX_LOGIN_LENGTH:
        return None
    if "\\" in login:
        domain, _sep, name = login.partition("\\")
        if not name or "\\" in name or "@" in name or not _DOMAIN.fullmatch(domain):
            return None
        return ParsedLogin("down_level", name, domain)
    if "@" in login:
        local, _sep, suffix = login.rpartition("@")
        if not local or not suffix:
            return None
        return ParsedLogin("upn", login, suffix)
    return ParsedLogin("sam", login)


@dataclass(frozen=True)
class DomainNames:
    dns: str  # example.com, from the domain's DN
    netbios: str | None  # EXAMPLE, from the domain's crossRef (None when it cannot be read)

    def matches(self, domain: str) -> bool:
        domain = domain.lower()
        return domain == self.dns.lower() or (self.netbios is not None and domain == self.netbios.lower())


def dns_name_of(domain_dn: str) -> str:
    """``DC=example,DC=com`` -> ``example.com``."""
    parts = [p.split("=", 1)[1] for p in domain_dn.split(",") if p.strip().lower().startswith("dc=")]
    return ".".join(parts)


def read_domain_names(conn: Connection) -> DomainNames:
    domain_dn = domain_dn_of(conn)
    netbios = None
    config = (read_root_dse(conn, ("configurationNamingContext",)).get("configurationNamingContext") or [""])[0]
    if config:
        try:
            conn.search(
                f"CN=Partitions,{config}",
                f"(&(objectClass=crossRef)(nCName={escape_filter_value(domain_dn)}))",
                search_scope=SUBTREE, attributes=["nETBIOSName"], size_limit=1,
            )
            for entry in conn.response or ():
                values = (entry.get("raw_attributes") or {}).get("nETBIOSName") or []
                if entry.get("type") == "searchResEntry" and values:
                    netbios = bytes(values[0]).decode("utf-8", "replace")
        except LDAPException:
            netbios = None  # DOMAIN\user is then accepted with the DNS name only
    return DomainNames(dns_name_of(domain_dn), netbios)


def bind_refusal(exc: DirectoryError, dn: str) -> tuple[Outcome, str, str]:
    """(outcome, reason, detail) for the user's bind that the DC refused (``exc.stage == "bind"``)."""
    code = exc.data_code
    if code == NO_SUCH_USER:
        # The lookup found the user a moment ago (deleted or renamed since). ad_errors reads
        # 525 as a wrong password for the directory test; here the user's existence is no secret.
        return "denied", UNKNOWN_USER, _("{dn}: AD says there is no such user (data code {code})").format(
            dn=dn, code=code)
    if code is not None and reason_of_data_code(code) is None:
        # A refusal we do not understand (e.g. 80090346, channel binding) comes from the
        # DC's policy or set-up, not from the user's password: never "wrong password".
        return "error", LDAP_REFUSED, _("{dn}: AD refused the bind with data code {code} (LDAP code {result})").format(
            dn=dn, code=code, result=exc.result_code)
    if exc.reason is not None:  # a known data code, or result 49 without any
        return "denied", REASON_BY_BIND[exc.reason], dn
    return "error", LDAP_REFUSED, _("{dn}: LDAP code {result}").format(dn=dn, result=exc.result_code)


class _Lookup:
    """A user found by the read account: the DN to bind as."""

    def __init__(self, dn: str | None, detail: str = "") -> None:
        self.dn = dn
        self.detail = detail


class LoginChecker:
    """Checks logins against one directory; safe to call from many threads at once.

    ``service_password`` is the directory's read account's password; its
    connections (for the lookups) are pooled, one per thread in flight at most,
    each with when it was last used.
    """

    def __init__(
        self,
        directory: DirectorySettings,
        service_password: SecretStr,
        user_filter: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.directory = directory
        self.user_filter = user_filter
        self.timeout = timeout
        self._service_password = service_password
        self._pool: queue.LifoQueue[tuple[Connection, float]] = queue.LifoQueue()  # (conn, last used: monotonic)
        self._names: DomainNames | None = None
        self._names_lock = threading.Lock()
        self._closed = False

    # -- the check

    def check(
        self,
        login: str,
        password: SecretStr,
        *,
        received_at: float | None = None,
        deadline_at: float | None = None,
    ) -> LoginCheckResult:
        """One check. ``received_at`` and ``deadline_at`` are ``time.perf_counter()`` values."""
        started = received_at if received_at is not None else time.perf_counter()

        def done(outcome: Outcome, reason: str | None, detail: str = "") -> LoginCheckResult:
            # A user who typed the password as the login gets unknown_user or invalid_login:
            # that "login" is logged, stored and shown only masked.
            shown = masked_login(login) if reason in MASKED_REASONS else shown_login(login)
            return LoginCheckResult(outcome, reason, (time.perf_counter() - started) * 1000, shown, detail)

        if self.directory.tls == "plain" and not self.directory.allow_plain_login_checks:
            return done("error", INSECURE_CONNECTION,
                        _("the directory uses plain LDAP: the password would cross the network in the clear "
                          "(use LDAPS or StartTLS, or allow plain login checks for this directory)"))
        parsed = parse_login(login) if isinstance(login, str) else None
        if parsed is None:
            return done("denied", INVALID_LOGIN, _("not DOMAIN\\user, user@domain or a sAMAccountName"))
        if not password.get_secret_value():
            # An empty password would be an anonymous bind, which AD accepts: never "allowed".
            return done("denied", REASON_BY_BIND[AdBindReason.INVALID_CREDENTIALS], _("empty password"))
        try:
            found = self._find(parsed)
        except DirectoryError as exc:
            return done("error", LDAP_UNAVAILABLE, _("the user could not be looked up: {error}").format(error=exc))
        if found.dn is None:
            return done("denied", UNKNOWN_USER, found.detail)
        timeout = self.timeout
        if deadline_at is not None:
            left = deadline_at - time.perf_counter()
            if left <= 0:
                # The user has given up; a late bind would only count toward a lockout.
                return done("expired", EXPIRED, _("{dn}: the deadline passed during the user lookup").format(dn=found.dn))
            timeout = min(self.timeout, max(MIN_BIND_TIMEOUT, left))
        user = self.directory.model_copy(update={"bind_user": found.dn})
        try:
            # One bind, never retried: a second attempt would count twice toward the lockout.
            close(connect(user, password, timeout=timeout, check_base_dn=False))
        except DirectoryError as exc:
            if exc.stage != "bind":
                return done("error", LDAP_UNAVAILABLE, _("{dn}: the bind could not be made: {error}").format(
                    dn=found.dn, error=exc))
            return done(*bind_refusal(exc, found.dn))
        return done("allowed", None, found.dn)

    # -- finding the user

    def _find(self, parsed: ParsedLogin) -> _Lookup:
        names = self._domain_names()
        if parsed.kind == "down_level":
            if not names.matches(parsed.domain):
                # The domain is not named: DOMAIN\ may be the start of a password typed as the login.
                return _Lookup(None, _("the domain before the backslash is not this directory's"))
            wanted = f"(sAMAccountName={escape_filter_value(parsed.name)})"
        elif parsed.kind == "upn":
            local, _at, suffix = parsed.name.rpartition("@")
            wanted = f"(userPrincipalName={escape_filter_value(parsed.name)})"
            if names.matches(suffix):  # the implicit UPN AD accepts: sAMAccountName@dns.domain
                wanted = f"(|{wanted}(sAMAccountName={escape_filter_value(local)}))"
        else:
            wanted = f"(sAMAccountName={escape_filter_value(parsed.name)})"
        entries = self._search(f"(&{self.user_filter}{wanted})")
        if not entries:
            return _Lookup(None, _("no such user under the base DN with the user filter"))
        if len(entries) > 1 and parsed.kind == "upn":
            exact = [dn for dn, upn in entries if upn.lower() == parsed.name.lower()]
            entries = [(dn, "") for dn in exact] or entries
        if len(entries) > 1:
            return _Lookup(None, ngettext("{n} user matches this login", "{n} users match this login",
                                          len(entries)).format(n=len(entries)))
        return _Lookup(entries[0][0])

    def _search(self, ldap_filter: str) -> list[tuple[str, str]]:
        """(DN, userPrincipalName) of the matching users.

        A failed lookup is tried once more, on a new connection: the pooled
        ones idled as long as the one that failed and are likely as dead (a
        silently dropped one costs a whole receive timeout), so they are all closed.
        """
        for attempt in (1, 2):
            conn = self._take() if attempt == 1 else self._connect()
            try:
                conn.search(self.directory.base_dn, ldap_filter, search_scope=SUBTREE,
                            attributes=["userPrincipalName"], size_limit=3)
            except LDAPException:
                close(conn)
                self._drain()
                if attempt == 2:
                    raise DirectoryError("search", _("the DC dropped the connection during the user lookup")) from None
                continue
            result = conn.result or {}
            code = int(result.get("result", -1))
            if code not in (0, 4):  # 4: sizeLimitExceeded, reported as several users
                close(conn)
                self._drain()
                if attempt == 2 or code not in (-1, 1, 51, 52, 80):
                    raise DirectoryError("search", _("the user lookup failed ({description}, LDAP code {code})").format(
                        description=result.get("description"), code=code))
                continue
            found = []
            for entry in conn.response or ():
                if entry.get("type") == "searchResEntry":
                    upn = (entry.get("raw_attributes") or {}).get("userPrincipalName") or [b""]
                    found.append((str(entry["dn"]), bytes(upn[0]).decode("utf-8", "replace")))
            self._give(conn)
            return found
        raise AssertionError("unreachable")

    def _domain_names(self) -> DomainNames:
        """This domain's names, read once; tried once more on a new connection, as :meth:`_search`."""
        with self._names_lock:
            if self._names is None:
                self._names = self._read_domain_names()
            return self._names

    def _read_domain_names(self) -> DomainNames:
        for attempt in (1, 2):
            conn = self._take() if attempt == 1 else self._connect()
            try:
                names = read_domain_names(conn)
            except (DirectoryError, LDAPException):
                close(conn)
                self._drain()
                if attempt == 2:
                    raise DirectoryError("search", _("the domain's names could not be read")) from None
                continue
            self._give(conn)
            return names
        raise AssertionError("unreachable")

    # -- the read account's connections

    def _connect(self) -> Connection:
        return connect(self.directory, self._service_password, timeout=self.timeout, check_base_dn=False)

    def _take(self) -> Connection:
        """The most recently used pooled connection not idle too long, else a new one."""
        while True:
            try:
                conn, last_used = self._pool.get_nowait()
            except queue.Empty:
                return self._connect()
            if time.monotonic() - last_used <= MAX_IDLE_SECONDS:
                return conn
            close(conn)  # the DC or a firewall may have dropped it already

    def _give(self, conn: Connection) -> None:
        if self._closed:
            close(conn)
            return
        self._pool.put((conn, time.monotonic()))
        # close() may have drained the pool between the test above and the put.
        if self._closed:
            self._drain()

    def _drain(self) -> None:
        """Close every pooled connection."""
        while True:
            try:
                conn, _last_used = self._pool.get_nowait()
            except queue.Empty:
                return
            close(conn)

    def close(self) -> None:
        self._closed = True
        self._drain()


# A check's outcome as an admin reads it (the log line, the details' table); the code itself goes to Identity.
OUTCOMES = {"allowed": N_("allowed"), "denied": N_("denied"), "error": N_("error"), "expired": N_("expired")}


def describe(result: LoginCheckResult) -> str:
    """The log line's text for a check (the login, never the password)."""
    # The outcome in the admin's words; the reason stays the code sent to Identity (unknown_user), which
    # is what Identity's own log and docs/identity-agent-api.md show.
    outcome = _(OUTCOMES.get(result.outcome, result.outcome))
    what = outcome if result.reason is None else f"{outcome} ({result.reason})"
    return _("{login} {outcome} in {ms} ms").format(login=result.login, outcome=what, ms=number(result.latency_ms))

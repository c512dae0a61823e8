"""Reading entries from a connected DC: paged searches and filter values (ldap3).

:func:`paged_search` streams entries page by page; an LDAP failure mid-read raises, so a
broken read never looks like a complete (or empty) one.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any, Callable, Iterator, Literal, Sequence

from ldap3 import BASE, LEVEL, SUBTREE, Connection
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.utils.conv import escape_bytes, escape_filter_chars

from smartsync_tui.i18n import _, ngettext
from smartsync_tui.ad.errors import DirectoryError, SearchCancelled
from smartsync_tui.ad.connect import _NO_SUCH_OBJECT, _REFERRAL, _SUCCESS, _describe_conn, _result


SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
# The well-known GUID of a domain's Deleted Objects container (same in every AD).
_DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"
# AD's MaxPageSize is 1000: larger pages are silently cut by the server.
MAX_PAGE_SIZE = 1000

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


# ---------------------------------------------------------------------------
# Paged search


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
        with _raw_entries(conn):
            cookie = search_page(conn, base_dn, ldap_filter, read, search_scope=search_scope,
                                 attributes=list(attributes), paged_size=page_size, paged_cookie=cookie,
                                 controls=extra or None)
        response = conn.response or []
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


def search_page(conn: Connection, base_dn: str, ldap_filter: str, read: int, **search: Any) -> bytes | None:
    """One page of a paged search (``search`` are ldap3's ``Connection.search`` options), its
    entries left in ``conn.response``; the cookie of the next page, None after the last.

    Any LDAP failure raises :class:`DirectoryError` in our words (``read``: the entries read
    before it, for the message), raised outside the ``except`` that caught ldap3's exception.
    """
    try:
        conn.search(base_dn, ldap_filter, **search)
    except LDAPException as exc:
        failure = _search_exception(conn, base_dn, ldap_filter, read, exc)
    else:
        failure = None
    if failure is not None:
        raise failure
    code, description, _message = _result(conn)
    if code != _SUCCESS:
        raise _search_failed(conn, base_dn, ldap_filter, read, code, description)
    try:
        return (conn.result or {})["controls"][PAGED_RESULTS_OID]["value"]["cookie"] or None
    except (KeyError, TypeError):
        return None


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



"""Active Directory as the engine's directory source (engine/source.py's contract).

A thin adapter: the connection is :func:`~smartsync_tui.ad.connect.connect`'s, every read is
ad/reader.py's, so what the engine reads is exactly what the reader's tests check.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator

from ldap3 import Connection
from pydantic import SecretStr

from smartsync_tui.ad import reader
from smartsync_tui.ad.connect import close, connect
from smartsync_tui.ad.records import AdGroup, AdUser, DcIdentity, DeletedObject
from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.ad.base import DirectorySource


class AdSource(DirectorySource):
    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the AD source is closed")
        return self._conn

    def read_dc(self) -> DcIdentity:
        return reader.read_dc_identity(self.conn)

    def users(self, base_dn: str, ldap_filter: str, *, since_usn: int | None, page_size: int,
              cancel: threading.Event, attributes: tuple[str, ...] = ()) -> Iterator[AdUser]:
        return reader.iter_users(self.conn, base_dn, ldap_filter, since_usn=since_usn, page_size=page_size,
                                 cancel=cancel, attributes=attributes)

    def groups(self, base_dn: str, ldap_filter: str, *, since_usn: int | None, page_size: int,
               cancel: threading.Event) -> Iterator[AdGroup]:
        return reader.iter_groups(self.conn, base_dn, ldap_filter, since_usn=since_usn, page_size=page_size, cancel=cancel)

    def nested_user_guids(self, base_dn: str, group_dn: str, user_filter: str, *, page_size: int,
                          cancel: threading.Event) -> list[str]:
        return reader.nested_user_guids(self.conn, base_dn, group_dn, user_filter, page_size=page_size, cancel=cancel)

    def groups_among(self, dns: Collection[str], *, cancel: threading.Event) -> set[str] | None:
        return reader.groups_among(self.conn, reader.domain_dn_of(self.conn), dns, cancel=cancel)

    def deleted(self, *, since_usn: int, cancel: threading.Event) -> Iterator[DeletedObject]:
        return reader.iter_deleted(self.conn, reader.domain_dn_of(self.conn), since_usn=since_usn, cancel=cancel)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        close(conn)


def open_source(directory: DirectorySettings, password: SecretStr) -> AdSource:
    """Connected, secured and bound (a DirectoryError says which stage failed and what to fix)."""
    return AdSource(connect(directory, password))

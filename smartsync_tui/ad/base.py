"""What the engine reads from: the contract a directory source fulfils, opened by name.

The engine plans from plain records (ad/records.py) and never sees the protocol behind them:
Active Directory over LDAP is the one source (ad/source.py), loaded by name when a run opens
it, so the engine imports no ldap3 (the import-linter contracts in pyproject.toml). This
module, like records.py, imports no ldap3 itself.

Contract, for every method: a read either completes or raises (a UserError whose sentence
says what to fix, ``DirectoryError`` for AD); a read stopped because ``cancel`` was set
raises :class:`~smartsync_tui.ad.errors.SearchCancelled`. A failed read must never look
like a complete one: the engine plans disables from what a *complete* full read did not see.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator

from pydantic import SecretStr

from smartsync_tui.ad.records import AdGroup, AdUser, DcIdentity, DeletedObject
from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.core.by_name import load

#: "module:function" of the factory that opens a directory's source.
SOURCE = "smartsync_tui.ad.source:open_source"


class DirectorySource(ABC):
    """One open connection to a directory, for one run; :meth:`close` ends it."""

    @abstractmethod
    def read_dc(self) -> DcIdentity:
        """Which server answers and how far its changes go (a delta is valid only against it)."""

    @abstractmethod
    def users(self, base_dn: str, ldap_filter: str, *, since_usn: int | None, page_size: int,
              cancel: threading.Event, attributes: tuple[str, ...] = ()) -> Iterator[AdUser]:
        """The users under ``base_dn`` matching the filter; changed after ``since_usn`` if given;
        ``attributes``: more to read with each (AdUser.attributes)."""

    @abstractmethod
    def groups(self, base_dn: str, ldap_filter: str, *, since_usn: int | None, page_size: int,
               cancel: threading.Event) -> Iterator[AdGroup]:
        """The groups under ``base_dn`` matching the filter, every member listed."""

    @abstractmethod
    def nested_user_guids(self, base_dn: str, group_dn: str, user_filter: str, *, page_size: int,
                          cancel: threading.Event) -> list[str]:
        """The users in a group and in the groups nested in it (for flattened groups)."""

    def groups_among(self, dns: Collection[str], *, cancel: threading.Event) -> set[str] | None:
        """Which of ``dns`` (lower-cased) are groups, anywhere in the domain; None when the source
        cannot tell (then every group with such a member is flattened by nested_user_guids)."""
        return None

    @abstractmethod
    def deleted(self, *, since_usn: int, cancel: threading.Event) -> Iterator[DeletedObject]:
        """The objects deleted after ``since_usn`` (for a delta)."""

    @abstractmethod
    def close(self) -> None:
        """End the connection; safe to call twice."""


SourceFactory = Callable[[DirectorySettings, SecretStr], DirectorySource]


def open_source(directory: DirectorySettings, password: SecretStr) -> DirectorySource:
    """The directory's source, connected and bound (raises what the source raises)."""
    factory: SourceFactory = load(SOURCE)
    return factory(directory, password)

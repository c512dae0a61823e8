"""What the sync engine reads from AD, in plain values (no ldap3 types).

The reader (ad_sync_reader) produces these; mapping, planning and the state
store consume them. GUIDs are canonical lowercase strings
(``3f2504e0-4f89-11d3-9a0c-0305e82c3301``), DNs as AD returns them.
"""

from __future__ import annotations

from dataclasses import dataclass

# userAccountControl bit ACCOUNTDISABLE.
UAC_ACCOUNT_DISABLED = 0x2


@dataclass(frozen=True, slots=True)
class AdUser:
    guid: str
    dn: str
    sam_account_name: str
    user_principal_name: str | None
    given_name: str | None
    sn: str | None
    mail: str | None
    display_name: str | None
    title: str | None
    department: str | None
    user_account_control: int
    usn_changed: int
    #: The attributes a target asked for beyond these (Target.user_attributes), as
    #: (name as asked, first value as text) for each one the entry has.
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def disabled(self) -> bool:
        return bool(self.user_account_control & UAC_ACCOUNT_DISABLED)


@dataclass(frozen=True, slots=True)
class AdGroup:
    guid: str
    dn: str
    name: str
    description: str | None
    # Direct members, every value (ranged retrieval done), as DNs.
    member_dns: tuple[str, ...]
    usn_changed: int


@dataclass(frozen=True, slots=True)
class DeletedObject:
    """A tombstone found with the show-deleted control."""

    guid: str
    last_known_parent: str | None
    usn_changed: int


@dataclass(frozen=True, slots=True)
class DcIdentity:
    """Which DC was read, and how far: a delta is only valid against the same DC database."""

    dns_host_name: str
    invocation_id: str
    highest_committed_usn: int

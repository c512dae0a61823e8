"""Why Active Directory refused a bind, from the ``data <hex>`` part of its message.

A failed simple bind comes back as LDAP result 49 (invalidCredentials) with a
diagnostic message such as::

    80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e, v893

Only the ``data`` code carries meaning for an admin; the DSID and version parts
are internal to the DC build and are deliberately not parsed. The account-state
codes (disabled, expired, locked out, ...) come back only when the password
was right. Samba formats the same string but reports an unknown user (525) as
a bad password (52e): both map to :attr:`AdBindReason.INVALID_CREDENTIALS`,
which is also what we want against user enumeration.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = [
    "NO_SUCH_USER",
    "AdBindReason",
    "bind_data_code",
    "describe_bind_failure",
    "parse_bind_reason",
    "reason_of_data_code",
]


class AdBindReason(Enum):
    """A bind refusal reason, with the text an admin reads."""

    INVALID_CREDENTIALS = (
        "52e",
        "the user name or the password is wrong (or the user does not exist)",
        "Check the user (user@domain, DOMAIN\\user or the user's DN) and the password. "
        "Each failed attempt counts toward the account's lockout.",
    )
    LOGON_HOURS = (
        "530",
        "the account may not log on at this time of day (logon hours)",
        "Change the account's logon hours in AD or use another account.",
    )
    WORKSTATION = (
        "531",
        "the account may not log on from this computer (\"Log on to\" workstation restriction)",
        "Allow this computer in the account's \"Log on to\" list in AD or use another account.",
    )
    PASSWORD_EXPIRED = (
        "532",
        "the account's password has expired",
        "Set a new password for the account in AD, then update it here.",
    )
    ACCOUNT_DISABLED = (
        "533",
        "the account is disabled in AD",
        "Enable the account in AD or use another account.",
    )
    ACCOUNT_EXPIRED = (
        "701",
        "the account has expired (its expiry date has passed)",
        "Extend the account's expiry date in AD or use another account.",
    )
    MUST_CHANGE_PASSWORD = (
        "773",
        "the account must change its password before it can log on "
        "(\"User must change password at next logon\")",
        "Set a new password for the account in AD (and clear that option), then update it here.",
    )
    LOCKED_OUT = (
        "775",
        "the account is locked out after too many wrong passwords",
        "Unlock the account in AD or wait for the lockout to end, then try again.",
    )

    def __init__(self, code: str, text: str, advice: str) -> None:
        self.code = code
        self.text = text
        self.advice = advice

    @property
    def password_was_right(self) -> bool:
        """AD reports account-state reasons only after checking the password."""
        return self is not AdBindReason.INVALID_CREDENTIALS


#: The ``data`` code of a bind by a user that does not exist.
NO_SUCH_USER = "525"

_BY_CODE: dict[str, AdBindReason] = {reason.code: reason for reason in AdBindReason}
# 525 (no such user) is reported like a wrong password: Samba already does, and
# telling them apart in the directory test would let anyone probe which
# accounts exist. (A login check looks the user up first and tells 525 apart
# itself, from DirectoryError.data_code.)
_BY_CODE[NO_SUCH_USER] = AdBindReason.INVALID_CREDENTIALS

_DATA = re.compile(r"\bdata\s+([0-9a-fA-F]{1,8})\b")


def parse_bind_reason(message: str | None) -> AdBindReason | None:
    """The reason in an AD bind error message, or None when there is no known ``data`` code."""
    code = bind_data_code(message)
    return None if code is None else reason_of_data_code(code)


def reason_of_data_code(code: str) -> AdBindReason | None:
    """The reason for a ``data`` code as :func:`bind_data_code` gives it, or None when it is not one we know."""
    return _BY_CODE.get(code)


def bind_data_code(message: str | None) -> str | None:
    """The raw ``data`` code (lower-case hex), known or not."""
    if not message:
        return None
    match = _DATA.search(message)
    return (match.group(1).lower().lstrip("0") or "0") if match else None


def describe_bind_failure(message: str | None) -> str:
    """One admin-readable phrase for an invalidCredentials (49) bind refusal."""
    reason = parse_bind_reason(message)
    if reason is not None:
        return reason.text
    code = bind_data_code(message)
    if code is not None:
        return f"AD refused the credentials (reason code {code})"
    return "the user name or the password is wrong (or the user does not exist)"

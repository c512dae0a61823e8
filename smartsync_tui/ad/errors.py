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
from typing import Literal

from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import N_, _, ngettext

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
        N_("the user name or the password is wrong (or the user does not exist)"),
        N_("Check the user (user@domain, DOMAIN\\user or the user's DN) and the password. "
           "Each failed attempt counts toward the account's lockout."),
    )
    LOGON_HOURS = (
        "530",
        N_("the account may not log on at this time of day (logon hours)"),
        N_("Change the account's logon hours in AD or use another account."),
    )
    WORKSTATION = (
        "531",
        N_("the account may not log on from this computer (\"Log on to\" workstation restriction)"),
        N_("Allow this computer in the account's \"Log on to\" list in AD or use another account."),
    )
    PASSWORD_EXPIRED = (
        "532",
        N_("the account's password has expired"),
        N_("Set a new password for the account in AD, then update it here."),
    )
    ACCOUNT_DISABLED = (
        "533",
        N_("the account is disabled in AD"),
        N_("Enable the account in AD or use another account."),
    )
    ACCOUNT_EXPIRED = (
        "701",
        N_("the account has expired (its expiry date has passed)"),
        N_("Extend the account's expiry date in AD or use another account."),
    )
    MUST_CHANGE_PASSWORD = (
        "773",
        N_("the account must change its password before it can log on "
           "(\"User must change password at next logon\")"),
        N_("Set a new password for the account in AD (and clear that option), then update it here."),
    )
    LOCKED_OUT = (
        "775",
        N_("the account is locked out after too many wrong passwords"),
        N_("Unlock the account in AD or wait for the lockout to end, then try again."),
    )

    def __init__(self, code: str, text: str, advice: str) -> None:
        self.code = code
        # Marked with N_() (the enum is built at import); translated when read.
        self._text = text
        self._advice = advice

    @property
    def text(self) -> str:
        """Why AD refused the bind, as the end of a sentence, in the current language."""
        return _(self._text)

    @property
    def advice(self) -> str:
        """What to do about it, as whole sentences, in the current language."""
        return _(self._advice)

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
        return _("AD refused the credentials (reason code {code})").format(code=code)
    return AdBindReason.INVALID_CREDENTIALS.text


Stage = Literal["dns", "tcp", "tls", "bind", "base_dn", "search"]


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

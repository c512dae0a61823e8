"""What can go wrong talking to Identity, each with the sentence an admin reads.

Translated into the target contract's errors (targets/base.py) at the target's boundary
(targets/identity/target.py); the login checks and the setup checks read them as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartsync_tui.core.errors import UserError

if TYPE_CHECKING:
    # httpx (~50 ms to import, its CLI's click and pygments included) is imported by the
    # methods that use it: importing this module (the console's first screen does) needs none.
    pass


class IdentityError(UserError):
    """Base of every error about talking to Identity."""

    kind = "identity"

    def __init__(self, message: str, *, status: int | None = None, problem_type: str | None = None) -> None:
        super().__init__(message)
        #: HTTP status of the answer that caused it, when there was one.
        self.status = status
        #: RFC 9457 ``type`` of the problem details, when the server sent one.
        self.problem_type = problem_type


class IdentityUnreachable(IdentityError):
    kind = "identity-unreachable"


class IdentityRequestStopped(IdentityUnreachable):
    """A stop (SIGTERM, Ctrl-C, the console quitting) cut a request while its answer was awaited."""

    kind = "identity-stopped"


class IdentityTlsError(IdentityError):
    kind = "identity-tls"


class TokenRejected(IdentityError):
    kind = "token-rejected"


class AgentKeyRejected(IdentityError):
    kind = "agent-key-rejected"


class IdentityCredentialsMissing(IdentityError):
    """The call needs a token or an agent key that this client was not given."""

    kind = "identity-credentials-missing"


class IdentityThrottled(IdentityError):
    kind = "identity-throttled"


class IdentityServerError(IdentityError):
    kind = "identity-server-error"


class IdentityProtocolError(IdentityError):
    """Identity answered something this client does not understand (or refused a malformed request)."""

    kind = "identity-protocol"


class CommandGone(IdentityError):
    """The command is unknown to Identity or expired before its result arrived."""

    kind = "command-gone"

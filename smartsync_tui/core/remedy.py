"""What an admin does to fix an error, apart from where they read it.

The core's messages are one text for the CLI, the logs, the state store and
the console. Where the fix is a command, the text names the CLI's (``set it
with `smartsync-tui directory edit corp --password-stdin` ``), and where it is
an option, the option in brackets (``(--ca-file)``); both are built here, and
only here. The console, where the same fix is a key and a field, finds them
in any message with :func:`remedies` and words them its own way
(``smartsync_tui.ui.advice``): in a message raised in this process, and in
one read back from the state store, which ``smartsync-tui run`` wrote as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from smartsync_tui.core.errors import UserError

Secret = Literal["password", "token"]


def secret_command(directory_id: str, secret: Secret) -> str:
    """The CLI command that stores a directory's password or token (a token registers the agent again)."""
    return f"`smartsync-tui directory edit {directory_id} --{secret}-stdin`"


def set_secret(directory_id: str, secret: Secret) -> str:
    """The fix of a missing secret, as the end of a sentence: "set it with `...`"."""
    return f"set it with {secret_command(directory_id, secret)}"


def option(flag: str, value: str = "") -> str:
    """A CLI option named after the sentence that says which setting to change: " (--flag value)"."""
    return f" (--{flag}{' ' + value if value else ''})"


@dataclass(frozen=True)
class Found:
    """A fix found in a message: ``text[start:end]`` is its CLI wording."""

    start: int
    end: int
    #: "password" or "token": enter that secret of ``directory_id``; "option": a CLI option in brackets.
    kind: str
    directory_id: str = ""


_SECRET = re.compile(
    r"(?:(?:set|register) it with )?`?smartsync-tui directory edit (?P<id>[a-z0-9][a-z0-9_-]{0,62}) "
    r"--(?P<secret>password|token)-stdin`?"
)
_OPTION = re.compile(r" \(--[a-z][a-z-]*(?: [^\s()]+)?\)")


def remedies(text: str) -> list[Found]:
    """The fixes worded for the CLI in ``text``, in order."""
    found = [Found(m.start(), m.end(), m.group("secret"), m.group("id")) for m in _SECRET.finditer(text)]
    found += [Found(m.start(), m.end(), "option") for m in _OPTION.finditer(text)]
    return sorted(found, key=lambda f: f.start)


class SecretMissing(UserError):
    """A directory's password, token or agent key is not in the secret store."""

    kind = "secret-missing"

    def __init__(self, what: str, directory_id: str, secret: Secret) -> None:
        super().__init__(
            f"The {what} of directory '{directory_id}' is missing from the secret store: "
            f"{set_secret(directory_id, secret)}."
        )
        self.directory_id = directory_id
        #: The secret that restores it ("token" for the agent key too: entering it registers again).
        self.secret: Secret = secret

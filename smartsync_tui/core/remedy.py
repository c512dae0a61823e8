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
from smartsync_tui.i18n import N_, _

Secret = Literal["password", "token"]


def secret_command(directory_id: str, secret: Secret) -> str:
    """The CLI command that stores a directory's password or token (a token registers the agent again)."""
    return f"`smartsync-tui directory edit {directory_id} --{secret}-stdin`"


#: The words before a secret's command, as the end of a sentence ("...: set it with `...`").
_SET_WITH = N_("set it with {command}")
_REGISTER_WITH = N_("register it with {command}")


def set_secret(directory_id: str, secret: Secret) -> str:
    """The fix of a missing secret, as the end of a sentence: "set it with `...`"."""
    return _(_SET_WITH).format(command=secret_command(directory_id, secret))


def register_token(directory_id: str) -> str:
    """The fix of a directory not registered, as the end of a sentence: "register it with `...`"."""
    return _(_REGISTER_WITH).format(command=secret_command(directory_id, "token"))


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


_COMMAND = (
    r"`?smartsync-tui directory edit (?P<id>[a-z0-9][a-z0-9_-]{0,62}) "
    r"--(?P<secret>password|token)-stdin`?"
)
_OPTION = re.compile(r" \(--[a-z][a-z-]*(?: [^\s()]+)?\)")


def _lead_ins() -> list[str]:
    """The words before a command ("set it with "), in English and in the current language: a
    message read back from the state store may have been written by a process in either."""
    words = {"set it with ", "register it with "}
    for message in (_SET_WITH, _REGISTER_WITH):
        before = _(message).partition("{command}")[0]
        if before.strip():
            words.add(before)
    return sorted(words, key=len, reverse=True)


def _secret_pattern() -> re.Pattern[str]:
    lead = "|".join(re.escape(words) for words in _lead_ins())
    return re.compile(f"(?:{lead})?{_COMMAND}")


def remedies(text: str) -> list[Found]:
    """The fixes worded for the CLI in ``text``, in order."""
    found = [Found(m.start(), m.end(), m.group("secret"), m.group("id")) for m in _secret_pattern().finditer(text)]
    found += [Found(m.start(), m.end(), "option") for m in _OPTION.finditer(text)]
    return sorted(found, key=lambda f: f.start)


_MISSING = {
    "password": N_("The password of directory '{id}' is missing from the secret store: {fix}."),
    "token": N_("The token of directory '{id}' is missing from the secret store: {fix}."),
    "agent key": N_("The agent key of directory '{id}' is missing from the secret store: {fix}."),
}


class SecretMissing(UserError):
    """A directory's password, token or agent key is not in the secret store."""

    kind = "secret-missing"

    def __init__(self, what: str, directory_id: str, secret: Secret) -> None:
        # One whole sentence per secret: its name's gender changes the sentence in other languages.
        message = _MISSING.get(what)
        if message is None:
            text = _("The {what} of directory '{id}' is missing from the secret store: {fix}.").format(
                what=what, id=directory_id, fix=set_secret(directory_id, secret))
        else:
            text = _(message).format(id=directory_id, fix=set_secret(directory_id, secret))
        super().__init__(text)
        self.directory_id = directory_id
        #: The secret that restores it ("token" for the agent key too: entering it registers again).
        self.secret: Secret = secret

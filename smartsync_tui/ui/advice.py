"""The core's messages as the console says them: what to do *here*, not a CLI command.

The core words a fix for the CLI (``set it with `smartsync-tui directory edit
corp --password-stdin` ``, ``(--ca-file /path/to/ca.pem)``), built in
:mod:`smartsync_tui.core.remedy`, which also finds them again in any message.
:func:`in_console` puts the console's way in their place: the key, the tab and
the field. Apply it to every core message shown, before :func:`literal`.
"""

from __future__ import annotations

from smartsync_tui.core.remedy import remedies
from smartsync_tui.ui.i18n import _


def _fix(kind: str, directory_id: str) -> str:
    if kind == "password":
        return _("press e on the Active Directory tab to edit directory '{id}' and type its password").format(
            id=directory_id)
    if kind == "token":
        return _("press e on the Active Directory tab to edit directory '{id}' and paste its token from Identity "
                 "(this registers the agent again)").format(id=directory_id)
    return ""  # a CLI option in brackets: the sentence already names the field to change


def in_console(text: str) -> str:
    """``text`` with each fix worded for the CLI replaced by the console's."""
    for found in reversed(remedies(text)):
        text = text[:found.start] + _fix(found.kind, found.directory_id) + text[found.end:]
    return text

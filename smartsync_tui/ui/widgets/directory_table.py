"""The Active Directory tab's table: one row per directory, updated live."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import DataTable

from smartsync_tui.config.settings import SCIM_TARGET_NAME, DirectorySettings
from smartsync_tui.ui.console_state import DirectoryStatus
from smartsync_tui.ui.i18n import N_, _
from smartsync_tui.ui.literal import literal

# A table cell shows this much of a name, server or DN; the details screen shows it whole.
NAME_LIMIT = 60


def _state_text(status: DirectoryStatus) -> str:
    if status.state == "syncing":
        if status.percent is None:
            return _("Syncing")
        return _("Syncing {percent}%").format(percent=f"{status.percent:.0f}")
    return {
        "synced": _("Synced"),
        "failed": _("Failed"),
        "held": _("Held back"),
        "partial": _("Partial"),
        "cancelled": _("Stopped"),
        "never": _("Not synced yet"),
    }.get(status.state, status.state)


def _ago(when: float | None, now: float | None = None) -> str:
    if when is None:
        return "-"
    seconds = max(0, int((now or time.time()) - when))
    if seconds < 60:
        return _("just now")
    if seconds < 3600:
        return _("{n} min ago").format(n=seconds // 60)
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(when))


def last_run_text(status: DirectoryStatus, now: float | None = None) -> str:
    """The "Last sync" cell: when the last run completed; after a failure, when it was last tried."""
    if status.state in ("failed", "cancelled") and status.last_attempt is not None:
        return _("tried {when}").format(when=_ago(status.last_attempt, now))
    return _ago(status.last_sync, now)


# (key, heading): the columns that say which directory and how it is come first, so that
# they are what 80 columns show; the server and base DN follow.
COLUMNS = (
    ("name", N_("Name")),
    ("sync", N_("Sync")),
    ("last", N_("Last sync")),
    ("target", N_("Target")),
    ("users", N_("Users")),
    ("groups", N_("Groups")),
    ("server", N_("Server")),
    ("base_dn", N_("Base DN")),
)


class DirectoryTable(DataTable):
    """Name, sync status, last sync, target (Identity or SCIM, and whether it answered), users, groups,
    server, base DN."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for key, label in COLUMNS:
            self.add_column(_(label), key=key)

    def show(self, directories: list[DirectorySettings], statuses: dict[str, DirectoryStatus]) -> None:
        """Rebuild the rows, keeping the cursor on the same directory."""
        selected = self.selected_id
        self.clear()
        for d in directories:
            status = statuses.get(d.id) or DirectoryStatus(d.id)
            self.add_row(*self._cells(d, status).values(), key=d.id)
        if selected is not None:
            ids = [d.id for d in directories]
            if selected in ids:
                self.move_cursor(row=ids.index(selected))

    def _cells(self, d: DirectorySettings, status: DirectoryStatus) -> dict[str, Text]:
        # Which target, and whether it answered the last run: a mark, since the column must fit 80
        # columns; the details screen says it in words.
        where = "Identity" if d.syncs_to_identity else "SCIM" if d.target == SCIM_TARGET_NAME else d.target
        target = where + {True: " ✓", False: " ✗", None: ""}[status.target_connected]
        name = d.label if d.enabled else f"{d.label} ({_('off')})"
        # Names, servers and DNs come from the settings file: literal text, never markup.
        cells = {
            "name": literal(name, NAME_LIMIT),
            "sync": literal(_state_text(status)),
            "last": literal(last_run_text(status)),
            "target": literal(target),
            "users": literal(status.users),
            "groups": literal(status.groups),
            "server": literal(d.server, NAME_LIMIT),
            "base_dn": literal(d.base_dn, NAME_LIMIT),
        }
        return {key: cells[key] for key, _label in COLUMNS}

    def update_status(self, d: DirectorySettings, status: DirectoryStatus) -> None:
        if d.id not in self.rows:
            return
        for key, value in self._cells(d, status).items():
            self.update_cell(d.id, key, value, update_width=True)

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key, _column = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return key.value

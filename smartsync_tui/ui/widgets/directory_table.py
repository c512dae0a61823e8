"""The Active Directory tab's table: one row per directory, updated live."""

from __future__ import annotations

import time

from textual.widgets import DataTable

from smartsync_tui.core.settings import DirectorySettings
from smartsync_tui.ui.console_state import DirectoryStatus
from smartsync_tui.ui.i18n import _


def _state_text(status: DirectoryStatus) -> str:
    if status.state == "syncing":
        percent = f" {status.percent:.0f}%" if status.percent is not None else ""
        return _("Syncing") + percent
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


class DirectoryTable(DataTable):
    """Server, base DN, Identity status, sync status, last sync, users, groups."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key in (
            (_("Server"), "server"),
            (_("Base DN"), "base_dn"),
            (_("Identity"), "identity"),
            (_("Sync"), "sync"),
            (_("Last sync"), "last"),
            (_("Users"), "users"),
            (_("Groups"), "groups"),
        ):
            self.add_column(label, key=key)

    def show(self, directories: list[DirectorySettings], statuses: dict[str, DirectoryStatus]) -> None:
        """Rebuild the rows, keeping the cursor on the same directory."""
        selected = self.selected_id
        self.clear()
        for d in directories:
            status = statuses.get(d.id) or DirectoryStatus(d.id)
            self.add_row(*self._cells(d, status), key=d.id)
        if selected is not None:
            ids = [d.id for d in directories]
            if selected in ids:
                self.move_cursor(row=ids.index(selected))

    def _cells(self, d: DirectorySettings, status: DirectoryStatus) -> tuple[str, ...]:
        identity = {True: _("Connected"), False: _("Disconnected"), None: "-"}[status.identity_connected]
        server = d.server if d.enabled else f"{d.server} ({_('off')})"
        return (server, d.base_dn, identity, _state_text(status), _ago(status.last_sync), str(status.users), str(status.groups))

    def update_status(self, d: DirectorySettings, status: DirectoryStatus) -> None:
        if d.id not in self.rows:
            return
        for key, value in zip(("server", "base_dn", "identity", "sync", "last", "users", "groups"), self._cells(d, status)):
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

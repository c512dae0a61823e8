"""Reading a console table the way an admin reads it: by column, not by position."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.support.hostile import plain


def row_cells(table: DataTable, index: int = 0) -> dict[str, str]:
    """The row's text by column key (a table without keys: by heading)."""
    keys = [column.key.value or column.label.plain for column in table.columns.values()]
    return dict(zip(keys, (plain(cell) for cell in table.get_row_at(index))))


def directory_row(app, index: int = 0) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A row of the Active Directory tab: name, sync, last, target, users, groups, server, base_dn."""
    return row_cells(app.query_one("#directory-table", DataTable), index)

"""Messages that worker threads post to the console (``post_message``)."""

from __future__ import annotations

from textual.message import Message

from smartsync_tui.core.sync_engine import SyncProgress, SyncResult


class SyncProgressed(Message):
    """A sync worker's progress; a newer one for the same directory replaces a queued older one."""

    def __init__(self, progress: SyncProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SyncProgressed) and message.progress.directory_id == self.progress.directory_id


class SyncFinished(Message):
    def __init__(self, result: SyncResult) -> None:
        super().__init__()
        self.result = result

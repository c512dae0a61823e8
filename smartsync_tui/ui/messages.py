"""Messages that worker threads and the engine's threads post to the console (``post_message``)."""

from __future__ import annotations

from textual.message import Message

from smartsync_tui.engine.client import SyncProgress, SyncResult


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


class SyncStarted(Message):
    """The engine started a run of this directory (on its schedule, or asked)."""

    def __init__(self, directory_id: str, *, manual: bool) -> None:
        super().__init__()
        self.directory_id = directory_id
        self.manual = manual


class EngineAsked(Message):
    """Another console asked this console's engine for something over the channel (done already)."""

    def __init__(self, op: str, directory_id: str) -> None:
        super().__init__()
        self.op = op
        self.directory_id = directory_id

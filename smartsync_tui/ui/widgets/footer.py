"""The console's footer: Textual's Footer, drawn with the screen's keys from its first frame.

Textual's Footer composes empty and waits for the screen's first "bindings changed" signal, then
rebuilds itself once per signal, each after a refresh. A screen sends several while it mounts
(focus, tabs, the app's own refresh), so the main screen's keys appeared five rebuilds and about
90 ms after the rest of the first frame (bench/bench_console.py). Here any number of signals
before the next refresh cost one rebuild, and the main screen's footer lists its keys in its first
compose (``keys_at_once``): they are the app's, known before anything has the focus, and the
app's check_action answers before the screen is composed. (A dialog's check_action may look at
its own fields, which do not exist yet then, so dialogs wait for the signal as Textual does.)
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class ConsoleFooter(Footer):
    """A Footer that lists the keys from its first frame and rebuilds once per refresh."""

    def __init__(self, *, keys_at_once: bool = False) -> None:
        super().__init__()
        self._bindings_ready = keys_at_once
        self._rebuild_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        # As Footer's, but a rebuild already asked for covers every change before it runs.
        self._bindings_ready = True
        if not screen.app.app_focus or self._rebuild_pending:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        await self.recompose()

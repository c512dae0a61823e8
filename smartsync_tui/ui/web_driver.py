"""Textual's web driver (the console under `smartsync-tui web`), which also quits when its input ends.

Textual's own driver stops reading when its standard input reaches the end
(the server went away, or closed the pipe before the console was up) but
leaves the app running, with nobody to see it or tell it to quit. The console
keeps syncing, as the engine, holding the engine lock, so `smartsync-tui run`
is refused. Here the end of input is a quit, as the server's "quit" message is.

Selected by ``TEXTUAL_DRIVER`` (``cli/web_sessions.py`` sets it).
"""

from __future__ import annotations

from textual import messages
from textual.drivers.web_driver import WebDriver


class ConsoleWebDriver(WebDriver):
    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        finally:
            # Set by stop_application_mode: the app is closing anyway. Otherwise the input
            # ended by itself (EOF): nobody can drive or see this console any more.
            if not self.exit_event.is_set():
                self._app.post_message(messages.ExitApp())  # thread-safe

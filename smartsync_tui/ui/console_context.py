"""What a screen or widget may read of the console it runs in: the home, the settings, the
secrets and one way to change the settings.

Screens and widgets depend on this Protocol, not on the App: they can be mounted in a small
host app in tests (as the log pane is), and the App (ui/app.py) stays the one place that
composes them. ``console(app)`` is how they reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from smartsync_tui.config.paths import Home
    from smartsync_tui.config.secret_store import SecretStore
    from smartsync_tui.config.settings import AppSettings


class Console(Protocol):
    home: Home
    secrets: SecretStore
    settings: AppSettings

    def change_settings(self, change: Callable[[AppSettings], None]) -> None:
        """Apply ``change`` to the settings file, save it, and reload what the engine runs with."""


def console(app: Any) -> Console:
    """The running App as the console context it is (SmartSyncApp, or a test's host app)."""
    return cast(Console, app)

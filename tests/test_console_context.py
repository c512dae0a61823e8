"""A screen needs no SmartSyncApp: it runs in a ten-line host app that is a console context
(ui/console_context.py), here the Identity dialog testing and saving against the emulator."""

from collections.abc import Callable

from textual.app import App

from smartsync_tui.config.paths import resolve_home
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, IdentitySettings, ProxySettings
from smartsync_tui.ui.screens.identity_edit import IdentityEditScreen
from tests.support.forms import activate
from tests.support.waiting import settle


class HostApp(App[None]):
    """The console context and nothing else: what a screen may use of the console."""

    def __init__(self, home, settings: AppSettings) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.home, self.settings = home, settings
        self.secrets = SecretStore(home.secrets_file)
        self.changes: list[Callable[[AppSettings], None]] = []
        self.chosen: list[IdentitySettings | None] = []

    def change_settings(self, change: Callable[[AppSettings], None]) -> None:
        self.changes.append(change)

    def on_mount(self) -> None:
        self.push_screen(IdentityEditScreen(self.settings.identity), self.chosen.append)


async def test_a_screen_runs_in_a_host_app_that_is_only_a_console_context(tmp_path, emulator):
    host = emulator.url.removeprefix("http://")
    settings = AppSettings(identity=IdentitySettings(protocol="http", environment=host), proxy=ProxySettings(mode="none"))
    app = HostApp(resolve_home(tmp_path / "home").ensure(), settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await activate(pilot, "#identity-test")
        await settle(app)
        await pilot.pause()
        result = str(app.screen.query_one("#identity-result").content)
        assert result.startswith(f"✓ {emulator.url} reachable (") and result.endswith(" ms)")
        await activate(pilot, "#identity-save")
        await pilot.pause()
    assert app.chosen == [settings.identity]

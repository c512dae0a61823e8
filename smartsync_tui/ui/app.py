"""The console: Home and Active Directory tabs over the core."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from smartsync_tui import __version__
from smartsync_tui.core.errors import UserError
from smartsync_tui.core.paths import Home
from smartsync_tui.core.settings import AppSettings, load_settings
from smartsync_tui.ui.resources import stylesheets


class SmartSyncApp(App[None]):
    TITLE = "smartsync-tui"
    CSS_PATH = stylesheets()
    BINDINGS = [
        Binding("h", "show_tab('home')", "Home", id="tab-home"),
        Binding("d", "show_tab('directories')", "Active Directory", id="tab-directories"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, home: Home, settings: AppSettings) -> None:
        super().__init__()
        self.home = home
        self.settings = settings
        self.sub_title = settings.identity.base_url

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="home"):
            with TabPane("Home", id="home"):
                yield Static("Identity", classes="section-title")
                yield Static(self._home_summary(), id="home-summary")
            with TabPane("Active Directory", id="directories"):
                yield DataTable(id="directory-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def _home_summary(self) -> str:
        s = self.settings
        proxy = s.proxy.mode if s.proxy.mode != "manual" else f"manual ({s.proxy.host}:{s.proxy.port})"
        return (
            f"Environment: {s.identity.base_url}\n"
            f"Proxy: {proxy}\n"
            f"Directories: {len(s.directories)}\n"
            f"Settings: {self.home.settings_file}\n"
            f"Version: {__version__}"
        )

    def on_mount(self) -> None:
        table = self.query_one("#directory-table", DataTable)
        table.add_columns("Directory", "Server", "Base DN", "TLS", "Enabled")
        for d in self.settings.directories:
            table.add_row(d.label, f"{d.server}:{d.effective_port}", d.base_dn, d.tls, "yes" if d.enabled else "no", key=d.id)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab


def run_console(home: Home) -> int:
    try:
        settings = load_settings(home.settings_file)
    except UserError as exc:
        # Shown before the screen switches to the console, so it stays readable.
        print(f"error: {exc}")
        return 2
    SmartSyncApp(home, settings).run()
    return 0

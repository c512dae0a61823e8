"""Where configuration, secrets, state and logs live.

Without an override the platform's usual places are used (platformdirs).
``SMARTSYNC_HOME=DIR`` or ``--home DIR`` puts everything under DIR, which is
what tests, benchmarks and the demo do so they never touch a real install.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from smartsync_tui.core.errors import SettingsError

APP_NAME = "smartsync-tui"
HOME_ENV = "SMARTSYNC_HOME"


@dataclass(frozen=True)
class Home:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "appsettings.json"

    @property
    def secrets_file(self) -> Path:
        return self.config_dir / "secrets.json"

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def export_dir(self) -> Path:
        """Where the console offers to write log exports: in the agent's home, beside its state
        (not in the log dir, whose rotation prunes files; created on the first export)."""
        return self.data_dir / "exports"

    def ensure(self) -> "Home":
        """Create the folders (private to the user: they hold secrets and state)."""
        for folder in (self.config_dir, self.data_dir, self.log_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise SettingsError(
                    f"Cannot create the folder {folder}: {exc.strerror}. Choose another --home "
                    "(or SMARTSYNC_HOME), or fix the owner and permissions of that folder."
                ) from None
        return self


def resolve_home(home: str | os.PathLike[str] | None = None) -> Home:
    """The Home for an explicit ``--home``, else ``SMARTSYNC_HOME``, else platformdirs."""
    chosen = home if home is not None else os.environ.get(HOME_ENV) or None
    if chosen is not None:
        root = Path(chosen).expanduser().resolve()
        return Home(config_dir=root / "config", data_dir=root / "data", log_dir=root / "logs")
    return Home(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )

"""Where configuration, secrets, state and logs live.

Without an override the platform's usual places are used (platformdirs).
``SMARTSYNC_HOME=DIR`` or ``--home DIR`` puts everything under DIR, which is
what tests, benchmarks and the demo do so they never touch a real install.

:meth:`Home.ensure` creates the folders 0700 and refuses a home another local
user could change (:mod:`smartsync_tui.core.file_protection`), before any
file in it is read or written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from smartsync_tui.core import file_protection

APP_NAME = "smartsync-tui"
HOME_ENV = "SMARTSYNC_HOME"


# The files of a home that are read or written by name, checked by Home.ensure; beside them the
# rotated logs (<log>.1 ...) and the state database's journal files are checked too.
_CONFIG_FILES = ("appsettings.json", "appsettings.json.lock")
_DATA_FILES = ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm", "engine.lock")
_LOG_FILES = ("application.log", "console.log")


@dataclass(frozen=True)
class Home:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    #: The folder given with --home (or SMARTSYNC_HOME) holding the three; None for platformdirs'.
    root: Path | None = None
    #: --home as written (absolute, links not resolved): a link in it is checked by ensure too.
    written: Path | None = field(default=None, compare=False)

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

    def folders(self) -> tuple[Path, ...]:
        """The home's own folders, outermost first."""
        inner = (self.config_dir, self.data_dir, self.log_dir)
        return inner if self.root is None else (self.root, *inner)

    def ensure(self) -> "Home":
        """Create the folders 0700 (they hold secrets and state), then refuse the home when
        another user could change a folder of it, a folder above it, or a file in it.

        Raises :class:`~smartsync_tui.core.file_protection.UnsafeHomeError` naming the path
        and the ``chmod``/``chown`` to run.
        """
        if self.written is not None and self.written != self.root:
            # `root` is resolved: a link on the way to it, owned by another user, could be pointed elsewhere.
            file_protection.check_links(self.written)
            file_protection.check_parents(self.written)
        own = frozenset(Path(os.path.abspath(folder)) for folder in self.folders())
        for folder in self.folders():
            # The folders above first: creating one inside a folder another user can change is no use.
            file_protection.check_parents(folder, own=own)
            file_protection.make_private_dir(folder)
        for path in self.files():
            file_protection.check_private_file(path, secret=path == self.secrets_file)
        return self

    def files(self) -> list[Path]:
        """The files of the home smartsync-tui reads or writes that exist, or may: what ensure checks."""
        files = [self.config_dir / name for name in _CONFIG_FILES] + [self.secrets_file]
        files += [self.data_dir / name for name in _DATA_FILES]
        for name in _LOG_FILES:
            files.append(self.log_dir / name)
            files += sorted(self.log_dir.glob(name + ".*"))
        return files


def resolve_home(home: str | os.PathLike[str] | None = None) -> Home:
    """The Home for an explicit ``--home``, else ``SMARTSYNC_HOME``, else platformdirs."""
    chosen = home if home is not None else os.environ.get(HOME_ENV) or None
    if chosen is not None:
        written = Path(os.path.abspath(Path(chosen).expanduser()))
        root = written.resolve()
        return Home(config_dir=root / "config", data_dir=root / "data", log_dir=root / "logs", root=root,
                    written=written)
    return Home(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )

"""A resident engine's open AD connections, kept between the runs of each directory.

Connecting is most of a no-change delta's cost (TCP, TLS, bind: about 0.13 s of 0.24 s at
10,000 users; docs/performance.md). ``run`` and a console that is the engine keep each
directory's connection from one run to the next; `sync` and previews open their own.

A connection is reused only while it can be trusted: for the same connection settings and
password (anything else opens a new one), idle for less than :data:`MAX_IDLE_SECONDS` (a
firewall may drop an idle connection silently, which would cost the next run a receive timeout),
and only after a run that read everything (a read that failed closes it). The engine checks a
reused connection with its first request (the DC's rootDSE) and reconnects once when it fails.
"""

from __future__ import annotations

import hashlib
import threading
import time

from pydantic import SecretStr

from smartsync_tui.ad.base import DirectorySource, open_source
from smartsync_tui.config.settings import DirectorySettings

#: Longer idle than this and the connection is closed rather than reused. DCs close idle
#: connections after 900 s (MaxConnIdleTime); firewalls often sooner.
MAX_IDLE_SECONDS = 300.0


def _key(directory: DirectorySettings, password: SecretStr) -> str:
    # Every field that shapes the connection, and the password (hashed: the key is kept in memory).
    fields = directory.model_dump(include={"server", "port", "tls", "ca_file", "tls_server_name", "bind_user"})
    text = repr(sorted(fields.items())) + "\0" + password.get_secret_value()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SourcePool:
    """One idle connection per directory at most; thread-safe (each directory has its own thread)."""

    def __init__(self, *, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._idle: dict[str, tuple[str, DirectorySource, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.opened = 0  # connections opened, for the tests and the benchmark
        self.reused = 0

    def take(self, directory: DirectorySettings, password: SecretStr) -> tuple[DirectorySource, bool]:
        """The directory's connection (reused: True) or a new one (False)."""
        key = _key(directory, password)
        with self._lock:
            kept = self._idle.pop(directory.id, None)
        if kept is not None:
            kept_key, source, since = kept
            if kept_key == key and self._clock() - since < MAX_IDLE_SECONDS:
                self.reused += 1
                return source, True
            source.close()
        return self.open(directory, password), False

    def open(self, directory: DirectorySettings, password: SecretStr) -> DirectorySource:
        source = open_source(directory, password)
        self.opened += 1
        return source

    def give_back(self, directory: DirectorySettings, password: SecretStr, source: DirectorySource) -> None:
        """Keep ``source`` for the directory's next run (after a run that read everything)."""
        with self._lock:
            old = self._idle.pop(directory.id, None)
            self._idle[directory.id] = (_key(directory, password), source, self._clock())
        if old is not None and old[1] is not source:
            old[1].close()

    def discard(self, directory_id: str) -> None:
        with self._lock:
            kept = self._idle.pop(directory_id, None)
        if kept is not None:
            kept[1].close()

    def close(self) -> None:
        with self._lock:
            kept, self._idle = list(self._idle.values()), {}
        for _key_, source, _since in kept:
            source.close()

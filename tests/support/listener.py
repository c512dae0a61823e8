"""A plain TCP listener on 127.0.0.1 that records every byte it is sent and answers nothing.

What an attacker's "LDAP server" is: a directory pointed at it must never
hand it a stored password. ``connections`` counts who came; ``received`` is
everything they wrote.
"""

from __future__ import annotations

import socket
import threading


class RecordingListener:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port: int = self._server.getsockname()[1]
        self.connections = 0
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="recording-listener", daemon=True)

    @property
    def received(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _address = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._record, args=(conn,), daemon=True).start()

    def _record(self, conn: socket.socket) -> None:
        conn.settimeout(3.0)  # then hang up: the client's bind waits for an answer that never comes
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self._chunks.append(data)

    def __enter__(self) -> "RecordingListener":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=5)

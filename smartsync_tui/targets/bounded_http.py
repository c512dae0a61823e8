"""Reading an HTTP answer within bounds: an overall deadline, a stop, and a cap on its size.

httpx's timeouts are per socket operation, not per request: a server (or a
proxy) that sends one byte every few seconds keeps a request open forever, and
a stop cannot cut a read blocked in the socket. httpx also reads, and
decompresses, a whole body into memory. This module gives the Identity client
(targets/identity/client.py) what it needs instead:

- :func:`budget` sets, for the requests the current thread makes, a deadline
  and a stop event. :func:`bound_client` puts a network layer under an
  ``httpx.Client`` whose socket reads block for at most :data:`READ_SLICE`
  seconds at a time and look at both in between, so a drip ends at the
  deadline and a stop is noticed within a fraction of a second, in the headers
  as in the body. Either ends the request with :class:`Cut`.
- :func:`read_body` reads a streamed answer, refusing it early on a larger
  ``Content-Length``, counting the bytes as sent and as decoded (gzip and
  deflate are decoded here, a bounded piece at a time), and raising
  :class:`TooLarge` past the cap.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpcore
import httpx

# A blocked socket read wakes up this often to look at the deadline and the stop.
READ_SLICE = 0.25


class Cut(Exception):
    """The request ran past its deadline, or was stopped (raised from a socket read; httpx lets it through)."""

    def __init__(self, why: Literal["deadline", "stopped"]) -> None:
        super().__init__(why)
        self.why = why


class TooLarge(Exception):
    """The answer is larger than the cap (announced by ``Content-Length``, as sent, or decoded)."""


class UnknownEncoding(Exception):
    """The answer is compressed in a way that was not asked for."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


@dataclass(frozen=True)
class _Budget:
    deadline: float  # time.monotonic()
    stop: threading.Event


_current = threading.local()


@contextlib.contextmanager
def budget(seconds: float, stop: threading.Event) -> Iterator[None]:
    """The requests this thread makes inside the block end by ``seconds`` from now, or when ``stop`` is set."""
    previous = getattr(_current, "budget", None)
    _current.budget = _Budget(time.monotonic() + seconds, stop)
    try:
        yield
    finally:
        _current.budget = previous


def _left() -> float | None:
    """Seconds left to this thread's request (None: no budget); raises Cut once stopped or past its deadline."""
    current: _Budget | None = getattr(_current, "budget", None)
    if current is None:
        return None
    if current.stop.is_set():
        raise Cut("stopped")
    left = current.deadline - time.monotonic()
    if left <= 0:
        raise Cut("deadline")
    return left


def _bounded(timeout: float | None, left: float | None) -> float | None:
    if left is None:
        return timeout
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose reads honour the current thread's budget (see the module's docstring)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if _left() is None:  # not a request of ours (httpcore asking whether a pooled connection is alive)
            return self._inner.read(max_bytes, timeout)
        ends = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _left()
            assert left is not None
            slice_ = min(READ_SLICE, left) if ends is None else min(READ_SLICE, left, max(0.0, ends - time.monotonic()))
            try:
                # A timed-out recv consumed nothing (TLS included), so it is simply tried again.
                return self._inner.read(max_bytes, slice_)
            except httpcore.ReadTimeout:
                if ends is not None and time.monotonic() >= ends:
                    raise  # httpx's own per-read timeout

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, _left()))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> "_BoundedStream":
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, _left())))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, _left())
        return _BoundedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, _left())
        return _BoundedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_client(client: httpx.Client) -> None:
    """Put the bounded network layer under every transport of ``client`` (its proxies' included).

    httpx offers no public way to give its transports a network backend, so
    the pools' ``_network_backend`` is replaced before any connection exists.
    A transport without a pool (a test's MockTransport) opens no socket and is
    left alone.
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is None:
            continue
        if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
            # Fail loudly: an httpx that moved this would silently lose every bound.
            raise RuntimeError(f"cannot bound the reads of {type(pool).__name__}: httpcore changed")
        if not isinstance(pool._network_backend, _BoundedBackend):
            pool._network_backend = _BoundedBackend(pool._network_backend)


def _decoder(response: httpx.Response) -> Any:
    """A zlib decompressor for the answer's Content-Encoding; None when it is not compressed."""
    names = [n.strip().lower() for n in response.headers.get("Content-Encoding", "").split(",")]
    names = [n for n in names if n and n != "identity"]
    if not names:
        return None
    if names == ["gzip"] or names == ["x-gzip"]:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if names == ["deflate"]:
        return _Deflate()
    raise UnknownEncoding(",".join(names))


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped as the RFC says, or raw (as httpx accepts too)."""

    def __init__(self) -> None:
        self._inner: Any = None
        self._first = True

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            self._inner = zlib.decompressobj()
            try:
                return self._inner.decompress(data, max_length)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inner.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail if self._inner is not None else b""

    def flush(self) -> bytes:
        return self._inner.flush() if self._inner is not None else b""


def content_length(response: httpx.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def read_body(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed ``response``, decoded; TooLarge past ``limit`` bytes (sent or decoded).

    Raises zlib.error for a body that does not decompress.
    """
    announced = content_length(response)
    if announced is not None and announced > limit:
        raise TooLarge()
    if response.is_stream_consumed:  # built in memory (a test's MockTransport): nothing left to stream
        if len(response.content) > limit:
            raise TooLarge()
        return response.content
    decoder = _decoder(response)
    body = bytearray()
    sent = 0
    for raw in response.iter_raw():
        sent += len(raw)
        if sent > limit:
            raise TooLarge()
        if decoder is None:
            body += raw
            continue
        data = raw
        while data:
            # At most one byte past the cap is ever decoded: a gzip bomb never unfolds in memory.
            body += decoder.decompress(data, limit - len(body) + 1)
            if len(body) > limit:
                raise TooLarge()
            data = decoder.unconsumed_tail
    if decoder is not None:
        body += decoder.flush()
        if len(body) > limit:
            raise TooLarge()
    return bytes(body)

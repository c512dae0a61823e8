"""How fast a SCIM target writes: an adaptive rate that settles just under a provider's limit.

Additive increase, multiplicative decrease (TCP's rule): every answer that is
not a 429 raises the rate by about one request per second per second; a 429
halves it and holds every sender until its ``Retry-After``. A run against a
provider that allows N requests per second therefore spends its time between
N/2 and N, instead of bursting into the limit and stalling on each
``Retry-After`` as a fixed-rate client does. With no profile rate the pace is
unlimited until the first 429, then starts from half the rate seen before it.

Shared by the engine's threads (one lock); the clock and the sleep are
parameters so the tests drive it without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from smartsync_tui.core import telemetry

#: Never slower than this (one request every ten seconds) and never faster than this.
MIN_RATE = 0.1
MAX_RATE = 1000.0
#: The longest single Retry-After honoured as given; a larger one is capped (and said in the log).
MAX_RETRY_AFTER = 300.0


class Pace:
    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] | None = None) -> None:
        self.rate = rate  # requests per second; None: unlimited (until a 429)
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._lock = threading.Lock()
        self._next = 0.0  # the earliest start of the next request
        self._held_until = 0.0  # a Retry-After holds every sender until then
        self._recent: deque[float] = deque(maxlen=64)  # starts of the last requests
        #: What a run's summary and the metrics report.
        self.throttled = 0
        self.seconds_waited = 0.0

    def stop(self) -> None:
        """Wake every waiting sender (the target is closing)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self) -> None:
        """Block until this thread may send its next request (returns at once once stopped)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._held_until)
            if self.rate is not None:
                self._next = start + 1.0 / self.rate
            self._recent.append(start)
            delay = start - now
            if delay > 0:
                self.seconds_waited += delay
                telemetry.waited("scim", delay)
        if delay > 0 and not self._stop.is_set():
            self._sleep(delay)

    def answered(self) -> None:
        """A request was answered with anything but 429: a little faster."""
        with self._lock:
            if self.rate is not None:
                self.rate = min(MAX_RATE, self.rate + 1.0 / self.rate)

    def refused(self, retry_after: float | None) -> float:
        """A 429: half the rate, and every sender held until ``retry_after`` (else 1 s) from now.
        Returns the seconds held."""
        with self._lock:
            now = self._clock()
            if self.rate is None:
                self.rate = self._seen_rate(now)
            self.rate = max(MIN_RATE, self.rate / 2)
            held = min(MAX_RETRY_AFTER, retry_after if retry_after is not None and retry_after >= 0 else 1.0)
            self._held_until = max(self._held_until, now + held)
            self.throttled += 1
            return held

    def _seen_rate(self, now: float) -> float:
        """Requests per second over the last ones sent (the rate that met the limit)."""
        if len(self._recent) < 2:
            return 1.0
        span = max(now - self._recent[0], 1e-3)
        return min(MAX_RATE, len(self._recent) / span)

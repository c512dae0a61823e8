"""What the targets' HTTP clients count for the metrics: requests by status, 429s, seconds waited.

Process-wide, as the clients are made and dropped run after run while their counts must add up
for the life of the engine. Plain counters under a lock: the clients never import the metrics
library, and the status endpoint (status/metrics.py) reads :func:`snapshot` when scraped.
Labels are a target's kind (``identity``, ``scim``) and an HTTP status or ``error`` (no
answer), so the number of series stays small whatever the directories hold.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

_lock = threading.Lock()
_requests: Counter[tuple[str, str]] = Counter()
_throttled: Counter[str] = Counter()
_waited: Counter[str] = Counter()


@dataclass(frozen=True)
class TargetCounts:
    requests: dict[tuple[str, str], int]  # (target, code) -> requests answered (or not: code "error")
    throttled: dict[str, int]  # target -> 429 answers
    waited: dict[str, float]  # target -> seconds spent waiting on its limits (Retry-After, the pace)


def request(target: str, status: int | None) -> None:
    """One request sent to a target; ``status`` None when no answer came (a timeout, a dropped connection)."""
    key = (target, "error" if status is None else str(status))
    with _lock:
        _requests[key] += 1
        if status == 429:
            _throttled[target] += 1


def waited(target: str, seconds: float) -> None:
    """Seconds a sender slept to respect the target's limits."""
    if seconds > 0:
        with _lock:
            _waited[target] += seconds


def snapshot() -> TargetCounts:
    with _lock:
        return TargetCounts(dict(_requests), dict(_throttled), dict(_waited))

"""An in-memory sync target for the tests: it keeps what it is sent, by external id, and can
refuse an item, lose its connection or reject its credentials on request. It needs the
members' remote ids (as a SCIM target does), so the engine's lookup of them is exercised."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence

from smartsync_tui.targets.base import (
    BatchRefused,
    NO_REMOTE_IDS,
    NOTHING_KNOWN,
    ItemResult,
    Known,
    Target,
    TargetCredentialsRejected,
    TargetScope,
    TargetUnavailable,
)


class MemoryTarget(Target):
    name = "memory"
    display_name = "the memory target"
    needs_member_ids = True
    needs_known = True

    def __init__(self, *, scope: TargetScope | None = None) -> None:
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.remote: dict[str, str] = {}  # external id -> remote id
        self.refused: dict[str, str] = {}  # external id -> why
        self.unavailable = False
        self.credentials_rejected = False
        self.refuse_batches = 0  # how many of the next batches to refuse as a whole
        self.closed = 0
        self.member_ids_seen: list[dict[str, str]] = []
        self.known_seen: dict[str, Known] = {}  # every object the engine said it knew, last answer kept
        self.manager_ids_seen: dict[str, str] = {}  # the managers' remote ids the engine handed over
        self.members_without_id: set[str] = set()  # named by a group but given no remote id
        self._scope = scope
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _check(self, *, batch: bool = True) -> None:
        if self.credentials_rejected:
            raise TargetCredentialsRejected("The memory target refused the agent's credentials.")
        if self.unavailable:
            raise TargetUnavailable("The memory target cannot be reached.")
        if batch and self.refuse_batches > 0:
            self.refuse_batches -= 1
            raise BatchRefused("The memory target refused the batch.")

    def _apply(self, items: Sequence[dict], into: dict[str, dict]) -> list[ItemResult]:
        self._check()
        results = []
        with self._lock:
            for item in items:
                key = item["external_id"]
                if key in self.refused:
                    results.append(ItemResult(key, None, self.refused[key]))
                    continue
                into[key] = dict(item)
                remote = self.remote.setdefault(key, f"m-{next(self._ids)}")
                results.append(ItemResult(key, remote))
        return results

    def apply_users(self, users: Sequence[dict], known: Mapping[str, Known] = NOTHING_KNOWN,
                    remote_ids: Mapping[str, str] = NO_REMOTE_IDS) -> list[ItemResult]:
        with self._lock:
            self.known_seen.update(known)
            self.manager_ids_seen.update(remote_ids)
        return self._apply(users, self.users)

    def apply_groups(self, groups: Sequence[dict], remote_ids: Mapping[str, str],
                     known: Mapping[str, Known] = NOTHING_KNOWN) -> list[ItemResult]:
        self._check()
        with self._lock:
            self.known_seen.update(known)
            self.member_ids_seen.append(dict(remote_ids))
            for group in groups:
                # What a SCIM target could not send: checked by the tests.
                self.members_without_id.update(m for m in group.get("members", ()) if m not in remote_ids)
        return self._apply(groups, self.groups)

    def scope(self) -> TargetScope | None:
        self._check(batch=False)
        return self._scope

    def close(self) -> None:
        self.closed += 1

"""The contract between the sync engine and a target (TOTVS Identity today, SCIM next).

A target receives the engine's planned objects in batches and answers one
:class:`ItemResult` per object. Its trouble reaches the engine only as the
errors below, never as the target's own exception classes, so the engine's
rules hold for every target:

- :class:`TargetUnavailable` (and :class:`TargetCredentialsRejected`): every
  later batch would fail the same way. The run stops; what was not applied
  stays pending in the state store for the next run.
- :class:`TargetStopped`: a stop (SIGTERM, a closed console) cut the wait for
  an answer. The run ends as cancelled; the batch stays pending.
- :class:`BatchRefused`: the target refused this batch as a whole (a 4xx on
  the batch, a protocol error). Each of its objects is marked failed and
  retried on the next run; the run goes on with the next batch.

Everything a target raises derives from :class:`TargetError`, a
:class:`~smartsync_tui.core.errors.UserError`: its message is complete and
safe to show (no token, no password), and ``kind`` keeps the target's own
machine-readable kind (``token-rejected``...) for ``--json`` and exit codes.

Payloads are the engine's (``sync_mapping.user_payload`` / ``group_payload``):
``external_id`` is the object's AD objectGUID and the key of every answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from smartsync_tui.core.errors import UserError


class TargetError(UserError):
    """The target's trouble, in words an admin reads; ``kind`` is the target's own."""

    kind = "target"


class TargetUnavailable(TargetError):
    """The target cannot take anything now (unreachable, down, throttling past the retries)."""

    kind = "target-unavailable"


class TargetCredentialsRejected(TargetUnavailable):
    """The target refused this agent's credentials: nothing will pass until an admin fixes them."""

    kind = "target-credentials-rejected"


class TargetStopped(TargetUnavailable):
    """A stop cut the wait for the target's answer (the batch may or may not have landed)."""

    kind = "target-stopped"


class BatchRefused(TargetError):
    """The target refused one batch as a whole; the next batch may pass."""

    kind = "target-batch-refused"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The target's answer for one object of a batch."""

    external_id: str
    #: The target's own id for the object (kept in the state store), when it gives one.
    remote_id: str | None = None
    #: Why the target refused this object; None when it was applied.
    error: str | None = None
    #: The payload as the target took it, when it took less than it was sent (a SCIM group's
    #: members that had no remote id yet); the state store keeps this one, so a later run that
    #: can name them sends the rest. None: it took the payload as sent.
    applied: dict | None = None
    #: False when sending the same payload again cannot succeed (the target refused it for what
    #: it holds: a value the target rejects, a name someone else has): the object waits, with
    #: this error, until AD changes it or a full reconcile; True: sent again on the next run.
    retry: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class TargetScope:
    """What a target dictates about the read (Identity keeps each directory's filters);
    None for a value the target leaves to the directory's settings and the defaults."""

    user_filter: str | None = None
    group_filter: str | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """What the state store holds of an object this target applied before."""

    #: The target's id for it (None when the target gave none).
    remote_id: str | None
    #: The payload last applied (the engine's, or ItemResult.applied).
    payload: dict


#: No object known (the default of apply_users/apply_groups' ``known``).
NOTHING_KNOWN: Mapping[str, Known] = MappingProxyType({})
#: No remote id (the default of apply_users' ``remote_ids``).
NO_REMOTE_IDS: Mapping[str, str] = MappingProxyType({})


class Target(ABC):
    """One destination of one directory's sync, opened for one run and closed after it.

    Implementations must be safe to call from several threads at once
    (``apply_users``/``apply_groups`` run in the engine's worker pool) and must
    translate their own errors into this module's at the boundary.
    """

    #: The name a directory's settings and the registry know the target by.
    name: ClassVar[str]
    #: How an admin calls it in a message ("Identity returned no result for it").
    display_name: ClassVar[str]
    #: Whether apply_groups needs the members' remote ids, and apply_users the managers'
    #: (looked up in the state store for each batch: a group's ``members`` and a user's
    #: ``manager`` are external ids); a target that resolves them by external id leaves it False.
    needs_member_ids: ClassVar[bool] = False
    #: Whether apply_users/apply_groups need ``known``: what the state store holds of each
    #: object of the batch (a target that updates by its own id and sends only the fields that
    #: changed, as SCIM's PATCH). A target that upserts by external id leaves it False.
    needs_known: ClassVar[bool] = False
    #: The most objects one apply call should get (None: the engine's batch size). A target that
    #: sends one request per object wants few, so that the engine's concurrency spreads over them
    #: to the last object instead of leaving one thread with the last large batch.
    max_batch_size: ClassVar[int | None] = None

    @abstractmethod
    def apply_users(self, users: Sequence[dict], known: Mapping[str, Known] = NOTHING_KNOWN,
                    remote_ids: Mapping[str, str] = NO_REMOTE_IDS) -> list[ItemResult]:
        """Create or update each user (``active`` False disables it); one result per user.

        Idempotent: applying the same payload again changes nothing. An object
        missing from the answer counts as refused ("<display_name> returned no
        result for it"). With ``needs_known``, ``known`` maps the external ids of
        the batch's objects applied before to what the state store holds of them;
        an object not in it may still exist in the target (a run cut between the
        target's answer and the store's commit): applying it must not duplicate it.
        With ``needs_member_ids``, ``remote_ids`` maps the managers named by the
        batch (``manager``, see user_attributes) that the target holds to its ids.
        A payload with ``gone`` True (only when deletes_gone) is a user gone from
        AD: delete it.

        Raises: TargetUnavailable, TargetStopped, BatchRefused.
        """

    @abstractmethod
    def apply_groups(self, groups: Sequence[dict], remote_ids: Mapping[str, str],
                     known: Mapping[str, Known] = NOTHING_KNOWN) -> list[ItemResult]:
        """Create or update each group and replace its member list; one result per group.

        ``members`` in a payload are the members' external ids (AD GUIDs). With
        ``needs_member_ids``, ``remote_ids`` maps those the target applied before
        to the target's own ids (a SCIM group's members need them); else it is
        empty. Users are always applied before groups in a run. ``known``: as for
        apply_users, for the groups of the batch.

        Raises: TargetUnavailable, TargetStopped, BatchRefused.
        """

    def scope(self) -> TargetScope | None:
        """The filters the target holds for this directory (asked once per run, before
        the read), or None when it holds none. Raises TargetError like the apply methods."""
        return None

    def flattens_groups(self) -> bool:
        """Whether a group's members must be users only (the target has no nested groups): the
        engine then sends each group's users at any depth, whatever the directory's setting."""
        return False

    def user_attributes(self) -> tuple[str, ...]:
        """AD attributes this target maps beyond the engine's own fields (engine/mapping.py),
        read with every user and handed to user_fields. ``manager`` is handed over as the
        external id of the user it names when this sync knows that user (else absent), so
        that the target can name the manager by its own id."""
        return ()

    def user_fields(self, payload: dict, attributes: Mapping[str, str]) -> dict:
        """The payload this target is sent for a user: the engine's, with the fields the target
        takes from ``attributes`` (the user's values of user_attributes(), absent ones left
        out). Whatever it returns is what the preview compares and the state store keeps."""
        return payload

    def settings_key(self) -> str:
        """The target's settings that change what it is sent or how (a mapping, an adoption rule), as
        one text: when it changes, the next run is a full one, so that every object is planned again
        under the new settings. Empty: none (the run depends on the directory's filters alone)."""
        return ""

    def deletes_gone(self) -> bool:
        """Whether users and groups gone from AD are deleted in the target (its payload then says
        ``gone``) instead of disabled and emptied. The deletion threshold holds them all the same."""
        return False

    def refusal(self, kind: str, payload: dict) -> str | None:
        """Why the target would refuse this object before it is sent (a required field
        it lacks), or None. The planner skips a refused object and says why."""
        return None

    def close(self) -> None:
        """Release what the target holds (connections); called once, after the run."""
        return None

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Companion(ABC):
    """What a target runs beside the syncs while the engine runs (Identity: its login checks).

    Built by the registry (:func:`~smartsync_tui.targets.registry.open_companions`) with the
    engine's live settings, its secrets, the state database and the engine's event fan-out; it
    owns its threads. The engine calls :meth:`reconcile` when the settings change, asks
    :meth:`busy` before it forgets a directory, and calls :meth:`stop` when it stops.
    """

    @abstractmethod
    def reconcile(self) -> None:
        """Follow the settings now: start what they ask for, stop what they no longer do."""

    @abstractmethod
    def busy(self, directory_id: str) -> bool:
        """Whether work for this directory is still in flight (it must end before a forget)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop, letting what is in flight finish; called once, from the engine's thread."""

    def report(self) -> dict[str, "CompanionReport"]:
        """What monitoring shows of it (/health, ``smartsync-tui status``), per directory it works
        for. Called from the status endpoint's threads: quick, counts and flags only."""
        return {}


@dataclass(frozen=True)
class CompanionReport:
    """A companion's link with its target and the work it has in hand for one directory."""

    connected: bool  # its link with the target is up (Identity's long poll answers)
    in_flight: int  # requests taken and not answered yet (login checks being checked)

"""Targets by name. A name maps to a factory that is imported only when a run opens that
target, so the engine (and a process that never syncs) does not load a target's client.

A factory is called with the run's :class:`TargetContext` and returns an open
:class:`~smartsync_tui.targets.base.Target`, or raises a UserError that says what is
missing (a token never entered, say) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartsync_tui.core.by_name import load
from smartsync_tui.core.errors import UserError
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import DEFAULT_TARGET_NAME, AppSettings, DirectorySettings
from smartsync_tui.i18n import _
from smartsync_tui.targets.base import Companion, Target

DEFAULT_TARGET = DEFAULT_TARGET_NAME

#: name -> "module:function" of its factory.
TARGETS: dict[str, str] = {
    "identity": "smartsync_tui.targets.identity.target:open_target",
    "scim": "smartsync_tui.targets.scim.target:open_target",
}

#: name -> "module:class" of what that target runs beside the syncs (a :class:`Companion`).
COMPANIONS: dict[str, str] = {
    "identity": "smartsync_tui.targets.identity.pass_through:LoginCheckService",
}


@dataclass(frozen=True)
class TargetContext:
    """What a target factory may read: the settings, the secrets and the directory synced."""

    settings: AppSettings
    secrets: SecretStore
    directory: DirectorySettings


TargetFactory = Callable[[TargetContext], Target]


def factory(name: str) -> TargetFactory:
    """The factory registered as ``name``; a UserError naming the known ones otherwise."""
    where = TARGETS.get(name)
    if where is None:
        raise UserError(_("There is no sync target '{name}' (known: {known}).").format(
            name=name, known=", ".join(sorted(TARGETS))))
    return load(where)  # type: ignore[no-any-return]


def open_target(context: TargetContext, name: str = DEFAULT_TARGET) -> Target:
    return factory(name)(context)


def open_companions(
    settings: Callable[[], AppSettings], secrets: SecretStore, state_db: Path, on_event: Callable[[object], None],
) -> list[Companion]:
    """Every registered target's companion, built and not yet reconciled."""
    return [load(where)(settings, secrets, state_db, on_event=on_event)
            for where in COMPANIONS.values()]

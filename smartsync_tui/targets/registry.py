"""Targets by name. A name maps to a factory that is imported only when a run opens that
target, so the engine (and a process that never syncs) does not load a target's client.

A factory is called with the run's :class:`TargetContext` and returns an open
:class:`~smartsync_tui.targets.base.Target`, or raises a UserError that says what is
missing (a token never entered, say) before anything is sent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from smartsync_tui.core.errors import UserError
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, DirectorySettings
from smartsync_tui.i18n import _
from smartsync_tui.targets.base import Target

DEFAULT_TARGET = "identity"

#: name -> "module:function" of its factory.
TARGETS: dict[str, str] = {
    "identity": "smartsync_tui.targets.identity.target:open_target",
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
    module, function = where.split(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def open_target(context: TargetContext, name: str = DEFAULT_TARGET) -> Target:
    return factory(name)(context)

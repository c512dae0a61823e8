"""Loading a function or class by its ``"module:name"``: how the engine opens a directory's
source and target, and the CLI its development tools, without importing them before they are
needed (and without the import graph linking them: the contracts in pyproject.toml)."""

from __future__ import annotations

import importlib
from typing import Any


def load(where: str) -> Any:
    """``"package.module:name"`` -> that module's ``name``, the module imported now if it was not."""
    module, _colon, name = where.partition(":")
    return getattr(importlib.import_module(module), name)

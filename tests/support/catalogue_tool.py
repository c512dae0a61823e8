"""The catalogue build tool (scripts/catalogue.py) for the tests: it is not part of the package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "catalogue.py"


def _load():  # type: ignore[no-untyped-def]
    if "catalogue" in sys.modules:
        return sys.modules["catalogue"]
    spec = importlib.util.spec_from_file_location("catalogue", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["catalogue"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


catalogue = _load()

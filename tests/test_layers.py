"""The packages by role keep their dependencies: `lint-imports` checks pyproject.toml's contracts.

The engine imports no ldap3, httpx, textual or concrete target; only the AD source imports
ldap3; only the targets import httpx; nothing in the product imports the demo, the emulator
or the test bed; the console reaches the engine only through engine/client.py; screens and
widgets never import the App; each layer imports only the ones below it (docs/architecture.md).
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    out = subprocess.run([lint, "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "9 kept, 0 broken" in out.stdout


def test_a_broken_contract_fails_the_check(tmp_path):
    # The check can fail: the console does use the engine (through its client), so a contract
    # forbidding that must be reported broken.
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "smartsync_tui"\n\n'
        '[[tool.importlinter.contracts]]\nname = "the console imports no engine"\ntype = "forbidden"\n'
        'source_modules = ["smartsync_tui.ui"]\nforbidden_modules = ["smartsync_tui.engine"]\n'
    )
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    out = subprocess.run([lint, "--no-cache", "--config", str(config)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and "BROKEN" in out.stdout

"""The wall between core and UI, and what the wheel carries."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_textual_or_the_ui():
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.split(".")[0] == "textual" or n.startswith("smartsync_tui.ui"))
        for path in (ROOT / "smartsync_tui" / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_imports_without_textual_loaded():
    code = (
        "import sys, pkgutil, importlib, smartsync_tui.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__): importlib.import_module('smartsync_tui.core.' + m.name)\n"
        "print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_wheel_carries_the_styles_and_the_entry_point(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("smartsync_tui-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "smartsync-tui = smartsync_tui.cli.main:main" in archive.read(entry_points).decode()
    styles = {Path(n).name for n in names if n.startswith("smartsync_tui/styles/")}
    assert styles == {p.name for p in (ROOT / "styles").glob("*.tcss")} and styles
    assert {f"smartsync_tui/locale/{lang}/LC_MESSAGES/smartsync.mo" for lang in ("en", "pt_BR")} <= set(names)

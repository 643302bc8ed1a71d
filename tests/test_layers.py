"""The core never imports Qt: every module outside segstudio/gui imports with PySide6 and pyqtgraph blocked."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BLOCKED_IMPORT_CHECK = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("PySide6", "pyqtgraph", "PyQt5", "PyQt6", "shiboken6"):
                raise ImportError(f"{name} is blocked: the core must not import Qt")
            return None

    sys.meta_path.insert(0, BlockQt())
    import segstudio
    names = [m.name for m in pkgutil.walk_packages(segstudio.__path__, "segstudio.")
             if not m.name.startswith("segstudio.gui")]
    for name in names:
        importlib.import_module(name)
    leaked = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph")]
    assert not leaked, leaked
    print(len(names))
""")


def test_core_imports_without_qt():
    out = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT_CHECK], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # the check really walked the package (config, cli, data, engine, ... all imported)
    assert int(out.stdout.strip().splitlines()[-1]) >= 8


def test_block_really_blocks_qt():
    """The blocker itself works: importing Qt under it fails (so the test above can fail)."""
    code = BLOCKED_IMPORT_CHECK.split("import segstudio")[0] + "import pyqtgraph\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "blocked" in out.stderr


def test_albumentations_never_looks_for_updates_online():
    """segstudio/__init__ is the one place that turns Albumentations' update check off: importing any
    module that imports Albumentations, with the variable unset, finds it set before Albumentations ran."""
    code = textwrap.dedent("""
        import os, sys
        os.environ.pop("NO_ALBUMENTATIONS_UPDATE", None)
        import segstudio.samples.augment_spec
        assert "albumentations" in sys.modules
        print(os.environ.get("NO_ALBUMENTATIONS_UPDATE"))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "1"


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(lint), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=300)


def test_each_layer_imports_only_the_layers_below_it():
    """The five layers of docs/architecture.md (pyproject's import-linter contracts), imports inside
    functions included, and no Qt below the window."""
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "2 kept, 0 broken" in out.stdout


def test_the_layer_contract_catches_an_import_from_above(tmp_path):
    shutil.copytree(ROOT / "segstudio", tmp_path / "segstudio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "segstudio" / "data" / "open.py", "a") as f:
        f.write("\n\ndef _upward():\n    import segstudio.engine.train  # noqa\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0 and "five layers BROKEN" in out.stdout, out.stdout[-3000:]

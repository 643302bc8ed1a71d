"""`segstudio bench [NAME] [ARGS...]`: list the bench/*.py scripts, or run one with this interpreter."""
import argparse
import sys
from pathlib import Path

from segstudio.base.errors import ConfigError, UserError


def add_arguments(p):
    p.add_argument("name", nargs="?", help="benchmark to run (bench/NAME.py); omit to list them")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the benchmark script")


def bench_dir() -> Path:
    """bench/ of the source checkout this package runs from; a UserError when it is not there."""
    import segstudio

    candidates = [Path(segstudio.__file__).resolve().parent.parent / "bench", Path.cwd() / "bench"]
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.py")):
            return folder
    raise UserError("no bench/ folder found next to the segstudio package or in the current folder "
                    "(benchmarks ship with the source repository, not the installed package); "
                    "run this from a clone of the repository.")


def scripts(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}


def _summary(path: Path) -> str:
    """First line of a script's docstring, read without importing it."""
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (SyntaxError, UnicodeDecodeError, OSError):
        doc = None
    return doc.strip().splitlines()[0] if doc else ""


def run(args) -> int:
    import subprocess

    if getattr(sys, "frozen", False):   # a bundle's sys.executable is segstudio, not Python
        raise UserError("benchmarks need a Python interpreter and are not part of the desktop bundle; "
                        "run `segstudio bench` from a source checkout.")
    folder = bench_dir()
    found = scripts(folder)
    if not args.name:
        print(f"benchmarks in {folder}:")
        width = max((len(n) for n in found), default=0)
        for name, path in found.items():
            print(f"  {name:<{width}}  {_summary(path)}")
        print("run one with: segstudio bench NAME [ARGS...]")
        return 0
    name = args.name.removesuffix(".py")
    if name not in found:
        raise ConfigError(f"no benchmark named {args.name!r}; choose one of {', '.join(found) or '(none)'}.")
    return subprocess.call([sys.executable, str(found[name]), *args.args], cwd=str(folder.parent))

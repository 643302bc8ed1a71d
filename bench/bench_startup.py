"""Start-up of the CLI parser and of the window, each against a baseline measured in the same run (a ratio):

- `segstudio --help` and `segstudio train --help`, whole processes (the interpreter's own start included),
  against `python -c "import argparse"`;
- the window built and painted once (offscreen) against an empty QMainWindow painted once, timed from the
  first line of the script (work the window leaves to background threads is not counted).

Each figure is the median of --rounds fresh processes; it also says whether torch was imported by then.

    python bench/bench_startup.py [--rounds 5] [--root CHECKOUT]

--root measures another checkout's package (e.g. an older commit in a git worktree) the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TIMED = """
import sys, time
t = time.perf_counter()
{body}
print("SECONDS", time.perf_counter() - t, "torch" in sys.modules)
"""
BASE_CLI = "import argparse"
CLI = """
import contextlib, io
from segstudio.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main({argv!r})
"""
BASE_WINDOW = """
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1360, 860); w.show(); app.processEvents(); w.grab()
"""
WINDOW = """
from PySide6.QtWidgets import QApplication
app = QApplication([])
from segstudio.gui import MainWindow
w = MainWindow(); w.resize(1360, 860); w.show(); app.processEvents(); w.grab()
import os; print("SECONDS", time.perf_counter() - t, "torch" in sys.modules); sys.stdout.flush(); os._exit(0)
"""


def timed(body: str, root: Path, home: Path, whole_process: bool) -> tuple[float, bool]:
    env = dict(os.environ, PYTHONPATH=str(root), QT_QPA_PLATFORM="offscreen", HOME=str(home),
               XDG_CONFIG_HOME=str(home))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", TIMED.format(body=body)], env=env, capture_output=True, text=True,
                         timeout=600, cwd=home)
    wall = time.perf_counter() - started
    line = next((x for x in out.stdout.splitlines() if x.startswith("SECONDS")), None)
    if line is None:
        raise SystemExit(f"a timed start failed:\n{out.stderr[-2000:]}")
    _, seconds, torch = line.split()
    return (wall if whole_process else float(seconds)), torch == "True"


def median_of(body: str, rounds: int, root: Path, home: Path, whole_process: bool = False) -> tuple[float, bool]:
    runs = [timed(body, root, home, whole_process) for _ in range(rounds)]
    return statistics.median(s for s, _ in runs), any(t for _, t in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--root", type=Path, default=ROOT)
    args = ap.parse_args()
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-startup-{os.getpid()}"
    home.mkdir(parents=True, exist_ok=True)
    result = {"root": str(args.root)}
    base_cli, _ = median_of(BASE_CLI, args.rounds, args.root, home, whole_process=True)
    for name, argv in (("help", ["--help"]), ("train_help", ["train", "--help"])):
        seconds, torch = median_of(CLI.format(argv=argv), args.rounds, args.root, home, whole_process=True)
        result[name] = {"s": round(seconds, 3), "ratio": round(seconds / base_cli, 2), "torch": torch}
    base_window, _ = median_of(BASE_WINDOW, args.rounds, args.root, home)
    seconds, torch = median_of(WINDOW, args.rounds, args.root, home)
    result["window"] = {"s": round(seconds, 2), "ratio": round(seconds / base_window, 2), "torch": torch,
                        "baseline_s": round(base_window, 2)}
    result["cli_baseline_s"] = round(base_cli, 3)
    print(f"segstudio --help: {result['help']['s']:.3f} s ({result['help']['ratio']}x `import argparse`), "
          f"train --help: {result['train_help']['s']:.3f} s ({result['train_help']['ratio']}x); window to first "
          f"paint: {seconds:.2f} s ({result['window']['ratio']}x an empty window), torch imported: {torch}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The window on a big dataset: opening it in the MainWindow, at 1k, 10k and 100k rows of the same source.

    python bench/bench_window_scale.py [--sizes 1000,10000,100000] [--cache /tmp/segstudio-scale]
                                       [--max-side 0] [--screenshot /tmp/scale-window.png] [--diagnose]

Uses the datasets bench_scale.py builds (same source, same --max-side; built here if missing). One window,
offscreen; first the 128-row source is opened once (imports and first-use costs paid before measuring),
then each size is opened with an empty report cache (nothing known about it in advance) and measured:
- schema_s: seconds from Open to the schema table showing the new dataset's columns;
- first_row_s: to row 0's picture on screen;
- counts_s / checks_s: to the class counts filled in, and to the sampled pre-flight check shown;
- jump_s: from asking for the last row (as typing it in the row box does) to its picture on screen;
- stall_max_ms / stall_p99_ms: how late a 5 ms QTimer on the GUI thread came, from Open until the checks
  and the jump are done (the window frozen that long);
- check_all_*: then "Check all rows" (where a sample was checked) for --check-all seconds: rows checked
  and the longest GUI stall meanwhile.
Targets (issue 10, point 5): schema, first row and jump "at once" (under 0.25 s at every size; the ratio
to the 1k-row figure is printed too, but at tens of milliseconds, with a 5 ms clock, it is mostly noise),
no GUI stall over 100 ms at any size; counts and checks fill in with progress (see the screenshot).
--screenshot saves the window with the largest dataset opened afresh, its counts filling in (after the
measurements: grabbing the window stalls the GUI thread itself). Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np

HEARTBEAT_MS = 5


class Clock:
    """A 5 ms QTimer on the GUI thread: at every tick, the gap since the last one (a stall), and the
    first tick at which each named condition held (seconds since `start`)."""

    def __init__(self, app, conditions: dict, sampler=None):
        self.app, self.conditions, self.sampler = app, conditions, sampler
        self.marks: dict[str, float] = {}
        self.ticks: list[float] = []

    def run(self, timeout_s: float) -> dict:
        from PySide6.QtCore import QEventLoop, QTimer

        loop, started = QEventLoop(), time.perf_counter()

        def tick():
            now = time.perf_counter()
            self.ticks.append(now)
            if self.sampler is not None:
                self.sampler.tick()
            for name, cond in self.conditions.items():
                if name not in self.marks and cond():
                    self.marks[name] = now - started
            if len(self.marks) == len(self.conditions):
                loop.quit()
        timer = QTimer(interval=HEARTBEAT_MS)
        timer.timeout.connect(tick)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        timer.start()
        loop.exec()
        timer.stop()
        return self.marks

    def stalls(self) -> dict:
        gaps = np.diff(np.asarray(self.ticks)) * 1000.0 - HEARTBEAT_MS
        gaps = np.clip(gaps, 0, None) if len(gaps) else np.zeros(1)
        return {"max_ms": round(float(gaps.max()), 1), "p99_ms": round(float(np.percentile(gaps, 99)), 1)}


def open_conditions(window, url: str) -> dict:
    panel, state = window.datasetPanel, window.state
    old_picture = panel.sample.previewView.array
    return {
        "schema_s": lambda: state.url == url and panel.columns.schemaTable.rowCount() > 0,
        "first_row_s": lambda: (state.url == url and panel.sample.previewView.array is not old_picture
                                and panel.sample.sampleInfo.text().startswith("row 0:")),
        "counts_s": lambda: state.url == url and panel.checks.classList.count() > 0
                            and "(" in panel.checks.classList.item(0).text(),
        "checks_s": lambda: state.url == url and panel.checks._counts is not None
                            and not panel.checks.runner.is_running(),
    }


def measure_open(app, window, url: str, n: int, timeout_s: float, sampler=None, seconds: float = 0) -> dict:
    os.environ["SEGSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-window-cache-")
    clock = Clock(app, open_conditions(window, url), sampler)
    panel = window.datasetPanel
    window.open_dataset(url)
    marks = clock.run(timeout_s)
    missing = set(clock.conditions) - set(marks)
    if missing:
        raise RuntimeError(f"{n} rows: never reached {sorted(missing)}; status: {window.statusLabel.text()}")
    last = n - 1
    jump = Clock(app, {"jump_s": lambda: panel.sample.sampleInfo.text().startswith(f"row {last}:")}, sampler)
    panel.sample.sampleSpin.setValue(last)
    marks.update(jump.run(timeout_s))
    if "jump_s" not in marks:
        raise RuntimeError(f"{n} rows: row {last} never shown: {panel.sample.sampleInfo.text()}")
    stalls = clock.stalls()
    j = jump.stalls()
    return {**{k: round(v, 3) for k, v in marks.items()},
            "stall_max_ms": max(stalls["max_ms"], j["max_ms"]), "stall_p99_ms": max(stalls["p99_ms"], j["p99_ms"]),
            **check_all(app, window, seconds, sampler)}


def check_all(app, window, seconds: float, sampler=None) -> dict:
    """Press "Check all rows" (shown when the window checked a sample) and keep the heartbeat for `seconds`
    or until it ends: the GUI stalls while every row is read, and the rows checked meanwhile."""
    checks = window.datasetPanel.checks
    if not seconds or not checks.checkAllButton.isVisible():
        return {}
    seen = []

    def note(values):
        if len(values) == 4 and values[1] == "rows":
            seen.append(values[2])
    checks.runner.progress.connect(note)
    clock = Clock(app, {"done_s": lambda: not checks.runner.is_running()}, sampler)
    checks.checkAllButton.click()
    clock.run(seconds)
    checks.runner.request_stop()
    checks.runner.progress.disconnect(note)
    from segstudio.gui.app import process_events_until
    process_events_until(app, lambda: not checks.runner.is_running(), 60)
    stalls = clock.stalls()
    return {"check_all_rows": max(seen, default=0), "check_all_s": round(clock.ticks[-1] - clock.ticks[0], 1),
            "check_all_stall_max_ms": stalls["max_ms"]}


def stall_watch():
    """bench_gui's recorder of what the process did during GUI stalls (start, tick, stop, report)."""
    import bench_gui
    return (getattr(bench_gui, "StallWatch", None) or bench_gui.StallSampler)()


def screenshot(app, window, url: str, path: str, timeout_s: float) -> None:
    """The window just after opening `url` afresh (empty report cache): its first row shown, the counts
    filling in. Taken outside the measurements (a grab of the whole window stalls the GUI thread itself)."""
    from segstudio.gui.app import process_events_until

    os.environ["SEGSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-window-cache-")
    window.datasetPanel.sample.sampleSpin.setValue(0)
    conditions = open_conditions(window, url)
    window.open_dataset(url)
    process_events_until(app, conditions["first_row_s"], timeout_s)
    process_events_until(app, lambda: False, 0.3)     # a few progress updates
    window.grab().save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="row counts, comma-separated; the first is the base")
    p.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"))
    p.add_argument("--cache", default="/tmp/segstudio-scale", help="where bench_scale keeps the built datasets")
    p.add_argument("--max-side", type=int, default=0, help="the source downscaled as bench_scale --max-side")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one open may take")
    p.add_argument("--check-all", type=float, default=10.0, help="seconds of 'Check all rows' measured per size "
                   "(where the window checked a sample; 0: skip)")
    p.add_argument("--screenshot", default="", help="save the window with the largest dataset open (png)")
    p.add_argument("--diagnose", action="store_true", help="print where the GUI thread was at stalls (stderr)")
    args = p.parse_args(argv)
    import bench_scale
    from PySide6.QtCore import QSettings

    from segstudio.gui.app import _make_app

    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.cache)
    src = bench_scale.source_dataset(Path(args.coco), cache, args.max_side)
    urls = {n: bench_scale.replicated(src, n, cache) for n in sizes}
    tmp = tempfile.mkdtemp(prefix="segstudio-bench-window-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)   # leave user settings alone
    app = _make_app()
    from segstudio.gui import MainWindow

    window = MainWindow()
    window.resize(1360, 860)
    window.show()
    measure_open(app, window, src, 128, args.timeout)     # warm-up: imports, first reads, first render
    results = {}
    for n in sizes:
        sampler = stall_watch() if args.diagnose else None
        if sampler:
            sampler.start()
        results[n] = measure_open(app, window, urls[n], n, args.timeout, sampler, args.check_all)
        if sampler:
            sampler.stop()
            print(f"stall samples at {n} rows:\n{sampler.report()}", file=sys.stderr)
        r = results[n]
        print(f"{n:>7d} rows: schema {r['schema_s']:.2f} s, row 0 shown {r['first_row_s']:.2f} s, counts "
              f"{r['counts_s']:.2f} s, sampled check {r['checks_s']:.2f} s, jump to row {n - 1} {r['jump_s']:.2f} s; "
              f"GUI stalls max {r['stall_max_ms']:.0f} ms, p99 {r['stall_p99_ms']:.0f} ms; "
              + (f"Check all rows: {r['check_all_rows']:,} rows in {r['check_all_s']} s, GUI stalls max "
                 f"{r['check_all_stall_max_ms']:.0f} ms   " if "check_all_s" in r else "") +
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    if args.screenshot:
        screenshot(app, window, urls[sizes[-1]], args.screenshot, args.timeout)
    window.close()
    app.processEvents()
    base, top = results[sizes[0]], results[sizes[-1]]
    ratios = {k: round(top[k] / max(base[k], 1e-3), 2) for k in ("schema_s", "first_row_s", "jump_s")}
    summary = {"bench": "window_scale", "sizes": sizes, "max_side": args.max_side,
               "results": {str(k): v for k, v in results.items()}, "ratios_largest_vs_base": ratios,
               "stall_max_ms": max(v["stall_max_ms"] for v in results.values()),
               "load_average": round(os.getloadavg()[0], 2)}
    slowest = {k: max(v[k] for v in results.values()) for k in ("schema_s", "first_row_s", "jump_s")}
    summary["slowest_s"] = slowest
    summary["stall_max_ms"] = max(summary["stall_max_ms"],
                                  *(v.get("check_all_stall_max_ms", 0) for v in results.values()))
    print(f"slowest at any size: schema {slowest['schema_s']:.2f} s, first row {slowest['first_row_s']:.2f} s, jump "
          f"{slowest['jump_s']:.2f} s (target < 0.25 s each); at {sizes[-1]} rows vs {sizes[0]}: schema "
          f"{ratios['schema_s']}x, first row {ratios['first_row_s']}x, jump {ratios['jump_s']}x; longest GUI stall "
          f"{summary['stall_max_ms']:.0f} ms (target < 100 ms)")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading run folders off the GUI thread: the runs list, and the curves of ticked past runs.

`rundir.list_runs` reads every run's metrics.jsonl (only what was appended since its last call, but the
first listing of a folder with hundreds of long runs reads them all) and the Training tab also reads each
run's config.toml; a ticked run's overlay parses its whole metrics.jsonl. On the GUI thread that froze the
window at start-up, at every run event and at every tick.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from segstudio.engine.rundir import list_runs
from segstudio.gui.workers import LatestTask


class RunsLister(LatestTask):
    """`refresh(runs_dir)`; `listed(runs_dir, rows)` with rows (RunSummary, extra(path)), newest run first."""

    listed = Signal(str, object)

    def __init__(self, extra: Callable[[str], object] = lambda _path: None, parent: QObject | None = None):
        def work(runs_dir: str, should_stop) -> list:
            rows = []
            for run in list_runs(runs_dir, should_stop):
                if should_stop():
                    break
                rows.append((run, extra(run.path)))
            return rows
        super().__init__(work, "list the runs folder", parent)
        self.ready.connect(self._on_listed)

    def refresh(self, runs_dir: str) -> None:
        self.request(runs_dir)

    @Slot(object, object)
    def _on_listed(self, runs_dir, rows) -> None:
        self.listed.emit(runs_dir, rows)

"""The runs folder, listed off the GUI thread.

`rundir.list_runs` reads every run's metrics.jsonl (only what was appended since its last call, but the
first listing of a folder with hundreds of long runs reads them all) and the Training tab also reads each
run's config.toml: on the GUI thread that froze the window at start-up and at every run event.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from segstudio.engine.rundir import list_runs
from segstudio.gui.workers import TaskRunner


class RunsLister(QObject):
    """`refresh(runs_dir)` lists the folder in a background task; `listed(runs_dir, rows)` arrives on the GUI
    thread, rows being (RunSummary, extra(path)) pairs, newest run first. Requests made while a listing runs
    collapse into one more listing, of the newest folder asked for; a listing overtaken by a request is
    not delivered. `failed` carries a sentence."""

    listed = Signal(str, object)
    failed = Signal(str)

    def __init__(self, extra: Callable[[str], object] = lambda _path: None, parent: QObject | None = None):
        super().__init__(parent)
        self._extra = extra
        self._runner = TaskRunner(self)
        self._runner.succeeded.connect(self._on_listed)
        self._runner.failed.connect(self._on_failed)
        self._runner.done.connect(self._start_pending)
        self._pending: str | None = None
        self._closed = False

    def readers(self) -> list["RunsLister"]:
        """Reading only: safe to abandon when the window closes."""
        return [self]

    def request_stop(self) -> None:
        """The window closes: stop the listing in progress and start no other."""
        self._closed, self._pending = True, None
        self._runner.request_stop()

    def wait(self, ms: int = 30000) -> bool:
        return self._runner.wait(ms)

    def busy(self) -> bool:
        return self._runner.is_running()

    def refresh(self, runs_dir: str) -> None:
        if self._closed:
            return
        if self._runner.is_running():
            self._pending = runs_dir
            return
        self._start(runs_dir)

    def _start(self, runs_dir: str) -> None:
        extra = self._extra

        def work(_report, should_stop):
            rows = []
            for run in list_runs(runs_dir, should_stop):
                if should_stop():
                    break
                rows.append((run, extra(run.path)))
            return runs_dir, rows
        self._runner.start(work)

    @Slot(object)
    def _on_listed(self, result) -> None:
        if self._pending is None and not self._closed:
            self.listed.emit(*result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._pending is None and not self._closed:
            self.failed.emit(f"Cannot list the runs folder: {message}")

    @Slot()
    def _start_pending(self) -> None:
        runs_dir, self._pending = self._pending, None
        if runs_dir is not None and not self._closed:
            self._start(runs_dir)

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
from segstudio.gui.workers import TaskRunner


class LatestTask(QObject):
    """`request(arg)` runs `work(arg, should_stop)` in a background task; `ready(arg, result)` arrives on the
    GUI thread. Requests made while one runs collapse into one more run, with the newest argument; a result
    overtaken by a request is not delivered. `failed` carries a sentence."""

    ready = Signal(object, object)
    failed = Signal(str)

    def __init__(self, work: Callable, what: str, parent: QObject | None = None):
        super().__init__(parent)
        self._work, self._what = work, what
        self._runner = TaskRunner(self)
        self._runner.succeeded.connect(self._on_result)
        self._runner.failed.connect(self._on_failed)
        self._runner.done.connect(self._start_pending)
        self._pending: tuple | None = None
        self._closed = False

    def readers(self) -> list["LatestTask"]:
        """Reading only: safe to abandon when the window closes."""
        return [self]

    def request_stop(self) -> None:
        """The window closes: stop the task in progress and start no other."""
        self._closed, self._pending = True, None
        self._runner.request_stop()

    def wait(self, ms: int = 30000) -> bool:
        return self._runner.wait(ms)

    def busy(self) -> bool:
        return self._runner.is_running()

    def request(self, arg) -> None:
        if self._closed:
            return
        if self._runner.is_running():
            self._pending = (arg,)
            return
        self._start(arg)

    def _start(self, arg) -> None:
        work = self._work
        self._runner.start(lambda _report, should_stop: (arg, work(arg, should_stop)))

    @Slot(object)
    def _on_result(self, result) -> None:
        if self._pending is None and not self._closed:
            self.ready.emit(*result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._pending is None and not self._closed:
            self.failed.emit(f"Cannot {self._what}: {message}")

    @Slot()
    def _start_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not self._closed:
            self._start(*pending)


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

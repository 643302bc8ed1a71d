"""The classes with their instance counts, and the pre-flight report of the open dataset's rows.

Nothing here waits for the whole dataset: the class names show at once; a dataset version seen before
answers from the report cache (data.scan); otherwise the counts fill in with a progress figure while a
worker reads the label column (then they are cached), and the check of a fixed sample follows.
"""
from __future__ import annotations

import textwrap

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QListWidget,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio.base.pace import Pace
from segstudio.data.counts_report import counts_and_report
from segstudio.data.preflight import sample_rows
from segstudio.gui.state import DatasetState
from segstudio.gui.workers import LatestTask

PREFLIGHT_ROWS = 2000  # rows checked in the window; `segstudio inspect` and training check them all


class DatasetChecks(QSplitter):
    """Counts classes and runs the pre-flight check in a worker whenever the dataset or its mapping changes."""

    rowActivated = Signal(int)   # a row id of a finding was clicked
    classClicked = Signal(int)   # a class of the list was clicked (its index)

    def __init__(self, state: DatasetState, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.state = state
        self._counts = None      # the class counts of the dataset shown (Check all rows reuses them)
        # a new dataset or mapping stops the check in progress and starts its own (newest wins)
        self.task = LatestTask(_check, "check the rows", self, progress=True)
        self.task.ready.connect(lambda _job, result: self._on_result(result))
        self.task.progress.connect(self._on_progress)
        self.task.failed.connect(self._set_message)   # "Cannot check the rows: ..."
        self.classesBox = classes = QGroupBox("Classes (instances)")
        self.classList = QListWidget(objectName="classList")
        self.classList.setToolTip("Click a class to step through the rows that contain it")
        self.classList.itemClicked.connect(lambda item: self.classClicked.emit(self.classList.row(item)))
        self.classList.itemActivated.connect(lambda item: self.classClicked.emit(self.classList.row(item)))
        QVBoxLayout(classes).addWidget(self.classList)
        checks = QGroupBox("Pre-flight check (click a row id to show it)")
        self.preflightTree = QTreeWidget(objectName="preflightTree")
        self.preflightTree.setHeaderHidden(True)
        self.preflightTree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.preflightTree.itemActivated.connect(self._on_finding_clicked)
        self.preflightTree.itemClicked.connect(self._on_finding_clicked)
        self.checkAllButton = QPushButton("Check all rows", objectName="checkAllRowsButton",
                                          clicked=self.check_all)
        self.checkAllButton.setToolTip("Check every row instead of a fixed sample (with progress; runs in the "
                                       "background)")
        self.checkAllButton.setVisible(False)
        layout = QVBoxLayout(checks)
        layout.addWidget(self.preflightTree)
        layout.addWidget(self.checkAllButton)
        self.addWidget(classes)
        self.addWidget(checks)
        self.setSizes([200, 200])

    @Slot()
    def clear(self) -> None:
        """The state's dataset or mapping changed: its class names, nothing of the previous one's figures."""
        self.classList.clear()
        self.classList.addItems(self.state.class_names)
        self.classesBox.setTitle("Classes (instances)")
        self.preflightTree.clear()
        self.checkAllButton.setVisible(False)
        self._counts = None
        if self.state.ready:
            self._set_message("The counts and checks start once the first row is shown ...")

    @Slot()
    def start(self) -> None:
        """List the classes at once; count them and check a sample of rows in the worker."""
        st = self.state
        self.clear()
        if not st.ready:
            return
        self._counts = None
        n = st.num_rows
        self._set_message("Checking rows ..." if n <= PREFLIGHT_ROWS
                          else f"Checking a fixed sample of {PREFLIGHT_ROWS:,} of {n:,} rows ...")
        self.task.request(("sample", st.mapped, st.mapping, sample_rows(n, PREFLIGHT_ROWS)))

    @Slot()
    def check_all(self) -> None:
        """The pre-flight check on every row, with progress (a new dataset or mapping cancels it)."""
        st = self.state
        if self.task.busy() or not st.ready or self._counts is None:
            return
        self.checkAllButton.setVisible(False)
        self._set_message(f"Checking all {st.num_rows:,} rows ...")
        self.task.request(("all", st.mapped, st.mapping, self._counts))

    def _set_message(self, text: str) -> None:
        self.preflightTree.clear()
        QTreeWidgetItem(self.preflightTree, [text])

    @Slot(object)
    def _on_progress(self, values) -> None:
        """(mapping, rows counted, total rows) while counting; (mapping, counts) once they are known."""
        if values[0] is not self.state.mapping:
            return
        if len(values) == 4:           # (mapping, "rows" or "sample", done, total): the check's progress
            first = self.preflightTree.topLevelItem(0)
            done, total = values[2], values[3]
            n = self.state.num_rows
            if first is None:
                return
            if values[1] == "rows" or total >= n:
                first.setText(0, f"Checking {'all ' if values[1] == 'rows' else ''}rows: {done:,} of {total:,} ...")
            else:
                first.setText(0, f"Checking a fixed sample of {total:,} of {n:,} rows: {done:,} done ...")
        elif len(values) == 3:
            done, total = values[1], values[2]
            self.classesBox.setTitle(f"Classes (counting instances: {done:,} of {total:,} rows)")
        else:
            self.classesBox.setTitle("Classes (instances)")
            self._show_counts(values[1])

    @Slot(object)
    def _on_result(self, result) -> None:
        if result is None:
            return
        mapping, counts, report = result
        if mapping is not self.state.mapping or getattr(report, "cancelled", False):
            return  # the mapping changed meanwhile; a new check is on its way
        self._counts = counts
        self._show_counts(counts)
        self.preflightTree.clear()
        sampled = report.rows_checked < report.num_rows
        findings = [("error", f) for f in report.errors] + [("warning", f) for f in report.warnings]
        findings += [("warning", message) for message in self._empty_classes(counts)]
        if sampled:
            # every figure below counts the sample only: say so above them, and keep saying it
            QTreeWidgetItem(self.preflightTree, [textwrap.fill(
                f"A fixed sample of {report.rows_checked:,} of {report.num_rows:,} rows was checked: the counts "
                "below are the sample's. Check all rows for the whole dataset's.", 58)])
        elif not findings:
            QTreeWidgetItem(self.preflightTree, [f"No problems found in {report.rows_checked:,} rows checked."])
        else:
            QTreeWidgetItem(self.preflightTree, [f"All {report.rows_checked:,} rows checked."])
        self.checkAllButton.setVisible(sampled)
        for level, f in findings:
            message = f if isinstance(f, str) else (f"in the sample: {f.message}" if sampled else f.message)
            # broken into lines by hand: QTreeView does not wrap item text to the column width
            top = QTreeWidgetItem(self.preflightTree, [textwrap.fill(f"{level}: {message}", 58)])
            top.setToolTip(0, message)
            top.setForeground(0, Qt.GlobalColor.red if level == "error" else Qt.GlobalColor.darkYellow)
            for row in ([] if isinstance(f, str) else list(f.rows)[:200]):
                child = QTreeWidgetItem(top, [f"row {row}"])
                child.setData(0, Qt.ItemDataRole.UserRole, int(row))
            top.setExpanded(level == "error" or len(findings) == 1)   # warnings open on a click

    def _empty_classes(self, counts) -> list[str]:
        """A warning for classes no row uses (their heads learn nothing; their AP stays undefined)."""
        total = counts[0]
        # a COCO import names duplicate class names "facade (id 0)" already: no second id after it
        empty = [f"'{name}'" + ("" if name.endswith(")") and "(id " in name else f" (id {i})")
                 for i, name in enumerate(self.state.class_names) if i >= len(total) or not total[i]]
        if len(empty) == 1:
            return [f"class {empty[0]} has no instances in any row: check the labels column (a class without "
                    "instances is never learnt and gets no AP; training works otherwise)"]
        if empty:
            listed = ", ".join(empty[:8]) + (f" and {len(empty) - 8} more" if len(empty) > 8 else "")
            return [f"{len(empty)} classes have no instances in any row ({listed}): check the labels column (they "
                    "are never learnt and get no AP; training works otherwise)"]
        return []

    def _show_counts(self, counts) -> None:
        total, crowd = counts
        self.classList.clear()
        for i, name in enumerate(self.state.class_names):
            extra = f", {crowd[i]} crowd" if i < len(crowd) and crowd[i] else ""
            self.classList.addItem(f"{name}  ({total[i] if i < len(total) else 0}{extra})")

    @Slot(QTreeWidgetItem)
    def _on_finding_clicked(self, item, *_):
        row = item.data(0, Qt.ItemDataRole.UserRole)
        if row is not None:
            self.rowActivated.emit(int(row))


def _check(job, should_stop, report):
    """Worker: ("sample", mapped, mapping, rows): class counts (reported as soon as known) and the pre-flight
    on the sampled rows; ("all", mapped, mapping, counts): the pre-flight on every row. -> (mapping, counts,
    report), or None when a newer dataset or mapping stopped the counting."""
    kind, mapped, mapping, extra = job
    if kind == "all":
        progress = _throttled(lambda phase, done, total: report(mapping, phase, done, total))
        return mapping, extra, counts_and_report(mapped, should_stop=should_stop, progress=progress).report

    def progress(phase, done, total):   # counting: (mapping, done, total); checking: with its phase
        report(mapping, done, total) if phase == "counts" else report(mapping, phase, done, total)
    found = counts_and_report(mapped, rows=extra, should_stop=should_stop, progress=_throttled(progress),
                              on_counts=lambda counts: counts is not None and report(mapping, counts))
    return None if found.counts is None else (mapping, found.counts, found.report)


def _throttled(progress, every_s: float = 0.2):
    """`progress` called at most every `every_s` seconds (and for the last step): signals stay few."""
    pace = Pace(every_s)

    def call(phase: str, done: int, total: int) -> None:
        if pace.due(force=done >= total):
            progress(phase, done, total)
    return call

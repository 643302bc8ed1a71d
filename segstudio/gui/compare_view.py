"""Run A against run B in the Evaluation tab: pick the other run, Compare, and read per-class AP deltas with
their 95% bootstrap intervals (engine.compare, computed in a worker), the notes and the settings that
differ, and what changed in the data between the runs' dataset versions. Significant rows are bold. Ticking two
runs in the Training tab's list and pressing Compare there fills the same view (EvalPanel.compare_pair)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget

from segstudio.gui.widgets import read_only_table

COLUMNS = ("class", "A", "B", "B - A", "95% interval")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


class CompareView(QWidget):
    compareRequested = Signal(str)   # the other run's folder

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.otherCombo = QComboBox(objectName="evalCompareCombo")
        self.compareButton = QPushButton("Compare", objectName="compareButton", clicked=self._request)
        self.compareButton.setToolTip("Per-class AP of the selected run (A) against this one (B), with 95% "
                                      "intervals from 1,000 bootstrap resamples (as `segstudio compare A B`)")
        self.label = QLabel("Pick another evaluated run and press Compare.", objectName="compareLabel",
                            wordWrap=True)
        self.label.setMinimumHeight(4 * self.label.fontMetrics().lineSpacing())   # wrapped lines stay readable
        self.dataLabel = QLabel("", objectName="compareDataLabel", wordWrap=True)
        self.dataLabel.setToolTip("What changed in the data between the dataset versions the two runs read "
                                  "(from their run cards' data.commit)")
        self.table = read_only_table(list(COLUMNS), "compareTable")
        top = QHBoxLayout()
        top.addWidget(QLabel("A = the run above; B ="))
        top.addWidget(self.otherCombo, 1)
        top.addWidget(self.compareButton)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.label)
        layout.addWidget(self.dataLabel)
        layout.addWidget(self.table, 1)

    def set_runs(self, runs: list[tuple[str, str]], current: str) -> None:
        """[(title, folder)] of the listed runs, the selected one (A) left out."""
        keep = self.otherCombo.currentData()
        self.otherCombo.clear()
        for title, path in runs:
            if path != current:
                self.otherCombo.addItem(title, path)
        self.choose(keep)

    def choose(self, path: str) -> None:
        """Make `path` the run B (when listed)."""
        index = self.otherCombo.findData(path)
        if index >= 0:
            self.otherCombo.setCurrentIndex(index)

    def waiting(self) -> None:
        """A comparison was asked for: the previous result's words go."""
        self.label.setText("Comparing ...")
        self.dataLabel.setText("")

    def _request(self) -> None:
        if self.otherCombo.currentData():
            self.waiting()
            self.compareRequested.emit(self.otherCombo.currentData())

    def show_result(self, result: dict) -> None:
        diff = result["config_diff"]
        settings = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items()) or "none"
        notes = " ".join(result["notes"])
        names = f"A = {Path(result['run_a']).name}, B = {Path(result['run_b']).name}. "
        self.dataLabel.setText((result.get("data") or {}).get("text", ""))
        self.label.setText(f"{notes + ' ' if notes else ''}{names}{'Mask' if result['kind'] == 'segm' else 'Box'} AP "
                           f"@ IoU {result['iou']}, {result['resamples']} {'paired ' if result['paired'] else ''}"
                           f"bootstrap resamples; bold: the interval excludes 0. Settings that differ: {settings}.")
        rows = ([("all classes", result["overall"])] if result["overall"] else []) + list(result["per_class"].items())
        self.table.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for r, (name, v) in enumerate(rows):
            lo, hi = v["ci"]
            cells = [name, _fmt(v["a"]), _fmt(v["b"]), "-" if v["delta"] is None else f"{v['delta']:+.3f}",
                     "-" if lo is None else f"[{lo:+.3f}, {hi:+.3f}]"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if v["significant"]:
                    item.setFont(bold)
                self.table.setItem(r, c, item)

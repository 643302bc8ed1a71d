"""The threshold explorer: a class's PR curve, precision/recall/F1 against the score threshold with a line
to drag, and per-class P, R, F1, TP/FP/FN at that threshold (engine.explorer.Explorer does the counting).

A drag step only asks the explorer for counts (one binary search per class) and rewrites the table's
texts in place, so it stays in milliseconds whatever the number of validation images.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget

from segstudio.gui.curves import make_plot
from segstudio.gui.widgets import read_only_table

KINDS = (("segm", "masks"), ("bbox", "boxes"))
SETTINGS = ("0.5", "0.75", "0.5:0.95")
COLUMNS = ("class", "F1-best", "precision", "recall", "F1", "TP", "FP", "FN")


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


class ThresholdExplorer(QWidget):
    thresholdChanged = Signal(float)   # the user dragged the line or asked for the F1-best threshold
    viewChanged = Signal()             # kind or IoU setting changed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.explorer = None
        self.threshold = 0.5
        self._labels: list = []
        self.kindCombo = QComboBox(objectName="evalKindCombo")
        for key, title in KINDS:
            self.kindCombo.addItem(title, key)
        self.iouCombo = QComboBox(objectName="evalIouCombo")
        for s in SETTINGS:
            self.iouCombo.addItem(f"IoU {s}", s)
        self.classCombo = QComboBox(objectName="evalCurveClassCombo")
        self.classCombo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.bestButton = QPushButton("F1-best", objectName="evalBestThresholdButton", clicked=self.use_best)
        self.bestButton.setToolTip("Move the threshold to the F1-best score of the class shown (all classes: "
                                   "the global one saved in eval/thresholds.json)")
        for combo in (self.kindCombo, self.iouCombo):
            combo.currentIndexChanged.connect(self._on_view)
        self.classCombo.currentIndexChanged.connect(self._draw_curves)
        top = QHBoxLayout()
        for w in (self.kindCombo, self.iouCombo, QLabel("curve of"), self.classCombo, self.bestButton):
            top.addWidget(w)
        top.addStretch(1)
        self.prPlot = make_plot("prCurvePlot", "precision-recall", "precision", "recall")
        self.scorePlot = make_plot("scoreCurvePlot", "<span style='color:#1f77b4'>precision</span>, "
                                   "<span style='color:#2ca02c'>recall</span>, <span style='color:#d62728'>F1</span>"
                                   " (drag the line)", "value", "score threshold")
        for plot in (self.prPlot, self.scorePlot):
            plot.setXRange(0, 1, padding=0.02)
            plot.setYRange(0, 1, padding=0.02)
            plot.setMouseEnabled(False, False)
        self.prLine = self.prPlot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.prMarker = pg.ScatterPlotItem(size=10, brush=pg.mkBrush("#d62728"), pen=None)
        self.prPlot.addItem(self.prMarker)
        # step lines: the counts change only at a prediction's score
        self.pLine = self.scorePlot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.rLine = self.scorePlot.plot(pen=pg.mkPen("#2ca02c", width=2))
        self.fLine = self.scorePlot.plot(pen=pg.mkPen("#d62728", width=2))
        self.thresholdLine = pg.InfiniteLine(0.5, angle=90, movable=True, bounds=(0, 1),
                                             pen=pg.mkPen("#202124", width=2), hoverPen=pg.mkPen("#ff7f0e", width=3))
        self.thresholdLine.setObjectName("evalThresholdLine")
        self.thresholdLine.sigPositionChanged.connect(self._on_drag)
        self.scorePlot.addItem(self.thresholdLine)
        plots = QHBoxLayout()
        plots.addWidget(self.prPlot)
        plots.addWidget(self.scorePlot)
        self.summary = QLabel("Evaluate the run to explore its thresholds.", objectName="evalExplorerLabel",
                              wordWrap=True)
        self.table = read_only_table(list(COLUMNS), "thresholdTable")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(plots, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 3)

    def kind(self) -> str:
        return self.kindCombo.currentData()

    def setting(self) -> str:
        return self.iouCombo.currentData()

    def set_explorer(self, explorer) -> None:
        """Show a loaded engine.explorer.Explorer (None: clear)."""
        self.explorer = explorer
        self._labels = explorer.labels() if explorer is not None else []
        self.classCombo.blockSignals(True)
        self.classCombo.clear()
        for lab in self._labels:
            self.classCombo.addItem(explorer.name(lab), lab)
        self.classCombo.blockSignals(False)
        self.table.setRowCount(len(self._labels))
        for r, lab in enumerate(self._labels):
            for c in range(len(COLUMNS)):
                self.table.setItem(r, c, QTableWidgetItem(explorer.name(lab) if c == 0 else ""))
                if c:
                    self.table.item(r, c).setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._on_view()

    @Slot()
    def _on_view(self, *_):
        if self.explorer is None:
            for line in (self.prLine, self.pLine, self.rLine, self.fLine):
                line.setData([], [])
            self.prMarker.setData([], [])
            return
        for r, lab in enumerate(self._labels):
            best = self.explorer.best_threshold(self.kind(), lab)
            self.table.item(r, 1).setText("-" if best is None else f"{best:.2f}")
        self._draw_curves()
        self.viewChanged.emit()

    @Slot()
    def _draw_curves(self, *_):
        if self.explorer is None or self.classCombo.currentData() is None:
            return
        self._curve = c = self.explorer.curve(self.kind(), self.setting(), self.classCombo.currentData())
        # from recall 0 (a threshold above every score) at the first precision, so short curves show
        first = c["precision"][:1]
        self.prLine.setData(np.r_[0.0, c["recall"]] if len(first) else [], np.r_[first, c["precision"]])
        self.pLine.setData(np.r_[1.0, c["scores"]] if len(first) else [], np.r_[first, c["precision"]])
        self.rLine.setData(np.r_[1.0, c["scores"]] if len(first) else [], np.r_[0.0 * first, c["recall"]])
        self.fLine.setData(np.r_[1.0, c["scores"]] if len(first) else [], np.r_[0.0 * first, c["f1"]])
        self.update_counts()

    def set_threshold(self, value: float) -> None:
        """Move the line (no thresholdChanged: the caller already knows) and update the counts."""
        self.threshold = float(value)
        self.thresholdLine.blockSignals(True)
        self.thresholdLine.setValue(self.threshold)
        self.thresholdLine.blockSignals(False)
        self.update_counts()

    @Slot()
    def _on_drag(self, *_):
        self.threshold = float(np.clip(self.thresholdLine.value(), 0.0, 1.0))
        self.update_counts()
        self.thresholdChanged.emit(self.threshold)

    def use_best(self) -> None:
        if self.explorer is None or self.classCombo.currentData() is None:
            return
        best = self.explorer.best_threshold(self.kind(), self.classCombo.currentData())
        if best is not None:
            self.set_threshold(best)
            self.thresholdChanged.emit(self.threshold)

    def update_counts(self) -> None:
        """Per-class counts at the current threshold: O(classes) binary searches and text updates."""
        if self.explorer is None:
            return
        rows = self.explorer.rows(self.kind(), self.setting(), self.threshold)
        for r, (_lab, p, rec, f1, tp, fp, fn) in enumerate(rows):
            for c, text in enumerate((f"{p:.3f}", f"{rec:.3f}", f"{f1:.3f}", _num(tp), _num(fp), _num(fn)), 2):
                self.table.item(r, c).setText(text)
        shown = self.classCombo.currentData()
        for lab, p, rec, f1, tp, fp, fn in rows:
            if lab == shown:
                self.prMarker.setData([rec], [p])
                self.summary.setText(f"{self.explorer.name(lab)} at score >= {self.threshold:.2f} "
                                     f"({self.kindCombo.currentText()}, IoU {self.setting()}): precision {p:.3f}, "
                                     f"recall {rec:.3f}, F1 {f1:.3f}; TP {_num(tp)}, FP {_num(fp)}, FN {_num(fn)}")

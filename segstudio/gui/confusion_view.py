"""The confusion matrix as a grid to click: rows are ground truth, columns predictions, with a background
row (spurious predictions) and column (missed instances); cells coloured by the row-normalised share.
Clicking a cell emits its instances, which the Evaluation tab's browser lists with them outlined.
Only classes that occur (in a row or a column) are shown, so 80 COCO classes stay readable.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget


class ConfusionView(QWidget):
    cellChosen = Signal(object, str)   # [(image position, gt index, prediction index)], a description

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.confusion = None
        self._shown: list = []
        self.normaliseCheck = QCheckBox("row-normalised", objectName="confusionNormaliseCheck")
        self.normaliseCheck.toggled.connect(self._fill)
        self.label = QLabel("Evaluate the run to see its confusion matrix.", objectName="confusionLabel",
                            wordWrap=True)
        self.grid = QTableWidget(0, 0, objectName="confusionTable")
        self.grid.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.grid.cellClicked.connect(self._on_click)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.normaliseCheck)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.grid, 1)

    def set_confusion(self, confusion, caption: str = "") -> None:
        """Show an engine.confusion.Confusion (None: clear)."""
        self.confusion = confusion
        if confusion is not None:
            counts = confusion.counts
            used = np.flatnonzero((counts.sum(0) + counts.sum(1)) > 0)
            self._shown = sorted(set(used.tolist()) | {0})
            self.label.setText(f"{caption} Rows: ground truth; columns: prediction. Click a cell to list its images.")
        else:
            self._shown = []
        self._fill()

    @Slot()
    def _fill(self, *_):
        cm, shown = self.confusion, self._shown
        self.grid.clear()
        self.grid.setRowCount(len(shown))
        self.grid.setColumnCount(len(shown))
        if cm is None:
            return
        names = [cm.names[i] for i in shown]
        self.grid.setHorizontalHeaderLabels(names)
        self.grid.setVerticalHeaderLabels(names)
        norm = cm.normalised()
        for r, i in enumerate(shown):
            for c, j in enumerate(shown):
                count, share = int(cm.counts[i, j]), float(norm[i, j])
                text = f"{share:.2f}" if self.normaliseCheck.isChecked() else str(count)
                item = QTableWidgetItem(text if count else "")
                shade = int(255 - 180 * share)
                item.setBackground(QBrush(QColor(shade, shade, 255) if i != j or i == 0 else QColor(shade, 255, shade)))
                item.setToolTip(f"ground truth {cm.names[i]}, predicted {cm.names[j]}: {count} "
                                f"({share:.0%} of the row)")
                self.grid.setItem(r, c, item)
        self.grid.resizeColumnsToContents()

    def cell(self, gt_name: str, pred_name: str) -> tuple[int, int]:
        """(row, column) of the grid cell for a ground-truth and a predicted name ("background" included)."""
        names = [self.confusion.names[i] for i in self._shown]
        return names.index(gt_name), names.index(pred_name)

    @Slot(int, int)
    def _on_click(self, row: int, col: int) -> None:
        if self.confusion is None:
            return
        i, j = self._shown[row], self._shown[col]
        instances = self.confusion.cells.get((i, j), [])
        names = self.confusion.names
        what = ("missed" if j == 0 else "spurious" if i == 0 else "found" if i == j else "confused")
        self.cellChosen.emit(instances, f"{len(instances)} {what}: ground truth {names[i]}, predicted {names[j]}")

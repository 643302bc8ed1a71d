"""The learning-rate range test in the window: the sweep off the GUI thread, its curve, and its suggestion."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from segstudio.gui.widgets import vbox
from segstudio.gui.workers import TaskRunner

STEPS = 80


def sweep_task(cfg, steps: int):
    """The TaskRunner job: engine.lr_finder (torch) is imported in the worker thread."""
    def run(report, should_stop):
        from segstudio.engine.lr_finder import find_lr
        return find_lr(cfg, iters=steps, on_progress=report, should_stop=should_stop)
    return run


class LrFinderDialog(QDialog):
    """Runs the sweep for `cfg` at once (STEPS steps, fewer when train.max_iters is lower, as on the command
    line); `suggestion` is the lr to use when the dialog is accepted."""

    def __init__(self, cfg, parent: QWidget | None = None):
        steps = min(cfg.train.max_iters or STEPS, STEPS)
        super().__init__(parent, objectName="lrFinderDialog", windowTitle="Find a learning rate")
        self.suggestion: float | None = None
        self.sweep = None
        self.progressBar = QProgressBar(objectName="lrProgressBar", maximum=steps, format="step %v of %m")
        self.plot = pg.PlotWidget(objectName="lrPlot", background="w")
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)   # not "(x0.001)" on a log axis
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.raw = self.plot.plot([], [], pen=pg.mkPen("#9db4d6", width=1))
        self.smoothed = self.plot.plot([], [], pen=pg.mkPen("#1f4e99", width=2))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#c0392b", width=2, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.resultLabel = QLabel("Training a copy of the model for a few steps with a growing learning rate; "
                                  "nothing is written.", objectName="lrResultLabel", wordWrap=True)
        self.buttons = QDialogButtonBox()
        self.useButton = QPushButton("Use it", objectName="useLrButton", enabled=False)
        self.cancelButton = QPushButton("Cancel", objectName="cancelLrButton")
        self.buttons.addButton(self.useButton, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancelButton, QDialogButtonBox.ButtonRole.RejectRole)
        self.useButton.clicked.connect(self.accept)
        self.cancelButton.clicked.connect(self.reject)
        QVBoxLayout(self).addWidget(vbox(self.progressBar, (self.plot, 1), self.resultLabel, self.buttons))
        self.resize(560, 420)
        self._lrs, self._losses = [], []
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.succeeded.connect(self._on_result)
        self.runner.failed.connect(self._on_failed)
        self.runner.start(sweep_task(cfg, steps))

    @Slot(object)
    def _on_progress(self, values) -> None:
        step, _total, lr, loss = values
        self.progressBar.setValue(step)
        if math.isfinite(loss):
            self._lrs.append(lr)
            self._losses.append(loss)
            self.raw.setData(self._lrs, self._losses)

    @Slot(object)
    def _on_result(self, sweep) -> None:
        self.sweep = sweep
        self.raw.setData(sweep.lrs, sweep.losses)
        self.smoothed.setData(sweep.lrs, sweep.smoothed)
        self.progressBar.setValue(self.progressBar.maximum())
        if sweep.smoothed:   # the divergence at the end must not flatten the part that matters
            low = min(min(sweep.losses), min(sweep.smoothed))
            self.plot.setYRange(low, min(max(sweep.losses), low + 2.5 * (max(sweep.smoothed[0], low) - low) + 1.0))
        if sweep.stopped == "cancelled":
            self.resultLabel.setText("Cancelled.")
            return
        if sweep.suggestion is None:
            self.resultLabel.setText("Too few steps to suggest a learning rate (the loss diverged at once); "
                                     "check the data or lower the start.")
            return
        self.suggestion = sweep.suggestion
        self.marker.setValue(math.log10(sweep.suggestion))
        self.marker.setVisible(True)
        self.resultLabel.setText(f"Suggested learning rate: {sweep.suggestion:.2g} ({sweep.rule}; the lowest "
                                 f"smoothed loss / 10 gives {sweep.min_loss_lr:.2g}).")
        self.useButton.setText(f"Use {sweep.suggestion:.2g}")
        self.useButton.setEnabled(True)
        self.cancelButton.setText("Close")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.resultLabel.setText(message)
        self.cancelButton.setText("Close")

    def done(self, result: int) -> None:
        """Closing (Cancel, Escape, Use) stops a sweep still running; the window waits for its thread."""
        self.runner.request_stop()
        self.runner.wait()
        super().done(result)

"""Evaluation panel: per-class AP of a run, and its validation images with predictions beside ground truth.

The AP table comes from the run's metrics.jsonl (the engine's evaluation events). The image browser needs
the engine's per-image evaluation; while that is missing the panel says so.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QSlider, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from segstudio.errors import NotImplementedYet, UserError
from segstudio.gui.core_api import core
from segstudio.gui.widgets import ImageView, Notice
from segstudio.gui.workers import TaskRunner


def latest_eval(records: list[dict]) -> dict | None:
    evals = [r for r in records if r.get("event") == "eval"]
    return evals[-1] if evals else None


def _fmt(value) -> str:
    return "-" if value is None or value != value or value < 0 else f"{value:.3f}"


class EvalPanel(QWidget):
    message = Signal(str, bool)

    def __init__(self, runs_dir_fn, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir_fn = runs_dir_fn
        self._runner = TaskRunner(self)
        self._runner.succeeded.connect(self._on_images)
        self._runner.failed.connect(lambda m: self.message.emit(f"Evaluation: {m}", True))
        self._results: list = []
        self._build()

    def _build(self) -> None:
        self.runCombo = QComboBox(objectName="evalRunCombo")
        self.runCombo.currentIndexChanged.connect(self._on_run)
        refresh = QPushButton("Refresh", objectName="evalRefreshButton", clicked=self.refresh_runs)
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.runCombo, 1)
        top.addWidget(refresh)
        self.summaryLabel = QLabel("Select a run that has been evaluated.", objectName="evalSummaryLabel",
                                   wordWrap=True)

        self.apTable = QTableWidget(0, 3, objectName="perClassApTable")
        self.apTable.setHorizontalHeaderLabels(["class", "box AP", "mask AP"])
        self.apTable.verticalHeader().setVisible(False)
        self.apTable.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.apTable.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.apTable.setSortingEnabled(True)
        table_box = QGroupBox("Per-class AP (last evaluation)")
        QVBoxLayout(table_box).addWidget(self.apTable)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(table_box)
        split.addWidget(self._build_browser())
        split.setSizes([360, 900])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summaryLabel)
        layout.addWidget(split, 1)

    def _build_browser(self) -> QWidget:
        box = QGroupBox("Validation images, worst first: prediction | ground truth")
        layout = QVBoxLayout(box)
        self._predict = self._find_image_api()
        if self._predict is None:
            layout.addWidget(Notice("Per-image predictions: not implemented yet (the engine has no per-image "
                                    "evaluation function in this build). The per-class AP table works."))
            self.imageList = QListWidget(objectName="evalImageList")
            self.imageList.setVisible(False)
            return box
        controls = QHBoxLayout()
        self.evalButton = QPushButton("Evaluate images", objectName="evalImagesButton", clicked=self.run_images)
        self.thresholdSlider = QSlider(Qt.Orientation.Horizontal, objectName="scoreThresholdSlider")
        self.thresholdSlider.setRange(0, 100)
        self.thresholdSlider.setValue(50)
        self.thresholdSpin = QDoubleSpinBox(objectName="scoreThresholdSpin", minimum=0, maximum=1,
                                            singleStep=0.05, value=0.5)
        self.thresholdSlider.valueChanged.connect(lambda v: self.thresholdSpin.setValue(v / 100))
        self.thresholdSpin.valueChanged.connect(lambda v: self.thresholdSlider.setValue(round(v * 100)))
        self.thresholdSpin.valueChanged.connect(self._show_current)
        controls.addWidget(self.evalButton)
        controls.addStretch(1)
        controls.addWidget(QLabel("Score threshold"))
        controls.addWidget(self.thresholdSlider, 1)
        controls.addWidget(self.thresholdSpin)
        self.imageList = QListWidget(objectName="evalImageList")
        self.imageList.setMaximumWidth(220)
        self.imageList.currentRowChanged.connect(self._show_current)
        self.predView = ImageView(placeholder="prediction")
        self.predView.setObjectName("evalPredictionView")
        self.truthView = ImageView(placeholder="ground truth")
        self.truthView.setObjectName("evalTruthView")
        views = QHBoxLayout()
        views.addWidget(self.imageList)
        views.addWidget(self.predView, 1)
        views.addWidget(self.truthView, 1)
        layout.addLayout(controls)
        layout.addLayout(views, 1)
        return box

    @staticmethod
    def _find_image_api():
        """The engine's per-image evaluation, if this build has one."""
        for module, name in (("engine.evaluate", "evaluate_images"), ("engine.evaluate", "evaluate_run_images")):
            try:
                return core(module, name)
            except NotImplementedYet:
                continue
        return None

    # ---- runs and table -----------------------------------------------------------------------
    @Slot()
    def refresh_runs(self) -> None:
        current = self.runCombo.currentData()
        self.runCombo.blockSignals(True)
        self.runCombo.clear()
        try:
            runs = core("engine.rundir", "list_runs")(self.runs_dir_fn())
        except UserError as exc:
            self.summaryLabel.setText(f"Run list: {exc}")
            runs = []
        for r in runs:
            self.runCombo.addItem(f"{r.name} [{r.status}]", r.path)
        self.runCombo.blockSignals(False)
        index = self.runCombo.findData(current)
        self.runCombo.setCurrentIndex(index if index >= 0 else (0 if runs else -1))
        self._on_run()

    def select_run(self, path: str) -> None:
        index = self.runCombo.findData(path)
        if index < 0:
            self.refresh_runs()
            index = self.runCombo.findData(path)
        if index >= 0:
            self.runCombo.setCurrentIndex(index)

    @Slot()
    def _on_run(self, *_):
        path = self.runCombo.currentData()
        self.apTable.setRowCount(0)
        if not path:
            self.summaryLabel.setText("No runs yet: train one in the Training tab.")
            return
        ev = latest_eval(core("engine.rundir", "read_metrics")(path))
        if ev is None:
            self.summaryLabel.setText(f"{Path(path).name} has no evaluation yet.")
            return
        m = ev.get("metrics", {})
        self.summaryLabel.setText(
            f"{Path(path).name}, epoch {ev.get('epoch', 0) + 1}: box AP {_fmt(m.get('bbox_map'))}, "
            f"AP50 {_fmt(m.get('bbox_map_50'))}; mask AP {_fmt(m.get('segm_map'))}, "
            f"AP50 {_fmt(m.get('segm_map_50'))}")
        per_class = ev.get("per_class", {}) or {}
        self.apTable.setSortingEnabled(False)
        self.apTable.setRowCount(len(per_class))
        for r, (name, values) in enumerate(sorted(per_class.items())):
            self.apTable.setItem(r, 0, QTableWidgetItem(name))
            for c, key in ((1, "bbox_ap"), (2, "segm_ap")):
                item = QTableWidgetItem()
                value = values.get(key)
                item.setData(Qt.ItemDataRole.DisplayRole, _fmt(value))
                self.apTable.setItem(r, c, item)
        self.apTable.setSortingEnabled(True)

    # ---- per-image browser --------------------------------------------------------------------
    def run_images(self) -> None:
        path = self.runCombo.currentData()
        if not path or self._predict is None or self._runner.is_running():
            return
        predict = self._predict
        self.message.emit("Evaluating validation images ...", False)
        self._runner.start(lambda report, stop: predict(path, progress=report, should_stop=stop))

    @Slot(object)
    def _on_images(self, results) -> None:
        self._results = sorted(results, key=lambda r: getattr(r, "score", 0.0))
        self.imageList.clear()
        for r in self._results:
            item = QListWidgetItem(f"row {r.row}: {getattr(r, 'score', 0.0):.2f}")
            self.imageList.addItem(item)
        if self._results:
            self.imageList.setCurrentRow(0)

    @Slot()
    def _show_current(self, *_):
        row = self.imageList.currentRow()
        if not 0 <= row < len(self._results):
            return
        r = self._results[row]
        threshold = self.thresholdSpin.value()
        self.predView.set_image(r.render_prediction(threshold))
        self.truthView.set_image(r.render_truth())

"""Evaluation panel: per-class AP of a run, its threshold explorer, confusion matrix and error types, and
its validation images with predictions beside ground truth.

The AP table shows the run's last evaluation (metrics.jsonl), or a fresh `segstudio eval` of its best
checkpoint (engine.inference.evaluate_run). When the run has a stored evaluation (eval/predictions.json)
a worker loads it with its PR curves (engine.explorer), for the threshold explorer (gui/threshold_explorer),
the confusion matrix (gui/confusion_view, recomputed in the render thread when the threshold moves) and
the error types (gui/error_types_view); the browser then lists those stored predictions and needs no
model. Without one, the browser runs the run's model (load_run_model) on its validation rows in a worker.
Each image is scored against its ground truth (engine.image_scores) and listed worst first; drawing
(segstudio.samples.render) and re-scoring when the threshold moves run in the render thread, newest request wins.
A confusion-matrix cell filters the list to its images, with its instances outlined.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from segstudio.gui.compare_view import CompareView
from segstudio.gui.confusion_view import ConfusionView
from segstudio.gui.display_controls import DisplayControls
from segstudio.gui.error_types_view import ErrorTypesView
from segstudio.gui.runs_listing import RunsLister
from segstudio.gui.threshold_explorer import ThresholdExplorer
from segstudio.gui.widgets import ImageView, link_slider, titled
from segstudio.gui.workers import RenderService, TaskRunner


def _fmt(value) -> str:
    return "-" if value is None or value != value or value < 0 else f"{value:.3f}"


# The tasks import the engine in their thread: its first import (torch, torchvision's detection models)
# took seconds, and on the GUI thread it froze the window at the first click.
def evaluate_task(path: str, report, should_stop) -> tuple:
    from segstudio.engine.inference import evaluate_run, load_run_model
    return "eval", evaluate_run(load_run_model(path, "best"), should_stop=should_stop, progress=report)


def draw_row_with_tags(browser, row: int, threshold: float, outputs: dict, options: dict, outline: tuple):
    """Render job: val_browser.draw_row without names in the pixels, and the names (with scores on the
    prediction) as tags the views draw at screen size."""
    from segstudio.engine.val_browser import draw_row, predict_row
    from segstudio.samples.render import name_tags

    options = dict(options)
    labels = options.pop("draw_labels", True)
    prediction, truth, text = draw_row(browser, row, threshold, outputs, {**options, "draw_labels": False}, outline)
    if not labels:
        return prediction, truth, text, ([], [])
    raw, out = predict_row(browser, row, outputs)
    names, hidden = browser.loaded.class_names, options.get("hidden_classes", ())
    keep = out["scores"] >= threshold
    pred_tags = name_tags(out["boxes"][keep], out["labels"][keep] - 1, names, out["scores"][keep], hidden)
    return prediction, truth, text, (pred_tags, name_tags(raw.boxes, raw.labels, names, hidden=hidden))


def stored_evaluation(path: str) -> dict | None:
    """The run's eval/metrics.json (Evaluate checkpoint or `segstudio eval`), None when absent or unreadable."""
    import json
    try:
        return json.loads((Path(path) / "eval" / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def predictions_task(path: str, threshold: float, report, should_stop, explorer=None) -> tuple:
    from segstudio.engine.val_browser import browser_from_explorer, load_browser
    if explorer is not None:   # the stored evaluation's predictions: no model call
        return "browser", browser_from_explorer(explorer, threshold, report, should_stop)
    from segstudio.engine.inference import load_run_model
    return "browser", load_browser(load_run_model(path, "best"), threshold, report, should_stop)


def explorer_task(path: str, report, should_stop) -> tuple:
    from segstudio.engine.explorer import load_explorer
    return path, load_explorer(path, report, should_stop)


def compare_task(path_a: str, path_b: str, report, should_stop) -> tuple:
    """AP deltas, then the data changes between the runs' dataset versions (progress in rows read)."""
    from segstudio.engine.compare import compare_runs
    return "compare", compare_runs(Path(path_a), Path(path_b), progress=lambda done, total: report(done, total, "rows"),
                                   should_stop=should_stop)


def report_task(path: str, out: str) -> tuple:
    from segstudio.engine.report import write_run_report
    return "report", str(write_run_report(Path(path), Path(out)))


class EvalPanel(QWidget):
    message = Signal(str, bool)

    def __init__(self, runs_dir_fn, renderer: RenderService, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir_fn = runs_dir_fn
        self.renderer = renderer
        self._runner = TaskRunner(self)
        self._runner.succeeded.connect(self._on_images)
        self._runner.progress.connect(self._on_progress)
        self._runner.failed.connect(self._on_failed)
        self._runner.done.connect(self._run_queued)
        self._runner.done.connect(lambda: self._set_working(False))
        self.lister = RunsLister(parent=self)
        self.lister.listed.connect(self._fill_runs)
        self.lister.failed.connect(lambda m: self.message.emit(m, True))
        self._summaries: dict = {}  # run folder -> RunSummary of the latest listing
        self._wanted = ""           # a run to select once a listing has it (it may not be listed yet)
        self._queued = None   # a click that came while the previous task was still ending runs after it
        self._browser = None        # engine.val_browser.Browser of the selected run, once loaded
        self._outputs: dict = {}    # row -> model output (numpy), filled by the render thread
        self._explorer = None       # engine.explorer.Explorer of the selected run's stored evaluation
        self._filter: dict | None = None   # row -> [(gt, prediction)] of a clicked confusion cell
        self._reload_pending = False   # a stored evaluation is to be loaded once the current load ends
        self.predictDialog = None      # the Predict on files... dialog, once opened
        self._analysis = TaskRunner(self)
        self._analysis.succeeded.connect(self._on_explorer)
        self._analysis.progress.connect(lambda v: self.message.emit(
            f"Loading the stored evaluation: {v[0]}/{v[1]} ...", False))
        self._analysis.failed.connect(lambda m: self.message.emit(f"Evaluation: {m}", True))
        self._build()
        self.scoreChannel = renderer.channel("evalscore")
        self.scoreChannel.resultReady.connect(self._on_scores)
        self.scoreChannel.failed.connect(lambda _seq, m: self.message.emit(f"Scoring images: {m}", True))
        self.confusionChannel = renderer.channel("evalconfusion")
        self.confusionChannel.resultReady.connect(self._on_confusion)
        self.confusionChannel.failed.connect(lambda _seq, m: self.message.emit(f"Confusion matrix: {m}", True))
        self.imageChannel = renderer.channel("eval")
        self.imageChannel.resultReady.connect(self._on_image)
        self.imageChannel.failed.connect(self._on_image_failed)

    def readers(self) -> list:
        """Its background tasks (predicting, evaluating, listing runs) only read: safe to abandon when the
        window closes."""
        dialog = [self.predictDialog._runner] if self.predictDialog is not None else []
        return [self._runner, self._analysis] + self.lister.readers() + dialog

    def _build(self) -> None:
        self.runCombo = QComboBox(objectName="evalRunCombo")
        self.runCombo.currentIndexChanged.connect(self._on_run)
        refresh = QPushButton("Refresh", objectName="evalRefreshButton", clicked=self.refresh_runs)
        self.evaluateButton = evaluate = QPushButton("Evaluate checkpoint", objectName="evaluateButton",
                               clicked=self.evaluate_checkpoint)
        evaluate.setToolTip("COCO box and mask AP of the run's best checkpoint on its validation split "
                            "(as `segstudio eval RUN`)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.runCombo, 1)
        top.addWidget(refresh)
        top.addWidget(evaluate)
        self.saveReportButton = QPushButton("Save report...", objectName="saveReportButton",
                                            clicked=self.save_report)
        self.saveReportButton.setToolTip("PNG figures, report.json and a self-contained index.html of the run's "
                                         "last evaluation (as `segstudio eval RUN --report DIR`)")
        top.addWidget(self.saveReportButton)
        self.predictFilesButton = QPushButton("Predict on files...", objectName="predictFilesButton",
                                              clicked=self.open_predict_files)
        self.predictFilesButton.setToolTip("Overlays and COCO results for images, videos and folders, with the run's "
                                           "checkpoint or a certified export (as `segstudio predict RUN INPUT`)")
        top.addWidget(self.predictFilesButton)
        self.workBar = QProgressBar(objectName="evalWorkBar", textVisible=True)
        self.workBar.setMaximumWidth(220)
        self.workBar.setVisible(False)
        self.cancelButton = QPushButton("Cancel", objectName="evalCancelButton", clicked=self.cancel)
        self.cancelButton.setVisible(False)
        top.addWidget(self.workBar)
        top.addWidget(self.cancelButton)
        self.summaryLabel = QLabel("Select a run that has been evaluated.", objectName="evalSummaryLabel",
                                   wordWrap=True)

        self.apTable = QTableWidget(0, 3, objectName="perClassApTable")
        self.apTable.setHorizontalHeaderLabels(["class", "box AP", "mask AP"])
        self.apTable.verticalHeader().setVisible(False)
        self.apTable.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.apTable.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.apTable.setSortingEnabled(True)
        self.apTable.sortByColumn(0, Qt.SortOrder.AscendingOrder)   # Qt's default indicator is descending
        self.explorerView = ThresholdExplorer()
        self.explorerView.thresholdChanged.connect(lambda t: self.thresholdSpin.setValue(t))
        self.explorerView.viewChanged.connect(self._on_kind)
        self.confusionView = ConfusionView()
        self.confusionView.cellChosen.connect(self._on_cell)
        self.errorsView = ErrorTypesView()
        self.compareView = CompareView()
        self.compareView.compareRequested.connect(self.compare_with)
        self.analysisTabs = QTabWidget(objectName="evalAnalysisTabs")
        self.analysisTabs.addTab(self.apTable, "Per-class AP")
        self.analysisTabs.addTab(self.explorerView, "Threshold")
        self.analysisTabs.addTab(self.confusionView, "Confusion")
        self.analysisTabs.addTab(self.errorsView, "Error types")
        self.analysisTabs.addTab(self.compareView, "Compare")

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.analysisTabs)
        split.addWidget(self._build_browser())
        split.setSizes([620, 740])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summaryLabel)
        layout.addWidget(split, 1)

    def _build_browser(self) -> QWidget:
        box = QGroupBox("Validation images: prediction | ground truth")
        layout = QVBoxLayout(box)
        controls = QHBoxLayout()
        self.loadButton = QPushButton("Show predictions", objectName="evalImagesButton",
                                      clicked=self.load_predictions)
        self.loadButton.setToolTip("Load the run's best checkpoint and predict its validation images")
        self.thresholdSlider = QSlider(Qt.Orientation.Horizontal, objectName="scoreThresholdSlider")
        self.thresholdSlider.setRange(0, 100)
        self.thresholdSpin = QDoubleSpinBox(objectName="scoreThresholdSpin", minimum=0, maximum=1,
                                            singleStep=0.05, value=0.5, decimals=2)
        link_slider(self.thresholdSlider, self.thresholdSpin, scale=100)
        self.thresholdSpin.valueChanged.connect(self._show_current)
        self.thresholdSpin.valueChanged.connect(self._rescore)
        self.thresholdSpin.valueChanged.connect(self._on_threshold)
        controls.addWidget(self.loadButton)
        controls.addStretch(1)
        controls.addWidget(QLabel("Score threshold"))
        controls.addWidget(self.thresholdSlider, 1)
        controls.addWidget(self.thresholdSpin)
        self.orderLabel = QLabel(ORDER_HELP, objectName="evalOrderLabel", wordWrap=True)
        self.filterLabel = QLabel("", objectName="evalFilterLabel")
        self.clearFilterButton = QPushButton("Show all images", objectName="evalClearFilterButton",
                                             clicked=self.clear_filter)
        self.clearFilterButton.setVisible(False)
        self.imageList = QListWidget(objectName="evalImageList")
        self.imageList.setMaximumWidth(180)
        self.imageList.currentRowChanged.connect(self._show_current)
        self.predView = ImageView(placeholder="Pick a run, then press Show predictions")
        self.predView.setObjectName("evalPredictionView")
        self.truthView = ImageView(placeholder="The same image with its annotations")
        self.truthView.setObjectName("evalTruthView")
        self.imageInfo = QLabel("", objectName="evalImageInfoLabel", wordWrap=True)   # a long line widened the window
        views = QHBoxLayout()
        views.addWidget(self.imageList)
        views.addWidget(titled("Prediction", self.predView), 1)
        views.addWidget(titled("Ground truth", self.truthView), 1)
        layout.addLayout(controls)
        self.display = DisplayControls("eval")
        self.display.changed.connect(self._show_current)
        layout.addWidget(self.display)
        layout.addWidget(self.orderLabel)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filterLabel, 1)
        filter_row.addWidget(self.clearFilterButton)
        layout.addLayout(filter_row)
        layout.addLayout(views, 1)
        layout.addWidget(self.imageInfo)
        return box

    # ---- runs and table -----------------------------------------------------------------------
    @Slot()
    def refresh_runs(self) -> None:
        """List the runs folder in the background; `_fill_runs` shows it."""
        self.lister.refresh(self.runs_dir_fn())

    @Slot(str, object)
    def _fill_runs(self, runs_dir: str, rows: list) -> None:
        if runs_dir != self.runs_dir_fn():
            return   # the folder was changed since: its own listing follows
        current, self._wanted = self._wanted or self.runCombo.currentData(), ""
        self._summaries = {r.path: r for r, _ in rows}
        self.runCombo.blockSignals(True)
        self.runCombo.clear()
        for r, _ in rows:
            self.runCombo.addItem(f"{r.name} [{r.status}]", r.path)
        self.runCombo.blockSignals(False)
        index = self.runCombo.findData(current)
        self.runCombo.setCurrentIndex(index if index >= 0 else (0 if rows else -1))
        self._on_run()

    def select_run(self, path: str) -> None:
        index = self.runCombo.findData(path)
        if index >= 0:
            self._wanted = ""
            self.runCombo.setCurrentIndex(index)
        else:   # a run this listing does not have yet (it just started): selected once listed
            self._wanted = path
            self.refresh_runs()

    @Slot()
    def _on_run(self, *_):
        path = self.runCombo.currentData()
        self.apTable.setRowCount(0)
        self._browser = None
        self._outputs = {}
        self.imageList.clear()
        self._set_explorer(None)
        self.clear_filter()
        for button in (self.loadButton, self.evaluateButton, self.saveReportButton):
            button.setEnabled(bool(path))
        self.compareView.set_runs([(self.runCombo.itemText(i), self.runCombo.itemData(i))
                                   for i in range(self.runCombo.count())], path)
        if path and (Path(path) / "eval" / "predictions.json").is_file():
            self.load_analysis()
        if not path:
            self.summaryLabel.setText("No runs yet: train one in the Training tab.")
            return
        summary = self._summaries.get(path)
        ev = summary.last_eval if summary is not None else None
        stored = stored_evaluation(path)
        if stored is not None and (ev is None or stored.get("iteration", 0) >= ev.get("iteration", 0)):
            self._show_eval_result(stored, announce=False)   # a later Evaluate checkpoint beats the run's own
            return
        if ev is None:
            self.summaryLabel.setText(f"{Path(path).name} has no evaluation yet: press Evaluate checkpoint.")
            return
        self._fill_table(ev.get("metrics", {}), ev.get("per_class", {}),
                         f"{Path(path).name}, epoch {ev.get('epoch', 0) + 1}")

    def _fill_table(self, m: dict, per_class: dict, title: str) -> None:
        self.summaryLabel.setText(
            f"{title}: box AP {_fmt(m.get('bbox_map'))}, AP50 {_fmt(m.get('bbox_map_50'))}; "
            f"mask AP {_fmt(m.get('segm_map'))}, AP50 {_fmt(m.get('segm_map_50'))}")
        self.apTable.setSortingEnabled(False)
        self.apTable.setRowCount(len(per_class))
        for r, (name, values) in enumerate(sorted(per_class.items())):
            self.apTable.setItem(r, 0, QTableWidgetItem(name))
            for c, key in ((1, "bbox_ap"), (2, "segm_ap")):
                self.apTable.setItem(r, c, QTableWidgetItem(_fmt(values.get(key))))
        self.apTable.setSortingEnabled(True)

    # ---- evaluation of a checkpoint ---------------------------------------------------------
    def _busy(self, action) -> bool:
        """True (and `action` queued to run when the current task ends) while a task is running."""
        if not self._runner.is_running():
            return False
        self._queued = action
        self.message.emit("Queued: it starts when the current evaluation task ends.", False)
        return True

    @Slot()
    def _run_queued(self) -> None:
        action, self._queued = self._queued, None
        if action is not None:
            action()

    def evaluate_checkpoint(self) -> None:
        path = self.runCombo.currentData()
        if not path or self._busy(self.evaluate_checkpoint):
            return
        self.message.emit(f"Evaluating {Path(path).name} (best checkpoint) ...", False)
        self._runner.start(lambda report, stop: evaluate_task(path, report, stop))
        self._set_working(True, self.evaluateButton)

    def _show_eval_result(self, result: dict, announce: bool = True) -> None:
        self._fill_table(result.get("metrics", {}), result.get("per_class", {}),
                         f"{Path(result['run']).name}, {result['checkpoint']} (iteration {result['iteration']}) "
                         f"on {result['images']} images")
        if announce:
            self.message.emit(f"Evaluation written to {result.get('path', '')}.", False)
        self._browser, self._outputs = None, {}
        self.imageList.clear()
        self.load_analysis()

    # ---- stored evaluation: explorer, confusion matrix, error types, report -----------------------------
    def load_analysis(self) -> None:
        """Load the selected run's stored evaluation and its curves in the background."""
        path = self.runCombo.currentData()
        if not path:
            return
        if self._analysis.is_running():   # a load for another run: stop it, load this one once it has ended
            self._analysis.request_stop()
            if not self._reload_pending:
                self._reload_pending = True
                self._analysis.done.connect(self._reload_analysis_once)
            return
        self._analysis.start(lambda report, stop: explorer_task(path, report, stop))

    @Slot()
    def _reload_analysis_once(self) -> None:
        self._analysis.done.disconnect(self._reload_analysis_once)
        self._reload_pending = False
        self.load_analysis()

    @Slot(object)
    def _on_explorer(self, result) -> None:
        path, explorer = result
        if path != self.runCombo.currentData() or len(explorer.curves) < 6:
            return   # another run was selected meanwhile, or the load was stopped
        self._set_explorer(explorer)
        self.message.emit(f"Stored evaluation of {Path(path).name}: {len(explorer.images)} images; the "
                          "Threshold, Confusion and Error types tabs show it.", False)

    def _set_explorer(self, explorer) -> None:
        self._explorer = explorer
        self.explorerView.set_explorer(explorer)
        self.explorerView.set_threshold(self.thresholdSpin.value())
        if explorer is None:
            self.confusionView.set_confusion(None)
            self.errorsView.set_errors(None)

    @Slot()
    def _on_kind(self) -> None:
        explorer = self._explorer
        if explorer is None:
            return
        kind = self.explorerView.kind()
        title = self.explorerView.kindCombo.currentText()
        self.errorsView.set_errors(explorer.analysis["kinds"][kind]["errors"], title)
        self._recompute_confusion()

    @Slot()
    def _on_threshold(self, *_) -> None:
        self.explorerView.set_threshold(self.thresholdSpin.value())
        self._recompute_confusion()

    def _recompute_confusion(self) -> None:
        explorer = self._explorer
        if explorer is None:
            return
        kind, threshold = self.explorerView.kind(), self.thresholdSpin.value()
        self.confusionChannel.submit(lambda: (explorer, kind, threshold, explorer.confusion(kind, threshold)))

    @Slot(object, str)
    def _on_cell(self, instances: list, description: str) -> None:
        """List the images of a clicked confusion cell, with its instances outlined."""
        explorer = self._explorer
        if explorer is None:
            return
        wanted: dict = {}
        for pos, g, p in instances:
            wanted.setdefault(explorer.images[pos].row, []).append((g, p))
        self._filter = wanted
        self.filterLabel.setText(f"Confusion cell: {description} in {len(wanted)} image(s), outlined in yellow.")
        self.clearFilterButton.setVisible(True)
        if self._browser is None:
            self.load_predictions()
        else:
            self._fill_list(self._browser.scores, self._browser.threshold, redraw=True)

    def clear_filter(self) -> None:
        had = self._filter is not None
        self._filter = None
        self.filterLabel.setText("")
        self.clearFilterButton.setVisible(False)
        if had and self._browser is not None:
            self._fill_list(self._browser.scores, self._browser.threshold, redraw=True)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.message.emit(f"Evaluation: {message}", True)
        if self.compareView.label.text() == "Comparing ...":
            self.compareView.label.setText(message)

    def compare_with(self, other: str, base: str = "") -> None:
        """Compare `base` (default: the selected run) as A with `other` as B in the background."""
        path = base or self.runCombo.currentData()
        if not path or self._busy(lambda: self.compare_with(other, path)):
            return
        self.message.emit(f"Comparing {Path(path).name} with {Path(other).name} (1,000 bootstrap resamples, then "
                          "the data changes between their dataset versions) ...", False)
        self._runner.start(lambda report, stop: compare_task(path, other, report, stop))
        self._set_working(True)

    def compare_pair(self, run_a: str, run_b: str) -> None:
        """Two runs ticked in the Training tab's list: A selected above, B chosen in the Compare view."""
        self.select_run(run_a)
        self.analysisTabs.setCurrentWidget(self.compareView)
        self.compareView.choose(run_b)
        self.compareView.waiting()
        self.compare_with(run_b, run_a)

    def save_report(self) -> None:
        path = self.runCombo.currentData()
        if not path or self._busy(self.save_report):
            return
        if not (Path(path) / "eval" / "analysis.json").is_file():
            self.message.emit(f"{Path(path).name} has no stored evaluation yet: press Evaluate checkpoint first.",
                              True)
            return
        out = QFileDialog.getExistingDirectory(self, "Save the evaluation report into")
        if not out:
            return
        self.message.emit(f"Writing the report of {Path(path).name} into {out} ...", False)
        self._runner.start(lambda report, stop: report_task(path, out))

    def open_predict_files(self) -> None:
        """The Predict on files... dialog for the selected run (gui/predict_files_dialog.py)."""
        from segstudio.gui.predict_files_dialog import PredictFilesDialog
        path = self.runCombo.currentData()
        if not path:
            self.message.emit("Pick a run first: Predict on files... uses its checkpoint or exports.", True)
            return
        if self.predictDialog is None or self.predictDialog.run_dir != Path(path):
            if self.predictDialog is not None and self.predictDialog._runner.is_running():
                self.message.emit("A prediction on files is still running: cancel it or wait.", True)
                self.predictDialog.raise_()
                return
            self.predictDialog = PredictFilesDialog(path, self)
        self.predictDialog.show()
        self.predictDialog.raise_()

    # ---- per-image browser --------------------------------------------------------------------
    def load_predictions(self) -> None:
        path = self.runCombo.currentData()
        if not path or self._busy(self.load_predictions):
            return
        self.message.emit(f"Loading the model of {Path(path).name} ...", False)
        threshold, explorer = self.thresholdSpin.value(), self._explorer
        if explorer is not None:
            self.message.emit(f"Scoring the stored predictions of {Path(path).name} ...", False)
        self._runner.start(lambda report, stop: predictions_task(path, threshold, report, stop, explorer))
        self._set_working(True, self.loadButton)

    @Slot(object)
    def _on_progress(self, values) -> None:
        done, total, *unit = values
        self.workBar.setMaximum(max(1, int(total)))
        self.workBar.setValue(int(done))
        self.workBar.setFormat(f"{done}/{total} {unit[0] if unit else 'images'}")
        self.message.emit(f"Reading both dataset versions: {done}/{total} rows ..." if unit else
                          f"Predicting validation images: {done}/{total} ...", False)

    def _set_working(self, working: bool, button: QPushButton | None = None) -> None:
        """While a prediction or an evaluation runs: its progress and Cancel, and its own button off (a double
        click queued a second evaluation); the other action can still be queued to run after it."""
        self.workBar.setVisible(working)
        self.cancelButton.setVisible(working)
        self.cancelButton.setEnabled(working)
        if working:
            self.workBar.setRange(0, 0)   # busy until the first count arrives
        for each in (self.loadButton, self.evaluateButton):
            each.setEnabled(bool(self.runCombo.currentData()) and not (working and each is button))

    def cancel(self) -> None:
        self._runner.request_stop()
        self.cancelButton.setEnabled(False)
        self.message.emit("Stopping after the current image ...", False)

    @Slot(object)
    def _on_images(self, result) -> None:
        kind, payload = result
        if kind == "eval":
            self._show_eval_result(payload)
            return
        if kind == "report":
            self.message.emit(f"Report written: {payload}", False)
            return
        if kind == "compare":
            self.compareView.show_result(payload)
            self.message.emit("Comparison done: the Compare tab shows it.", False)
            return
        self._browser = payload
        self.display.set_classes(list(payload.loaded.class_names))
        self._outputs = payload.outputs
        stopped = len(payload.scores) < len(payload.rows)
        first = f" (the first of {payload.val_rows})" if payload.val_rows > len(payload.rows) else ""
        self.message.emit(f"{len(payload.scores)} of {len(payload.rows)} validation images{first} of "
                          f"{payload.loaded.run_dir.name}, worst first{' (stopped early)' if stopped else ''}.",
                          False)
        self._fill_list(payload.scores, payload.threshold, redraw=True)

    def _fill_list(self, scores: dict, threshold: float, redraw: bool = False) -> None:
        """List the scored rows worst first; keep the selected row selected."""
        from segstudio.engine.image_scores import worst_first  # torch: not at start-up
        browser = self._browser
        if browser is None:
            return
        current = self._current_row()
        browser.scores, browser.threshold = scores, threshold
        browser.order = worst_first(scores)
        if self._filter is not None:
            browser.order = [row for row in browser.order if row in self._filter]
        self.imageList.blockSignals(True)
        self.imageList.clear()
        for row in browser.order:
            self.imageList.addItem(f"{scores[row].score:.2f}   row {row}")
        if browser.order:
            self.imageList.setCurrentRow(browser.order.index(current) if current in browser.order else 0)
        self.imageList.blockSignals(False)
        self.orderLabel.setText(f"{ORDER_HELP} Scores at threshold {threshold:.2f}.")
        if redraw or self._current_row() != current:
            self._show_current()

    def _current_row(self) -> int | None:
        browser, index = self._browser, self.imageList.currentRow()
        return browser.order[index] if browser is not None and 0 <= index < len(browser.order) else None

    @Slot()
    def _rescore(self, *_):
        browser = self._browser
        if browser is None:
            return
        threshold = self.thresholdSpin.value()
        from segstudio.engine.val_browser import score_rows
        self.scoreChannel.submit(lambda: (threshold, score_rows(browser, threshold)))

    @Slot()
    def _show_current(self, *_):
        browser, row = self._browser, self._current_row()
        if row is None:
            return
        threshold, outputs, options = self.thresholdSpin.value(), self._outputs, self.display.options()
        outline = tuple(self._filter.get(row, ())) if self._filter is not None else ()
        self.imageChannel.submit(lambda: draw_row_with_tags(browser, row, threshold, outputs, options, outline))

    @Slot(int, object)
    def _on_scores(self, _seq: int, payload) -> None:
        threshold, scores = payload
        if self._browser is not None and threshold == self.thresholdSpin.value():
            self._fill_list(scores, threshold)

    @Slot(int, object)
    def _on_confusion(self, _seq: int, payload) -> None:
        explorer, kind, threshold, confusion = payload
        if explorer is self._explorer and (kind, threshold) == (self.explorerView.kind(), self.thresholdSpin.value()):
            title = self.explorerView.kindCombo.currentText()
            self.confusionView.set_confusion(confusion, f"{title}, IoU 0.5, score >= {threshold:.2f}.")

    @Slot(int, object)
    def _on_image(self, _seq: int, payload) -> None:
        prediction, truth, text, (pred_tags, truth_tags) = payload
        self.predView.set_image(prediction)
        self.truthView.set_image(truth)
        self.predView.set_tags(pred_tags)
        self.truthView.set_tags(truth_tags)
        self.imageInfo.setText(text)

    @Slot(int, str)
    def _on_image_failed(self, _seq: int, message: str) -> None:
        self.predView.set_message("Cannot predict this image")
        self.imageInfo.setText(message)
        self.message.emit(message, True)


ORDER_HELP = ("Worst images first: each image's score is the mask IoU of its matched objects over "
              "(objects + false predictions), 1.00 = perfect.")

"""Predict on files...: images, videos and folders a user picks, run through the run's checkpoint or one of
its certified exports off the GUI thread (progress, Cancel); the overlays are listed and shown (a video by
a few frames of its overlay video) and the status line says where the outputs went (engine/predict_files)."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
)

from segstudio.gui.widgets import ImageView
from segstudio.gui.workers import TaskRunner

MODEL_NAMES = {"checkpoint": "Checkpoint (PyTorch)", "torchscript": "TorchScript export",
               "onnx": "ONNX export (onnxruntime)", "openvino": "OpenVINO export"}
FILE_FILTER = ("Images and videos (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.mp4 *.avi *.mov *.mkv *.webm "
               "*.m4v *.mpg *.mpeg *.wmv);;All files (*)")


def predict_files_task(run: str, choice: str, paths: list[str], out: str, threshold: float | None, report,
                       should_stop) -> dict:
    """In the worker thread: load the model, predict, and read a few frames of each overlay video.
    threshold None: the run's per-class thresholds (engine.thresholds.resolve)."""
    from segstudio.engine.inference import load_run_model
    from segstudio.engine.predict_files import first_frames, predict_files, with_model
    from segstudio.engine.thresholds import resolve

    loaded = with_model(load_run_model(run, "best"), choice)
    thresholds, source = resolve(loaded.run_dir, loaded.class_names, threshold)
    summary = predict_files(loaded, paths, Path(out), score_threshold=thresholds, should_stop=should_stop,
                            progress=lambda what, done, total: report(what, done, total))
    summary["frames"] = {video: first_frames(Path(video)) for video in summary["videos"]}
    summary["thresholds"] = source
    return summary


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


class PredictFilesDialog(QDialog):
    def __init__(self, run_dir: str, parent=None):
        super().__init__(parent, objectName="predictFilesDialog")
        from segstudio.engine.predict_files import model_choices  # on click: torch is loaded by then

        self.run_dir = Path(run_dir)
        self.setWindowTitle(f"Predict on files - {self.run_dir.name}")
        self.resize(1000, 640)
        self._runner = TaskRunner(self)
        self._runner.progress.connect(self._on_progress)
        self._runner.succeeded.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._runner.done.connect(lambda: self._set_working(False))
        self.summary: dict | None = None
        self._build(model_choices(self.run_dir))

    def _build(self, choices: list[str]) -> None:
        self.inputsList = QListWidget(objectName="predictInputsList")
        self.inputsList.setMaximumHeight(90)
        add_files = QPushButton("Add files...", objectName="predictAddFilesButton", clicked=self._pick_files)
        add_folder = QPushButton("Add folder...", objectName="predictAddFolderButton", clicked=self._pick_folder)
        clear = QPushButton("Clear", objectName="predictClearButton", clicked=self.inputsList.clear)
        self.modelCombo = QComboBox(objectName="predictModelCombo")
        for choice in choices:
            self.modelCombo.addItem(MODEL_NAMES[choice], choice)
        self.outEdit = QLineEdit(str(self.run_dir / "predictions" / time.strftime("%Y%m%d-%H%M%S")),
                                 objectName="predictOutEdit")
        browse = QPushButton("Browse...", objectName="predictOutButton", clicked=self._pick_out)
        self.thresholdSpin = QDoubleSpinBox(objectName="predictThresholdSpin", minimum=0.0, maximum=1.0,
                                            singleStep=0.05, decimals=2, specialValueText="the run's")
        self.thresholdSpin.setToolTip("One score threshold for every class; 'the run's': the per-class thresholds "
                                      "of its last evaluation (0.5 without one)")
        self.runButton = QPushButton("Predict", objectName="predictRunButton", clicked=self.start)
        self.progressBar = QProgressBar(objectName="predictProgressBar", textVisible=True, visible=False)
        self.cancelButton = QPushButton("Cancel", objectName="predictCancelButton", clicked=self.cancel,
                                        visible=False)
        self.statusLabel = QLabel("Add images, videos or folders, then press Predict.", objectName="predictStatusLabel",
                                  wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.resultsList = QListWidget(objectName="predictResultsList")
        self.resultsList.currentItemChanged.connect(self._show)
        self.resultView = ImageView(placeholder="The overlays appear here")
        self.resultView.setObjectName("predictResultView")

        inputs = QHBoxLayout()
        inputs.addWidget(self.inputsList, 1)
        buttons = QVBoxLayout()
        for button in (add_files, add_folder, clear):
            buttons.addWidget(button)
        inputs.addLayout(buttons)
        settings = QHBoxLayout()
        settings.addWidget(QLabel("Model:"))
        settings.addWidget(self.modelCombo)
        settings.addWidget(QLabel("Score threshold:"))
        settings.addWidget(self.thresholdSpin)
        settings.addWidget(QLabel("Outputs into:"))
        settings.addWidget(self.outEdit, 1)
        settings.addWidget(browse)
        run = QHBoxLayout()
        run.addWidget(self.runButton)
        run.addWidget(self.progressBar, 1)
        run.addWidget(self.cancelButton)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.resultsList)
        split.addWidget(self.resultView)
        split.setSizes([260, 740])
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Images, videos and folders of them:"))
        layout.addLayout(inputs)
        layout.addLayout(settings)
        layout.addLayout(run)
        layout.addWidget(self.statusLabel)
        layout.addWidget(split, 1)

    def readers(self) -> list:
        return [self._runner]

    def add_paths(self, paths) -> None:
        for path in paths:
            self.inputsList.addItem(str(path))

    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Images or videos to predict on", "", FILE_FILTER)
        self.add_paths(files)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of images and/or videos")
        if folder:
            self.add_paths([folder])

    def _pick_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Write the overlays and results into")
        if folder:
            self.outEdit.setText(folder)

    def start(self) -> None:
        paths = [self.inputsList.item(i).text() for i in range(self.inputsList.count())]
        out = self.outEdit.text().strip()
        if not paths:
            self.statusLabel.setText("Nothing to predict on: add images, videos or folders first.")
            return
        if not out or Path(out).is_file():
            self.statusLabel.setText(f"{out or 'The output folder'} is not a folder: choose a folder for the outputs.")
            return
        if self._runner.is_running():
            return
        run, choice = str(self.run_dir), self.modelCombo.currentData()
        threshold = self.thresholdSpin.value() or None
        self.resultsList.clear()
        self.statusLabel.setText(f"Predicting with the {self.modelCombo.currentText()} ...")
        self._runner.start(lambda report, stop: predict_files_task(run, choice, paths, out, threshold, report,
                                                                         stop))
        self._set_working(True)

    def cancel(self) -> None:
        self._runner.request_stop()
        self.cancelButton.setEnabled(False)
        self.statusLabel.setText("Stopping after the current image or frame ...")

    def _set_working(self, working: bool) -> None:
        self.progressBar.setVisible(working)
        self.cancelButton.setVisible(working)
        self.cancelButton.setEnabled(working)
        self.runButton.setEnabled(not working)
        if working:
            self.progressBar.setRange(0, 0)

    @Slot(object)
    def _on_progress(self, values) -> None:
        what, done, total = values
        self.progressBar.setRange(0, max(1, int(total or done)))
        self.progressBar.setValue(int(done))
        self.progressBar.setFormat(f"{what}: {done}/{total or '?'}")

    @Slot(object)
    def _on_done(self, summary: dict) -> None:
        self.summary = summary
        for image in summary["images"]:
            self._add_item(Path(image).name, image)
        for video in summary["videos"]:
            for index, frame in summary["frames"].get(video, []):
                self._add_item(f"{Path(video).name}, frame {index + 1}", frame)
        stopped = " (stopped early: what was written is complete up to there)" if summary["stopped"] else ""
        self.statusLabel.setText(
            f"{_count(summary['images'], 'image')} and {_count(summary['videos'], 'video')}, {summary['detections']} "
            f"detections at {summary['thresholds']}{stopped}. Overlays, overlay videos and COCO results are in "
            f"{summary['out']}")
        if self.resultsList.count():
            self.resultsList.setCurrentRow(0)

    def _add_item(self, text: str, data) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, data)
        self.resultsList.addItem(item)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.statusLabel.setText(message)

    def _show(self, item, _previous=None) -> None:
        if item is None:
            return
        data = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(data, str):
            import numpy as np
            from PIL import Image
            with Image.open(data) as im:
                data = np.asarray(im.convert("RGB"))
        self.resultView.set_image(data)

"""A COCO import run in a worker behind a progress dialog whose Cancel stops it between chunks."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from segstudio.data import coco_import
from segstudio.gui.workers import TaskRunner


class CocoImportTask(QObject):
    """`imported(dest)` when the dataset is complete, `failed(message)` when the import cannot run or
    failed, `message(text, is_error)` for the rest (started, stopped by Cancel)."""

    message = Signal(str, bool)
    failed = Signal(str)
    imported = Signal(str)
    summarized = Signal(str)    # the import's summary (counts, skips and why, re-encodes), before `imported`

    def __init__(self, dialog_parent: QWidget):
        super().__init__(dialog_parent)
        self.dialog_parent = dialog_parent
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.succeeded.connect(self._on_succeeded)
        self.runner.failed.connect(self._on_failed)
        self._progress: QProgressDialog | None = None
        self._dest = ""

    def start(self, images: str, annotations: str, dest: str, resume: bool = False) -> bool:
        """Start the import (False, with a message, while another one runs)."""
        if self.runner.is_running():
            self.failed.emit("An import is already running; wait for it or cancel it.")
            return False
        progress = QProgressDialog(f"Importing {annotations} ...", "Cancel", 0, 0, self.dialog_parent)
        progress.setObjectName("importProgressDialog")
        progress.setWindowTitle("Import COCO")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(self.runner.request_stop)
        self._progress, self._dest = progress, dest
        self.runner.start(lambda report, stop: coco_import.import_coco(
            images, annotations, dest, resume=resume, progress=report, should_stop=stop))
        progress.show()
        self.message.emit(f"Importing {annotations} into {dest} ...", False)
        return True

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    # Connected once, in __init__: a connection made per attempt outlived a failed attempt and fired again
    # on the next one (the summary was shown, and the dataset opened, once per earlier failure).
    @Slot(object)
    def _on_succeeded(self, summary) -> None:
        self._close_progress()
        if getattr(summary, "stopped", False):
            self.message.emit(f"Import stopped; {self._dest} holds the images done so far. Import again with "
                              "'Resume' ticked to continue.", True)
            return
        self.summarized.emit(summary.format_text())
        self.imported.emit(self._dest)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._close_progress()
        self.failed.emit(f"Import COCO: {message}")

    @Slot(object)
    def _on_progress(self, values) -> None:
        if self._progress is not None and len(values) >= 2:
            self._progress.setMaximum(int(values[1]))
            self._progress.setValue(int(values[0]))

"""The Weights field: the weights present for the chosen architecture, Download... for the rest, File...

Downloads run in a thread behind a QProgressDialog whose Cancel stops them (nothing is left behind);
they start only from the Download... menu or after the user says yes to "download the weights this
config names?" when Start is pressed.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QToolButton,
    QWidget,
)

from segstudio.gui.widgets import hbox
from segstudio.gui.workers import LatestTask


class _Download(QObject):
    """fetch_weights in a Python thread, reporting through queued signals."""
    progress = Signal(int, int)     # bytes done, total (-1: unknown)
    done = Signal(str)              # the saved path
    failed = Signal(str, bool)      # one sentence, cancelled?

    def __init__(self, known, parent=None):
        super().__init__(parent)
        self.known, self.cancel = known, threading.Event()
        self._shown = -1

    def _progress(self, done: int, total: int | None) -> None:
        step = done * 100 // total if total else done >> 20
        if step != self._shown:   # at most ~100 updates for the GUI thread
            self._shown = step
            self.progress.emit(min(done, 2**31 - 1), min(total, 2**31 - 1) if total else -1)

    def run(self) -> None:
        from segstudio.base.errors import UserError
        from segstudio.models.download import DownloadCancelled
        from segstudio.models.weights import fetch_weights

        try:
            path = fetch_weights(self.known, progress=self._progress, should_cancel=self.cancel.is_set)
        except DownloadCancelled as exc:
            self.failed.emit(str(exc), True)
        except UserError as exc:
            self.failed.emit(str(exc), False)
        except Exception as exc:  # noqa: BLE001 - the dialog must close with a message whatever happened
            self.failed.emit(f"The download failed ({type(exc).__name__}: {exc}).", False)
        else:
            self.done.emit(str(path))


def download_weights(parent: QWidget, known, on_done=None) -> _Download:
    """Start downloading `known` with a progress dialog (Cancel stops it); on_done(path) on success."""
    dialog = QProgressDialog(f"Downloading {known.file_name} ({known.size_mb:.0f} MB)\ninto "
                             f"{known.path.parent} ...", "Cancel", 0, 100, parent)
    dialog.setObjectName("weightsDownloadDialog")
    dialog.setWindowTitle("Download weights")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    task = _Download(known, dialog)
    dialog.canceled.connect(task.cancel.set)
    dialog.canceled.connect(dialog.close)   # at once, even while a stalled read waits for its timeout

    def progress(done: int, total: int) -> None:
        if total > 0:
            dialog.setMaximum(100)
            dialog.setValue(done * 100 // total)
        else:
            dialog.setMaximum(0)   # busy indicator: the server sent no length

    def finish(path: str) -> None:
        dialog.close()
        if on_done is not None:
            on_done(path)

    def fail(message: str, cancelled: bool) -> None:
        dialog.close()
        if not cancelled:
            box = QMessageBox(QMessageBox.Icon.Warning, "Download failed", message, parent=parent)
            box.setObjectName("weightsDownloadError")
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.open()

    task.progress.connect(progress)
    task.done.connect(finish)
    task.failed.connect(fail)
    parent._weights_download = task   # kept alive while it runs
    threading.Thread(target=task.run, name="weights-download", daemon=True).start()
    dialog.show()
    return task


class WeightsRow(QWidget):
    """The model.weights combo with Download... (weights not present) and File... buttons."""

    listed = Signal()   # the combo holds what is present now

    def __init__(self, combo: QComboBox, arch_combo: QComboBox, parent: QWidget | None = None):
        super().__init__(parent)
        self.combo, self.arch_combo = combo, arch_combo
        self.downloadButton = QToolButton(text="Download...", objectName="weightsDownloadButton")
        self.downloadButton.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.downloadButton.setToolTip("Download pretrained weights into torch's cache folder")
        self.downloadButton.setMenu(QMenu(self.downloadButton, aboutToShow=self._fill_menu))
        file_button = QPushButton("File...", objectName="weightsFileButton", clicked=self._pick_file)
        layout = hbox((combo, 1), self.downloadButton, file_button)
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
        self.lister = LatestTask(lambda arch, _should_stop: _present_choices(arch), "list the pretrained weights", self)
        self.lister.ready.connect(self._fill)
        arch_combo.currentTextChanged.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self, *_) -> None:
        """List none, auto, and the pretrained weights present for the chosen architecture (read off the GUI
        thread: torchvision's weights tables come with torch, which the window does not import to start)."""
        self.lister.request(self.arch_combo.currentText())

    def readers(self) -> list:
        return [self.lister]

    @Slot(object, object)
    def _fill(self, arch: str, items: list) -> None:
        if arch != self.arch_combo.currentText():
            return
        current = self.combo.currentText()
        blocker = self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(items)
        self.combo.setCurrentText(current)
        self.combo.blockSignals(blocker)
        self.listed.emit()

    def _fill_menu(self) -> None:
        from segstudio.models.weights import known_weights

        menu = self.downloadButton.menu()
        menu.clear()
        arch = self.arch_combo.currentText()
        absent = sorted((k for k in known_weights() if not k.present()), key=lambda k: arch not in k.archs)
        for known in absent:
            fits = "" if arch in known.archs else f" (for {', '.join(known.archs)})"
            action = menu.addAction(f"{known.name}: {known.trained_on}, {known.size_mb:.0f} MB{fits}")
            action.triggered.connect(lambda _=False, k=known: self.download(k))
        if not absent:
            menu.addAction("Every known weights file is already here").setEnabled(False)

    def download(self, known) -> _Download:
        def done(_path: str) -> None:
            self.refresh()
            if self.arch_combo.currentText() in known.archs:
                self.combo.setCurrentText(known.kind)
        return download_weights(self, known, done)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "", "PyTorch weights (*.pth *.pt)")
        if path:
            self.combo.setCurrentText(path)


def missing_weights(cfg):
    """The torchvision weights file the config names but which is not here (None when nothing is missing)."""
    from segstudio.models.weights import weights_for

    kind = (cfg.model.weights or "").strip().lower()
    known = weights_for(cfg.model.arch, kind) if kind in ("coco", "imagenet") else None
    return known if known is not None and not known.present() else None


def confirm_missing_weights(parent: QWidget, cfg, then) -> bool:
    """True when the config's weights are here. Otherwise ask to download them; on yes, download with
    the progress dialog and call then() once they are here. -> False (the caller waits for then())."""
    known = missing_weights(cfg)
    if known is None:
        return True
    box = QMessageBox(QMessageBox.Icon.Question, "Download weights?",
                      f"model.weights = \"{cfg.model.weights}\" needs {known.file_name} ({known.size_mb:.0f} MB), "
                      f"which is not in {known.path.parent}.\n\nDownload it from {known.download_url()} now?",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("weightsConfirmBox")
    box.finished.connect(lambda result: download_weights(parent, known, lambda _p: then())
                         if result == QMessageBox.StandardButton.Yes else None)
    box.open()
    return False


def _present_choices(arch: str) -> list[str]:
    from segstudio.models.weights_import import present_choices  # torch: in the lister's thread

    return present_choices(arch)

"""The small form asking where a COCO export lives and where to write the Deep Lake dataset."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from segstudio.gui import settings


def propose_annotations(images_dir: str) -> str:
    """A COCO annotations file that likely belongs to this images folder ('' when none is found): in the
    folder, beside it, or in an annotations/ folder beside it; annotations.json and instances*.json first."""
    folder = Path(images_dir).expanduser()
    places = [folder, folder.parent, folder.parent / "annotations"]
    found = [p for place in places if place.is_dir() for p in sorted(place.glob("*.json"))]
    found.sort(key=lambda p: (p.name != "annotations.json", not p.name.startswith("instances")))
    return str(found[0]) if found else ""


def propose_dest(images_dir: str) -> str:
    """A new folder beside the export: <export>-deeplake (with -2, -3 ... when taken)."""
    folder = Path(images_dir).expanduser()
    export = folder.parent if folder.name in ("images", "imgs", "train", "val") else folder
    dest = export.parent / f"{export.name}-deeplake"
    n = 2
    while dest.exists():
        dest, n = export.parent / f"{export.name}-deeplake-{n}", n + 1
    return str(dest)


class ImportCocoDialog(QDialog):
    """OK emits `submitted`; the dialog stays open (entries kept) until the import succeeds, and shows why
    an import could not run inside itself."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import COCO")
        self.setObjectName("importCocoDialog")
        self.imagesEdit = QLineEdit(objectName="cocoImagesEdit")
        self.annotationsEdit = QLineEdit(objectName="cocoAnnotationsEdit")
        self.destEdit = QLineEdit(objectName="cocoDestEdit")
        form = QFormLayout(self)
        form.addRow("Images folder", self._with_browse(self.imagesEdit, self._pick_images))
        form.addRow("Annotations (.json)", self._with_browse(self.annotationsEdit, self._pick_annotations))
        form.addRow("New dataset folder", self._with_browse(self.destEdit, self._pick_dest))
        self.resumeCheck = QCheckBox("Resume a stopped import into this folder", objectName="cocoResumeCheck")
        form.addRow("", self.resumeCheck)
        self.errorLabel = QLabel(objectName="cocoImportErrorLabel", wordWrap=True)
        self.errorLabel.setStyleSheet("color: #b00020;")
        self.errorLabel.setVisible(False)
        form.addRow(self.errorLabel)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(620, 0)

    def _submit(self) -> None:
        self.errorLabel.setVisible(False)
        if self.imagesEdit.text().strip():
            settings.save_value("import/last", str(Path(self.imagesEdit.text().strip()).expanduser().parent))
        self.submitted.emit()

    def show_error(self, message: str) -> None:
        """The core's sentence in the dialog's words; the dialog grows to show all of it."""
        message = message.replace("add --resume", "tick 'Resume a stopped import into this folder'")
        self.errorLabel.setText(message)
        self.errorLabel.setVisible(True)
        self.adjustSize()   # a second line was clipped: the dialog kept the height it opened with

    def _with_browse(self, edit: QLineEdit, pick) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse...")
        button.clicked.connect(pick)
        row.addWidget(button)
        return row

    def _pick_images(self):
        path = QFileDialog.getExistingDirectory(self, "COCO images folder",
                                                self.imagesEdit.text() or str(settings.load_value("import/last", "")))
        if path:
            self.set_images(path)

    def set_images(self, path: str) -> None:
        """The images folder, and proposals for what is still empty: the export's annotations file (a .json
        beside the folder or in it, annotations.json or instances*.json first) and a new dataset beside it."""
        self.imagesEdit.setText(path)
        if not self.annotationsEdit.text().strip():
            found = propose_annotations(path)
            if found:
                self.annotationsEdit.setText(found)
        if not self.destEdit.text().strip():
            self.destEdit.setText(propose_dest(path))

    def _pick_annotations(self):
        start = self.annotationsEdit.text() or self.imagesEdit.text()
        path, _ = QFileDialog.getOpenFileName(self, "COCO annotations", start, "COCO JSON (*.json)")
        if path:
            self.annotationsEdit.setText(path)

    def _pick_dest(self):
        path = QFileDialog.getExistingDirectory(self, "Folder for the new dataset", self.destEdit.text())
        if path:
            self.destEdit.setText(path)

    def values(self) -> tuple[str, str, str, bool]:
        return (self.imagesEdit.text().strip(), self.annotationsEdit.text().strip(), self.destEdit.text().strip(),
                self.resumeCheck.isChecked())

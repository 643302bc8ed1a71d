"""The small form asking where a COCO export lives and where to write the Deep Lake dataset."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QWidget)


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
        self.submitted.emit()

    def show_error(self, message: str) -> None:
        self.errorLabel.setText(message)
        self.errorLabel.setVisible(True)

    def _with_browse(self, edit: QLineEdit, pick) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse...")
        button.clicked.connect(pick)
        row.addWidget(button)
        return row

    def _pick_images(self):
        path = QFileDialog.getExistingDirectory(self, "COCO images folder", self.imagesEdit.text())
        if path:
            self.imagesEdit.setText(path)

    def _pick_annotations(self):
        path, _ = QFileDialog.getOpenFileName(self, "COCO annotations", self.annotationsEdit.text(),
                                              "COCO JSON (*.json)")
        if path:
            self.annotationsEdit.setText(path)

    def _pick_dest(self):
        path = QFileDialog.getExistingDirectory(self, "Folder for the new dataset", self.destEdit.text())
        if path:
            self.destEdit.setText(path)

    def values(self) -> tuple[str, str, str, bool]:
        return (self.imagesEdit.text().strip(), self.annotationsEdit.text().strip(), self.destEdit.text().strip(),
                self.resumeCheck.isChecked())

"""The small form asking where a COCO export lives and where to write the Deep Lake dataset."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QPushButton, QWidget)


class ImportCocoDialog(QDialog):
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(620, 0)

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

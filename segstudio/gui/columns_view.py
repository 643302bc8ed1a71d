"""The open dataset's columns and which of them hold the images, masks, boxes and labels."""
from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio.base.config import DataConfig
from segstudio.gui.state import DatasetState
from segstudio.gui.workers import describe_exception

ROLES = ("images", "masks", "boxes", "labels")


def format_shape(shape) -> str:
    """Per-row shapes: (None, None, None) -> "varies", (None, None, 3) -> "varies x varies x 3"."""
    if shape is None or (len(shape) and all(d is None for d in shape)):
        return "varies"
    return " x ".join("varies" if d is None else str(d) for d in shape) or "scalar"


class ColumnsView(QGroupBox):
    """The schema table and one combo per role; a choice the core accepts becomes the state's mapping."""

    message = Signal(str, bool)
    mappingRejected = Signal(str)   # why the chosen columns cannot be used (the previous mapping stays)

    def __init__(self, state: DatasetState, parent: QWidget | None = None):
        super().__init__("Columns", parent)
        self.state = state
        self._filling = False
        self.schemaTable = QTableWidget(0, 4, objectName="schemaTable")
        self.schemaTable.setHorizontalHeaderLabels(["name", "kind", "dtype", "shape"])
        self.schemaTable.verticalHeader().setVisible(False)
        self.schemaTable.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.schemaTable.horizontalHeader().setStretchLastSection(True)
        self.schemaTable.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.schemaTable.verticalHeader().setDefaultSectionSize(22)
        self.schemaTable.setMinimumHeight(140)
        self.combos: dict[str, QComboBox] = {}
        form = QFormLayout()
        for role in ROLES:
            combo = QComboBox(objectName=f"{role}ColumnCombo")
            combo.currentTextChanged.connect(self._on_mapping_edited)
            self.combos[role] = combo
            form.addRow(f"{role.capitalize()} column", combo)
        self.boxFormatLabel = QLabel("", objectName="boxFormatLabel")
        form.addRow("Box format", self.boxFormatLabel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.schemaTable, 1)
        layout.addLayout(form)

    def show_info(self, info) -> None:
        """A newly opened dataset: its columns, and the mapping the core proposed in the combos."""
        self._filling = True
        try:
            self.schemaTable.setRowCount(len(info.columns))
            for r, col in enumerate(info.columns):
                for c, value in enumerate((col.name, col.kind, col.dtype, format_shape(col.shape))):
                    self.schemaTable.setItem(r, c, QTableWidgetItem(str(value)))
            names = [c.name for c in info.columns]
            for role, combo in self.combos.items():
                combo.clear()
                combo.addItems(([""] if role == "masks" else []) + names)
                combo.setCurrentText(getattr(info.mapping, role, "") if info.mapping is not None else "")
            self.boxFormatLabel.setText(f"{info.box_format.fmt}, {info.box_format.units}")
        finally:
            self._filling = False

    def _show_mapping(self, mapping) -> None:
        if mapping is None:
            return
        self._filling = True
        try:
            for role, combo in self.combos.items():
                combo.setCurrentText(getattr(mapping, role, "") or "")
        finally:
            self._filling = False

    def overrides(self) -> DataConfig:
        """A DataConfig carrying the columns chosen in the combos (what a config file would say)."""
        return DataConfig(url=self.state.url, **{role: self.combos[role].currentText() for role in ROLES})

    @Slot()
    def _on_mapping_edited(self, *_):
        if self._filling or self.state.info is None:
            return
        try:
            mapped = self.state.mapped.remap(self.overrides())
        except Exception as exc:  # noqa: BLE001 - show the core's message, keep the old mapping
            self.mappingRejected.emit(describe_exception(exc))
            self._show_mapping(self.state.mapping)   # the combos show the columns still in effect
            return
        mapping, box_format = mapped.mapping, mapped.box_format
        self.boxFormatLabel.setText(f"{box_format.fmt}, {box_format.units}")
        self.state.set_dataset(mapped)
        self.message.emit(f"Columns: images={mapping.images}, masks={mapping.masks or '-'}, "
                          f"boxes={mapping.boxes}, labels={mapping.labels}.", False)

"""The ordered list of augmentation transforms (add, remove, move, drag) and a typed editor per parameter.

Each list item carries its own transform spec under Qt.UserRole, so reordering (buttons or drag) moves the
spec with its item: two transforms of the same name keep their own parameters.
"""
from __future__ import annotations

import ast
import copy

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segstudio.gui.widgets import hbox, vbox

SPEC_ROLE = Qt.ItemDataRole.UserRole


class _Entry:
    """Holds one transform's spec dict on its list item (Qt would store a plain dict as a copy)."""

    __slots__ = ("spec",)

    def __init__(self, spec: dict):
        self.spec = spec


def parse_literal(text: str):
    """A typed value from a free-text parameter field: numbers, lists, None, True; else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class TransformListEditor(QWidget):
    """`edited` fires on every change the user makes; `spec()` is the list as plain dicts, in order."""

    edited = Signal()

    def __init__(self, catalogue: dict, parent: QWidget | None = None):
        """`catalogue`: transform name -> augment_spec.TransformInfo (the typed parameters); it may come
        later (set_catalogue): until then the list shows and edits specs with untyped parameter editors."""
        super().__init__(parent)
        self.catalogue = catalogue
        self.transformList = QListWidget(objectName="transformList")
        self.transformList.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.transformList.currentRowChanged.connect(self._show_params)
        self.transformList.model().rowsMoved.connect(lambda *_: self.edited.emit())
        self.addCombo = QComboBox(objectName="addTransformCombo")
        self.addCombo.addItems(sorted(catalogue))
        self.paramBox = QGroupBox("Parameters")
        self.paramForm = QFormLayout(self.paramBox)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.paramBox)
        box = vbox(QLabel("Transforms, in order (drag to reorder):"), (self.transformList, 1),
                   hbox((self.addCombo, 1), QPushButton("Add", objectName="addTransformButton", clicked=self._add)),
                   hbox(QPushButton("Remove", objectName="removeTransformButton", clicked=self._remove),
                        QPushButton("Up", objectName="moveUpButton", clicked=lambda: self._move(-1)),
                        QPushButton("Down", objectName="moveDownButton", clicked=lambda: self._move(1))),
                   (scroll, 1))
        box.layout().setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)

    def set_catalogue(self, catalogue: dict) -> None:
        self.catalogue = catalogue
        self.addCombo.clear()
        self.addCombo.addItems(sorted(catalogue))
        self._show_params(self.transformList.currentRow())

    # ---- the list -----------------------------------------------------------------------------
    def spec(self) -> list[dict]:
        return [copy.deepcopy(self._entry(i).spec) for i in range(self.transformList.count())]

    def set_spec(self, spec: list[dict]) -> None:
        """Show a spec (a preset's or a loaded config's); not an edit, so `edited` does not fire."""
        self.transformList.blockSignals(True)
        self.transformList.clear()
        for t in spec:
            self.transformList.addItem(self._item(dict(t)))
        self.transformList.blockSignals(False)
        self.transformList.setCurrentRow(0 if spec else -1)
        self._show_params(self.transformList.currentRow())

    def _entry(self, row: int) -> _Entry:
        return self.transformList.item(row).data(SPEC_ROLE)

    @staticmethod
    def _item(spec: dict) -> QListWidgetItem:
        item = QListWidgetItem(spec.get("name", "?"))
        item.setData(SPEC_ROLE, _Entry(spec))
        return item

    def _add(self) -> None:
        name = self.addCombo.currentText()
        if not name:
            return
        spec = {"name": name, **{p.name: copy.deepcopy(p.default) for p in self.catalogue[name].params}}
        self.transformList.addItem(self._item(spec))
        self.transformList.setCurrentRow(self.transformList.count() - 1)
        self.edited.emit()

    def _remove(self) -> None:
        row = self.transformList.currentRow()
        if row >= 0:
            self.transformList.takeItem(row)
            self._show_params(self.transformList.currentRow())
            self.edited.emit()

    def _move(self, step: int) -> None:
        row = self.transformList.currentRow()
        dest = row + step
        if row >= 0 and 0 <= dest < self.transformList.count():
            self.transformList.insertItem(dest, self.transformList.takeItem(row))
            self.transformList.setCurrentRow(dest)
            self.edited.emit()

    # ---- parameter editors --------------------------------------------------------------------
    @Slot(int)
    def _show_params(self, row: int) -> None:
        while self.paramForm.rowCount():
            self.paramForm.removeRow(0)
        if row < 0 or row >= self.transformList.count():
            self.paramBox.setTitle("Parameters")
            return
        entry = self._entry(row)
        name = entry.spec.get("name")
        self.paramBox.setTitle(f"Parameters of {name}")
        known = self.catalogue.get(name)
        infos = {p.name: p for p in (known.params if known else ())}
        for key in list(infos) + [k for k in entry.spec if k != "name" and k not in infos]:
            value = entry.spec.get(key, infos[key].default if key in infos else None)
            self.paramForm.addRow(key, param_editor(value, infos.get(key), self._setter(entry, key)))

    def _setter(self, entry: _Entry, key: str):
        """Writes into the entry itself, wherever its item has moved since the editor was made."""
        def set_value(value):
            entry.spec[key] = value
            self.edited.emit()
        return set_value


def param_editor(value, info, setter) -> QWidget:
    """A widget editing one parameter; `info` is its augment_spec.ParamInfo (None when not in the catalogue)."""
    if info is not None and info.choices:
        return _choice_editor(value, info, setter)
    if isinstance(value, bool) or (info is not None and info.type == "bool"):
        w = QCheckBox()
        w.setChecked(bool(value))
        w.toggled.connect(setter)
        return w
    lo, hi = (info.min, info.max) if info is not None else (None, None)
    if isinstance(value, int):
        w = QSpinBox(minimum=int(lo if lo is not None else -10**6), maximum=int(hi if hi is not None else 10**6))
        w.setValue(value)
        w.valueChanged.connect(setter)
        return w
    if isinstance(value, float):
        w = QDoubleSpinBox(decimals=3, singleStep=0.05, minimum=float(lo if lo is not None else -1e6),
                           maximum=float(hi if hi is not None else 1e6))
        w.setValue(value)
        w.valueChanged.connect(setter)
        return w
    if (isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
            and 0 < len(value) <= 2):   # a [lo, hi] pair; longer lists are edited as text below
        return _pair_editor(value, setter)
    w = QLineEdit(repr(value) if not isinstance(value, str) else value)
    w.editingFinished.connect(lambda: setter(parse_literal(w.text())))
    return w


def _choice_editor(value, info, setter) -> QComboBox:
    choices = list(info.choices)
    w = QComboBox()
    w.addItems([str(c) for c in (info.labels or choices)])
    if value in choices:
        w.setCurrentIndex(choices.index(value))
    w.currentIndexChanged.connect(lambda i: setter(choices[i]))
    return w


def _pair_editor(value, setter) -> QWidget:
    w = QWidget()
    layout = QHBoxLayout(w)
    layout.setContentsMargins(0, 0, 0, 0)
    parts = list(value)
    for i, v in enumerate(value):
        box = (QDoubleSpinBox(decimals=3, singleStep=0.05, minimum=-1e6, maximum=1e6)
               if isinstance(v, float) else QSpinBox(minimum=-10**6, maximum=10**6))
        box.setValue(v)
        box.valueChanged.connect(lambda x, i=i: (parts.__setitem__(i, x), setter(list(parts))))
        layout.addWidget(box)
    return w

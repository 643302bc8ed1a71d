"""How instances are drawn in a view: masks, boxes, labels on or off, mask opacity, classes shown.

Dense scenes (dozens of instances, one mask covering most of the picture) stay readable when the user
lowers the opacity, hides a class or turns labels off. The options travel to the render thread as a dict
of keyword arguments for segstudio.samples.render.render.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QMenu, QSlider, QSpinBox, QToolButton, QWidget

from segstudio.gui.widgets import link_slider


class StayOpenMenu(QMenu):
    """A menu of check boxes that stays open while they are ticked (a QMenu closes after every click, so
    hiding five classes took five trips to the button); other entries close it as usual."""

    def mouseReleaseEvent(self, event) -> None:
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        action = self.activeAction()
        if (event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter) and action is not None
                and action.isCheckable()):
            action.trigger()
            return
        super().keyPressEvent(event)


class DisplayControls(QWidget):
    """One row of toggles; `changed` when any of them moves. `options()` is render()'s keyword arguments."""

    changed = Signal()

    def __init__(self, prefix: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.masksCheck = QCheckBox("masks", objectName=f"{prefix}MasksCheck", checked=True)
        self.boxesCheck = QCheckBox("boxes", objectName=f"{prefix}BoxesCheck", checked=True)
        self.labelsCheck = QCheckBox("labels", objectName=f"{prefix}LabelsCheck", checked=True)
        self.opacitySlider = QSlider(Qt.Orientation.Horizontal, objectName=f"{prefix}OpacitySlider")
        self.opacitySlider.setRange(0, 100)
        self.opacitySlider.setMaximumWidth(110)
        self.opacitySpin = QSpinBox(objectName=f"{prefix}OpacitySpin", minimum=0, maximum=100, value=45,
                                    suffix=" %")
        self.opacitySpin.setToolTip("Mask opacity (0 %: outlines only)")
        link_slider(self.opacitySlider, self.opacitySpin)
        self.classesButton = QToolButton(text="Classes", objectName=f"{prefix}ClassesButton")
        self.classesButton.setToolTip("Show or hide instances by class")
        self.classesButton.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.classesButton.setMenu(StayOpenMenu(self.classesButton))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.masksCheck, self.boxesCheck, self.labelsCheck, QLabel("opacity"), self.opacitySlider,
                  self.opacitySpin, self.classesButton):
            layout.addWidget(w)
        layout.addStretch(1)
        for box in (self.masksCheck, self.boxesCheck, self.labelsCheck):
            box.toggled.connect(self._on_changed)
        self.opacitySpin.valueChanged.connect(self._on_changed)
        self._hidden: set[int] = set()

    def set_classes(self, names: list[str]) -> None:
        """A new dataset's classes, all shown."""
        self._hidden.clear()
        menu = self.classesButton.menu()
        menu.clear()
        if len(names) > 1:
            menu.addAction("Show all", lambda: self._set_all(True))
            menu.addAction("Hide all", lambda: self._set_all(False))
            menu.addSeparator()
        for i, name in enumerate(names):
            action = menu.addAction(f"{name} (id {i})")
            action.setCheckable(True)
            action.setChecked(True)
            action.toggled.connect(lambda on, i=i: self._on_class(i, on))
        self.classesButton.setEnabled(bool(names))
        self._update_button()

    def set_class_shown(self, index: int, shown: bool) -> None:
        actions = [a for a in self.classesButton.menu().actions() if a.isCheckable()]
        actions[index].setChecked(shown)

    def _set_all(self, shown: bool) -> None:
        for action in self.classesButton.menu().actions():
            if action.isCheckable():
                action.blockSignals(True)
                action.setChecked(shown)
                action.blockSignals(False)
        count = sum(a.isCheckable() for a in self.classesButton.menu().actions())
        self._hidden = set() if shown else set(range(count))
        self._update_button()
        self.changed.emit()

    def _on_class(self, index: int, shown: bool) -> None:
        (self._hidden.discard if shown else self._hidden.add)(index)
        self._update_button()
        self.changed.emit()

    def _update_button(self) -> None:
        self.classesButton.setText(f"Classes ({len(self._hidden)} hidden)" if self._hidden else "Classes")

    @Slot()
    def _on_changed(self, *_):
        self.changed.emit()

    def options(self) -> dict:
        return {"alpha": self.opacitySpin.value() / 100, "draw_masks": self.masksCheck.isChecked(),
                "draw_boxes": self.boxesCheck.isChecked(),
                "draw_labels": self.labelsCheck.isChecked(), "hidden_classes": tuple(sorted(self._hidden))}

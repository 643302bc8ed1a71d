"""Error types in AP points (engine.tide) as a table: all classes, then each class, for boxes or masks."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTableWidgetItem, QVBoxLayout, QWidget

from segstudio.gui.widgets import read_only_table

TYPES = (("cls", "class"), ("loc", "place"), ("both", "both"), ("dupe", "duplicate"), ("bkg", "background"),
         ("missed", "missed"))


class ErrorTypesView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel("AP50 points that fixing each kind of error would recover (TIDE).",
                            objectName="errorTypesLabel", wordWrap=True)
        self.table = read_only_table(["class", "AP50"] + [t for _, t in TYPES], "errorTypesTable")
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.table, 1)

    def set_errors(self, errors: dict | None, kind_title: str = "") -> None:
        """Show one kind's engine.tide.breakdown result (None: clear)."""
        if errors is None:
            self.table.setRowCount(0)
            return
        counts = ", ".join(f"{errors['counts'][k]} {t}" for k, t in TYPES)
        self.label.setText(f"{kind_title}: AP50 points that fixing each kind of error would recover (TIDE, "
                           f"IoU 0.5, background below 0.1). Errors counted: {counts}.")
        rows = [("all classes", errors["base_ap50"], errors["delta"])]
        rows += [(name, v["ap50"], v) for name, v in errors["per_class"].items()]
        self.table.setRowCount(len(rows))
        for r, (name, ap, deltas) in enumerate(rows):
            cells = [name, "-" if ap is None else f"{ap:.1f}"] + [f"{deltas.get(k, 0.0):.1f}" for k, _ in TYPES]
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))

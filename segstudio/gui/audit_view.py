"""The Audit view of the Augmentation tab: what the pipeline does to the whole dataset (segstudio.audit),
optionally beside a preset, run off the GUI thread with progress and cancel."""
from __future__ import annotations

import copy
from typing import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from segstudio.gui.state import DatasetState
from segstudio.gui.widgets import hbox, vbox
from segstudio.gui.workers import TaskRunner

NO_COMPARE = "(nothing)"
CONFIG_ITEM = "a config file..."
COLUMNS = ["class", "before", "after", "lost", "anchors before", "anchors after", "share before", "share after"]
REASONS = "dropped by reason"    # the last column (after the compared pipeline's)
COMPARE_COLUMNS = ["lost: {}", "anchors after: {}"]
TIPS = {"anchors before": "Share of the boxes that some RPN anchor matches at its positive IoU (0.7), without "
                          "augmentation (the model's own resize, as in evaluation)",
        "anchors after": "Share of the boxes after augmentation that some RPN anchor matches at its positive IoU",
        "share before": "The class's share of all instances before augmentation",
        "share after": "The class's share of all instances after augmentation",
        "lost": "Share of the class's instances the pipeline drops (crowd regions and broken boxes not counted)"}
MARKED = QColor("#ffe3a3")   # a difference of 5 points or more between the two pipelines


def run_audits(mapped, cfg, other_cfg, rows: int, draws: int, report, should_stop):
    """The task: the current pipeline's audit, then the other one's (same rows and draws)."""
    from segstudio.audit.run import audit_mapped

    pipelines = 2 if other_cfg is not None else 1

    def progress(offset):   # the audit's total counts the rows it really has (at most `rows`)
        return lambda done, total: report(offset + done, total * pipelines)

    first = audit_mapped(mapped, cfg, rows=rows, draws=draws, progress=progress(0), should_stop=should_stop)
    if other_cfg is None or not first.complete:
        return first, None
    second = audit_mapped(mapped, other_cfg, rows=rows, draws=draws, progress=progress(first.tally.samples),
                          should_stop=should_stop)
    return first, second


class AuditView(QWidget):
    adviceChanged = Signal(str)     # the advice line for the training form ("" when none is current)
    message = Signal(str, bool)

    def __init__(self, state: DatasetState, config_fn: Callable, presets, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.config_fn = state, config_fn
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.succeeded.connect(self._on_done)
        self.runner.failed.connect(self._on_failed)
        self.runner.done.connect(self._on_ended)
        self.result = self.other = None
        self._build(presets)

    def _build(self, presets) -> None:
        self.rowsSpin = QSpinBox(objectName="auditRowsSpin", minimum=1, maximum=1_000_000, value=500)
        self.rowsSpin.setToolTip("Training rows audited (a fixed sample when there are more)")
        self.drawsSpin = QSpinBox(objectName="auditDrawsSpin", minimum=1, maximum=1000, value=4)
        self.drawsSpin.setToolTip("Draws per row: the samples of epochs 0..D-1, with training's seeds")
        self.compareCombo = QComboBox(objectName="auditCompareCombo")
        self.compareCombo.addItems([NO_COMPARE] + list(presets) + [CONFIG_ITEM])
        self.compareCombo.setToolTip("Audit this augmentation preset, or a config file's pipeline and model, "
                                     "on the same rows too, and mark where it differs")
        self.compareCombo.activated.connect(self._on_compare_chosen)
        self.runButton = QPushButton("Audit", objectName="auditRunButton", clicked=self.start)
        self.cancelButton = QPushButton("Cancel", objectName="auditCancelButton", clicked=self.cancel, enabled=False)
        self.progressBar = QProgressBar(objectName="auditProgressBar", value=0, format="%v / %m samples")
        self.statusLabel = QLabel("Audit the pipeline over the training rows: instances lost by class and "
                                  "reason, object sizes against the anchors, empty samples.",
                                  objectName="auditStatusLabel", wordWrap=True)
        self.statusLabel.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 4)   # a wrapped headline
        self.warningsText = QPlainTextEdit(objectName="auditWarningsText", readOnly=True)
        self.warningsText.setStyleSheet("color: #8a5a00;")
        self.warningsText.setMaximumHeight(6 * self.fontMetrics().lineSpacing() + 12)
        self.warningsText.setPlaceholderText("Warnings: where the pipeline hurts, and the setting to change")
        self.table = QTableWidget(0, len(COLUMNS) + 1, objectName="auditTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setToolTip("Select a class to see its box sizes below")
        self.table.itemSelectionChanged.connect(self.show_histogram)
        self.histogramText = QPlainTextEdit(objectName="auditHistogramText", readOnly=True)
        self.histogramText.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.histogramText.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.histogramText.setPlaceholderText("Box sides before | after, against the anchor sizes and COCO's bounds")
        controls = hbox(QLabel("Rows"), self.rowsSpin, QLabel("Draws"), self.drawsSpin, QLabel("Compare with"),
                        self.compareCombo, self.runButton, self.cancelButton, (self.progressBar, 1))
        layout = vbox(controls, self.statusLabel, self.warningsText, (self.table, 3), (self.histogramText, 2))
        layout.layout().setContentsMargins(0, 0, 0, 0)
        outer = vbox((layout, 1))
        self.setLayout(outer.layout())

    # ---- running ------------------------------------------------------------------------------
    def pick_config(self) -> str:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Compare with the pipeline of", "", "Config (*.toml)")
        return path

    @Slot(int)
    def _on_compare_chosen(self, index: int) -> None:
        """'a config file...': pick a TOML; it joins the list (by file name) and is chosen."""
        if self.compareCombo.itemText(index) != CONFIG_ITEM:
            return
        from pathlib import Path

        path = self.pick_config()
        if not path:
            self.compareCombo.setCurrentIndex(0)
            return
        found = self.compareCombo.findData(path)
        if found < 0:
            found = self.compareCombo.count() - 1
            self.compareCombo.insertItem(found, Path(path).name, path)
        self.compareCombo.setCurrentIndex(found)

    def _configs(self):
        """(the form's config, the compared one or None); a config file keeps the form's data settings."""
        from segstudio.base.config import load_config, validate

        cfg = self.config_fn()
        other_name, path = self.compareCombo.currentText(), self.compareCombo.currentData()
        if other_name in (NO_COMPARE, CONFIG_ITEM):
            return cfg, None
        if path:
            other = validate(load_config(path))
            other.data, other.train.seed = copy.deepcopy(cfg.data), cfg.train.seed   # the same rows and draws
            other.train.workers = cfg.train.workers
            return cfg, other
        other = copy.deepcopy(cfg)
        other.augment.preset = other_name
        return cfg, other

    @Slot()
    def start(self) -> None:
        from segstudio.base.errors import UserError

        if self.runner.is_running():
            return
        if not self.state.ready:
            self.statusLabel.setText("Open a dataset on the Dataset tab first.")
            return
        try:
            cfg, other = self._configs()
        except UserError as exc:
            self.statusLabel.setText(str(exc))
            self.message.emit(str(exc), True)
            return
        mapped, rows, draws = self.state.mapped, self.rowsSpin.value(), self.drawsSpin.value()
        self.runButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        self.progressBar.setValue(0)
        self.statusLabel.setText("Auditing...")
        self.runner.start(lambda report, stop: run_audits(mapped, cfg, other, rows, draws, report, stop))

    @Slot()
    def cancel(self) -> None:
        self.runner.request_stop()
        self.statusLabel.setText("Cancelling after the current batch...")

    @Slot()
    def mark_stale(self, *_) -> None:
        """The pipeline or the model changed: the audit shown describes the old ones."""
        if self.result is not None and not self.runner.is_running():
            self.statusLabel.setText("The pipeline or the model changed since this audit; press Audit again.")
            self.adviceChanged.emit("")

    @Slot(object)
    def _on_progress(self, values) -> None:
        done, total = values
        self.progressBar.setMaximum(max(int(total), 1))
        self.progressBar.setValue(int(done))

    @Slot(object)
    def _on_done(self, results) -> None:
        from segstudio.audit.report import advice_line, audit_warnings, headline

        self.result, self.other = results
        self.show_result()
        self.statusLabel.setText(headline(self.result))
        warnings = audit_warnings(self.result)
        self.warningsText.setPlainText("\n".join(f"⚠ {w}" for w in warnings)
                                       or "No warning: nothing the pipeline does looks harmful.")
        self.adviceChanged.emit(advice_line(self.result) if self.result.complete else "")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.statusLabel.setText(f"The audit stopped: {message}")
        self.message.emit(f"Audit: {message}", True)

    @Slot()
    def _on_ended(self) -> None:
        self.runButton.setEnabled(True)
        self.cancelButton.setEnabled(False)

    # ---- showing ------------------------------------------------------------------------------
    def show_result(self) -> None:
        from segstudio.audit.report import MARK_POINTS, class_rows, reasons_text

        rows = [r for r in class_rows(self.result) if r["before"]]   # classes present in the audited rows
        others = {r["class"]: r for r in class_rows(self.other)} if self.other is not None else {}
        name = self.compareCombo.currentText()
        headers = COLUMNS + ([c.format(name) for c in COMPARE_COLUMNS] if self.other is not None else []) + [REASONS]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for j, header in enumerate(headers):
            self.table.horizontalHeaderItem(j).setToolTip(TIPS.get(header, ""))
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = [r["class"], r["before"], r["after"], _pct(r["lost"]), _pct(r["coverage_before"]),
                     _pct(r["coverage_after"]), _pct(r["share_before"]), _pct(r["share_after"])]
            for j, value in enumerate(cells):
                self._set(i, j, value)
            self._set(i, len(headers) - 1, reasons_text(r["dropped"]))
            o = others.get(r["class"])
            if o is not None:
                for j, key in enumerate(("lost", "coverage_after")):
                    marked = abs(o[key] - r[key]) >= MARK_POINTS
                    self._set(i, len(COLUMNS) + j, _pct(o[key]) + (" *" if marked else ""), marked)
        self.table.resizeColumnsToContents()
        self.show_histogram()

    @Slot()
    def show_histogram(self) -> None:
        """Box sides of the selected class (all classes when none is selected), for both pipelines."""
        from segstudio.audit.report import size_histogram

        if self.result is None:
            return
        rows = self.table.selectionModel().selectedRows()
        item = self.table.item(rows[0].row(), 0) if rows else None
        names = self.result.class_names
        index = names.index(item.text()) if item is not None and item.text() in names else None
        text = []
        for kind in ("side", "area"):
            text += size_histogram(self.result, 24, index, kind) + [""]
            if self.other is not None:
                text += [f"{self.compareCombo.currentText()}:"] + size_histogram(self.other, 24, index, kind) + [""]
        self.histogramText.setPlainText("\n".join(text))

    def _set(self, row: int, column: int, value, marked: bool = False) -> None:
        item = QTableWidgetItem(str(value))
        if not isinstance(value, str) or value.endswith("%") or value.endswith("*"):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if marked:
            item.setBackground(QBrush(MARKED))
        self.table.setItem(row, column, item)


def _pct(v: float) -> str:
    return f"{v:.0%}"

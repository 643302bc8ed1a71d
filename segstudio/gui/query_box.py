"""The Dataset tab's query box: a TQL filter, how many rows it selects and their classes, as the user types.

Counting runs off the GUI thread (newest request wins, the older one is cancelled) after a short pause in
typing; the filter is remembered per dataset and is what a run trains on (data.query).
"""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QWidget

from segstudio.gui import settings
from segstudio.gui.workers import LatestTask

DEBOUNCE_MS = 350


def count_query(job, should_stop):
    """Worker: (mapped, query) -> QuerySummary (a bad query raises DataError: one sentence)."""
    from segstudio.data.class_counts import Cancelled
    from segstudio.data.query_summary import summarize_query

    mapped, query = job
    try:
        return summarize_query(mapped, query, should_stop=should_stop)
    except Cancelled:
        return None


class QueryBox(QWidget):
    """`changed(query)` once a query was counted without error (or cleared)."""

    changed = Signal(str)

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.edit = QLineEdit(objectName="datasetQueryEdit")
        self.edit.setPlaceholderText("filter rows (TQL), e.g. WHERE contains(categories, 'car') — empty: all rows")
        self.edit.setClearButtonEnabled(True)
        self.resultLabel = QLabel("", objectName="queryResultLabel", wordWrap=True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Rows:"))
        layout.addWidget(self.edit, 3)
        layout.addWidget(self.resultLabel, 2)
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS, timeout=self._count)
        self.edit.textEdited.connect(lambda _t: self._timer.start())
        self.edit.returnPressed.connect(self._count)
        self.task = LatestTask(count_query, "count the query's rows", self)
        self.task.ready.connect(self._on_counted)
        self.task.failed.connect(self._on_failed)
        self.error = ""

    def query(self) -> str:
        """The filter a run trains on: the text, unless it is known to be invalid."""
        return "" if self.error else self.edit.text().strip()

    def set_query(self, text: str) -> None:
        self.edit.setText(text)
        self._count()

    def dataset_opened(self, url: str) -> None:
        """Another dataset (or version) is open: its remembered filter, counted again."""
        self.edit.setText(str(settings.load_value(f"query/{url}", "") or ""))
        self._count()

    def readers(self) -> list:
        return self.task.readers()

    @Slot()
    def _count(self) -> None:
        self._timer.stop()
        text = self.edit.text().strip()
        if self.state.mapped is None:
            return
        if not text:
            self._show("", "")
            return
        self.resultLabel.setText("counting ...")
        self.task.request((self.state.mapped, text))

    @Slot(object, object)
    def _on_counted(self, job, summary) -> None:
        mapped, text = job
        if summary is None or mapped is not self.state.mapped or text != self.edit.text().strip():
            return   # cancelled, or typed / reopened since: the newer count follows
        self._show(text, "")
        self.resultLabel.setText(summary.format_text(mapped.class_names))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        message = message.split(": ", 1)[-1] if message.startswith("Cannot count") else message
        message = message.replace("data.query ", "The filter ", 1).replace("leave data.query empty", "clear it")
        self._show(self.edit.text().strip(), message)

    def _show(self, text: str, error: str) -> None:
        self.error = error
        self.resultLabel.setStyleSheet("color: #b00020;" if error else "")
        self.resultLabel.setText(error)
        self.edit.setToolTip(error)
        if not error and self.state.url:
            settings.save_value(f"query/{self.state.url}", text)
            self.changed.emit(text)

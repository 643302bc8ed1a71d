"""The open dataset shared by the panels: handle, description, chosen column mapping."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class DatasetState(QObject):
    """Holds what the Dataset panel opened; other panels listen to `changed`."""

    changed = Signal()          # a dataset was opened, or the column mapping changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.url = ""
        self.endpoint_url = ""
        self.ds = None
        self.info = None
        self.mapping = None
        self.box_format = None

    @property
    def ready(self) -> bool:
        return self.ds is not None and self.mapping is not None

    @property
    def class_names(self) -> list[str]:
        return list(getattr(self.info, "class_names", []) or [])

    @property
    def num_rows(self) -> int:
        return int(getattr(self.info, "num_rows", 0) or 0)

    def set_dataset(self, url: str, endpoint_url: str, ds, info, mapping, box_format) -> None:
        self.url, self.endpoint_url, self.ds, self.info = url, endpoint_url, ds, info
        self.mapping, self.box_format = mapping, box_format
        self.changed.emit()

    def set_mapping(self, mapping, box_format) -> None:
        self.mapping, self.box_format = mapping, box_format
        self.changed.emit()

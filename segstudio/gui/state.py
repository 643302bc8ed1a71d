"""The open dataset shared by the panels: one MappedDataset (handle, description, chosen column mapping)."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class DatasetState(QObject):
    """Holds the MappedDataset the Dataset panel opened; other panels listen to `changed`."""

    changed = Signal()          # a dataset was opened, or the column mapping changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.mapped = None      # segstudio.data.mapped.MappedDataset

    def _get(self, name: str, default=None):
        return default if self.mapped is None else getattr(self.mapped, name)

    url = property(lambda self: self._get("url", ""))
    endpoint_url = property(lambda self: self._get("endpoint_url", ""))
    ds = property(lambda self: self._get("ds"))
    info = property(lambda self: self._get("info"))
    mapping = property(lambda self: self._get("mapping"))
    box_format = property(lambda self: self._get("box_format"))

    @property
    def ready(self) -> bool:
        return self.mapped is not None and self.mapped.mapping is not None

    @property
    def class_names(self) -> list[str]:
        return list(self._get("class_names", []) or [])

    @property
    def num_rows(self) -> int:
        return int(self._get("num_rows", 0) or 0)

    def set_dataset(self, mapped) -> None:
        """A newly opened dataset, or the same one with other columns chosen."""
        self.mapped = mapped
        self.changed.emit()

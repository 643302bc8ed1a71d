"""The Review tab's list of candidates: a list model that writes a row's text only when the view shows it.

Tens of thousands of candidates (10,000 rows give about 55,000) then appear at once: a QListWidget item per
candidate cost 0.74 s per 55,000 on the GUI thread, growing with the dataset; this model and a view laid out in
batches show the first rows in 12-24 ms, at 55,000 candidates as at 550,000 (the rest are laid out between
events, the window responsive meanwhile). A row reads
"0.93  wrong class · row 12 · circle → square", followed by the fixes and marks given to it ("[delete]").
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

KIND_WORDS = {"missing": "missing annotation", "wrong_class": "wrong class", "sloppy_mask": "sloppy mask",
              "spurious": "spurious annotation"}


class CandidateList(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.candidates: list[dict] = []
        self.class_names: list[str] = []
        self.tags: dict[int, list[str]] = {}     # position in the list -> the fixes and marks given, in order

    def show(self, candidates: list[dict], class_names: list[str]) -> None:
        self.beginResetModel()
        self.candidates, self.class_names, self.tags = candidates, class_names, {}
        self.endResetModel()

    def tag(self, position: int, text: str) -> None:
        self.tags.setdefault(position, []).append(text)
        self.dataChanged.emit(self.index(position), self.index(position))

    def untag(self, position: int, text: str) -> None:
        """Takes back the last `text` given to the candidate at `position`."""
        tags = self.tags.get(position, [])
        if text in tags:
            del tags[len(tags) - 1 - tags[::-1].index(text)]
            self.dataChanged.emit(self.index(position), self.index(position))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.candidates)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        return self.text(index.row())

    def text(self, position: int) -> str:
        c, names = self.candidates[position], self.class_names
        name = lambda i: names[i] if 0 <= i < len(names) else ""  # noqa: E731
        what = {"missing": f"→ {name(c['proposed'])}", "wrong_class": f"{name(c['label'])} → {name(c['proposed'])}",
                "sloppy_mask": name(c["label"]), "spurious": name(c["label"])}[c["kind"]]
        return (f"{c['score']:.2f}  {KIND_WORDS[c['kind']]} · row {c['row']} · {what}"
                + ("  (training row)" if c["training_row"] else "")
                + "".join(f"  [{t}]" for t in self.tags.get(position, ())))

"""What changed in a dataset's rows between two of its versions: rows added, rows removed, rows whose labels
(class list, boxes or masks) changed.

Deep Lake 4.7 has no diff of two versions: a commit's `operations` are counts only ("Deleted 1 rows") and a
row's `row_id` is its position, which shifts when a row before it is deleted. So both versions' rows are read
(in batches, with progress) and fingerprinted: the image's stored bytes name a row, and a hash of each label
column says whether its labels changed. The two sequences of image fingerprints are aligned like two text
files (difflib): an image kept in both is the same row, one only in A was removed, one only in B was added.
Masks are compared by their stored (compressed) bytes, boxes and classes by their values.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
from typing import Callable

import numpy as np

from segstudio.data.sample import ColumnMapping

LISTED = 20          # row indices listed per kind of change
BATCH = 256
LABEL_PARTS = ("classes", "boxes", "masks")


@dataclasses.dataclass
class VersionDiff:
    """Counts over every row; the row indices (A's for removed, B's for added and changed) of the first
    LISTED rows of each kind; `changed_parts`: how many changed rows had new classes, boxes, masks."""

    rows_a: int
    rows_b: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    added_rows: list = dataclasses.field(default_factory=list)
    removed_rows: list = dataclasses.field(default_factory=list)
    changed_rows: list = dataclasses.field(default_factory=list)
    changed_parts: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(LABEL_PARTS, 0))

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=12).digest()


def _value_digest(value) -> bytes:
    array = np.asarray(value)
    return _digest(str((array.dtype.str, array.shape)).encode() + array.tobytes())


def _column_digests(ds, column: str, start: int, stop: int) -> list[bytes]:
    """One fingerprint per row of `column`: its stored bytes where Deep Lake gives them (images, masks),
    else its values (boxes, class labels); empty bytes for a column the mapping leaves out."""
    if not column:
        return [b""] * (stop - start)
    try:
        return [_digest(bytes(b)) for b in ds[column].get_bytes(slice(start, stop))]
    except Exception:  # noqa: BLE001 - "The array is not a bytes array" for numeric columns
        return [_value_digest(v) for v in ds[column][start:stop]]


def fingerprints(ds, mapping: ColumnMapping, progress: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> tuple[list, list]:
    """([image fingerprint per row], [(classes, boxes, masks) fingerprints per row]) of a dataset version."""
    images, labels = [], []
    for start in range(0, len(ds), BATCH):
        if should_stop is not None and should_stop():
            raise InterruptedError("stopped")
        stop = min(start + BATCH, len(ds))
        images += _column_digests(ds, mapping.images, start, stop)
        labels += zip(*(_column_digests(ds, c, start, stop) for c in (mapping.labels, mapping.boxes, mapping.masks)))
        if progress is not None:
            progress(stop)
    return images, labels


def diff_fingerprints(images_a: list, labels_a: list, images_b: list, labels_b: list,
                      listed: int = LISTED) -> VersionDiff:
    """Align the image fingerprints of A and B (rows kept, removed, added) and compare the kept rows' labels."""
    diff = VersionDiff(len(images_a), len(images_b))
    matcher = difflib.SequenceMatcher(None, images_a, images_b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(a0, a1), range(b0, b1)):
                _compare_labels(diff, labels_a[i], labels_b[j], j, listed)
            continue
        diff.removed += a1 - a0
        diff.added += b1 - b0
        diff.removed_rows += list(range(a0, a1))[:max(0, listed - len(diff.removed_rows))]
        diff.added_rows += list(range(b0, b1))[:max(0, listed - len(diff.added_rows))]
    return diff


def _compare_labels(diff: VersionDiff, a: tuple, b: tuple, row_b: int, listed: int) -> None:
    if a == b:
        return
    diff.changed += 1
    if len(diff.changed_rows) < listed:
        diff.changed_rows.append(row_b)
    for part, x, y in zip(LABEL_PARTS, a, b):
        diff.changed_parts[part] += x != y


def diff_versions(ds_a, ds_b, mapping_a: ColumnMapping, mapping_b: ColumnMapping, *, listed: int = LISTED,
                  progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> VersionDiff:
    """The rows added, removed and relabelled from `ds_a` to `ds_b` (two versions of one dataset, opened and
    held by the caller, each with its column mapping). `progress(done, total)` counts rows read in both."""
    total = len(ds_a) + len(ds_b)

    def report(offset):
        return None if progress is None else (lambda done: progress(offset + done, total))
    images_a, labels_a = fingerprints(ds_a, mapping_a, report(0), should_stop)
    images_b, labels_b = fingerprints(ds_b, mapping_b, report(len(ds_a)), should_stop)
    return diff_fingerprints(images_a, labels_a, images_b, labels_b, listed)

"""How many instances (and crowd instances) each class has, over a dataset's label column.

It reads every row's labels, so it reports progress and can be cancelled; data.scan caches its answer
per dataset version. Consecutive rows are read as slices and tallied with one bincount per chunk: on
100k rows that is a fraction of a second instead of seconds of per-row requests.
"""
from __future__ import annotations

import numpy as np

from segstudio.data.columns import read_column

CHUNK = 1024   # rows read per request: one column read per chunk, memory bounded whatever the row count


class Cancelled(Exception):
    """A scan stopped because its caller asked it to."""


def class_counts(ds, labels: str, iscrowd: str, num_classes: int, *, rows=None, progress=None,
                 should_stop=None) -> tuple:
    """(instances per class, crowd instances per class) over `rows` (default: every row) of the label column.

    `progress(done, total)` after each chunk of rows; raises Cancelled when `should_stop()` turns true."""
    rows = np.arange(len(ds)) if rows is None else np.asarray(sorted(int(r) for r in rows), np.int64)
    total, crowd = np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64)
    for start in range(0, len(rows), CHUNK):
        if should_stop is not None and should_stop():
            raise Cancelled()
        chunk = rows[start:start + CHUNK].tolist()
        labs = [np.asarray(v, np.int64).reshape(-1) for v in read_column(ds, labels, chunk)]
        flags = read_column(ds, iscrowd, chunk)
        _tally(total, crowd, labs, flags, num_classes)
        if progress is not None:
            progress(start + len(chunk), len(rows))
    return total.tolist(), crowd.tolist()


def _tally(total: np.ndarray, crowd: np.ndarray, labs: list, flags: list, num_classes: int) -> None:
    """Add one chunk's rows: every label in range counts; crowd flags count where a row has one per label."""
    if not labs:
        return
    every = np.concatenate(labs)
    ok = (every >= 0) & (every < num_classes)
    total += np.bincount(every[ok], minlength=num_classes)
    pairs = [(lab, np.asarray(f).reshape(-1).astype(bool)) for lab, f in zip(labs, flags) if f is not None]
    pairs = [(lab, f) for lab, f in pairs if len(f) == len(lab)]
    if pairs:
        lab, f = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        hit = (lab >= 0) & (lab < num_classes) & f
        crowd += np.bincount(lab[hit], minlength=num_classes)

"""How many instances (and crowd instances) each class has, over a dataset's label column.

It reads every row's labels, so it reports progress and can be cancelled; data.scan caches its answer
per dataset version.
"""
from __future__ import annotations

import numpy as np

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
        labs = ds[labels][chunk]
        flags = ds[iscrowd][chunk] if iscrowd else [None] * len(chunk)
        for lab, flag in zip(labs, flags):
            lab = np.asarray(lab, np.int64).reshape(-1)
            ok = (lab >= 0) & (lab < num_classes)
            total += np.bincount(lab[ok], minlength=num_classes)
            if flag is not None:
                f = np.asarray(flag).reshape(-1).astype(bool)
                if len(f) == len(lab):
                    crowd += np.bincount(lab[ok & f], minlength=num_classes)
        if progress is not None:
            progress(start + len(chunk), len(rows))
    return total.tolist(), crowd.tolist()

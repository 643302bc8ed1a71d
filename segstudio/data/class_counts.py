"""How many instances (and crowd instances) each class has, over a dataset's whole label column."""
from __future__ import annotations

import numpy as np

CHUNK = 1024   # rows read per request: one column read per chunk, memory bounded whatever the row count


def class_counts(ds, labels: str, iscrowd: str, num_classes: int) -> tuple:
    """(instances per class, crowd instances per class) over the whole label column."""
    total, crowd = np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64)
    for start in range(0, len(ds), CHUNK):
        rows = list(range(start, min(len(ds), start + CHUNK)))
        labs = ds[labels][rows]
        flags = ds[iscrowd][rows] if iscrowd else [None] * len(rows)
        for lab, flag in zip(labs, flags):
            lab = np.asarray(lab, np.int64).reshape(-1)
            ok = (lab >= 0) & (lab < num_classes)
            total += np.bincount(lab[ok], minlength=num_classes)
            if flag is not None:
                f = np.asarray(flag).reshape(-1).astype(bool)
                if len(f) == len(lab):
                    crowd += np.bincount(lab[ok & f], minlength=num_classes)
    return total.tolist(), crowd.tolist()

"""Reading many rows of one column: consecutive rows as one slice request.

Deep Lake 4.7 answers a slice of a small column (labels, crowd flags, boxes) 20-30 times faster than the
same rows asked as a list of indices (20,000 label rows: 0.02 s against 0.5 s here), and the list form
holds the GIL meanwhile, which the window feels. Mask columns are the exception: a slice of them was 4-5
times slower than the list (measured with bench-style loops on 100k rows), so callers pass
`by_slice=False` for masks.
"""
from __future__ import annotations


def consecutive(rows: list) -> bool:
    """Whether sorted distinct `rows` are one run without gaps (0, 1, 2, ...)."""
    return bool(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows)


def read_column(ds, name: str, rows: list, by_slice: bool = True) -> list:
    """The stored values of `rows` (sorted, distinct) of column `name`, one per row, in one request;
    [None] * len(rows) when no column is named."""
    if not name:
        return [None] * len(rows)
    if by_slice and consecutive(rows):
        return list(ds[name][int(rows[0]):int(rows[-1]) + 1])
    return list(ds[name][list(rows)])

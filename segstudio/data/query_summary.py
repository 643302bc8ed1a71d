"""What a TQL filter selects in a dataset: how many rows, and their instances per class (the query box)."""
from __future__ import annotations

import dataclasses

import numpy as np

from segstudio.data.class_counts import class_counts
from segstudio.data.splits import filtered_rows


@dataclasses.dataclass(frozen=True)
class QuerySummary:
    query: str
    rows: int            # rows that match
    total: int           # rows in the dataset
    per_class: tuple     # instances per class in the matching rows (empty until counted)

    def format_text(self, class_names, top: int = 6) -> str:
        head = f"{self.rows:,} of {self.total:,} rows match"
        if not self.per_class:
            return head + "."
        ranked = sorted(((n, name) for name, n in zip(class_names, self.per_class) if n), reverse=True)
        classes = ", ".join(f"{name} {n:,}" for n, name in ranked[:top])
        more = f", {len(ranked) - top} more classes" if len(ranked) > top else ""
        return f"{head}: {classes}{more}." if ranked else f"{head}, with no instances."


def summarize_query(mapped, query: str, should_stop=None) -> QuerySummary:
    """Rows matching `query` in the mapped dataset and their class histogram (DataError for a bad query;
    data.class_counts.Cancelled when `should_stop()` turns true)."""
    rows = filtered_rows(mapped.ds, query)
    m = mapped.mapping
    counts = ()
    if m is not None and m.labels and len(rows):
        counts = tuple(class_counts(mapped.ds, m.labels, m.iscrowd, len(mapped.class_names), rows=rows,
                                    should_stop=should_stop)[0])
    return QuerySummary(query, len(rows), mapped.num_rows, counts)


def rows_with_class(mapped, class_index: int) -> list[int]:
    """Rows whose labels include class `class_index` (0-based, as stored), in row order: one TQL query."""
    labels = mapped.mapping.labels
    rows = filtered_rows(mapped.ds, f'WHERE CONTAINS("{labels}", {int(class_index)})')
    return np.asarray(rows, np.int64).tolist()


def next_row(rows: list[int], current: int) -> int | None:
    """The first of `rows` after `current` (wrapping round to the first); None when there are none."""
    if not rows:
        return None
    later = [r for r in rows if r > current]
    return later[0] if later else rows[0]

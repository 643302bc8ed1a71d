"""Deterministic train/validation splits: by a stored column, or by a seeded permutation.

The split is a pair of sorted row-index lists, recorded in the run folder (Split.to_dict) so a run can be
reproduced and a later run can reuse it. Never RANDOM() in a query: Deep Lake re-runs a query in every
DataLoader worker, so each worker would see a different split.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from segstudio.base.errors import DataError

_SELECT_ALL = re.compile(r"^\s*select\s+\*\s*", re.IGNORECASE)
_WHERE = re.compile(r"^\s*where\s+", re.IGNORECASE)


@dataclass
class Split:
    train: list
    val: list
    method: str                      # "column" or "random"
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"method": self.method, "details": dict(self.details),
                "train": [int(i) for i in self.train], "val": [int(i) for i in self.val]}

    @classmethod
    def from_dict(cls, d: dict) -> "Split":
        try:
            split = cls(train=sorted(int(i) for i in d["train"]), val=sorted(int(i) for i in d["val"]),
                        method=str(d["method"]), details=dict(d.get("details", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"The recorded split is malformed ({exc}); delete it to make a new split.") from None
        return split

    def check(self, num_rows: int) -> "Split":
        """Refuse a recorded split that does not fit the dataset it is applied to."""
        bad = [i for i in self.train + self.val if not 0 <= i < num_rows]
        if bad:
            raise DataError(f"The recorded split names row {bad[0]} but the dataset has {num_rows} rows; "
                            "the dataset changed, so make a new split.")
        if set(self.train) & set(self.val):
            raise DataError("The recorded split has rows in both train and val; make a new split.")
        return self


def where_clause(query: str) -> str:
    """Accept 'cond', 'WHERE cond' or 'SELECT * WHERE cond'; return 'cond' (empty for no filter)."""
    q = (query or "").strip().rstrip(";")
    if not q:
        return ""
    m = _SELECT_ALL.match(q)
    if m:
        q = q[m.end():]
    elif q.lower().startswith("select"):
        raise DataError("data.query must be a filter (e.g. WHERE CONTAINS(categories, 3)), not a SELECT with "
                        "its own column list; remove the SELECT part.")
    m = _WHERE.match(q)
    if m:
        q = q[m.end():]
    elif q:
        if re.match(r"^\s*(order|group|limit|from)\b", q, re.IGNORECASE):
            raise DataError(f"data.query {query!r} is not a filter; write a condition such as "
                            "WHERE CONTAINS(categories, 3).")
    return q.strip()


def filtered_rows(ds, query: str) -> np.ndarray:
    """Row indices (sorted) that satisfy data.query; all rows when it is empty."""
    cond = where_clause(query)
    if not cond:
        return np.arange(len(ds), dtype=np.int64)
    # ROW_NUMBER() in a sub-query numbers the original rows, so the filter keeps their dataset indices.
    prefix = "SELECT segstudio_row FROM (SELECT *, ROW_NUMBER() AS segstudio_row) WHERE "
    try:
        view = ds.query(prefix + cond)
        rows = np.asarray(view["segstudio_row"][:], dtype=np.int64).reshape(-1) if len(view) else np.zeros(0, np.int64)
    except Exception as exc:  # noqa: BLE001 - TQL errors are RuntimeErrors with a useful message
        msg = _user_position(str(exc).strip().rstrip(".").replace("\n", " "), query, cond, len(prefix))
        raise DataError(f"data.query {query!r} is invalid: {msg}; fix the filter or leave data.query empty.") \
            from None
    return np.unique(rows)


def _user_position(message: str, query: str, cond: str, offset: int) -> str:
    """Deep Lake's "Pos 85 - syntax error" counts from the start of the TQL that segstudio wraps around the
    user's filter: say the place in what the user typed instead ("at character 20 of the query")."""
    m = re.match(r"Pos (\d+)\s*-\s*", message)
    if not m:
        return message
    start = (query or "").find(cond)
    at = int(m.group(1)) - offset + max(start, 0) + 1
    where = "at its end" if at > len(query.strip()) else f"at character {at}"
    return f"{message[m.end():]} {where}"


def _column_values(ds, column: str) -> list:
    names = [c.name for c in ds.schema.columns]
    if column not in names:
        raise DataError(f"Split column '{column}' does not exist (columns: {', '.join(names)}); set "
                        "data.split_column to a column holding train/val names, or leave it empty.")
    values = ds[column][:] if len(ds) else []
    out = []
    for v in values:
        v = v.item() if isinstance(v, np.ndarray) and v.size == 1 else v
        out.append(v.decode() if isinstance(v, bytes) else str(v))
    return out


def _split_by_column(ds, rows: np.ndarray, data_cfg) -> Split:
    column = data_cfg.split_column
    values = _column_values(ds, column)
    train_v, val_v = str(data_cfg.train_value), str(data_cfg.val_value)
    train = [int(i) for i in rows if values[i] == train_v]
    val = [int(i) for i in rows if values[i] == val_v]
    found = sorted({values[i] for i in rows})
    for name, part, key in (("training", train, "train_value"), ("validation", val, "val_value")):
        if not part:
            raise DataError(f"No {name} rows: column '{column}' holds {', '.join(map(repr, found[:10])) or 'nothing'}"
                            f" in the selected rows; set data.{key} to one of them.")
    return Split(train, val, "column", {"split_column": column, "train_value": train_v, "val_value": val_v,
                                        "query": data_cfg.query, "num_rows": len(ds)})


def _split_random(ds, rows: np.ndarray, data_cfg) -> Split:
    frac, seed = float(data_cfg.val_fraction), int(data_cfg.split_seed)
    if len(rows) < 2:
        raise DataError(f"Only {len(rows)} row(s) to split; a training run needs at least 2 (check data.query).")
    n_val = min(max(1, int(round(frac * len(rows)))), len(rows) - 1)
    perm = np.random.default_rng(seed).permutation(len(rows))
    val = sorted(int(rows[i]) for i in perm[:n_val])
    train = sorted(int(rows[i]) for i in perm[n_val:])
    return Split(train, val, "random", {"val_fraction": frac, "split_seed": seed, "query": data_cfg.query,
                                        "num_rows": len(ds)})


def make_split(ds, data_cfg) -> Split:
    """Train/val row indices of `ds` per data_cfg (query filter first, then column or seeded split)."""
    rows = filtered_rows(ds, data_cfg.query)
    if len(rows) == 0:
        raise DataError(f"data.query {data_cfg.query!r} selects no rows; loosen the filter." if data_cfg.query
                        else "The dataset has no rows; choose a dataset with images.")
    if data_cfg.split_column:
        return _split_by_column(ds, rows, data_cfg)
    return _split_random(ds, rows, data_cfg)

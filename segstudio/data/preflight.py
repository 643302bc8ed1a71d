"""Pre-flight checks of a mapped dataset: what would crash training (errors) and what looks wrong (warnings).

Columns are read in batches of rows (Deep Lake decodes a batch in parallel); image sizes come from the
encoded bytes' headers when the column stores encoded images, so no pixel is decoded for them.

A full check scales with the row count, so `preflight` reports progress and can be cancelled (a cancelled
report says how far it got). Training checks a bounded sample up front and every other row as its loader
reads it (`check_sample` on the row it already decoded), merging the findings into one `PreflightTally`.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np

from segstudio.data.columns import read_column
from segstudio.data.sample import BoxFormat, ColumnMapping, boxes_to_xyxy, masks_layout

_FIRST_ROWS = 10
_BATCH = 64
_IMAGE_MODES = {"L": (1, "uint8"), "LA": (2, "uint8"), "RGB": (3, "uint8"), "RGBA": (4, "uint8"),
                "P": (1, "uint8"), "CMYK": (4, "uint8"), "I;16": (1, "uint16"), "I;16B": (1, "uint16"),
                "I": (1, "int32"), "1": (1, "bool")}

# code -> (severity, message template); {n} is the count.
CHECKS = {
    "masks_do_not_fit_image": ("error", "{n} row(s) have masks whose shape does not fit the image "
                               "(expected HxWxN or NxHxW); check data.masks"),
    "count_mismatch": ("error", "{n} row(s) have different numbers of masks, boxes, labels or crowd flags"),
    "label_out_of_range": ("error", "{n} row(s) have label ids outside the {k} class names"),
    "box_not_finite": ("error", "{n} row(s) have boxes with NaN or infinite coordinates"),
    "image_unusable": ("error", "{n} row(s) have images that are not HxW or HxWxC with 1-4 channels"),
    "box_under_1px": ("warning", "{n} box(es) are under 1 pixel wide or high (dropped in training)"),
    "box_outside_image": ("warning", "{n} box(es) reach outside the image (clipped in training)"),
    "empty_mask": ("warning", "{n} mask(s) are empty"),
    "mask_outside_box": ("warning", "{n} mask(s) do not fit their box (pixels more than 2 px outside it)"),
    "no_instances": ("warning", "{n} image(s) have no instances (kept as background)"),
    "only_crowd": ("warning", "{n} image(s) have only crowd instances"),
    "unusual_image": ("warning", "{n} image(s) are not 8-bit RGB (grayscale, alpha, 16-bit...; converted "
                      "to 8-bit RGB)"),
    "unreadable": ("error", "{n} row(s) could not be read (a corrupt image or cell)"),
}
ERROR_CODES = frozenset(code for code, (severity, _) in CHECKS.items() if severity == "error")
# One row's error, as the sentence "Row N <text>" of a run that meets it mid-epoch.
ROW_ERRORS = {
    "masks_do_not_fit_image": "has masks that do not fit its image (check data.masks)",
    "count_mismatch": "has different numbers of masks, boxes, labels or crowd flags",
    "label_out_of_range": "has label ids outside the class names",
    "box_not_finite": "has boxes with NaN or infinite coordinates",
    "image_unusable": "has an image that is not HxW or HxWxC with 1-4 channels",
    "unreadable": "could not be read (a corrupt image or cell)",
}


@dataclass
class Finding:
    code: str
    message: str
    count: int
    rows: list

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "count": self.count, "rows": list(self.rows)}


@dataclass
class PreflightReport:
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    rows_checked: int = 0
    num_rows: int = 0
    seconds: float = 0.0
    bad_rows: list = field(default_factory=list)    # every row with an error, sorted
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def complete(self) -> bool:
        return self.rows_checked >= self.num_rows and not self.cancelled

    def to_dict(self) -> dict:
        return {"ok": self.ok, "rows_checked": self.rows_checked, "num_rows": self.num_rows,
                "complete": self.complete, "cancelled": self.cancelled, "seconds": round(self.seconds, 3),
                "errors": [f.to_dict() for f in self.errors], "warnings": [f.to_dict() for f in self.warnings],
                "bad_rows": [int(r) for r in self.bad_rows]}

    @classmethod
    def from_dict(cls, d: dict) -> "PreflightReport":
        def findings(items):
            return [Finding(f["code"], f["message"], int(f["count"]), list(f["rows"])) for f in items]
        return cls(errors=findings(d["errors"]), warnings=findings(d["warnings"]),
                   rows_checked=int(d["rows_checked"]), num_rows=int(d["num_rows"]),
                   seconds=float(d.get("seconds", 0.0)), bad_rows=[int(r) for r in d.get("bad_rows", [])],
                   cancelled=bool(d.get("cancelled", False)))

    def format_text(self) -> str:
        scope = (f"all {self.num_rows} rows" if self.complete else
                 f"{self.rows_checked} of {self.num_rows} rows"
                 + (" (cancelled)" if self.cancelled else " (a sample)"))
        head = f"Pre-flight: {len(self.errors)} error(s), {len(self.warnings)} warning(s) in {scope}."
        lines = [head]
        for tag, items in (("ERROR", self.errors), ("warn", self.warnings)):
            for f in items:
                lines.append(f"  {tag:5s} {f.message}; first rows: {', '.join(map(str, f.rows))}")
        return "\n".join(lines)


class PreflightTally:
    """Counts and first rows per problem, and every row with an error; rows may arrive in any order."""

    def __init__(self):
        self.counts, self.rows, self.bad_rows = {}, {}, set()
        self.rows_checked = 0

    def add(self, code: str, row: int, n: int = 1) -> None:
        if n <= 0:
            return
        self.counts[code] = self.counts.get(code, 0) + int(n)
        rows = self.rows.setdefault(code, [])
        if int(row) not in rows:
            rows.append(int(row))
            rows.sort()
            del rows[_FIRST_ROWS:]
        if code in ERROR_CODES:
            self.bad_rows.add(int(row))

    def add_row(self, row: int, codes: dict) -> None:
        """One checked row's findings ({code: count}, as `check_sample` returns them)."""
        self.rows_checked += 1
        for code, n in codes.items():
            self.add(code, row, n)

    def report(self, num_rows: int, num_classes=None, seconds: float = 0.0,
               cancelled: bool = False) -> "PreflightReport":
        report = PreflightReport(rows_checked=self.rows_checked, num_rows=num_rows, seconds=seconds,
                                 bad_rows=sorted(self.bad_rows), cancelled=cancelled)
        for code, (severity, template) in CHECKS.items():
            if code in self.counts:
                n = self.counts[code]
                f = Finding(code, template.format(n=n, k=num_classes), n, self.rows[code])
                (report.errors if severity == "error" else report.warnings).append(f)
        return report



def image_shapes(ds, column: str, rows: list) -> list:
    """(height, width, channels, dtype) per row, from encoded headers when possible."""
    from PIL import Image  # noqa: PLC0415

    try:
        blobs = ds[column].get_bytes(rows)
        out = []
        for blob in blobs:
            with Image.open(io.BytesIO(bytes(blob))) as im:
                ch, dt = _IMAGE_MODES.get(im.mode, (len(im.getbands()), "uint8"))
                out.append((im.height, im.width, ch, dt))
        return out
    except Exception:  # noqa: BLE001 - not an encoded image column: decode the arrays instead
        arrays = ds[column][rows]
        out = []
        for a in arrays:
            a = np.asarray(a)
            ch = 1 if a.ndim == 2 else (a.shape[2] if a.ndim == 3 else -1)
            out.append((a.shape[0] if a.ndim >= 2 else -1, a.shape[1] if a.ndim >= 2 else -1, ch, str(a.dtype)))
        return out


def _check_row(t: PreflightTally, row: int, shape, masks, boxes, labels, crowd, fmt: BoxFormat, k) -> None:
    h, w, ch, dt = shape
    if h <= 0 or w <= 0 or ch not in (1, 2, 3, 4):
        t.add("image_unusable", row)
        return
    if ch != 3 or dt != "uint8":
        t.add("unusual_image", row)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) and k is not None and (labels.min() < 0 or labels.max() >= k):
        t.add("label_out_of_range", row)
    m = _mask_extents(t, row, masks, h, w)
    b = None
    if boxes is not None:
        b = np.asarray(boxes, np.float32)
        b = boxes_to_xyxy(b, fmt, w, h) if b.size % 4 == 0 else None
    nc = len(np.asarray(crowd).reshape(-1)) if crowd is not None else len(labels)
    counts = {len(labels), nc} | ({m[0].shape[1]} if m is not None else set()) | \
        ({len(b)} if b is not None else set())
    if boxes is not None and b is None or len(counts) > 1:
        t.add("count_mismatch", row)
    c = np.asarray(crowd).reshape(-1).astype(bool) if crowd is not None else np.zeros(len(labels), bool)
    if len(labels) == 0:
        t.add("no_instances", row)
    elif len(c) == len(labels) and c.all():
        t.add("only_crowd", row)
    if b is not None:
        _check_boxes(t, row, b, w, h)
    if m is not None:
        _check_masks(t, row, m, b if b is not None and len(b) == m[0].shape[1] else None)


def _mask_extents(t: PreflightTally, row: int, masks, h: int, w: int):
    """(rows_hit H x N, cols_hit W x N): which image rows/columns each mask touches; None when the masks
    are unmapped or do not fit the image. Reduced in the stored layout (a reduction over a transposed
    view costs ten times more)."""
    if masks is None:
        return None
    m = np.asarray(masks)
    layout = masks_layout(m.shape, h, w)
    if layout == "":
        t.add("masks_do_not_fit_image", row)
        return None
    if layout == "empty":
        return np.zeros((h, 0), bool), np.zeros((w, 0), bool)
    if layout == "hw":
        m = m[:, :, None]
    if m.dtype != bool:
        m = m != 0
    if layout == "nhw":
        return m.any(axis=2).T, _any_axis1(m).T
    return _any_axis1(m), m.any(axis=0)


def _any_axis1(a: np.ndarray) -> np.ndarray:
    """a.any(axis=1) for a 3-D bool array, by folding halves: numpy's own reduction over a middle axis
    runs element by element and is about 20x slower on mask arrays."""
    while a.shape[1] > 1:
        half = a.shape[1] // 2
        folded = a[:, :half] | a[:, half:2 * half]
        if a.shape[1] % 2:
            folded[:, :1] |= a[:, 2 * half:]
        a = folded
    return a[:, 0] if a.shape[1] else np.zeros((a.shape[0], a.shape[2]), bool)


def _check_boxes(t: PreflightTally, row: int, b: np.ndarray, w: int, h: int) -> None:
    finite = np.isfinite(b).all(axis=1)
    if not finite.all():
        t.add("box_not_finite", row)
    b = b[finite]
    t.add("box_under_1px", row, int(((b[:, 2] - b[:, 0] < 1) | (b[:, 3] - b[:, 1] < 1)).sum()))
    tol = 1.0
    outside = (b[:, 0] < -tol) | (b[:, 1] < -tol) | (b[:, 2] > w + tol) | (b[:, 3] > h + tol)
    t.add("box_outside_image", row, int(outside.sum()))


def _check_masks(t: PreflightTally, row: int, extents: tuple, b) -> None:
    rows_hit, cols_hit = extents
    if rows_hit.shape[1] == 0:
        return
    empty = ~rows_hit.any(axis=0)
    t.add("empty_mask", row, int(empty.sum()))
    if b is None:
        return
    bad = 0
    for i in np.nonzero(~empty)[0]:
        ys, xs = np.nonzero(rows_hit[:, i])[0], np.nonzero(cols_hit[:, i])[0]
        x1, y1, x2, y2 = b[i]
        if xs[0] < x1 - 2 or ys[0] < y1 - 2 or xs[-1] + 1 > x2 + 2 or ys[-1] + 1 > y2 + 2:
            bad += 1
    t.add("mask_outside_box", row, bad)


def preflight(ds, mapping: ColumnMapping, box_format: BoxFormat = BoxFormat(), rows=None,
              num_classes: int | None = None, *, progress=None, should_stop=None,
              tally: PreflightTally | None = None) -> PreflightReport:
    """Check `rows` (default: all) of `ds`; counts and first row ids per problem.

    num_classes bounds the label ids; by default the label column's class_names give it (pass it when the
    names come from elsewhere, e.g. data.class_names). `progress(done, total)` is called after every batch
    of rows; when `should_stop()` turns true the check ends early with a report marked cancelled. Findings
    go into `tally` when one is given (training merges the rows its loader checks later into it).
    """
    started = time.perf_counter()
    rows = list(range(len(ds))) if rows is None else sorted(int(r) for r in rows)
    if num_classes is None:
        try:
            num_classes = len(ds[mapping.labels].metadata["class_names"])
        except Exception:  # noqa: BLE001 - no class names stored: the range cannot be checked here
            num_classes = None
    t = PreflightTally() if tally is None else tally
    cancelled = False
    for start in range(0, len(rows), _BATCH):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        batch = rows[start:start + _BATCH]
        check_stored_rows(t, ds, mapping, box_format, batch, num_classes)
        if progress is not None:
            progress(start + len(batch), len(rows))
    return t.report(len(ds), num_classes, time.perf_counter() - started, cancelled)


def check_stored_rows(t: PreflightTally, ds, mapping: ColumnMapping, box_format: BoxFormat, batch: list,
                      k) -> None:
    """Check rows `batch` of `ds` as stored (image headers, not pixels) into `t`."""
    shapes = image_shapes(ds, mapping.images, batch)
    cols = [read_column(ds, mapping.masks, batch, by_slice=False)]     # masks: as a list (see data.columns)
    cols += [read_column(ds, name, batch) for name in (mapping.boxes, mapping.labels, mapping.iscrowd)]
    for i, row in enumerate(batch):
        t.rows_checked += 1
        _check_row(t, row, shapes[i], cols[0][i], cols[1][i], cols[2][i], cols[3][i], box_format, k)


def check_sample(raw, num_classes: int | None, has_masks: bool = True, has_boxes: bool = True) -> dict:
    """{code: count} for one row already read into the canonical layout (data.sample.RawSample).

    This is how training checks the rows its loader reads: the row is decoded anyway, so the check costs
    only the mask extents. The stored image's channels and dtype come from `raw.source` when recorded.
    """
    t = PreflightTally()
    h, w = raw.image.shape[:2]
    ch, dt = getattr(raw, "source", None) or (3, "uint8")
    masks = np.moveaxis(raw.masks.view(bool), 0, 2) if has_masks and raw.masks.dtype == np.uint8 else (
        np.moveaxis(raw.masks, 0, 2) if has_masks else None)
    _check_row(t, raw.index, (h, w, ch, dt), masks, raw.boxes if has_boxes else None, raw.labels,
               raw.iscrowd, BoxFormat("ltrb", "pixel"), num_classes)
    return dict(t.counts)


def sample_rows(num_rows: int, limit: int, seed: int = 0) -> list | None:
    """A fixed random subset of `limit` rows (None = all rows when limit is 0 or covers them)."""
    if not limit or limit >= num_rows:
        return None
    return sorted(int(i) for i in np.random.default_rng(seed).choice(num_rows, size=limit, replace=False))

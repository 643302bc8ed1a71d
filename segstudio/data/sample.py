"""One dataset row as plain numpy arrays in one canonical layout: the input of the one sample path.

Whatever the dataset stores (masks HxWxN or NxHxW, boxes ltwh/ltrb/ccwh in pixels or fractions,
grayscale/RGBA/16-bit images), `read_sample` returns a RawSample in this layout:

    image    HxWx3 uint8 RGB
    masks    NxHxW uint8 (0/1), possibly a strided view of the stored HxWxN array
    boxes    Nx4 float32 x1,y1,x2,y2 in pixels
    labels   N int64, 0-based index into the class names (Mask R-CNN's +1 happens in augment)
    iscrowd  N bool (all False when the dataset has no crowd column)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segstudio.base.errors import DataError


@dataclass(frozen=True)
class ColumnMapping:
    images: str
    masks: str
    boxes: str
    labels: str
    iscrowd: str = ""


@dataclass(frozen=True)
class BoxFormat:
    fmt: str = "ltwh"        # ltwh, ltrb or ccwh
    units: str = "pixel"     # pixel or fractional


@dataclass
class RawSample:
    index: int
    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray = field(default=None)
    source: tuple = ()        # (channels, dtype) of the image as stored, for the pre-flight's checks

    def __post_init__(self):
        if self.iscrowd is None:
            self.iscrowd = np.zeros(len(self.labels), dtype=bool)

    @property
    def num_instances(self) -> int:
        return int(len(self.labels))


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx2 (gray+alpha), HxWx3, HxWx4 (RGBA); uint8, uint16, other ints or floats -> HxWx3 uint8."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[2] not in (1, 2, 3, 4):
        img = np.moveaxis(img, 0, 2)  # CHW stored by some exporters
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 2, 3, 4)):
        raise DataError(f"An image of shape {img.shape} is not HxW or HxWxC with 1-4 channels; choose the "
                        "right image column (data.images).")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = _scale_to_uint8(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] in (1, 2):      # gray (+ alpha): drop alpha, replicate gray
        img = np.repeat(img[:, :, :1], 3, axis=2)
    elif img.shape[2] == 4:         # RGBA: drop alpha
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def _scale_to_uint8(img: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] or other integer ranges -> 0..255 (floats above 1 are taken as 0..255 / 0..max)."""
    f = img.astype(np.float32)
    hi = float(f.max()) if f.size else 1.0
    if np.issubdtype(img.dtype, np.floating):
        scale = 255.0 if hi <= 1.0 else (1.0 if hi <= 255.0 else 255.0 / hi)
    else:
        scale = 1.0 if hi <= 255.0 else 255.0 / float(np.iinfo(img.dtype).max)
    return np.clip(f * scale + 0.5, 0, 255).astype(np.uint8)


def boxes_to_xyxy(boxes: np.ndarray, fmt: BoxFormat, width: int, height: int) -> np.ndarray:
    """Boxes in the column's format (ltwh/ltrb/ccwh, pixel/fractional) -> Nx4 float32 x1,y1,x2,y2 pixels."""
    b = np.asarray(boxes, dtype=np.float32)
    if b.size % 4:
        raise DataError(f"Boxes of shape {b.shape} do not hold 4 numbers per box; choose the right box "
                        "column (data.boxes).")
    b = b.reshape(-1, 4).copy()
    if fmt.units == "fractional":
        b[:, [0, 2]] *= width
        b[:, [1, 3]] *= height
    if fmt.fmt == "ltwh":
        b[:, 2] += b[:, 0]
        b[:, 3] += b[:, 1]
    elif fmt.fmt == "ccwh":
        cx, cy, w, h = b.T.copy()
        b = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return b


def masks_layout(shape: tuple, height: int, width: int) -> str:
    """'hwn', 'nhw', 'hw' (one mask), 'empty' or '' (does not fit) for a mask array of this shape.

    H x W x N is Deep Lake's and COCO's convention, so it wins when both readings fit (H == W == N).
    """
    if int(np.prod(shape)) == 0:
        return "empty"
    if len(shape) == 2:
        return "hw" if tuple(shape) == (height, width) else ""
    if len(shape) != 3:
        return ""
    if tuple(shape[:2]) == (height, width):
        return "hwn"
    if tuple(shape[1:]) == (height, width):
        return "nhw"
    return ""


def masks_to_nhw(masks: np.ndarray, height: int, width: int, row: int | None = None) -> np.ndarray:
    """Masks stored HxWxN, NxHxW or HxW (decided from the image's shape) -> NxHxW uint8 0/1.

    Bool masks stored HxWxN come back as a strided view (no copy: the transposing copy would cost more
    than reading the row); call np.ascontiguousarray where contiguous memory is needed.
    """
    m = np.asarray(masks)
    layout = masks_layout(m.shape, height, width)
    if layout == "":
        where = f"Row {row}: masks" if row is not None else "Masks"
        raise DataError(f"{where} of shape {tuple(m.shape)} do not fit the {height}x{width} image (expected "
                        f"{height}x{width}xN or Nx{height}x{width}); choose the right mask column (data.masks).")
    if layout == "empty":
        return np.zeros((0, height, width), np.uint8)
    if m.dtype != bool:
        m = m != 0
    if layout == "hw":
        m = m[None]
    elif layout == "hwn":
        m = np.moveaxis(m, 2, 0)
    return m.view(np.uint8)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight x1,y1,x2,y2 boxes (pixel edges: a one-pixel mask gives a 1x1 box) of NxHxW masks; empty
    masks give zero boxes. Vectorised: no per-instance loop, so dense scenes stay cheap."""
    n = masks.shape[0]
    if n == 0:
        return np.zeros((0, 4), np.float32)
    cols = masks.any(axis=1)   # N x W
    rows = masks.any(axis=2)   # N x H
    x1 = cols.argmax(axis=1)
    x2 = cols.shape[1] - cols[:, ::-1].argmax(axis=1)
    y1 = rows.argmax(axis=1)
    y2 = rows.shape[1] - rows[:, ::-1].argmax(axis=1)
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    boxes[~cols.any(axis=1)] = 0.0
    return boxes


def _check_counts(index: int, masks, boxes, labels, iscrowd) -> None:
    counts = {"masks": len(masks), "boxes": len(boxes), "labels": len(labels), "iscrowd": len(iscrowd)}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{v} {k}" for k, v in counts.items())
        raise DataError(f"Row {index} has {detail}; every instance needs one of each, so fix the row or "
                        "filter it out with data.query.")


def mapped_columns(mapping: ColumnMapping) -> list[str]:
    """The distinct columns a sample reads, images first."""
    return list(dict.fromkeys(c for c in (mapping.images, mapping.labels, mapping.masks, mapping.boxes,
                                          mapping.iscrowd) if c))


def _fetch_cells(ds, index: int, mapping: ColumnMapping) -> dict:
    """{column: value} of row `index` for every mapped column.

    Column-first access (ds[col][i]) decodes faster than row-first (ds[i][col]) in deeplake 4.7, and
    starting every column's read at once (get_async) overlaps the small columns' reads with the image
    decode: about 1.3 ms of 3.5 ms a coco128 row. Objects without get_async are read one by one."""
    names = mapped_columns(mapping)
    columns = [ds[name] for name in names]
    if all(hasattr(c, "get_async") for c in columns):
        futures = [c.get_async(index) for c in columns]
        return {name: f.result() for name, f in zip(names, futures)}
    return {name: c[index] for name, c in zip(names, columns)}


def read_sample(ds, index: int, mapping: ColumnMapping, box_format: BoxFormat = BoxFormat()) -> RawSample:
    """Read row `index` of an open Deep Lake dataset (or view) into the canonical layout.

    With no boxes column the boxes are computed from the masks. Raises DataError (naming the row) when
    masks do not fit the image or the instance counts of masks, boxes, labels and crowd flags differ.
    """
    index = int(index)
    return raw_from_cells(index, _fetch_cells(ds, index, mapping), mapping, box_format)


def raw_from_cells(index: int, cells: dict, mapping: ColumnMapping,
                   box_format: BoxFormat = BoxFormat()) -> RawSample:
    """Row `index`'s stored values ({column: value}, however they were read) in the canonical layout."""
    stored = np.asarray(cells[mapping.images])
    if stored.ndim == 0 or stored.size == 0:   # Deep Lake reads a truncated or corrupt file as nothing
        raise DataError(f"Row {index}: the image could not be read (an empty, truncated or corrupt file); "
                        "re-import the row or leave it out with data.query.")
    image = to_rgb_uint8(stored)
    source = (1 if stored.ndim == 2 else stored.shape[2] if stored.shape[2] <= 4 else stored.shape[0],
              str(stored.dtype))
    h, w = image.shape[:2]
    labels = np.asarray(cells[mapping.labels]).astype(np.int64, copy=False).reshape(-1)
    if mapping.masks:
        masks = masks_to_nhw(cells[mapping.masks], h, w, row=index)
    else:
        masks = np.zeros((len(labels), h, w), np.uint8)
    boxes = (boxes_to_xyxy(cells[mapping.boxes], box_format, w, h) if mapping.boxes
             else boxes_from_masks(masks))
    iscrowd = (np.asarray(cells[mapping.iscrowd]).reshape(-1).astype(bool) if mapping.iscrowd
               else np.zeros(len(labels), bool))
    _check_counts(index, masks, boxes, labels, iscrowd)
    return RawSample(index, image, masks, boxes, labels, iscrowd, source)

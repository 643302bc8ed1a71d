"""One dataset row as plain numpy arrays in one canonical layout: the input of the one sample path.

Whatever the dataset stores (masks HxWxN or NxHxW, boxes ltwh/ltrb/ccwh in pixels or fractions,
grayscale/RGBA/16-bit images), `read_sample` returns a RawSample in this layout:

    image    HxWx3 uint8 RGB
    masks    NxHxW uint8 (0/1)
    boxes    Nx4 float32 x1,y1,x2,y2 in pixels
    labels   N int64, 0-based index into the class names (Mask R-CNN's +1 happens in augment)
    iscrowd  N bool (all False when the dataset has no crowd column)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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

    def __post_init__(self):
        if self.iscrowd is None:
            self.iscrowd = np.zeros(len(self.labels), dtype=bool)

    @property
    def num_instances(self) -> int:
        return int(len(self.labels))


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3, HxWx4, uint8 or uint16 -> HxWx3 uint8."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        hi = float(img.max()) if img.size else 1.0
        img = np.clip(img * (255.0 / hi if hi > 1.0 else 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def boxes_to_xyxy(boxes: np.ndarray, fmt: BoxFormat, width: int, height: int) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
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


def masks_to_nhw(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Masks stored HxWxN or NxHxW (decided from the image's shape) -> NxHxW uint8."""
    m = np.asarray(masks)
    if m.ndim == 2:
        m = m[:, :, None]
    if m.shape[0] == height and m.shape[1] == width and not (m.shape[1] == height and m.shape[2] == width
                                                              and m.shape[0] != height):
        m = np.moveaxis(m, 2, 0)
    return np.ascontiguousarray(m.astype(np.uint8, copy=False))


def read_sample(ds, index: int, mapping: ColumnMapping, box_format: BoxFormat = BoxFormat()) -> RawSample:
    """Read row `index` of an open Deep Lake dataset (or view) into the canonical layout."""
    row = ds[int(index)]
    image = to_rgb_uint8(row[mapping.images])
    h, w = image.shape[:2]
    labels = np.asarray(row[mapping.labels], dtype=np.int64).reshape(-1)
    masks = masks_to_nhw(row[mapping.masks], h, w) if mapping.masks else np.zeros((0, h, w), np.uint8)
    if masks.shape[0] == 0 and len(labels) == 0:
        masks = np.zeros((0, h, w), np.uint8)
    boxes = boxes_to_xyxy(row[mapping.boxes], box_format, w, h)
    iscrowd = (np.asarray(row[mapping.iscrowd]).reshape(-1).astype(bool) if mapping.iscrowd
               else np.zeros(len(labels), bool))
    return RawSample(int(index), image, masks, boxes, labels, iscrowd)

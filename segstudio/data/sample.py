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

import io
from dataclasses import dataclass, field

import numpy as np

from segstudio.errors import DataError


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


def _is_jpeg_column(ds, name: str) -> bool:
    """True for a Deep Lake image column storing JPEG files (not links): its bytes can be decoded here."""
    try:
        t = ds.schema[name].dtype
        return bool(t.is_image) and not t.is_link and str(t.sample_compression).lower() in ("jpeg", "jpg")
    except Exception:  # noqa: BLE001 - an object without a Deep Lake schema: read cells as they come
        return False


def jpeg_size(data) -> tuple[int, int] | None:
    """(height, width) from a JPEG file's header (no decode), or None when it cannot be read."""
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as im:
            return im.size[1], im.size[0]
    except Exception:  # noqa: BLE001 - not a readable header: the decode reports the problem
        return None


def reduction_factor(short_side: int, min_side: int) -> int:
    """The largest of 8, 4, 2 by which an image can be decoded at reduced size while its short side
    keeps at least `min_side` pixels (libjpeg's scaled size is ceil(side / factor)); else 1."""
    if min_side > 0:
        for factor in (8, 4, 2):
            if -(-short_side // factor) >= min_side:
                return factor
    return 1


def decode_jpeg(data, factor: int = 1) -> np.ndarray | None:
    """JPEG file bytes -> HxWx3 uint8 RGB, or None when OpenCV cannot decode them.

    At factor 1 the pixels equal Deep Lake's own decode of the same file (both use libjpeg-turbo's
    default IDCT; checked on every coco128 and demo image) at about 60% of its cost. Factors 2, 4 and 8
    decode at ceil(side / factor) pixels a side straight from the DCT coefficients (much cheaper
    again). EXIF orientation is ignored, as Deep Lake does, so masks and boxes stay aligned."""
    import cv2
    buf = np.frombuffer(data, np.uint8)
    if buf.size < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return None
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    bgr = cv2.imdecode(buf, flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _fetch_cells(ds, index: int, mapping: ColumnMapping, min_side: int = 0) -> tuple[dict, int, tuple]:
    """({column: value} of row `index` for every mapped column, the image's decode reduction factor,
    the stored image's (height, width) when it was decoded at reduced size).

    Column-first access (ds[col][i]) decodes faster than row-first (ds[i][col]) in deeplake 4.7, and
    starting every column's read at once (get_async) overlaps the small columns' reads with the image
    decode: about 1.3 ms of 3.5 ms a coco128 row. A JPEG image column is read as its file bytes and
    decoded by OpenCV (same pixels, about 1.2 ms less per 640x480 image; see decode_jpeg); anything
    OpenCV cannot decode is read through Deep Lake as before. With min_side > 0 a JPEG may be decoded
    at reduced size (see reduction_factor). Objects without get_async are read one by one."""
    names = list(dict.fromkeys(c for c in (mapping.images, mapping.labels, mapping.masks, mapping.boxes,
                                           mapping.iscrowd) if c))
    columns = [ds[name] for name in names]
    if not all(hasattr(c, "get_async") for c in columns):
        return {name: c[index] for name, c in zip(names, columns)}, 1, ()
    image_col = columns[0]
    as_bytes = hasattr(image_col, "get_bytes_async") and _is_jpeg_column(ds, names[0])
    futures = [image_col.get_bytes_async(index) if as_bytes else image_col.get_async(index)]
    futures += [c.get_async(index) for c in columns[1:]]
    cells = {name: f.result() for name, f in zip(names, futures)}
    factor, full = 1, ()
    if as_bytes:
        if min_side > 0:
            full = jpeg_size(cells[names[0]]) or ()
            factor = reduction_factor(min(full), min_side) if full else 1
        image = decode_jpeg(cells[names[0]], factor)
        if image is not None and factor > 1 and image.shape[:2] != tuple(-(-v // factor) for v in full):
            image = decode_jpeg(cells[names[0]])   # not libjpeg's scaling rule: decode at full size
            factor = 1 if image is not None else factor
        if image is None:
            factor = 1   # OpenCV cannot read it: maybe Deep Lake can (it returns an empty array if not)
            image = np.asarray(image_col[index])
            if image.ndim < 2 or image.size == 0:
                raise DataError(f"Row {index}: the image is not a readable JPEG file (truncated or corrupt); "
                                "re-import the row or leave it out with data.query.")
        cells[names[0]] = image
    return cells, factor, full


def read_sample(ds, index: int, mapping: ColumnMapping, box_format: BoxFormat = BoxFormat(),
                min_side: int = 0) -> RawSample:
    """Read row `index` of an open Deep Lake dataset (or view) into the canonical layout.

    With no boxes column the boxes are computed from the masks. Raises DataError (naming the row) when
    masks do not fit the image or the instance counts of masks, boxes, labels and crowd flags differ.

    min_side > 0 lets a JPEG image be decoded at 1/2, 1/4 or 1/8 of its size as long as its short side
    keeps min_side pixels (training does this when its pipeline ends at image_size pixels anyway);
    the masks then come back as a strided view taking every factor-th pixel and the boxes are scaled,
    so image, masks and boxes stay in one coordinate frame.
    """
    index = int(index)
    cells, factor, full = _fetch_cells(ds, index, mapping, min_side)
    image = to_rgb_uint8(cells[mapping.images])
    h, w = image.shape[:2]
    full_h, full_w = full if factor > 1 else (h, w)
    labels = np.asarray(cells[mapping.labels]).astype(np.int64, copy=False).reshape(-1)
    if mapping.masks:
        masks = masks_to_nhw(cells[mapping.masks], full_h, full_w, row=index)
        if factor > 1:
            masks = masks[:, ::factor, ::factor]   # a view: ceil(side / factor), as libjpeg scales
    else:
        masks = np.zeros((len(labels), h, w), np.uint8)
    boxes = (boxes_to_xyxy(cells[mapping.boxes], box_format, full_w, full_h) if mapping.boxes
             else boxes_from_masks(masks))
    if factor > 1 and mapping.boxes:
        boxes *= np.array([w / full_w, h / full_h, w / full_w, h / full_h], np.float32)
    iscrowd = (np.asarray(cells[mapping.iscrowd]).reshape(-1).astype(bool) if mapping.iscrowd
               else np.zeros(len(labels), bool))
    _check_counts(index, masks, boxes, labels, iscrowd)
    return RawSample(index, image, masks, boxes, labels, iscrowd)

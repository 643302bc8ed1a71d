"""Image files -> bytes for a JPEG image column, re-encoding only when the original cannot be kept.

Kept as the original bytes (no quality loss, no decode cost): baseline RGB or grayscale JPEGs without an
EXIF rotation. Re-encoded as JPEG (quality 95) after decoding with Pillow: PNG/BMP/TIFF/WebP/GIF and other
formats (Deep Lake's JPEG column decodes some of them wrongly or not at all: palette and 16-bit PNGs, BMP),
CMYK/YCCK JPEGs (converted to RGB), and EXIF-rotated JPEGs (rotated upright; Deep Lake ignores EXIF).

EXIF orientation: annotation tools (CVAT, Label Studio, Roboflow, LabelMe) and Detectron2's reader show
and annotate images upright, with the EXIF orientation applied; pycocotools never looks at images. So the
annotations are taken to be in the displayed (rotated) orientation, unless the JSON's width/height match
only the stored orientation (a 90-degree rotation swaps them), which means the tool ignored EXIF: then the
stored pixels are kept as they are.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

_ORIENTATION = 0x0112
_JPEG_QUALITY = 95


@dataclass
class PreparedImage:
    data: bytes          # what goes into the image column
    width: int
    height: int
    action: str          # "kept" or the reason it was re-encoded
    note: str = ""       # e.g. a size mismatch with the JSON


class ImageProblem(Exception):
    """This file cannot be used (missing, unreadable); the importer counts and skips it."""


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF blocks are common; treat as upright
        return 1


def _to_8bit(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 'RGB' or 'L' with 8 bits per channel."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        arr = (arr >> 8) if arr.max(initial=0) > 255 else arr
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("LA", "1"):
        return img.convert("L")
    return img.convert("RGB")   # P, PA, RGBA, CMYK, YCbCr, F, ...


def _encode_jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    _to_8bit(img).save(out, "JPEG", quality=_JPEG_QUALITY)
    return out.getvalue()


def _rotation_applies(orientation: int, raw_size: tuple, json_size: tuple | None) -> bool:
    if orientation in (1, 0):
        return False
    if json_size and orientation in (5, 6, 7, 8) and raw_size != raw_size[::-1]:
        if tuple(json_size) == raw_size:     # the tool annotated the stored pixels
            return False
    return True


def prepare_image(path: str, json_size: tuple | None = None) -> PreparedImage:
    """Read one image file; json_size is (width, height) from the COCO record, if any."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ImageProblem("missing image file") from None
    except OSError:
        raise ImageProblem("unreadable image file") from None
    try:
        img = Image.open(io.BytesIO(data))
        fmt, mode, raw_size = img.format, img.mode, img.size
        orientation = _orientation(img) if fmt in ("JPEG", "MPO", "TIFF", "PNG", "WEBP") else 1
        rotate = _rotation_applies(orientation, raw_size, json_size)
        if fmt in ("JPEG", "MPO") and mode in ("RGB", "L") and not rotate:
            # Deep Lake stores any bytes without checking them, so a truncated file must be caught here;
            # a full decode is only paid for files that lack the end-of-image marker.
            if b"\xff\xd9" not in data[-65536:]:
                img.load()
            action, out, size = "kept", data, raw_size
        else:
            img.load()
            if rotate:
                img = ImageOps.exif_transpose(img)
            action = ("EXIF rotation applied" if rotate else
                      f"{mode} JPEG converted" if fmt in ("JPEG", "MPO") else f"{fmt or 'unknown'} converted")
            out, size = _encode_jpeg(img), img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageProblem(f"unreadable image file ({type(exc).__name__})") from None
    note = ""
    if json_size and tuple(json_size) != tuple(size):
        note = "image size differs from the JSON"
    return PreparedImage(out, int(size[0]), int(size[1]), action, note)

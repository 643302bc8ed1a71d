"""COCO segmentations -> instance masks, with pycocotools' rasterisation as the reference.

Polygons (one or many parts), uncompressed RLE and compressed RLE all become one RLE per annotation the
way pycocotools' COCO.annToRLE does it, then decode to H x W x N uint8 in a single call. Parts of a polygon
outside the image are clipped by pycocotools itself. Degenerate polygon parts (fewer than 3 points) are
dropped first: pycocotools would read a 4-number part as a box, which no exporter means.
"""
from __future__ import annotations

import math

import numpy as np
from pycocotools import mask as mask_utils


def clean_polygons(seg: list) -> list:
    """Polygon parts with an even number of coordinates and at least 3 points, as float lists.

    A flat list of numbers is one polygon (some exporters write that; pycocotools accepts it too).
    """
    if seg and all(isinstance(v, (int, float)) for v in seg):
        seg = [seg]
    parts = []
    for part in seg:
        if not isinstance(part, list):
            continue
        try:
            coords = [float(v) for v in part[: len(part) - len(part) % 2]]
        except (TypeError, ValueError):
            continue
        if len(coords) >= 6 and all(math.isfinite(v) for v in coords):
            parts.append(coords)
    return parts


def annotation_rle(seg, height: int, width: int):
    """One compressed RLE for a COCO segmentation, or None when it cannot describe this image.

    Returns (rle, problem): problem is a short reason when the segmentation is unusable here.
    """
    if isinstance(seg, list):
        parts = clean_polygons(seg)
        if not parts:
            return None, "annotation without a usable segmentation"
        return mask_utils.merge(mask_utils.frPyObjects(parts, height, width)), ""
    size = [int(v) for v in seg.get("size", [])]
    if size != [height, width]:
        return None, "RLE size differs from the image size"
    counts = seg["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects(seg, height, width), ""
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": size, "counts": counts}, ""


DECODE_BUDGET = 64 * 2 ** 20     # bytes of decoded planes held at once while rasterising one image


def rasterise(rles: list, height: int, width: int) -> np.ndarray:
    """H x W x N bool masks from N RLEs (N may be 0), C-ordered.

    pycocotools decodes each mask column-major into a full plane; Deep Lake compresses a C-ordered
    array about 10x faster. Interleaving N planes into H x W x N writes with a stride of N bytes, the
    costliest step, so only each mask's own bounding box (pycocotools' toBbox, exact: the plane is zero
    outside it) is copied into a zeroed array, whose untouched pages cost nothing.
    """
    out = np.zeros((height, width, len(rles)), dtype=np.uint8)
    if not rles:
        return out.view(bool)
    # Decode in groups whose full planes stay within DECODE_BUDGET: one call for a whole ordinary image,
    # while a 12-megapixel photo with 90 instances does not hold a second 1 GB copy of its masks.
    step = max(1, DECODE_BUDGET // max(1, height * width))
    boxes = mask_utils.toBbox(rles)
    for start in range(0, len(rles), step):
        planes = mask_utils.decode(rles[start:start + step])     # column-major H x W x n
        for j, (x, y, w, h) in enumerate(boxes[start:start + step]):
            if w > 0 and h > 0:
                x0, y0, x1, y1 = int(x), int(y), int(x + w), int(y + h)
                out[y0:y1, x0:x1, start + j] = planes[y0:y1, x0:x1, j]
    return out.view(bool)


def rle_area_and_box(rle) -> tuple:
    """(area in pixels, [l, t, w, h]) of one RLE."""
    return float(mask_utils.area(rle)), [float(v) for v in mask_utils.toBbox(rle)]

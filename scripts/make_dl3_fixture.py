"""Write tests/data/dl3_tiny: a 4-row Deep Lake 3.x dataset (image, binary_mask, bbox, class_label, and a
generic bool tensor of crowd flags as in Activeloop's COCO).

deeplake 3 and 4 cannot share one environment, so run this with deeplake 3 in its own venv, once:

    python3 -m venv /tmp/dl3 && /tmp/dl3/bin/pip install "deeplake<4" "numpy<2"
    /tmp/dl3/bin/python scripts/make_dl3_fixture.py tests/data/dl3_tiny

The result is committed; the tests read it with deeplake 4 (read-only, through deeplake.query).
"""
import shutil
import sys

import deeplake
import numpy as np

H, W = 48, 64
CLASSES = ["square", "bar"]


def row(i: int):
    """An image with 1 + i % 2 filled rectangles, their masks (HxWxN), LTWH pixel boxes, labels and crowd
    flags (row 3's bar is a crowd)."""
    image = np.full((H, W, 3), 30 + 40 * i, np.uint8)
    rects = [(4 + 3 * i, 6, 16, 16)] + ([(36, 10 + 2 * i, 20, 6)] if i % 2 else [])
    masks = np.zeros((H, W, len(rects)), bool)
    for n, (x, y, w, h) in enumerate(rects):
        masks[y:y + h, x:x + w, n] = True
        image[y:y + h, x:x + w] = (200, 60 + 50 * n, 40 * i)
    boxes = np.array(rects, np.float32)
    labels = np.array([0] + ([1] if i % 2 else []), np.uint32)
    crowd = np.array([False] + ([i == 3] if i % 2 else []), bool)
    return image, masks, boxes, labels, crowd


def main(dest: str) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    ds = deeplake.empty(dest)
    with ds:
        ds.create_tensor("images", htype="image", sample_compression="png")
        ds.create_tensor("masks", htype="binary_mask", sample_compression="lz4")
        ds.create_tensor("boxes", htype="bbox", coords={"type": "pixel", "mode": "LTWH"})
        ds.create_tensor("categories", htype="class_label", class_names=CLASSES)
        ds.create_tensor("iscrowds", htype="generic", dtype="bool")
        for i in range(4):
            image, masks, boxes, labels, crowd = row(i)
            ds.append({"images": image, "masks": masks, "boxes": boxes, "categories": labels, "iscrowds": crowd})
        ds.commit("four rows")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/dl3_tiny")

"""Hand-built evaluation images for the analysis tests: rectangles on a 40 x 40 canvas."""
from __future__ import annotations

import numpy as np

from segstudio.engine.eval_store import EvalImage, encode_masks

H = W = 40


def rect(x1, y1, x2, y2):
    m = np.zeros((H, W), np.uint8)
    m[y1:y2, x1:x2] = 1
    return m


def image(gts, preds, image_id=0):
    """gts: [(mask, label) or (mask, label, crowd)], preds: [(mask, label, score)] -> an EvalImage whose
    boxes are the masks' tight boxes."""
    def boxes(masks):
        out = []
        for m in masks:
            ys, xs = np.nonzero(m)
            out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        return np.asarray(out, float).reshape(-1, 4)

    gm = [g[0] for g in gts]
    pm = [p[0] for p in preds]
    stack = lambda ms: np.stack(ms) if ms else np.zeros((0, H, W), np.uint8)  # noqa: E731
    return EvalImage(image_id, image_id, H, W, boxes(pm), np.array([p[2] for p in preds], float),
                     np.array([p[1] for p in preds], int), encode_masks(stack(pm)), boxes(gm),
                     np.array([g[1] for g in gts], int), np.array([g[2] if len(g) > 2 else 0 for g in gts], bool),
                     encode_masks(stack(gm)))


def random_images(n: int, classes: int, seed: int) -> list[EvalImage]:
    """Images with random ground truth and noisy predictions (shifted, resized, relabelled, invented,
    duplicated, some crowd regions): every matching case occurs."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        gts, preds = [], []
        for _ in range(rng.integers(0, 6)):
            x, y = rng.integers(0, 30, 2)
            w, h = rng.integers(4, 16, 2)
            label, crowd = int(rng.integers(1, classes + 1)), bool(rng.random() < 0.08)
            gts.append((rect(x, y, min(x + w, W), min(y + h, H)), label, crowd))
            for _ in range(rng.integers(0, 3)):
                dx, dy, dw, dh = rng.integers(-4, 5, 4)
                plabel = label if rng.random() < 0.8 else int(rng.integers(1, classes + 1))
                x1, y1 = np.clip([x + dx, y + dy], 0, W - 2)
                x2, y2 = int(np.clip(x + w + dw, x1 + 1, W)), int(np.clip(y + h + dh, y1 + 1, H))
                preds.append((rect(x1, y1, x2, y2), plabel, float(np.round(rng.random(), 3))))
        for _ in range(rng.integers(0, 3)):
            x, y = rng.integers(0, 34, 2)
            label, score = int(rng.integers(1, classes + 1)), float(np.round(rng.random(), 3))
            preds.append((rect(x, y, x + 6, y + 6), label, score))
        images.append(image(gts, preds, image_id=i))
    return images

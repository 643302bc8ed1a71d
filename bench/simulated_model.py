"""Predictions of a simulated model of known quality, for bench_label_issues.py's `simulated` part: what the
finder's ranking and matching achieve on planted errors when the model is as good as told, with no training.

The simulated model sees the CLEAN labels (read before the errors were planted): it detects each object with
probability `recall`, with a mask that is the true one grown or shrunk by a pixel or two (as a 128-px model's
masks are), the right class except with probability `confusion`, a score drawn from 0.5-1; and adds one
low-score false positive (0.05-0.5) per image on average. The planted labels are what it is compared with.
"""
from __future__ import annotations

import numpy as np


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}   # as the evaluation stores them


def _box(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 1, 1]


def _jitter(mask: np.ndarray, rng) -> np.ndarray:
    import cv2

    k = int(rng.integers(1, 3))
    op = cv2.dilate if rng.random() < 0.5 else cv2.erode
    out = op(mask.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool)
    return out if out.any() else mask


def _predictions(clean, num_classes: int, rng, recall: float, confusion: float) -> tuple[list, list, list]:
    masks, labels, scores = [], [], []
    for m, label in zip(clean.masks.astype(bool), clean.labels):
        if rng.random() < recall:
            masks.append(_jitter(m, rng))
            wrong = rng.random() < confusion
            labels.append(int((label + rng.integers(1, num_classes)) % num_classes) if wrong else int(label))
            scores.append(float(rng.uniform(0.5, 1.0)))
    h, w = clean.image.shape[:2]
    for _ in range(int(rng.poisson(1.0))):
        bh, bw = int(rng.integers(8, h // 3)), int(rng.integers(8, w // 3))
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        m = np.zeros((h, w), bool)
        m[y:y + bh, x:x + bw] = True
        masks.append(m)
        labels.append(int(rng.integers(num_classes)))
        scores.append(float(rng.uniform(0.05, 0.5)))
    return masks, labels, scores


def simulated_images(clean_rows: dict, planted_mapped, seed: int = 0, recall: float = 0.9,
                     confusion: float = 0.03) -> dict:
    """{row: EvalImage}: the simulated model's predictions on each row beside the row's planted labels."""
    from segstudio.engine.eval_store import EvalImage

    rng = np.random.default_rng(seed)
    n = len(planted_mapped.class_names)
    out = {}
    for row, clean in clean_rows.items():
        masks, labels, scores = _predictions(clean, n, rng, recall, confusion)
        gt = planted_mapped.read(row)
        h, w = gt.image.shape[:2]
        out[row] = EvalImage(row, row, h, w, np.asarray([_box(m) for m in masks], float).reshape(-1, 4),
                             np.asarray(scores, float), np.asarray(labels, int) + 1, [_rle(m) for m in masks],
                             np.asarray([_box(m) for m in gt.masks], float).reshape(-1, 4),
                             np.asarray(gt.labels, int) + 1, np.asarray(gt.iscrowd, bool),
                             [_rle(m) for m in gt.masks])
    return out

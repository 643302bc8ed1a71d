"""Confusion matrix with a background row and column, over stored predictions.

At one IoU threshold and score threshold(s), per image: predictions scoring at least their class's
threshold are first matched to ground truth of their own class (engine.matching, COCO's rule), then the
predictions left over take the left-over ground truth of another class with the highest IoU >= t (highest
score first). Each ground-truth instance then counts once in its row: under the class that found it, or
under "background" (missed). Each prediction left unmatched counts in the background row under its class
(spurious). Predictions on crowd regions count nowhere. Index 0 of both axes is the background; classes
follow in their order (row = ground truth, column = prediction).

Each cell also lists its instances as (image position, gt index or -1, prediction index or -1), so a
click on a cell can show the images behind it with those instances outlined.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.engine.eval_store import EvalImage
from segstudio.engine.matching import box_iou_matrices, iou_matrix, match_image


@dataclass
class Confusion:
    counts: np.ndarray   # (C+1) x (C+1): [gt class, predicted class], index 0 = background
    cells: dict          # (row, col) -> list of (image position, gt index, prediction index)
    names: list          # "background", then the class names

    def normalised(self) -> np.ndarray:
        """Each row divided by its sum (rows with nothing stay 0)."""
        sums = self.counts.sum(1, keepdims=True)
        return np.divide(self.counts, sums, out=np.zeros(self.counts.shape), where=sums > 0)

    def to_json(self) -> dict:
        return {"names": self.names, "counts": self.counts.tolist(),
                "normalised": np.round(self.normalised(), 4).tolist()}


def _kept(image: EvalImage, thresholds) -> np.ndarray:
    if isinstance(thresholds, dict):   # {label: threshold}; labels without one keep everything
        limits = np.array([thresholds.get(int(lab), 0.0) for lab in image.pred_labels])
    else:
        limits = np.full(len(image.pred_labels), float(thresholds))
    return image.pred_scores >= limits


def _image_cells(image: EvalImage, kind: str, iou_threshold: float, thresholds) -> list:
    """(row, col, gt index, prediction index) of one image's instances."""
    keep = _kept(image, thresholds)
    pred_gt, _, gt_pred = (m[0] for m in match_image(image, kind, [iou_threshold]))
    pred_gt = np.where(keep, pred_gt, -1)
    gt_pred = np.array([p if p >= 0 and keep[p] else -1 for p in gt_pred], int)
    ious = iou_matrix(image, kind)
    free_gt = (gt_pred < 0) & ~image.gt_crowd
    out = []
    left = np.flatnonzero(keep & (pred_gt < 0))
    for p in left[np.argsort(-image.pred_scores[left], kind="mergesort")]:
        candidates = np.flatnonzero(free_gt & (image.gt_labels != image.pred_labels[p]))
        if len(candidates) and ious[p, candidates].max() >= iou_threshold:
            g = candidates[int(np.argmax(ious[p, candidates]))]
            free_gt[g] = False
            out.append((int(image.gt_labels[g]), int(image.pred_labels[p]), int(g), int(p)))
        else:
            crowd = image.gt_crowd & (ious[p] >= iou_threshold)
            if not crowd.any():
                out.append((0, int(image.pred_labels[p]), -1, int(p)))
    for g in np.flatnonzero(gt_pred >= 0):
        out.append((int(image.gt_labels[g]), int(image.pred_labels[gt_pred[g]]), int(g), int(gt_pred[g])))
    for g in np.flatnonzero(free_gt):
        out.append((int(image.gt_labels[g]), 0, int(g), -1))
    return out


def confusion_matrix(images: list[EvalImage], class_names: list[str], kind: str = "segm",
                     iou_threshold: float = 0.5, thresholds=0.5) -> Confusion:
    """The matrix of all images; `thresholds` is one score or {1-based label: score}."""
    n = len(class_names) + 1
    counts, cells = np.zeros((n, n), int), {}
    if kind == "bbox":
        box_iou_matrices(images)
    for pos, image in enumerate(images):
        for row, col, g, p in _image_cells(image, kind, iou_threshold, thresholds):
            counts[row, col] += 1
            cells.setdefault((row, col), []).append((pos, g, p))
    return Confusion(counts, cells, ["background", *class_names])

"""Predictions matched to ground truth, the way the COCO evaluation matches them, over stored predictions.

For one IoU threshold t and one kind ("bbox" or "segm"), per image and per class: predictions in order
of falling score (the first MAX_DETS of each class), each takes the unmatched ground truth of its class
with the highest IoU >= t; crowd regions (iscrowd) come last, can take any number of predictions, and a
prediction on one is ignored (neither true nor false). IoUs are pycocotools' (a crowd region's IoU is the
intersection over the prediction's area). This is COCOeval.evaluateImg for the "all" area range, so AP
computed from these records equals COCO's (tests cross-check it against faster-coco-eval).

`match(images, kind, t)` returns a `Matches`: one record per prediction and per ground-truth instance in
flat arrays (image position, index in the image, label, score, partner, IoU), the input of the PR
curves, the thresholds, the confusion matrix, the error breakdown and the data loop's label checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.engine.eval_store import EvalImage

MAX_DETS = 100
KINDS = ("bbox", "segm")


def _xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, float).reshape(-1, 4).copy()
    b[:, 2:] -= b[:, :2]
    return b


def iou_matrix(image: EvalImage, kind: str) -> np.ndarray:
    """P x G IoUs of every prediction with every ground truth (any class), computed once per image."""
    from pycocotools import mask as mask_utils

    if kind not in image.cache:
        p, g = len(image.pred_scores), len(image.gt_labels)
        crowd = image.gt_crowd.astype(np.uint8).tolist()
        if p == 0 or g == 0:
            ious = np.zeros((p, g))
        elif kind == "segm":
            ious = np.asarray(mask_utils.iou(image.pred_masks, image.gt_masks, crowd))
        else:
            ious = np.asarray(mask_utils.iou(_xywh(image.pred_boxes), _xywh(image.gt_boxes), crowd))
        image.cache[kind] = ious.reshape(p, g)
    return image.cache[kind]


@dataclass
class Matches:
    kind: str
    iou_threshold: float
    # one entry per prediction
    pred_image: np.ndarray     # position of its image in the evaluation
    pred_index: np.ndarray     # index among its image's predictions
    pred_label: np.ndarray     # 1-based class
    pred_score: np.ndarray
    pred_gt: np.ndarray        # index of the matched ground truth in its image, -1 when unmatched
    pred_iou: np.ndarray       # IoU with it (0.0 when unmatched)
    pred_ignored: np.ndarray   # matched to a crowd region, or beyond MAX_DETS: counts neither way
    # one entry per ground-truth instance
    gt_image: np.ndarray
    gt_index: np.ndarray
    gt_label: np.ndarray
    gt_crowd: np.ndarray
    gt_pred: np.ndarray        # index of the prediction that matched it, -1 when missed

    @property
    def true_positive(self) -> np.ndarray:
        return (self.pred_gt >= 0) & ~self.pred_ignored

    @property
    def false_positive(self) -> np.ndarray:
        return (self.pred_gt < 0) & ~self.pred_ignored

    @property
    def missed(self) -> np.ndarray:
        return (self.gt_pred < 0) & ~self.gt_crowd


def match_image(image: EvalImage, kind: str, iou_threshold: float) -> tuple:
    """(pred_gt, pred_iou, pred_ignored, gt_pred) of one image (see the module docstring)."""
    ious = iou_matrix(image, kind)
    n_pred, n_gt = ious.shape
    pred_gt, pred_iou = np.full(n_pred, -1), np.zeros(n_pred)
    pred_ignored, gt_pred = np.zeros(n_pred, bool), np.full(n_gt, -1)
    for label in np.unique(np.concatenate([image.pred_labels, image.gt_labels])):
        preds = np.flatnonzero(image.pred_labels == label)
        preds = preds[np.argsort(-image.pred_scores[preds], kind="mergesort")]
        pred_ignored[preds[MAX_DETS:]] = True
        gts = np.flatnonzero(image.gt_labels == label)
        gts = gts[np.argsort(image.gt_crowd[gts], kind="mergesort")]   # crowd regions last
        for p in preds[:MAX_DETS]:
            best, m = min(iou_threshold, 1 - 1e-10), -1
            for g in gts:
                if gt_pred[g] >= 0 and not image.gt_crowd[g]:
                    continue
                if m >= 0 and not image.gt_crowd[m] and image.gt_crowd[g]:
                    break
                if ious[p, g] < best:
                    continue
                best, m = ious[p, g], g
            if m >= 0:
                pred_gt[p], pred_iou[p], pred_ignored[p] = m, ious[p, m], bool(image.gt_crowd[m])
                if not image.gt_crowd[m]:
                    gt_pred[m] = p
    return pred_gt, pred_iou, pred_ignored, gt_pred


def match(images: list[EvalImage], kind: str, iou_threshold: float) -> Matches:
    """Every image matched at `iou_threshold` ("bbox" or "segm"), as flat per-prediction and
    per-ground-truth records."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    parts = {k: [] for k in ("pi", "px", "pl", "ps", "pg", "pu", "pn", "gi", "gx", "gl", "gc", "gp")}
    for pos, image in enumerate(images):
        pred_gt, pred_iou, pred_ignored, gt_pred = match_image(image, kind, iou_threshold)
        n_pred, n_gt = len(pred_gt), len(gt_pred)
        for key, value in (("pi", np.full(n_pred, pos)), ("px", np.arange(n_pred)), ("pl", image.pred_labels),
                           ("ps", image.pred_scores), ("pg", pred_gt), ("pu", pred_iou), ("pn", pred_ignored),
                           ("gi", np.full(n_gt, pos)), ("gx", np.arange(n_gt)), ("gl", image.gt_labels),
                           ("gc", image.gt_crowd), ("gp", gt_pred)):
            parts[key].append(np.asarray(value))
    cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}
    ints = {k: cat[k].astype(int) for k in ("pi", "px", "pl", "pg", "gi", "gx", "gl", "gp")}
    return Matches(kind, iou_threshold, ints["pi"], ints["px"], ints["pl"], cat["ps"].astype(float), ints["pg"],
                   cat["pu"].astype(float), cat["pn"].astype(bool), ints["gi"], ints["gx"], ints["gl"],
                   cat["gc"].astype(bool), ints["gp"])

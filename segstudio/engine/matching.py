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
COCO_THRESHOLDS = np.linspace(0.5, 0.95, 10)
CHUNK_PAIRS = 1_000_000    # (prediction, ground truth) pairs per pass of box_iou_matrices


def _xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, float).reshape(-1, 4).copy()
    b[:, 2:] -= b[:, :2]
    return b


def iou_matrix(image: EvalImage, kind: str) -> np.ndarray:
    """P x G IoUs of every prediction with every ground truth (any class), computed once per image. Analyses
    of many images fill the box matrices of all of them first (box_iou_matrices): one at a time costs more."""
    from pycocotools import mask as mask_utils  # noqa: PLC0415

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if kind in image.cache:
        return image.cache[kind]
    if kind == "bbox":
        box_iou_matrices([image])
    else:
        p, g = len(image.pred_scores), len(image.gt_labels)
        crowd = image.gt_crowd.astype(np.uint8).tolist()
        ious = np.asarray(mask_utils.iou(image.pred_masks, image.gt_masks, crowd)) if p and g else np.zeros((p, g))
        image.cache[kind] = ious.reshape(p, g)
    return image.cache[kind]


def box_iou_matrices(images: list[EvalImage]) -> None:
    """Every image's P x G box IoU matrix (what iou_matrix(image, "bbox") returns) into its cache, in numpy
    passes over many images at once (at 10,000 images a call per image costs more than the arithmetic), of
    CHUNK_PAIRS pairs at most (about 140 bytes each at the peak)."""
    chunk, pairs = [], 0
    for image in images:
        if "bbox" in image.cache:
            continue
        chunk.append(image)
        pairs += len(image.pred_scores) * len(image.gt_labels)
        if pairs >= CHUNK_PAIRS:
            _fill_box_ious(chunk)
            chunk, pairs = [], 0
    if chunk:
        _fill_box_ious(chunk)


def _fill_box_ious(images: list[EvalImage]) -> None:
    n_p = np.array([len(im.pred_scores) for im in images], int)
    n_g = np.array([len(im.gt_labels) for im in images], int)
    pred, gt = pairs_of(n_p, n_g)
    crowd = np.concatenate([im.gt_crowd for im in images] + [np.zeros(0, bool)]).astype(bool)
    ious = box_ious(np.concatenate([im.pred_boxes.reshape(-1, 4) for im in images] + [np.zeros((0, 4))])[pred],
                    np.concatenate([im.gt_boxes.reshape(-1, 4) for im in images] + [np.zeros((0, 4))])[gt],
                    crowd[gt])
    for im, p, g, part in zip(images, n_p, n_g, np.split(ious, np.cumsum(n_p * n_g)[:-1])):
        im.cache["bbox"] = part.reshape(p, g)


def box_ious(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """Row by row, the IoU of two N x 4 arrays of x1, y1, x2, y2 boxes, where `crowd` the intersection over a's
    area (b a crowd region). pycocotools' bbIou arithmetic (boxes as x, y, w, h), so the same values as the
    COCO evaluation's."""
    d, g = _xywh(a), _xywh(b)
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    inter, own = w * h, d[:, 2] * d[:, 3]
    union = own + g[:, 2] * g[:, 3] - inter
    if crowd is not None:
        union = np.where(crowd, own, union)
    apart = (w <= 0) | (h <= 0)
    return np.where(apart, 0.0, inter / np.where(apart, 1.0, union))


def pairs_of(n_p: np.ndarray, n_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For images of n_p predictions and n_g ground truths each, every (prediction, ground truth) pair of each
    image, image by image in a P x G matrix's order: the prediction's and the ground truth's flat positions
    among all the images' predictions and ground truths."""
    pairs = n_p * n_g
    image = np.repeat(np.arange(len(n_p)), pairs)
    k = positions_in_groups(pairs)      # position in its image's matrix
    width = np.maximum(n_g[image], 1)
    return (np.cumsum(n_p) - n_p)[image] + k // width, (np.cumsum(n_g) - n_g)[image] + k % width


def positions_in_groups(counts: np.ndarray) -> np.ndarray:
    """For consecutive groups of counts[i] elements, each element's position in its group: [2, 3] -> 0 1 0 1 2."""
    counts = np.asarray(counts, int)
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


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


def _take(ious_row: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per IoU threshold (rows of `ok`), the candidate with the highest IoU, the last one on ties (as
    COCOeval's loop picks); -1 where there is none."""
    cand = np.where(ok, ious_row[None, :], -1.0)
    idx = cand.shape[1] - 1 - np.argmax(cand[:, ::-1], axis=1)
    return np.where(ok.any(1), idx, -1)


def match_image(image: EvalImage, kind: str, thresholds) -> tuple:
    """(pred_gt [T, P], pred_ignored [T, P], gt_pred [T, G]) of one image at T IoU thresholds at once
    (see the module docstring). COCO's ten thresholds are matched once per image and kind, and kept."""
    rows = [int(np.argmin(np.abs(COCO_THRESHOLDS - t))) for t in np.atleast_1d(thresholds)]
    if np.allclose(COCO_THRESHOLDS[rows], np.atleast_1d(thresholds)):
        key = ("match", kind)
        if key not in image.cache:
            image.cache[key] = _match_image(image, kind, COCO_THRESHOLDS)
        return tuple(a[rows] for a in image.cache[key])
    return _match_image(image, kind, thresholds)


def _match_image(image: EvalImage, kind: str, thresholds) -> tuple:
    thr = np.minimum(np.atleast_1d(np.asarray(thresholds, float)), 1 - 1e-10)[:, None]
    ious = iou_matrix(image, kind)
    (n_pred, n_gt), n_t = ious.shape, len(thr)
    pred_gt, pred_ignored = np.full((n_t, n_pred), -1), np.zeros((n_t, n_pred), bool)
    gt_pred = np.full((n_t, n_gt), -1)
    rows = np.arange(n_t)
    for label in np.unique(image.pred_labels):
        preds = np.flatnonzero(image.pred_labels == label)
        preds = preds[np.argsort(-image.pred_scores[preds], kind="mergesort")]
        pred_ignored[:, preds[MAX_DETS:]] = True
        gts = np.flatnonzero(image.gt_labels == label)
        if not len(gts):
            continue
        real, crowd = gts[~image.gt_crowd[gts]], gts[image.gt_crowd[gts]]
        free = np.ones((n_t, len(real)), bool)
        for p in preds[:MAX_DETS]:
            done = np.zeros(n_t, bool)
            if len(real):
                iou = ious[p, real]
                pick = _take(iou, free & (iou[None, :] >= thr))
                done = pick >= 0
                t = rows[done]
                pred_gt[t, p] = real[pick[done]]
                gt_pred[t, real[pick[done]]] = p
                free[t, pick[done]] = False
            if len(crowd) and not done.all():   # a crowd region only when no instance matched
                iou = ious[p, crowd]
                pick = _take(iou, (iou[None, :] >= thr) & ~done[:, None])
                t = rows[pick >= 0]
                pred_gt[t, p] = crowd[pick[pick >= 0]]
                pred_ignored[t, p] = True
    return pred_gt, pred_ignored, gt_pred


def match_many(images: list[EvalImage], kind: str, thresholds) -> list[Matches]:
    """Every image matched at each IoU threshold ("bbox" or "segm"): one `Matches` per threshold, with
    flat per-prediction and per-ground-truth records (the same order in each)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    thresholds = [float(t) for t in np.atleast_1d(thresholds)]
    if kind == "bbox":
        box_iou_matrices(images)      # all at once: a numpy pass per image costs more than the arithmetic
    per_image = [match_image(image, kind, thresholds) for image in images]
    cat = lambda arrays, n: np.concatenate(arrays) if arrays else np.zeros(n)  # noqa: E731
    pred_image = cat([np.full(len(im.pred_scores), i) for i, im in enumerate(images)], 0).astype(int)
    pred_index = cat([np.arange(len(im.pred_scores)) for im in images], 0).astype(int)
    gt_image = cat([np.full(len(im.gt_labels), i) for i, im in enumerate(images)], 0).astype(int)
    gt_index = cat([np.arange(len(im.gt_labels)) for im in images], 0).astype(int)
    label = cat([im.pred_labels for im in images], 0).astype(int)
    score = cat([im.pred_scores for im in images], 0).astype(float)
    gt_label = cat([im.gt_labels for im in images], 0).astype(int)
    crowd = cat([im.gt_crowd for im in images], 0).astype(bool)
    out = []
    for k, t in enumerate(thresholds):
        pred_gt = cat([m[0][k] for m in per_image], 0).astype(int)
        iou = cat([iou_matrix(im, kind)[np.arange(len(m[0][k])), np.maximum(m[0][k], 0)] if im.gt_labels.size
                   else np.zeros(len(m[0][k])) for im, m in zip(images, per_image)], 0)
        out.append(Matches(kind, t, pred_image, pred_index, label, score, pred_gt,
                           np.where(pred_gt >= 0, iou, 0.0), cat([m[1][k] for m in per_image], 0).astype(bool),
                           gt_image, gt_index, gt_label, crowd, cat([m[2][k] for m in per_image], 0).astype(int)))
    return out


def match(images: list[EvalImage], kind: str, iou_threshold: float) -> Matches:
    """Every image matched at one IoU threshold (match_many with one threshold)."""
    return match_many(images, kind, [iou_threshold])[0]

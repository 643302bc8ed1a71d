"""Precision-recall curves, AP and F1-best score thresholds per class, from matched predictions.

A `Curve` keeps, for one class (or all classes pooled), its predictions' scores in falling order and the
cumulative true and false positive counts at each IoU threshold of the setting (one row per threshold), so
the counts at any score threshold are one binary search: a threshold explorer's drag step costs
O(classes * log predictions), whatever the number of images. AP is COCO's 101-point interpolated AP (the
mean over the setting's IoU thresholds), equal to COCOeval's for the same matches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.engine.matching import Matches, match_many

IOU_SETTINGS = {"0.5": (0.5,), "0.75": (0.75,),
                "0.5:0.95": tuple(float(t) for t in np.linspace(0.5, 0.95, 10))}
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
ALL = 0   # the key of the pooled curve (classes count from 1)


@dataclass
class Counts:
    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


@dataclass
class Curve:
    scores: np.ndarray   # N, falling
    tp: np.ndarray       # K x N cumulative true positives (K IoU thresholds)
    fp: np.ndarray       # K x N cumulative false positives
    n_gt: int            # ground-truth instances (crowd regions excluded)

    def counts(self, threshold: float) -> Counts:
        """TP, FP, FN of the predictions scoring >= threshold (the mean over the IoU thresholds)."""
        n = int(np.searchsorted(-self.scores, -threshold, side="right"))
        if n == 0:
            return Counts(0.0, 0.0, float(self.n_gt))
        tp, fp = float(self.tp[:, n - 1].mean()), float(self.fp[:, n - 1].mean())
        return Counts(tp, fp, self.n_gt - tp)

    def precision_recall(self) -> tuple[np.ndarray, np.ndarray]:
        """(precision, recall) after each prediction, the mean over the IoU thresholds."""
        tp, fp = self.tp.mean(0), self.fp.mean(0)
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        return precision, tp / self.n_gt if self.n_gt else np.zeros_like(tp)

    def ap(self) -> float:
        """COCO's AP (101 recall points, precision made monotone), -1.0 without ground truth."""
        if self.n_gt == 0:
            return -1.0
        return float(np.mean([coco_ap(tp, fp, self.n_gt) for tp, fp in zip(self.tp, self.fp)]))

    def best_f1(self) -> tuple[float | None, float]:
        """(score threshold, F1) with the highest F1; (None, 0.0) when nothing is ever right."""
        if not len(self.scores) or self.n_gt == 0:
            return None, 0.0
        tp, fp = self.tp.mean(0), self.fp.mean(0)
        f1 = 2 * tp / (self.n_gt + tp + fp)
        last_of_tie = np.r_[self.scores[1:] != self.scores[:-1], True]   # a cut falls between scores
        f1 = np.where(last_of_tie, f1, -1.0)
        best = int(np.argmax(f1))
        return (float(self.scores[best]), float(f1[best])) if f1[best] > 0 else (None, 0.0)


def coco_ap(tp_cum: np.ndarray, fp_cum: np.ndarray, n_gt: int) -> float:
    if not len(tp_cum):
        return 0.0
    recall = tp_cum / n_gt
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    q = np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0)
    return float(q.mean())


def _curve(per_iou: list[Matches], pred_sel: np.ndarray, gt_sel: np.ndarray) -> Curve:
    first = per_iou[0]
    order = np.argsort(-first.pred_score[pred_sel], kind="mergesort")
    idx = np.flatnonzero(pred_sel)[order]
    tp = np.stack([np.cumsum(m.true_positive[idx]) for m in per_iou]).astype(float)
    fp = np.stack([np.cumsum(m.false_positive[idx]) for m in per_iou]).astype(float)
    return Curve(first.pred_score[idx], tp, fp, int((gt_sel & ~first.gt_crowd).sum()))


def curves_from_matches(per_iou: list[Matches], labels) -> dict[int, Curve]:
    """{label: Curve} for each class label, and ALL: every class pooled."""
    first = per_iou[0]
    curves = {int(lab): _curve(per_iou, first.pred_label == lab, first.gt_label == lab) for lab in labels}
    curves[ALL] = _curve(per_iou, np.ones(len(first.pred_label), bool), np.ones(len(first.gt_label), bool))
    return curves


def build_curves(images, kind: str, setting: str, num_classes: int) -> dict[int, Curve]:
    """The curves of "bbox" or "segm" at an IoU setting ("0.5", "0.75" or "0.5:0.95")."""
    per_iou = match_many(images, kind, IOU_SETTINGS[setting])
    return curves_from_matches(per_iou, range(1, num_classes + 1))


def mean_ap(curves: dict[int, Curve]) -> float:
    """COCO's mAP: the mean AP of the classes that have ground truth (-1.0 when none has)."""
    aps = [c.ap() for lab, c in curves.items() if lab != ALL and c.n_gt > 0]
    return float(np.mean(aps)) if aps else -1.0


def best_thresholds(curves: dict[int, Curve], class_names: list[str]) -> dict:
    """{"per_class": {name: F1-best score}, "global": F1-best score of all classes pooled}; classes that
    never get a true positive are left out (they use the global threshold)."""
    per_class = {}
    for lab, curve in curves.items():
        if lab != ALL:
            threshold, _ = curve.best_f1()
            if threshold is not None:
                per_class[class_names[lab - 1]] = round(threshold, 4)
    overall, _ = curves[ALL].best_f1()
    return {"per_class": per_class, "global": round(overall, 4) if overall is not None else 0.5}

"""Error types in AP points: TIDE (Bolya et al., ECCV 2020) over stored predictions, for boxes or masks.

tidecv, the authors' package, has had no release since 2020; this follows the paper. At the foreground
IoU t_f (0.5) predictions are matched as COCO matches them (engine.matching). Each prediction that is not
a true positive gets one error type, tested in this order, with IoU_same / IoU_other its highest IoU with
a ground truth of its own / another class (crowd regions left out):

- dupe: IoU_same >= t_f (the instance was already found by a higher-scoring prediction)
- cls:  IoU_other >= t_f (right place, wrong class)
- loc:  t_b <= IoU_same < t_f (right class, poorly placed; t_b = 0.1)
- both: t_b <= IoU_other < t_f (wrong class and poorly placed)
- bkg:  everything else (on background)
A ground-truth instance that no prediction found, and that no cls or loc error points at, is "missed".

The AP points of a type are (AP50 with only those errors fixed) - (AP50 as it is), times 100, per class
and as the mean over classes. Fixes (the paper's oracles): a cls error takes the class of its instance and
a loc error its instance's exact shape, becoming a true positive unless the instance is already found (by
a true positive or a higher-scoring fixed prediction), in which case it is removed; dupe, bkg and both
errors are removed; missed instances are taken out of the class's ground-truth count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.engine.eval_store import EvalImage
from segstudio.engine.matching import iou_matrix, match
from segstudio.engine.pr_curves import coco_ap

ERROR_TYPES = ("cls", "loc", "both", "dupe", "bkg", "missed")
FOREGROUND_IOU = 0.5
BACKGROUND_IOU = 0.1


@dataclass
class ErrorTable:
    label: np.ndarray      # per prediction: its class
    score: np.ndarray
    tp: np.ndarray         # true positive at t_f
    counted: np.ndarray    # not ignored (crowd, beyond max detections)
    error: np.ndarray      # "" for true positives and ignored predictions, else an ERROR_TYPES name
    target: np.ndarray     # global ground-truth id a cls/loc error points at, else -1
    gt_label: np.ndarray   # per ground truth (global id): its class
    gt_found: np.ndarray   # found by a true positive
    gt_missed: np.ndarray  # missed (see the module docstring)
    n_gt: dict             # class -> non-crowd ground-truth instances


def _classify(image: EvalImage, preds: np.ndarray, ious: np.ndarray, t_f: float, t_b: float) -> tuple:
    """(error type names, target ground-truth index or -1) of an image's false positives `preds`."""
    real = ~image.gt_crowd[None, :]
    same_class = image.gt_labels[None, :] == image.pred_labels[preds][:, None]
    rows = ious[preds]
    same = np.where(real & same_class, rows, -1.0)
    other = np.where(real & ~same_class, rows, -1.0)
    iou_same, iou_other = same.max(1, initial=-1.0), other.max(1, initial=-1.0)
    best_same = same.argmax(1) if same.shape[1] else np.zeros(len(preds), int)
    best_other = other.argmax(1) if other.shape[1] else np.zeros(len(preds), int)
    kinds = np.select([iou_same >= t_f, iou_other >= t_f, iou_same >= t_b, iou_other >= t_b],
                      ["dupe", "cls", "loc", "both"], "bkg").astype(object)
    target = np.select([kinds == "cls", kinds == "loc"], [best_other, best_same], -1)
    return kinds, target


def error_table(images: list[EvalImage], kind: str, t_f: float = FOREGROUND_IOU,
                t_b: float = BACKGROUND_IOU) -> ErrorTable:
    m = match(images, kind, t_f)
    offsets = np.r_[0, np.cumsum([len(im.gt_labels) for im in images])].astype(int)
    error, target = np.full(len(m.pred_label), "", dtype=object), np.full(len(m.pred_label), -1)
    false = np.flatnonzero(m.false_positive)
    for pos in np.unique(m.pred_image[false]):
        here = false[m.pred_image[false] == pos]
        kinds, g = _classify(images[pos], m.pred_index[here], iou_matrix(images[pos], kind), t_f, t_b)
        error[here], target[here] = kinds, np.where(g >= 0, offsets[pos] + g, -1)
    real = ~m.gt_crowd
    found = m.gt_pred >= 0
    pointed = np.zeros(len(m.gt_label), bool)
    pointed[target[np.isin(error, ("cls", "loc"))].astype(int)] = True
    labels = np.unique(m.gt_label[real])
    return ErrorTable(m.pred_label, m.pred_score, m.true_positive, ~m.pred_ignored, error, target, m.gt_label,
                      found, real & ~found & ~pointed,
                      {int(lab): int(((m.gt_label == lab) & real).sum()) for lab in labels})


def _class_aps(label, score, tp, keep, n_gt: dict) -> dict:
    aps = {}
    for lab, n in n_gt.items():
        sel = np.flatnonzero(keep & (label == lab))
        t = tp[sel][np.argsort(-score[sel], kind="mergesort")]
        if n == 0:
            aps[lab] = 0.0 if (~t).any() else 1.0
        else:
            aps[lab] = coco_ap(np.cumsum(t).astype(float), np.cumsum(~t).astype(float), n)
    return aps


def fixed_aps(table: ErrorTable, fix: str | None) -> dict:
    """{class: AP50} with the errors of type `fix` fixed (None: as it is)."""
    label, tp, keep, n_gt = table.label.copy(), table.tp.copy(), table.counted.copy(), dict(table.n_gt)
    if fix in ("dupe", "bkg", "both"):
        keep &= table.error != fix
    elif fix in ("cls", "loc"):
        taken = set(np.flatnonzero(table.gt_found).tolist())
        chosen = np.flatnonzero(table.error == fix)
        for i in chosen[np.argsort(-table.score[chosen], kind="mergesort")]:
            g = int(table.target[i])
            if g in taken:
                keep[i] = False
            else:
                taken.add(g)
                tp[i], label[i] = True, table.gt_label[g]
    elif fix == "missed":
        for lab in n_gt:
            n_gt[lab] -= int((table.gt_missed & (table.gt_label == lab)).sum())
    return _class_aps(label, table.score, tp, keep, n_gt)


def breakdown(images: list[EvalImage], class_names: list[str], kind: str = "segm") -> dict:
    """AP points each error type would recover, overall and per class, with the errors' counts."""
    table = error_table(images, kind)
    base = fixed_aps(table, None)
    result = {"kind": kind, "iou": FOREGROUND_IOU, "background_iou": BACKGROUND_IOU,
              "base_ap50": round(100 * float(np.mean(list(base.values()))), 3) if base else None,
              "delta": {}, "per_class": {class_names[lab - 1]: {"ap50": round(100 * ap, 3)}
                                         for lab, ap in base.items()},
              "counts": {t: int((table.error == t).sum()) for t in ERROR_TYPES[:-1]}}
    result["counts"]["missed"] = int(table.gt_missed.sum())
    for fix in ERROR_TYPES:
        fixed = fixed_aps(table, fix)
        deltas = {lab: 100 * (fixed[lab] - base[lab]) for lab in base}
        result["delta"][fix] = round(float(np.mean(list(deltas.values()))), 3) if deltas else 0.0
        for lab, d in deltas.items():
            result["per_class"][class_names[lab - 1]][fix] = round(d, 3)
    return result

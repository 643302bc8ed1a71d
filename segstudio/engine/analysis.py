"""Everything an evaluation says beyond COCO AP, from its stored predictions, as one JSON-ready dict.

For boxes and masks: AP at each IoU setting (ours, which equals COCO's), per-class PR curves sampled at
101 recall points, the F1-best score threshold per class, the confusion matrix at IoU 0.5 and those
thresholds, and the TIDE error breakdown. `thresholds_file` is what RUN/eval/thresholds.json holds: the
mask F1-best thresholds at IoU 0.5, read by `predict` and by exports.
"""
from __future__ import annotations

import numpy as np

from segstudio.engine import confusion, tide
from segstudio.engine.matching import match_many
from segstudio.engine.pr_curves import ALL, IOU_SETTINGS, RECALL_POINTS, best_thresholds, curves_from_matches, mean_ap

THRESHOLD_KIND, THRESHOLD_IOU = "segm", "0.5"


def _sampled(curve) -> list:
    """Interpolated precision at the 101 recall points (COCO's), for drawing."""
    precision, recall = curve.precision_recall()
    if not len(precision) or curve.n_gt == 0:
        return [0.0] * len(RECALL_POINTS)
    monotone = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    return np.round(np.where(idx < len(monotone), monotone[np.minimum(idx, len(monotone) - 1)], 0.0), 4).tolist()


def all_curves(images, kind: str, num_classes: int) -> dict:
    """{setting: {label: Curve}}, each IoU threshold matched once (0.5 and 0.75 are part of 0.5:0.95)."""
    per_iou = dict(zip(IOU_SETTINGS["0.5:0.95"], match_many(images, kind, IOU_SETTINGS["0.5:0.95"])))
    labels = range(1, num_classes + 1)
    return {setting: curves_from_matches([per_iou[t] for t in ts], labels) for setting, ts in IOU_SETTINGS.items()}


def _kind_summary(images, kind: str, class_names: list[str]) -> dict:
    curves = all_curves(images, kind, len(class_names))
    thresholds = best_thresholds(curves[THRESHOLD_IOU], class_names)
    by_label = {i + 1: thresholds["per_class"].get(n, thresholds["global"]) for i, n in enumerate(class_names)}
    names = {ALL: "all", **{i + 1: n for i, n in enumerate(class_names)}}
    per_class = {}
    for lab, name in names.items():
        c = curves[THRESHOLD_IOU][lab]
        at = c.counts(by_label.get(lab, thresholds["global"]))
        per_class[name] = {"ap": {s: round(cs[lab].ap(), 4) for s, cs in curves.items()}, "gt": c.n_gt,
                           "threshold": by_label.get(lab, thresholds["global"]),
                           "precision": round(at.precision, 4), "recall": round(at.recall, 4),
                           "f1": round(at.f1, 4), "tp": at.tp, "fp": at.fp, "fn": at.fn}
    return {"map": {s: round(mean_ap(cs), 4) for s, cs in curves.items()},
            "per_class": per_class, "thresholds": thresholds,
            "pr_curves": {s: {names[lab]: _sampled(c) for lab, c in cs.items()} for s, cs in curves.items()},
            "confusion": confusion.confusion_matrix(images, class_names, kind, 0.5, by_label).to_json(),
            "errors": tide.breakdown(images, class_names, kind)}


def analyse(images, class_names: list[str]) -> dict:
    return {"images": len(images), "recall_points": RECALL_POINTS.round(2).tolist(),
            "kinds": {kind: _kind_summary(images, kind, class_names) for kind in ("bbox", "segm")}}


def thresholds_file(analysis: dict) -> dict:
    t = analysis["kinds"][THRESHOLD_KIND]["thresholds"]
    return {"per_class": t["per_class"], "global": t["global"], "iou": float(THRESHOLD_IOU),
            "kind": THRESHOLD_KIND, "rule": "highest F1 per class on the validation split"}

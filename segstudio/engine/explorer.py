"""The threshold explorer's model: a run's stored predictions with their PR curves computed once, so the
counts at a new score threshold cost one binary search per class (Qt-free; the Evaluation tab draws it).

`load_explorer(run_dir, report)` reads RUN/eval/predictions.json and analysis.json and matches every
image once per kind and IoU threshold (the slow part, for a worker thread). After that `rows(kind,
setting, threshold)` gives per-class precision, recall, F1 and TP/FP/FN, `curve(...)` a class's PR curve
and its score axis, and `confusion(kind, threshold)` the matrix at IoU 0.5.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segstudio.base.errors import DataError
from segstudio.engine import eval_store
from segstudio.engine.analysis import all_curves
from segstudio.engine.confusion import Confusion, confusion_matrix
from segstudio.engine.pr_curves import ALL


@dataclass
class Explorer:
    run_dir: Path
    images: list                 # engine.eval_store.EvalImage, in evaluation order
    class_names: list
    analysis: dict               # RUN/eval/analysis.json (thresholds, error types)
    curves: dict = field(default_factory=dict)   # (kind, setting) -> {label: Curve}

    def labels(self) -> list[int]:
        """ALL, then the classes that have ground truth or predictions."""
        curves = self.curves[("segm", "0.5")]
        return [ALL] + [lab for lab in range(1, len(self.class_names) + 1)
                        if curves[lab].n_gt or len(curves[lab].scores)]

    def name(self, label: int) -> str:
        return "all classes" if label == ALL else self.class_names[label - 1]

    def best_threshold(self, kind: str, label: int) -> float | None:
        t = self.analysis["kinds"][kind]["thresholds"]
        return t["global"] if label == ALL else t["per_class"].get(self.class_names[label - 1])

    def rows(self, kind: str, setting: str, threshold: float) -> list[tuple]:
        """(label, precision, recall, F1, TP, FP, FN) per label of `labels()` at `threshold`."""
        curves = self.curves[(kind, setting)]
        out = []
        for lab in self.labels():
            c = curves[lab].counts(threshold)
            out.append((lab, c.precision, c.recall, c.f1, c.tp, c.fp, c.fn))
        return out

    def curve(self, kind: str, setting: str, label: int) -> dict:
        """{"precision", "recall"} after each prediction and, on the score axis, {"scores", "p", "r", "f1"}."""
        c = self.curves[(kind, setting)][label]
        precision, recall = c.precision_recall()
        tp, fp = c.tp.mean(0), c.fp.mean(0)
        f1 = 2 * tp / np.maximum(c.n_gt + tp + fp, 1e-12)
        # predictions of one score are taken or left together: only the last of each tie is a point
        cut = np.r_[c.scores[1:] != c.scores[:-1], True] if len(c.scores) else np.zeros(0, bool)
        return {"precision": precision[cut], "recall": recall[cut], "scores": c.scores[cut], "f1": f1[cut],
                "ap": c.ap()}

    def confusion(self, kind: str, threshold: float) -> Confusion:
        return confusion_matrix(self.images, self.class_names, kind, 0.5, threshold)


def load_explorer(run_dir, report=None, should_stop=None) -> Explorer:
    """The run's stored evaluation with its curves for boxes and masks at every IoU setting."""
    folder = Path(run_dir) / "eval"
    if not (folder / "predictions.json").is_file() or not (folder / "analysis.json").is_file():
        raise DataError(f"{Path(run_dir).name} has no stored evaluation yet; press Evaluate checkpoint "
                        "(or run `segstudio eval RUN`).")
    images, class_names = eval_store.load(folder / "predictions.json")
    explorer = Explorer(Path(run_dir), images, class_names, json.loads((folder / "analysis.json").read_text()))
    for step, kind in enumerate(("segm", "bbox")):
        if should_stop is not None and should_stop():
            break
        for setting, curves in all_curves(images, kind, len(class_names)).items():
            explorer.curves[(kind, setting)] = curves
        if report is not None:
            report(step + 1, 2)
    return explorer

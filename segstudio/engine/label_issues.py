"""Likely label errors, ranked, from a model's predictions on the dataset's own rows.

Four kinds, each from the same IoU matrices the evaluation's matching uses (engine.matching.iou_matrix):
- missing:     a confident prediction that overlaps no annotation (box IoU < MATCH_IOU with every one);
- wrong_class: a confident prediction on an annotation of another class, which no prediction of the
               annotation's own class covers;
- sloppy_mask: a confident prediction of the annotation's class whose box agrees (IoU >= BOX_AGREE) while
               the masks do not (mask IoU < MASK_DISAGREE);
- spurious:    an annotation that no prediction of any class supports (none above SUPPORT_SCORE overlaps it
               with box IoU >= SUPPORT_IOU).
The score ranks candidates across kinds (0..1, higher first): the prediction's confidence weighted by how
clear the disagreement is, or for a spurious annotation, how little support it has.

Predictions on rows the model trained on are biased towards the labels (it learnt them, errors included):
`quick` candidates say which rows were training rows; k-fold cross-prediction avoids the bias.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from segstudio.engine.eval_store import EvalImage
from segstudio.engine.matching import iou_matrix

KINDS = ("missing", "wrong_class", "sloppy_mask", "spurious")
CONFIDENT = 0.5        # a prediction this sure is taken as evidence (unless the run's thresholds say otherwise)
MATCH_IOU = 0.5        # box IoU at which a prediction and an annotation are about the same object
BOX_AGREE = 0.7        # boxes agree this well ...
MASK_DISAGREE = 0.5    # ... but masks overlap less than this: the mask is sloppy
SUPPORT_IOU = 0.3      # a prediction overlapping an annotation at least this much supports it ...
SUPPORT_SCORE = 0.1    # ... when it is at least this confident


@dataclass(frozen=True)
class Candidate:
    kind: str
    row: int
    score: float
    annotation: int = -1     # index of the annotation in the row (-1: none, a missing one)
    prediction: int = -1     # index of the prediction in the image (-1: none, a spurious annotation)
    label: int = -1          # the annotation's class, 0-based (-1: none)
    proposed: int = -1       # the prediction's class, 0-based (-1: none)
    training_row: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)   # the fields, all plain values (dataclasses.asdict deep-copies: 10x slower)

    def key(self) -> tuple:
        """What a reviewer's "this is correct" remembers, so the candidate is not proposed again."""
        return (self.kind, self.row, self.annotation, self.proposed)


def _candidates_of(image: EvalImage, confident) -> list[Candidate]:
    box, seg = iou_matrix(image, "bbox"), iou_matrix(image, "segm")
    real = ~image.gt_crowd
    scores, preds, gts = image.pred_scores, image.pred_labels, image.gt_labels
    out = []
    for p in np.argsort(-scores, kind="mergesort"):
        s, label = float(scores[p]), int(preds[p])
        if s < confident(label):
            continue
        overlaps = np.where(real, box[p], 0.0) if len(gts) else np.zeros(0)
        j = int(np.argmax(overlaps)) if len(overlaps) else -1
        best = float(overlaps[j]) if j >= 0 else 0.0
        if best < MATCH_IOU:
            out.append(Candidate("missing", image.row, s * (1 - best), prediction=int(p), proposed=label - 1))
        elif int(gts[j]) != label and not _covered_by_own_class(image, j, box, confident):
            out.append(Candidate("wrong_class", image.row, s * best, annotation=j, prediction=int(p),
                                 label=int(gts[j]) - 1, proposed=label - 1))
        elif int(gts[j]) == label and best >= BOX_AGREE and seg[p, j] < MASK_DISAGREE:
            out.append(Candidate("sloppy_mask", image.row, s * (best - float(seg[p, j])), annotation=j,
                                 prediction=int(p), label=label - 1, proposed=label - 1))
    supported = ((box >= SUPPORT_IOU) & (scores[:, None] >= SUPPORT_SCORE)).any(axis=0) if len(scores) \
        else np.zeros(len(gts), bool)
    for j in np.flatnonzero(real & ~supported):
        out.append(Candidate("spurious", image.row, 1.0, annotation=int(j), label=int(gts[j]) - 1))
    return _one_per_annotation(out)


def _covered_by_own_class(image: EvalImage, j: int, box: np.ndarray, confident) -> bool:
    own = image.pred_labels == image.gt_labels[j]
    sure = image.pred_scores >= np.asarray([confident(int(label)) for label in image.pred_labels]) * 0.5
    return bool((own & sure & (box[:, j] >= MATCH_IOU)).any()) if len(own) else False


def _one_per_annotation(cands: list[Candidate]) -> list[Candidate]:
    """An annotation is proposed once, by its strongest candidate (several predictions may hit it)."""
    seen, out = set(), []
    for c in sorted(cands, key=lambda c: -c.score):
        if c.annotation >= 0 and (c.row, c.annotation) in seen:
            continue
        seen.add((c.row, c.annotation))
        out.append(c)
    return out


def find_candidates(images: list[EvalImage], thresholds: dict | None = None, training_rows=(),
                    reviewed=()) -> list[Candidate]:
    """Every candidate of every image, strongest first. `thresholds`: {1-based class: score} from the run's
    evaluation (a class's F1-best score is what "confident" means for it; CONFIDENT where absent);
    `reviewed`: Candidate.key()s a reviewer marked correct (left out)."""
    thresholds = thresholds or {}

    def confident(label: int) -> float:
        return float(thresholds.get(label, CONFIDENT))
    trained, done = {int(r) for r in training_rows}, set(map(tuple, reviewed))
    out = []
    for image in images:
        for c in _candidates_of(image, confident):
            if c.key() not in done:
                out.append(replace(c, training_row=True) if c.row in trained else c)
    return sorted(out, key=lambda c: (-c.score, c.row, c.kind))

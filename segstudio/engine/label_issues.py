"""Likely label errors, ranked, from a model's predictions on the dataset's own rows.

Four kinds, each from the same IoU matrices the evaluation's matching uses (engine.matching.iou_matrix):
- missing:     a confident prediction that overlaps no annotation (box IoU < MATCH_IOU with every one);
- wrong_class: a confident prediction on an annotation of another class, which no prediction of the
               annotation's own class covers;
- sloppy_mask: a confident prediction of the annotation's class that overlaps it (box IoU >= MATCH_IOU, or
               >= MISPLACED_IOU when no other prediction of its class matches it) while the masks overlap
               clearly less than this model's masks usually do (SLOPPY_RATIO of the median mask IoU);
- spurious:    an annotation that no prediction of any class supports (none above SUPPORT_SCORE overlaps it
               with box IoU >= SUPPORT_IOU).
The score ranks candidates across kinds (0..1, higher first), roughly the chance the label is wrong: the
prediction's confidence weighted by how clear the disagreement is; for a sloppy mask, how far its mask IoU
falls below the usual one of this model on this data; for a spurious annotation, how surprising the lack of
support is given how often the model supports annotations of that size (Bayes with ERROR_PRIOR: a model that
misses a tenth of the small objects makes an unsupported small annotation weak evidence). The calibration
comes from all the images ranked together (Stats).

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
MISPLACED_IOU = 0.1    # a prediction overlapping an otherwise unmatched annotation of its class this much
                       # (but under MATCH_IOU) says the annotation's mask is misplaced: a sloppy mask
SUPPORT_IOU = 0.3      # a prediction overlapping an annotation at least this much supports it ...
SUPPORT_SCORE = 0.1    # ... when it is at least this confident
ERROR_PRIOR = 0.05     # share of annotations assumed wrong before any evidence (ranks spurious candidates)
SLOPPY_RATIO = 0.67    # a mask overlapping its prediction less than this share of the usual mask IoU is sloppy
USUAL_MASK_IOU = 0.75  # the usual mask IoU until 20 matched pairs say otherwise (0.67 * 0.75 = MASK_DISAGREE)
SIZE_BINS = 4          # annotations are grouped by area (quantiles) to estimate the model's support rate


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


@dataclass(frozen=True)
class Stats:
    """What the model usually does on these images: its support rate per annotation size, its usual mask IoU."""
    area_edges: np.ndarray     # SIZE_BINS - 1 inner edges of annotation box areas
    support_rate: np.ndarray   # per size bin: the share of annotations some prediction supports
    mask_iou: np.ndarray       # per size bin: the median mask IoU of confident same-class matches

    def bin(self, area: float) -> int:
        return int(np.searchsorted(self.area_edges, area))

    def usual_mask_iou(self, area: float) -> float:
        return float(self.mask_iou[self.bin(area)])

    def spurious_score(self, area: float, strongest: float) -> float:
        r = float(self.support_rate[self.bin(area)])
        p = ERROR_PRIOR / (ERROR_PRIOR + (1 - ERROR_PRIOR) * (1 - r))
        return p * (1 - strongest)


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)


def _supported(image: EvalImage, box: np.ndarray) -> np.ndarray:
    if not len(image.pred_scores):
        return np.zeros(len(image.gt_labels), bool)
    return ((box >= SUPPORT_IOU) & (image.pred_scores[:, None] >= SUPPORT_SCORE)).any(axis=0)


def stats_of(images: list[EvalImage], confident) -> Stats:
    areas, supported, ious, iou_areas = [], [], [], []
    for image in images:
        real = ~image.gt_crowd
        box, seg = iou_matrix(image, "bbox"), iou_matrix(image, "segm")
        areas.append(_areas(image.gt_boxes)[real])
        supported.append(_supported(image, box)[real])
        if len(image.pred_scores) and len(image.gt_labels):
            sure = image.pred_scores >= np.asarray([confident(int(lab)) for lab in image.pred_labels])
            same = (image.pred_labels[:, None] == image.gt_labels[None, :]) & (box >= BOX_AGREE) & sure[:, None]
            pairs = same & real[None, :]
            ious.append(seg[pairs])
            iou_areas.append(np.broadcast_to(_areas(image.gt_boxes)[None, :], pairs.shape)[pairs])
    areas, supported = np.concatenate(areas or [np.zeros(0)]), np.concatenate(supported or [np.zeros(0, bool)])
    edges = np.quantile(areas, np.linspace(0, 1, SIZE_BINS + 1)[1:-1]) if len(areas) else np.zeros(SIZE_BINS - 1)
    bins = np.searchsorted(edges, areas)
    rate = np.array([(supported[bins == b].sum() + 1) / ((bins == b).sum() + 2) for b in range(SIZE_BINS)])
    ious, iou_bins = np.concatenate(ious or [np.zeros(0)]), np.searchsorted(edges, np.concatenate(iou_areas or
                                                                                                  [np.zeros(0)]))
    overall = float(np.median(ious)) if len(ious) >= 20 else USUAL_MASK_IOU
    usual = np.array([np.median(ious[iou_bins == b]) if (iou_bins == b).sum() >= 20 else overall
                      for b in range(SIZE_BINS)])
    return Stats(edges, rate, usual)


def _candidates_of(image: EvalImage, confident, stats: Stats) -> list[Candidate]:
    box, seg = iou_matrix(image, "bbox"), iou_matrix(image, "segm")
    real = ~image.gt_crowd
    scores, preds, gts = image.pred_scores, image.pred_labels, image.gt_labels
    usual = [stats.usual_mask_iou(a) for a in _areas(image.gt_boxes)]
    out = []
    for p in np.argsort(-scores, kind="mergesort"):
        s, label = float(scores[p]), int(preds[p])
        if s < confident(label):
            continue
        overlaps = np.where(real, box[p], 0.0) if len(gts) else np.zeros(0)
        j = int(np.argmax(overlaps)) if len(overlaps) else -1
        best = float(overlaps[j]) if j >= 0 else 0.0
        misplaced = best >= MISPLACED_IOU and int(gts[j]) == label and not _covered_by_own_class(image, j, box,
                                                                                                confident)
        if best < MATCH_IOU and not misplaced:
            out.append(Candidate("missing", image.row, s * (1 - best), prediction=int(p), proposed=label - 1))
        elif int(gts[j]) != label and not _covered_by_own_class(image, j, box, confident):
            out.append(Candidate("wrong_class", image.row, s * best, annotation=j, prediction=int(p),
                                 label=int(gts[j]) - 1, proposed=label - 1))
        elif int(gts[j]) == label and (misplaced or seg[p, j] < SLOPPY_RATIO * usual[j]):
            out.append(Candidate("sloppy_mask", image.row, s * max(0.0, 1 - float(seg[p, j]) / usual[j]), annotation=j,
                                 prediction=int(p), label=label - 1, proposed=label - 1))
    areas = _areas(image.gt_boxes)
    for j in np.flatnonzero(real & ~_supported(image, box)):
        near = box[:, j] >= SUPPORT_IOU if len(scores) else np.zeros(0, bool)
        strongest = float(scores[near].max()) if near.any() else 0.0
        out.append(Candidate("spurious", image.row, stats.spurious_score(float(areas[j]), strongest),
                             annotation=int(j), label=int(gts[j]) - 1))
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
    stats = stats_of(images, confident)
    out = []
    for image in images:
        for c in _candidates_of(image, confident, stats):
            if c.key() not in done:
                out.append(replace(c, training_row=True) if c.row in trained else c)
    return sorted(out, key=lambda c: (-c.score, c.row, c.kind))

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

    def spurious_scores(self, areas: np.ndarray, strongest: np.ndarray) -> np.ndarray:
        r = self.support_rate[np.searchsorted(self.area_edges, areas)]
        return ERROR_PRIOR / (ERROR_PRIOR + (1 - ERROR_PRIOR) * (1 - r)) * (1 - strongest)


class _Image:
    """One image's matrices and masks, computed once for both passes."""

    def __init__(self, image: EvalImage, limits):
        self.image, self.real = image, ~image.gt_crowd
        self.box, self.seg = iou_matrix(image, "bbox"), iou_matrix(image, "segm")
        b = image.gt_boxes
        self.areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) if len(b) else np.zeros(0)
        self.sure = image.pred_scores >= limits(image.pred_labels)     # confident predictions
        self.half_sure = image.pred_scores >= limits(image.pred_labels) * 0.5
        self.same = image.pred_labels[:, None] == image.gt_labels[None, :]
        self.supported = ((self.box >= SUPPORT_IOU) & (image.pred_scores[:, None] >= SUPPORT_SCORE)).any(axis=0) \
            if len(image.pred_scores) else np.zeros(len(image.gt_labels), bool)
        # an annotation some fairly sure prediction of its own class matches
        self.covered = (self.same & self.half_sure[:, None] & (self.box >= MATCH_IOU)).any(axis=0) \
            if len(image.pred_scores) else np.zeros(len(image.gt_labels), bool)


def stats_of(views: list[_Image]) -> Stats:
    areas = np.concatenate([v.areas[v.real] for v in views] or [np.zeros(0)])
    supported = np.concatenate([v.supported[v.real] for v in views] or [np.zeros(0, bool)])
    ious, iou_areas = [np.zeros(0)], [np.zeros(0)]
    for v in views:
        pairs = v.same & (v.box >= BOX_AGREE) & v.sure[:, None] & v.real[None, :]
        ious.append(v.seg[pairs])
        iou_areas.append(np.broadcast_to(v.areas[None, :], pairs.shape)[pairs])
    edges = np.quantile(areas, np.linspace(0, 1, SIZE_BINS + 1)[1:-1]) if len(areas) else np.zeros(SIZE_BINS - 1)
    bins = np.searchsorted(edges, areas)
    rate = np.array([(supported[bins == b].sum() + 1) / ((bins == b).sum() + 2) for b in range(SIZE_BINS)])
    ious = np.concatenate(ious)
    iou_bins = np.searchsorted(edges, np.concatenate(iou_areas))
    overall = float(np.median(ious)) if len(ious) >= 20 else USUAL_MASK_IOU
    usual = np.array([np.median(ious[iou_bins == b]) if (iou_bins == b).sum() >= 20 else overall
                      for b in range(SIZE_BINS)])
    return Stats(edges, rate, usual)


def _candidates_of(v: _Image, stats: Stats) -> list[Candidate]:
    image, row = v.image, v.image.row
    out = []
    sure = np.flatnonzero(v.sure)
    if len(sure) and len(image.gt_labels):
        overlaps = np.where(v.real[None, :], v.box[sure], 0.0)
        js = overlaps.argmax(axis=1)
        best = overlaps[np.arange(len(sure)), js]
        seg = v.seg[sure, js]
        usual = stats.mask_iou[np.searchsorted(stats.area_edges, v.areas[js])]
        gts = image.gt_labels[js]
        rows = zip(sure.tolist(), js.tolist(), best.tolist(), seg.tolist(), usual.tolist(), gts.tolist())
    else:
        rows = ((p, -1, 0.0, 0.0, 1.0, 0) for p in sure.tolist())
    scores, preds, covered = image.pred_scores.tolist(), image.pred_labels.tolist(), v.covered.tolist()
    for p, j, best, seg, usual, gt in rows:
        s, label = scores[p], preds[p]
        misplaced = best >= MISPLACED_IOU and gt == label and not covered[j]
        if best < MATCH_IOU and not misplaced:
            out.append(Candidate("missing", row, s * (1 - best), prediction=p, proposed=label - 1))
        elif gt != label and not covered[j]:
            out.append(Candidate("wrong_class", row, s * best, annotation=j, prediction=p, label=gt - 1,
                                 proposed=label - 1))
        elif gt == label and seg < SLOPPY_RATIO * usual:
            out.append(Candidate("sloppy_mask", row, s * max(0.0, 1 - seg / usual), annotation=j, prediction=p,
                                 label=label - 1, proposed=label - 1))
    lonely = np.flatnonzero(v.real & ~v.supported)
    if len(lonely):
        near = v.box[:, lonely] >= SUPPORT_IOU
        strongest = np.where(near, image.pred_scores[:, None], 0.0).max(axis=0) if len(scores) \
            else np.zeros(len(lonely))
        labels = image.gt_labels[lonely].tolist()
        for j, score, label in zip(lonely.tolist(), stats.spurious_scores(v.areas[lonely], strongest).tolist(), labels):
            out.append(Candidate("spurious", row, score, annotation=j, label=label - 1))
    return _one_per_annotation(out) if len(out) > 1 else out


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
    top = max([int(k) for k in thresholds] + [int(im.pred_labels.max()) for im in images if len(im.pred_labels)] + [0])
    table = np.full(top + 1, CONFIDENT)
    for label, limit in thresholds.items():
        table[int(label)] = float(limit)
    trained, done = {int(r) for r in training_rows}, set(map(tuple, reviewed))
    views = [_Image(image, lambda labels: table[labels]) for image in images]
    stats = stats_of(views)
    out = []
    for v in views:
        for c in _candidates_of(v, stats):
            if c.key() not in done:
                out.append(replace(c, training_row=True) if c.row in trained else c)
    return sorted(out, key=lambda c: (-c.score, c.row, c.kind))

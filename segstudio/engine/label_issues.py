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
The score ranks candidates across kinds (0..1, higher first): the chance the label is wrong given the
disagreement, on one scale for all kinds. If ERROR_PRIOR of the labels are wrong, then among this model's
predictions in one score bin, those over unlabelled objects number about ERROR_PRIOR / (1 - ERROR_PRIOR)
times those over labelled ones; their share of the bin's unmatched predictions is the chance an unmatched
one is a missing annotation. Likewise for another class (against same-class matches at that score, and
by how often this model confuses that pair of classes on other annotations), a poor mask (against good
masks at that size) and no support (against the supported annotations of that size). So a model that
often predicts shapes nobody labelled makes a missing annotation weak evidence, and one that rarely
confuses two classes makes its confusion strong evidence. The chance comes from odds and is never capped,
so strong evidence of every kind still orders. Within a bin, the prediction's confidence and how clear the
disagreement is order the candidates. The yardstick (Stats) comes from all the images ranked together,
drawn towards usual rates where they are few.
Predictions count from half the confident threshold for a missing annotation (a model's scores on the
objects it is unsure of are what a missing annotation most often gets), and from the threshold itself for
another class or a poor mask (an unsure prediction's class and mask are often wrong on right labels).

Predictions on rows the model trained on are biased towards the labels (it learnt them, errors included):
`quick` candidates say which rows were training rows; k-fold cross-prediction avoids the bias.
"""
from __future__ import annotations

import math
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
ERROR_PRIOR = 0.05     # share of annotations assumed wrong before any evidence (scales every kind's chance)
SLOPPY_RATIO = 0.67    # a mask overlapping its prediction less than this share of the usual mask IoU is sloppy
USUAL_MASK_IOU = 0.75  # the usual mask IoU until 20 matched pairs say otherwise (0.67 * 0.75 = MASK_DISAGREE)
SIZE_BINS = 4          # annotations are grouped by area (quantiles) to estimate the model's support rate
USUAL_SUPPORT = 0.9    # until the images say otherwise: the share of annotations a model supports ...
USUAL_DISAGREEMENT = 0.1   # ... and of its confident predictions that disagree with a label in a given way
PSEUDO_CASES = 10      # how many cases those assumptions weigh against what the images show


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
    """What the model usually does on these images, the yardstick its disagreements are measured against:
    how often it supports an annotation (per annotation size), its usual mask IoU (per size), and how often a
    confident prediction of its matches nothing, or matches an annotation of another class (per score, and
    per pair of classes), or a same-class one with a poor mask (per size)."""
    area_edges: np.ndarray     # SIZE_BINS - 1 inner edges of annotation box areas
    support_rate: np.ndarray   # per size bin: the share of annotations some prediction supports
    mask_iou: np.ndarray       # per size bin: the median mask IoU of confident same-class matches
    score_edges: np.ndarray    # SIZE_BINS - 1 inner edges of confident predictions' scores
    ratios: dict               # kind -> per bin: agreements per disagreement of that kind
    pair_factors: dict         # (annotation class, predicted class) -> how much rarer than usual this model
                               # predicts that class on that annotation class (1: as usual)

    def posterior(self, kind: str, strength: float, bin_value: float) -> float:
        """The chance the label is wrong given a disagreement of `kind` (strength 0..1): if ERROR_PRIOR of the
        labels are wrong, the disagreements a wrong label explains in this bin number ERROR_PRIOR / (1 -
        ERROR_PRIOR) times its agreements, out of all its disagreements (bin_value: the prediction's score, or
        the annotation's area for a sloppy mask)."""
        edges = self.area_edges if kind == "sloppy_mask" else self.score_edges
        return _chance(self.ratios[kind][np.searchsorted(edges, bin_value)] * strength)

    def spurious_scores(self, areas: np.ndarray, strongest: np.ndarray) -> np.ndarray:
        """The same for an unsupported annotation: the supported ones of its size per unsupported one."""
        r = self.support_rate[np.searchsorted(self.area_edges, areas)]
        return _chance(r / (1 - r) * (1 - strongest))


def _chance(ratio):
    """Prior odds of a wrong label times the evidence's agreements per disagreement, as a chance (0..1, never
    capped, so that strong evidence still orders)."""
    odds = ERROR_PRIOR / (1 - ERROR_PRIOR) * ratio
    return odds / (1 + odds)


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
        self.judged: list[_Judged] = []   # filled by stats_of
        # an annotation some fairly sure prediction of its own class matches
        self.covered = (self.same & self.half_sure[:, None] & (self.box >= MATCH_IOU)).any(axis=0) \
            if len(image.pred_scores) else np.zeros(len(image.gt_labels), bool)


def stats_of(views: list[_Image]) -> Stats:
    """The yardstick, from all the images together; also judges every view's confident predictions."""
    areas = np.concatenate([v.areas[v.real] for v in views] or [np.zeros(0)])
    supported = np.concatenate([v.supported[v.real] for v in views] or [np.zeros(0, bool)])
    edges = _quantile_edges(areas)
    rate = _rates(np.searchsorted(edges, areas), supported, len(edges) + 1, USUAL_SUPPORT)
    usual = _usual_mask_iou(views, edges)
    for v in views:
        v.judged = _judge(v, usual[np.searchsorted(edges, v.areas)] if len(v.areas) else usual[:0])
    judged = [j for v in views for j in v.judged]
    scores = np.array([j.score for j in judged])
    score_edges = _quantile_edges(scores)
    kinds = np.array([j.kind for j in judged], dtype=object)
    matched = np.array([j.best >= MATCH_IOU for j in judged], bool)
    same = np.array([j.gt == j.label for j in judged], bool) & matched
    by_score, n = np.searchsorted(score_edges, scores), len(score_edges) + 1
    ratios = {"missing": _ratios(by_score, matched, kinds == "missing", n),
              "wrong_class": _ratios(by_score, same, kinds == "wrong_class", n),
              "sloppy_mask": _ratios(np.searchsorted(edges, np.array([j.area for j in judged])), same & (kinds == ""),
                                     kinds == "sloppy_mask", len(edges) + 1)}
    gts, labels = np.array([j.gt for j in judged], int), np.array([j.label for j in judged], int)
    pairs = _pair_factors(gts[matched], labels[matched], kinds[matched] == "wrong_class")
    return Stats(edges, rate, usual, score_edges, ratios, pairs)


def _pair_factors(gts: np.ndarray, labels: np.ndarray, confused: np.ndarray) -> dict:
    """For each (annotation class, predicted class) pair this model confuses, the usual share of matches it
    confuses per other class over that pair's share (drawn towards the usual one by PSEUDO_CASES): a model that
    often calls circles squares makes a square on a circle weak evidence, and its rare confusions strong."""
    classes = max(2, len(set(gts.tolist()) | set(labels.tolist())))
    usual = (confused.sum() + 1) / (len(gts) + 1) / (classes - 1)
    out = {}
    for g in set(gts.tolist()):
        row = gts == g
        for p in set(labels[row & confused].tolist()):
            # leaving the candidate itself out: how often the model does this on the other annotations
            share = ((row & confused & (labels == p)).sum() - 1 + PSEUDO_CASES * usual) / (row.sum() - 1 + PSEUDO_CASES)
            out[(g, p)] = usual / share
    return out


def _quantile_edges(values: np.ndarray) -> np.ndarray:
    inner = np.linspace(0, 1, SIZE_BINS + 1)[1:-1]
    return np.quantile(values, inner) if len(values) else np.zeros(SIZE_BINS - 1)


def _ratios(bins: np.ndarray, agree: np.ndarray, disagree: np.ndarray, n: int) -> np.ndarray:
    """Per bin, agreements per disagreement, each side drawn towards USUAL_DISAGREEMENT by PSEUDO_CASES."""
    return np.array([(agree[bins == b].sum() + PSEUDO_CASES * (1 - USUAL_DISAGREEMENT))
                     / (disagree[bins == b].sum() + PSEUDO_CASES * USUAL_DISAGREEMENT) for b in range(n)])


def _rates(bins: np.ndarray, hits: np.ndarray, n: int, usual: float) -> np.ndarray:
    """Per bin, the share of hits, drawn towards `usual` as if PSEUDO_CASES cases had shown it (a bin with few
    cases says little)."""
    return np.array([(hits[bins == b].sum() + PSEUDO_CASES * usual) / ((bins == b).sum() + PSEUDO_CASES)
                     for b in range(n)])


def _usual_mask_iou(views: list[_Image], edges: np.ndarray) -> np.ndarray:
    """Per size bin, the median mask IoU of confident same-class predictions whose boxes agree well."""
    ious, iou_areas = [np.zeros(0)], [np.zeros(0)]
    for v in views:
        pairs = v.same & (v.box >= BOX_AGREE) & v.sure[:, None] & v.real[None, :]
        ious.append(v.seg[pairs])
        iou_areas.append(np.broadcast_to(v.areas[None, :], pairs.shape)[pairs])
    ious = np.concatenate(ious)
    iou_bins = np.searchsorted(edges, np.concatenate(iou_areas))
    overall = float(np.median(ious)) if len(ious) >= 20 else USUAL_MASK_IOU
    return np.array([np.median(ious[iou_bins == b]) if (iou_bins == b).sum() >= 20 else overall
                     for b in range(len(edges) + 1)])


@dataclass(frozen=True)
class _Judged:
    """One confident prediction against the annotation it overlaps most, and what their disagreement is."""
    p: int            # the prediction
    j: int            # the annotation (-1: the image has none)
    best: float       # their box IoU
    seg: float        # their mask IoU
    usual: float      # this model's usual mask IoU at the annotation's size
    area: float       # the annotation's box area
    gt: int           # the annotation's class (1-based; 0: none)
    label: int        # the prediction's class (1-based)
    score: float
    kind: str         # "missing", "wrong_class", "sloppy_mask", "unsure" (a poor mask or another class from an
                      # unconfident prediction: no candidate), or "" where they agree


def _judge(v: _Image, usual: np.ndarray) -> list[_Judged]:
    image, sure = v.image, np.flatnonzero(v.half_sure)
    if not len(sure):
        return []
    scores, labels = image.pred_scores[sure].tolist(), image.pred_labels[sure].tolist()
    if not len(image.gt_labels):
        return [_Judged(p, -1, 0.0, 0.0, 1.0, 0.0, 0, label, s, "missing")
                for p, s, label in zip(sure.tolist(), scores, labels)]
    overlaps = np.where(v.real[None, :], v.box[sure], 0.0)
    js = overlaps.argmax(axis=1)
    best, seg = overlaps[np.arange(len(sure)), js], v.seg[sure, js]
    out = []
    for p, j, b, m, s, label in zip(sure.tolist(), js.tolist(), best.tolist(), seg.tolist(), scores, labels):
        gt, u = int(image.gt_labels[j]), float(usual[j])
        out.append(_Judged(p, j, b, m, u, float(v.areas[j]), gt, label, s,
                           _kind(b, m, u, gt, label, v.covered[j], bool(v.sure[p]))))
    return out


def _kind(best: float, seg: float, usual: float, gt: int, label: int, covered: bool, sure: bool) -> str:
    """What a prediction's disagreement with the annotation it overlaps most says; only a confident (`sure`)
    prediction says a class or a mask is wrong, an unsure one's are "unsure"."""
    misplaced = best >= MISPLACED_IOU and gt == label and not covered
    if best < MATCH_IOU and not misplaced:
        return "missing"
    if gt != label and not covered:
        return "wrong_class" if sure else "unsure"
    if gt == label and seg < SLOPPY_RATIO * usual:
        return "sloppy_mask" if sure else "unsure"
    return ""


def _tie(score: float) -> float:
    """The prediction's confidence as a small factor: its bin already says how much that confidence is worth,
    so within a bin it only orders candidates."""
    return 0.9 + 0.1 * score


def _candidates_of(v: _Image, stats: Stats) -> list[Candidate]:
    image, row = v.image, v.image.row
    out = []
    for d in v.judged:
        if d.kind == "missing":
            score = stats.posterior("missing", _tie(d.score) * (1 - d.best), d.score)
            out.append(Candidate("missing", row, score, prediction=d.p, proposed=d.label - 1))
        elif d.kind == "wrong_class":
            pair = stats.pair_factors.get((d.gt, d.label), 1.0)
            score = stats.posterior("wrong_class", _tie(d.score) * d.best * pair, d.score)
            out.append(Candidate("wrong_class", row, score, annotation=d.j, prediction=d.p, label=d.gt - 1,
                                 proposed=d.label - 1))
        elif d.kind == "sloppy_mask":
            score = stats.posterior("sloppy_mask", _tie(d.score) * max(0.0, 1 - d.seg / d.usual), d.area)
            out.append(Candidate("sloppy_mask", row, score, annotation=d.j, prediction=d.p, label=d.label - 1,
                                 proposed=d.label - 1))
    lonely = np.flatnonzero(v.real & ~v.supported)
    if len(lonely):
        near = v.box[:, lonely] >= SUPPORT_IOU
        strongest = np.where(near, image.pred_scores[:, None], 0.0).max(axis=0) if len(image.pred_scores) \
            else np.zeros(len(lonely))
        labels = image.gt_labels[lonely].tolist()
        for j, score, label in zip(lonely.tolist(), stats.spurious_scores(v.areas[lonely], strongest).tolist(), labels):
            out.append(Candidate("spurious", row, score, annotation=j, label=label - 1))
    return _one_per_annotation(out, image.pred_boxes, image.pred_scores) if len(out) > 1 else out


def _one_per_annotation(cands: list[Candidate], pred_boxes: np.ndarray, pred_scores: np.ndarray) -> list[Candidate]:
    """An annotation is proposed once (several predictions may hit it), with its strongest evidence: by a
    candidate that proposes a fix (a prediction) when there is one, else as spurious. Likewise an unlabelled
    object: predictions of several classes on one spot (box IoU >= MATCH_IOU) are one missing annotation."""
    best: dict = {}
    spots = _spots([c.prediction for c in cands if c.kind == "missing"], pred_boxes, pred_scores)
    for c in cands:
        key = (c.row, c.annotation) if c.annotation >= 0 else (c.row, -1 - spots[c.prediction])
        best.setdefault(key, []).append(c)
    out = []
    for group in best.values():
        fix = max(group, key=lambda c: (c.prediction >= 0, c.score))
        top = max(c.score for c in group)
        out.append(fix if fix.score == top else replace(fix, score=top))
    return out


def _spots(predictions: list[int], boxes: np.ndarray, scores: np.ndarray) -> dict:
    """Each prediction -> the most confident of them whose box it overlaps with IoU >= MATCH_IOU (itself
    where none does). Plain Python: an image has a handful of them, where numpy's per-call cost dominates."""
    if len(predictions) < 2:
        return {p: p for p in predictions}
    order = sorted(predictions, key=lambda p: -scores[p])
    box = {p: boxes[p].tolist() for p in order}
    return {p: next((q for q in order[:i] if box_iou(box[q], box[p]) >= MATCH_IOU), p) for i, p in enumerate(order)}


def box_iou(a: list, b: list) -> float:
    """IoU of two x1, y1, x2, y2 boxes given as lists (no numpy: for a few pairs at a time)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


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


def confirmed_by(candidates: list[Candidate], images: list[EvalImage], own: list[Candidate],
                 own_images: list[EvalImage]) -> list[Candidate]:
    """k-fold candidates weighed by the run's own model: each one's score becomes the geometric mean of its
    score and the run model's score for the same annotation (for a missing one: a missing candidate of the run
    model on the same spot, box IoU >= MATCH_IOU), 0 where the run's model proposes nothing there. The run's
    model learnt these labels, errors included, so where it still disagrees the evidence is hard-won; where
    only the fold model disagrees, its weakness explains as much as the label. Those with 0 keep the fold
    model's order, after the rest."""
    by_annotation = {(c.row, c.annotation): c.score for c in own if c.annotation >= 0}
    spots: dict = {}
    own_boxes = {im.row: im.pred_boxes for im in own_images}
    for c in own:
        if c.annotation < 0:
            spots.setdefault(c.row, []).append((own_boxes[c.row][c.prediction].tolist(), c.score))
    boxes = {im.row: im.pred_boxes for im in images}
    weighed = []
    for c in candidates:
        if c.annotation >= 0:
            other = by_annotation.get((c.row, c.annotation), 0.0)
        else:
            box = boxes[c.row][c.prediction].tolist()
            other = max((score for b, score in spots.get(c.row, ()) if box_iou(b, box) >= MATCH_IOU), default=0.0)
        weighed.append((math.sqrt(c.score * other), c))
    weighed.sort(key=lambda pair: (-pair[0], -pair[1].score, pair[1].row, pair[1].kind))
    # positional: dataclasses.replace costs several times more, for every candidate of a large dataset
    return [Candidate(c.kind, c.row, score, c.annotation, c.prediction, c.label, c.proposed, c.training_row)
            for score, c in weighed]

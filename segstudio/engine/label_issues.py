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

from dataclasses import dataclass, replace

import numpy as np

from segstudio.engine.eval_store import EvalImage
from segstudio.engine.matching import box_iou_matrices, box_ious, iou_matrix, pairs_of, positions_in_groups

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


@dataclass
class _Flat:
    """Every image's predictions and annotations, and each image's (prediction, annotation) pairs, as flat
    arrays: the ranking works on all images at once (at 10,000 rows, per-image numpy calls cost more than
    the work). Pairs run image by image, prediction by prediction: one prediction's pairs are contiguous."""
    rows: np.ndarray        # per image: its row
    p_image: np.ndarray     # per prediction: its image's position,
    p_index: np.ndarray     # its index in the image,
    p_score: np.ndarray
    p_label: np.ndarray     # its class (1-based),
    p_boxes: np.ndarray     # its xyxy box,
    sure: np.ndarray        # whether it is confident (its class's threshold),
    half_sure: np.ndarray   # and whether at least half as confident
    g_image: np.ndarray     # per annotation: its image's position,
    g_index: np.ndarray     # its index among the row's stored instances (what a fix names),
    g_label: np.ndarray     # its class (1-based),
    real: np.ndarray        # not a crowd,
    area: np.ndarray        # its box's area
    a_pred: np.ndarray      # per pair: the prediction's and the annotation's flat positions,
    a_gt: np.ndarray
    box: np.ndarray         # their box IoU
    seg: np.ndarray         # and mask IoU (0 for a NaN one: a diverged model's boxes overlap nothing)


def _flatten(images: list[EvalImage], limits: np.ndarray) -> _Flat:
    """`limits`: per 1-based class, the score that counts as confident."""
    n_p = np.array([len(im.pred_scores) for im in images], int)
    n_g = np.array([len(im.gt_labels) for im in images], int)
    p_image, g_image = np.repeat(np.arange(len(images)), n_p), np.repeat(np.arange(len(images)), n_g)
    p_label = _joined([im.pred_labels for im in images], int)
    p_score = _joined([im.pred_scores for im in images], float)
    g_boxes = _joined([im.gt_boxes.reshape(-1, 4) for im in images], float, 4)
    box_iou_matrices(images)
    a_pred, a_gt = pairs_of(n_p, n_g)
    return _Flat(
        rows=np.array([im.row for im in images], int), p_image=p_image,
        p_index=positions_in_groups(n_p), p_score=p_score, p_label=p_label,
        p_boxes=_joined([im.pred_boxes.reshape(-1, 4) for im in images], float, 4),
        sure=p_score >= limits[p_label], half_sure=p_score >= limits[p_label] * 0.5,
        g_image=g_image, g_index=_joined([np.asarray(im.gt_index) for im in images], int),
        g_label=_joined([im.gt_labels for im in images], int), real=~_joined([im.gt_crowd for im in images], bool),
        area=(g_boxes[:, 2] - g_boxes[:, 0]) * (g_boxes[:, 3] - g_boxes[:, 1]), a_pred=a_pred, a_gt=a_gt,
        box=np.nan_to_num(_joined([iou_matrix(im, "bbox").ravel() for im in images], float)),
        seg=np.nan_to_num(_joined([iou_matrix(im, "segm").ravel() for im in images], float)))


def _joined(arrays: list, dtype, width: int = 0) -> np.ndarray:
    empty = np.zeros((0, width) if width else 0, dtype)
    return np.concatenate(arrays + [empty]).astype(dtype, copy=False)


def _per_annotation(f: _Flat, pairs: np.ndarray) -> np.ndarray:
    """Whether any of an annotation's pairs is among `pairs` (a boolean per pair)."""
    return np.bincount(f.a_gt[pairs], minlength=len(f.g_label)) > 0


def _usual_mask_iou(f: _Flat, edges: np.ndarray) -> np.ndarray:
    """Per size bin, the median mask IoU of confident same-class predictions whose boxes agree well."""
    pairs = (f.p_label[f.a_pred] == f.g_label[f.a_gt]) & (f.box >= BOX_AGREE) & f.sure[f.a_pred] & f.real[f.a_gt]
    ious, bins = f.seg[pairs], np.searchsorted(edges, f.area[f.a_gt[pairs]])
    overall = float(np.median(ious)) if len(ious) >= 20 else USUAL_MASK_IOU
    return np.array([np.median(ious[bins == b]) if (bins == b).sum() >= 20 else overall
                     for b in range(len(edges) + 1)])


@dataclass
class _Judged:
    """Each fairly sure prediction against the annotation its box overlaps most (the first of equals), and
    what their disagreement is: one entry per prediction, in image and prediction order."""
    p: np.ndarray       # the prediction (flat position)
    j: np.ndarray       # the annotation (flat position; -1: the image has none)
    best: np.ndarray    # their box IoU
    seg: np.ndarray     # their mask IoU
    usual: np.ndarray   # this model's usual mask IoU at the annotation's size
    area: np.ndarray    # the annotation's box area
    gt: np.ndarray      # the annotation's class (1-based; 0: none)
    label: np.ndarray   # the prediction's class (1-based)
    score: np.ndarray
    kind: np.ndarray    # "missing", "wrong_class", "sloppy_mask", "unsure" (a poor mask or another class from an
                        # unconfident prediction: no candidate), or "" where they agree


def _judge(f: _Flat, usual: np.ndarray, covered: np.ndarray) -> _Judged:
    """`usual`: per annotation, the usual mask IoU at its size; `covered`: per annotation, whether a fairly
    sure prediction of its own class matches it."""
    overlaps = np.where(f.real[f.a_gt], f.box, 0.0)
    has = np.bincount(f.a_pred, minlength=len(f.p_score)) > 0      # the prediction's image has annotations
    first_pair = np.full(len(f.p_score), -1)
    if has.any():
        starts = np.searchsorted(f.a_pred, np.flatnonzero(has))
        top = np.zeros(len(f.p_score))
        top[has] = np.maximum.reduceat(overlaps, starts)
        at_top = np.where(overlaps == top[f.a_pred], np.arange(len(overlaps)), len(overlaps))
        first_pair[has] = np.minimum.reduceat(at_top, starts)
    p = np.flatnonzero(f.half_sure)
    pair = first_pair[p]
    j = _at(f.a_gt, pair, -1)
    d = _Judged(p, j, _at(overlaps, pair, 0.0), _at(f.seg, pair, 0.0), _at(usual, j, 1.0), _at(f.area, j, 0.0),
                _at(f.g_label, j, 0), f.p_label[p], f.p_score[p], kind=np.zeros(0))
    return replace(d, kind=np.where(j < 0, "missing", _kind(d, _at(covered, j, False), f.sure[p])))


def _at(values: np.ndarray, index: np.ndarray, fallback) -> np.ndarray:
    """values[index], `fallback` where index is -1 (it is appended at the end, where -1 points; any other
    negative index would wrap too, so there are none)."""
    return np.append(values, fallback)[index]


def _kind(d: _Judged, covered: np.ndarray, sure: np.ndarray) -> np.ndarray:
    """What a prediction's disagreement with the annotation it overlaps most says; only a confident (`sure`)
    prediction says a class or a mask is wrong, an unsure one's are "unsure"."""
    misplaced = (d.best >= MISPLACED_IOU) & (d.gt == d.label) & ~covered
    missing = (d.best < MATCH_IOU) & ~misplaced
    other_class = ~missing & (d.gt != d.label) & ~covered
    poor_mask = ~missing & ~other_class & (d.gt == d.label) & (d.seg < SLOPPY_RATIO * d.usual)
    return np.select([missing, other_class & sure, poor_mask & sure, other_class | poor_mask],
                     ["missing", "wrong_class", "sloppy_mask", "unsure"], "")


def stats_of(f: _Flat, d: _Judged, edges: np.ndarray, usual: np.ndarray, supported: np.ndarray) -> Stats:
    """The yardstick, from all the images together (`edges`: the annotation sizes' quantiles; `usual`: the
    usual mask IoU per size bin; `supported`: per annotation, whether a prediction supports it)."""
    bins = np.searchsorted(edges, f.area[f.real])
    rate = _rates(bins, supported[f.real], len(edges) + 1, USUAL_SUPPORT)
    score_edges = _quantile_edges(d.score)
    matched = d.best >= MATCH_IOU
    same = (d.gt == d.label) & matched
    by_score, n = np.searchsorted(score_edges, d.score), len(score_edges) + 1
    ratios = {"missing": _ratios(by_score, matched, d.kind == "missing", n),
              "wrong_class": _ratios(by_score, same, d.kind == "wrong_class", n),
              "sloppy_mask": _ratios(np.searchsorted(edges, d.area), same & (d.kind == ""),
                                     d.kind == "sloppy_mask", len(edges) + 1)}
    pairs = _pair_factors(d.gt[matched], d.label[matched], d.kind[matched] == "wrong_class")
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


@dataclass
class _Columns:
    """Candidates as columns, one entry per candidate."""
    kind: np.ndarray          # missing, wrong_class, sloppy_mask or spurious
    image: np.ndarray         # the image's position
    annotation: np.ndarray    # flat positions of the annotation and the prediction (-1: none)
    prediction: np.ndarray
    label: np.ndarray         # the annotation's class and the proposed one, 0-based (-1: none)
    proposed: np.ndarray
    score: np.ndarray
    seen: np.ndarray | None = None   # where the annotation or spot first came up (after _one_per_annotation)

    def take(self, index: np.ndarray) -> "_Columns":
        return _Columns(**{name: None if col is None else col[index] for name, col in self.__dict__.items()})


def _candidates(f: _Flat, d: _Judged, stats: Stats, supported: np.ndarray) -> _Columns:
    """Every candidate, each image's predictions' first, then its unsupported annotations'.
    Within a score bin, the prediction's confidence (0.9 + 0.1 x score: its bin already says what that
    confidence is worth) and how clear the disagreement is order them."""
    tie, score = 0.9 + 0.1 * d.score, np.zeros(len(d.p))
    mis, wc, sl = d.kind == "missing", d.kind == "wrong_class", d.kind == "sloppy_mask"
    score[mis] = stats.posterior("missing", tie[mis] * (1 - d.best[mis]), d.score[mis])
    pair = np.array([stats.pair_factors.get(k, 1.0) for k in zip(d.gt[wc].tolist(), d.label[wc].tolist())])
    score[wc] = stats.posterior("wrong_class", tie[wc] * d.best[wc] * pair, d.score[wc])
    score[sl] = stats.posterior("sloppy_mask", tie[sl] * np.maximum(0.0, 1 - d.seg[sl] / d.usual[sl]), d.area[sl])
    keep = mis | wc | sl
    lonely = np.flatnonzero(f.real & ~supported)
    near = f.box >= SUPPORT_IOU
    strongest = np.zeros(len(f.g_label))
    np.maximum.at(strongest, f.a_gt[near], f.p_score[f.a_pred[near]])
    cols = _Columns(kind=np.concatenate([d.kind[keep], np.full(len(lonely), "spurious")]),
                    image=np.concatenate([f.p_image[d.p[keep]], f.g_image[lonely]]),
                    annotation=np.concatenate([np.where(mis, -1, d.j)[keep], lonely]),
                    prediction=np.concatenate([d.p[keep], np.full(len(lonely), -1)]),
                    label=np.concatenate([np.where(mis, -1, d.gt - 1)[keep], f.g_label[lonely] - 1]),
                    proposed=np.concatenate([d.label[keep] - 1, np.full(len(lonely), -1)]),
                    score=np.concatenate([score[keep], stats.spurious_scores(f.area[lonely], strongest[lonely])]))
    return cols.take(np.argsort(cols.image, kind="stable"))


def _one_per_annotation(f: _Flat, cols: _Columns) -> _Columns:
    """An annotation is proposed once (several predictions may hit it), with its strongest evidence: by a
    candidate that proposes a fix (a prediction) when there is one, else as spurious. Likewise an unlabelled
    object: predictions of several classes on one spot (box IoU >= MATCH_IOU) are one missing annotation.
    Fills `seen` (the order among equal candidates)."""
    if not len(cols.score):
        return replace(cols, seen=np.zeros(0, int))
    missing = cols.annotation < 0
    spot = np.arange(len(f.p_score))
    spot[cols.prediction[missing]] = _spots(f, cols.prediction[missing])
    group = np.where(missing, len(f.g_label) + _at(spot, cols.prediction, -1), cols.annotation)
    seen = np.arange(len(group))
    pick = np.lexsort((seen, -cols.score, cols.prediction < 0, group))
    starts = np.flatnonzero(np.r_[True, group[pick][1:] != group[pick][:-1]])
    out = cols.take(pick[starts])
    out.score = np.maximum.reduceat(cols.score[pick], starts)
    out.seen = np.minimum.reduceat(seen[pick], starts)
    return out


def _spots(f: _Flat, preds: np.ndarray) -> np.ndarray:
    """For each of `preds` (flat positions), the most confident of them in its image whose box it overlaps
    with IoU >= MATCH_IOU (itself where none does; among equal scores, the first)."""
    if not len(preds):
        return preds
    image = f.p_image[preds]
    order = np.lexsort((preds, -f.p_score[preds], image))      # by image, most confident first
    ranked, image = preds[order], image[order]
    count = np.bincount(image, minlength=len(f.rows))[image]    # per ranked prediction: its image's number
    new = np.r_[True, image[1:] != image[:-1]]
    first = np.maximum.accumulate(np.where(new, np.arange(len(image)), 0))   # position of its image's first
    p = np.repeat(np.arange(len(ranked)), count)                # every ordered pair (q, p) in one image
    q = np.repeat(first, count) + positions_in_groups(count)
    ok = (q < p) & (box_ious(f.p_boxes[ranked[q]], f.p_boxes[ranked[p]]) >= MATCH_IOU)
    spot = np.arange(len(ranked))
    np.minimum.at(spot, p[ok], q[ok])
    out = np.empty(len(preds), int)
    out[order] = ranked[spot]
    return out


def find_candidates(images: list[EvalImage], thresholds: dict | None = None, training_rows=(),
                    reviewed=()) -> list[Candidate]:
    """Every candidate of every image, strongest first. `thresholds`: {1-based class: score} from the run's
    evaluation (a class's F1-best score is what "confident" means for it; CONFIDENT where absent);
    `reviewed`: Candidate.key()s a reviewer marked correct (left out)."""
    thresholds = thresholds or {}
    top = max([int(k) for k in thresholds] + [int(im.pred_labels.max()) for im in images if len(im.pred_labels)] + [0])
    limits = np.full(top + 1, CONFIDENT)
    for label, limit in thresholds.items():
        limits[int(label)] = float(limit)
    f = _flatten(images, limits)
    edges = _quantile_edges(f.area[f.real])
    usual = _usual_mask_iou(f, edges)
    supported = _per_annotation(f, (f.box >= SUPPORT_IOU) & (f.p_score[f.a_pred] >= SUPPORT_SCORE))
    covered = _per_annotation(f, (f.p_label[f.a_pred] == f.g_label[f.a_gt]) & f.half_sure[f.a_pred]
                              & (f.box >= MATCH_IOU))
    d = _judge(f, usual[np.searchsorted(edges, f.area)], covered)
    cols = _one_per_annotation(f, _candidates(f, d, stats_of(f, d, edges, usual, supported), supported))
    return _as_candidates(f, cols, {int(r) for r in training_rows}, set(map(tuple, reviewed)))


def _as_candidates(f: _Flat, cols: _Columns, trained: set, done: set) -> list[Candidate]:
    """Strongest first (then by row and kind, then where they came up), leaving out those reviewed."""
    c = cols.take(np.lexsort((cols.seen, cols.kind, f.rows[cols.image], -cols.score)))
    rows = f.rows[c.image]
    annotation, prediction = _at(f.g_index, c.annotation, -1), _at(f.p_index, c.prediction, -1)
    out = [Candidate(*fields) for fields in zip(c.kind.tolist(), rows.tolist(), c.score.tolist(),
                                                   annotation.tolist(), prediction.tolist(), c.label.tolist(),
                                                   c.proposed.tolist())]
    if done:
        out = [x for x in out if x.key() not in done]
    return [replace(x, training_row=True) if x.row in trained else x for x in out]


def confirmed_by(candidates: list[Candidate], images: list[EvalImage], own: list[Candidate],
                 own_images: list[EvalImage]) -> list[Candidate]:
    """k-fold candidates weighed by the run's own model: each one's score becomes the geometric mean of its
    score and the run model's score for the same annotation (for a missing one: a missing candidate of the run
    model on the same spot, box IoU >= MATCH_IOU), 0 where the run's model proposes nothing there. The run's
    model learnt these labels, errors included, so where it still disagrees the evidence is hard-won; where
    only the fold model disagrees, its weakness explains as much as the label. Those with 0 keep the fold
    model's order, after the rest."""
    by_annotation = {(c.row, c.annotation): c.score for c in own if c.annotation >= 0}
    other = np.array([by_annotation.get((c.row, c.annotation), 0.0) for c in candidates])
    missing = [i for i, c in enumerate(candidates) if c.annotation < 0]
    other[missing] = _same_spot_scores([candidates[i] for i in missing], images,
                                       [c for c in own if c.annotation < 0], own_images)
    score = np.array([c.score for c in candidates])
    weighed = np.sqrt(score * other)
    order = np.lexsort(([c.kind for c in candidates], [c.row for c in candidates], -score, -weighed))
    # positional: dataclasses.replace costs several times more, for every candidate of a large dataset
    return [Candidate(c.kind, c.row, w, c.annotation, c.prediction, c.label, c.proposed, c.training_row)
            for c, w in zip([candidates[i] for i in order.tolist()], weighed[order].tolist())]


def _same_spot_scores(missing: list[Candidate], images: list[EvalImage], own: list[Candidate],
                      own_images: list[EvalImage]) -> np.ndarray:
    """For each missing candidate, the best score of the run model's missing candidates on the same spot of
    the same row (box IoU >= MATCH_IOU), 0 where there is none."""
    boxes = {im.row: im.pred_boxes for im in images}
    own_boxes = {im.row: im.pred_boxes for im in own_images}
    rows = np.array([c.row for c in missing], int)
    by_row = sorted(range(len(own)), key=lambda i: own[i].row)
    own_rows = np.array([own[i].row for i in by_row], int)
    own_box = np.array([own_boxes[own[i].row][own[i].prediction] for i in by_row], float).reshape(-1, 4)
    own_score = np.array([own[i].score for i in by_row], float)
    lo, hi = np.searchsorted(own_rows, rows, "left"), np.searchsorted(own_rows, rows, "right")
    mine = np.repeat(np.arange(len(missing)), hi - lo)        # every (candidate, own one of its row) pair
    theirs = np.repeat(lo, hi - lo) + positions_in_groups(hi - lo)
    box = np.array([boxes[c.row][c.prediction] for c in missing], float).reshape(-1, 4)
    near = box_ious(box[mine], own_box[theirs]) >= MATCH_IOU
    best = np.zeros(len(missing))
    np.maximum.at(best, mine[near], own_score[theirs[near]])
    return best

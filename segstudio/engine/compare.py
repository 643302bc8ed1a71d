"""Run A against run B: per-class AP deltas with bootstrap confidence intervals, from stored evaluations.

Both runs' stored predictions (RUN/eval/predictions.json) are matched once (engine.matching); each of
`resamples` seeded bootstrap draws picks validation images with replacement and recomputes every class's
AP from the same matches, an image drawn k times counting k times (weighted cumulative TP/FP counts, so
a draw costs no matching). When both runs were evaluated on the same images the draws are paired (the
same images for A and B), otherwise each run is resampled on its own and the comparison says so first.
The 95% interval is the 2.5th-97.5th percentile of B - A; a delta is significant when it excludes 0.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segstudio.base.errors import DataError
from segstudio.engine import eval_store
from segstudio.engine.data_changes import data_changes
from segstudio.engine.matching import match_many
from segstudio.engine.pr_curves import IOU_SETTINGS, RECALL_POINTS

LEVEL = 0.95


def _rows_ap(tp_cum: np.ndarray, fp_cum: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """COCO's 101-point AP of each row of weighted cumulative counts (R x n), NaN where n_gt is 0."""
    out = np.full(len(n_gt), np.nan)
    if tp_cum.shape[1] == 0:
        out[n_gt > 0] = 0.0
        return out
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.spacing(1))
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    for r in np.flatnonzero(n_gt > 0):
        idx = np.searchsorted(tp_cum[r] / n_gt[r], RECALL_POINTS, side="left")
        out[r] = np.where(idx < precision.shape[1], precision[r, np.minimum(idx, precision.shape[1] - 1)], 0).mean()
    return out


def class_aps(per_iou: list, label: int, weights: np.ndarray) -> np.ndarray:
    """AP of class `label` (mean over the matches' IoU thresholds) under each row of image weights (R x I)."""
    first = per_iou[0]
    sel = np.flatnonzero(first.pred_label == label)
    idx = sel[np.argsort(-first.pred_score[sel], kind="mergesort")]
    w = weights[:, first.pred_image[idx]]
    real = (first.gt_label == label) & ~first.gt_crowd
    n_gt = weights[:, first.gt_image[real]].sum(1)
    aps = [_rows_ap(np.cumsum(w * m.true_positive[idx], 1), np.cumsum(w * m.false_positive[idx], 1), n_gt)
           for m in per_iou]
    return np.mean(aps, axis=0)


def draw_weights(n_images: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """R x n_images counts: how many times each image is drawn in each bootstrap resample."""
    picks = rng.integers(0, n_images, size=(resamples, n_images))
    return np.stack([np.bincount(p, minlength=n_images) for p in picks]).astype(float)


def _load(run_dir: Path):
    path = Path(run_dir) / "eval" / "predictions.json"
    if not path.is_file():
        raise DataError(f"{Path(run_dir).name} has no stored evaluation; run `segstudio eval {run_dir}` first.")
    return eval_store.load(path)


def _config_diff(a: Path, b: Path) -> dict:
    from segstudio.base.config import config_to_dict  # noqa: PLC0415
    from segstudio.engine.rundir import load_run_config  # noqa: PLC0415

    if not (a / "config.toml").is_file() or not (b / "config.toml").is_file():
        return {}

    def flat(run):
        return {f"{s}.{k}": v for s, values in config_to_dict(load_run_config(run)).items() for k, v in values.items()}
    fa, fb = flat(a), flat(b)
    skip = {"train.run_name", "train.runs_dir"}
    return {k: [fa.get(k), fb.get(k)] for k in sorted(set(fa) | set(fb)) if k not in skip and fa.get(k) != fb.get(k)}


def _interval(deltas: np.ndarray) -> tuple[float, float]:
    finite = deltas[np.isfinite(deltas)]
    if not len(finite):
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return float(lo), float(hi)


def compare_runs(run_a: Path, run_b: Path, *, kind: str = "segm", setting: str = "0.5:0.95",
                 resamples: int = 1000, seed: int = 0, data: bool = True, progress=None, should_stop=None) -> dict:
    """Per-class AP deltas with bootstrap intervals, the settings that differ and (`data`) what changed in the
    data between the dataset versions the runs read (engine.data_changes; `progress(done, total)` in rows)."""
    images_a, names_a = _load(run_a)
    images_b, names_b = _load(run_b)
    if names_a != names_b:
        raise DataError(f"{Path(run_a).name} and {Path(run_b).name} have different classes ({names_a} and "
                        f"{names_b}); compare runs trained on the same classes.")
    notes = []
    paired = [im.row for im in images_a] == [im.row for im in images_b]
    meta = [json.loads((Path(r) / "eval" / "metrics.json").read_text()) for r in (run_a, run_b)
            if (Path(r) / "eval" / "metrics.json").is_file()]
    if not paired or (len(meta) == 2 and meta[0].get("dataset") != meta[1].get("dataset")):
        paired = False
        notes.append("The two runs were evaluated on different validation sets "
                     f"({len(images_a)} and {len(images_b)} images"
                     + (f"; {meta[0].get('dataset')} and {meta[1].get('dataset')}" if len(meta) == 2 else "")
                     + "): the deltas mix model and data differences, and each run is resampled on its own.")
    rng = np.random.default_rng(seed)
    weights_a = draw_weights(len(images_a), resamples, rng)
    weights_b = weights_a if paired else draw_weights(len(images_b), resamples, rng)
    matches_a = match_many(images_a, kind, IOU_SETTINGS[setting])
    matches_b = match_many(images_b, kind, IOU_SETTINGS[setting])
    ones_a, ones_b = np.ones((1, len(images_a))), np.ones((1, len(images_b)))
    per_class, boot_a, boot_b = {}, [], []
    for label, name in enumerate(names_a, 1):
        ap_a, ap_b = class_aps(matches_a, label, ones_a)[0], class_aps(matches_b, label, ones_b)[0]
        if np.isnan(ap_a) and np.isnan(ap_b):
            continue
        ba, bb = class_aps(matches_a, label, weights_a), class_aps(matches_b, label, weights_b)
        boot_a.append(ba)
        boot_b.append(bb)
        lo, hi = _interval(bb - ba)
        per_class[name] = {"a": _round(ap_a), "b": _round(ap_b), "delta": _round(ap_b - ap_a),
                           "ci": [_round(lo), _round(hi)], "significant": bool(lo > 0 or hi < 0)}
    overall = {}
    if boot_a:
        mean_a, mean_b = np.nanmean(np.stack(boot_a), 0), np.nanmean(np.stack(boot_b), 0)
        a = float(np.nanmean([v["a"] for v in per_class.values() if v["a"] is not None]))
        b = float(np.nanmean([v["b"] for v in per_class.values() if v["b"] is not None]))
        lo, hi = _interval(mean_b - mean_a)
        overall = {"a": _round(a), "b": _round(b), "delta": _round(b - a), "ci": [_round(lo), _round(hi)],
                   "significant": bool(lo > 0 or hi < 0)}
    return {"run_a": str(run_a), "run_b": str(run_b), "kind": kind, "iou": setting, "resamples": resamples,
            "seed": seed, "paired": paired, "notes": notes, "overall": overall, "per_class": per_class,
            "config_diff": _config_diff(Path(run_a), Path(run_b)),
            "data": data_changes(Path(run_a), Path(run_b), progress, should_stop) if data else None}


def _round(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)

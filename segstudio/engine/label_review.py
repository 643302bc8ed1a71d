"""Finding a dataset's likely label errors with a trained run: predictions on its rows, then candidates.

`quick`: the run's own model predicts every row. Its training rows are biased towards their labels
(the model learnt them, errors included), so those candidates are flagged.
`k folds`: k models, each trained without one fold of the rows, predict the fold they did not see: every
row is predicted by a model that never learnt its labels. Costs k trainings; `fold_plan` states it. Their
candidates are then weighed by the run's own predictions (label_issues.confirmed_by): a fold model is
weaker than the run's, and a disagreement both models show is the one worth a reviewer's time.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from segstudio.base.errors import DataError
from segstudio.base.files import atomic_write_text
from segstudio.data.mapped import open_mapped
from segstudio.data.splits import Split
from segstudio.engine import rundir, thresholds
from segstudio.engine.evaluate import evaluate_model
from segstudio.engine.label_issues import confirmed_by, find_candidates


def predict_rows(loaded, mapped, rows: list[int], *, batch_size: int = 4, should_stop=None) -> list:
    """EvalImages (predictions beside the stored labels, random transforms off) of `rows`."""
    from segstudio.samples.loader import SegmentationDataset, build_loader  # noqa: PLC0415

    cfg = loaded.cfg
    dataset = SegmentationDataset(mapped, rows, cfg.augment, train=False, seed=cfg.train.seed)
    stored: list = []
    evaluate_model(loaded.model, build_loader(dataset, batch_size, 0, shuffle=False, seed=0), torch.device("cpu"),
                   loaded.class_names, backend=cfg.eval.backend, score_threshold=0.05, should_stop=should_stop,
                   collect=stored)
    return stored


def _open_run_data(loaded):
    """The run's dataset at the state it trained on (data.commit), and every row its query selects."""

    mapped = open_mapped(loaded.cfg.data.url, loaded.cfg.data, endpoint_url=loaded.cfg.data.endpoint_url)
    return mapped, [int(r) for r in mapped.query_rows(loaded.cfg.data.query)]


def folds_of(rows: list[int], k: int, seed: int) -> list[list[int]]:
    """`rows` shuffled with `seed` and dealt into k folds of (nearly) equal size, each sorted."""
    order = np.random.default_rng(seed).permutation(np.asarray(rows, np.int64))
    return [sorted(int(r) for r in order[i::k]) for i in range(k)]


@dataclasses.dataclass
class FoldPlan:
    folds: int
    rows: int
    iterations: int          # per fold
    seconds_per_iteration: float

    def describe(self) -> str:
        minutes = self.folds * self.iterations * self.seconds_per_iteration / 60
        cost = f"about {minutes:.0f} minutes" if minutes >= 1.5 else "about a minute" if minutes >= 0.5 else \
            "under a minute"
        return (f"{self.folds} trainings of {self.iterations:,} iterations each on {self.rows:,} rows, each "
                f"predicting the fold it did not see, checked against the run's own predictions: {cost} of "
                "training at the run's speed.")


def fold_plan(run_dir, folds: int, iterations: int = 0, rows: int | None = None) -> FoldPlan:
    """What k-fold cross-prediction will cost, from the run folder alone (its measured speed and split), before
    anything starts. `iterations` 0: as many per fold as the run trained, so that each fold's model learns
    about what the run's did (a much shorter one is too weak to judge labels); `rows` None: the run's."""
    if folds < 2:
        raise DataError(f"Cross-prediction needs at least 2 folds, not {folds}; 0 folds is the quick option.")
    speeds = [e for e in rundir.read_metrics(run_dir) if e.get("event") == "iteration"]
    per_it = float(np.median([e["elapsed_s"] / max(1, e["iteration"]) for e in speeds[-20:]])) if speeds else 1.0
    if rows is None:
        split = rundir.read_split(run_dir) or {}
        rows = split.get("details", {}).get("num_rows") or len(split.get("train", [])) + len(split.get("val", []))
    return FoldPlan(folds, rows, iterations or (speeds[-1]["iteration"] if speeds else 100), per_it)


def _train_fold(loaded, mapped_rows, held_out, fold: int, iterations: int, work: Path, should_stop, on_event):
    """Train one fold's model (every row but `held_out`) and return it loaded."""
    from segstudio.engine.inference import load_run_model  # noqa: PLC0415
    from segstudio.engine.train import train  # noqa: PLC0415
    from segstudio.engine.train_data import build_train_data  # noqa: PLC0415

    cfg = copy.deepcopy(loaded.cfg)
    cfg.train.runs_dir, cfg.train.run_name = str(work), f"fold{fold + 1}"
    cfg.train.max_iters, cfg.eval.interval_epochs, cfg.train.tensorboard = iterations, 0, False
    cfg.eval.max_images, cfg.eval.val_loss = 1, False   # the fold's own evaluation is not used: its prediction is
    held = set(held_out)
    split = Split(train=[r for r in mapped_rows if r not in held], val=sorted(held), method="fold",
                  details={"fold": fold})
    data = build_train_data(cfg, split=split.to_dict())
    finished = train(cfg, on_event, should_stop, data=data)
    if finished.status != "completed":
        raise DataError(f"Fold {fold + 1} did not finish ({finished.status}: {finished.message}); nothing was "
                        "written.")
    return load_run_model(finished.run_dir, "last")


def _cross_predict(loaded, mapped, rows: list[int], plan: FoldPlan, should_stop, on_event, progress) -> list:
    """Each fold's rows predicted by a model trained on the other folds (in a temporary folder)."""
    images: list = []
    with tempfile.TemporaryDirectory(prefix="segstudio-folds-") as work:
        for fold, held_out in enumerate(folds_of(rows, plan.folds, loaded.cfg.train.seed)):
            if should_stop():
                break
            progress(f"fold {fold + 1}/{plan.folds}: training on {len(rows) - len(held_out):,} rows")
            model = _train_fold(loaded, rows, held_out, fold, plan.iterations, Path(work), should_stop, on_event)
            progress(f"fold {fold + 1}/{plan.folds}: predicting its {len(held_out):,} held-out rows")
            images += predict_rows(model, mapped, held_out, should_stop=should_stop)
    return images


def find_label_issues(run: str, *, folds: int = 0, fold_iterations: int = 0, runs_dir: str = "runs",
                      checkpoint: str = "best", should_stop: Callable[[], bool] = lambda: False,
                      on_event=lambda event: None, progress=lambda text: None) -> tuple[dict, dict]:
    """Candidates for the run's dataset (quick with folds=0, else k-fold) as a JSON-ready dict, and the
    predictions they came from ({row: EvalImage}, for the window's review)."""
    from segstudio.engine.inference import load_run_model  # noqa: PLC0415

    started = time.perf_counter()
    loaded = load_run_model(run, checkpoint, runs_dir)
    mapped, rows = _open_run_data(loaded)
    split = rundir.read_split(loaded.run_dir) or {"train": []}
    if folds:
        plan = fold_plan(loaded.run_dir, folds, fold_iterations, len(rows))   # checked before any prediction
        progress(plan.describe())
    progress(f"predicting {len(rows):,} rows with {loaded.run_dir.name}/{loaded.checkpoint}")
    own = predict_rows(loaded, mapped, rows, should_stop=should_stop)
    if folds:
        images = _cross_predict(loaded, mapped, rows, plan, should_stop, on_event, progress)
        training_rows, mode = [], f"{folds}-fold cross-prediction, weighed by the run's own model"
    else:
        images, training_rows = own, split["train"]
        mode = "quick (the run's own model: candidates on its training rows are biased towards their labels)"
    if should_stop():
        raise DataError("Finding label issues was stopped; nothing was written.")
    confident, source = thresholds.resolve(loaded.run_dir, loaded.class_names)
    candidates = find_candidates(images, confident, training_rows=training_rows,
                                 reviewed=load_reviewed(loaded.run_dir))
    if folds:
        candidates = confirmed_by(candidates, images, find_candidates(own, confident), own)
    return {"run": str(loaded.run_dir), "dataset": mapped.url, "commit": str(mapped.ref), "mode": mode,
            "confidence": source, "rows": len(rows), "class_names": loaded.class_names,
            "note": weak_model_note(images, candidates),
            "seconds": round(time.perf_counter() - started, 1),
            "candidates": [c.to_json() for c in candidates]}, {im.row: im for im in images}


def reviewed_path(run_dir) -> Path:
    return Path(run_dir) / "label_issues" / "reviewed.json"


def load_reviewed(run_dir) -> list[tuple]:
    """Candidate keys a reviewer marked correct for this run (they are not proposed again)."""
    path = reviewed_path(run_dir)
    try:
        return [tuple(k) for k in json.loads(path.read_text())["correct"]] if path.is_file() else []
    except (ValueError, KeyError, TypeError):
        return []


def mark_reviewed(run_dir, keys: list[tuple]) -> None:
    keys = sorted(set(load_reviewed(run_dir)) | {tuple(k) for k in keys})
    atomic_write_text(reviewed_path(run_dir), json.dumps({"correct": [list(k) for k in keys]}) + "\n")


def prediction_mask(image, index: int, height: int, width: int) -> np.ndarray:
    """Prediction `index` of an EvalImage as an HxW bool mask at the dataset row's size (the evaluation
    may have seen the image resized)."""
    import cv2  # noqa: PLC0415
    from pycocotools import mask as mask_utils  # noqa: PLC0415

    mask = mask_utils.decode(image.pred_masks[index]).astype(np.uint8)
    if mask.shape != (height, width):
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


def write_label_issues(result: dict, out: str) -> Path:
    path = Path(out)
    if path.is_dir():
        raise DataError(f"{out} is a folder; give a file name for the candidates, e.g. {path / 'label-issues.json'}.")
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    return path


def weak_model_note(images: list, candidates: list) -> str:
    """A sentence when the model supports under half of the annotations: its candidates say more about
    the model than about the labels."""
    annotations = sum(int((~im.gt_crowd).sum()) for im in images)
    spurious = sum(c.kind == "spurious" for c in candidates)
    if annotations and spurious > annotations / 2:
        return (f"The model supports only {annotations - spurious:,} of {annotations:,} annotations: most candidates "
                "reflect a weak model, not the labels; train longer (or use a better run) and look again.")
    return ""

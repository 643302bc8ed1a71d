"""COCO box and mask AP on un-augmented validation images, through torchmetrics.

torchmetrics' MeanAveragePrecision runs the COCO evaluation of faster-coco-eval or pycocotools, so crowd
regions (iscrowd=1 targets) are ignored the way COCO ignores them, and detections beyond 100 per image
are cut as COCO's maxDets does. Under torch.distributed, compute() gathers every rank's images.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import torch

from segstudio.engine.eval_store import make_image

SUMMARY_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_100")


def make_metric(backend: str = "faster_coco_eval"):
    from torchmetrics.detection import MeanAveragePrecision  # noqa: PLC0415

    return MeanAveragePrecision(iou_type=("bbox", "segm"), backend=backend, class_metrics=True)


def prediction_for_metric(output: dict, score_threshold: float = 0.0) -> dict:
    """Model output (eval mode) -> the metric's prediction dict: masks thresholded at 0.5 as bool."""
    keep = output["scores"] >= score_threshold
    masks = output["masks"] > 0.5            # a quarter of the bytes to select from (image-size masks)
    if masks.ndim == 4:
        masks = masks[:, 0]
    if not bool(keep.all()):
        masks = masks[keep]
    return {"boxes": output["boxes"][keep].detach().float().cpu(),
            "scores": output["scores"][keep].detach().float().cpu(),
            "labels": output["labels"][keep].detach().cpu(),
            "masks": masks.cpu()}


def target_for_metric(target: dict) -> dict:
    """Evaluation target (labels 1-based, uint8 masks, optional iscrowd) -> the metric's target dict."""
    n = len(target["labels"])
    iscrowd = target.get("iscrowd")
    iscrowd = torch.zeros(n, dtype=torch.int64) if iscrowd is None else torch.as_tensor(iscrowd).long()
    return {"boxes": torch.as_tensor(target["boxes"]).float().reshape(-1, 4).cpu(),
            "labels": torch.as_tensor(target["labels"]).long().cpu(),
            "masks": torch.as_tensor(target["masks"]).bool().cpu(),
            "iscrowd": iscrowd.cpu()}


def summarize(result: dict, class_names: list[str]) -> tuple[dict, dict]:
    """torchmetrics' result -> (flat metrics of floats, per-class {name: {bbox_ap, segm_ap}})."""
    metrics = {}
    for iou in ("bbox", "segm"):
        for key in SUMMARY_KEYS:
            value = result.get(f"{iou}_{key}")
            if value is not None:
                metrics[f"{iou}_{key}"] = float(value)
    per_class = {}
    classes = result.get("classes")
    if classes is not None:
        ids = torch.atleast_1d(classes).tolist()
        for iou in ("bbox", "segm"):
            values = torch.atleast_1d(result.get(f"{iou}_map_per_class", torch.tensor([]))).tolist()
            for cid, value in zip(ids, values):
                name = class_names[cid - 1] if 0 < cid <= len(class_names) else str(cid)
                per_class.setdefault(name, {})[f"{iou}_ap"] = float(value)
    return metrics, per_class


def _metric_rles(state, count: int) -> list | None:
    """The masks of the last `count` images as the metric RLE-encoded them in update() (per image a tuple of
    ((h, w), counts)), as COCO RLE dicts, so the stored predictions cost no second encoding; None when this
    torchmetrics keeps them another way (the masks are then encoded again)."""
    try:
        items = list(state[-count:]) if count and len(state) >= count else None
        if items is None:
            return None
        return [[{"size": [int(size[0]), int(size[1])], "counts": counts.decode("ascii")
                  if isinstance(counts, bytes) else str(counts)} for size, counts in item] for item in items]
    except (TypeError, ValueError, IndexError, AttributeError, UnicodeDecodeError):
        return None


@torch.no_grad()
def evaluate_model(model, batches: Iterable, device: torch.device, class_names: list[str], *,
                   backend: str = "faster_coco_eval", score_threshold: float = 0.05,
                   max_images: int = 0, should_stop: Callable[[], bool] | None = None,
                   amp: bool = False, collect: list | None = None,
                   progress: Callable[[int], None] | None = None) -> tuple[dict, dict, float]:
    """Run `model` over batches of (images, targets, rows) and return (metrics, per_class, seconds).

    Images are float CxHxW in [0,1] at the dataset's original size; targets hold 1-based labels. With
    `collect` (a list), each image's predictions and ground truth are appended to it as
    engine.eval_store.EvalImage records, for the analyses that follow this same pass. `progress(images seen)`
    after each batch."""
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    metric = make_metric(backend)
    seen = 0
    try:
        for images, targets, rows in batches:
            if should_stop is not None and should_stop():
                break
            images = [img.to(device, non_blocking=True) for img in images]
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                outputs = model(images)
            preds = [prediction_for_metric(o, score_threshold) for o in outputs]
            truths = [target_for_metric(t) for t in targets]
            metric.update(preds, truths)
            if collect is not None:
                start, n = len(collect), len(preds)
                pred_rles = _metric_rles(getattr(metric, "detection_mask", None), n)
                gt_rles = _metric_rles(getattr(metric, "groundtruth_mask", None), n)
                collect.extend([make_image(start + i, row, p, t, pred_rles[i] if pred_rles else None,
                                           gt_rles[i] if gt_rles else None, target.get("instances"))
                                for i, (p, t, row, target) in enumerate(zip(preds, truths, rows, targets))])
            seen += len(images)
            if progress is not None:
                progress(seen)
            if max_images and seen >= max_images:
                break
        # Nothing seen (stopped at once, or an empty shard): no metric rather than COCO's -1 placeholders.
        # (Under torchrun every rank takes part in the gather inside compute(), seen or not.)
        gather = torch.distributed.is_available() and torch.distributed.is_initialized()
        metrics, per_class = summarize(metric.compute(), class_names) if seen or gather else ({}, {})
    finally:
        model.train(was_training)
    return metrics, per_class, time.perf_counter() - started

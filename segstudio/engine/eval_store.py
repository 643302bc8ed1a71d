"""The predictions of one evaluation pass, kept so every analysis reads them instead of predicting again.

An `EvalImage` holds one validation image's predictions and ground truth, masks as COCO RLE (what
pycocotools computes IoUs on), boxes as xyxy pixels, labels counted from 1 as the model numbers them.
`collect(outputs, targets, rows)` turns a batch of model outputs into records during the evaluation the
COCO AP already makes; `save`/`load` write and read them as RUN/eval/predictions.json (plain JSON).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segstudio.base.files import atomic_write_text

FORMAT = 1


def encode_masks(masks) -> list[dict]:
    """N x H x W boolean masks (numpy or torch) -> COCO RLE dicts with str counts."""
    from pycocotools import mask as mask_utils  # noqa: PLC0415

    masks = np.asarray(masks, dtype=np.uint8)
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


@dataclass
class EvalImage:
    image_id: int                 # position in the evaluation (0, 1, ...), the id COCO sees
    row: int                      # the dataset row it came from
    height: int
    width: int
    pred_boxes: np.ndarray        # P x 4 xyxy float
    pred_scores: np.ndarray       # P float
    pred_labels: np.ndarray       # P int, 1-based
    pred_masks: list              # P RLE dicts
    gt_boxes: np.ndarray          # G x 4 xyxy float
    gt_labels: np.ndarray         # G int, 1-based
    gt_crowd: np.ndarray          # G bool
    gt_masks: list                # G RLE dicts
    # G int: each one's index among its row's stored instances (the evaluation leaves out empty, tiny and
    # filtered ones, so the G are not always the row's first G); None: 0..G-1
    gt_index: np.ndarray | None = None
    cache: dict = field(default_factory=dict, repr=False, compare=False)   # IoU matrices, by kind

    def __post_init__(self):
        if self.gt_index is None:
            self.gt_index = np.arange(len(self.gt_labels))

    def to_json(self) -> dict:
        return {"image_id": self.image_id, "row": self.row, "height": self.height, "width": self.width,
                "pred": {"boxes": np.round(self.pred_boxes, 2).tolist(),
                         "scores": np.round(self.pred_scores, 5).tolist(),
                         "labels": self.pred_labels.tolist(), "masks": self.pred_masks},
                "gt": {"boxes": np.round(self.gt_boxes, 2).tolist(), "labels": self.gt_labels.tolist(),
                       "crowd": self.gt_crowd.astype(int).tolist(), "masks": self.gt_masks,
                       "index": np.asarray(self.gt_index).tolist()}}

    @classmethod
    def from_json(cls, d: dict) -> "EvalImage":
        p, g = d["pred"], d["gt"]
        return cls(d["image_id"], d["row"], d["height"], d["width"],
                   np.asarray(p["boxes"], float).reshape(-1, 4), np.asarray(p["scores"], float),
                   np.asarray(p["labels"], int), list(p["masks"]),
                   np.asarray(g["boxes"], float).reshape(-1, 4), np.asarray(g["labels"], int),
                   np.asarray(g["crowd"], bool), list(g["masks"]),
                   np.asarray(g["index"], int) if "index" in g else None)


def make_image(image_id: int, row: int, pred: dict, target: dict, pred_rles: list | None = None,
               gt_rles: list | None = None, instances=None) -> EvalImage:
    """One image from the metric's prediction and target dicts (engine.evaluate's prediction_for_metric,
    target_for_metric: torch tensors, boolean masks); masks already RLE-encoded can be passed in;
    `instances`: the target's stored instance indices (the sample's target["instances"])."""
    masks = target["masks"]
    height, width = (int(masks.shape[-2]), int(masks.shape[-1])) if masks.ndim == 3 else (0, 0)
    if not height:
        height, width = (int(pred["masks"].shape[-2]), int(pred["masks"].shape[-1])) if pred["masks"].ndim == 3 \
            else (0, 0)
    return EvalImage(image_id, int(row), height, width,
                     pred["boxes"].numpy().astype(float).reshape(-1, 4), pred["scores"].numpy().astype(float),
                     pred["labels"].numpy().astype(int),
                     pred_rles if _fits(pred_rles, pred["masks"]) else encode_masks(pred["masks"].numpy()),
                     target["boxes"].numpy().astype(float).reshape(-1, 4), target["labels"].numpy().astype(int),
                     target["iscrowd"].numpy().astype(bool),
                     gt_rles if _fits(gt_rles, target["masks"]) else encode_masks(target["masks"].numpy()),
                     None if instances is None else np.asarray(instances, int).reshape(-1))


def _fits(rles: list | None, masks) -> bool:
    """RLEs given for exactly these masks (count and size)."""
    if rles is None or len(rles) != len(masks):
        return False
    return all(list(r["size"]) == [int(masks.shape[-2]), int(masks.shape[-1])] for r in rles)


def save(images: list[EvalImage], class_names: list[str], path: Path) -> None:
    data = {"format": FORMAT, "class_names": list(class_names), "images": [im.to_json() for im in images]}
    atomic_write_text(Path(path), json.dumps(data, separators=(",", ":")) + "\n")


def load(path: Path) -> tuple[list[EvalImage], list[str]]:
    data = json.loads(Path(path).read_text())
    return [EvalImage.from_json(d) for d in data["images"]], list(data["class_names"])

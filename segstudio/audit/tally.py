"""What augmentation did to the instances of one sample, and the per-class sums over many samples.

`sample_stats(raw, prepared, anchors)` runs where the sample was prepared (a loader worker) and returns
a few small arrays: labels, box sides, mask areas and anchor coverage before and after, and the
instances dropped with their reason code. "Before" is the row as the model would get it without
augmentation (the model's own resize of the original image, as in evaluation); "after" is the
augmented sample as the model gets it (again through the model's resize, usually a no-op). Sizes are in
the model's input pixels. `AuditTally.add` sums them per class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segstudio.samples.augment import DROP_REASONS

# Box side (square root of the box area, model input pixels): bin edges. 32 and 96 are COCO's
# small/medium/large bounds (areas 32² and 96²); the powers of two line up with the anchor sizes.
SIDE_EDGES = (0, 8, 16, 32, 64, 96, 128, 256, 512)
AREA_EDGES = tuple(e * e for e in SIDE_EDGES)   # mask area, px²: the same bins squared (COCO's 32², 96² among them)
COCO_BOUNDS = (32 * 32, 96 * 96)          # mask area, px²: small below the first, large from the second
COCO_NAMES = ("small", "medium", "large")
EXAMPLES = 20                              # rows kept as examples of samples left empty


def _sides_areas(boxes: np.ndarray, mask_areas: np.ndarray, area_scale: float) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    side = np.sqrt(np.clip(b[:, 2] - b[:, 0], 0, None).astype(np.float64) * np.clip(b[:, 3] - b[:, 1], 0, None))
    area = np.asarray(mask_areas, np.float64) * area_scale
    # to 1/1000 px: Albumentations' normalised boxes come back as 16.000002, which would move a 32 px box
    # under the 32 px bound
    return np.round(side, 3), np.round(area, 3)


def _mask_areas(masks: np.ndarray) -> np.ndarray:
    """Pixels per mask (masks are 0/1)."""
    n, h, w = masks.shape
    if n == 0:
        return np.zeros(0, np.int64)
    hwn = np.moveaxis(masks, 0, 2)
    if hwn.flags.c_contiguous:      # stored HxWxN: sum over rows first (contiguous), then over columns
        return hwn.reshape(h, w * n).sum(axis=0, dtype=np.int64).reshape(w, n).sum(axis=0)
    return np.ascontiguousarray(masks).reshape(n, -1).sum(axis=1, dtype=np.int64)


def _measure(labels, boxes, masks, height: int, width: int, anchors) -> dict:
    model_boxes, area_scale, (h, w) = anchors.to_input(boxes, height, width)
    side, area = _sides_areas(model_boxes, _mask_areas(masks), area_scale)
    covered, reachable = anchors.coverage(model_boxes, h, w)
    return {"labels": np.asarray(labels, np.int64), "side": side, "area": area, "covered": covered,
            "reachable": reachable}


def row_stats(raw, anchors) -> dict:
    """The row's figures without augmentation (the same for every draw of the row)."""
    h0, w0 = raw.image.shape[:2]
    return _measure(raw.labels, raw.boxes, raw.masks, h0, w0, anchors)


def sample_stats(raw, prepared, anchors, draw: int = 0, before: dict | None = None) -> dict:
    """One sample's figures (small arrays: they travel back from the loader workers); `before` is the
    row's row_stats when already measured."""
    before = row_stats(raw, anchors) if before is None else before
    t = prepared.target
    h1, w1 = prepared.image.shape[-2:]
    after = _measure(t["labels"].numpy() - 1, t["boxes"].numpy(), t["masks"].numpy(), h1, w1, anchors)
    dropped = [(int(d["label"]), d["code"]) for d in prepared.report.get("dropped", [])]
    return {"row": int(raw.index), "draw": int(draw), "before": before, "after": after, "dropped": dropped}


def _hist(values: np.ndarray, edges=SIDE_EDGES) -> np.ndarray:
    return np.searchsorted(np.asarray(edges[1:]), values, side="right")


def _coco(areas: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(COCO_BOUNDS), areas, side="right")


@dataclass
class AuditTally:
    """Per-class sums over the audited samples (arrays indexed by class)."""

    num_classes: int
    samples: int = 0
    empty_before: int = 0          # samples whose row has no instance at all
    emptied: int = 0               # samples with instances before and none after augmentation
    emptied_rows: list = field(default_factory=list)   # (row, draw) examples
    arrays: dict = field(default_factory=dict)

    def __post_init__(self):
        c, bins = self.num_classes, len(SIDE_EDGES)
        shapes = {"before": (c,), "after": (c,), "after_weighted": (c,), "before_weighted": (c,),
                  "covered_before": (c,), "covered_after": (c,),
                  "reachable_before": (c,), "reachable_after": (c,),
                  "side_before": (c, bins), "side_after": (c, bins), "area_before": (c, bins), "area_after": (c, bins),
                  "coco_before": (c, 3), "coco_after": (c, 3)}
        shapes.update({f"dropped_{code}": (c,) for code in DROP_REASONS})
        for name, shape in shapes.items():
            self.arrays.setdefault(name, np.zeros(shape, np.float64))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def add(self, stats: dict, weight: float = 1.0) -> None:
        """Add one sample; `weight` is its row's repeat factor (1 without the repeat-factor sampler)."""
        a, c = self.arrays, self.num_classes
        self.samples += 1
        for when in ("before", "after"):
            s = stats[when]
            labels = s["labels"]
            ok = (labels >= 0) & (labels < c)    # labels outside the class list are the pre-flight's business
            lab = labels[ok]
            np.add.at(a[when], lab, 1)
            np.add.at(a[f"{when}_weighted"], lab, weight)
            np.add.at(a[f"covered_{when}"], lab[s["covered"][ok]], 1)
            np.add.at(a[f"reachable_{when}"], lab[s["reachable"][ok]], 1)
            np.add.at(a[f"side_{when}"], (lab, _hist(s["side"][ok])), 1)
            np.add.at(a[f"area_{when}"], (lab, _hist(s["area"][ok], AREA_EDGES)), 1)
            np.add.at(a[f"coco_{when}"], (lab, _coco(s["area"][ok])), 1)
        for label, code in stats["dropped"]:
            if 0 <= label < c:
                a[f"dropped_{code}"][label] += 1
        n_before, n_after = len(stats["before"]["labels"]), len(stats["after"]["labels"])
        self.empty_before += n_before == 0
        if n_before and not n_after:
            self.emptied += 1
            if len(self.emptied_rows) < EXAMPLES:
                self.emptied_rows.append((stats["row"], stats["draw"]))

    def dropped(self, code: str) -> np.ndarray:
        return self.arrays[f"dropped_{code}"]

    def to_dict(self) -> dict:
        return {"num_classes": self.num_classes, "samples": self.samples, "empty_before": self.empty_before,
                "emptied": self.emptied, "emptied_rows": [list(r) for r in self.emptied_rows],
                "arrays": {k: v.tolist() for k, v in self.arrays.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "AuditTally":
        arrays = {k: np.asarray(v, np.float64) for k, v in d["arrays"].items()}
        return cls(int(d["num_classes"]), int(d["samples"]), int(d["empty_before"]), int(d["emptied"]),
                   [tuple(r) for r in d["emptied_rows"]], arrays)

"""Which ground-truth boxes the model's region proposal network can match at its positive IoU threshold.

`AnchorSetup.for_config(cfg)` reads what the configured model really uses, from the model that
`model.build_model` builds (no weights read): its AnchorGenerator's sizes and aspect ratios, the RPN
Matcher's positive threshold, the input transform's min/max size and padding, and the backbone's feature
strides (measured once on a probe image). It holds plain values, so it pickles to loader workers.

For one image it then does what torchvision does: resize the image as GeneralizedRCNNTransform does
(scale = min(min_size / short side, max_size / long side), sizes floored), pad to a multiple of
size_divisible, lay the AnchorGenerator's templates on feature-map grids of the backbone's sizes (its
grid_anchors, in numpy), and match them by torchvision's Matcher rule. A box counts as covered when at
least one anchor is assigned to it as a positive at the threshold (torchvision's low-quality rule, which
also hands every box its best anchors whatever their IoU, is left out: those matches train poorly).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

_PROBE = 256   # a multiple of 64: every feature map divides it exactly
_CHUNK = 1 << 20   # anchor-box pairs per IoU product (4 MB a float32 array)
_SETUPS: dict = {}  # model settings -> AnchorSetup, this process


@dataclass(frozen=True)
class AnchorSetup:
    sizes: tuple                  # per feature map, the anchor sizes (AnchorGenerator's `sizes`)
    aspect_ratios: tuple          # per feature map
    strides: tuple                # per feature map, in padded input pixels
    min_size: int
    max_size: int
    size_divisible: int = 32
    positive_iou: float = 0.7
    cell_anchors: tuple = ()      # per feature map, the AnchorGenerator's anchor templates (x1, y1, x2, y2)
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def for_config(cls, cfg) -> "AnchorSetup":
        """The anchors of the model `cfg.model` describes at input size `cfg.augment.image_size` (built once
        per model settings in a process: a second audit, or the window's next one, skips the build)."""
        import json  # noqa: PLC0415

        model = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k != "weights"}
        key = json.dumps([model, cfg.augment.image_size], sort_keys=True, default=str)
        if key not in _SETUPS:
            _SETUPS[key] = cls._build(cfg)
        return _SETUPS[key]

    @classmethod
    def _build(cls, cfg) -> "AnchorSetup":
        import torch  # noqa: PLC0415

        from segstudio.models.maskrcnn import build_model  # noqa: PLC0415

        model = build_model(cfg.model, 2, cfg.augment.image_size, load_weights=False).eval()
        with torch.no_grad():
            features = model.backbone(torch.zeros(1, 3, _PROBE, _PROBE))
        strides = tuple(_PROBE // int(f.shape[-1]) for f in features.values())
        gen, tr = model.rpn.anchor_generator, model.transform
        cells = tuple(tuple(tuple(float(v) for v in a) for a in level.tolist()) for level in gen.cell_anchors)
        return cls(tuple(tuple(s) for s in gen.sizes), tuple(tuple(a) for a in gen.aspect_ratios), strides,
                   int(tr.min_size[-1]), int(tr.max_size), int(tr.size_divisible),
                   float(model.rpn.proposal_matcher.high_threshold), cells)

    def __getstate__(self):
        return dict(self.__dict__, _cache={})   # workers lay their own grids: no megabytes through the pipe

    def to_dict(self) -> dict:
        return {"sizes": [list(s) for s in self.sizes], "aspect_ratios": [list(a) for a in self.aspect_ratios],
                "strides": list(self.strides), "min_size": self.min_size, "max_size": self.max_size,
                "size_divisible": self.size_divisible, "positive_iou": self.positive_iou}

    @property
    def all_sizes(self) -> list[int]:
        """The distinct anchor sizes (square side, pixels of the model input), smallest first."""
        return sorted({int(s) for level in self.sizes for s in level})

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the image as the model resizes it (before padding)."""
        scale = min(self.min_size / min(height, width), self.max_size / max(height, width))
        return int(math.floor(height * scale)), int(math.floor(width * scale))

    def to_input(self, boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, tuple]:
        """Boxes of a height x width image -> (boxes in model input pixels, area scale, input size)."""
        h, w = self.input_size(height, width)
        sy, sx = h / height, w / width
        return np.asarray(boxes, np.float32).reshape(-1, 4) * np.float32([sx, sy, sx, sy]), sy * sx, (h, w)

    def anchors(self, height: int, width: int):
        """(torchvision's anchors as an Ax4 xyxy float32 array, their areas) for a model input of height x
        width (unpadded)."""
        d = self.size_divisible
        padded = (int(math.ceil(height / d) * d), int(math.ceil(width / d) * d))
        anchors = self._cache.get(padded)
        if anchors is None:
            anchors = _generate(self, padded)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[padded] = anchors
        return anchors

    def covered(self, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
        """Per box (model input pixels, xyxy), whether some anchor is its positive match."""
        return self.coverage(boxes, height, width)[0]

    def coverage(self, boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per box (model input pixels, xyxy): (some anchor is its positive match, some anchor reaches the
        positive IoU with it). The first is torchvision's Matcher rule (each anchor goes to the box of
        highest IoU, positive from the threshold on); the second differs only where boxes overlap and an
        anchor goes to the other box. In numpy: torch's thread pool costs more than these small products."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        covered, reachable = np.zeros(len(boxes), bool), np.zeros(len(boxes), bool)
        if not len(boxes):
            return covered, reachable
        anchors, areas = self.anchors(height, width)
        # IoU <= smaller area / larger area, so only anchors within that area ratio of some box can reach
        # the threshold; the others are negatives for every box and change no match.
        box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        ordered = np.sort(box_areas)
        lo = np.searchsorted(ordered, areas * self.positive_iou, side="left")
        hi = np.searchsorted(ordered, areas / self.positive_iou, side="right")
        keep = hi > lo
        a, a_area = anchors[keep], areas[keep]
        step = max(1, _CHUNK // len(boxes))    # anchors x boxes floats per product: memory stays bounded
        for start in range(0, len(a), step):
            iou = _iou(a[start:start + step], a_area[start:start + step], boxes, box_areas)
            best = iou.argmax(axis=1)                  # per anchor, its box (the Matcher's max over boxes)
            positive = iou[np.arange(len(iou)), best] >= self.positive_iou
            covered[best[positive]] = True
            reachable |= iou.max(axis=0) >= self.positive_iou
        return covered, reachable


def _iou(anchors: np.ndarray, anchor_areas: np.ndarray, boxes: np.ndarray, box_areas: np.ndarray) -> np.ndarray:
    iw = np.minimum(anchors[:, None, 2], boxes[None, :, 2]) - np.maximum(anchors[:, None, 0], boxes[None, :, 0])
    ih = np.minimum(anchors[:, None, 3], boxes[None, :, 3]) - np.maximum(anchors[:, None, 1], boxes[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    return inter / (anchor_areas[:, None] + box_areas[None, :] - inter)


def _generate(setup: AnchorSetup, padded: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """AnchorGenerator.grid_anchors in numpy, on the generator's own templates: each feature map's grid
    (its stride is the padded size // the map's size, as torchvision computes it) plus each template.
    Loader workers then need no torchvision.models.detection (3 s of imports per worker)."""
    h, w = padded
    out = []
    for stride, cells in zip(setup.strides, setup.cell_anchors):
        fh, fw = -(-h // stride), -(-w // stride)           # the backbone's feature map size
        sy, sx = h // fh, w // fw
        ys, xs = np.meshgrid(np.arange(fh, dtype=np.float32) * sy, np.arange(fw, dtype=np.float32) * sx,
                             indexing="ij")
        shifts = np.stack([xs.ravel(), ys.ravel(), xs.ravel(), ys.ravel()], axis=1)
        out.append((shifts[:, None, :] + np.asarray(cells, np.float32)[None, :, :]).reshape(-1, 4))
    anchors = np.concatenate(out)
    return anchors, (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])

"""One path from a dataset row to model input, used by preview, training and evaluation.

`prepare_sample(raw, pipeline, seed)` runs the Albumentations pipeline on a RawSample and returns the
image as float32 CxHxW in [0, 1] plus a torchvision Mask R-CNN target whose masks, boxes and labels
always have equal length, together with a report of what was dropped and which parameters each
transform applied. The random state is set from the seed alone, so the same (seed) gives the same pixels
in any process: `sample_seed(run_seed, epoch, row)` is how the loader and the preview agree.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field

import albumentations as A
import numpy as np
import torch

from segstudio.base.errors import ConfigError
from segstudio.data.sample import RawSample, boxes_from_masks
from segstudio.samples.augment_presets import resolve_spec
from segstudio.samples.augment_spec import loosens_boxes, validate_spec
from segstudio.samples.model_io import image_tensor

MIN_BOX_SIDE = 1.0  # pixels; Mask R-CNN rejects boxes without positive width and height
_ZERO_SIDE = 1e-3   # pixels; Albumentations drops boxes thinner than this (none survive MIN_BOX_SIDE anyway)
try:  # raised when a crop is larger than the image; it is not a ValueError
    from albumentations.augmentations.crops.transforms import CropSizeError
except ImportError:  # pragma: no cover - other Albumentations versions
    CropSizeError = ValueError
_SETTING_ERRORS = (ValueError, CropSizeError)   # a transform's settings do not fit this image


@dataclass
class Pipeline:
    """A built, picklable pipeline: the Albumentations Compose plus how to post-process its output.

    prepare_sample sets its random state per call, so use one Pipeline per thread."""
    compose: A.Compose
    spec: list[dict]
    boxes_from_masks: bool
    train: bool = True
    keep_crowd: bool = False   # evaluation keeps crowd regions (flagged in target["iscrowd"])
    min_area: float = 0.0      # the box filters Albumentations applies (to name the one that dropped a box)
    min_visibility: float = 0.0


@dataclass
class PreparedSample:
    image: torch.Tensor                          # float32 CxHxW in [0, 1]
    target: dict[str, torch.Tensor]              # boxes, labels (class + 1), masks, image_id, instances
    report: dict[str, list] = field(default_factory=dict)   # dropped, applied
    row: int = -1


def sample_seed(run_seed: int, epoch: int, row: int) -> int:
    """A 32-bit seed that depends only on (run seed, epoch, row): identical in every worker and process."""
    return int(np.random.SeedSequence([int(run_seed), int(epoch), int(row)]).generate_state(1)[0])


def build_pipeline(aug_cfg, train: bool = True, keep_crowd: bool | None = None) -> Pipeline:
    """Build the pipeline a config describes; with train=False nothing random runs (evaluation)."""
    spec = resolve_spec(aug_cfg) if train else []
    transforms = validate_spec(spec)
    # min_width/min_height: with min_area and min_visibility both 0, a box left wholly outside a crop is
    # clipped to zero width, passes Albumentations' filter and then fails its own check (a ValueError).
    bbox_params = A.BboxParams(format="pascal_voc", label_fields=["instance_ids"],
                               min_area=aug_cfg.min_area if train else 0.0,
                               min_visibility=aug_cfg.min_visibility if train else 0.0,
                               min_width=_ZERO_SIDE, min_height=_ZERO_SIDE,
                               clip=True, filter_invalid_bboxes=True, check_each_transform=False)
    # Masks travel as one coordinate map (see _coordinate_map), resampled nearest-neighbour.
    with warnings.catch_warnings():  # an empty pipeline "has no transform for bboxes": that is fine
        warnings.simplefilter("ignore", UserWarning)
        # is_check_shapes=False: the coordinate map is made from the image's own shape
        compose = A.Compose(transforms, bbox_params=bbox_params, save_applied_params=True,
                            mask_interpolation=0, is_check_shapes=False)
    mode = aug_cfg.boxes_from_masks
    from_masks = mode == "always" or (mode == "auto" and loosens_boxes(spec))
    return Pipeline(compose, spec, from_masks, train, (not train) if keep_crowd is None else keep_crowd,
                    aug_cfg.min_area if train else 0.0, aug_cfg.min_visibility if train else 0.0)


# The reason codes of dropped instances (the audit counts them; `reason` is the sentence for people).
DROP_REASONS = {
    "crowd": "crowd region (not trained on)",
    "invalid": "box under 1 px inside the image (before the transforms)",
    "outside": "outside the picture after the transforms",
    "min_area": "box smaller than augment.min_area after the transforms",
    "min_visibility": "less than augment.min_visibility of the box left inside the picture",
    "mask_empty": "mask empty (before or after the transforms)",
    "tiny_box": "box under 1 px after the transforms",
}


def _drop(report: dict, ids, labels, reason: str, code: str) -> None:
    report["dropped"].extend({"instance": int(i), "label": int(labels[i]), "reason": reason, "code": code}
                             for i in ids)


def _valid_input(raw: RawSample, keep_crowd: bool, report: dict) -> np.ndarray:
    """Indices of instances worth transforming: not crowd (in training), box of positive size.

    Empty masks are found after the transforms, on the small output (cheaper than on the input)."""
    n, (h, w) = raw.num_instances, raw.image.shape[:2]
    keep = np.ones(n, bool)
    if not keep_crowd:
        crowd = np.asarray(raw.iscrowd, bool)
        _drop(report, np.flatnonzero(crowd), raw.labels, "crowd", "crowd")
        keep &= ~crowd
    b = np.clip(raw.boxes, 0, [w, h, w, h]) if n else raw.boxes.reshape(0, 4)
    small = keep & ~((b[:, 2] - b[:, 0] >= MIN_BOX_SIDE) & (b[:, 3] - b[:, 1] >= MIN_BOX_SIDE))  # NaN too
    _drop(report, np.flatnonzero(small), raw.labels, "box under 1 px inside the image", "invalid")
    keep &= ~small
    return np.flatnonzero(keep)


def _applied(result: dict) -> list[dict]:
    return [{"name": name, "params": params} for name, params in result.get("applied_transforms", [])]


_COORDS: dict[tuple[int, int], np.ndarray] = {}
_CANVAS_BITS = 11
_CANVAS = 1 << _CANVAS_BITS    # one shared map covers every image up to 2048 px a side (16 MB a process)
_canvas: np.ndarray | None = None


def _coordinate_map(h: int, w: int) -> tuple[np.ndarray, int]:
    """(map, stride): per pixel 1 + y * stride + x as float32 (exact: below 2**24), 0 then marking pixels
    that came from outside the image.

    The geometric transforms move this map instead of N masks (nearest-neighbour, fill 0), and the masks
    are then gathered through it: one warp per sample instead of one per instance, and only survivors
    are gathered. One channel gives exactly the pixels OpenCV gives a uint8 mask (tested). Images up to
    2048 px share one precomputed canvas (a view, stride 2048); larger ones get their own map, in two
    channels (x + 1, y + 1) from 2**24 pixels on, where OpenCV may pick a neighbouring pixel at rare edges.
    """
    global _canvas
    if h <= _CANVAS and w <= _CANVAS:
        if _canvas is None:
            _canvas = np.arange(1, _CANVAS * _CANVAS + 1, dtype=np.float32).reshape(_CANVAS, _CANVAS)
            _canvas.setflags(write=False)   # shared between samples: no transform may write into it
        return _canvas[:h, :w], _CANVAS
    coords = _COORDS.get((h, w))
    if coords is None:
        if h * w < 2 ** 24:
            coords = np.arange(1, h * w + 1, dtype=np.float32).reshape(h, w)
        else:   # 16.7 megapixels or more: (x + 1, y + 1) in two channels, each exact
            coords = np.empty((h, w, 2), np.float32)
            coords[:, :, 0] = np.arange(1, w + 1, dtype=np.float32)[None, :]
            coords[:, :, 1] = np.arange(1, h + 1, dtype=np.float32)[:, None]
        coords.setflags(write=False)
        _COORDS.clear()   # large images are rare: keep only the last shape
        _COORDS[(h, w)] = coords
    return coords, w


def _run_compose(pipeline: Pipeline, raw: RawSample, idx: np.ndarray, seed: int):
    """-> (Albumentations result, the coordinate map passed in, its stride)."""
    # Shared generators across the transforms (set_random_seed would give each the same stream).
    pipeline.compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
    coords, stride = _coordinate_map(*raw.image.shape[:2])
    try:
        result = pipeline.compose(image=raw.image, mask=coords, bboxes=raw.boxes[idx].reshape(-1, 4),
                                  instance_ids=idx.astype(np.float32))
    except _SETTING_ERRORS as exc:   # settings this image cannot take, e.g. a crop larger than the image
        h, w = raw.image.shape[:2]
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"The augmentation cannot be applied to row {raw.index} ({w}x{h} pixels): {reason}; "
                          "change augment.transforms (e.g. a smaller crop, or pad_if_needed = true).") from None
    return result, coords, stride


def _gather_masks(masks: np.ndarray, kept: np.ndarray, moved: np.ndarray, stride: int) -> np.ndarray:
    """Masks of the survivors `kept` (Albumentations never filters masks) warped by the moved coordinates."""
    h, w = moved.shape[:2]
    n, height, width = masks.shape
    if len(kept) == 0:
        return np.zeros((0, h, w), np.uint8)
    if moved.ndim == 3:             # two-channel map of a very large image
        inside = moved[:, :, 0] > 0
        x, y = (np.maximum(moved[:, :, c].astype(np.int64) - 1, 0).reshape(-1) for c in (0, 1))
        flat = y * width + x
    else:
        code = moved.astype(np.int32).reshape(-1) - 1      # exact: below 2**24
        inside = (code >= 0).reshape(h, w)
        np.maximum(code, 0, out=code)
        # the canvas stride is a power of two: shift and mask instead of integer division
        flat = code if stride == width else (code >> _CANVAS_BITS) * width + (code & (_CANVAS - 1))
    hwn = np.moveaxis(masks, 0, 2)
    if hwn.flags.c_contiguous:      # stored HxWxN (Deep Lake, COCO): gather whole pixels, then pick
        pixels = np.take(hwn.reshape(-1, n), flat, axis=0)
        out = (pixels if len(kept) == n else pixels[:, kept]).T.reshape(len(kept), h, w)
    else:
        out = np.take(np.ascontiguousarray(masks).reshape(n, -1), flat, axis=1)[kept].reshape(-1, h, w)
    out = np.ascontiguousarray(out).view(np.uint8) if out.dtype == bool else np.ascontiguousarray(out)
    out &= inside.astype(np.uint8)
    return out


def _select_masks(masks: np.ndarray, kept: np.ndarray, moved: np.ndarray, coords: np.ndarray,
                  stride: int) -> np.ndarray:
    if moved is coords:             # no geometric transform ran: the masks are unchanged
        out = masks[kept]
        return out.view(np.uint8) if out.dtype == bool else np.ascontiguousarray(out)
    return _gather_masks(masks, kept, moved, stride)


def _drop_filtered(report: dict, raw: RawSample, lost: np.ndarray, pipeline: Pipeline, warp) -> None:
    """Record the instances Albumentations' box filter removed, each with the filter that applied: nothing of
    it left in the output (outside the crop), a box smaller than min_area, else under min_visibility."""
    if not len(lost):
        return
    moved, coords, stride = warp
    masks = _select_masks(raw.masks, lost, moved, coords, stride)
    for i, mask in zip(lost, masks):
        ys, xs = np.nonzero(mask)
        if not len(ys):
            code, reason = "outside", "outside the picture after the transforms (cropped or moved away)"
        elif (area := float((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))) < pipeline.min_area:
            code = "min_area"
            reason = f"box area {area:.0f} px² after the transforms is under min_area {pipeline.min_area:g}"
        else:
            code = "min_visibility"
            reason = (f"mostly cut off: less than min_visibility {pipeline.min_visibility:g} of its box is left "
                      "inside the picture")
        _drop(report, [i], raw.labels, reason, code)


def prepare_sample(raw: RawSample, pipeline: Pipeline, seed: int) -> PreparedSample:
    """RawSample -> PreparedSample (model-ready image and target, plus what was dropped and applied)."""
    report: dict[str, list] = {"dropped": [], "applied": []}
    idx = _valid_input(raw, pipeline.keep_crowd, report)
    result, coords, stride = _run_compose(pipeline, raw, idx, seed)
    report["applied"] = _applied(result)
    image = result["image"]
    hw = image.shape[:2]
    kept = np.asarray(result["instance_ids"], dtype=np.float64).round().astype(np.int64).reshape(-1)
    _drop_filtered(report, raw, np.setdiff1d(idx, kept), pipeline, (result["mask"], coords, stride))
    masks = _select_masks(raw.masks, kept, result["mask"], coords, stride)
    nonempty = masks.reshape(len(kept), -1).any(axis=1) if len(kept) else np.zeros(0, bool)
    _drop(report, kept[~nonempty], raw.labels, "mask empty (before or after transforms)", "mask_empty")
    kept, masks = kept[nonempty], masks[nonempty]
    if pipeline.boxes_from_masks:
        boxes = boxes_from_masks(masks)
    else:
        boxes = np.asarray(result["bboxes"], np.float32).reshape(-1, 4)[nonempty]
        boxes = np.clip(boxes, 0, [hw[1], hw[0], hw[1], hw[0]]).astype(np.float32)
    ok = (boxes[:, 2] - boxes[:, 0] >= MIN_BOX_SIDE) & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_SIDE)
    _drop(report, kept[~ok], raw.labels, "box under 1 px after transforms", "tiny_box")
    kept, masks, boxes = kept[ok], masks[ok], boxes[ok]
    target = {"boxes": torch.from_numpy(np.ascontiguousarray(boxes)),
              "labels": torch.from_numpy(raw.labels[kept].astype(np.int64) + 1),
              "masks": torch.from_numpy(masks),
              "image_id": torch.tensor(raw.index, dtype=torch.int64),
              "instances": torch.from_numpy(kept.astype(np.int64))}   # each one's index in the stored row
    if pipeline.keep_crowd:
        target["iscrowd"] = torch.from_numpy(np.asarray(raw.iscrowd, bool)[kept])
    return PreparedSample(image_tensor(image), target, report, raw.index)


def report_to_json(report: dict) -> dict:
    """The report with numpy values turned into plain JSON types (large arrays summarised)."""
    return {"dropped": list(report.get("dropped", [])),
            "applied": [{"name": a["name"], "params": {k: _plain(v) for k, v in a["params"].items()}}
                        for a in report.get("applied", [])]}


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 16 else f"array{list(value.shape)}"
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)

"""prepare_sample: the properties training relies on, over many random synthetic rows."""
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segstudio.base.config import AugmentConfig
from segstudio.data.sample import RawSample
from segstudio.samples.augment import build_pipeline, prepare_sample, sample_seed

ROTATING = [{"name": "Affine", "rotate": [-30, 30], "scale": [0.7, 1.3], "p": 1.0},
            {"name": "RandomSizedBBoxSafeCrop", "height": 96, "width": 80, "erosion_rate": 0.3},
            {"name": "VerticalFlip", "p": 0.5}, {"name": "ToGray", "p": 0.3}]
CONFIGS = {
    "seed": AugmentConfig(preset="seed"),
    "none": AugmentConfig(preset="none"),
    "light": AugmentConfig(preset="light", image_size=64),
    "multiscale": AugmentConfig(preset="multiscale", image_size=64),
    "strong": AugmentConfig(preset="strong", image_size=96),
    "rotating": AugmentConfig(preset="custom", transforms=ROTATING, min_area=4.0, min_visibility=0.3),
    "never": AugmentConfig(preset="custom", boxes_from_masks="never",
                           transforms=[{"name": "RandomResizedCrop", "size": [64, 64], "p": 1.0},
                                       {"name": "HorizontalFlip", "p": 0.5}]),
}
PIPELINES = {name: build_pipeline(cfg) for name, cfg in CONFIGS.items()}


def make_raw(seed: int, h: int, w: int, n: int, gray: bool = False, crowd: float = 0.0, index: int = 7,
             box_noise: float = 0.0) -> RawSample:
    """A random row: rectangles and ellipses from 1 px to the whole image, boxes from the masks."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 1 if gray else 3), dtype=np.uint8)
    image = np.repeat(image, 3, axis=2) if gray else image
    masks = np.zeros((n, h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        size = int(rng.choice([1, 2, 5, max(1, min(h, w) // 4), max(h, w)]))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1 = min(w, x0 + int(rng.integers(1, size + 1)))
        y1 = min(h, y0 + int(rng.integers(1, size + 1)))
        if rng.random() < 0.5 or size < 5:
            masks[i, y0:y1, x0:x1] = 1
        else:
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max(1, (x1 - x0) / 2), max(1, (y1 - y0) / 2)
            masks[i] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
            masks[i, y0, x0] = 1
    boxes = np.zeros((n, 4), np.float32)
    for i in range(n):
        ys, xs = np.nonzero(masks[i])
        boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    boxes += rng.normal(0, box_noise, boxes.shape).astype(np.float32) if box_noise else 0
    labels = rng.integers(0, 12, n).astype(np.int64)
    iscrowd = rng.random(n) < crowd
    return RawSample(index, image, masks, boxes, labels, iscrowd)


def hwn_view(raw: RawSample) -> RawSample:
    """The same row with masks as Deep Lake stores them (HxWxN), seen through an NxHxW view."""
    hwn = np.ascontiguousarray(np.moveaxis(raw.masks, 0, 2))
    return RawSample(raw.index, raw.image, np.moveaxis(hwn, 2, 0), raw.boxes, raw.labels, raw.iscrowd)


def check_target(sample, raw: RawSample, keep_crowd=False) -> None:
    img, t = sample.image, sample.target
    assert img.dtype == torch.float32 and img.ndim == 3 and img.shape[0] == 3
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    h, w = img.shape[1:]
    n = len(t["labels"])
    assert t["boxes"].shape == (n, 4) and t["boxes"].dtype == torch.float32
    assert t["masks"].shape == (n, h, w) and t["masks"].dtype == torch.uint8
    assert t["labels"].dtype == torch.int64 and bool((t["labels"] >= 1).all())
    b = t["boxes"].numpy()
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
    assert ((b[:, 2] - b[:, 0]) >= 1).all() and ((b[:, 3] - b[:, 1]) >= 1).all()
    masks = t["masks"].numpy()
    assert set(np.unique(masks)) <= {0, 1}
    for m, box in zip(masks, b):
        ys, xs = np.nonzero(m)
        assert len(ys), "an empty mask reached the target"
        tol = 2
        assert xs.min() >= box[0] - tol and xs.max() + 1 <= box[2] + tol
        assert ys.min() >= box[1] - tol and ys.max() + 1 <= box[3] + tol
    # every input instance is either in the target or reported as dropped, exactly once
    dropped = [d["instance"] for d in sample.report["dropped"]]
    assert len(dropped) == len(set(dropped)) and len(dropped) + n == raw.num_instances
    if not keep_crowd:
        assert not any(raw.iscrowd[i] for i in set(range(raw.num_instances)) - set(dropped))


rows = st.tuples(st.integers(0, 10_000), st.integers(8, 160), st.integers(8, 160), st.integers(0, 90),
                 st.booleans(), st.sampled_from([0.0, 0.2]), st.sampled_from([0.0, 3.0]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=rows, name=st.sampled_from(sorted(PIPELINES)), seed=st.integers(0, 2**32 - 1))
def test_targets_are_consistent(row, name, seed):
    raw = make_raw(*row)
    sample = prepare_sample(raw, PIPELINES[name], seed)
    check_target(sample, raw)


@settings(max_examples=20, deadline=None)
@given(row=rows, name=st.sampled_from(sorted(PIPELINES)), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_output_whatever_the_mask_layout(row, name, seed):
    raw = make_raw(*row)
    a = prepare_sample(raw, PIPELINES[name], seed)
    b = prepare_sample(hwn_view(raw), PIPELINES[name], seed)
    assert torch.equal(a.image, b.image)
    for key in ("boxes", "labels", "masks"):
        assert torch.equal(a.target[key], b.target[key])
    assert a.report["dropped"] == b.report["dropped"]


def test_different_seeds_differ():
    raw = make_raw(1, 120, 150, 6)
    for name in ("seed", "strong", "rotating"):
        outs = {prepare_sample(raw, PIPELINES[name], s).image.numpy().tobytes() for s in range(6)}
        assert len(outs) > 1, name


def test_order_of_calls_does_not_matter():
    """A sample's pixels depend on its seed only, not on what was prepared before (workers)."""
    raws = [make_raw(i, 90, 110, 5, index=i) for i in range(4)]
    pipe = PIPELINES["strong"]
    forward = [prepare_sample(r, pipe, sample_seed(3, 1, r.index)).image for r in raws]
    backward = [prepare_sample(r, pipe, sample_seed(3, 1, r.index)).image for r in reversed(raws)][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_zero_instances(name):
    raw = make_raw(0, 70, 90, 0)
    s = prepare_sample(raw, PIPELINES[name], 5)
    h, w = s.image.shape[1:]
    assert s.target["boxes"].shape == (0, 4) and s.target["labels"].shape == (0,)
    assert s.target["masks"].shape == (0, h, w)
    assert s.report["dropped"] == []


def test_grayscale_row_gives_three_channels():
    raw = make_raw(3, 64, 64, 3, gray=True)
    s = prepare_sample(raw, PIPELINES["seed"], 1)
    assert s.image.shape[0] == 3


def test_boxes_outside_the_image_are_clipped_not_fatal():
    raw = make_raw(4, 80, 80, 5)
    raw.boxes[:, :2] -= 30
    raw.boxes[:, 2:] += 30
    check_target(prepare_sample(raw, PIPELINES["seed"], 2), raw)


def test_degenerate_boxes_and_crowds_are_reported():
    raw = make_raw(5, 80, 80, 4)
    raw.boxes[0] = (10, 10, 10.5, 30)
    raw.iscrowd[1] = True
    s = prepare_sample(raw, PIPELINES["none"], 0)
    reasons = {d["instance"]: d["reason"] for d in s.report["dropped"]}
    assert "1 px" in reasons[0] and reasons[1] == "crowd"
    assert len(s.target["labels"]) == 2


def test_evaluation_keeps_crowds_flagged_and_changes_nothing():
    raw = make_raw(6, 80, 100, 5, crowd=0.5)
    pipe = build_pipeline(AugmentConfig(preset="strong"), train=False)
    s = prepare_sample(raw, pipe, 0)
    assert s.image.shape[1:] == (80, 100)
    assert torch.equal(s.target["masks"], torch.from_numpy(raw.masks))
    assert torch.equal(s.target["iscrowd"], torch.from_numpy(raw.iscrowd))
    assert torch.equal(s.target["labels"], torch.from_numpy(raw.labels + 1))


def test_labels_shift_by_one_and_report_names_params():
    raw = make_raw(7, 100, 100, 3)
    s = prepare_sample(raw, PIPELINES["seed"], 9)
    assert s.report["applied"][0]["name"] == "RandomSizedBBoxSafeCrop"
    assert "crop_coords" in s.report["applied"][0]["params"]
    kept = sorted(set(range(3)) - {d["instance"] for d in s.report["dropped"]})
    assert s.target["labels"].tolist() == (raw.labels[kept] + 1).tolist()


def test_masks_match_albumentations_own_mask_handling():
    """The coordinate-map warp gives the masks Albumentations itself would produce (nearest)."""
    for name in ("seed", "strong", "rotating", "multiscale"):
        pipe = PIPELINES[name]
        for k in range(5):
            raw = make_raw(20 + k, 120, 140, 8)
            seed = 100 + k
            ours = prepare_sample(raw, pipe, seed)
            pipe.compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
            ids = np.arange(raw.num_instances, dtype=np.float32)
            ref = pipe.compose(image=raw.image, masks=list(raw.masks), bboxes=raw.boxes, instance_ids=ids)
            assert np.array_equal(ref["image"], (ours.image.numpy().transpose(1, 2, 0) * 255).round())
            kept = [i for i in range(raw.num_instances)
                    if i not in {d["instance"] for d in ours.report["dropped"]}]
            for m, i in zip(ours.target["masks"].numpy(), kept):
                assert np.array_equal(m, ref["masks"][i]), (name, k, i)


def test_sample_seed_is_stable_and_distinct():
    assert sample_seed(0, 0, 0) == sample_seed(0, 0, 0)
    assert len({sample_seed(s, e, r) for s in range(3) for e in range(3) for r in range(20)}) == 180
    assert 0 <= sample_seed(2**40, 5, 10**9) < 2**32


def test_large_images_use_their_own_coordinate_map(monkeypatch):
    """Images beyond the shared canvas (and beyond float32's exact range) keep masks and image aligned."""
    import segstudio.samples.augment as aug
    monkeypatch.setattr(aug, "_CANVAS_BITS", 6)
    monkeypatch.setattr(aug, "_CANVAS", 64)
    monkeypatch.setattr(aug, "_canvas", None)
    small = make_raw(9, 40, 60, 4)            # fits the 64 px canvas: strided view, shift decoding
    check_target(prepare_sample(small, PIPELINES["rotating"], 1), small)
    raw = make_raw(8, 100, 180, 6)
    pipe = PIPELINES["rotating"]
    small_canvas = prepare_sample(raw, pipe, 4)
    check_target(small_canvas, raw)
    monkeypatch.setattr(aug, "_COORDS", {})
    real_arange = np.arange

    def fake_large(h, w):   # force the two-channel map by pretending the image is huge
        coords = np.empty((h, w, 2), np.float32)
        coords[:, :, 0] = real_arange(1, w + 1, dtype=np.float32)[None, :]
        coords[:, :, 1] = real_arange(1, h + 1, dtype=np.float32)[:, None]
        return coords, w
    monkeypatch.setattr(aug, "_coordinate_map", fake_large)
    two_channel = prepare_sample(raw, pipe, 4)
    check_target(two_channel, raw)
    assert torch.equal(two_channel.image, small_canvas.image)
    agree = (two_channel.target["masks"] == small_canvas.target["masks"]).float().mean()
    assert float(agree) > 0.99


def square_row(boxes) -> RawSample:
    """A 100x100 row with one rectangular instance per (x1, y1, x2, y2)."""
    masks = np.zeros((len(boxes), 100, 100), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1:y2, x1:x2] = 1
    return RawSample(3, np.full((100, 100, 3), 90, np.uint8), masks, np.array(boxes, np.float32),
                     np.arange(len(boxes)), np.zeros(len(boxes), bool))


def test_each_dropped_instance_names_the_filter_that_dropped_it():
    crop = [{"name": "Crop", "x_min": 0, "y_min": 0, "x_max": 50, "y_max": 50, "p": 1.0}]
    cfg = AugmentConfig(preset="custom", transforms=crop, min_area=30.0, min_visibility=0.5)
    raw = square_row([(60, 60, 90, 90),      # entirely outside the crop
                      (10, 10, 14, 14),      # inside, 16 px²: under min_area 30
                      (40, 10, 80, 30),      # a quarter inside: under min_visibility 0.5
                      (5, 20, 40, 45)])      # kept
    s = prepare_sample(raw, build_pipeline(cfg), 0)
    reasons = {d["instance"]: d["reason"] for d in s.report["dropped"]}
    assert sorted(reasons) == [0, 1, 2]
    assert "outside the picture" in reasons[0]
    assert "min_area 30" in reasons[1] and "16 px²" in reasons[1]
    assert "min_visibility 0.5" in reasons[2]
    assert s.target["instances"].tolist() == [3]        # the one kept is the row's stored instance 3

"""Training may decode JPEGs at reduced size (augment.reduced_decode): image, masks and boxes must stay
in one frame, the gather must equal the contiguous path, and evaluation must still read full size."""
import cv2
import deeplake
import numpy as np
import pytest
from deeplake import types as T

from segstudio.augment import build_pipeline, decode_min_side, prepare_sample
from segstudio.config import AugmentConfig
from segstudio.data.sample import BoxFormat, ColumnMapping, RawSample, read_sample, reduction_factor
from segstudio.loader import SegmentationDataset

MAPPING = ColumnMapping("images", "masks", "boxes", "labels")
H, W = 480, 641   # an odd side: libjpeg's reduced size rounds up


@pytest.fixture(scope="module")
def jpeg_rows(tmp_path_factory):
    """Three 480x641 JPEG rows with HxWxN masks (Deep Lake's layout) and their ltwh boxes."""
    path = str(tmp_path_factory.mktemp("reduced") / "ds")
    ds = deeplake.create(path)
    ds.add_column("images", T.Image(dtype="uint8", sample_compression="jpg"))
    ds.add_column("masks", T.BinaryMask(sample_compression="lz4"))
    ds.add_column("boxes", T.BoundingBox(dtype="float32", format="ltwh", bbox_type="pixel"))
    ds.add_column("labels", T.Array("uint32", 1))
    rng = np.random.default_rng(3)
    for n in (5, 1, 12):
        image = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (7, 7), 2)
        masks = np.zeros((H, W, n), bool)
        boxes = np.zeros((n, 4), np.float32)
        for k in range(n):
            x, y = int(rng.integers(0, W - 60)), int(rng.integers(0, H - 60))
            w, h = int(rng.integers(8, 60)), int(rng.integers(8, 60))
            masks[y:y + h, x:x + w, k] = True
            boxes[k] = (x, y, w, h)
        ok, buf = cv2.imencode(".jpg", image)
        ds.append({"images": [buf.tobytes()], "masks": [masks], "boxes": [boxes],
                   "labels": [rng.integers(0, 3, n).astype(np.uint32)]})
    ds.commit()
    return path


def test_reduced_read_keeps_image_masks_and_boxes_in_one_frame(jpeg_rows):
    ds = deeplake.open_read_only(jpeg_rows)
    fmt = BoxFormat("ltwh", "pixel")
    for row in range(3):
        full = read_sample(ds, row, MAPPING, fmt)
        half = read_sample(ds, row, MAPPING, fmt, min_side=128)   # 480 / 2 = 240 >= 128 > 480 / 4
        assert full.image.shape == (H, W, 3) and half.image.shape == (240, 321, 3)
        np.testing.assert_array_equal(half.masks, full.masks[:, ::2, ::2])
        np.testing.assert_allclose(half.boxes, full.boxes * np.array([321 / W, 0.5, 321 / W, 0.5]), rtol=1e-6)
        # the same picture: close to an area-average downscale of the full decode
        area = cv2.resize(full.image, (321, 240), interpolation=cv2.INTER_AREA)
        assert np.abs(area.astype(int) - half.image.astype(int)).mean() < 6
    assert read_sample(ds, 0, MAPPING, fmt, min_side=100).image.shape == (120, 161, 3)   # 1/4
    assert read_sample(ds, 0, MAPPING, fmt, min_side=400).image.shape == (H, W, 3)       # no reduction


def test_reduction_factor_rule():
    assert reduction_factor(480, 128) == 2 and reduction_factor(480, 120) == 4 and reduction_factor(480, 60) == 8
    assert reduction_factor(254, 128) == 1 and reduction_factor(255, 128) == 2 and reduction_factor(480, 0) == 1


@pytest.mark.parametrize("preset", ["seed", "strong", "multiscale"])
def test_strided_masks_gather_like_contiguous_ones(jpeg_rows, preset):
    """prepare_sample on the strided mask view equals prepare_sample on a contiguous copy of it."""
    ds = deeplake.open_read_only(jpeg_rows)
    pipe = build_pipeline(AugmentConfig(preset=preset, image_size=96))
    for row in range(3):
        raw = read_sample(ds, row, MAPPING, BoxFormat("ltwh", "pixel"), min_side=96)   # 1/4
        assert not raw.masks.flags.c_contiguous
        copy = RawSample(raw.index, raw.image, np.ascontiguousarray(raw.masks), raw.boxes, raw.labels)
        for seed in range(4):
            a, b = prepare_sample(raw, pipe, seed), prepare_sample(copy, pipe, seed)
            assert a.image.equal(b.image)
            for key in ("boxes", "labels", "masks"):
                assert a.target[key].equal(b.target[key]), key
        # the reduced row itself: every mask within (factor - 1) / factor of a pixel of its scaled box
        from segstudio.data.sample import boxes_from_masks
        assert np.abs(boxes_from_masks(np.ascontiguousarray(raw.masks)) - raw.boxes).max() <= 0.75 + 1e-4


def test_only_training_reads_at_reduced_size(jpeg_rows):
    fmt = BoxFormat("ltwh", "pixel")
    train = SegmentationDataset(jpeg_rows, "", MAPPING, fmt, [0, 1], AugmentConfig(preset="seed"), train=True)
    evaluation = SegmentationDataset(jpeg_rows, "", MAPPING, fmt, [0, 1], AugmentConfig(preset="seed"), train=False)
    off = SegmentationDataset(jpeg_rows, "", MAPPING, fmt, [0], AugmentConfig(preset="seed", reduced_decode=False))
    assert train.min_side == 192 and evaluation.min_side == 0 and off.min_side == 0
    assert train.read(0).image.shape == (240, 321, 3)
    assert evaluation.sample(0).image.shape[1:] == (H, W)   # predictions are scored at full size
    assert off.read(0).image.shape == (H, W, 3)
    assert decode_min_side(AugmentConfig(preset="none")) == 0
    assert decode_min_side(AugmentConfig(preset="multiscale", image_size=128)) == 160

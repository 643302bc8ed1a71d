"""read_sample returns the canonical layout for every storage layout a dataset may use."""
import deeplake
import numpy as np
import pytest
from deeplake import types as T

from segstudio.base.errors import DataError
from segstudio.data.sample import BoxFormat, ColumnMapping, boxes_to_xyxy, masks_layout, read_sample, to_rgb_uint8

H, W = 6, 8
MAP = ColumnMapping("images", "masks", "boxes", "labels", "crowd")


def _masks_nhw():
    m = np.zeros((2, H, W), bool)
    m[0, 1:3, 2:5] = True
    m[1, 4:6, 0:2] = True
    return m


def _dataset(name, image, masks, boxes, labels=(0, 1), crowd=(False, True), image_type=None):
    ds = deeplake.create(f"mem://sample-{name}")
    ds.add_column("images", image_type or T.Array(str(image.dtype), image.ndim))
    ds.add_column("masks", T.Array("bool", masks.ndim))
    ds.add_column("boxes", T.Array("float32", 2))
    ds.add_column("labels", T.Array("uint32", 1))
    ds.add_column("crowd", T.Array("uint8", 1))
    ds.append({"images": [image], "masks": [masks], "boxes": [np.asarray(boxes, np.float32)],
               "labels": [np.asarray(labels, np.uint32)], "crowd": [np.asarray(crowd, np.uint8)]})
    return ds


XYXY = [[2, 1, 5, 3], [0, 4, 2, 6]]


@pytest.mark.parametrize("name, image", [
    ("rgb", np.full((H, W, 3), 7, np.uint8)),
    ("gray2d", np.full((H, W), 7, np.uint8)),
    ("gray1", np.full((H, W, 1), 7, np.uint8)),
    ("rgba", np.dstack([np.full((H, W, 3), 7, np.uint8), np.full((H, W), 99, np.uint8)])),
    ("u16", np.full((H, W, 3), 7 * 256 + 200, np.uint16)),
])
@pytest.mark.parametrize("layout", ["hwn", "nhw"])
def test_images_and_mask_layouts(name, image, layout):
    masks = _masks_nhw() if layout == "nhw" else np.moveaxis(_masks_nhw(), 0, 2)
    ds = _dataset(f"{name}-{layout}", image, masks, XYXY)
    s = read_sample(ds, 0, MAP, BoxFormat("ltrb", "pixel"))
    assert s.image.shape == (H, W, 3) and s.image.dtype == np.uint8 and (s.image == 7).all()
    assert s.masks.shape == (2, H, W) and s.masks.dtype == np.uint8
    np.testing.assert_array_equal(s.masks, _masks_nhw().astype(np.uint8))
    np.testing.assert_allclose(s.boxes, XYXY)
    assert s.labels.dtype == np.int64 and list(s.labels) == [0, 1]
    assert list(s.iscrowd) == [False, True]


def test_png_image_column_with_16_bit_pixels():
    img = np.full((H, W, 1), 40000, np.uint16)
    ds = _dataset("png16", img, _masks_nhw(), XYXY, image_type=T.Image(dtype="uint16", sample_compression="png"))
    s = read_sample(ds, 0, MAP, BoxFormat("ltrb", "pixel"))
    assert s.image.shape == (H, W, 3) and (s.image == 40000 >> 8).all()


@pytest.mark.parametrize("fmt, boxes", [
    (BoxFormat("ltwh", "pixel"), [[2, 1, 3, 2], [0, 4, 2, 2]]),
    (BoxFormat("ltrb", "pixel"), XYXY),
    (BoxFormat("ccwh", "pixel"), [[3.5, 2, 3, 2], [1, 5, 2, 2]]),
    (BoxFormat("ltrb", "fractional"), [[2 / W, 1 / H, 5 / W, 3 / H], [0, 4 / H, 2 / W, 1]]),
    (BoxFormat("ltwh", "fractional"), [[2 / W, 1 / H, 3 / W, 2 / H], [0, 4 / H, 2 / W, 2 / H]]),
])
def test_box_formats(fmt, boxes):
    np.testing.assert_allclose(boxes_to_xyxy(np.asarray(boxes), fmt, W, H), XYXY, atol=1e-5)


def test_square_images_prefer_hwn_and_errors_name_the_row():
    assert masks_layout((4, 4, 4), 4, 4) == "hwn" and masks_layout((3, 4, 5), 4, 5) == "nhw"
    assert masks_layout((4, 5, 0), 4, 5) == "empty" and masks_layout((7, 7, 2), 4, 5) == ""
    ds = _dataset("misfit", np.zeros((H, W, 3), np.uint8), np.zeros((H + 1, W, 2), bool), XYXY)
    with pytest.raises(DataError, match=r"Row 0: masks of shape \(7, 8, 2\) do not fit the 6x8 image"):
        read_sample(ds, 0, MAP)
    ds = _dataset("count", np.zeros((H, W, 3), np.uint8), _masks_nhw(), XYXY, labels=(0,), crowd=(0,))
    with pytest.raises(DataError, match="Row 0 has 2 masks, 2 boxes, 1 labels, 1 iscrowd"):
        read_sample(ds, 0, MAP)


def test_no_crowd_or_box_column():
    ds = _dataset("nocrowd", np.zeros((H, W, 3), np.uint8), _masks_nhw(), XYXY)
    s = read_sample(ds, 0, ColumnMapping("images", "masks", "", "labels", ""))
    assert list(s.iscrowd) == [False, False]
    np.testing.assert_allclose(s.boxes, XYXY)          # computed from the masks


def test_empty_rows():
    ds = _dataset("empty", np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 0), bool), np.zeros((0, 4)),
                  labels=(), crowd=())
    s = read_sample(ds, 0, MAP)
    assert s.masks.shape == (0, H, W) and s.boxes.shape == (0, 4) and s.num_instances == 0


def test_float_and_odd_images():
    assert (to_rgb_uint8(np.full((2, 2, 3), 1.0, np.float32)) == 255).all()
    with pytest.raises(DataError, match="not HxW or HxWxC"):
        to_rgb_uint8(np.zeros((2, 2, 7), np.uint8))


def test_corrupt_jpeg_row_is_named_in_one_sentence(tmp_path):
    """Deep Lake reads a truncated JPEG as an empty array; the error must say what is wrong with which row."""
    ds = deeplake.create(str(tmp_path / "broken"))
    ds.add_column("images", T.Image(dtype="uint8", sample_compression="jpg"))
    ds.add_column("labels", T.Array("uint32", 1))
    good = cv2_jpeg(np.full((16, 16, 3), 90, np.uint8))
    ds.append({"images": [good, good[: len(good) // 3]], "labels": [np.zeros(0, np.uint32)] * 2})
    ds.commit()
    mapping = ColumnMapping("images", "", "", "labels")
    assert read_sample(ds, 0, mapping).image.shape == (16, 16, 3)
    with pytest.raises(DataError, match="Row 1: the image could not be read"):
        read_sample(ds, 1, mapping)


def cv2_jpeg(image):
    import cv2
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()

"""Import the real coco128 sample (skipped when ../shared is absent) and check it against pycocotools."""
import contextlib
import io
import json

import deeplake
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from segstudio.data.coco_import import import_coco
from segstudio.data.describe import describe
from segstudio.data.preflight import preflight


@pytest.fixture(scope="module")
def imported(coco128, tmp_path_factory):
    dest = tmp_path_factory.mktemp("c128") / "ds"
    summary = import_coco(coco128 / "images", coco128 / "annotations.json", dest)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(coco128 / "annotations.json"))
    return dest, summary, coco


def test_counts(imported):
    _, s, _ = imported
    assert (s.images_imported, s.instances, s.crowd, s.empty_images) == (128, 939, 10, 2)
    assert not s.skipped and s.image_actions == {"kept": 128}
    assert sum(1 for v in s.per_class.values() if v) == 71


def test_classes_follow_category_ids(imported, coco128):
    dest, _, coco = imported
    ds = deeplake.open_read_only(str(dest))
    cats = sorted(json.loads((coco128 / "annotations.json").read_text())["categories"], key=lambda c: c["id"])
    assert list(ds["categories"].metadata["class_names"]) == [c["name"] for c in cats]
    ids = list(ds["categories"].metadata["coco_category_ids"])
    for i in (0, 17, 100):
        for label, aid in zip(ds[i]["categories"], ds[i]["coco_annotation_ids"]):
            assert ids[int(label)] == coco.anns[int(aid)]["category_id"]


def test_images_and_masks_match_pycocotools(imported, coco128):
    dest, _, coco = imported
    ds = deeplake.open_read_only(str(dest))
    for i in range(len(ds)):
        row = ds[i]
        img = coco.imgs[int(row["coco_image_id"])]
        assert row["file_name"] == img["file_name"]
        assert row["images"].shape[:2] == (img["height"], img["width"])
        assert sorted(int(a) for a in row["coco_annotation_ids"]) == sorted(coco.getAnnIds(imgIds=img["id"]))
        for k, aid in enumerate(row["coco_annotation_ids"]):
            ref = coco.annToMask(coco.anns[int(aid)]).astype(bool)
            assert np.array_equal(row["masks"][:, :, k], ref), f"row {i} annotation {aid}"
    # the grayscale JPEG is stored as its original bytes and still reads as 3 channels
    row = [int(v) for v in ds["coco_image_id"][:]].index(86)
    assert Image.open(coco128 / "images" / "000000000086.jpg").mode == "L"
    assert ds[row]["images"].ndim == 3


def test_describe_and_preflight(imported):
    dest, _, _ = imported
    ds = deeplake.open_read_only(str(dest))
    info = describe(ds, str(dest))
    assert info.mapping.iscrowd == "iscrowd" and info.box_format_known and len(info.class_names) == 80
    report = preflight(ds, info.mapping, info.box_format)
    assert report.ok
    assert {f.code for f in report.warnings} >= {"no_instances", "unusual_image"}

"""COCO import on a synthetic export with every oddity real tools produce; masks checked against pycocotools."""
import contextlib
import io
import json
import re
import signal
import subprocess
import sys

import deeplake
import numpy as np
import pytest
from PIL import Image, ImageOps
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from segstudio.base.errors import DataError
from segstudio.cli import main
from segstudio.data import coco_import
from segstudio.data.coco_import import import_coco
from segstudio.data.describe import describe

W, H = 40, 30
BIG_ID = 2 ** 40 + 5


def _save(img: Image.Image, path, fmt, **kw):
    img.save(path, fmt, **kw)


def _pattern(w=W, h=H, mode="RGB"):
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 3, : w // 2] = (250, 250, 250)   # bright block top-left: shows the orientation
    a[h // 2:, w // 2:] = (30, 120, 200)
    return Image.fromarray(a).convert(mode)


def _rle_compressed(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8, order="F")
    m[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def _rle_uncompressed(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    flat = m.flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [h, w], "counts": counts}


def make_coco(root):
    """Write images and an annotations file with every oddity; return (images_dir, json_path)."""
    img_dir = root / "images"
    img_dir.mkdir(parents=True)
    _save(_pattern(), img_dir / "rgb.jpg", "JPEG", quality=95)
    _save(_pattern(mode="L"), img_dir / "gray.jpg", "JPEG")
    _save(_pattern(mode="CMYK"), img_dir / "cmyk.jpg", "JPEG")
    _save(_pattern(mode="RGBA"), img_dir / "pic.png", "PNG")
    _save(_pattern(), img_dir / "empty.jpg", "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6                        # stored W x H, displayed rotated 90 degrees: H x W
    _save(_pattern(), img_dir / "rot.jpg", "JPEG", exif=exif.tobytes())
    _save(_pattern(), img_dir / "rot_raw.jpg", "JPEG", exif=exif.tobytes())
    (img_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    images = [
        {"id": 1, "file_name": "rgb.jpg", "width": W, "height": H},
        {"id": BIG_ID, "file_name": "gray.jpg", "width": W, "height": H},
        {"id": 3, "file_name": "cmyk.jpg", "width": W, "height": H},
        {"id": 4, "file_name": "sub/pic.png", "width": W, "height": H},   # exporter added a folder
        {"id": 5, "file_name": "rot.jpg", "width": H, "height": W},       # displayed orientation
        {"id": 6, "file_name": "empty.jpg", "width": W, "height": H},
        {"id": 7, "file_name": "missing.jpg", "width": W, "height": H},
        {"id": 8, "file_name": "rot_raw.jpg", "width": W, "height": H},   # tool ignored EXIF
        {"id": 9, "file_name": "broken.jpg", "width": W, "height": H},
    ]
    anns = [
        # multi-part polygon with a degenerate (2-point) part, which is dropped
        {"id": 10, "image_id": 1, "category_id": 7, "iscrowd": 0, "bbox": [2, 2, 30, 20], "area": 300,
         "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10], [5, 5, 6, 6], [20, 12, 32, 12, 32, 22, 20, 22]]},
        # polygon slightly outside the image (clipped); box outside too
        {"id": 11, "image_id": 1, "category_id": 0, "iscrowd": False, "bbox": [-3, 20, 20, 14],
         "segmentation": [[-3, 20, 16, 20, 16, 33, -3, 33]]},
        # compressed RLE, not crowd
        {"id": 12, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [30, 1, 8, 6],
         "segmentation": _rle_compressed(H, W, 1, 7, 30, 38)},
        # uncompressed RLE crowd, iscrowd as JSON true, id above 2^31
        {"id": 2 ** 33, "image_id": 1, "category_id": 7, "iscrowd": True, "bbox": [0, 24, 10, 6],
         "segmentation": _rle_uncompressed(H, W, 24, 30, 0, 10)},
        {"id": 13, "image_id": BIG_ID, "category_id": 0, "bbox": [1, 1, 10, 10],
         "segmentation": [[1, 1, 11, 1, 11, 11, 1, 11]]},
        {"id": 14, "image_id": 3, "category_id": 3, "bbox": [5, 5, 10, 10],
         "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]},
        {"id": 15, "image_id": 4, "category_id": 0, "bbox": [20, 5, 10, 10],
         "segmentation": [[20, 5, 30, 5, 30, 15, 20, 15]]},
        # in the rotated image's displayed coordinates (W=30, H=40)
        {"id": 16, "image_id": 5, "category_id": 7, "bbox": [2, 25, 10, 12],
         "segmentation": [[2, 25, 12, 25, 12, 37, 2, 37]]},
        {"id": 17, "image_id": 8, "category_id": 0, "bbox": [2, 2, 10, 5],
         "segmentation": [2, 2, 12, 2, 12, 7, 2, 7]},                     # flat list: one polygon
        {"id": 18, "image_id": 7, "category_id": 0, "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 6, 1, 6, 6]]},
        {"id": 19, "image_id": 999, "category_id": 0, "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 6, 1, 6, 6]]},
        {"id": 20, "image_id": 1, "category_id": 55, "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 6, 1, 6, 6]]},
        {"id": 21, "image_id": 3, "category_id": 0, "bbox": [1, 1, 5, 5], "segmentation": []},
    ]
    cats = [{"id": 7, "name": "cat"}, {"id": 0, "name": "dog"}, {"id": 3, "name": "cat"},
            {"id": 12, "name": "unused"}]
    path = root / "annotations.json"
    text = json.dumps({"images": images, "annotations": anns, "categories": cats})
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())          # with a byte-order mark, as Windows tools write
    return img_dir, path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    img_dir, ann = make_coco(root)
    dest = root / "ds"
    summary = import_coco(img_dir, ann, dest, chunk_size=3)
    return img_dir, ann, dest, summary


def _coco(path):
    """pycocotools' COCO for the file (it cannot read a byte-order mark, so the JSON is parsed here)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(path.read_bytes().decode("utf-8-sig"))
        coco.createIndex()
    return coco


def test_summary_counts_every_oddity(synthetic):
    _, _, _, s = synthetic
    assert s.images_in_file == 9 and s.images_imported == 7 and s.rows_in_dataset == 7
    assert s.skipped["missing image file"] == 1
    assert s.skipped["unreadable image file (OSError)"] + s.skipped.get("unreadable image file (SyntaxError)", 0) \
        + s.skipped.get("unreadable image file (UnidentifiedImageError)", 0) == 1
    assert s.skipped["annotation for an unknown image"] == 1 and s.skipped["annotation of a skipped image"] == 1
    assert s.skipped["annotation with an unknown category"] == 1
    assert s.skipped["annotation without a usable segmentation"] == 1
    assert s.instances == 9 and s.crowd == 1 and s.empty_images == 1
    assert s.image_actions["kept"] == 4   # rgb, gray, empty, rot_raw
    assert s.image_actions["EXIF rotation applied"] == 1
    assert s.image_actions["CMYK JPEG converted"] == 1 and s.image_actions["PNG converted"] == 1
    assert "re-encoded" in s.format_text() and "missing image file" in s.format_text()


def test_schema_classes_and_ids(synthetic):
    _, _, dest, _ = synthetic
    ds = deeplake.open_read_only(str(dest))
    names = list(ds["categories"].metadata["class_names"])
    assert names == ["dog", "cat (id 3)", "cat (id 7)", "unused"]       # sorted by id; unused kept
    assert list(ds["categories"].metadata["coco_category_ids"]) == [0, 3, 7, 12]
    ids = [int(v) for v in ds["coco_image_id"][:]]
    assert BIG_ID in ids and 7 not in ids and 9 not in ids
    row = ids.index(1)
    assert [int(v) for v in ds["coco_annotation_ids"][row]] == [10, 11, 12, 2 ** 33]
    assert list(ds["iscrowd"][row]) == [False, False, False, True]
    assert list(ds["categories"][row]) == [2, 0, 1, 2]
    assert ds["file_name"][ids.index(4)] == "sub/pic.png"
    np.testing.assert_allclose(ds["boxes"][row][1], [0, 20, 17, 10])    # clipped to the image


def test_every_mask_matches_pycocotools(synthetic):
    _, ann, dest, _ = synthetic
    coco = _coco(ann)
    ds = deeplake.open_read_only(str(dest))
    checked = 0
    for i in range(len(ds)):
        masks, ann_ids = ds[i]["masks"], ds[i]["coco_annotation_ids"]
        assert masks.dtype == bool and masks.shape[2] == len(ann_ids)
        assert masks.shape[:2] == ds[i]["images"].shape[:2]
        for k, aid in enumerate(ann_ids):
            ann = dict(coco.anns[int(aid)])
            if isinstance(ann["segmentation"], list) and not isinstance(ann["segmentation"][0], list):
                ann["segmentation"] = [ann["segmentation"]]   # COCO.annToMask cannot read a flat list
            ref = coco.annToMask(ann).astype(bool)
            np.testing.assert_array_equal(masks[:, :, k], ref, err_msg=f"annotation {aid}")
            checked += 1
    assert checked == 9


def test_images_converted_and_oriented(synthetic):
    img_dir, _, dest, _ = synthetic
    ds = deeplake.open_read_only(str(dest))
    ids = [int(v) for v in ds["coco_image_id"][:]]
    rot = ds[ids.index(5)]["images"]
    upright = np.asarray(ImageOps.exif_transpose(Image.open(img_dir / "rot.jpg")).convert("RGB"))
    assert rot.shape == (W, H, 3) == upright.shape
    assert np.abs(rot.astype(int) - upright.astype(int)).mean() < 6
    raw = ds[ids.index(8)]["images"]
    assert raw.shape[:2] == (H, W)                                     # JSON matched the stored pixels
    cmyk = ds[ids.index(3)]["images"]
    assert cmyk.shape == (H, W, 3) and cmyk[2, 2].min() > 200           # bright block stays bright
    png = ds[ids.index(4)]["images"]
    assert png.shape == (H, W, 3) and png[H - 2, W - 2, 2] > 150
    with open(img_dir / "rgb.jpg", "rb") as fh:
        assert ds["images"].get_bytes(ids.index(1)) == fh.read()          # original bytes kept


def test_interrupted_import_resumes(tmp_path):
    img_dir, ann = make_coco(tmp_path)
    dest = tmp_path / "ds"
    calls = []
    s1 = import_coco(img_dir, ann, dest, chunk_size=2, should_stop=lambda: calls.append(1) or len(calls) >= 2)
    assert s1.stopped and s1.rows_in_dataset == 4
    ds = deeplake.open_read_only(str(dest))
    assert len(ds) == 4 and ds.metadata["segstudio_import"]["complete"] is False
    note = describe(ds, str(dest)).notes[-1]        # inspect and the window tell the user to resume
    assert "interrupted: 4 of 9 images" in note and f"{dest} --resume" in note
    with pytest.raises(DataError, match="already exists"):
        import_coco(img_dir, ann, dest)
    s2 = import_coco(img_dir, ann, dest, resume=True, chunk_size=2)
    assert not s2.stopped and s2.resumed_rows == 4 and s2.rows_in_dataset == 7
    ds = deeplake.open_read_only(str(dest))
    ids = [int(v) for v in ds["coco_image_id"][:]]
    assert len(ids) == len(set(ids)) == 7 and ds.metadata["segstudio_import"]["complete"] is True
    assert not any("interrupted" in n for n in describe(ds, str(dest)).notes)


KILL_SCRIPT = """
import os, signal, sys
from segstudio.data.coco_import import import_coco
from segstudio.data.describe import describe
def progress(done, total):
    if done >= 4:       # two chunks committed: die the hard way, as kill -9 or a power cut would
        os.kill(os.getpid(), signal.SIGKILL)
import_coco(sys.argv[1], sys.argv[2], sys.argv[3], chunk_size=2, progress=progress, workers=1)
"""


def test_killed_import_is_readable_and_resumes(tmp_path):
    img_dir, ann = make_coco(tmp_path)
    dest = tmp_path / "ds"
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(img_dir), str(ann), str(dest)],
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    ds = deeplake.open_read_only(str(dest))
    assert len(ds) == 4 and all(np.asarray(ds[i]["masks"]).ndim == 3 for i in range(4))
    assert main(["import-coco", str(img_dir), str(ann), str(dest), "--resume"]) == 0
    ds = deeplake.open_read_only(str(dest))
    ids = [int(v) for v in ds["coco_image_id"][:]]
    assert len(ids) == len(set(ids)) == 7 and ds.metadata["segstudio_import"]["complete"] is True


def test_crash_mid_import_leaves_whole_committed_chunks(tmp_path, monkeypatch):
    img_dir, ann = make_coco(tmp_path)
    dest = tmp_path / "ds"
    real, seen = coco_import._append_chunk, []

    def crash_on_third(*args):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(coco_import, "_append_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        import_coco(img_dir, ann, dest, chunk_size=2)
    monkeypatch.setattr(coco_import, "_append_chunk", real)
    ds = deeplake.open_read_only(str(dest))
    assert len(ds) == 4 and all(len(ds[i]["masks"].shape) == 3 for i in range(len(ds)))
    import_coco(img_dir, ann, dest, resume=True)
    assert len(deeplake.open_read_only(str(dest))) == 7


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ("[]", "not a COCO object"),
    (json.dumps({"annotations": [], "categories": []}), "no 'images' list"),
    (json.dumps({"images": [{"id": 1}], "annotations": [], "categories": []}), r"images\[0\] .*'file_name'"),
    (json.dumps({"images": [], "annotations": [{"id": 1, "category_id": 1}], "categories": []}),
     r"annotations\[0\] .*'image_id'"),
    (json.dumps({"images": [], "annotations": [], "categories": [{"id": 1}, {"id": 1}]}), "appears twice"),
    (json.dumps({"images": [{"id": "x", "file_name": "a.jpg"}], "annotations": [], "categories": []}),
     "not an integer id"),
    (json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [], "categories": []}),
     "empty 'categories' list"),
    (json.dumps({"images": [{"id": 2 ** 63 + 5, "file_name": "a.jpg"}], "annotations": [],
                 "categories": [{"id": 1}]}), "too large for a 64-bit id"),
])
def test_malformed_annotations_are_one_sentence(tmp_path, content, match):
    (tmp_path / "a.json").write_text(content)
    with pytest.raises(DataError, match=match):
        import_coco(tmp_path, tmp_path / "a.json", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()          # nothing created


def test_input_errors(tmp_path):
    img_dir, ann = make_coco(tmp_path)
    with pytest.raises(DataError, match="Images folder"):
        import_coco(tmp_path / "nope", ann, tmp_path / "d1")
    with pytest.raises(DataError, match="does not exist"):
        import_coco(img_dir, tmp_path / "nope.json", tmp_path / "d1")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    import_coco(img_dir, other, tmp_path / "d2")
    with pytest.raises(DataError, match=f"different annotations file \\({re.escape(str(other))}\\)"):
        import_coco(img_dir, ann, tmp_path / "d2", resume=True)
    (tmp_path / "d3").mkdir()
    (tmp_path / "d3" / "x.txt").write_text("x")
    with pytest.raises(DataError, match="not a Deep Lake dataset"):
        import_coco(img_dir, ann, tmp_path / "d3", resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="Cannot create a dataset"):
        import_coco(img_dir, ann, tmp_path / "file" / "ds")
    # arguments swapped or mistyped: no hint at --resume where resuming cannot work
    with pytest.raises(DataError, match="is a file, not a folder of images"):
        import_coco(ann, ann, tmp_path / "d4")
    with pytest.raises(DataError, match=r"is a file; choose a new destination") as err:
        import_coco(img_dir, ann, tmp_path / "file")
    assert "--resume" not in str(err.value) and (tmp_path / "file").read_text() == "x"
    with pytest.raises(DataError, match="is a folder that is not a Deep Lake dataset") as err:
        import_coco(img_dir, ann, tmp_path / "d3")
    assert "--resume" not in str(err.value) and sorted(p.name for p in (tmp_path / "d3").iterdir()) == ["x.txt"]


def test_cli_import_and_refusal(tmp_path, capsys):
    img_dir, ann = make_coco(tmp_path)
    dest = tmp_path / "ds"
    assert main(["import-coco", str(img_dir), str(ann), str(dest), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images_imported"] == 7 and out["per_class"]["cat (id 7)"] == 3
    assert main(["import-coco", str(img_dir), str(ann), str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--resume" in err and "Traceback" not in err


def test_memory_budget_cuts_chunks(tmp_path, monkeypatch):
    img_dir, ann = make_coco(tmp_path)
    monkeypatch.setattr(coco_import, "MEMORY_BUDGET", 1)       # every row exceeds it: one commit per image
    s = import_coco(img_dir, ann, tmp_path / "ds", chunk_size=64)
    ds = deeplake.open_read_only(str(tmp_path / "ds"))
    row_commits = [v for v in ds.history if "rows" in str(v.message)]
    assert s.rows_in_dataset == 7 and len(row_commits) == 7


def test_progress_reports_and_crowd_flags(tmp_path):
    img_dir, ann = make_coco(tmp_path)
    seen = []
    import_coco(img_dir, ann, tmp_path / "ds", chunk_size=3, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 9) and seen[-1] == (9, 9)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert [coco_import._flag(v) for v in (1, 0, True, False, "1", "0", "true", "False")] == \
        [True, False, True, False, True, False, True, False]


def test_annotation_ids_that_cannot_be_stored_become_minus_one():
    from segstudio.data.coco_json import annotation_id

    assert annotation_id({"id": 2 ** 40}) == 2 ** 40 and annotation_id({"id": "17"}) == 17
    assert annotation_id({"id": "a1b2"}) == -1 and annotation_id({"id": 2 ** 64}) == -1
    assert annotation_id({}) == -1 and annotation_id({"id": None}) == -1


def test_resume_after_a_kill_before_the_schema_was_committed(tmp_path):
    """Killed right after creating DEST: the refusal says --resume, so --resume must then work."""
    img_dir, ann = make_coco(tmp_path)
    dest = tmp_path / "ds"
    deeplake.create(str(dest))          # what such a kill leaves: a dataset without columns
    with pytest.raises(DataError, match="--resume"):
        import_coco(img_dir, ann, dest)
    assert import_coco(img_dir, ann, dest, resume=True).rows_in_dataset == 7


def test_rasterise_in_groups_equals_pycocotools(monkeypatch):
    """Large images are decoded a few planes at a time (memory); the masks must not change."""
    from segstudio.data import coco_masks

    rles = [_rle_compressed(H, W, i, i + 5, 2 * i, 2 * i + 7) for i in range(7)] + [_rle_compressed(H, W, 0, 0, 0, 0)]
    expected = mask_utils.decode([dict(r, counts=r["counts"].encode()) for r in rles]).astype(bool)
    monkeypatch.setattr(coco_masks, "DECODE_BUDGET", 3 * H * W)      # groups of 3 planes
    grouped = coco_masks.rasterise([dict(r, counts=r["counts"].encode()) for r in rles], H, W)
    assert grouped.shape == (H, W, 8) and np.array_equal(grouped, expected)

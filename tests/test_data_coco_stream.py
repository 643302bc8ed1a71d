"""The COCO file is streamed (ijson + a temporary SQLite index): key order, errors, cancel, resume, clean-up."""
import json

import deeplake
import numpy as np
import pytest
from test_data_coco_import import BIG_ID, make_coco

from segstudio.base.errors import DataError
from segstudio.data import coco_import, coco_json
from segstudio.data.coco_import import import_coco
from segstudio.data.coco_json import read_coco


def _load(path):
    return json.loads(path.read_bytes().decode("utf-8-sig"))


def _rows(dest) -> dict:
    """coco image id -> (file name, annotation ids, labels, masks) of every row."""
    ds = deeplake.open_read_only(str(dest))
    return {int(ds[i]["coco_image_id"]): (ds[i]["file_name"], list(ds[i]["coco_annotation_ids"]),
                                          list(ds[i]["categories"]), np.asarray(ds[i]["masks"]))
            for i in range(len(ds))}


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """The system temporary folder, redirected so that a test can see what the importer leaves there."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


def test_key_order_does_not_matter(tmp_path, temp_dir):
    """COCO files from other tools put "annotations" (or "categories") before "images"."""
    img_dir, ann = make_coco(tmp_path)
    data = _load(ann)
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps({"categories": data["categories"], "annotations": data["annotations"],
                                     "info": {"year": 2024}, "images": data["images"]}, indent=2))
    first = import_coco(img_dir, ann, tmp_path / "a")
    second = import_coco(img_dir, reordered, tmp_path / "b")
    assert first.to_dict() | {"dest": "", "seconds": 0} == second.to_dict() | {"dest": "", "seconds": 0}
    a, b = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    assert list(a) == list(b) == [1, BIG_ID, 3, 4, 5, 6, 8]
    for iid in a:
        assert a[iid][:3] == b[iid][:3] and np.array_equal(a[iid][3], b[iid][3])
    assert a[6][1] == [] and a[6][3].shape[2] == 0          # the image without annotations is kept, empty
    assert list(temp_dir.iterdir()) == []                  # the temporary index is gone


def test_index_answers_what_the_file_says(tmp_path, temp_dir):
    """Images in file order (first of a duplicated id kept), each image's usable annotations in file order."""
    images = [{"id": 3, "file_name": "c.jpg", "width": 8, "height": 6}, {"id": 1, "file_name": "a.jpg"},
              {"id": 3, "file_name": "dup.jpg"}, {"id": 2, "file_name": "b.jpg", "width": "8", "height": 6}]
    poly = [[1, 1, 5, 1, 5, 5]]
    anns = [{"id": 30, "image_id": 3, "category_id": 9, "segmentation": poly},
            {"id": 10, "image_id": 1, "category_id": 9, "segmentation": poly},
            {"id": 31, "image_id": 3, "category_id": 9, "segmentation": poly, "bbox": [1, 1, 4, 4]},
            {"id": 32, "image_id": 3, "category_id": 4, "segmentation": poly},            # unknown category
            {"id": 33, "image_id": 3, "category_id": 9, "segmentation": []},               # no segmentation
            {"id": 34, "image_id": 77, "category_id": 9, "segmentation": poly}]            # unknown image
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"annotations": anns, "images": images, "categories": [{"id": 9, "name": "x"}]}))
    with read_coco(path) as coco:
        assert coco.images_in_file == 3 and coco.todo_count() == 3
        images = list(coco.images())
        assert [r["file_name"] for r, _ in images] == ["c.jpg", "a.jpg", "b.jpg"]
        assert images[0][0] == {"id": 3, "file_name": "c.jpg", "width": 8, "height": 6}
        assert [r["width"] for r, _ in images] == [8, None, None]      # only numbers count as a size
        assert [a["id"] for a in images[0][1]] == [30, 31] and images[0][1][1]["bbox"] == [1, 1, 4, 4]
        assert [a["id"] for a in images[1][1]] == [10] and images[2][1] == []
        assert coco.skipped == {"duplicate image id": 1, "annotation with an unknown category": 1,
                                "annotation without a usable segmentation": 1, "annotation for an unknown image": 1}
        assert coco.examples["duplicate image id"] == [3] and coco.examples["annotation for an unknown image"] == [34]
        coco.exclude(np.array([1, 3]))
        assert [r["id"] for r, _ in coco.images()] == [2] and coco.todo_count() == 1
    assert list(temp_dir.iterdir()) == []


def test_malformed_json_mid_annotations_names_the_place_and_writes_nothing(tmp_path, temp_dir):
    img_dir, ann = make_coco(tmp_path)
    data = _load(ann)
    text = json.dumps(data, indent=1)
    cut = text.index('"id": 19')                   # a record near the end of "annotations"
    broken = text[:cut] + '"id": 19,, ' + text[cut + len('"id": 19,'):]
    path = tmp_path / "broken.json"
    path.write_text(broken)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    with pytest.raises(DataError) as err:
        import_coco(img_dir, path, tmp_path / "ds")
    message = str(err.value)
    assert message.startswith(f"{path} is not valid JSON (line {expected.value.lineno}, column "
                              f"{expected.value.colno}: ") and message.endswith("fix or re-export the file.")
    assert "\n" not in message and not (tmp_path / "ds").exists() and list(temp_dir.iterdir()) == []


def test_truncated_file_and_utf16(tmp_path):
    img_dir, ann = make_coco(tmp_path)
    text = json.dumps(_load(ann))
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match=r"not valid JSON \(line 1, column \d+: premature EOF\)"):
        import_coco(img_dir, tmp_path / "cut.json", tmp_path / "ds")
    (tmp_path / "u16.json").write_bytes(text.encode("utf-16"))      # json.loads reads UTF-16 too
    assert import_coco(img_dir, tmp_path / "u16.json", tmp_path / "ds").rows_in_dataset == 7


def test_reading_reports_progress_and_can_be_stopped(tmp_path, temp_dir, monkeypatch):
    img_dir, ann = make_coco(tmp_path)
    monkeypatch.setattr(coco_json, "BATCH", 2)        # check for a stop every 2 records
    read = []
    summary = import_coco(img_dir, ann, tmp_path / "ds", should_stop=lambda: True,
                          reading=lambda done, total: read.append((done, total)))
    assert summary.stopped and summary.rows_in_dataset == 0
    assert not (tmp_path / "ds").exists() and list(temp_dir.iterdir()) == []
    assert read and read[-1][0] < read[-1][1]         # stopped in the first pass
    read.clear()
    import_coco(img_dir, ann, tmp_path / "ds", reading=lambda done, total: read.append((done, total)))
    size = ann.stat().st_size
    assert read[-1] == (3 * size, 3 * size) and [d for d, _ in read] == sorted(d for d, _ in read)


def test_resume_reads_stored_ids_in_slices(tmp_path, monkeypatch):
    img_dir, ann = make_coco(tmp_path)
    dest = tmp_path / "ds"
    calls = []
    assert import_coco(img_dir, ann, dest, chunk_size=2,
                       should_stop=lambda: calls.append(1) or len(calls) >= 2).rows_in_dataset == 4
    monkeypatch.setattr(coco_import, "ID_SLICE", 3)
    seen = []
    s = import_coco(img_dir, ann, dest, resume=True, chunk_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (4, 9) and seen[-1] == (9, 9)
    ds = deeplake.open_read_only(str(dest))
    ids = [int(v) for v in ds["coco_image_id"][:]]
    assert s.rows_in_dataset == 7 and len(set(ids)) == 7


def test_cli_ctrl_c_while_reading_says_nothing_was_imported(tmp_path, capsys, monkeypatch):
    from segstudio.cli import main

    img_dir, ann = make_coco(tmp_path)

    def interrupted(path, should_stop=None, reading=None):
        reading(10, 30)
        raise KeyboardInterrupt          # what Ctrl+C does in the middle of the first pass
    monkeypatch.setattr(coco_import, "read_coco", interrupted)
    assert main(["import-coco", str(img_dir), str(ann), str(tmp_path / "ds")]) == 130
    err = capsys.readouterr().err
    assert f"interrupted while reading {ann}; no image was imported." in err and "--resume" not in err
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("content, match", [
    ({"images": {}, "annotations": [], "categories": [{"id": 1}]}, r"'images' in .* is an object, not a list"),
    ({"categories": [{"id": 1}], "images": [], "annotations": "none"}, r"'annotations' in .* is a string, not a list"),
    ({"images": [], "annotations": []}, r"has no 'categories' list"),
    ({"images": [], "annotations": [], "categories": [{"id": 1}], "x": float("nan")}, r"line 1, column \d+"),
])
def test_lists_that_are_not_lists_and_non_json(tmp_path, content, match):
    (tmp_path / "a.json").write_text(json.dumps(content))       # json.dumps writes NaN, which is not JSON
    with pytest.raises(DataError, match=match):
        import_coco(tmp_path, tmp_path / "a.json", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_no_room_for_the_temporary_index_is_one_sentence(tmp_path, temp_dir, monkeypatch):
    """A temporary folder that fills up: SQLite's own "disk is full", here from a page limit of 80 kB."""
    poly = [[float(v) for v in range(200)]]
    anns = [{"id": i, "image_id": 1, "category_id": 1, "segmentation": poly} for i in range(300)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": anns,
                                "categories": [{"id": 1, "name": "x"}]}))
    real = coco_json._temp_db

    def small_disk():
        db = real()
        db.execute("PRAGMA max_page_count = 20")
        return db
    monkeypatch.setattr(coco_json, "_temp_db", small_disk)
    with pytest.raises(DataError, match=r"Cannot write the COCO file's temporary index in .*database or disk "
                                        r"is full.*set TMPDIR"):
        import_coco(tmp_path, path, tmp_path / "ds")
    assert not (tmp_path / "ds").exists() and list(temp_dir.iterdir()) == []
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "no-such-folder"))
    monkeypatch.setattr(coco_json, "_temp_db", real)
    with pytest.raises(DataError, match="Cannot write the COCO file's temporary index in .*no-such-folder"):
        import_coco(tmp_path, path, tmp_path / "ds")

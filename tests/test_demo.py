"""The embedded demo dataset: schema, determinism, row variety, tight boxes, refusals, CLI."""
import os

import deeplake
import numpy as np
import pytest

from segstudio.base.errors import DataError
from segstudio.cli import main
from segstudio.data.demo import CLASS_NAMES, create_demo_dataset, default_demo_path, ensure_demo_dataset, row_kind


def _rows(path, indices):
    ds = deeplake.open_read_only(path)
    return [{k: ds[i][k] for k in ("images", "masks", "boxes", "categories", "split")} for i in indices]


def test_schema_and_class_names(demo_dataset):
    ds = deeplake.open_read_only(demo_dataset)
    kinds = {c.name: str(c.dtype) for c in ds.schema.columns}
    assert set(kinds) == {"images", "masks", "boxes", "categories", "split"}
    assert "kind=image" in kinds["images"] and "kind=bmask" in kinds["masks"]
    assert "kind=bbox" in kinds["boxes"] and "kind=class_label" in kinds["categories"]
    assert list(ds["categories"].metadata["class_names"]) == CLASS_NAMES
    assert ds.metadata["seed"] == 0 and ds.metadata["generator_version"] >= 1
    assert len(ds) == 48


def test_rows_are_consistent_and_boxes_are_tight(demo_dataset):
    ds = deeplake.open_read_only(demo_dataset)
    sizes, total = set(), 0
    for i in range(len(ds)):
        row = ds[i]
        image, masks, boxes, labels = row["images"], row["masks"], row["boxes"], row["categories"]
        h, w = image.shape[:2]
        sizes.add((h, w))
        assert image.dtype == np.uint8 and image.shape[2] in (1, 3)
        assert masks.shape[:2] == (h, w) and masks.dtype == bool
        assert masks.shape[2] == len(boxes) == len(labels)
        assert boxes.dtype == np.float32 and labels.dtype == np.uint32
        assert all(0 <= int(v) < len(CLASS_NAMES) for v in labels)
        for k in range(len(labels)):
            ys, xs = np.nonzero(masks[:, :, k])
            assert len(xs) >= 30
            expected = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            np.testing.assert_array_equal(boxes[k], np.array(expected, np.float32))
        if len(labels) > 1:   # visible parts never overlap: an occluded pixel belongs to the top shape
            assert masks.sum(axis=2).max() <= 1
        total += len(labels)
    assert len(sizes) > 10 and any(h != w for h, w in sizes)
    assert all(160 <= h <= 320 and 160 <= w <= 320 for h, w in sizes)
    assert total > 3 * len(ds)


def test_grayscale_empty_rows_and_split(demo_dataset):
    ds = deeplake.open_read_only(demo_dataset)
    gray = [i for i in range(len(ds)) if ds[i]["images"].shape[2] == 1]
    empty = [i for i in range(len(ds)) if len(ds[i]["categories"]) == 0]
    assert gray == [i for i in range(len(ds)) if row_kind(i, 0)[1]] and len(gray) >= 3
    assert set(empty) >= {i for i in range(len(ds)) if row_kind(i, 0)[0]} and len(empty) >= 2
    for i in empty:
        assert ds[i]["masks"].shape[2] == 0 and ds[i]["boxes"].shape == (0, 4)
    splits = [ds[i]["split"] for i in range(len(ds))]
    assert set(splits) == {"train", "val"}
    assert 0.1 <= splits.count("val") / len(splits) <= 0.3


def test_same_seed_same_data_other_seed_differs(tmp_path, demo_dataset):
    a = create_demo_dataset(str(tmp_path / "a"), num_images=6, seed=0)
    b = create_demo_dataset(str(tmp_path / "b"), num_images=6, seed=1)
    rows_a, rows_ref, rows_b = _rows(a, range(6)), _rows(demo_dataset, range(6)), _rows(b, range(6))
    for ra, rr in zip(rows_a, rows_ref):   # a prefix of a larger dataset with the same seed
        for key in ra:
            np.testing.assert_array_equal(ra[key], rr[key])
    assert any(ra["images"].shape != rb["images"].shape or not np.array_equal(ra["images"], rb["images"])
               for ra, rb in zip(rows_a, rows_b))


def test_refuses_existing_dataset_and_non_empty_folder(tmp_path):
    path = create_demo_dataset(str(tmp_path / "d"), num_images=2)
    before = sorted(os.listdir(tmp_path)), deeplake.open_read_only(path).version
    with pytest.raises(DataError, match="already exists; choose another destination or pass --overwrite"):
        create_demo_dataset(path, num_images=3)
    assert (sorted(os.listdir(tmp_path)), deeplake.open_read_only(path).version) == before
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not a Deep Lake dataset"):
        create_demo_dataset(str(folder), num_images=2)
    with pytest.raises(DataError, match="--overwrite only replaces a dataset"):    # was: folder deleted
        create_demo_dataset(str(folder), num_images=2, overwrite=True)
    assert os.listdir(folder) == ["keep.txt"]
    assert len(deeplake.open_read_only(create_demo_dataset(path, num_images=3, overwrite=True))) == 3
    assert sorted(os.listdir(tmp_path)) == ["d", "notes"]   # no build or backup folders left behind


def test_empty_folder_is_used_and_file_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    assert len(deeplake.open_read_only(create_demo_dataset(str(tmp_path / "empty"), num_images=1))) == 1
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        create_demo_dataset(str(tmp_path / "f"), num_images=1)
    with pytest.raises(DataError, match="is a file"):
        create_demo_dataset(str(tmp_path / "f" / "sub"), num_images=1)


def test_interrupted_build_leaves_nothing_at_dest(tmp_path):
    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_demo_dataset(str(tmp_path / "d"), num_images=70, progress=stop)
    assert os.listdir(tmp_path) == []


def test_ensure_creates_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_DATA_DIR", str(tmp_path))
    assert default_demo_path() == str(tmp_path / "demo-v1")
    calls = []
    monkeypatch.setattr("segstudio.data.demo.create_demo_dataset",
                        lambda dest, progress=None: calls.append(dest) or
                        create_demo_dataset(dest, num_images=3, progress=progress))
    seen = []
    path = ensure_demo_dataset(progress=lambda d, t: seen.append((d, t)))
    assert path == default_demo_path() and seen == [(3, 3)]
    assert ensure_demo_dataset() == path and len(calls) == 1


def test_cli_exit_codes(tmp_path, capsys):
    dest = str(tmp_path / "cli")
    assert main(["demo-data", dest, "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert dest in out and "4 images" in out and "6 classes" in out
    assert main(["demo-data", dest, "--images", "4"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: ") and "--overwrite" in err
    assert "Traceback" not in err
    assert main(["demo-data", dest, "--images", "2", "--overwrite"]) == 0
    assert len(deeplake.open_read_only(dest)) == 2
    (tmp_path / "file").write_text("x")
    assert main(["demo-data", str(tmp_path / "file")]) == 1
    assert main(["demo-data", dest, "--images", "0", "--overwrite"]) == 1
    assert "Traceback" not in capsys.readouterr().err

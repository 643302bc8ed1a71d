"""What changed in the data between two runs' dataset versions: a dataset whose changes are known (rows added,
a row deleted, a class and a box changed on a branch), and the diff must name exactly those rows."""
from __future__ import annotations

import deeplake
import numpy as np
import pytest
import tomli_w

from segstudio.config import Config, DataConfig, config_to_dict
from segstudio.data.demo import create_demo_dataset
from segstudio.data.mapped import open_mapped
from segstudio.data.version_diff import diff_fingerprints, diff_versions
from segstudio.engine.data_changes import data_changes


@pytest.fixture(scope="module")
def changed_dataset(tmp_path_factory):
    """10 demo rows on main; branch exp: row 2 deleted, then (as B numbers rows) row 5's classes and row 0's
    boxes changed, and two rows of another demo dataset appended (rows 9 and 10 of B)."""
    root = tmp_path_factory.mktemp("changes")
    url, other = str(root / "ds"), str(root / "other")
    create_demo_dataset(url, num_images=10, seed=0)
    create_demo_dataset(other, num_images=2, seed=1)
    ds = deeplake.open(url)
    main_ref = f"main@{ds.version}"
    ds.branch("exp")
    exp = ds.branches["exp"].open()
    exp.delete(2)
    labels = np.asarray(exp["categories"][5])
    exp["categories"][5] = ((labels + 1) % 3).astype(labels.dtype)
    boxes = np.asarray(exp["boxes"][0])
    exp["boxes"][0] = boxes + 1
    extra = deeplake.open_read_only(other)
    exp.append({c.name: [extra[c.name][r] for r in range(2)] for c in exp.schema.columns})
    exp.commit("known changes")
    return url, main_ref, f"exp@{exp.version}"


def _card(run, url, commit):
    cfg = Config()
    cfg.data.url, cfg.data.commit = url, commit
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.toml").write_text(tomli_w.dumps(config_to_dict(cfg)))
    return run


def test_the_diff_names_exactly_the_changed_rows(changed_dataset):
    url, ref_a, ref_b = changed_dataset
    a, b = (open_mapped(url, DataConfig(commit=ref)) for ref in (ref_a, ref_b))
    seen = []
    diff = diff_versions(a.ds, b.ds, a.mapping, b.mapping, progress=lambda done, total: seen.append((done, total)))
    assert (diff.rows_a, diff.rows_b) == (10, 11)
    assert (diff.added, diff.added_rows) == (2, [9, 10])
    assert (diff.removed, diff.removed_rows) == (1, [2])
    assert (diff.changed, diff.changed_rows) == (2, [0, 5])
    assert diff.changed_parts == {"classes": 1, "boxes": 1, "masks": 0}
    assert seen[-1] == (21, 21)


def test_compare_says_what_changed_between_two_runs_versions(changed_dataset, tmp_path):
    url, ref_a, ref_b = changed_dataset
    result = data_changes(_card(tmp_path / "a", url, ref_a), _card(tmp_path / "b", url, ref_b))
    assert result["status"] == "changed"
    assert result["text"] == (f"Data: from {ref_a} (A) to {ref_b} (B): 2 row(s) added (rows of B 9, 10), 1 removed "
                              "(rows of A 2), 2 with changed labels (rows of B 0, 5; classes, boxes).")


def test_same_commit_and_different_datasets_are_said(changed_dataset, tmp_path):
    url, ref_a, _ = changed_dataset
    same = data_changes(_card(tmp_path / "a", url, ref_a), _card(tmp_path / "b", url + "/", ref_a))
    assert same["status"] == "same" and "no data changes" in same["text"]
    other = data_changes(tmp_path / "a", _card(tmp_path / "c", str(tmp_path / "elsewhere"), ref_a))
    assert other["status"] == "different datasets" and other["text"].startswith("Data: the runs read different")
    unknown = data_changes(tmp_path / "a", _card(tmp_path / "d", url, ""))
    assert unknown["status"] == "unknown"


def test_listed_rows_are_bounded():
    images_a = [bytes([i % 256, i // 256]) for i in range(300)]
    labels_a = [(b"c", b"b", b"m")] * 300
    images_b = images_a[100:] + [b"new" + bytes([i]) for i in range(50)]
    diff = diff_fingerprints(images_a, labels_a, images_b, labels_a[:250], listed=5)
    assert (diff.removed, diff.removed_rows) == (100, [0, 1, 2, 3, 4])
    assert (diff.added, diff.added_rows) == (50, [200, 201, 202, 203, 204])
    assert diff.changed == 0

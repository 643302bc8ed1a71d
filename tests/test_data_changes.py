"""What changed in the data between two runs' dataset versions: a dataset whose changes are known (rows added,
a row deleted, a class and a box changed on a branch), and the diff must name exactly those rows."""
from __future__ import annotations

import pytest
from data_changes_cases import make_changed_dataset, write_card

from segstudio.base.config import DataConfig
from segstudio.data.mapped import open_mapped
from segstudio.data.version_diff import diff_fingerprints, diff_versions
from segstudio.engine.data_changes import data_changes


@pytest.fixture(scope="module")
def changed_dataset(tmp_path_factory):
    return make_changed_dataset(tmp_path_factory.mktemp("changes"))


_card = write_card


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


def test_compare_command_prints_the_data_changes(changed_dataset, tmp_path, capsys):
    from eval_cases import image, rect

    from segstudio.cli import main
    from segstudio.engine import eval_store

    url, ref_a, ref_b = changed_dataset
    g = rect(0, 0, 10, 10)
    for name, ref in (("a", ref_a), ("b", ref_b)):
        eval_store.save([image([(g, 1)], [(g, 1, 0.9)], 0)], ["a", "b"], tmp_path / name / "eval" / "predictions.json")
        _card(tmp_path / name, url, ref)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("2 with changed labels (rows of B 0, 5; classes, boxes).")
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--resamples", "200", "--no-data"]) == 0
    assert "Data:" not in capsys.readouterr().out


def test_a_stopped_diff_says_so(changed_dataset, tmp_path):
    url, ref_a, ref_b = changed_dataset
    result = data_changes(_card(tmp_path / "a", url, ref_a), _card(tmp_path / "b", url, ref_b),
                          should_stop=lambda: True)
    assert result["status"] == "stopped" and result["diff"] is None

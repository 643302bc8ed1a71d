"""Pre-flight checks find each planted problem (count + first rows); `segstudio inspect` reports them."""
import json

import deeplake
import numpy as np
import pytest

from segstudio.cli import main
from segstudio.data.preflight import preflight, sample_rows
from segstudio.data.sample import BoxFormat, ColumnMapping
from segstudio.data.schema import add_instance_columns

H, W = 16, 20
MAP = ColumnMapping("images", "masks", "boxes", "categories", "iscrowd")


def _mask(y0, y1, x0, x1, n=1):
    m = np.zeros((H, W, n), bool)
    m[y0:y1, x0:x1, :] = True
    return m


# (image, masks HxWxN, boxes ltwh, labels, crowd) per row; the comment names the planted problem.
ROWS = [
    (np.zeros((H, W, 3), np.uint8), _mask(2, 6, 2, 6), [[2, 2, 4, 4]], [0], [0]),                 # clean
    (np.zeros((H, W, 3), np.uint8), _mask(2, 6, 2, 6, 2), [[2, 2, 0.5, 4], [15, 2, 10, 4]], [0, 1], [0, 0]),
    (np.zeros((H, W, 3), np.uint8), _mask(0, 0, 0, 0), [[2, 2, 4, 4]], [1], [0]),                 # empty mask
    (np.zeros((H, W, 3), np.uint8), _mask(10, 16, 10, 20), [[0, 0, 4, 4]], [1], [0]),             # mask off box
    (np.zeros((H, W, 3), np.uint8), _mask(2, 6, 2, 6, 2), [[2, 2, 4, 4]], [1], [0]),              # counts
    (np.zeros((H, W, 3), np.uint8), _mask(2, 6, 2, 6), [[2, 2, 4, 4]], [5], [0]),                 # label id
    (np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 0), bool), np.zeros((0, 4)), [], []),         # no instances
    (np.zeros((H, W, 3), np.uint8), np.zeros((H + 3, W, 1), bool), [[2, 2, 4, 4]], [0], [0]),     # mask shape
    (np.zeros((H, W, 1), np.uint8), _mask(2, 6, 2, 6), [[2, 2, 4, 4]], [0], [0]),                 # grayscale
    (np.zeros((H, W, 3), np.uint8), _mask(2, 6, 2, 6), [[2, 2, 4, 4]], [0], [1]),                 # only crowd
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pf") / "ds")
    ds = deeplake.create(path)
    add_instance_columns(ds, ["a", "b"], image_compression="png", iscrowd=True)
    cols = list(zip(*ROWS))
    ds.append({"images": list(cols[0]), "masks": list(cols[1]),
               "boxes": [np.asarray(b, np.float32).reshape(-1, 4) for b in cols[2]],
               "categories": [np.asarray(v, np.uint32) for v in cols[3]],
               "iscrowd": [np.asarray(v, bool) for v in cols[4]]})
    ds.commit("planted problems")
    return path


def test_every_planted_problem_is_found(planted):
    report = preflight(deeplake.open_read_only(planted), MAP, BoxFormat("ltwh", "pixel"))
    errors = {f.code: f.rows for f in report.errors}
    warnings = {f.code: (f.count, f.rows) for f in report.warnings}
    assert errors == {"masks_do_not_fit_image": [7], "count_mismatch": [4], "label_out_of_range": [5]}
    assert not report.ok and report.rows_checked == 10
    assert warnings["box_under_1px"] == (1, [1]) and warnings["box_outside_image"] == (1, [1])
    # row 1: a mask in a 0.5 px box
    assert warnings["empty_mask"] == (1, [2]) and warnings["mask_outside_box"][1] == [1, 3]
    assert warnings["no_instances"] == (1, [6]) and warnings["unusual_image"] == (1, [8])
    assert warnings["only_crowd"] == (1, [9])
    assert "first rows: 7" in report.format_text()


def test_row_subset(planted):
    report = preflight(deeplake.open_read_only(planted), MAP, BoxFormat(), rows=[0, 6])
    assert report.ok and report.rows_checked == 2 and [f.code for f in report.warnings] == ["no_instances"]
    assert sample_rows(10, 0) is None and sample_rows(10, 20) is None
    assert sample_rows(100, 5) == sample_rows(100, 5) and len(sample_rows(100, 5)) == 5


def test_inspect_json_and_exit_status(planted, capsys):
    assert main(["inspect", planted, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["num_rows"] == 10 and out["resolved_mapping"]["iscrowd"] == "iscrowd"
    assert out["class_counts"]["b"] == {"instances": 4, "crowd": 0}
    assert {e["code"] for e in out["preflight"]["errors"]} == {"masks_do_not_fit_image", "count_mismatch",
                                                               "label_out_of_range"}


def test_inspect_text_on_demo(demo_dataset, capsys):
    assert main(["inspect", demo_dataset, "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "Mapping: images=images masks=masks boxes=boxes labels=categories" in out
    assert "Pre-flight: 0 error(s)" in out and "Classes:" in out


def test_inspect_user_errors(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.startswith("error: Dataset path")


def test_inspect_column_problem_is_one_error_line(planted, capsys):
    """A wrong column: the schema on stdout (to choose from), one `error:` line on stderr, exit 1."""
    assert main(["inspect", planted, "--images", "nothere"]) == 1
    captured = capsys.readouterr()
    assert "Columns:" in captured.out and "nothere" not in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Column 'nothere'")


def test_inspect_negative_limit(planted, capsys):
    assert main(["inspect", planted, "--limit", "-3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --limit -3")

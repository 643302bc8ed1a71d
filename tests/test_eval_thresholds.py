"""Which score threshold `predict` uses per class, and the one-sentence errors around thresholds and reports."""
from __future__ import annotations

import json

import numpy as np
import pytest

from segstudio.base.errors import ConfigError, DataError
from segstudio.cli import main
from segstudio.engine.report import write_report
from segstudio.engine.thresholds import keep, load, parse_overrides, resolve

NAMES = ["cat", "dog", "bird"]


def _run_with_thresholds(tmp_path, content):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "thresholds.json").write_text(content)
    return tmp_path


def test_saved_per_class_thresholds_are_the_default(tmp_path):
    run = _run_with_thresholds(tmp_path, json.dumps({"per_class": {"cat": 0.7, "dog": 0.2}, "global": 0.4, "iou": 0.5}))
    thresholds, source = resolve(run, NAMES)
    assert thresholds == {1: 0.7, 2: 0.2, 3: 0.4} and "F1-best" in source   # bird: the file's global value


def test_one_global_threshold_replaces_the_file_and_overrides_win(tmp_path):
    run = _run_with_thresholds(tmp_path, json.dumps({"per_class": {"cat": 0.7}, "global": 0.4}))
    assert resolve(run, NAMES, 0.3)[0] == {1: 0.3, 2: 0.3, 3: 0.3}
    assert resolve(run, NAMES, None, {"dog": 0.9})[0] == {1: 0.7, 2: 0.9, 3: 0.4}
    assert resolve(tmp_path / "no-eval", NAMES)[0] == {1: 0.5, 2: 0.5, 3: 0.5}


def test_keep_applies_each_class_its_threshold():
    assert keep([0.6, 0.6, 0.1], [1, 2, 3], {1: 0.7, 2: 0.5, 3: 0.05}).tolist() == [False, True, True]
    assert keep(np.array([0.6, 0.4]), np.array([1, 1]), 0.5).tolist() == [True, False]


def test_bad_overrides_and_files_are_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="must be CLASS=SCORE"):
        parse_overrides(["cat"], NAMES)
    with pytest.raises(ConfigError, match="must be CLASS=SCORE"):
        parse_overrides(["cat=1.5"], NAMES)
    assert parse_overrides(["cat=0.25"], NAMES) == {"cat": 0.25}
    run = _run_with_thresholds(tmp_path, "{not json")
    with pytest.raises(ConfigError, match="not a valid thresholds file"):
        load(run)


def test_report_without_evaluation_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="holds no complete evaluation"):
        write_report(tmp_path, tmp_path / "out")


def test_eval_report_into_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    target = tmp_path / "report.txt"
    target.write_text("x")
    assert main(["eval", str(tmp_path / "some-run"), "--report", str(target)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err

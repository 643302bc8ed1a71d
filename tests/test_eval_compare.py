"""Run A against run B: bootstrap intervals with answers worked out by hand, and the command's errors."""
from __future__ import annotations

import numpy as np
import pytest
from eval_cases import image, random_images, rect

from segstudio.cli import main
from segstudio.engine import eval_store
from segstudio.engine.compare import class_aps, compare_runs, draw_weights
from segstudio.engine.matching import match_many
from segstudio.engine.pr_curves import IOU_SETTINGS, build_curves

A = 1


def _run(tmp_path, name, images):
    run = tmp_path / name
    eval_store.save(images, ["a", "b"], run / "eval" / "predictions.json")
    return run


def test_unit_weights_give_coco_ap():
    images = random_images(30, classes=2, seed=5)
    curves = build_curves(images, "segm", "0.5:0.95", 2)
    matches = match_many(images, "segm", IOU_SETTINGS["0.5:0.95"])
    for label in (1, 2):
        assert class_aps(matches, label, np.ones((1, len(images))))[0] == pytest.approx(curves[label].ap())


def test_bootstrap_weights_count_draws():
    w = draw_weights(5, 200, np.random.default_rng(0))
    assert w.shape == (200, 5) and (w.sum(1) == 5).all()


def test_two_images_interval_by_hand(tmp_path):
    g0, g1 = rect(0, 0, 10, 10), rect(20, 20, 30, 30)
    perfect = [image([(g0, A)], [(g0, A, 0.9)], 0), image([(g1, A)], [(g1, A, 0.9)], 1)]
    half = [image([(g0, A)], [(g0, A, 0.9)], 0), image([(g1, A)], [], 1)]
    result = compare_runs(_run(tmp_path, "a", perfect), _run(tmp_path, "b", half), setting="0.5", resamples=4000)
    # A is 1 on every resample; B is 1 (image 0 twice), 51/101 (each once: recall 1/2) or 0 (image 1 twice),
    # with chances 1/4, 1/2, 1/4: B - A is 0, -50/101 or -1, and the 95% interval is [-1, 0]
    assert result["paired"] and not result["notes"]
    a = result["per_class"]["a"]
    assert (a["a"], a["b"], a["delta"]) == (1.0, pytest.approx(51 / 101, abs=1e-4), pytest.approx(-50 / 101, abs=1e-4))
    assert a["ci"] == [-1.0, 0.0] and not a["significant"]


def test_clear_difference_is_significant_and_different_sets_are_said_first(tmp_path):
    gts = [rect(0, 0, 10, 10), rect(20, 20, 30, 30)]
    perfect = [image([(g, A) for g in gts], [(g, A, 0.9) for g in gts], i) for i in range(30)]
    worse = [image([(g, A) for g in gts], [(gts[0], A, 0.9)], i) for i in range(30)]
    result = compare_runs(_run(tmp_path, "a", perfect), _run(tmp_path, "b", worse), setting="0.5")
    a = result["per_class"]["a"]
    assert a["delta"] == pytest.approx(51 / 101 - 1, abs=1e-4) and a["significant"] and a["ci"][1] < 0
    shorter = _run(tmp_path, "c", worse[:20])
    other = compare_runs(tmp_path / "a", shorter, setting="0.5", resamples=200)
    assert not other["paired"] and other["notes"][0].startswith("The two runs were evaluated on different")


def _card(run, lr):
    import tomli_w

    from segstudio.base.config import Config, config_to_dict
    cfg = Config()
    cfg.train.lr = lr
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.toml").write_text(tomli_w.dumps(config_to_dict(cfg)))


def test_compare_command_errors_and_output(tmp_path, capsys):
    g = rect(0, 0, 10, 10)
    for name, lr in (("a", 0.01), ("b", 0.001)):
        _run(tmp_path, name, [image([(g, A)], [(g, A, 0.9)], 0)])
        _card(tmp_path / name, lr)
    _card(tmp_path / "nothing", 0.01)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 1
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "nothing")]) == 1
    assert "has no stored evaluation; run `segstudio eval" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "all classes" in out and "train.lr: 0.01 -> 0.001" in out
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "a"), "--resamples", "5"]) == 1
    assert "--resamples must be at least 100" in capsys.readouterr().err

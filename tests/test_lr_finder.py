"""The learning-rate range test: its rule on a known curve, and a sweep that writes and changes nothing."""
from __future__ import annotations

import math

import pytest
import torch
from engine_fakes import FakeData
from test_engine import tiny_config

from segstudio.base.errors import ConfigError
from segstudio.engine.lr_finder import MIN_POINTS, SKIP_START, find_lr, lr_sweep, smooth, suggest_lr


def test_the_suggestion_is_the_steepest_descent_of_the_smoothed_loss():
    """A synthetic curve: the loss falls as 1 - tanh(2 * (log10 lr + 3)), fastest at lr = 1e-3, then rises
    past 1e-1. The suggestion is the grid point nearest 1e-3."""
    lrs = [1e-6 * (1e6) ** (k / 99) for k in range(100)]
    loss = [2 - math.tanh(2 * (math.log10(lr) + 3)) + max(0.0, math.log10(lr) + 1) ** 2 for lr in lrs]
    suggestion = suggest_lr(lrs, loss)
    assert abs(math.log10(suggestion) + 3) <= 0.5 * 6 / 99 + 1e-9
    # the steepest point outside the skipped ends wins even when the ends fall faster
    steep_ends = [10.0 - 3 * k if k < SKIP_START else loss[k] for k in range(100)]
    assert suggest_lr(lrs, steep_ends) == suggestion
    assert suggest_lr(lrs[:MIN_POINTS - 1], loss[:MIN_POINTS - 1]) is None
    assert suggest_lr(lrs[:MIN_POINTS], loss[:MIN_POINTS]) is not None   # a sweep that diverged early


def test_smoothing_is_bias_corrected():
    assert smooth([3.0, 3.0, 3.0]) == pytest.approx([3.0, 3.0, 3.0])


@pytest.mark.slow   # a 12-step sweep
def test_the_sweep_leaves_the_model_and_the_run_folder_untouched(tmp_path):
    cfg = tiny_config(tmp_path)
    data = FakeData()
    sweep = find_lr(cfg, data=data, start=1e-4, end=10.0, iters=12)
    assert not (tmp_path / "runs").exists()
    assert 1 <= len(sweep.lrs) <= 12 and sweep.lrs[0] == pytest.approx(1e-4)
    assert all(b / a == pytest.approx((1e5) ** (1 / 11)) for a, b in zip(sweep.lrs, sweep.lrs[1:]))
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    class Toy(torch.nn.Module):   # lr_sweep's contract: model(images, targets) -> dict of losses
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, images, targets):
            x = torch.stack(images)
            return {"loss": ((self.inner(x) - torch.stack([t["y"] for t in targets])) ** 2).mean()}

    batches = [([torch.ones(2)], [{"y": torch.zeros(2)}])] * 3
    sweep = lr_sweep(Toy(), cfg.train, lambda: batches, torch.device("cpu"), start=1e-3, end=1.0, iters=10)
    assert len(sweep.lrs) == 10 or sweep.stopped == "diverged"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_sweep_with_start_above_end_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="0 < start < end"):
        find_lr(tiny_config(tmp_path), data=FakeData(), start=1.0, end=1e-3)


@pytest.mark.slow   # a 12-step sweep on the demo data
def test_train_find_lr_prints_a_suggestion_and_writes_no_run(demo_dataset, tmp_path, capsys):
    from tiny_config import write_config

    from segstudio.cli import main

    config = write_config(tmp_path, demo_dataset, iters=12)
    assert main(["train", "--find-lr", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "suggested train.lr = " in out and "steepest descent" in out and "--set train.lr=" in out
    assert not (tmp_path / "runs").exists()
    assert main(["train", "--find-lr", "--resume", "x"]) == 1
    err = capsys.readouterr().err
    assert "drop --resume" in err and "Traceback" not in err

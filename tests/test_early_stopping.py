"""Early stopping on the validation loss (eval.early_stopping_metric = "val_loss"): off by default, stops after
`patience` evaluations whose loss did not fall, says why (warning, finished event, run.json), and a resumed run
remembers how many evaluations it has waited. The validation loss is scripted so the answer is known."""
from __future__ import annotations

import json

import pytest
from engine_fakes import FakeData
from test_engine import Recorder, tiny_config

from segstudio.base.config import Config, validate
from segstudio.base.errors import ConfigError
from segstudio.engine import val_loss
from segstudio.engine.train import train


@pytest.fixture
def scripted_loss(monkeypatch):
    """Each evaluation's validation loss, in order: best at the first, then never lower."""
    losses = [1.0, 1.2, 1.1, 1.3, 1.4, 1.5]

    def validation_loss(*args, **kwargs):
        value = losses.pop(0)
        return {"loss": value, "loss_classifier": value}
    monkeypatch.setattr(val_loss, "validation_loss", validation_loss)
    return losses


def _data():
    return FakeData(num_train=2, num_val=2)        # one iteration an epoch


def _config(tmp_path, patience=2, epochs=5):
    cfg = tiny_config(tmp_path, epochs=epochs)
    cfg.eval.early_stopping_patience, cfg.eval.early_stopping_metric = patience, "val_loss"
    cfg.train.tensorboard = False
    return cfg


def test_stops_after_patience_evaluations_without_a_lower_loss(tmp_path, scripted_loss):
    rec = Recorder()
    fin = train(_config(tmp_path), rec, rec.should_stop, data=_data())
    # evaluations after epochs 1, 2, 3 (one iteration each): 1.0 best, 1.2 and 1.1 not lower -> stop after epoch 3
    assert fin.status == "completed" and (fin.epoch, fin.iteration) == (3, 3)
    assert fin.message.startswith("Stopped early after epoch 3 (iteration 3): validation loss did not fall for 2 "
                                  "evaluations (best 1.0000)")
    assert any(e.message == fin.message for e in rec.of("warning"))
    card = json.loads((tmp_path / "runs" / "t" / "run.json").read_text())
    assert card["early_stopped"] == {"metric": "val_loss", "patience": 2, "best": 1.0, "epoch": 3, "iteration": 3}
    assert (tmp_path / "runs" / "t" / "checkpoints" / "best.pt").is_file()
    assert (tmp_path / "runs" / "t" / "checkpoints" / "last.pt").is_file()


def test_a_resumed_run_remembers_the_evaluations_it_waited(tmp_path, scripted_loss):
    first = Recorder(stop_after=2)                  # stopped in epoch 2, before its evaluation: 1.0 was seen
    fin = train(_config(tmp_path), first, first.should_stop, data=_data())
    assert fin.status == "stopped" and fin.iteration == 2 and scripted_loss[0] == 1.2
    second = Recorder()
    fin = train(_config(tmp_path), second, second.should_stop, resume=fin.run_dir, data=_data())
    # 1.2 and 1.1 are not below the 1.0 the first session saw: had the resume forgotten it, 1.2 would be a new
    # best, then 1.1, and the run would go on to epoch 5
    assert fin.iteration == 3 and fin.message.startswith("Stopped early after epoch 3")


def test_off_by_default():
    from segstudio.engine.loop import LoopState, Plan
    from segstudio.engine.train import early_stop_due

    cfg = Config()
    cfg.eval.early_stopping_metric = "val_loss"
    state = LoopState()
    for loss in (1.0, 2.0, 3.0, 4.0):
        state.record_val_loss(loss)
    assert state.val_loss_evals_without_gain == 3
    assert not early_stop_due(state, Plan.from_config(cfg, iters_per_epoch=1), evaluated=True)
    cfg.eval.early_stopping_patience = 3
    assert early_stop_due(state, Plan.from_config(cfg, iters_per_epoch=1), evaluated=True)


def test_stopping_on_loss_needs_the_loss():
    cfg = Config()
    cfg.eval.early_stopping_patience, cfg.eval.early_stopping_metric, cfg.eval.val_loss = 3, "val_loss", False
    with pytest.raises(ConfigError, match=r"needs eval.val_loss = true"):
        validate(cfg)

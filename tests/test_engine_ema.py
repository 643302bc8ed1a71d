"""EMA weights (train.ema): the average itself, exact resume with it, and evaluation/inference using it."""
from __future__ import annotations

import pytest
import torch
from engine_fakes import FakeData
from test_engine import Recorder, tiny_config

from segstudio.engine import rundir
from segstudio.engine.checkpoint import load_checkpoint
from segstudio.engine.ema import ModelEMA
from segstudio.engine.evaluate import evaluate_model
from segstudio.engine.inference import load_run_model
from segstudio.engine.train import train


def test_the_average_matches_a_hand_computation_over_three_steps():
    """Weight w and BatchNorm running mean set to 1, 2, 3 after steps 1-3; the decays are
    d_k = min(0.5, (1+k)/(10+k)): 2/11, 3/12, 4/13 (all under 0.5); the batch counter is copied."""
    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    ema = ModelEMA(model, decay=0.5)
    expected_w = expected_mean = 0.0
    for k, value in enumerate([1.0, 2.0, 3.0], start=1):
        with torch.no_grad():
            model[0].weight.fill_(value)
            model[1].running_mean.fill_(value)
            model[1].num_batches_tracked.fill_(k)
        ema.update(model)
        d = (1 + k) / (10 + k)
        expected_w = d * expected_w + (1 - d) * value
        expected_mean = d * expected_mean + (1 - d) * value
    # by hand: 9/11 = 0.818..., then 0.25 * 9/11 + 0.75 * 2 = 1.7045..., then 4/13 * 1.7045 + 9/13 * 3
    assert expected_w == pytest.approx(4 / 13 * (0.25 * 9 / 11 + 1.5) + 27 / 13)
    assert float(ema.module[0].weight) == pytest.approx(expected_w, rel=1e-6)
    assert float(ema.module[1].running_mean) == pytest.approx(expected_mean, rel=1e-6)
    assert int(ema.module[1].num_batches_tracked) == 3 and ema.updates == 3
    assert not ema.module[0].weight.requires_grad and float(model[0].weight.detach()) == 3.0   # the model is untouched
    assert ema.decay_at(10_000) == 0.5


def ema_config(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.train.ema, cfg.train.ema_decay = True, 0.9
    return cfg


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ema_whole")
    rec = Recorder()
    fin = train(ema_config(tmp), rec, rec.should_stop, data=FakeData())
    assert fin.status == "completed", fin.message
    return rec, fin


@pytest.mark.slow   # three short training runs, ~30 s
def test_resume_with_ema_on_is_bit_exact(tmp_path, whole):
    """Stopped at iteration 3 and resumed: the average in last.pt and every evaluation (the EMA's and the
    model's) equal the uninterrupted run's bit for bit."""
    rec, fin = whole
    first = Recorder(stop_after=3)
    stopped = train(ema_config(tmp_path), first, first.should_stop, data=FakeData())
    assert stopped.status == "stopped" and load_checkpoint(
        rundir.checkpoint_path(stopped.run_dir, "last"))["ema"]["updates"] == 3
    second = Recorder()
    done = train(ema_config(tmp_path), second, second.should_stop, resume=stopped.run_dir, data=FakeData())
    assert done.status == "completed" and done.iteration == fin.iteration
    a = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))
    b = load_checkpoint(rundir.checkpoint_path(done.run_dir, "last"))
    assert a["ema"]["updates"] == b["ema"]["updates"] == 8
    for name, tensor in a["ema"]["model"].items():
        assert torch.equal(tensor, b["ema"]["model"][name]), name
    evals = [(e.metrics, e.model_metrics) for e in first.of("eval") + second.of("eval")]
    assert evals == [(e.metrics, e.model_metrics) for e in rec.of("eval")]


@pytest.mark.slow
def test_evaluation_and_inference_use_the_ema_weights(tmp_path, whole):
    """Each evaluation reports the EMA's metrics (and the model's beside them); the checkpoint names the
    weights that scored higher, and load_run_model loads those."""
    rec, fin = whole
    last = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))
    final = rec.of("eval")[-1]
    assert final.weights == "ema" and final.model_metrics
    loaded = load_run_model(fin.run_dir, "last", runs_dir=str(tmp_path))
    data = FakeData()

    def metrics_of(state):
        loaded.model.load_state_dict(state)
        return evaluate_model(loaded.model, data.val_batches(), torch.device("cpu"), data.class_names,
                              score_threshold=0.05)[0]

    assert metrics_of(last["ema"]["model"]) == final.metrics
    assert metrics_of(last["model"]) == final.model_metrics
    winner = "ema" if final.metrics["segm_map"] >= final.model_metrics["segm_map"] else "model"
    assert last["weights"] == winner
    reloaded = load_run_model(fin.run_dir, "last", runs_dir=str(tmp_path))
    expected = last["ema"]["model"] if winner == "ema" else last["model"]
    assert all(torch.equal(t, expected[n]) for n, t in reloaded.model.state_dict().items())
    written = [e for e in rec.of("checkpoint") if e.iteration == 8]
    assert written and all(e.weights == winner for e in written)


def test_the_console_says_whose_metrics_it_prints():
    import io

    from segstudio.commands.train import ConsoleReporter
    from segstudio.engine.events import EvalEvent

    out = io.StringIO()
    ConsoleReporter(out)(EvalEvent(epoch=0, iteration=2, metrics={"segm_map": 0.4}, weights="ema",
                                   model_metrics={"segm_map": 0.3}))
    assert "mask AP 0.400" in out.getvalue() and "[EMA weights; the model's own mask AP 0.300]" in out.getvalue()

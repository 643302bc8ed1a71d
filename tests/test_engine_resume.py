"""Exact resume, divergence that never poisons a checkpoint, and changed settings on resume."""
from __future__ import annotations

import json

import pytest
import torch
from engine_fakes import FakeData
from test_engine import Recorder, tiny_config

from segstudio.base.config import Config, load_config
from segstudio.base.errors import ConfigError
from segstudio.engine import rundir
from segstudio.engine.checkpoint import first_unhealthy_tensor, load_checkpoint
from segstudio.engine.optim import lr_factor
from segstudio.engine.train import train


def losses_of(events) -> dict:
    return {e.iteration: e.losses for e in events if e.kind == "iteration"}


def metrics_of(run_dir, kind: str) -> list[dict]:
    return [r for r in rundir.read_metrics(run_dir) if r["event"] == kind]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Two epochs of four iterations, evaluated after each, trained in one go."""
    tmp = tmp_path_factory.mktemp("whole")
    rec = Recorder()
    fin = train(tiny_config(tmp), rec, rec.should_stop, data=FakeData())
    assert fin.status == "completed"
    return rec, fin


@pytest.mark.parametrize("stop_after", [1, 3, 4, 6])
def test_resume_from_any_iteration_repeats_the_uninterrupted_curve(tmp_path, uninterrupted, stop_after):
    """Stopped mid-epoch (1, 3, 6) or at an epoch's last iteration (4), then resumed: every logged loss
    equals the uninterrupted run's bit for bit, and each epoch and evaluation is logged once."""
    whole, whole_fin = uninterrupted
    first = Recorder(stop_after=stop_after)
    fin = train(tiny_config(tmp_path), first, first.should_stop, data=FakeData())
    assert fin.status == "stopped" and fin.iteration == stop_after
    second = Recorder()
    fin = train(tiny_config(tmp_path), second, second.should_stop, resume=fin.run_dir, data=FakeData())
    assert fin.status == "completed" and fin.iteration == whole_fin.iteration
    assert {**losses_of(first.events), **losses_of(second.events)} == losses_of(whole.events)
    logged = {r["iteration"]: r["losses"] for r in metrics_of(fin.run_dir, "iteration")}
    assert logged == losses_of(whole.events)
    epochs = metrics_of(fin.run_dir, "epoch")
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert [e["mean_losses"] for e in epochs] == [e.mean_losses for e in whole.of("epoch")]
    assert [e["iteration"] for e in metrics_of(fin.run_dir, "eval")] == [4, 8]
    assert fin.best_metric == whole_fin.best_metric


def test_kill_after_the_last_checkpoint_of_an_epoch_logs_the_epoch_once(tmp_path):
    """A process killed during the end-of-epoch evaluation leaves last.pt at the epoch's last iteration and
    an epoch event in metrics.jsonl: the resume logs that epoch (with its full means) once."""
    first = Recorder(stop_after=4)
    fin = train(tiny_config(tmp_path), first, first.should_stop, data=FakeData())
    with (rundir.Path(fin.run_dir) / "metrics.jsonl").open("a") as fh:   # what the killed process logged
        fh.write(json.dumps({"event": "epoch", "epoch": 0, "iteration": 4, "mean_losses": {}}) + "\n")
        fh.write(json.dumps({"event": "eval", "epoch": 0, "iteration": 4, "metrics": {}}) + "\n")
    fin = train(tiny_config(tmp_path), Recorder(), lambda: False, resume=fin.run_dir, data=FakeData())
    epochs = metrics_of(fin.run_dir, "epoch")
    assert [e["epoch"] for e in epochs] == [0, 1] and all(e["mean_losses"] for e in epochs)
    assert [e["iteration"] for e in metrics_of(fin.run_dir, "eval")] == [4, 8]


def test_stop_during_evaluation_then_resume_evaluates_once(tmp_path):
    stop = {"now": False}

    class StopInVal(FakeData):
        def val_batches(self):
            stop["now"] = True
            return super().val_batches()

    fin = train(tiny_config(tmp_path), Recorder(), lambda: stop["now"], data=StopInVal())
    assert fin.status == "stopped" and fin.iteration == 4
    fin = train(tiny_config(tmp_path), Recorder(), lambda: False, resume=fin.run_dir, data=FakeData())
    assert fin.status == "completed"
    assert [e["epoch"] for e in metrics_of(fin.run_dir, "epoch")] == [0, 1]
    assert [e["iteration"] for e in metrics_of(fin.run_dir, "eval")] == [4, 8]


def test_resuming_a_finished_run_trains_and_evaluates_nothing(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.train.max_iters = 6   # ends inside the second epoch, evaluated there
    fin = train(cfg, Recorder(), lambda: False, data=FakeData())
    assert fin.status == "completed" and fin.iteration == 6
    rec = Recorder()
    again = train(tiny_config(tmp_path), rec, rec.should_stop, resume=fin.run_dir, data=FakeData())
    assert again.status == "completed" and again.iteration == 6
    assert not rec.of("iteration") and not rec.of("eval") and not rec.of("epoch")


def test_diverging_learning_rate_keeps_the_last_healthy_checkpoint_and_resume_rescues_it(tmp_path):
    """The issue's case: a run goes well, then a learning rate that diverges. The run fails with a
    sentence naming last.pt; last.pt holds the last healthy state (finite, bounded weights and BatchNorm
    statistics, not the one step before the explosion), and resuming with a lower lr trains on."""
    fin = train(tiny_config(tmp_path, epochs=1, checkpoint_every=1), Recorder(), lambda: False, data=FakeData())
    rec = Recorder()
    bad = train(Config(), rec, rec.should_stop, resume=fin.run_dir, extend_epochs=2,
                overrides={"train.lr": 8.0, "train.warmup_iters": 0}, data=FakeData())
    assert bad.status == "failed" and rec.of("error")[0].reason == "nan"
    diverged_at = rec.of("iteration")[-1].iteration + 1
    last = rundir.checkpoint_path(fin.run_dir, "last")
    saved = load_checkpoint(last)
    kept = saved["state"]["iteration"]
    assert 4 <= kept < diverged_at - 1   # never the step right before the explosion
    assert str(last) in bad.message and f"iteration {kept}" in bad.message and "--set train.lr=" in bad.message
    assert first_unhealthy_tensor(_model_from(saved, tiny_config(tmp_path))) == ""
    rec2 = Recorder()
    fin2 = train(Config(), rec2, rec2.should_stop, resume=fin.run_dir, overrides={"train.lr": 1e-3},
                 data=FakeData())
    assert fin2.status == "completed", fin2.message
    assert rec2.of("iteration")[0].iteration == kept + 1 and fin2.iteration == 12
    assert all(e.lr <= 1e-3 for e in rec2.of("iteration"))
    assert load_config(rundir.Path(fin.run_dir) / "config.toml").train.lr == 1e-3   # the run card says so


def test_rollbacks_go_back_to_the_first_healthy_checkpoint_with_a_lower_learning_rate(tmp_path):
    """train.rollbacks: the same diverging learning rate, but the run goes back by itself with a tenth of
    the rate each time (a warning says so), always to the checkpoint its first divergence kept, until it
    trains on and completes; the run card records the rate it ended with, and no rollback.pt is left."""
    fin = train(tiny_config(tmp_path, epochs=1, checkpoint_every=1), Recorder(), lambda: False, data=FakeData())
    rec = Recorder()
    done = train(Config(), rec, rec.should_stop, resume=fin.run_dir, extend_epochs=2,
                 overrides={"train.lr": 8.0, "train.warmup_iters": 0, "train.rollbacks": 4}, data=FakeData())
    assert done.status == "completed" and done.iteration == 12, done.message
    backs = [w.message for w in rec.of("warning") if "going back to iteration" in w.message]
    assert 1 <= len(backs) <= 4 and not rec.of("error")
    assert "train.lr=0.8 " in backs[0] and "3 more rollbacks allowed" in backs[0]
    assert len({b.split("going back to iteration ")[1].split()[0] for b in backs}) == 1   # one origin
    card = load_config(rundir.Path(fin.run_dir) / "config.toml")
    assert card.train.lr == pytest.approx(8.0 / 10 ** len(backs)) and card.train.rollbacks == 4 - len(backs)
    assert metrics_of(fin.run_dir, "finished")[-1]["status"] == "completed"
    last = rundir.checkpoint_path(fin.run_dir, "last")
    assert first_unhealthy_tensor(_model_from(load_checkpoint(last), tiny_config(tmp_path))) == ""
    assert not (last.parent / "rollback.pt").exists()


def test_without_rollbacks_left_the_divergence_is_one_sentence(tmp_path):
    """Rows that make every loss NaN: one rollback, then the usual one sentence."""
    fin = train(tiny_config(tmp_path, epochs=1, checkpoint_every=1), Recorder(), lambda: False, data=FakeData())
    rec = Recorder()
    bad = train(Config(), rec, rec.should_stop, resume=fin.run_dir, extend_epochs=1,
                overrides={"train.rollbacks": 1}, data=FakeData(poison_rows=range(8)))
    assert bad.status == "failed" and rec.of("error")[0].reason == "nan" and "--resume" in bad.message
    assert len([w for w in rec.of("warning") if "going back" in w.message]) == 1
    assert not (rundir.checkpoint_path(fin.run_dir, "last").parent / "rollback.pt").exists()


def _model_from(saved: dict, cfg):
    from segstudio.models.maskrcnn import build_model

    model = build_model(cfg.model, 3, cfg.augment.image_size, load_weights=False)
    model.load_state_dict(saved["model"])
    return model


def test_unhealthy_model_is_never_written(tmp_path):
    """BatchNorm statistics that went non-finite in a forward pass stop the save, whatever the loss said."""
    from segstudio.engine.checkpoint import CheckpointWriter, UnhealthyModel
    from segstudio.engine.loop import LoopState, Step

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0)
    step = Step(model, opt, sched, torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"), False, 0.0)
    writer = CheckpointWriter(tmp_path, model, step, {})
    writer.save(LoopState(iteration=1))
    model[1].running_var.fill_(float("inf"))
    with pytest.raises(UnhealthyModel, match="running_var"):
        writer.save(LoopState(iteration=2))
    model[1].running_var.fill_(1.0)
    model[0].weight.data.fill_(1e24)
    with pytest.raises(UnhealthyModel, match="weight"):
        writer.save(LoopState(iteration=3))
    assert load_checkpoint(writer.last)["state"]["iteration"] == 1 and writer.kept_iteration == 1


def test_resume_with_changed_optimiser_settings(tmp_path):
    first = Recorder(stop_after=3)
    fin = train(tiny_config(tmp_path), first, first.should_stop, data=FakeData())
    rec = Recorder()
    fin = train(Config(), rec, rec.should_stop, resume=fin.run_dir,
                overrides={"train.lr": 0.002, "train.momentum": 0.5, "train.weight_decay": 0.0}, data=FakeData())
    assert fin.status == "completed"
    its = rec.of("iteration")
    cfg = tiny_config(tmp_path)
    assert its[0].iteration == 4 and its[0].lr == pytest.approx(0.002 * lr_factor(3, cfg.train, 4, 8))
    card = load_config(rundir.Path(fin.run_dir) / "config.toml")
    assert (card.train.lr, card.train.momentum, card.train.weight_decay) == (0.002, 0.5, 0.0)


@pytest.mark.parametrize("overrides, match", [
    ({"train.lr": -1.0}, "train.lr must be between"),
    ({"train.lrr": 1e-4}, "Unknown setting train.lrr"),
    ({"model.arch": "maskrcnn_resnet50_fpn"}, "model.arch cannot change when resuming"),
    ({"train.batch_size": 4}, "train.batch_size cannot change when resuming"),
])
def test_bad_resume_settings_are_one_sentence_and_change_nothing(tmp_path, overrides, match):
    fin = train(tiny_config(tmp_path, epochs=1), Recorder(), lambda: False, data=FakeData())
    card = (rundir.Path(fin.run_dir) / "config.toml").read_text()
    metrics = (rundir.Path(fin.run_dir) / "metrics.jsonl").read_text()
    rec = Recorder()
    again = train(Config(), rec, rec.should_stop, resume=fin.run_dir, overrides=overrides, data=FakeData())
    assert again.status == "failed" and match in again.message
    assert (rundir.Path(fin.run_dir) / "config.toml").read_text() == card
    assert (rundir.Path(fin.run_dir) / "metrics.jsonl").read_text() == metrics


def test_negative_extend_is_refused_before_anything_changes(tmp_path):
    fin = train(tiny_config(tmp_path, epochs=1), Recorder(), lambda: False, data=FakeData())
    card = (rundir.Path(fin.run_dir) / "config.toml").read_text()
    again = train(Config(), Recorder(), lambda: False, resume=fin.run_dir, extend_epochs=-2, data=FakeData())
    assert again.status == "failed" and "--extend-epochs must be a positive" in again.message
    assert (rundir.Path(fin.run_dir) / "config.toml").read_text() == card


def test_parse_overrides_reads_toml_values_and_plain_text():
    from segstudio.base.config import apply_overrides, parse_overrides

    values = parse_overrides(["train.lr=1e-4", "train.device=cpu", "train.amp=false", "data.url=/a/b c"])
    assert values == {"train.lr": 1e-4, "train.device": "cpu", "train.amp": False, "data.url": "/a/b c"}
    cfg = apply_overrides(Config(), values)
    assert cfg.train.lr == 1e-4 and cfg.data.url == "/a/b c" and Config().train.lr != 1e-4
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["lr=1e-4"])
    with pytest.raises(ConfigError, match="train.device must be one of"):
        apply_overrides(Config(), parse_overrides(["train.device=gpu"]))


def demo_config(tmp_path, url: str, workers: int) -> Config:
    cfg = tiny_config(tmp_path)
    cfg.data.url, cfg.data.split_column = url, "split"
    cfg.train.batch_size, cfg.train.workers = 8, workers
    cfg.eval.interval_epochs, cfg.eval.max_images = 0, 2
    return cfg


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_resume_on_real_data_with_loader_workers_is_exact(tmp_path, demo_dataset, workers):
    """The real data path (Deep Lake rows, augmentation seeded per sample, spawned workers): stopped in
    the second epoch and resumed, the losses equal an uninterrupted run's exactly."""
    whole = Recorder()
    fin = train(demo_config(tmp_path / "a", demo_dataset, workers), whole, whole.should_stop)
    assert fin.status == "completed", fin.message
    ipe = whole.of("started")[0].iters_per_epoch
    first = Recorder(stop_after=ipe + 2)
    stopped = train(demo_config(tmp_path / "b", demo_dataset, workers), first, first.should_stop)
    assert stopped.status == "stopped"
    second = Recorder()
    resumed = train(Config(), second, second.should_stop, resume=stopped.run_dir)
    assert resumed.status == "completed", resumed.message
    assert {**losses_of(first.events), **losses_of(second.events)} == losses_of(whole.events)
    assert [e["epoch"] for e in metrics_of(resumed.run_dir, "epoch")] == [0, 1]

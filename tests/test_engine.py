"""Training engine on a tiny in-memory dataset: run folder, stop, resume, extend, NaN, OOM, checkpoints."""
from __future__ import annotations

import json
import math

import pytest
import torch
from engine_fakes import FakeData

from segstudio.base.config import Config, load_config
from segstudio.base.errors import TrainingError
from segstudio.engine import rundir
from segstudio.engine.checkpoint import load_checkpoint, save_checkpoint
from segstudio.engine.train import train


def tiny_config(tmp_path, **train) -> Config:
    cfg = Config()
    cfg.augment.image_size = 64
    m = cfg.model
    m.fpn_channels, m.mask_head_channels, m.mask_head_layers = 32, 16, 1
    m.rpn_pre_nms_top_n_train, m.rpn_post_nms_top_n_train = 100, 50
    m.rpn_pre_nms_top_n_test, m.rpn_post_nms_top_n_test = 50, 25
    m.box_batch_size_per_image = 32
    cfg.train.runs_dir = str(tmp_path / "runs")
    cfg.train.run_name = "t"
    cfg.train.epochs = 2
    cfg.train.warmup_iters = 2
    cfg.train.optimizer, cfg.train.lr, cfg.train.weight_decay = "sgd", 0.01, 5e-4
    cfg.train.workers = 0
    cfg.train.device = "cpu"
    cfg.eval.interval_epochs = 1   # these tests check what happens at each epoch's evaluation
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


class Recorder:
    def __init__(self, stop_after: int | None = None):
        self.events, self.stop_after = [], stop_after

    def __call__(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if e.kind == kind]

    def should_stop(self):
        its = self.of("iteration")
        return self.stop_after is not None and len(its) >= self.stop_after


def test_run_folder_events_and_checkpoints(tmp_path):
    rec = Recorder()
    fin = train(tiny_config(tmp_path), rec, rec.should_stop, data=FakeData())
    assert fin.status == "completed" and fin.iteration == 8 and fin.epoch == 2
    run = tmp_path / "runs" / "t"
    cfg = load_config(run / "config.toml")   # the run card stays a loadable config
    assert cfg.data.class_names == ["square", "bar"] and cfg.train.epochs == 2
    assert "libraries" in json.loads((run / "run.json").read_text())
    assert json.loads((run / "split.json").read_text())["val"] == [8, 9, 10, 11]
    kinds = [r["event"] for r in rundir.read_metrics(run)]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("iteration") == 8 and kinds.count("eval") == 2 and kinds.count("epoch") == 2
    it = rec.of("iteration")[0]
    assert set(it.losses) >= {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness"}
    assert it.lr > 0 and it.images_per_s > 0 and 0 <= it.data_wait <= 1
    assert {"bbox_map", "segm_map", "segm_map_50", "bbox_map_75"} <= set(rec.of("eval")[0].metrics)
    for which in ("last", "best"):
        state = torch.load(run / "checkpoints" / f"{which}.pt", weights_only=True)
        assert {"model", "optimizer", "scheduler", "scaler", "rng", "state"} <= set(state)
    assert [r.name for r in rundir.list_runs(tmp_path / "runs")] == ["t"]


def test_best_checkpoint_is_one_write_and_outlives_later_last_writes(tmp_path):
    """best.pt shares last.pt's file at the best evaluation (no second 180 MB write), and keeps the best
    weights after last.pt moves on."""
    rec = Recorder()
    fin = train(tiny_config(tmp_path, epochs=2), rec, rec.should_stop, data=FakeData())
    ckpts = rec.of("checkpoint")
    # each evaluation writes last.pt once; a new best adds only a link
    assert [c.which for c in ckpts].count("last") == len({(c.iteration, c.epoch) for c in ckpts if c.which == "last"})
    best = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "best"))
    last = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))
    best_its = [c.iteration for c in ckpts if c.which == "best"]
    assert best_its and best["state"]["iteration"] == best_its[-1]
    assert last["state"]["iteration"] == fin.iteration
    # save_checkpoint never writes in place, so replacing last.pt cannot touch best.pt's bytes
    before = rundir.checkpoint_path(fin.run_dir, "best").read_bytes()
    from segstudio.engine.checkpoint import save_checkpoint
    save_checkpoint({"model": {}}, rundir.checkpoint_path(fin.run_dir, "last"))
    assert rundir.checkpoint_path(fin.run_dir, "best").read_bytes() == before
    assert not list(rundir.Path(fin.run_dir, "checkpoints").glob(".*.tmp"))


def test_link_checkpoint_copies_where_hard_links_fail(tmp_path, monkeypatch):
    from segstudio.engine import checkpoint as ck
    src = tmp_path / "last.pt"
    ck.save_checkpoint({"model": {"w": torch.ones(2)}}, src)

    def no_links(*args):
        raise OSError("hard links not supported")
    monkeypatch.setattr(ck.os, "link", no_links)
    ck.link_checkpoint(src, tmp_path / "best.pt")
    assert torch.equal(ck.load_checkpoint(tmp_path / "best.pt")["model"]["w"], torch.ones(2))
    assert (tmp_path / "best.pt").stat().st_ino != src.stat().st_ino


def test_stop_exits_within_one_iteration_and_writes_last(tmp_path):
    rec = Recorder(stop_after=3)
    fin = train(tiny_config(tmp_path, epochs=5), rec, rec.should_stop, data=FakeData())
    assert fin.status == "stopped" and fin.iteration == 3
    assert len(rec.of("iteration")) == 3
    state = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))
    assert state["state"]["iteration"] == 3


def test_resume_continues_iterations_and_lr(tmp_path):
    full = Recorder()
    train(tiny_config(tmp_path / "a", epochs=2), full, full.should_stop, data=FakeData())
    first = Recorder(stop_after=5)
    fin = train(tiny_config(tmp_path / "b", epochs=2), first, first.should_stop, data=FakeData())
    assert fin.status == "stopped"
    data = FakeData()
    second = Recorder()
    cfg = tiny_config(tmp_path / "b")
    fin = train(cfg, second, second.should_stop, resume=fin.run_dir, data=data)
    assert fin.status == "completed"
    assert [e.iteration for e in second.of("iteration")] == [6, 7, 8]
    assert data.skips[0] == (1, 1)   # epoch 1 without the batch already trained on
    lr_full = {e.iteration: e.lr for e in full.of("iteration")}
    for e in second.of("iteration"):
        assert e.lr == pytest.approx(lr_full[e.iteration])


def test_resume_after_a_kill_logs_each_iteration_once(tmp_path):
    """A kill after the last checkpoint leaves logged iterations that the resume trains again: the
    metrics must not hold them twice (the curves would double back)."""
    first = Recorder(stop_after=5)
    fin = train(tiny_config(tmp_path, epochs=2), first, first.should_stop, data=FakeData())
    metrics = rundir.Path(fin.run_dir) / "metrics.jsonl"
    with metrics.open("a") as fh:   # what a killed process logged past its checkpoint, then a torn line
        for it in (6, 7):
            fh.write(json.dumps({"event": "iteration", "iteration": it, "loss": 1.0}) + "\n")
        fh.write('{"event": "iterat')
    second = Recorder()
    fin = train(tiny_config(tmp_path), second, second.should_stop, resume=fin.run_dir, data=FakeData())
    assert fin.status == "completed"
    iters = [r["iteration"] for r in rundir.read_metrics(fin.run_dir) if r["event"] == "iteration"]
    assert iters == list(range(1, 9))


def test_extend_adds_epochs_to_finished_run(tmp_path):
    rec = Recorder()
    fin = train(tiny_config(tmp_path, epochs=1), rec, rec.should_stop, data=FakeData())
    assert fin.status == "completed" and fin.iteration == 4
    rec2 = Recorder()
    fin2 = train(tiny_config(tmp_path), rec2, rec2.should_stop, resume=fin.run_dir, extend_epochs=1,
                 data=FakeData())
    assert fin2.status == "completed" and fin2.iteration == 8 and fin2.epoch == 2
    assert load_config(rundir.Path(fin.run_dir) / "config.toml").train.epochs == 2


def test_non_finite_loss_fails_and_keeps_last_good_checkpoint(tmp_path):
    fin = train(tiny_config(tmp_path, epochs=1), Recorder(), lambda: False, data=FakeData())
    before = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))
    rec = Recorder()
    fin2 = train(tiny_config(tmp_path), rec, rec.should_stop, resume=fin.run_dir, extend_epochs=1,
                 data=FakeData(poison_rows=range(8)))
    assert fin2.status == "failed"
    err = rec.of("error")[0]
    assert err.reason == "nan" and err.rows and set(err.rows) <= set(range(8))
    after = load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))
    assert after["state"]["iteration"] == before["state"]["iteration"]
    assert all(torch.isfinite(v).all() for v in after["model"].values() if v.is_floating_point())


def test_out_of_memory_is_an_error_event_and_keeps_checkpoint(tmp_path, monkeypatch):
    import torchvision

    calls = {"n": 0}
    original = torchvision.models.detection.MaskRCNN.forward

    def forward(self, images, targets=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, images, targets)

    monkeypatch.setattr(torchvision.models.detection.MaskRCNN, "forward", forward)
    rec = Recorder()
    fin = train(tiny_config(tmp_path, checkpoint_every=1), rec, rec.should_stop, data=FakeData())
    assert fin.status == "failed"
    err = rec.of("error")[0]
    assert err.reason == "oom" and "batch_size" in err.message
    assert load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))["state"]["iteration"] == 2


def test_unexpected_exception_still_finishes(tmp_path):
    class Broken(FakeData):
        def train_batches(self, epoch, skip=0):
            raise ValueError("boom")

    rec = Recorder()
    fin = train(tiny_config(tmp_path), rec, rec.should_stop, data=Broken())
    assert fin.status == "failed" and "ValueError" in fin.message
    assert rec.events[-1] is fin and "boom" in rec.of("error")[0].detail


def test_missing_weights_file_is_one_sentence(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.model.weights = str(tmp_path / "nope.pth")
    rec = Recorder()
    fin = train(cfg, rec, rec.should_stop, data=FakeData())
    assert fin.status == "failed" and rec.of("error")[0].reason == "weights"
    assert "nope.pth does not exist" in fin.message
    from segstudio.models.maskrcnn import resolve_weights
    with pytest.raises(TrainingError, match=r"maskrcnn_resnet50_fpn_coco-bf2d0c1e\.pth.*hub/checkpoints"):
        resolve_weights("maskrcnn_resnet50_fpn", "coco")


def test_resume_without_checkpoint_or_with_corrupt_one(tmp_path):
    rec = Recorder()
    fin = train(tiny_config(tmp_path, epochs=1), rec, rec.should_stop, data=FakeData())
    last = rundir.checkpoint_path(fin.run_dir, "last")
    last.write_bytes(b"not a checkpoint")
    rec2 = Recorder()
    fin2 = train(tiny_config(tmp_path), rec2, rec2.should_stop, resume=fin.run_dir, data=FakeData())
    assert fin2.status == "failed" and "damaged" in fin2.message
    fin3 = train(tiny_config(tmp_path), Recorder(), lambda: False, resume="no-such-run", data=FakeData())
    assert fin3.status == "failed" and "was not found" in fin3.message


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}}, path)

    def torn_save(obj, fh, *a, **k):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError):
        save_checkpoint({"model": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_loss_falls_on_tiny_dataset(tmp_path):
    rec = Recorder()
    cfg = tiny_config(tmp_path, epochs=8, warmup_iters=5, lr=0.02)
    cfg.eval.interval_epochs = 0
    train(cfg, rec, rec.should_stop, data=FakeData(num_train=8, batch_size=2))
    losses = [e.loss for e in rec.of("iteration")]
    assert len(losses) == 32 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-6:]) / 6 < 0.7 * sum(losses[:6]) / 6


def test_stop_during_evaluation_skips_the_partial_result(tmp_path):
    rec = Recorder()
    stop = {"now": False}

    class SlowVal(FakeData):
        def val_batches(self):
            stop["now"] = True          # the user presses Stop while validation runs
            return super().val_batches()

    fin = train(tiny_config(tmp_path), rec, lambda: stop["now"], data=SlowVal())
    assert fin.status == "stopped" and not rec.of("eval")
    assert load_checkpoint(rundir.checkpoint_path(fin.run_dir, "last"))["state"]["iteration"] == 4


def test_a_run_card_from_before_fpn_norm_still_loads_its_checkpoints(tmp_path):
    """Runs recorded before model.fpn_norm existed trained without it; their cards lack the key, and the
    default (batchnorm since then) must not build them another model."""
    from segstudio.engine.inference import load_run_model

    cfg = tiny_config(tmp_path, epochs=1, max_iters=1)
    cfg.model.fpn_norm = "none"
    rec = Recorder()
    train(cfg, rec, rec.should_stop, data=FakeData())
    card = tmp_path / "runs" / "t" / "config.toml"
    old = "\n".join(line for line in card.read_text().splitlines() if not line.startswith("fpn_norm"))
    card.write_text(old)
    assert Config().model.fpn_norm == "batchnorm" and load_config(card).model.fpn_norm == "batchnorm"
    loaded = load_run_model(str(tmp_path / "runs" / "t"), "last")
    assert loaded.cfg.model.fpn_norm == "none"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.model.backbone.fpn.modules())

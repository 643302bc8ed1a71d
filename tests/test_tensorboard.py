"""TensorBoard event files written by a run next to metrics.jsonl, read back with tensorboard's own reader."""
from __future__ import annotations

import pytest
from engine_fakes import FakeData
from test_engine import Recorder, tiny_config

from segstudio.engine.train import train

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(run_dir) -> dict:
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_two_iteration_run_writes_readable_scalars(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1, max_iters=2)
    rec = Recorder()
    fin = train(cfg, rec, rec.should_stop, data=FakeData())
    assert fin.status == "completed"
    run = tmp_path / "runs" / "t"
    assert list(run.glob("events.out.tfevents.*"))
    scalars = _scalars(run)
    its = rec.of("iteration")
    for term, value in its[-1].losses.items():
        assert scalars[f"loss/{term}"][-1] == (2, pytest.approx(value, rel=1e-5))
    assert [s for s, _ in scalars["loss/total"]] == [1, 2]
    assert scalars["train/lr"][0][1] == pytest.approx(its[0].lr, rel=1e-5)
    assert scalars["train/images_per_s"][1][1] == pytest.approx(its[1].images_per_s, rel=1e-5)
    assert "train/data_wait" in scalars
    evaluation = rec.of("eval")[-1]
    assert scalars["val/segm_map_50"] == [(2, pytest.approx(evaluation.metrics["segm_map_50"], abs=1e-6))]
    assert "val/bbox_map" in scalars


def test_tensorboard_off_writes_no_event_file(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1, max_iters=1, tensorboard=False)
    rec = Recorder()
    assert train(cfg, rec, rec.should_stop, data=FakeData()).status == "completed"
    assert not list((tmp_path / "runs" / "t").glob("events.out.tfevents.*"))

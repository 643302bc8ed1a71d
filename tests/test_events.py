"""Events read back from metrics.jsonl are the typed objects the run sent; the series table reads them."""
import json

from segstudio.engine.events import _KINDS, BadRowEvent, EvalEvent, Event, IterationEvent, StartedEvent, events_from
from segstudio.gui.series import SERIES, points, readout


def _iteration(i=3, **kw) -> IterationEvent:
    values = dict(iteration=i, epoch=0, total_iters=10, losses={"loss_mask": 0.5, "loss_classifier": 0.25},
                  loss=0.75, lr=1e-3, images_per_s=4.0, data_wait=0.2, elapsed_s=1.0, eta_s=9.0)
    return IterationEvent(**{**values, **kw})


def test_every_event_kind_round_trips_through_a_json_line():
    sent = [StartedEvent(run_dir="r", total_iters=10, iters_per_epoch=5, epochs=2), _iteration(),
            EvalEvent(epoch=0, iteration=5, metrics={"segm_map": 0.4}, val_losses={"loss": 1.5}),
            BadRowEvent(row=7, message="row 7 has no image", action="skipped", skipped=1)]
    lines = [json.dumps(e.to_dict()) for e in sent]
    assert events_from(json.loads(line) for line in lines) == sent
    assert {"bad_row", "iteration", "eval", "started", "finished", "checkpoint"} <= set(_KINDS)


def test_records_of_other_kinds_or_missing_fields_are_skipped_and_new_fields_ignored():
    record = {**_iteration().to_dict(), "added_by_a_newer_version": 1}
    assert Event.from_dict(record) == _iteration()
    assert Event.from_dict({"event": "iteration", "iteration": 1}) is None   # torn or foreign
    assert Event.from_dict({"event": "no such kind"}) is None
    assert events_from([{"event": "no such kind"}, record]) == [_iteration()]


def test_the_series_table_gives_each_metric_once_and_the_readout_reads_it():
    assert len({s.key for s in SERIES}) == len(SERIES)
    got = dict(points(EvalEvent(epoch=0, iteration=5, metrics={"segm_map": 0.4, "bbox_map": 0.3},
                                val_losses={"loss": 1.5})))
    assert got == {"ap:mask AP": 0.4, "ap:box AP": 0.3, "val:validation": 1.5}   # no AP50 in these metrics
    assert dict(points(_iteration())) == {"lr:lr": 1e-3, "speed:images/s": 4.0, "wait:data wait": 20.0}
    line = readout(_iteration(cuda_mem_mb=512.0))
    # the figures a user watches come first; the loss terms, the longest part, last (a narrow window cuts them)
    assert line.startswith("loss 0.7500   lr 1.00e-03   4.0 img/s   data wait 20%   GPU 512 MB")
    assert line.endswith("mask 0.500  classifier 0.250")

"""list_runs counts each run's metrics.jsonl incrementally: what was appended, a rewrite from scratch."""
import json

from segstudio.base.files import atomic_write_text
from segstudio.engine import rundir


def append(run, *records, end="\n"):
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write("".join(json.dumps(r) + end for r in records))


def test_listing_follows_a_growing_resumed_and_torn_metrics_file(tmp_path):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.toml").write_text("")
    [summary] = rundir.list_runs(tmp_path / "runs")
    assert (summary.status, summary.iteration, summary.best_metric) == ("new", 0, None)

    append(run, {"event": "started"}, {"event": "iteration", "iteration": 1})
    append(run, {"event": "iteration", "iteration": 2}, end="")          # still being written
    [summary] = rundir.list_runs(tmp_path / "runs")
    assert (summary.status, summary.iteration) == ("interrupted", 1)
    append(run, {}, end="\n")                                             # the line ends ('{}' joins it: torn)
    append(run, {"event": "eval", "iteration": 2, "metrics": {"segm_map": 0.25}},
           {"event": "finished", "status": "stopped", "iteration": 2})
    [summary] = rundir.list_runs(tmp_path / "runs")
    assert (summary.status, summary.iteration, summary.best_metric) == ("stopped", 2, 0.25)
    assert summary.last_eval["metrics"] == {"segm_map": 0.25}

    append(run, {"event": "started"})                                     # resumed: running (or killed)
    assert rundir.list_runs(tmp_path / "runs")[0].status == "interrupted"
    atomic_write_text(run / "metrics.jsonl", json.dumps({"event": "iteration", "iteration": 1}) + "\n")
    [summary] = rundir.list_runs(tmp_path / "runs")                      # cut back by a resume: counted anew
    assert (summary.status, summary.iteration, summary.best_metric, summary.last_eval) == (
        "interrupted", 1, None, None)

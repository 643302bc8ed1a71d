"""The train/eval/predict/export commands end to end on the demo dataset with a tiny model."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from tiny_config import write_config

from segstudio.cli import main


@pytest.fixture(scope="module")
def trained_run(demo_dataset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    assert main(["train", "--config", str(write_config(tmp, demo_dataset))]) == 0
    return tmp / "runs" / "cli"


def test_train_writes_run_folder(trained_run, capsys):
    assert (trained_run / "checkpoints" / "last.pt").is_file()
    assert (trained_run / "checkpoints" / "best.pt").is_file()
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "finished" and records[-1]["status"] == "completed"
    card = (trained_run / "config.toml").read_text()
    assert 'images = "images"' in card and "circle" in card and "# libraries:" in card


def test_eval_prints_table_and_writes_metrics(trained_run, capsys):
    assert main(["eval", str(trained_run), "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert "mask" in out and "AP50" in out
    result = json.loads((trained_run / "eval" / "metrics.json").read_text())
    assert result["images"] == len(json.loads((trained_run / "split.json").read_text())["val"])
    assert {"segm_map", "bbox_map_50"} <= set(result["metrics"])


def test_eval_report_and_thresholds_feed_predict(trained_run, tmp_path, capsys):
    from PIL import Image
    report = tmp_path / "report"
    assert main(["eval", str(trained_run), "--checkpoint", "last", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "F1-best mask thresholds" in out and "missed" in out
    thresholds = json.loads((trained_run / "eval" / "thresholds.json").read_text())
    assert set(thresholds) >= {"per_class", "global", "iou"} and thresholds["iou"] == 0.5
    assert set(thresholds["per_class"]) <= {"circle", "square", "triangle", "star", "ring", "cross"}
    stored = json.loads((trained_run / "eval" / "predictions.json").read_text())["images"]
    assert [im["image_id"] for im in stored] == list(range(len(stored)))
    # every validation row once (the loader batches them by aspect ratio, so in its own order)
    assert sorted(im["row"] for im in stored) == sorted(json.loads((trained_run / "split.json").read_text())["val"])
    # each annotation kept with its index in the stored row (the evaluation may leave some out)
    assert all(len(im["gt"]["index"]) == len(im["gt"]["labels"]) and im["gt"]["index"] == sorted(im["gt"]["index"])
               for im in stored)
    analysis = json.loads((trained_run / "eval" / "analysis.json").read_text())
    metrics = json.loads((trained_run / "eval" / "metrics.json").read_text())["metrics"]
    # our matching's mAP is COCO's (faster-coco-eval through torchmetrics) on the same predictions
    for kind in ("bbox", "segm"):
        assert analysis["kinds"][kind]["map"]["0.5:0.95"] == pytest.approx(max(metrics[f"{kind}_map"], -1), abs=1e-3)
        assert analysis["kinds"][kind]["map"]["0.5"] == pytest.approx(max(metrics[f"{kind}_map_50"], -1), abs=1e-3)
    page = (report / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 7 and "src=\"http" not in page
    written = {p.name for p in report.iterdir()}
    assert {"pr_curves_segm.png", "confusion_bbox.png", "errors_segm.png", "report.json"} <= written
    assert any(name.startswith("worst_01_row") for name in written)
    images = tmp_path / "imgs"
    images.mkdir()
    Image.new("RGB", (80, 60), (100, 50, 50)).save(images / "im.jpg")
    assert main(["predict", str(trained_run), str(images), "--out", str(tmp_path / "p1")]) == 0
    assert "F1-best thresholds" in capsys.readouterr().out
    assert main(["predict", str(trained_run), str(images), "--out", str(tmp_path / "p2"), "--score-threshold",
                 "0.3", "--class-threshold", "star=0.9"]) == 0
    assert "score threshold 0.3 with star=0.9" in capsys.readouterr().out
    assert main(["predict", str(trained_run), str(images), "--out", str(tmp_path / "p3"),
                 "--class-threshold", "dog=0.9"]) == 1
    assert "--class-threshold 'dog=0.9' must be CLASS=SCORE" in capsys.readouterr().err


def test_predict_folder_writes_overlays_and_coco_results(trained_run, tmp_path, capsys):
    from PIL import Image
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (80, 60), (i * 100, 50, 50)).save(images / f"im{i}.jpg")
    out = tmp_path / "pred"
    assert main(["predict", str(trained_run), str(images), "--out", str(out), "--score-threshold", "0"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["im0.png", "im1.png"]
    results = json.loads((out / "predictions.json").read_text())
    assert all({"image_id", "category_id", "score", "bbox", "segmentation"} <= set(r) for r in results)


def test_export_torchscript_round_trip(trained_run, capsys):
    assert main(["export", str(trained_run), "--format", "torchscript", "--images", "2", "--empty-images", "1"]) == 0
    assert "parity with PyTorch passed" in capsys.readouterr().out
    scripted = torch.jit.load(str(trained_run / "export" / "torchscript" / "model.pt"))
    assert list(scripted.class_names) == ["circle", "square", "triangle", "star", "ring", "cross"]
    dets = scripted([torch.rand(3, 64, 80)])
    assert set(dets[0]) >= {"boxes", "labels", "scores", "masks"}


def test_cli_errors_are_one_line(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run.parent / "nope")]) == 1
    assert "was not found" in capsys.readouterr().err
    assert main(["train", "--extend-epochs", "2"]) == 1
    assert main(["eval", str(trained_run.parent / "nope")]) == 1


def test_missing_pretrained_weights_from_cli(demo_dataset, tmp_path, capsys):
    cfg = write_config(tmp_path, demo_dataset, name="w")
    cfg.write_text(cfg.read_text().replace("[model]\n", '[model]\nweights = "coco"\narch = "maskrcnn_resnet50_fpn"\n'))
    assert main(["train", "--config", str(cfg)]) == 1
    assert "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in capsys.readouterr().err


def test_torchrun_two_cpu_processes(demo_dataset, tmp_path):
    cfg = write_config(tmp_path, demo_dataset, name="ddp", iters=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "segstudio", "train", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "runs" / "ddp"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]   # rank 0 made the one folder
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    started = next(r for r in records if r["event"] == "started")
    assert started["total_iters"] == 2
    assert [r["iteration"] for r in records if r["event"] == "iteration"] == [1, 2]
    assert any(r["event"] == "eval" for r in records)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]["iteration"] == 2


def test_console_reporter_plain_lines_when_not_a_terminal():
    import io

    from segstudio.commands.train import ConsoleReporter
    from segstudio.engine.events import EvalEvent, FinishedEvent, IterationEvent, StartedEvent, WarningEvent
    out = io.StringIO()
    rep = ConsoleReporter(out, every_s=0)
    rep(StartedEvent(run_dir="runs/x", total_iters=2, iters_per_epoch=2, epochs=1, train_images=4, val_images=2))
    for i in (1, 2):
        rep(IterationEvent(iteration=i, epoch=0, total_iters=2, losses={"loss_mask": 0.5, "loss_classifier": 0.25},
                           loss=0.75, lr=0.01, images_per_s=3.5, data_wait=0.1, elapsed_s=i, eta_s=2 - i))
    rep(WarningEvent("3 image(s) have no instances"))
    rep(EvalEvent(epoch=0, iteration=2, metrics={"segm_map": 0.4, "segm_map_50": 0.6, "bbox_map": 0.5,
                                                  "bbox_map_50": 0.7}))
    rep(FinishedEvent(status="completed", run_dir="runs/x", iteration=2, epoch=1, best_metric=0.4))
    text = out.getvalue()
    assert "it 2/2" in text and "mask=0.500" in text and "3.5 img/s" in text and "eta 0:00:00" in text
    assert "warning: 3 image(s)" in text and "mask AP 0.400 AP50 0.600" in text
    assert text.strip().endswith("completed at iteration 2, best mask AP 0.400: runs/x")


def test_predict_on_a_dataset_url(trained_run, demo_dataset, tmp_path, capsys):
    out = tmp_path / "pred-ds"
    assert main(["predict", str(trained_run), demo_dataset, "--out", str(out), "--checkpoint", "last"]) == 0
    assert len(list(out.glob("*.png"))) == 48
    images = json.loads((out / "images.json").read_text())
    assert images["categories"][0] == {"id": 1, "name": "circle"} and len(images["images"]) == 48


def _dets(boxes, scores, labels):
    n = len(scores)
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(n, 4), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels), "masks": torch.zeros(n, 1, 4, 4)}


def test_export_check_compares_low_scores_and_catches_missing_detections():
    """The parity check looks at every detection the model keeps (not only confident ones), matches them
    by label and box in any order, and reports a missing or relabelled one."""
    from types import SimpleNamespace

    from segstudio.engine.parity import Case, Criteria, compare_image, comparison_floor
    model = SimpleNamespace(roi_heads=SimpleNamespace(score_thresh=0.05, detections_per_img=3))
    ref = _dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.2, 0.08], [1, 2])
    floor = comparison_floor(model, ref, 0.01)
    assert floor == pytest.approx(0.06)
    same = _dets([[20, 20, 30, 30.001], [0, 0, 10, 10]], [0.08, 0.2], [2, 1])   # another order
    case = Case("s", 1)
    assert compare_image(ref, same, floor, Criteria(), case) == "" and case.detections == 2
    missing = _dets([[0, 0, 10, 10]], [0.2], [1])
    assert "no match" in compare_image(ref, missing, floor, Criteria(), Case("s", 1))
    relabelled = _dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.2, 0.08], [1, 3])
    assert "no match" in compare_image(ref, relabelled, floor, Criteria(), Case("s", 1))
    shifted = _dets([[0, 0, 10, 10], [20, 20, 30, 30.5]], [0.2, 0.08], [1, 2])
    assert "box IoU 0.95" in compare_image(ref, shifted, floor, Criteria(), Case("s", 1))
    extra = _dets([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [0.2, 0.08, 0.3], [1, 2, 4])
    assert "adds a detection" in compare_image(ref, extra, floor, Criteria(), Case("s", 1))
    full = _dets([[0, 0, 10, 10]] * 3, [0.5, 0.3, 0.2], [1, 1, 1])   # at detections_per_img: cut-off moves
    assert comparison_floor(model, full, 0.01) == pytest.approx(0.21)


def test_predict_on_files_that_are_not_images(trained_run, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "notes.jpg").write_text("this is text, not a JPEG")
    assert main(["predict", str(trained_run), str(folder), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert "notes.jpg is not a readable image" in err and len(err.splitlines()) == 1
    (folder / "notes.jpg").rename(folder / "notes.txt")
    assert main(["predict", str(trained_run), str(folder), "--out", str(tmp_path / "o")]) == 1
    assert "holds no images" in capsys.readouterr().err


def test_negative_extend_epochs_leaves_the_run_untouched(trained_run, capsys):
    before = (trained_run / "config.toml").read_bytes()
    assert main(["train", "--resume", str(trained_run), "--extend-epochs", "-2"]) == 1
    assert "--extend-epochs" in capsys.readouterr().err
    assert (trained_run / "config.toml").read_bytes() == before


def test_label_issues_quick_and_cross_predicted(trained_run, tmp_path, capsys):
    from segstudio.engine.label_issues import KINDS

    before = sorted(p.name for p in trained_run.parent.iterdir())
    out = tmp_path / "issues.json"
    assert main(["label-issues", str(trained_run), "--out", str(out), "--checkpoint", "last"]) == 0
    quick = json.loads(out.read_text())
    split = json.loads((trained_run / "split.json").read_text())
    assert quick["mode"].startswith("quick") and quick["rows"] == 48 and quick["commit"].startswith("main@")
    assert all(c["kind"] in KINDS for c in quick["candidates"])
    assert all(c["training_row"] == (c["row"] in split["train"]) for c in quick["candidates"])
    scores = [c["score"] for c in quick["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert "candidates in 48 rows" in capsys.readouterr().out
    assert main(["label-issues", str(trained_run), "--out", str(out), "--folds", "2", "--fold-iters", "2",
                 "--checkpoint", "last"]) == 0
    folds = json.loads(out.read_text())
    assert folds["mode"] == "2-fold cross-prediction, weighed by the run's own model"
    assert not any(c["training_row"] for c in folds["candidates"])
    scores = [c["score"] for c in folds["candidates"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert sorted(p.name for p in trained_run.parent.iterdir()) == before     # the fold runs left nothing behind


def test_label_issues_bad_inputs_are_one_sentence(trained_run, tmp_path, capsys):
    assert main(["label-issues", str(trained_run), "--out", str(tmp_path), "--checkpoint", "last"]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert main(["label-issues", str(trained_run), "--out", str(tmp_path / "x.json"), "--folds", "1"]) == 1
    assert "2 or more folds" in capsys.readouterr().err

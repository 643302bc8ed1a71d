"""Exports certified by the parity suite: ONNX (and OpenVINO when installed) and TorchScript on a tiny run,
an export that really differs (a perturbed model) fails and stays out of the run folder, and the
resize that made ONNX differ from PyTorch on images not at model scale."""
from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import sys

import pytest
import torch

from segstudio.cli import main
from tiny_config import write_config

SMALL = dict(count=3, empty=1)   # the suite's logic on few images; the command runs 50 + 10


@pytest.fixture(scope="module")
def run(demo_dataset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    assert main(["train", "--config", str(write_config(tmp, demo_dataset, name="exp", iters=4))]) == 0
    return tmp / "runs" / "exp"


@pytest.fixture
def loaded(run):
    from segstudio.engine.inference import load_run_model
    return load_run_model(str(run), "last")


def test_inference_size_is_integer_exact():
    from segstudio.models.resize import inference_size
    size = inference_size(torch.tensor([97, 161]), 128, 213)
    assert size.tolist() == [128, 161 * 128 // 97]
    assert inference_size(torch.tensor([100, 400]), 128, 213).tolist() == [100 * 213 // 400, 213]
    assert inference_size(torch.tensor([64, 64]), 64, 106).tolist() == [64, 64]


@pytest.mark.slow   # 20-40 s on 2 loaded cores: an export plus the suite
def test_onnx_export_passes_parity_at_odd_sizes_with_metadata(loaded):
    onnx = pytest.importorskip("onnx")
    from segstudio.engine.export import export_run
    (loaded.run_dir / "eval").mkdir(exist_ok=True)
    (loaded.run_dir / "eval" / "thresholds.json").write_text(json.dumps({"per_class": {"circle": 0.4}, "global": 0.3}))
    try:
        report = export_run(loaded, "onnx", **SMALL)
    finally:
        (loaded.run_dir / "eval" / "thresholds.json").unlink()
    folder = loaded.run_dir / "export" / "onnx"
    assert report["passed"] and {p.name for p in folder.iterdir()} == {"model.onnx", "parity.json", "parity.md"}
    cases = json.loads((folder / "parity.json").read_text())["cases"]
    assert {(c["size"], c["batch"], c["status"]) for c in cases if c["batch"] == 1} == \
        {(s, 1, "passed") for s in ("as stored", "small odd", "large odd")}
    assert all(c["status"] == "refused" and "one image per call" in c["failure"] for c in cases if c["batch"] > 1)
    assert all(c["images"] == 4 for c in cases if c["batch"] == 1)
    meta = {p.key: p.value for p in onnx.load(str(folder / "model.onnx")).metadata_props}
    assert json.loads(meta["class_names"])[0] == "circle" and float(meta["score_threshold"]) == 0.3
    assert json.loads(meta["per_class_score_thresholds"]) == {"circle": 0.4}
    assert "| small odd | 1 |" in (folder / "parity.md").read_text()
    import onnxruntime as ort   # a deployment's view: an empty image of any size runs, masks included
    session = ort.InferenceSession(str(folder / "model.onnx"))
    assert [o.name for o in session.get_outputs()] == ["boxes", "labels", "scores", "masks"]
    boxes, labels, scores, masks = session.run(None, {"image": torch.zeros(3, 51, 77).numpy()})
    assert masks.shape[1:] == (1, 51, 77) and len(boxes) == len(scores) == len(masks)


@pytest.mark.slow   # 20-40 s on 2 loaded cores: an export plus the suite
def test_torchscript_batches_of_1_2_and_8(loaded):
    from segstudio.engine.export import export_run
    report = export_run(loaded, "torchscript", count=6, empty=2, sizes={"small odd": 0.61})
    assert [(c["batch"], c["status"], c["images"]) for c in report["cases"]] == \
        [(1, "passed", 8), (2, "passed", 8), (8, "passed", 8)]
    scripted = torch.jit.load(report["path"])
    assert list(scripted.class_names)[:2] == ["circle", "square"] and scripted.score_threshold == 0.5


def _perturbed(scale: float):
    """A write_format that exports a copy of the model with its box regression bias moved."""
    from segstudio.engine import export_formats

    def write(fmt, model, meta, folder, example):
        changed = copy.deepcopy(model)
        with torch.no_grad():
            changed.roi_heads.box_predictor.bbox_pred.bias.add_(scale)
            changed.roi_heads.box_predictor.cls_score.bias.add_(torch.linspace(0, scale, len(meta["class_names"]) + 1))
        return export_formats.write_format(fmt, changed, meta, folder, example)
    return write


def test_an_export_that_differs_fails_and_is_not_kept(loaded, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    from segstudio.engine import export, parity
    fmt = "onnx"
    monkeypatch.setattr(parity, "SIZES", {"small odd": 0.61})
    monkeypatch.setattr(export, "write_format", _perturbed(0.3))
    full_suite = export.suite_images
    monkeypatch.setattr(export, "suite_images", lambda ld, count, empty: full_suite(ld, 3, 1))
    shutil.rmtree(loaded.run_dir / "export" / fmt, ignore_errors=True)
    assert main(["export", str(loaded.run_dir), "--format", fmt, "--checkpoint", "last"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differs from PyTorch on" in err and "batch 1" in err
    assert not (loaded.run_dir / "export" / fmt).exists()
    failed = json.loads((loaded.run_dir / "export" / f"{fmt}.failed-parity.json").read_text())
    assert not failed["passed"] and failed["first_failure"]


def test_suite_compares_scores_and_masks_not_only_boxes(loaded):
    """A copy whose scores alone move by more than 0.01 fails; an identical copy passes."""
    from segstudio.engine import parity
    images = [(f"img {i}", torch.rand(3, 64, 80, generator=torch.Generator().manual_seed(i))) for i in range(3)]
    model = loaded.model
    same = copy.deepcopy(model)
    assert parity.run_suite(model, lambda b: same(b), images, batches=(1,), sizes={"s": 1.0})["passed"]
    with torch.no_grad():
        same.roi_heads.box_predictor.cls_score.weight.mul_(1.2)
    report = parity.run_suite(model, lambda b: same(b), images, batches=(1,), sizes={"s": 1.0})
    if sum(c["detections"] for c in report["cases"]) or not report["passed"]:
        assert not report["passed"] and "score" in report["first_failure"]


def test_missing_runtime_names_the_extra(loaded, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["export", str(loaded.run_dir), "--format", "onnx", "--checkpoint", "last"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "onnxruntime" in err and "pip install segstudio[export]" in err


def test_bad_export_inputs_are_one_sentence(loaded, tmp_path, capsys):
    (tmp_path / "norun").mkdir()
    assert main(["export", str(tmp_path / "norun"), "--format", "onnx"]) == 1
    assert "was not found" in capsys.readouterr().err
    shutil.copy(loaded.run_dir / "config.toml", tmp_path / "norun" / "config.toml")
    assert main(["export", str(tmp_path / "norun"), "--format", "onnx"]) == 1
    assert "does not exist; train the run first" in capsys.readouterr().err
    assert main(["export", str(loaded.run_dir), "--images", "0"]) == 1
    assert "--images must be 1 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(loaded.run_dir), "--format", "tflite"])
    assert exit_.value.code != 0 and "invalid choice" in capsys.readouterr().err


@pytest.mark.slow   # 20-40 s on 2 loaded cores: an export plus the suite
def test_openvino_export_is_certified_or_kept_out(loaded):
    """OpenVINO (float32 weights and inference) through the same suite. OpenVINO 2026.4 answers an image
    where the model finds nothing with one uninitialised row instead of none; the suite must catch
    that and keep the file out, else place it with its report."""
    if importlib.util.find_spec("openvino") is None:   # not importorskip: importing it starts its telemetry
        pytest.skip("openvino is not installed")
    from segstudio.engine.export import export_run
    from segstudio.base.errors import ExportError
    try:
        report = export_run(loaded, "openvino", count=2, empty=1)
    except ExportError as exc:
        assert "empty" in str(exc) and "adds a detection" in str(exc)
        assert not (loaded.run_dir / "export" / "openvino").exists()
        return
    assert report["passed"] and (loaded.run_dir / "export" / "openvino" / "model.bin").is_file()

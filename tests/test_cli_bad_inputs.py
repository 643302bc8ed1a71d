"""Bad command-line inputs a new user may give: one sentence, a non-zero exit, nothing written."""
from __future__ import annotations

import pytest

from segstudio.cli import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_config_that_is_not_utf8(tmp_path, capsys):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("[data]\nurl = 'donn\xe9es'\n".encode("latin-1"))
    assert main(["train", "--config", str(bad)]) == 1
    assert "not UTF-8" in _one_line_error(capsys)
    assert main(["preview", "x", "--config", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "is a folder" in _one_line_error(capsys)


@pytest.mark.parametrize("text, key", [
    ("[train]\nlr = nan\n", "train.lr"),
    ("[train]\nlr = inf\n", "train.lr"),
    ("[train]\ngrad_clip = inf\n", "train.grad_clip"),
    ("[eval]\nscore_threshold = nan\n", "eval.score_threshold"),
    ("[eval]\nscore_threshold = 1.5\n", "eval.score_threshold"),
    ("[train]\nstep_milestones = [0, 3]\n", "train.step_milestones"),
])
def test_config_numbers_out_of_range_or_not_finite(tmp_path, capsys, text, key):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["train", "--config", str(bad)]) == 1
    assert key in _one_line_error(capsys)


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize("device, match", [("cuda:7", "CUDA"), ("tpu", "not a device"), ("cuda:x", "not a device")])
def test_device_the_machine_lacks(tmp_path, capsys, command, device, match):
    import torch
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    extra = [str(tmp_path), "--out", str(tmp_path / "out")] if command == "predict" else []
    assert main([command, "some-run", *extra, "--device", device]) == 1
    assert match in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_cuda_on_a_cpu_only_machine(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["eval", "some-run", "--device", "cuda"]) == 1
    assert "no usable CUDA GPU" in _one_line_error(capsys)


@pytest.mark.parametrize("value", ["nan", "-0.1", "1.5"])
def test_predict_score_threshold(tmp_path, capsys, value):
    assert main(["predict", "run", str(tmp_path), "--out", str(tmp_path / "o"), "--score-threshold", value]) == 1
    assert "--score-threshold" in _one_line_error(capsys)


def test_predict_out_naming_a_file(tmp_path, capsys):
    target = tmp_path / "result.txt"
    target.write_text("keep me")
    assert main(["predict", "run", str(tmp_path), "--out", str(target)]) == 1
    assert "is a file" in _one_line_error(capsys)
    assert target.read_text() == "keep me"
    assert main(["predict", "run", str(tmp_path), "--out", str(target / "sub")]) == 1
    assert "which is a file" in _one_line_error(capsys)


def test_negative_extend_epochs(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--extend-epochs", "-3"]) == 1
    assert "--extend-epochs must be 0 or more" in _one_line_error(capsys)


def test_weights_path_that_is_a_folder(tmp_path):
    from segstudio.base.errors import TrainingError
    from segstudio.models.maskrcnn import resolve_weights
    with pytest.raises(TrainingError, match="is a folder"):
        resolve_weights("maskrcnn_resnet18_fpn", str(tmp_path))


@pytest.mark.parametrize("name, match", [("missing/win.png", "does not exist"), ("win.txt", "must end in .png"),
                                         ("folder.png", "is a folder")])
def test_gui_screenshot_into_a_bad_path(tmp_path, capsys, name, match):
    (tmp_path / "folder.png").mkdir()
    assert main(["gui", "--screenshot", str(tmp_path / name)]) == 1
    assert match in _one_line_error(capsys)

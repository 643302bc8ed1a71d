"""The gpu preset on a machine with a GPU: which preset starts, and which weights it fine-tunes.

Checked without CUDA: torch.cuda.is_available is patched for the preset choice, and the gpu preset's
model is built on CPU against fake-but-valid weight files (torchvision's own state dicts, built with
weights=None) saved under torchvision's file names in a temporary TORCH_HOME.
"""
from __future__ import annotations

import argparse

import pytest
import torch
import torchvision

from segstudio.base import config_presets
from segstudio.models.maskrcnn import build_model, describe_weights, settle_auto_weights

CKPT = "hub/checkpoints"


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / CKPT).mkdir(parents=True)
    return tmp_path


def _save(state: dict, path) -> dict:
    torch.save(state, path)
    return state


def _coco_file(home) -> dict:
    model = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
    with torch.no_grad():
        model.rpn.head.conv[0][0].weight.fill_(0.25)   # a value no initialisation produces
    return _save(model.state_dict(), home / CKPT / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth")


def _imagenet_file(home) -> dict:
    return _save(torchvision.models.resnet50(weights=None).state_dict(), home / CKPT / "resnet50-0676ba61.pth")


def _gpu_model(cfg):
    note = settle_auto_weights(cfg.model)
    return note, build_model(cfg.model, 3, 64)


def test_gpu_or_mps_makes_the_gpu_preset_the_default(monkeypatch):
    from segstudio.commands.train import load_cli_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config_presets.default_preset() == "cpu" and config_presets.preset_names()[0] == "cpu"
    args = argparse.Namespace(config=None, runs_dir=None, max_iters=None, overrides=[])
    assert load_cli_config(args).model.arch == "maskrcnn_resnet18_fpn"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config_presets.default_preset() == "gpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config_presets.default_preset() == "gpu" and config_presets.preset_names()[0] == "gpu"
    cfg = load_cli_config(args)
    assert (cfg.model.arch, cfg.model.weights) == ("maskrcnn_resnet50_fpn_v2", "auto")


def test_gpu_preset_fine_tunes_coco_weights_when_present(torch_home):
    coco = _coco_file(torch_home)
    _imagenet_file(torch_home)
    cfg = config_presets.load_preset("gpu")
    note, model = _gpu_model(cfg)
    assert note == "" and cfg.model.weights == "coco"
    assert describe_weights(cfg.model) == "COCO weights maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"
    assert torch.equal(model.rpn.head.conv[0][0].weight, coco["rpn.head.conv.0.0.weight"])
    assert torch.equal(model.backbone.body.layer3[2].conv2.weight, coco["backbone.body.layer3.2.conv2.weight"])
    assert model.pretrained_skipped == 0   # the preset's widths fit the COCO file exactly


def test_gpu_preset_falls_back_to_the_imagenet_backbone_and_says_how_to_do_better(torch_home):
    backbone = _imagenet_file(torch_home)
    cfg = config_presets.load_preset("gpu")
    note, model = _gpu_model(cfg)
    assert cfg.model.weights == "imagenet"
    assert "resnet50-0676ba61.pth" in note and "segstudio weights download maskrcnn_resnet50_fpn_v2_coco" in note
    assert str(torch_home / CKPT) in note
    assert torch.equal(model.backbone.body.conv1.weight, backbone["conv1.weight"])
    assert not torch.equal(model.rpn.head.conv[0][0].weight, torch.full_like(model.rpn.head.conv[0][0].weight, 0.25))


def test_gpu_preset_without_any_file_trains_from_scratch_and_says_so(torch_home):
    cfg = config_presets.load_preset("gpu")
    note, model = _gpu_model(cfg)
    assert cfg.model.weights == "none" and describe_weights(cfg.model) == "no pretrained weights"
    assert "from scratch" in note and "maskrcnn_resnet50_fpn_v2_coco" in note
    # from scratch the backbone's BatchNorm learns (pretrained runs freeze it)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.body.modules())


def test_a_run_with_auto_weights_records_its_choice_and_warns(torch_home, tmp_path):
    from engine_fakes import FakeData
    from test_engine import Recorder, tiny_config

    from segstudio.base.config import load_config
    from segstudio.engine.train import train

    cfg = tiny_config(tmp_path, epochs=1, max_iters=1)
    cfg.model.weights = "auto"
    rec = Recorder()
    assert train(cfg, rec, rec.should_stop, data=FakeData()).status == "completed"
    warning = [e.message for e in rec.of("warning") if "auto" in e.message]
    assert warning and "segstudio weights download resnet18_imagenet" in warning[0]
    assert rec.of("started")[0].weights == "no pretrained weights"
    # the run card holds the settled choice, so a resume builds the same model whatever is downloaded later
    assert load_config(tmp_path / "runs" / "t" / "config.toml").model.weights == "none"

"""Model builders: architectures, knobs, input size, offline-first weights."""
from __future__ import annotations

import pytest
import torch

from segstudio.base.config import ModelConfig
from segstudio.base.errors import TrainingError
from segstudio.models.maskrcnn import ARCHS, build_model


def small(**kw) -> ModelConfig:
    cfg = ModelConfig(fpn_channels=32, mask_head_channels=16, mask_head_layers=1, rpn_pre_nms_top_n_train=50,
                      rpn_post_nms_top_n_train=20, box_batch_size_per_image=16)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def _target(size=64):
    masks = torch.zeros(1, size, size, dtype=torch.uint8)
    masks[0, 10:40, 12:30] = 1
    return {"boxes": torch.tensor([[12.0, 10.0, 30.0, 40.0]]), "labels": torch.tensor([2]), "masks": masks}


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_builds_offline_with_dataset_heads(arch):
    model = build_model(small(arch=arch), num_classes=4, image_size=64)
    assert model.roi_heads.box_predictor.cls_score.out_features == 4
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 4
    assert model.transform.min_size == (64,) and model.transform.max_size == 107   # 64 x 1333/800
    if arch in ("maskrcnn_resnet18_fpn", "maskrcnn_mobilenet_v3_fpn"):
        losses = model.train()([torch.rand(3, 64, 64)], [_target()])
        assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                               "loss_rpn_box_reg"}
        assert all(torch.isfinite(v) for v in losses.values())


def test_knobs_reach_the_model():
    cfg = small(rpn_post_nms_top_n_train=77, box_batch_size_per_image=33, box_positive_fraction=0.5,
                mask_head_layers=3, mask_head_channels=24, min_size=96, max_size=160, fpn_channels=48)
    model = build_model(cfg, 3, 64)
    assert model.rpn._post_nms_top_n["training"] == 77
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 33
    assert model.roi_heads.fg_bg_sampler.positive_fraction == 0.5
    convs = [m for m in model.roi_heads.mask_head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 24, 24] and convs[0].in_channels == 48
    assert model.transform.min_size == (96,) and model.transform.max_size == 160
    assert model.backbone.out_channels == 48


@pytest.mark.parametrize("arch", ["maskrcnn_resnet18_fpn", "maskrcnn_mobilenet_v3_fpn"])
@pytest.mark.parametrize("fpn_channels", [32, 0])
def test_fpn_norm_puts_batchnorm_after_each_fpn_conv(arch, fpn_channels):
    def norms(cfg):
        fpn = build_model(cfg, 3, 64, load_weights=False).backbone.fpn
        convs = [m for m in fpn.modules() if isinstance(m, torch.nn.Conv2d)]
        return len(convs), sum(isinstance(m, torch.nn.BatchNorm2d) for m in fpn.modules())

    convs, plain = norms(small(arch=arch, fpn_channels=fpn_channels, fpn_norm="none"))
    assert plain == 0
    assert norms(small(arch=arch, fpn_channels=fpn_channels, fpn_norm="batchnorm")) == (convs, convs)
    assert norms(small(arch=arch, fpn_channels=fpn_channels, weights="imagenet")) == (convs, 0)


def test_pretrained_weights_absent_name_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(TrainingError) as err:
        build_model(small(arch="maskrcnn_resnet50_fpn_v2", weights="coco"), 3, 64)
    assert "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in str(err.value)
    with pytest.raises(TrainingError, match="no coco weights for maskrcnn_resnet18_fpn"):
        build_model(small(weights="coco"), 3, 64)
    with pytest.raises(TrainingError, match="does not exist"):
        build_model(small(weights=str(tmp_path / "missing.pth")), 3, 64)


def test_imagenet_weights_from_hub_cache(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    state = torchvision.models.resnet18(weights=None).state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    model = build_model(small(weights="imagenet"), 3, 64)
    assert torch.equal(model.backbone.body.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.backbone.body.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_local_pth_and_checkpoint_weights_get_new_heads(tmp_path):
    source = build_model(small(), 7, 64)
    torch.save(source.state_dict(), tmp_path / "plain.pth")
    torch.save({"model": source.state_dict(), "state": {}}, tmp_path / "ckpt.pt")
    for name in ("plain.pth", "ckpt.pt"):
        model = build_model(small(weights=str(tmp_path / name)), 3, 64)
        assert torch.equal(model.backbone.fpn.layer_blocks[0][0].weight, source.backbone.fpn.layer_blocks[0][0].weight)
        assert model.roi_heads.box_predictor.cls_score.out_features == 3
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    with pytest.raises(TrainingError, match="Cannot read weights file"):
        build_model(small(weights=str(tmp_path / "bad.pth")), 3, 64)

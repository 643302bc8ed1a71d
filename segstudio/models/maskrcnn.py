"""Mask R-CNN builders with the knobs that set CPU cost, and offline-first weight resolution.

Nothing here downloads: torchvision builders get `weights=None, weights_backbone=None` and pretrained
files are loaded only when they already sit in the torch hub cache (`segstudio weights download` puts
them there when the user asks). Loaded weights always get new
box/mask predictors sized for the dataset's classes (plus background), as in torchvision's tutorial.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from torch import nn
from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn_v2
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from segstudio.base.config import MODEL_ARCHS as ARCHS  # the one list of what build_model builds
from segstudio.base.errors import TrainingError, WeightsError
from segstudio.base.files import UnreadableFile, torch_load
from segstudio.models.resize import use_exact_resize
from segstudio.models.roi_pool import MatmulRoIAlign
from segstudio.models.weights import weights_for

# Predictors are always replaced: their shapes depend on the number of classes.
_NEW_HEAD_PREFIXES = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.")


def _missing_message(known) -> str:
    return (f"Pretrained weights {known.file_name} are not in {known.path.parent}; run `segstudio weights "
            f"download {known.name}` (or the window's Weights > Download...), or {known.manual_hint()}, "
            "or set model.weights = \"none\".")


def resolve_weights(arch: str, weights: str) -> tuple[str, Path | None]:
    """-> (kind, file): kind is none, coco, imagenet or file; WeightsError when the file is absent.

    "auto" takes the best weights present (COCO, then the ImageNet backbone, then none)."""
    w = (weights or "none").strip()
    if w.lower() == "none":
        return "none", None
    if w.lower() == "auto":
        return _best_present(arch)
    if w.lower() in ("coco", "imagenet"):
        known = weights_for(arch, w.lower())
        if known is None:
            raise WeightsError(f"There are no {w.lower()} weights for {arch}; use weights = \"imagenet\", "
                                "\"none\" or a .pth file.")
        if not known.present():
            raise WeightsError(_missing_message(known))
        return w.lower(), known.path
    path = Path(os.path.expanduser(w))
    if path.is_dir():
        raise WeightsError(f"Weights path {path} is a folder; set model.weights to the .pth file inside it "
                            "(or to \"none\").")
    if not path.is_file():
        raise WeightsError(f"Weights file {path} does not exist; check model.weights or set it to \"none\".")
    return "file", path


def _best_present(arch: str) -> tuple[str, Path | None]:
    for kind in ("coco", "imagenet"):
        known = weights_for(arch, kind)
        if known is not None and known.present():
            return kind, known.path
    return "none", None


def settle_auto_weights(model_cfg) -> str:
    """Replace model.weights = "auto" by what is present (so the run card and a resume agree);
    -> a sentence when a better file exists than the one used, else ""."""
    if (model_cfg.weights or "").strip().lower() != "auto":
        return ""
    kind, path = _best_present(model_cfg.arch)
    model_cfg.weights = kind
    better = weights_for(model_cfg.arch, "coco") if kind != "coco" else None
    better = better or (weights_for(model_cfg.arch, "imagenet") if kind == "none" else None)
    if better is None:
        return ""
    used = (f"ImageNet backbone weights ({path.name})" if kind == "imagenet" else "scratch (no pretrained weights)")
    return (f"model.weights = \"auto\": {better.file_name} is not in {better.path.parent}, so training starts "
            f"from {used}; for better results run `segstudio weights download {better.name}` "
            f"({better.size_mb:.0f} MB, or the window's Weights > Download...) and start a new run.")


def describe_weights(model_cfg) -> str:
    """What a run starts from, in a few words (for the started line)."""
    w = (model_cfg.weights or "none").strip()
    if w.lower() == "none":
        return "no pretrained weights"
    if w.lower() in ("coco", "imagenet"):
        known = weights_for(model_cfg.arch, w.lower())
        label = "COCO weights" if w.lower() == "coco" else "ImageNet backbone weights"
        return f"{label} {known.file_name}" if known else label
    return f"weights file {w}"


def anchor_sizes(image_size: int, levels: int) -> tuple:
    """One anchor size per FPN level, doubling per level.

    torchvision's 32..512 suit 800 px inputs; at 128 px most of them cover the whole image, so the
    smallest anchor shrinks with the input (image_size / 8, between 8 and 32)."""
    smallest = int(min(32, max(8, 2 ** round(math.log2(max(image_size, 1) / 8.0)))))
    return tuple((smallest * 2 ** i,) for i in range(levels))


def _mask_head(in_channels: int, channels: int, layers: int, norm_layer=None) -> MaskRCNNHeads:
    return MaskRCNNHeads(in_channels, [channels] * layers, 1, norm_layer=norm_layer)


def _narrow_fpn(backbone: nn.Module, channels: int, norm: str = "none") -> None:
    """Replace the backbone's 256-channel FPN by a `channels`-wide one, with BatchNorm after each of its
    convolutions when `norm` is "batchnorm" (from scratch only: pretrained FPNs have no norm layers, so
    theirs stay as they were trained, as with the mask head).

    At 128 px the FPN output convs and the RPN conv on the stride-4 level cost more than a
    ResNet-18 body; halving the width cuts them 4x."""
    if (not channels or channels == backbone.out_channels) and norm == "none":
        return
    channels = channels or backbone.out_channels
    in_list = [block[0].in_channels for block in backbone.fpn.inner_blocks]
    backbone.fpn = FeaturePyramidNetwork(in_list, channels, extra_blocks=LastLevelMaxPool(),
                                         norm_layer=nn.BatchNorm2d if norm == "batchnorm" else None)
    backbone.out_channels = channels


def _box_head(backbone: nn.Module) -> TwoMLPHead:
    # torchvision's 1024-wide head on 256 channels; narrower FPNs get a proportionally narrower head.
    return TwoMLPHead(backbone.out_channels * 7 * 7, 4 * backbone.out_channels)


def _scratch_aware_mask_head(model_cfg, pretrained: bool, in_channels: int) -> MaskRCNNHeads:
    # From scratch, kaiming-initialised convs on un-normalised FPN features give mask logits in the
    # tens and the mask loss diverges in a few steps; BatchNorm (as in the v2 head) keeps it near 0.7.
    # Pretrained heads have no norm layers, so theirs stay as they were trained.
    return _mask_head(in_channels, model_cfg.mask_head_channels, model_cfg.mask_head_layers,
                      None if pretrained else nn.BatchNorm2d)


def _common_kwargs(model_cfg, size_min: int, size_max: int) -> dict:
    return dict(
        min_size=size_min, max_size=size_max,
        rpn_pre_nms_top_n_train=model_cfg.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=model_cfg.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=model_cfg.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=model_cfg.rpn_post_nms_top_n_test,
        box_batch_size_per_image=model_cfg.box_batch_size_per_image,
        box_positive_fraction=model_cfg.box_positive_fraction,
        box_detections_per_img=model_cfg.box_detections_per_img,
    )


def _roi_pools(names: list[str], ratio: int) -> dict:
    # torchvision's RoIAlign backward is single-threaded on CPU (a third of a 128 px training step with its
    # 2x2 samples per bin); MatmulRoIAlign pools the same values with matrix products on every core.
    return dict(box_roi_pool=MatmulRoIAlign(featmap_names=names, output_size=7, sampling_ratio=ratio),
                mask_roi_pool=MatmulRoIAlign(featmap_names=names, output_size=14, sampling_ratio=ratio))


def _resnet_model(name: str, model_cfg, num_classes: int, kwargs: dict, pretrained: bool) -> MaskRCNN:
    # Pretrained statistics are kept frozen (as torchvision does); from scratch, BatchNorm learns them.
    norm = misc_nn_ops.FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    trainable = model_cfg.trainable_backbone_layers if pretrained else 5
    backbone = resnet_fpn_backbone(backbone_name=name, weights=None, norm_layer=norm, trainable_layers=trainable)
    _narrow_fpn(backbone, model_cfg.fpn_channels, "none" if pretrained else model_cfg.fpn_norm)
    anchors = AnchorGenerator(anchor_sizes(kwargs["min_size"], 5), ((0.5, 1.0, 2.0),) * 5)
    return MaskRCNN(backbone, num_classes, rpn_anchor_generator=anchors, box_head=_box_head(backbone),
                    mask_head=_scratch_aware_mask_head(model_cfg, pretrained, backbone.out_channels),
                    **_roi_pools(["0", "1", "2", "3"], model_cfg.roi_sampling_ratio), **kwargs)


def _mobilenet_model(model_cfg, num_classes: int, kwargs: dict, pretrained: bool) -> MaskRCNN:
    norm = misc_nn_ops.FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    trainable = min(model_cfg.trainable_backbone_layers + 1, 6) if pretrained else 6
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=norm, trainable_layers=trainable)
    _narrow_fpn(backbone, model_cfg.fpn_channels, "none" if pretrained else model_cfg.fpn_norm)
    # Two feature maps (strides 16 and 32) plus a pooled one: every anchor size on each, as torchvision.
    sizes = tuple(s[0] for s in anchor_sizes(kwargs["min_size"], 5))
    anchors = AnchorGenerator((sizes,) * 3, ((0.5, 1.0, 2.0),) * 3)
    return MaskRCNN(backbone, num_classes, rpn_anchor_generator=anchors,
                    **_roi_pools(["0", "1"], model_cfg.roi_sampling_ratio), box_head=_box_head(backbone),
                    mask_head=_scratch_aware_mask_head(model_cfg, pretrained, backbone.out_channels), **kwargs)


def _v2_model(model_cfg, num_classes: int, kwargs: dict, pretrained: bool) -> MaskRCNN:
    model = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=num_classes,
                                     **_roi_pools(["0", "1", "2", "3"], model_cfg.roi_sampling_ratio), **kwargs)
    # v2 keeps torchvision's 256-channel FPN (model.fpn_channels applies to the other backbones).
    model.roi_heads.mask_head = _mask_head(256, model_cfg.mask_head_channels, model_cfg.mask_head_layers,
                                           norm_layer=nn.BatchNorm2d)
    if pretrained:
        _freeze_resnet_layers(model.backbone.body, model_cfg.trainable_backbone_layers)
    return model


def _freeze_resnet_layers(body: nn.Module, trainable: int) -> None:
    keep = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable]
    if trainable == 5:
        keep.append("bn1")
    for name, p in body.named_parameters():
        p.requires_grad_(any(name.startswith(k) for k in keep))


def build_model(model_cfg, num_classes: int, image_size: int, *, load_weights: bool = True) -> MaskRCNN:
    """A Mask R-CNN for `num_classes` (background included) with weights as model_cfg.weights says.

    min_size/max_size of 0 follow the augmentation's output size, so the model never upscales
    the crops it is given (the tutorial's 128 px crops became 800 px inputs). With load_weights=False
    the architecture is the same (frozen norms for pretrained runs) but no file is read: a checkpoint
    is about to supply every weight."""
    if model_cfg.arch not in ARCHS:
        raise TrainingError(f"Unknown model.arch {model_cfg.arch!r}; use one of {', '.join(ARCHS)}.")
    if load_weights:
        kind, path = resolve_weights(model_cfg.arch, model_cfg.weights)
    else:
        kind, path = ("none" if (model_cfg.weights or "none").lower() == "none" else "skip"), None
    pretrained = kind != "none"
    size_min = model_cfg.min_size or image_size
    # torchvision's 800/1333 ratio: square training crops are not resized at all, while non-square
    # validation images at original size keep a long side of up to 1.67x, close to the training scale.
    size_max = max(model_cfg.max_size or round(image_size * 1333 / 800), size_min)
    kwargs = _common_kwargs(model_cfg, size_min, size_max)
    if model_cfg.arch == "maskrcnn_resnet50_fpn":
        model = _resnet_model("resnet50", model_cfg, num_classes, kwargs, pretrained)
    elif model_cfg.arch == "maskrcnn_resnet18_fpn":
        model = _resnet_model("resnet18", model_cfg, num_classes, kwargs, pretrained)
    elif model_cfg.arch == "maskrcnn_mobilenet_v3_fpn":
        model = _mobilenet_model(model_cfg, num_classes, kwargs, pretrained)
    else:
        model = _v2_model(model_cfg, num_classes, kwargs, pretrained)
    box_width = [m for m in model.roi_heads.box_head.modules() if isinstance(m, nn.Linear)][-1].out_features
    model.roi_heads.box_predictor = FastRCNNPredictor(box_width, num_classes)
    model.roi_heads.mask_predictor = MaskRCNNPredictor(model_cfg.mask_head_channels,
                                                       model_cfg.mask_head_channels, num_classes)
    model.pretrained_skipped = load_pretrained(model, kind, path) if path is not None else 0
    return use_exact_resize(model)


def _read_state_dict(path: Path) -> dict:
    try:
        obj = torch_load(path)
    except UnreadableFile as exc:
        raise WeightsError(f"Cannot read weights file {path} ({exc}); "
                            "use a PyTorch state-dict .pth file.") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["ema"]["model"] if obj.get("weights") == "ema" else obj["model"]   # a segstudio checkpoint
    if not isinstance(obj, dict):
        raise WeightsError(f"Weights file {path} holds no state dict; use a PyTorch state-dict .pth file.")
    return obj


def load_pretrained(model: MaskRCNN, kind: str, path: Path) -> int:
    """Copy every tensor whose name and shape match; predictors stay new.

    Returns how many tensors of the file were skipped because their shape differs (e.g. a narrower
    FPN than the file's), so the caller can warn."""
    state = _read_state_dict(path)
    if kind == "imagenet":
        # Classification weights fit the backbone body only (their fc layer is dropped).
        state = {f"backbone.body.{k}": v for k, v in state.items()
                 if not k.startswith(("fc.", "classifier."))}
        if _is_mobilenet(model):
            state = {k.replace("backbone.body.features.", "backbone.body."): v for k, v in state.items()}
    own = model.state_dict()
    usable = {k: v for k, v in state.items()
              if k in own and own[k].shape == v.shape and not k.startswith(_NEW_HEAD_PREFIXES)}
    if not usable:
        raise WeightsError(f"No tensor in {path} fits this model; check model.arch matches the weights.")
    model.load_state_dict(usable, strict=False)
    return sum(1 for k, v in state.items() if k in own and own[k].shape != v.shape
               and not k.startswith(_NEW_HEAD_PREFIXES))


def _is_mobilenet(model: MaskRCNN) -> bool:
    return not hasattr(model.backbone.body, "layer1")


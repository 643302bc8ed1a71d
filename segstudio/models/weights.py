"""The pretrained weights segstudio knows: torchvision's files, where they live, whether they are here.

Names, URLs and sizes come from torchvision's weights enums at run time (never copied by hand), so a
torchvision upgrade that republishes a file is followed. Files live in torch's own cache folder
(`torch.hub.get_dir()/checkpoints`, i.e. $TORCH_HOME/hub/checkpoints), where torchvision looks too.
Only `fetch_weights` touches the network, and only when the user asks (a command, a button, or a
confirmation); a file already present is never fetched again.
"""
from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from segstudio.base.errors import WeightsError
from segstudio.models.download import download_file

# Points downloads at another server (a mirror, or the tests' local one): <base>/<file name>.
BASE_URL_ENV = "SEGSTUDIO_WEIGHTS_URL"
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.(?:pth|pt)$")


@dataclass(frozen=True)
class KnownWeights:
    name: str            # what `segstudio weights download NAME` takes
    kind: str            # "coco" (whole detector) or "imagenet" (backbone body only)
    archs: tuple         # segstudio model.arch values these weights fit
    trained_on: str
    size_mb: float
    url: str             # torchvision's URL (a base-URL override replaces everything before the file name)

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        return sha256_prefix_of(self.file_name)

    @property
    def path(self) -> Path:
        return hub_checkpoint_dir() / self.file_name

    def present(self) -> bool:
        return self.path.is_file()

    def download_url(self, base_url: str | None = None) -> str:
        base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV, "")
        return f"{base.rstrip('/')}/{self.file_name}" if base else self.url

    def manual_hint(self) -> str:
        return f"download {self.download_url()} with a browser and copy it into {self.path.parent}"


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_prefix_of(file_name: str) -> str:
    """torchvision puts the first hex digits of a file's SHA-256 into its name: resnet50-0676ba61.pth."""
    match = _HASH_IN_NAME.search(file_name)
    return match.group(1) if match else ""


def _trained_on(weights, dataset: str) -> str:
    metrics = weights.meta.get("_metrics", {})
    if "COCO-val2017" in metrics:
        m = metrics["COCO-val2017"]
        return f"{dataset} (box AP {m.get('box_map', '?')}, mask AP {m.get('mask_map', '?')})"
    if "ImageNet-1K" in metrics:
        return f"{dataset} (top-1 {metrics['ImageNet-1K'].get('acc@1', '?')}%)"
    return dataset


def _backbone_default(builder):
    return inspect.signature(builder).parameters["weights_backbone"].default


def _catalogue() -> list[KnownWeights]:
    from torchvision.models import ResNet18_Weights  # noqa: PLC0415
    from torchvision.models.detection import (  # noqa: PLC0415
        MaskRCNN_ResNet50_FPN_V2_Weights,
        MaskRCNN_ResNet50_FPN_Weights,
        fasterrcnn_mobilenet_v3_large_fpn,
        maskrcnn_resnet50_fpn,
    )

    def entry(name, kind, archs, weights, dataset):
        return KnownWeights(name, kind, tuple(archs), _trained_on(weights, dataset),
                            float(weights.meta.get("_file_size", 0.0)), weights.url)

    coco = "COCO train2017"
    return [
        entry("maskrcnn_resnet50_fpn_v2_coco", "coco", ["maskrcnn_resnet50_fpn_v2"],
              MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT, coco),
        entry("maskrcnn_resnet50_fpn_coco", "coco", ["maskrcnn_resnet50_fpn"],
              MaskRCNN_ResNet50_FPN_Weights.DEFAULT, coco),
        # The backbones torchvision's own detection builders start from.
        entry("resnet50_imagenet", "imagenet", ["maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2"],
              _backbone_default(maskrcnn_resnet50_fpn), "ImageNet-1K"),
        entry("resnet18_imagenet", "imagenet", ["maskrcnn_resnet18_fpn"], ResNet18_Weights.IMAGENET1K_V1,
              "ImageNet-1K"),
        entry("mobilenet_v3_large_imagenet", "imagenet", ["maskrcnn_mobilenet_v3_fpn"],
              _backbone_default(fasterrcnn_mobilenet_v3_large_fpn), "ImageNet-1K"),
    ]


def known_weights() -> list[KnownWeights]:
    return _catalogue()


def find_weights(name: str) -> KnownWeights:
    """By catalogue name or torchvision file name; WeightsError listing the names otherwise."""
    for known in known_weights():
        if name in (known.name, known.file_name):
            return known
    names = ", ".join(k.name for k in known_weights())
    raise WeightsError(f"Unknown weights {name!r}; choose one of {names} (see `segstudio weights list`).")


def weights_for(arch: str, kind: str) -> KnownWeights | None:
    """The COCO or ImageNet weights file for an architecture (None when torchvision publishes none)."""
    for known in known_weights():
        if known.kind == kind and arch in known.archs:
            return known
    return None


def fetch_weights(known: KnownWeights, *, progress=None, should_cancel=None, retry=None,
                  base_url: str | None = None) -> Path:
    """The weights file, downloaded into the cache folder if it is not there yet."""
    if known.present():
        return known.path
    return download_file(known.download_url(base_url), known.path, sha256_prefix=known.sha256_prefix,
                         progress=progress, should_cancel=should_cancel, retry=retry)

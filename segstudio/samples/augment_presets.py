"""Augmentation presets: named transform lists sized by the config's image size (the config's
augment.preset), and the spec a config selects. Plain data: importing this needs no Albumentations (which
imports torch when it is installed), so the window lists the presets at start-up.
"""
from __future__ import annotations

from typing import Callable

from segstudio.base.errors import ConfigError


def _seed_preset(size: int) -> list[dict]:
    # The tutorial's pipeline, minus Normalize/ToTensorV2 (the model normalises; prepare_sample makes tensors).
    return [{"name": "RandomSizedBBoxSafeCrop", "height": size, "width": size, "erosion_rate": 0.2, "p": 1.0},
            {"name": "HorizontalFlip", "p": 0.5}]


def _none_preset(size: int) -> list[dict]:
    return []  # the model's own resize (min_size/max_size follow image_size) brings images to size


def _light_preset(size: int) -> list[dict]:
    return [{"name": "RandomSizedBBoxSafeCrop", "height": size, "width": size, "erosion_rate": 0.0, "p": 1.0},
            {"name": "HorizontalFlip", "p": 0.5},
            {"name": "RandomBrightnessContrast", "brightness_limit": 0.1, "contrast_limit": 0.1, "p": 0.3}]


def _multiscale_preset(size: int) -> list[dict]:
    # Aspect kept and objects at the scale evaluation gives them (the model resizes the short side to
    # image_size), +-25% jitter, then a square crop: no squashing as a crop resized to a square does.
    sides = sorted({max(8, round(size * f)) for f in (0.875, 1.0, 1.125, 1.25)})
    return [{"name": "SmallestMaxSize", "max_size": sides, "p": 1.0},
            {"name": "RandomCrop", "height": size, "width": size, "pad_if_needed": True, "p": 1.0},
            {"name": "HorizontalFlip", "p": 0.5}]


def _strong_preset(size: int) -> list[dict]:
    # Crop first so that the costlier warps run on small images.
    return [{"name": "RandomSizedBBoxSafeCrop", "height": size, "width": size, "erosion_rate": 0.3, "p": 1.0},
            {"name": "Affine", "scale": [0.75, 1.25], "rotate": [-10.0, 10.0],
             "translate_percent": [-0.05, 0.05], "p": 0.7},
            {"name": "HorizontalFlip", "p": 0.5},
            {"name": "ColorJitter", "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.03,
             "p": 0.6},
            {"name": "GaussianBlur", "blur_limit": [3, 5], "p": 0.1}]


AUGMENT_PRESETS: dict[str, Callable[[int], list[dict]]] = {
    "seed": _seed_preset, "none": _none_preset, "light": _light_preset, "multiscale": _multiscale_preset,
    "strong": _strong_preset,
}
AUGMENT_PRESET_DESCRIPTIONS = {
    "seed": "the tutorial's pipeline: bbox-safe random crop to image_size and horizontal flip",
    "none": "no transforms; the model resizes to image_size itself",
    "light": "bbox-safe crop, flip and mild brightness/contrast",
    "multiscale": "short side resized to image_size +-25% (aspect kept, as evaluation sees it), square "
                  "random crop, flip",
    "strong": "crop, scale jitter, small rotations, flip, colour jitter and blur",
}


def resolve_spec(aug_cfg) -> list[dict]:
    """The spec a config selects: a preset sized by image_size, or the custom transforms list."""
    if aug_cfg.preset == "custom":
        return [dict(t) for t in aug_cfg.transforms]
    if aug_cfg.preset not in AUGMENT_PRESETS:
        raise ConfigError(f"augment.preset {aug_cfg.preset!r} is unknown; use one of "
                          f"{', '.join(AUGMENT_PRESETS)} or custom.")
    return AUGMENT_PRESETS[aug_cfg.preset](aug_cfg.image_size)

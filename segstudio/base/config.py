"""Every setting of segstudio as dataclasses, with TOML load/save and validation.

A config file has the sections [data], [augment], [model], [train], [eval]; every key is optional and
falls back to the default below. Validation errors name the key (`train.lr`) and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from segstudio.base.errors import ConfigError
from segstudio.base.files import atomic_write_text


def _opt(default, *, choices=None, min=None, max=None, help="", auto=False):
    """A dataclass field with validation metadata (allowed choices, inclusive numeric range; `auto`: the
    string "auto" is allowed too)."""
    meta = {"choices": choices, "min": min, "max": max, "help": help, "auto": auto}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    url: str = _opt("", help="dataset URL or path; empty means the embedded demo dataset")
    images: str = _opt("", help="image column; empty means the proposed mapping")
    masks: str = _opt("", help="instance-mask column")
    boxes: str = _opt("", help="bounding-box column")
    labels: str = _opt("", help="class-label column")
    iscrowd: str = _opt("", help="optional crowd-flag column")
    query: str = _opt("", help="optional TQL filter, e.g. a WHERE clause")
    split_column: str = _opt("", help="column holding split names; empty means a seeded random split")
    train_value: str = _opt("train", help="value of split_column for training rows")
    val_value: str = _opt("val", help="value of split_column for validation rows")
    val_fraction: float = _opt(0.2, min=0.0, max=0.9, help="validation share of a seeded random split")
    split_seed: int = _opt(0, min=0, help="seed of the random split")
    endpoint_url: str = _opt("", help="S3-compatible endpoint (credentials come from the environment)")
    prefetch: int = _opt(-1, min=-1, max=64, help="batches each loader process requests ahead of the one it "
                                                  "prepares; -1: automatic (0 for local data; for remote data, "
                                                  "16 rows' worth, at least 2 batches)")
    block_rows: int = _opt(256, min=0, max=65536, help="remote data: rows of the small columns (boxes, labels) "
                                                       "read together, one request; 0 reads them row by row")
    cache_gb: float = _opt(10.0, min=0.0, help="local disk cache of remote rows, GB (0 turns it off; "
                                               "local datasets are never cached)")
    retry_s: float = _opt(120.0, min=1.0, help="seconds a lost connection to remote data is retried before "
                                               "the run stops")
    bad_rows: str = _opt("stop", choices=["stop", "skip"],
                         help="a row with an error met during training: stop the run, or skip the row and count it")
    version: str = _opt("", help="dataset version to read: a branch, a tag, a commit id or branch@commit "
                                 "(empty: the main branch)")
    commit: str = _opt("", help="the exact state a run read, as branch@commit (recorded at start; when set, "
                                "it is read instead of data.version, so a resumed or repeated run gets the same rows)")
    class_names: list = _opt([], help="class names the run used (recorded at start)")


@dataclass
class AugmentConfig:
    preset: str = _opt("multiscale", help="augmentation preset: multiscale, seed (the tutorial's), none, light, "
                                          "strong, or custom (use transforms)")
    transforms: list = _opt([], help="custom pipeline: list of {name = 'Transform', param = value}")
    image_size: int = _opt(128, min=32, max=4096, help="side of the training crop, pixels")
    min_area: float = _opt(25.0, min=0.0, help="drop boxes smaller than this after augmentation, px^2")
    min_visibility: float = _opt(0.6, min=0.0, max=1.0, help="drop boxes less visible than this")
    boxes_from_masks: str = _opt("auto", choices=["auto", "always", "never"],
                                 help="recompute boxes from masks (auto: when rotations are present)")


# The architectures segstudio.models.maskrcnn builds. The list lives here, not in model.py, so that reading or
# validating a config (the window's form, every command) does not import torch and torchvision.
MODEL_ARCHS = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2", "maskrcnn_resnet18_fpn",
               "maskrcnn_mobilenet_v3_fpn")


@dataclass
class ModelConfig:
    arch: str = _opt("maskrcnn_resnet18_fpn", choices=list(MODEL_ARCHS))
    weights: str = _opt("none", help="none, auto (the best present: coco, then imagenet, then none), coco, "
                                     "imagenet, or a path to a .pth file")
    min_size: int = _opt(0, min=0, max=4096, help="model input short side; 0 follows augment.image_size")
    max_size: int = _opt(0, min=0, max=8192, help="model input long side; 0: augment.image_size x 1333/800")
    trainable_backbone_layers: int = _opt(5, min=0, max=5)
    rpn_pre_nms_top_n_train: int = _opt(600, min=1)
    rpn_post_nms_top_n_train: int = _opt(300, min=1)
    rpn_pre_nms_top_n_test: int = _opt(300, min=1)
    rpn_post_nms_top_n_test: int = _opt(150, min=1)
    box_batch_size_per_image: int = _opt(64, min=1, help="ROIs sampled per image for the heads")
    box_positive_fraction: float = _opt(0.25, min=0.01, max=1.0)
    box_detections_per_img: int = _opt(100, min=1)
    mask_head_channels: int = _opt(64, min=8, max=512)
    mask_head_layers: int = _opt(2, min=1, max=8)
    fpn_channels: int = _opt(128, min=0, max=512,
                             help="FPN/RPN width (box head = 4x); 0 or 256 = torchvision's (COCO weights need 256)")
    fpn_norm: str = _opt("batchnorm", choices=["none", "batchnorm"],
                         help="normalisation after the FPN's convolutions, from scratch (pretrained "
                              "weights keep theirs); batchnorm learns faster on the demo data")
    roi_sampling_ratio: int = _opt(1, min=0, max=8,
                                   help="RoIAlign samples per bin side (torchvision: 2; 0 adapts to the box)")


@dataclass
class TrainConfig:
    epochs: int = _opt(38, min=1, max=100000)
    batch_size: int = _opt(8, min=1, max=1024, auto=True,
                           help='images per step; "auto": chosen when a new run starts (CUDA: the largest that '
                                "fits 60% of free GPU memory; CPU: 2 per thread at 128 px) and recorded in the run "
                                "card")
    optimizer: str = _opt("adamw", choices=["sgd", "adamw"])
    lr: float = _opt(0.0015, min=1e-7, max=10.0, help="learning rate; must be above 0")
    momentum: float = _opt(0.9, min=0.0, max=1.0)
    weight_decay: float = _opt(0.01, min=0.0, max=1.0)
    schedule: str = _opt("cosine", choices=["constant", "step", "cosine"])
    step_milestones: list = _opt([], help="epochs at which the step schedule multiplies lr by step_gamma")
    step_gamma: float = _opt(0.1, min=0.0, max=1.0)
    warmup_iters: int = _opt(50, min=0)
    grad_clip: float = _opt(0.0, min=0.0, help="max gradient norm; 0 disables clipping")
    rollbacks: int = _opt(0, min=0, max=10, help="when the loss diverges, go back to the last healthy checkpoint "
                                                "with train.lr divided by 10, at most this many times in one "
                                                "session (0: stop and say how to resume)")
    amp: bool = _opt(True, help="mixed precision: float16 on CUDA, bfloat16 on CPUs with native bfloat16 "
                              "(AVX-512 BF16 or AMX); evaluation stays float32 on the CPU")
    device: str = _opt("auto", choices=["auto", "cpu", "cuda", "mps"])
    workers: int = _opt(2, min=0, max=64)
    seed: int = _opt(0, min=0)
    run_name: str = _opt("", help="folder name under runs_dir; empty means a timestamp")
    runs_dir: str = _opt("runs")
    checkpoint_every: int = _opt(100, min=1, help="iterations between last.pt writes")
    max_iters: int = _opt(0, min=0, help="stop after this many iterations (0: run all epochs)")
    repeat_factor_threshold: float = _opt(0.0, min=0.0, max=1.0,
                                          help="class balancing (LVIS repeat-factor sampling): images whose "
                                               "rarest class is in fewer than this fraction of training images "
                                               "repeat (e.g. 0.01-0.1); 0 disables")
    ema: bool = _opt(False, help="keep an exponential moving average of the weights (BatchNorm statistics "
                                 "included), evaluate it beside the model, and let best.pt hold whichever scores "
                                 "higher; costs a second evaluation and a second copy of the weights")
    ema_decay: float = _opt(0.999, min=0.0, max=0.99999, help="the average's decay per iteration, reached after a "
                                                             "warm-up: min(ema_decay, (1 + k) / (10 + k)) at step k")
    tensorboard: bool = _opt(True, help="also write TensorBoard event files into the run folder "
                                        "(needs the optional tensorboard package)")


@dataclass
class EvalConfig:
    interval_epochs: int = _opt(4, min=0, help="evaluate every N epochs; 0 only at the end")
    score_threshold: float = _opt(0.05, min=0.0, max=1.0)
    max_images: int = _opt(0, min=0, help="evaluate at most this many validation images (0: all)")
    early_stopping_patience: int = _opt(0, min=0, help="stop after this many evaluations without a gain in "
                                                       "eval.early_stopping_metric; 0 disables")
    early_stopping_metric: str = _opt("mask_ap", choices=["mask_ap", "val_loss"],
                                      help="what early stopping watches: validation mask AP (higher is better) or "
                                           "validation loss (lower is better; needs eval.val_loss)")
    backend: str = _opt("faster_coco_eval", choices=["faster_coco_eval", "pycocotools"])
    val_loss: bool = _opt(True, help="also compute the loss terms on the validation split at each evaluation "
                                     "(one more pass, no gradients, no state changed; single process only)")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


_SECTION_CLASSES = {"data": DataConfig, "augment": AugmentConfig, "model": ModelConfig,
                    "train": TrainConfig, "eval": EvalConfig}


def _type_name(tp) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(tp, str(tp))


def _check_value(key: str, f: dataclasses.Field, value: Any) -> Any:
    if f.metadata.get("auto") and value == "auto":
        return value
    tp = _field_type(f)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, tp) and not (tp in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}.")
    if tp is float and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}.")
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key} must be one of {', '.join(meta['choices'])}; got {value!r}.")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        rng = f"between {lo} and {hi}" if lo is not None and hi is not None else (
            f"at least {lo}" if lo is not None else f"at most {hi}")
        raise ConfigError(f"{key} must be {rng}; got {value!r}.")
    return value


def _field_type(f: dataclasses.Field):
    tp = f.type
    if isinstance(tp, str):
        tp = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}[tp]
    return tp


def section_from_dict(cls, values: dict, section: str):
    """Build one section dataclass from a dict, rejecting unknown keys and invalid values."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of settings.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"Unknown setting {section}.{key}; allowed: {', '.join(fields)}.")
        kwargs[key] = _check_value(f"{section}.{key}", fields[key], value)
    return cls(**kwargs)


def config_from_dict(values: dict) -> Config:
    """Build and validate a Config from nested dicts (as read from TOML)."""
    unknown = set(values) - set(_SECTION_CLASSES)
    if unknown:
        raise ConfigError(f"Unknown section [{sorted(unknown)[0]}]; allowed: {', '.join(_SECTION_CLASSES)}.")
    cfg = Config(**{name: section_from_dict(cls, values.get(name, {}), name)
                    for name, cls in _SECTION_CLASSES.items()})
    validate(cfg)
    return cfg


def validate(cfg: Config) -> Config:
    """Checks that span several keys; single values are checked as they are read."""
    for name, cls in _SECTION_CLASSES.items():
        section = getattr(cfg, name)
        for f in dataclasses.fields(cls):
            _check_value(f"{name}.{f.name}", f, getattr(section, f.name))
    if cfg.data.split_column == "" and not 0.0 < cfg.data.val_fraction < 1.0:
        raise ConfigError("data.val_fraction must be between 0 and 1 (exclusive) when data.split_column is empty.")
    name = cfg.train.run_name
    if name and (name in (".", "..") or any(c in name for c in '/\\:*?"<>|') or name != name.strip()):
        raise ConfigError(f"train.run_name must be a plain folder name (no / \\ : * ? \" < > |); got {name!r}.")
    bad = [m for m in cfg.train.step_milestones if isinstance(m, bool) or not isinstance(m, int) or m < 1]
    if bad:
        raise ConfigError(f"train.step_milestones must be a list of epoch numbers of at least 1; got {bad[0]!r}.")
    if cfg.eval.early_stopping_patience and cfg.eval.early_stopping_metric == "val_loss" and not cfg.eval.val_loss:
        raise ConfigError("eval.early_stopping_metric = \"val_loss\" needs eval.val_loss = true (the validation loss "
                          "is what it watches); turn it on or stop on mask_ap.")
    for i, t in enumerate(cfg.augment.transforms):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise ConfigError(f"augment.transforms[{i}] must be a table with a 'name' key naming an "
                              "Albumentations transform.")
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def load_config(path: str | os.PathLike, defaults: dict | None = None) -> Config:
    """Read a TOML config; any problem is a ConfigError naming the file and the key. `defaults`
    ({(section, key): value}) stand in for keys the file does not have, before the section defaults."""
    path = Path(path)
    values = _read_values(path)
    for (section, key), value in (defaults or {}).items():
        if isinstance(values.get(section, {}), dict):
            values.setdefault(section, {}).setdefault(key, value)
    try:
        return config_from_dict(values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _read_values(path: Path) -> dict:
    """The TOML file's nested dicts, or a ConfigError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config file {path} is a folder; give the path of a .toml file.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path} ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text (a binary file or another encoding); "
                          "give a TOML file saved as UTF-8.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file or start from a config preset.") from None


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def dumps_config(cfg: Config) -> str:
    return tomli_w.dumps(_drop_none(config_to_dict(cfg)))


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    validate(cfg)
    atomic_write_text(path, dumps_config(cfg))


# The settings a resumed run may take anew (the window's Resume "with the form's optimiser").
OPTIMISER_SETTINGS = ("train.optimizer", "train.lr", "train.momentum", "train.weight_decay", "train.grad_clip",
                      "train.warmup_iters", "train.schedule")


def changed_settings(before: Config, after: Config, keys) -> dict[str, Any]:
    """{"section.name": after's value} for the settings among `keys` that differ from before to after (e.g.
    the Training form's optimiser against a run's, for a resume with the form's optimiser)."""
    changed = {}
    for key in keys:
        section, name = key.split(".")
        value = getattr(getattr(after, section), name)
        if value != getattr(getattr(before, section), name):
            changed[key] = value
    return changed


def with_panels(base: Config, data: DataConfig, augment: AugmentConfig) -> Config:
    """The window's config before its form is applied: `base` (a preset or loaded file) with the Dataset tab's
    data settings (its split settings stay the base's: the Training form edits them) and the Augmentation
    tab's pipeline (boxes_from_masks stays the base's)."""
    cfg = copy.deepcopy(base)
    split = {k: getattr(cfg.data, k) for k in ("split_column", "train_value", "val_value", "split_seed")}
    cfg.data = dataclasses.replace(copy.deepcopy(data), **split)
    cfg.augment = dataclasses.replace(copy.deepcopy(augment), boxes_from_masks=cfg.augment.boxes_from_masks)
    return cfg


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`section.key=value` strings (as `--set` takes them) -> {"section.key": value}; a value is read as
    TOML (1e-4, true, [1, 2], "text") and as plain text when it is not TOML (cpu, /a/path)."""
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key.count(".") != 1:
            raise ConfigError(f"--set expects section.key=value (e.g. train.lr=1e-4); got {item!r}.")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        overrides[key] = value
    return overrides


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of `cfg` with each `section.key` set to its value, every value checked as a config file's."""
    values = config_to_dict(cfg)
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in _SECTION_CLASSES:
            raise ConfigError(f"Unknown section in {key}; allowed: {', '.join(_SECTION_CLASSES)}.")
        values[section][name] = value
    return config_from_dict(values)

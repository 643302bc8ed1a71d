"""Settings that are valid but cannot do what the user likely wants, said before a run starts.

config.validate rejects impossible settings; these are possible but self-defeating combinations (a warm-up
longer than the run, an evaluation interval past the last epoch, a few dozen iterations from scratch).
The window shows them under its form, one line each.
"""
from __future__ import annotations

import math

from segstudio.base.config import Config

# Below this, Mask R-CNN from random weights stays near AP 0: the CPU preset on the demo data is at mask AP50
# 0.000 after 60 iterations, about 0.3 after 600 and 0.34-0.49 after 780-840 (10 minutes on 2 cores;
# bench/bench_learning.py, three seeds).
FROM_SCRATCH_MIN_ITERS = 300


def estimated_iterations(cfg: Config, num_rows: int) -> tuple[int, int]:
    """(iterations per epoch, total) as training will run them, estimated from the row count (a split column's
    own share is not known here: the random split's fraction stands in for it)."""
    val = 0.0 if cfg.data.split_column else cfg.data.val_fraction
    train_rows = max(1, round(num_rows * (1 - val)))
    per_epoch = max(1, math.ceil(train_rows / max(1, _batch_size(cfg))))
    total = per_epoch * cfg.train.epochs
    if cfg.train.max_iters:
        total = min(total, cfg.train.max_iters)
    return per_epoch, total


def run_warnings(cfg: Config, num_rows: int, accelerator: bool = True) -> list[str]:
    """One sentence per combination that defeats its purpose (empty when nothing is known to be wrong).
    `accelerator`: whether CUDA or MPS is present (a config sized for a GPU crawls without one)."""
    if num_rows <= 0:
        return []
    per_epoch, total = estimated_iterations(cfg, num_rows)
    out = []
    warmup = cfg.train.warmup_iters
    if warmup >= total:
        out.append(f"Warm-up ({warmup} iterations) is as long as the whole run (about {total}): the learning "
                   f"rate never reaches {cfg.train.lr:g}; lower the warm-up.")
    interval, epochs = cfg.eval.interval_epochs, math.ceil(total / per_epoch)
    if interval > epochs:
        out.append(f"Evaluate every {interval} epochs, but the run has {epochs}: only the final evaluation "
                   "runs, so the AP curve has one point.")
    if str(cfg.model.weights).strip().lower() in ("", "none") and total < FROM_SCRATCH_MIN_ITERS:
        out.append(f"From scratch (Weights: none) for about {total} iterations: under {FROM_SCRATCH_MIN_ITERS} "
                   "such a run stays near AP 0 (the demo data needs about 1,000 for mask AP50 0.5); choose coco "
                   "or imagenet weights, or train longer.")
    if not accelerator and cfg.train.device != "cpu" and sized_for_gpu(cfg):
        out.append(f"This config is sized for a GPU ({cfg.model.arch}, {cfg.augment.image_size} px, batch "
                   f"{cfg.train.batch_size}) but this machine has no CUDA or MPS device, so it trains on the CPU "
                   "many times slower; load the cpu preset, or lower the image size and batch size.")
    return out


def sized_for_gpu(cfg: Config) -> bool:
    """ResNet-50 at 384 px or more, or large batches: hours per epoch on a CPU for a few hundred images."""
    return ("resnet50" in cfg.model.arch and cfg.augment.image_size >= 384) or _batch_size(cfg) >= 16


def _batch_size(cfg: Config) -> int:
    """train.batch_size, with "auto" (chosen when the run starts) counted as the presets' 8."""
    return cfg.train.batch_size if isinstance(cfg.train.batch_size, int) else 8

"""The training run's data: dataset -> mapping -> split -> pre-flight -> batches for training and validation.

The dataset comes from data.mapped.open_mapped, the loaders from loader.build_loader (the factory that
validation, evaluation and the benchmarks use too): the order of epoch e is DistributedSampler's seeded
permutation for (train.seed, e), so a resumed run can skip exactly the batches it has already trained
on and continue the same curve, and under torchrun every rank gets its own shard.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from segstudio.data.mapped import MappedDataset
from segstudio.data.open import strip_secrets
from segstudio.engine.distributed import DistInfo
from segstudio.errors import DataError
from segstudio.loader import SegmentationDataset, build_loader

LOADER_TIMEOUT_S = 300   # a hung worker becomes an error instead of a frozen run


class TrainData:
    """What the engine needs from the data side (tests substitute an in-memory object with these names)."""

    def __init__(self, cfg, mapped: MappedDataset, split, dist: DistInfo,
                 warn: Callable[[str], None] = lambda message: None):
        self.class_names = list(mapped.class_names)
        self.train_rows, self.val_rows = list(split.train), list(split.val)
        self._split, self._mapped, self._cfg = split, mapped, cfg
        pin = cfg.train.device in ("auto", "cuda") and torch.cuda.is_available()
        train_set = SegmentationDataset(mapped, self.train_rows, cfg.augment, train=True, seed=cfg.train.seed)
        self._train_loader = build_loader(train_set, cfg.train.batch_size, cfg.train.workers, shuffle=True,
                                          seed=cfg.train.seed, pin_memory=pin, group_by_aspect=False,
                                          rank=dist.rank, world_size=dist.world_size, timeout=LOADER_TIMEOUT_S,
                                          repeat_factors=_repeat_factors(cfg, mapped, self.train_rows, warn))
        # Validation: un-augmented, original size, crowd kept; each rank takes a shard (metrics gather).
        val_rows = self.val_rows[dist.rank::dist.world_size]
        if cfg.eval.max_images:
            val_rows = val_rows[:max(cfg.eval.max_images // dist.world_size, 1)]
        val_set = SegmentationDataset(mapped, val_rows, cfg.augment, train=False, seed=cfg.train.seed)
        self._val_loader = build_loader(val_set, cfg.train.batch_size, 0, shuffle=False, seed=cfg.train.seed)

    @property
    def iters_per_epoch(self) -> int:
        return len(self._train_loader.batch_sampler)

    def train_batches(self, epoch: int, skip: int = 0):
        """Epoch `epoch`'s batches (DistributedSampler's seeded order), less the first `skip` (resume)."""
        self._train_loader.batch_sampler.set_epoch(epoch, skip=skip)
        return self._train_loader

    def val_batches(self):
        return self._val_loader

    def split_dict(self) -> dict:
        return self._split.to_dict()

    def run_info(self) -> dict:
        from segstudio.augment import resolve_spec

        m = self._mapped
        return {"dataset": strip_secrets(m.url), "dataset_version": m.version,
                "mapping": dataclasses.asdict(m.mapping), "box_format": dataclasses.asdict(m.box_format),
                "class_names": self.class_names, "split": {"method": self._split.method,
                                                           "train": len(self.train_rows),
                                                           "val": len(self.val_rows)},
                "augmentation": resolve_spec(self._cfg.augment), "weights": self._cfg.model.weights}

    def close(self) -> None:
        # Dropping the loaders lets their worker processes exit.
        self._train_loader = self._val_loader = None


def _repeat_factors(cfg, mapped: MappedDataset, rows: list, warn: Callable[[str], None]):
    """Per-row repeat factors when train.repeat_factor_threshold is set (None: plain epochs), and a line
    saying how the epoch grows. Opt-in because it reads the label column of every training row first."""
    threshold = cfg.train.repeat_factor_threshold
    if not threshold:
        return None
    from segstudio.data.repeat_factor import describe_effect, image_categories, repeat_factors

    cats = image_categories(mapped.ds, mapped.mapping.labels, rows)
    factors = repeat_factors(cats, threshold)
    warn(describe_effect(factors, cats, threshold, mapped.class_names))
    return factors


def _resolve_url(cfg) -> str:
    if cfg.data.url:
        return cfg.data.url
    from segstudio.data.demo import ensure_demo_dataset

    url = ensure_demo_dataset()
    if not cfg.data.split_column:
        cfg.data.split_column = "split"   # the demo dataset carries its own train/val column
    return url


def _run_preflight(mapped: MappedDataset, rows: list, warn: Callable[[str], None]) -> None:
    from segstudio.data.preflight import preflight

    report = preflight(mapped.ds, mapped.mapping, mapped.box_format, rows=rows,
                       num_classes=len(mapped.class_names))
    for finding in report.warnings:
        warn(finding.message)
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
        raise DataError(f"{first.message}{more}".rstrip(".") + "; fix the data or exclude the rows with data.query.")


def build_train_data(cfg, *, split=None, warn: Callable[[str], None] = lambda m: None,
                     dist: DistInfo = DistInfo()) -> TrainData:
    """Open the dataset the config names and plan its batches; records mapping, version and classes in cfg."""
    from segstudio.data.mapped import open_mapped
    from segstudio.data.splits import Split, make_split

    url = _resolve_url(cfg)
    mapped = open_mapped(url, cfg.data, endpoint_url=cfg.data.endpoint_url)
    split = Split.from_dict(split).check(mapped.num_rows) if split else make_split(mapped.ds, cfg.data)
    _run_preflight(mapped, split.train + split.val, warn)
    cfg.data.url = url
    for role in ("images", "masks", "boxes", "labels", "iscrowd"):
        setattr(cfg.data, role, getattr(mapped.mapping, role))
    cfg.data.version = str(mapped.version or "")
    cfg.data.class_names = list(mapped.class_names)
    return TrainData(cfg, mapped, split, dist, warn)

"""The training run's data: dataset -> mapping -> split -> pre-flight -> batches for training and validation.

Batches are planned here, not by a shuffling DataLoader: the order of epoch e is DistributedSampler's
seeded permutation for (train.seed, e), so a resumed run can skip exactly the batches it has already
trained on and continue the same curve, and under torchrun every rank gets its own shard.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch.utils.data import DataLoader, DistributedSampler

from segstudio.data.sample import BoxFormat, ColumnMapping
from segstudio.engine.distributed import DistInfo
from segstudio.engine.rundir import strip_secrets
from segstudio.loader import SegmentationDataset, build_loader, collate, worker_init
from segstudio.errors import DataError

LOADER_TIMEOUT_S = 300   # a hung worker becomes an error instead of a frozen run


class _Planner:
    """Batches of (position, epoch) keys for SegmentationDataset; iter() uses the epoch/skip set last."""

    def __init__(self, num_rows: int, batch_size: int, seed: int, dist: DistInfo):
        self.batch_size = batch_size
        self.sampler = DistributedSampler(range(num_rows), num_replicas=dist.world_size, rank=dist.rank,
                                          shuffle=True, seed=seed, drop_last=False)
        self.epoch, self.skip = 0, 0

    def __len__(self) -> int:
        return max(len(self.sampler) + self.batch_size - 1, 0) // self.batch_size

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        order = list(self.sampler)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for batch in batches[self.skip:]:
            yield [(pos, self.epoch) for pos in batch]


class TrainData:
    """What the engine needs from the data side (tests substitute an in-memory object with these names)."""

    def __init__(self, cfg, ds_url: str, mapping: ColumnMapping, box_format: BoxFormat, class_names: list,
                 split, version: str, dist: DistInfo):
        self.class_names = list(class_names)
        self.train_rows, self.val_rows = list(split.train), list(split.val)
        self._split, self._version, self._url = split, version, ds_url
        self._mapping, self._box_format, self._cfg = mapping, box_format, cfg
        common = dict(url=ds_url, endpoint_url=cfg.data.endpoint_url, mapping=mapping, box_format=box_format,
                      aug_cfg=cfg.augment, seed=cfg.train.seed)
        self._planner = _Planner(len(self.train_rows), cfg.train.batch_size, cfg.train.seed, dist)
        train_set = SegmentationDataset(rows=self.train_rows, train=True, **common)
        pin = cfg.train.device in ("auto", "cuda") and torch.cuda.is_available()
        self._train_loader = _loader(train_set, self._planner, cfg.train.workers, pin)
        # Validation: un-augmented, original size, crowd kept; each rank takes a shard (metrics gather).
        val_rows = self.val_rows[dist.rank::dist.world_size]
        if cfg.eval.max_images:
            val_rows = val_rows[:max(cfg.eval.max_images // dist.world_size, 1)]
        val_set = SegmentationDataset(rows=val_rows, train=False, **common)
        self._val_loader = build_loader(val_set, cfg.train.batch_size, 0, shuffle=False, seed=cfg.train.seed)

    @property
    def iters_per_epoch(self) -> int:
        return len(self._planner)

    def train_batches(self, epoch: int, skip: int = 0):
        self._planner.epoch, self._planner.skip = epoch, skip
        return self._train_loader

    def val_batches(self):
        return self._val_loader

    def split_dict(self) -> dict:
        return self._split.to_dict()

    def run_info(self) -> dict:
        from segstudio.augment import resolve_spec

        return {"dataset": strip_secrets(self._url), "dataset_version": self._version,
                "mapping": dataclasses.asdict(self._mapping), "box_format": dataclasses.asdict(self._box_format),
                "class_names": self.class_names, "split": {"method": self._split.method,
                                                           "train": len(self.train_rows),
                                                           "val": len(self.val_rows)},
                "augmentation": resolve_spec(self._cfg.augment), "weights": self._cfg.model.weights}

    def close(self) -> None:
        # Dropping the loaders lets their worker processes exit.
        self._train_loader = self._val_loader = None


def _loader(dataset, batch_sampler, workers: int, pin_memory: bool = False) -> DataLoader:
    kwargs = {}
    if workers > 0:
        kwargs = dict(multiprocessing_context="spawn", persistent_workers=True, worker_init_fn=worker_init,
                      timeout=LOADER_TIMEOUT_S, prefetch_factor=2)
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=pin_memory, **kwargs)


def _resolve_url(cfg) -> str:
    if cfg.data.url:
        return cfg.data.url
    from segstudio.data.demo import ensure_demo_dataset

    url = ensure_demo_dataset()
    if not cfg.data.split_column:
        cfg.data.split_column = "split"   # the demo dataset carries its own train/val column
    return url


def _run_preflight(ds, mapping, box_format, rows: list, num_classes: int, warn: Callable[[str], None]) -> None:
    from segstudio.data.preflight import preflight

    report = preflight(ds, mapping, box_format, rows=rows, num_classes=num_classes)
    for finding in report.warnings:
        warn(finding.message)
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
        raise DataError(f"{first.message}{more}".rstrip(".") + "; fix the data or exclude the rows with data.query.")


def build_train_data(cfg, *, split=None, warn: Callable[[str], None] = lambda m: None,
                     dist: DistInfo = DistInfo()) -> TrainData:
    """Open the dataset the config names and plan its batches; records mapping, version and classes in cfg."""
    from segstudio.data.describe import class_names_for, describe, resolve_mapping
    from segstudio.data.open import open_dataset
    from segstudio.data.splits import Split, make_split

    url = _resolve_url(cfg)
    ds = open_dataset(url, endpoint_url=cfg.data.endpoint_url)
    info = describe(ds, url)
    mapping, box_format = resolve_mapping(info, cfg.data)
    class_names = class_names_for(info, mapping, cfg.data)
    split = Split.from_dict(split).check(len(ds)) if split else make_split(ds, cfg.data)
    _run_preflight(ds, mapping, box_format, split.train + split.val, len(class_names), warn)
    cfg.data.url = url
    for role in ("images", "masks", "boxes", "labels", "iscrowd"):
        setattr(cfg.data, role, getattr(mapping, role))
    cfg.data.version = str(info.version or "")
    cfg.data.class_names = list(class_names)
    return TrainData(cfg, url, mapping, box_format, class_names, split, cfg.data.version, dist)


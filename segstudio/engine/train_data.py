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

from segstudio.data.counts_report import scan_key
from segstudio.data.demo import ensure_demo_dataset
from segstudio.data.mapped import MappedDataset, open_mapped
from segstudio.data.open import strip_secrets
from segstudio.data.repeat_factor import describe_effect, repeat_factors
from segstudio.data.splits import Split
from segstudio.engine.distributed import DistInfo
from segstudio.engine.row_checks import RunChecks
from segstudio.samples.augment_presets import resolve_spec
from segstudio.samples.loader import RowCheck, SegmentationDataset, build_loader

LOADER_TIMEOUT_S = 300   # a hung worker becomes an error instead of a frozen run


class TrainData:
    """What the engine needs from the data side (tests substitute an in-memory object with these names)."""

    def __init__(self, cfg, mapped: MappedDataset, split, dist: DistInfo,
                 warn: Callable[[str], None] = lambda message: None, checks=None):
        self.class_names = list(mapped.class_names)
        self.train_rows, self.val_rows = list(split.train), list(split.val)
        self._split, self._mapped, self._cfg = split, mapped, cfg
        self.data_config = cfg.data   # the data settings as resolved: the run card records them
        self.checks = checks   # engine.row_checks.RunChecks: rows are checked as the loaders read them
        self._check = None
        if checks is not None and checks.checking:
            m = mapped.mapping
            self._check = RowCheck(len(mapped.class_names), bool(m.masks), bool(m.boxes))
        pin = cfg.train.device in ("auto", "cuda") and torch.cuda.is_available()
        train_set = SegmentationDataset(mapped, self.train_rows, cfg.augment, train=True, seed=cfg.train.seed,
                                        check=self._check)
        self._train_loader = build_loader(train_set, cfg.train.batch_size, cfg.train.workers, shuffle=True,
                                          seed=cfg.train.seed, pin_memory=pin, group_by_aspect=False,
                                          rank=dist.rank, world_size=dist.world_size, timeout=LOADER_TIMEOUT_S,
                                          repeat_factors=_repeat_factors(cfg, mapped, self.train_rows, warn))
        # Validation: un-augmented, original size, crowd kept; each rank takes a shard (metrics gather).
        self._val_rows = self.val_rows[dist.rank::dist.world_size]
        if cfg.eval.max_images:
            self._val_rows = self._val_rows[:max(cfg.eval.max_images // dist.world_size, 1)]
        self._val_loader = None   # built at the first evaluation: its aspect grouping reads every row's size

    @property
    def iters_per_epoch(self) -> int:
        return len(self._train_loader.batch_sampler)

    def train_batches(self, epoch: int, skip: int = 0):
        """Epoch `epoch`'s batches (DistributedSampler's seeded order), less the first `skip` (resume)."""
        self._train_loader.batch_sampler.set_epoch(epoch, skip=skip)
        if self.checks is None:
            return self._train_loader
        return self.checks.batches(self._train_loader, keep_empty=True)

    def val_batches(self):
        if self._val_loader is None:
            cfg = self._cfg
            val_set = SegmentationDataset(self._mapped, self._val_rows, cfg.augment, train=False,
                                          seed=cfg.train.seed, check=self._check)
            self._val_loader = build_loader(val_set, cfg.train.batch_size, 0, shuffle=False, seed=cfg.train.seed)
        if self.checks is None:
            return self._val_loader
        return self.checks.batches(self._val_loader, keep_empty=False)

    def finish_checks(self, run_dir) -> None:
        """Write the run's pre-flight report (the sample + every row read) into its folder."""
        if self.checks is not None:
            self.checks.write(run_dir)

    def split_dict(self) -> dict:
        return self._split.to_dict()

    def run_info(self) -> dict:
        m = self._mapped
        return {"dataset": strip_secrets(m.url), "dataset_version": str(m.ref) or m.version,
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

    cats = mapped.categories(rows)
    factors = repeat_factors(cats, threshold)
    warn(describe_effect(factors, cats, threshold, mapped.class_names))
    return factors


def _resolve_url(data_cfg) -> str:
    if data_cfg.url:
        return data_cfg.url

    url = ensure_demo_dataset()
    if not data_cfg.split_column:
        data_cfg.split_column = "split"   # the demo dataset carries its own train/val column
    return url


def build_train_data(cfg, *, split=None, warn: Callable[[str], None] = lambda m: None,
                     dist: DistInfo = DistInfo(), emit: Callable = lambda event: None) -> TrainData:
    """Open the dataset the config names and plan its batches. The caller's config stays as it is; the
    data settings as resolved (URL, column mapping, version, class names) are the result's `.data_config`.

    Nothing here reads every row: the pre-flight checks a sample now and the rest as the loaders read them
    (engine.row_checks); a random split reads no rows (a split by column reads that one column)."""

    data_cfg = dataclasses.replace(cfg.data)
    url = data_cfg.url = _resolve_url(data_cfg)
    mapped = open_mapped(url, data_cfg, endpoint_url=data_cfg.endpoint_url)
    split = Split.from_dict(split).check(mapped.num_rows) if split else mapped.split(data_cfg)
    checks = RunChecks(scan_key(mapped), mapped.num_rows, data_cfg.bad_rows, emit)
    split = checks.start(mapped.ds, split, warn)
    for role in ("images", "masks", "boxes", "labels", "iscrowd"):
        setattr(data_cfg, role, getattr(mapped.mapping, role))
    data_cfg.commit = str(mapped.ref)   # the exact state read; data.version stays as the user asked
    data_cfg.class_names = list(mapped.class_names)
    return TrainData(dataclasses.replace(cfg, data=data_cfg), mapped, split, dist, warn, checks)

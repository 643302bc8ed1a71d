"""Run the audit: N training rows x D draws, read and augmented by the loader's workers with the training
seeds, each sample reduced to its figures in the worker (audit.tally), summed here; cached per dataset
version, mapping, pipeline and model anchors.

Draw d of row r is the sample training gets for row r at epoch d (`sample_seed(train.seed, d, r)`), so
the audit describes the very samples of the first D epochs. A worker reads a row once and augments it D
times (training reads it once per epoch). The rows are all training rows, or when
there are more than N, a fixed sample of them (seeded by train.seed, sorted).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from segstudio.audit.anchors import AnchorSetup
from segstudio.audit.tally import AuditTally, row_stats, sample_stats
from segstudio.base.errors import ConfigError, UserError
from segstudio.base.files import atomic_write_text
from segstudio.data.repeat_factor import repeat_factors
from segstudio.data.scan import cache_dir, dataset_address
from segstudio.samples.augment import prepare_sample, sample_seed
from segstudio.samples.augment_presets import resolve_spec
from segstudio.samples.loader import SegmentationDataset, build_loader, reraise_user_error

CACHE_FORMAT = 3   # 2: reachable_before/after; 3: mask-area histograms
BATCH = 8


@dataclass
class AuditResult:
    class_names: list
    tally: AuditTally
    settings: dict                     # what was audited: rows, draws, seed, pipeline, anchors
    complete: bool = True              # False: cancelled part way
    cached: bool = False
    rows: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"class_names": list(self.class_names), "settings": self.settings, "complete": self.complete,
                "rows": list(self.rows), "tally": self.tally.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "AuditResult":
        return cls(list(d["class_names"]), AuditTally.from_dict(d["tally"]), dict(d["settings"]),
                   bool(d["complete"]), False, list(d.get("rows", [])))


class AuditDataset(SegmentationDataset):
    """Training's dataset whose item for a row is the figures of its `draws` samples (epochs 0..draws-1,
    training's seeds): the row is read and measured once, augmented once per draw."""

    def __init__(self, *args, anchors: AnchorSetup, draws: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.anchors, self.draws = anchors, int(draws)

    def __getitem__(self, key):
        pos = key[0] if isinstance(key, tuple) else key
        row = self.rows[int(pos)]
        try:
            raw = self.read(row)
            before = row_stats(raw, self.anchors)
            return [sample_stats(raw, prepare_sample(raw, self.pipeline, sample_seed(self.seed, draw, row)),
                                 self.anchors, draw, before) for draw in range(self.draws)]
        except UserError as exc:
            reraise_user_error(exc)


def _as_list(batch):
    return batch


def audit_rows(train_rows, n: int, seed: int) -> list[int]:
    """All training rows, or a fixed seeded sample of `n` of them (sorted)."""
    rows = [int(r) for r in train_rows]
    if n >= len(rows):
        return rows
    pick = np.random.default_rng([int(seed), 0x41554454]).choice(len(rows), size=n, replace=False)
    return sorted(rows[i] for i in pick)


def audit_settings(cfg, anchors: AnchorSetup | None, rows: int, draws: int) -> dict:
    """What an audit describes (the cache key without the anchors, which follow from the model settings)."""
    a = cfg.augment
    model = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k != "weights"}
    out = {"rows": rows, "draws": draws, "seed": cfg.train.seed, "preset": a.preset, "spec": resolve_spec(a),
           "image_size": a.image_size, "min_area": a.min_area, "min_visibility": a.min_visibility,
           "boxes_from_masks": a.boxes_from_masks, "arch": cfg.model.arch, "model": model,
           "repeat_factor_threshold": cfg.train.repeat_factor_threshold}
    return out if anchors is None else dict(out, anchors=anchors.to_dict())


def _weights(cfg, mapped, train_rows: list[int], rows: list[int]) -> dict:
    """Row -> repeat factor when the repeat-factor sampler is on (class balance as training sees it)."""
    threshold = cfg.train.repeat_factor_threshold
    if not threshold:
        return {}

    factors = repeat_factors(mapped.categories(train_rows), threshold)
    by_row = dict(zip(train_rows, factors.tolist()))
    return {r: by_row[r] for r in rows}


def audit_mapped(mapped, cfg, *, rows: int = 500, draws: int = 4, workers: int | None = None,
                 progress: Callable[[int, int], None] = lambda done, total: None,
                 should_stop: Callable[[], bool] = lambda: False, use_cache: bool = True) -> AuditResult:
    """Audit the pipeline `cfg.augment` over the training rows of an opened dataset."""
    if rows < 1 or draws < 1:
        raise ConfigError("The audit needs at least 1 row and 1 draw; raise --rows or --draws.")
    train_rows = list(mapped.split(cfg.data).train)
    chosen = audit_rows(train_rows, rows, cfg.train.seed)
    key = _cache_key(mapped, audit_settings(cfg, None, len(chosen), draws), chosen)
    hit = load_cached(key) if use_cache else None
    if hit is not None:     # answered without building the model
        progress(len(chosen) * draws, len(chosen) * draws)
        return hit
    anchors = AnchorSetup.for_config(cfg)
    settings = audit_settings(cfg, anchors, len(chosen), draws)
    result = AuditResult(list(mapped.class_names), AuditTally(len(mapped.class_names)), settings, rows=chosen)
    _collect(result, mapped, cfg, anchors, _weights(cfg, mapped, train_rows, chosen),
             cfg.train.workers if workers is None else workers, progress, should_stop)
    if result.complete and use_cache:
        store(key, result)
    return result


def _collect(result: AuditResult, mapped, cfg, anchors, weights: dict, workers: int, progress, should_stop):
    draws = result.settings["draws"]
    dataset = AuditDataset(mapped, result.rows, cfg.augment, train=True, seed=cfg.train.seed, anchors=anchors,
                           draws=draws)
    loader = build_loader(dataset, BATCH, workers, shuffle=False, seed=cfg.train.seed, group_by_aspect=False,
                          collate_fn=_as_list)
    total, done = len(result.rows) * draws, 0
    progress(0, total)
    for batch in loader:
        for samples in batch:
            for stats in samples:
                result.tally.add(stats, weights.get(stats["row"], 1.0))
            done += len(samples)
        progress(done, total)
        if should_stop():
            result.complete = False
            return


# ---- cache ---------------------------------------------------------------------------------------

def cache_folder() -> Path:
    return cache_dir().parent / "audits"


def _cache_key(mapped, settings: dict, rows: list[int]) -> dict | None:

    version = mapped.version_key()
    if not version:
        return None   # views and in-memory datasets: no version, no cache
    return {"format": CACHE_FORMAT, "address": dataset_address(mapped.url, mapped.endpoint_url),
            "version": version, "mapping": dataclasses.asdict(mapped.mapping),
            "box_format": dataclasses.asdict(mapped.box_format), "class_names": list(mapped.class_names),
            "settings": settings, "rows": hashlib.sha256(json.dumps(rows).encode()).hexdigest()}


def _path(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return cache_folder() / f"{digest}.json"


def load_cached(key: dict | None) -> AuditResult | None:
    if key is None:
        return None
    try:
        entry = json.loads(_path(key).read_text())
        if entry.get("key") != json.loads(json.dumps(key, default=str)):
            return None
        result = AuditResult.from_dict(entry["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    result.cached = True
    return result


def store(key: dict | None, result: AuditResult) -> bool:
    if key is None:
        return False
    try:
        atomic_write_text(_path(key), json.dumps({"key": key, "result": result.to_dict()}, default=str),
                          durable=False)
    except OSError:
        return False
    return True

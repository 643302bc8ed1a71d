"""Repeat-factor sampling for class imbalance (LVIS, Gupta et al. 2019; Detectron2's RepeatFactorTrainingSampler).

For each category c, f_c is the fraction of training images that contain it; r_c = max(1, sqrt(t / f_c))
for a threshold t; an image repeats r_i = max over its categories' r_c (1 for an image without labels).
Each epoch rounds every r_i stochastically (floor, plus one with probability of the fractional part),
from a generator seeded by (seed, epoch): the same run gives the same epochs, and a resumed run
replays the epoch it stopped in exactly. The epoch length is fixed at round(sum r_i) so iteration
counts, schedules and resume positions do not drift between epochs.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

_STREAM = 0x52465331   # keeps this generator apart from the other (seed, epoch) draws


def category_frequencies(image_categories: Sequence[Iterable[int]]) -> dict[int, float]:
    """f_c: the fraction of images whose labels include c (an image counts once per category)."""
    n = len(image_categories)
    counts: dict[int, int] = {}
    for cats in image_categories:
        for c in set(cats):
            counts[c] = counts.get(c, 0) + 1
    return {c: k / n for c, k in counts.items()} if n else {}


def repeat_factors(image_categories: Sequence[Iterable[int]], threshold: float) -> np.ndarray:
    """r_i for each image, float64, all >= 1."""
    freq = category_frequencies(image_categories)
    per_cat = {c: max(1.0, math.sqrt(threshold / f)) for c, f in freq.items()}
    return np.array([max((per_cat[c] for c in set(cats)), default=1.0) for cats in image_categories],
                    dtype=np.float64)


def epoch_length(factors: np.ndarray) -> int:
    return max(int(round(float(np.sum(factors)))), 1) if len(factors) else 0


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), _STREAM])


def _round(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    whole = np.floor(factors)
    return (whole + (rng.random(len(factors)) < factors - whole)).astype(np.int64)


def repeat_counts(factors: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """How often each image appears in epoch `epoch` before the epoch is cut to its fixed length."""
    return _round(factors, _rng(seed, epoch))


def epoch_indices(factors: np.ndarray, seed: int, epoch: int, length: int | None = None) -> np.ndarray:
    """Positions (into the training rows) of one epoch, shuffled, exactly `length` long (default the
    expected length); depends only on (factors, seed, epoch, length)."""
    n = len(factors)
    length = epoch_length(factors) if length is None else int(length)
    if n == 0 or length == 0:
        return np.zeros(0, dtype=np.int64)
    rng = _rng(seed, epoch)
    order = rng.permutation(np.repeat(np.arange(n, dtype=np.int64), _round(factors, rng)))
    if len(order) < length:   # the draw fell short of the mean: top up from the same shuffled draw
        order = np.concatenate([order, order[:length - len(order)]])
    return order[:length]


def shard(order: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's share, padded like DistributedSampler so every rank gets as many positions."""
    if world_size <= 1:
        return order
    per_rank = -(-len(order) // world_size)
    padded = np.resize(order, per_rank * world_size) if len(order) else order
    return padded[rank::world_size]


def image_categories(ds, labels_column: str, rows: Sequence[int], chunk: int = 1024) -> list[set]:
    """The set of label values of each row (one bulk read per chunk of rows)."""
    out: list[set] = []
    rows = [int(r) for r in rows]
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        for value in ds[labels_column][part]:
            out.append(set(np.asarray(value, dtype=np.int64).reshape(-1).tolist()))
    return out


def describe_effect(factors: np.ndarray, image_cats: Sequence[Iterable[int]], threshold: float,
                    class_names: Sequence[str] = ()) -> str:
    """One line for the log and the window: how the epoch grows and which class drives it."""
    n, length = len(factors), epoch_length(factors)
    repeated = int(np.sum(factors > 1.0))
    text = (f"Repeat-factor sampling (threshold {threshold:g}): an epoch draws {length} images instead of {n} "
            f"(x{length / max(n, 1):.2f}); {repeated} images repeat")
    freq = category_frequencies(image_cats)
    if freq:
        rare = min(freq, key=freq.get)
        name = class_names[rare] if 0 <= rare < len(class_names) else str(rare)
        text += (f", the rarest class {name!r} (in {freq[rare]:.1%} of images) "
                 f"{max(1.0, math.sqrt(threshold / freq[rare])):.2f}x")
    return text + "."

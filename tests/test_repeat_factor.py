"""Repeat-factor sampling: the LVIS rule on a hand-made label set, determinism, resume, sharding."""
from __future__ import annotations

import math

import numpy as np
import pytest

from segstudio.data.repeat_factor import (
    category_frequencies,
    describe_effect,
    epoch_indices,
    epoch_length,
    repeat_counts,
    repeat_factors,
    shard,
)

# 10 images: class 0 everywhere, class 1 in 4 images, class 2 in one, one image without labels.
LABELS = [{0}, {0}, {0, 1}, {0, 1}, {0, 1}, {0, 1, 2}, {0}, {0}, {0}, set()]


def test_frequencies_count_images_not_instances():
    freq = category_frequencies([[0, 0, 0], [0, 1], [1, 1]])
    assert freq == {0: pytest.approx(2 / 3), 1: pytest.approx(2 / 3)}


def test_lvis_rule_on_a_hand_made_label_set():
    t = 0.4
    r = repeat_factors(LABELS, t)
    # f_0 = 0.9 -> r = 1; f_1 = 0.4 -> sqrt(0.4/0.4) = 1; f_2 = 0.1 -> sqrt(0.4/0.1) = 2
    assert r.tolist() == [1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    r = repeat_factors(LABELS, 0.9)
    # the image's factor is its rarest category's: max(sqrt(.9/.9), sqrt(.9/.4)) = 1.5
    assert r[2] == pytest.approx(1.5) and r[5] == pytest.approx(3.0) and r[0] == 1.0 and r[9] == 1.0
    assert repeat_factors(LABELS, 0.0).tolist() == [1.0] * 10


def test_epoch_has_the_expected_length_and_each_image_its_whole_repeats():
    r = repeat_factors(LABELS, 0.9)
    length = epoch_length(r)
    assert length == round(sum(r))
    for epoch in range(5):
        order = epoch_indices(r, seed=3, epoch=epoch)
        counts = np.bincount(order, minlength=10)
        assert len(order) == length
        assert counts[5] >= 3 or len(order) < sum(repeat_counts(r, 3, epoch))   # floor(3.0) unless cut short


def test_stochastic_rounding_averages_to_the_factor_and_fills_the_epoch():
    r = np.array([1.25, 1.0, 2.5, 3.0])
    counts = np.stack([repeat_counts(r, 7, e) for e in range(2000)])
    assert set(np.unique(counts[:, 0])) == {1, 2} and set(np.unique(counts[:, 3])) == {3}
    assert counts.mean(axis=0) == pytest.approx(r, abs=0.05)
    drawn = repeat_counts(r, 7, 11)
    order = epoch_indices(r, 7, 11, length=int(drawn.sum()))
    assert np.bincount(order, minlength=4).tolist() == drawn.tolist()


def test_same_seed_and_epoch_repeat_and_others_differ():
    r = repeat_factors(LABELS, 0.9)
    a, b = epoch_indices(r, 1, 4), epoch_indices(r, 1, 4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, epoch_indices(r, 1, 5)) and not np.array_equal(a, epoch_indices(r, 2, 4))


def test_resume_mid_epoch_continues_the_same_order():
    r = repeat_factors(LABELS, 0.9)
    full = epoch_indices(r, 0, 2)
    batch = 3
    done = 2   # batches trained before the interruption
    resumed = epoch_indices(r, 0, 2)[done * batch:]   # a fresh process rebuilds the epoch from (seed, epoch)
    assert np.array_equal(np.concatenate([full[:done * batch], resumed]), full)


def test_shards_cover_the_epoch_evenly():
    order = epoch_indices(repeat_factors(LABELS, 0.9), 0, 0)
    parts = [shard(order, rank, 3) for rank in range(3)]
    assert len({len(p) for p in parts}) == 1 and len(parts[0]) == math.ceil(len(order) / 3)
    assert set(np.concatenate(parts).tolist()) == set(order.tolist())


def test_effect_line_names_length_and_rarest_class():
    r = repeat_factors(LABELS, 0.4)
    line = describe_effect(r, LABELS, 0.4, ["person", "dog", "okapi"])
    assert "11 images instead of 10" in line and "'okapi'" in line and "2.00x" in line


def test_sampler_epochs_follow_the_factors_repeat_and_resume_exactly():
    from segstudio.samples.loader import EpochBatchSampler

    r = repeat_factors(LABELS, 0.9)
    make = lambda: EpochBatchSampler(10, 4, True, seed=5, repeat_factors=r)  # noqa: E731
    sampler = make()
    assert len(sampler) == -(-epoch_length(r) // 4)
    sampler.set_epoch(3)
    full = list(sampler)
    assert [pos for batch in full for pos, _ in batch] == epoch_indices(r, 5, 3).tolist()
    assert all(epoch == 3 for batch in full for _, epoch in batch)
    again = make()
    again.set_epoch(3, skip=2)   # a resumed run rebuilt in a new process skips the two batches it trained
    assert list(again) == full[2:]
    other = make()
    other.set_epoch(4)
    assert list(other) != full


def test_training_data_reads_labels_once_and_says_how_the_epoch_grows(demo_dataset):
    from segstudio.base.config import Config
    from segstudio.engine.train_data import build_train_data

    cfg = Config()
    cfg.data.url, cfg.data.split_column = demo_dataset, "split"
    cfg.train.workers, cfg.train.batch_size = 0, 4
    plain = build_train_data(cfg)
    cfg.train.repeat_factor_threshold = 0.5
    lines = []
    balanced = build_train_data(cfg, warn=lines.append)
    said = [line for line in lines if line.startswith("Repeat-factor sampling")]
    assert len(said) == 1 and f"instead of {len(balanced.train_rows)}" in said[0]
    drawn = int(said[0].split("draws ")[1].split()[0])
    assert balanced.iters_per_epoch == -(-drawn // 4) >= plain.iters_per_epoch
    rows = [row for batch in balanced.train_batches(0) for row in batch[2]]
    assert len(rows) == drawn and set(rows) <= set(balanced.train_rows)

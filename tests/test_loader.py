"""Loader: preview equals training (also in spawned workers), epochs, batching, real COCO rows."""
import pickle

import pytest
import torch

from segstudio.base.config import AugmentConfig
from segstudio.base.errors import DataError, UserError
from segstudio.data.mapped import open_mapped
from segstudio.samples.loader import EpochBatchSampler, SegmentationDataset, build_loader, collate


@pytest.fixture(scope="module")
def demo(demo_dataset):
    return open_mapped(demo_dataset)


def make_dataset(mapped, preset="seed", rows=None, seed=0, train=True):
    rows = list(range(mapped.num_rows)) if rows is None else rows
    return SegmentationDataset(mapped, rows, AugmentConfig(preset=preset), train=train, seed=seed)


@pytest.fixture(scope="module")
def coco(coco128, tmp_path_factory):
    import deeplake
    dest = str(tmp_path_factory.mktemp("coco") / "coco128")
    deeplake.from_coco(str(coco128 / "images"), {"instances": str(coco128 / "annotations.json")}, dest,
                       file_to_group_mapping={"instances": ""})
    return open_mapped(dest)


@pytest.mark.parametrize("preset", ["seed", "strong"])
def test_real_coco_rows_give_consistent_targets(coco, preset):
    """Crowds (RLE), a grayscale image, empty rows, boxes under 2 px: every target stays consistent."""
    from test_augment import check_target
    data = make_dataset(coco, preset, seed=3)
    for row in data.rows:
        raw, prepared = data.sample_with_raw(row, epoch=1)
        check_target(prepared, raw)


def test_dataset_pickles_without_its_connection(demo):
    data = make_dataset(demo)
    clone = pickle.loads(pickle.dumps(data))
    assert clone.mapped._ds is None and clone._pipeline is None
    assert torch.equal(clone[3].image, data[3].image)


def test_bad_url_fails_in_the_callers_process(tmp_path):
    with pytest.raises(DataError):
        open_mapped(str(tmp_path / "missing"))


def loader_samples(loader):
    out = {}
    for images, targets, rows in loader:
        for img, t, r in zip(images, targets, rows):
            out[r] = (img, t)
    return out


def assert_matches_preview(data, samples, epoch):
    for row, (img, t) in samples.items():
        ref = data.sample(row, epoch)      # what `segstudio preview` and the window show
        assert torch.equal(img, ref.image)
        for key in ("boxes", "labels", "masks"):
            assert torch.equal(t[key], ref.target[key])


def test_preview_equals_training_sample_in_process(demo):
    data = make_dataset(demo, "strong", seed=5)
    loader = build_loader(data, batch_size=4, workers=0, shuffle=True, seed=5)
    first = loader_samples(loader)
    assert sorted(first) == data.rows
    assert_matches_preview(data, first, epoch=0)
    second = loader_samples(loader)          # the next epoch draws new augmentations
    assert_matches_preview(data, second, epoch=1)
    assert any(not torch.equal(first[r][0], second[r][0]) for r in first)


@pytest.mark.timeout(240)
def test_preview_equals_training_sample_in_spawned_workers(demo):
    data = make_dataset(demo, "seed", rows=list(range(12)), seed=11)
    loader = build_loader(data, batch_size=3, workers=2, shuffle=True, seed=11, timeout=180)
    try:
        assert_matches_preview(data, loader_samples(loader), epoch=0)
        assert_matches_preview(data, loader_samples(loader), epoch=1)   # persistent workers, next epoch
    finally:
        del loader


def test_shuffle_is_seeded_per_epoch():
    a = EpochBatchSampler(20, 4, shuffle=True, seed=1)
    b = EpochBatchSampler(20, 4, shuffle=True, seed=1)
    e0, e1 = list(a), list(a)
    assert e0 == list(b) and e0 != e1
    assert {e for batch in e1 for _, e in batch} == {1}
    a.set_epoch(0)
    assert list(a) == e0


def test_aspect_grouped_batches():
    groups = [0, 1] * 10 + [1] * 3
    sampler = EpochBatchSampler(len(groups), 4, shuffle=True, seed=2, groups=groups)
    batches = list(sampler)
    assert sorted(p for b in batches for p, _ in b) == list(range(len(groups)))
    full = [b for b in batches if len(b) == 4]
    assert len(full) >= 4
    assert all(len({groups[p] for p, _ in b}) == 1 for b in full)
    assert len(sampler) == len(batches)
    assert all(len(b) == 4 for b in EpochBatchSampler(len(groups), 4, True, 2, drop_last=True, groups=groups))


def test_grouping_only_when_shapes_vary(demo):
    fixed = build_loader(make_dataset(demo, "seed"), 4, 0, True, 0)
    varied = build_loader(make_dataset(demo, "none"), 4, 0, True, 0)
    assert fixed.batch_sampler.groups is None
    assert varied.batch_sampler.groups is not None and len(set(varied.batch_sampler.groups)) == 2
    mixed = 0
    for images, _, _ in varied:
        mixed += len({("portrait" if im.shape[1] > im.shape[2] else "landscape") for im in images}) > 1
    assert mixed <= 1          # only the leftovers of the two groups may share a batch


def test_evaluation_dataset_keeps_original_size_and_crowds(demo):
    data = make_dataset(demo, "strong", train=False)
    raw, prepared = data.sample_with_raw(0)
    assert tuple(prepared.image.shape[1:]) == raw.image.shape[:2]
    assert "iscrowd" in prepared.target


def test_collate_keeps_lists(demo):
    data = make_dataset(demo)
    images, targets, rows = collate([data[0], data[1]])
    assert len(images) == len(targets) == 2 and rows == [0, 1]
    assert set(targets[0]) >= {"boxes", "labels", "masks"}


@pytest.mark.timeout(240)
def test_user_error_in_a_spawned_worker_keeps_its_one_sentence(demo):
    """torch re-raises a worker's exception with the worker's traceback in its message; users must not see it."""
    aug = AugmentConfig(preset="custom", transforms=[{"name": "RandomCrop", "height": 5000, "width": 5000}])
    data = SegmentationDataset(demo, [0, 1], aug, train=True)
    loader = build_loader(data, batch_size=2, workers=1, shuffle=False, seed=0, timeout=180)
    with pytest.raises(UserError) as err:
        next(iter(loader))
    del loader
    message = str(err.value)
    assert message.startswith("The augmentation cannot be applied to row") and "\n" not in message
    assert "Traceback" not in message

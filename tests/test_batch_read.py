"""Batched reads give exactly the single-read samples: local and from S3, cold and from the rows cache,
in the main process and in loader workers; the sampler tells each worker which batches come next."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from s3_server import MotoServer

from segstudio.base.config import AugmentConfig, DataConfig
from segstudio.data.mapped import open_mapped
from segstudio.samples.loader import Batch, EpochBatchSampler, SegmentationDataset, build_loader


def same_sample(a, b) -> bool:
    if a.row != b.row or not torch.equal(a.image, b.image) or set(a.target) != set(b.target):
        return False
    return all(torch.equal(a.target[k], b.target[k]) for k in a.target)


def dataset(url, endpoint="", rows=None, **data):
    mapped = open_mapped(url, DataConfig(**data), endpoint_url=endpoint)
    rows = range(len(mapped)) if rows is None else rows
    return SegmentationDataset(mapped, rows, AugmentConfig(preset="strong", image_size=64), train=True, seed=3)


def test_batched_read_equals_single_reads_locally(demo_dataset):
    data = dataset(demo_dataset)
    keys = Batch([(pos, 2) for pos in (5, 0, 17, 9)])
    keys.ahead = ([1, 2], [3])
    batched = data.__getitems__(keys)
    single = [data[k] for k in [(5, 2), (0, 2), (17, 2), (9, 2)]]
    assert all(same_sample(a, b) for a, b in zip(batched, single))
    again = data.__getitems__(Batch([(1, 2), (2, 2)]))      # requested ahead above
    assert all(same_sample(a, data[(p, 2)]) for a, p in zip(again, (1, 2)))
    pairs = list(data.samples_with_raw([4, 8, 15, 16, 23], epoch=0, batch=2))
    for row, (raw, prepared) in zip([4, 8, 15, 16, 23], pairs):
        raw1, prepared1 = data.sample_with_raw(row, 0)
        assert np.array_equal(raw.image, raw1.image) and np.array_equal(raw.masks, raw1.masks)
        assert same_sample(prepared, prepared1)


def test_sampler_tells_each_worker_its_next_batches():
    sampler = EpochBatchSampler(20, 2, shuffle=True, seed=0, ahead=2, workers=3)
    batches = list(sampler)
    positions = [[p for p, _ in b] for b in batches]
    for i, b in enumerate(batches):
        assert isinstance(b, Batch)
        assert list(b.ahead) == [positions[j] for j in (i + 3, i + 6) if j < len(positions)]
    assert all(not b.ahead for b in EpochBatchSampler(6, 2, False, 0))   # prefetch 0: nothing ahead


def test_prefetch_default_follows_the_storage(demo_dataset):
    assert dataset(demo_dataset).prefetch_depth() == 0
    assert dataset(demo_dataset, prefetch=3).prefetch_depth() == 3
    assert dataset(demo_dataset).mapped.reader.cache is None      # local data is never cached


@pytest.fixture(scope="module")
def s3_demo(demo_dataset):
    server = MotoServer().start()
    try:
        server.url = server.upload(demo_dataset, "segstudio", "demo")
        yield server
    finally:
        server.stop()


def test_s3_reads_in_workers_fill_the_cache_and_match_local(s3_demo, demo_dataset, monkeypatch, tmp_path):
    for key, value in s3_demo.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SEGSTUDIO_CACHE_DIR", str(tmp_path))
    local = dataset(demo_dataset, rows=range(0, 48, 3))
    remote = dataset(s3_demo.url, s3_demo.endpoint, rows=range(0, 48, 3))
    assert remote.prefetch_depth(4) == 4 and remote.prefetch_depth(16) == 2   # 16 rows ahead, >= 2 batches
    loader = build_loader(remote, 4, 2, shuffle=True, seed=1, group_by_aspect=False, timeout=120)
    for epoch in range(2):   # epoch 0 from the server, epoch 1 from the cache the workers wrote
        loader.batch_sampler.set_epoch(epoch)
        seen = 0
        for images, targets, rows in loader:
            for image, target, row in zip(images, targets, rows):
                ref = local[(local.rows.index(row), epoch)]
                assert torch.equal(image, ref.image) and all(torch.equal(target[k], ref.target[k]) for k in target)
                seen += 1
        assert seen == len(local)
        files = list(tmp_path.glob("rows/*/*.row"))
        assert len(files) == len(local), epoch
    del loader
    from segstudio.data import row_cache
    doc = row_cache.info()
    assert doc["datasets"][0]["url"] == s3_demo.url and doc["datasets"][0]["rows"] == len(local)


def test_remote_small_columns_come_in_blocks_with_the_same_values(s3_demo, demo_dataset, monkeypatch):
    """Boxes and labels of remote data are read a block of rows at a time (a slice is a few requests where a
    list of rows is one request per row); the cells are exactly the local ones, the partial last block too."""
    for key, value in s3_demo.env().items():
        monkeypatch.setenv(key, value)
    local = open_mapped(demo_dataset, DataConfig(block_rows=16)).reader
    remote = open_mapped(s3_demo.url, DataConfig(endpoint_url=s3_demo.endpoint, cache_gb=0, block_rows=16),
                         endpoint_url=s3_demo.endpoint).reader
    assert not local.small       # local data: read row by row
    assert remote.small and set(remote.small).isdisjoint({"images", "masks"})
    last = len(remote.ds) - 1
    for rows in ([3, 40, 17, last], [18, 2, last - 1]):   # the second batch finds its blocks held
        for a, b in zip(remote.read(rows), local.read(rows)):
            assert a.keys() == b.keys()
            assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    assert {blk for _, blk in remote.blocks} == {0, 1, 2, last // 16}
    pending = remote.start([5])                 # block 0 is held: not requested again...
    remote.blocks.clear()                       # ...but pushed out before the answer comes
    cells, expected = pending.cells()[0], local.read([5])[0]
    assert all(np.array_equal(np.asarray(cells[k]), np.asarray(expected[k])) for k in expected)

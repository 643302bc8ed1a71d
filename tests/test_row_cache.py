"""The rows cache: exact round trip, version keys, LRU eviction under the size limit, atomic writes shared
by several processes, and `segstudio cache info|clear`."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np

from segstudio.data import row_cache
from segstudio.data.row_cache import RowCache, cache_key


def cells(seed: int, size: int = 32) -> dict:
    rng = np.random.default_rng(seed)
    return {"images": rng.integers(0, 255, (size, size + 1, 3), dtype=np.uint8),
            "masks": rng.random((size, size + 1, 2)) > 0.5,
            "boxes": rng.random((2, 4)).astype(np.float32),
            "categories": np.array([3, 1], np.uint32)}


def same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def test_round_trip_is_exact_and_misses_are_none(tmp_path):
    cache = RowCache(tmp_path, "k", 10**8, describe={"url": "s3://b/d", "version": "v1"})
    assert cache.get(3) is None
    cache.put(3, cells(3))
    assert same(cache.get(3), cells(3))
    # a strided view (how HxWxN masks come back from a batched read) is stored as its values
    view = {"masks": cells(4)["masks"][:, ::2]}
    cache.put(4, view)
    assert same(cache.get(4), {"masks": np.ascontiguousarray(view["masks"])})


def test_key_changes_with_version_and_columns():
    base = cache_key("s3://b/d", "http://127.0.0.1:9", "v1", ["images", "masks"])
    assert base != cache_key("s3://b/d", "http://127.0.0.1:9", "v2", ["images", "masks"])
    assert base != cache_key("s3://b/d", "http://127.0.0.1:9", "v1", ["images", "boxes"])
    assert base == cache_key("s3://b/d", "http://127.0.0.1:9", "v1", ["images", "masks"])


def test_new_version_never_serves_old_rows(tmp_path):
    old = RowCache(tmp_path, cache_key("s3://b/d", "", "v1", ["images"]), 10**8)
    old.put(0, {"images": np.zeros(4, np.uint8)})
    new = RowCache(tmp_path, cache_key("s3://b/d", "", "v2", ["images"]), 10**8)
    assert new.get(0) is None


def test_damaged_file_is_a_miss(tmp_path):
    cache = RowCache(tmp_path, "k", 10**8)
    cache.put(1, cells(1))
    (cache.dir / "1.row").write_bytes(b"garbage")
    assert cache.get(1) is None and not (cache.dir / "1.row").exists()


def test_eviction_keeps_size_under_limit_least_recently_used_first(tmp_path):
    one = len(row_cache.encode_cells(cells(0)))
    limit = one * 10
    cache = RowCache(tmp_path, "k", 10**9)
    for row in range(20):
        cache.put(row, cells(row))
        os.utime(cache.dir / f"{row}.row", (1000 + row, 1000 + row))   # row 0 oldest
    assert cache.get(0) is not None    # a hit makes row 0 the most recently used
    assert row_cache.evict(tmp_path, limit) > 0
    sizes = sum(p.stat().st_size for p in cache.dir.glob("*.row"))
    assert sizes <= limit * 0.9
    kept = {int(p.stem) for p in cache.dir.glob("*.row")}
    assert 0 in kept and 1 not in kept and 19 in kept and len(kept) >= 8


def test_writes_past_the_limit_trigger_eviction(tmp_path):
    one = len(row_cache.encode_cells(cells(0)))
    cache = RowCache(tmp_path, "k", one * 5)
    for row in range(30):
        cache.put(row, cells(row))
    assert sum(p.stat().st_size for p in cache.dir.glob("*.row")) <= one * 6
    assert cache.get(29) is not None


def _writer(root: str, worker: int, rounds: int) -> None:
    cache = RowCache(root, "shared", 10**9)
    for _ in range(rounds):
        for row in range(6):
            cache.put(row, cells(row))
            got = cache.get((row + worker) % 6)
            assert got is None or same(got, cells((row + worker) % 6))


def test_several_processes_share_one_cache(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 5)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    cache = RowCache(tmp_path, "shared", 10**9)
    assert all(same(cache.get(r), cells(r)) for r in range(6))
    assert not list(cache.dir.glob(".tmp-*"))


def test_cache_command_info_and_clear(tmp_path, monkeypatch, capsys):
    from segstudio.cli import main

    monkeypatch.setenv("SEGSTUDIO_CACHE_DIR", str(tmp_path))
    cache = RowCache(row_cache.cache_root(), "k", 10**8, describe={"url": "s3://b/d", "version": "v7"})
    cache.put(0, cells(0))
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "s3://b/d version v7: 1 rows" in out
    assert main(["cache", "clear"]) == 0
    assert "cleared" in capsys.readouterr().out
    assert row_cache.info()["bytes"] == 0 and cache.get(0) is None
    cache.put(1, cells(1))         # a loader still running after the clear keeps working
    assert cache.get(1) is not None


def test_unwritable_cache_is_a_no_op(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = RowCache(blocker, "k", 10**8)      # the cache folder cannot be made: every row is a miss
    cache.put(0, cells(0))
    assert cache.get(0) is None

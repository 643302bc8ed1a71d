"""Start-up that does not grow with the dataset: a sampled pre-flight up front, the other rows checked as the
loader reads them (a bad row beyond the sample is an event, then skipped or the run stops), reports cached
per dataset version, and the full scans report progress and can be cancelled."""
from __future__ import annotations

import json

import deeplake
import numpy as np
import pytest
from deeplake import types as T
from test_engine import Recorder, tiny_config

from segstudio.cli import main
from segstudio.data import class_counts as cc
from segstudio.data import preflight as pf
from segstudio.data.class_counts import Cancelled, class_counts
from segstudio.data.preflight import preflight, sample_rows
from segstudio.data.sample import BoxFormat, ColumnMapping
from segstudio.data.scan import ScanKey, load_cached, store
from segstudio.data.versions import version_key
from segstudio.engine import row_checks
from segstudio.engine.train import train

ROWS, SAMPLE, SIZE = 8, 2, 64
MAP = ColumnMapping("images", "masks", "boxes", "categories", "iscrowd")


def _bad_row() -> int:
    """The first row the sampled pre-flight does not look at (training's split covers every row)."""
    picked = set(sample_rows(ROWS, SAMPLE))
    return next(r for r in range(ROWS) if r not in picked)


def _row(i: int, label: int):
    rng = np.random.default_rng(i)
    image = (rng.random((SIZE, SIZE, 3)) * 60).astype(np.uint8)
    masks = np.zeros((SIZE, SIZE, 1), bool)
    x, y = 4 + i % 8, 6 + i % 5
    masks[y:y + 24, x:x + 24, 0] = True
    image[masks[:, :, 0]] = 230
    return image, masks, np.array([[x, y, 24, 24]], np.float32), np.array([label], np.uint32)


def _make(path: str, bad: int | None) -> str:
    ds = deeplake.create(path)
    ds.add_column("images", T.Image(dtype="uint8", sample_compression="png"))
    ds.add_column("masks", T.BinaryMask(sample_compression="lz4"))
    ds.add_column("boxes", T.BoundingBox(dtype="float32", format="ltwh", bbox_type="pixel"))
    ds.add_column("categories", T.ClassLabel(T.Array("uint32", 1)))
    ds.add_column("iscrowd", T.Array("bool", 1))
    ds["categories"].metadata["class_names"] = ["square"]
    rows = [_row(i, 7 if i == bad else 0) for i in range(ROWS)]   # label 7 of 1 class: an error
    cols = list(zip(*rows))
    ds.append({"images": list(cols[0]), "masks": list(cols[1]), "boxes": list(cols[2]),
               "categories": list(cols[3]), "iscrowd": [np.zeros(1, bool)] * ROWS})
    ds.commit("rows")
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> str:
    return _make(str(tmp_path_factory.mktemp("scale") / "bad"), _bad_row())


@pytest.fixture
def small_sample(monkeypatch):
    monkeypatch.setattr(row_checks, "SAMPLE_ROWS", SAMPLE)


def _config(tmp_path, url: str, policy: str):
    cfg = tiny_config(tmp_path, epochs=1, batch_size=2)
    cfg.data.url, cfg.data.bad_rows = url, policy
    cfg.augment.preset, cfg.augment.image_size = "none", SIZE
    cfg.eval.max_images = 2
    return cfg


class CountingDataset:
    """A Deep Lake dataset that counts the rows read from its row columns (not schema or metadata)."""

    def __init__(self, ds, counted: set):
        self._ds, self.counted, self.rows = ds, counted, set()

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def __len__(self):
        return len(self._ds)

    def __getitem__(self, key):
        column = self._ds[key]
        return _CountingColumn(column, self.rows) if key in self.counted else column


class _CountingColumn:
    def __init__(self, column, rows: set):
        self._column, self._rows = column, rows

    def __getattr__(self, name):
        return getattr(self._column, name)

    def _note(self, index):
        idx = range(*index.indices(10 ** 9)) if isinstance(index, slice) else np.atleast_1d(index).tolist()
        self._rows.update(int(i) for i in idx)

    def __getitem__(self, index):
        self._note(index)
        return self._column[index]

    def get_bytes(self, index):
        self._note(index)
        return self._column.get_bytes(index)


def test_start_up_reads_only_the_sample(planted, tmp_path, monkeypatch, small_sample):
    from segstudio.data import mapped as data_mapped
    from segstudio.engine.train_data import build_train_data

    opened = []
    real_open = data_mapped.open_readable

    def counting_open(url, **kwargs):
        ds, legacy = real_open(url, **kwargs)
        opened.append(CountingDataset(ds, set(MAP.__dict__.values())))
        return opened[-1], legacy
    monkeypatch.setattr(data_mapped, "open_readable", counting_open)
    data = build_train_data(_config(tmp_path, planted, "stop"))
    assert len(opened[0].rows) <= SAMPLE and _bad_row() not in opened[0].rows
    assert data.checks.report().rows_checked == SAMPLE and not data.checks.report().complete


@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_bad_row_beyond_the_sample_is_an_event_then_policy(planted, tmp_path, small_sample, policy):
    bad = _bad_row()
    rec = Recorder()
    cfg = _config(tmp_path, planted, policy)
    cfg.eval.max_images = 0    # every validation row is read, so the report covers every row
    finished = train(cfg, rec, rec.should_stop)
    events = rec.of("bad_row")
    assert events and events[0].row == bad and f"Row {bad} has label ids outside" in events[0].message
    report = json.loads((tmp_path / "runs" / "t" / "preflight.json").read_text())
    assert report["bad_rows"] == [bad] and report["policy"] == policy
    if policy == "skip":
        assert finished.status == "completed" and events[0].action == "skipped"
        assert report["skipped_rows"] == [bad] and report["rows_checked"] == ROWS and report["complete"]
        key = ScanKey.of(planted, version_key(deeplake.open_read_only(planted)), MAP, BoxFormat(), 1)
        assert load_cached(key)["report"].bad_rows == [bad]    # a complete report is cached
    else:
        error = rec.of("error")[0]
        assert finished.status == "failed" and events[0].action == "stopped" and error.rows == [bad]
        assert error.message.startswith(f"Row {bad} has label ids") and 'data.bad_rows = "skip"' in error.message
        assert not report["complete"]


def test_cached_full_report_decides_before_the_first_iteration(planted, tmp_path, small_sample, capsys):
    """After a full `inspect`, a run knows every bad row up front: stop at once, or leave them out."""
    bad = _bad_row()
    assert main(["inspect", planted, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["preflight_source"] == "scan"
    rec = Recorder()
    finished = train(_config(tmp_path, planted, "stop"), rec, rec.should_stop)
    assert finished.status == "failed" and not rec.of("iteration") and rec.of("error")[0].rows == [bad]
    assert "cached for this dataset version" in finished.message
    rec = Recorder()
    cfg = _config(tmp_path, planted, "skip")
    cfg.train.run_name, cfg.train.max_iters = "skip", 1
    assert train(cfg, rec, rec.should_stop).status == "completed" and not rec.of("bad_row")
    split = json.loads((tmp_path / "runs" / "skip" / "split.json").read_text())
    assert bad not in split["train"] + split["val"]


def test_inspect_answers_from_the_cache_until_a_commit(tmp_path, capsys):
    path = _make(str(tmp_path / "ds"), None)
    assert main(["inspect", path, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["preflight_source"] == "scan" and first["preflight"]["complete"]
    assert main(["inspect", path, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["preflight_source"] == "cache" and again["class_counts"] == first["class_counts"]
    ds = deeplake.open(path)
    ds.append({k: [v] for k, v in zip(("images", "masks", "boxes", "categories"), _row(99, 3))}
              | {"iscrowd": [np.zeros(1, bool)]})
    ds.commit("one more row, with a bad label")
    assert main(["inspect", path, "--json"]) == 1     # a new version: scanned again, the new row found
    after = json.loads(capsys.readouterr().out)
    assert after["preflight_source"] == "scan" and after["preflight"]["bad_rows"] == [ROWS]


def test_a_dataset_made_again_at_the_same_path_is_not_served_from_the_cache(tmp_path, capsys):
    """Deep Lake restarts version numbers in a re-created dataset: the cache key holds its id too."""
    import shutil

    path = _make(str(tmp_path / "ds"), None)
    assert main(["inspect", path, "--json"]) == 0
    capsys.readouterr()
    shutil.rmtree(path)
    _make(path, bad=3)
    assert main(["inspect", path, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["preflight_source"] == "scan" and out["preflight"]["bad_rows"] == [3]


def test_inspect_text_order_and_limit(planted, capsys):
    picked = sample_rows(ROWS, 5)
    assert main(["inspect", planted, "--limit", "5"]) == (1 if _bad_row() in picked else 0)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"Dataset {planted}: {ROWS} rows") and out[1] == "Columns:"
    assert any(line.startswith("Classes: 1 (") and "in the 5 sampled rows" in line for line in out)
    assert any(f"in 5 of {ROWS} rows (a sample)" in line for line in out)


def test_full_checks_report_progress_and_cancel(planted, monkeypatch):
    monkeypatch.setattr(pf, "_BATCH", 3)
    monkeypatch.setattr(cc, "CHUNK", 5)
    ds = deeplake.open_read_only(planted)
    seen = []
    report = preflight(ds, MAP, BoxFormat(), progress=lambda done, total: seen.append((done, total)),
                       should_stop=lambda: len(seen) >= 2)
    assert seen == [(3, ROWS), (6, ROWS)] and report.cancelled and report.rows_checked == 6
    assert not report.complete and "(cancelled)" in report.format_text()
    key = ScanKey.of(planted, "v1", MAP, BoxFormat(), 1)
    assert not store(key, report=report) and load_cached(key) == {}    # a partial report is never cached
    counted = []
    with pytest.raises(Cancelled):
        class_counts(ds, "categories", "iscrowd", 1, progress=lambda d, t: counted.append(d),
                     should_stop=lambda: bool(counted))
    assert counted == [5]
    assert class_counts(ds, "categories", "iscrowd", 1) == ([ROWS - 1], [0])   # the bad label is out of range


def test_cache_key_has_no_secrets_and_needs_a_version(tmp_path):
    key = ScanKey.of("s3://user:pw@bucket/ds?token=abc", "v1", MAP, BoxFormat(), 3, "http://k:s@127.0.0.1:9000")
    assert "pw" not in json.dumps(key.to_dict()) and "abc" not in json.dumps(key.to_dict())
    assert key.address == "s3://bucket/ds @ http://127.0.0.1:9000"
    assert ScanKey.of(str(tmp_path), "", MAP, BoxFormat(), 3).path is None



class RequestLog:
    """A Deep Lake dataset that records each row request per column: (column, "slice" or "list", rows)."""

    def __init__(self, ds):
        self._ds, self.requests = ds, []

    def __len__(self):
        return len(self._ds)

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def __getitem__(self, key):
        log, column = self, self._ds[key]

        class Column:
            def __getattr__(self, name):
                return getattr(column, name)

            def __getitem__(self, index):
                kind = "slice" if isinstance(index, slice) else "list"
                n = len(range(*index.indices(len(log)))) if isinstance(index, slice) else len(index)
                log.requests.append((key, kind, n))
                return column[index]
        return Column()


def test_full_scans_read_consecutive_rows_as_slices(planted, monkeypatch):
    """Deep Lake answers a slice of a small column 20-30x faster than an index list (data.columns): the
    full scans ask for consecutive rows as slices, a few per chunk; masks stay lists (slower as slices)."""
    monkeypatch.setattr(cc, "CHUNK", 3)
    monkeypatch.setattr(pf, "_BATCH", 3)
    ds = deeplake.open_read_only(planted)
    expected = np.zeros(1, np.int64)
    for r in range(ROWS):
        lab = np.asarray(ds["categories"][r], np.int64)
        expected += np.bincount(lab[lab < 1], minlength=1)
    logged = RequestLog(ds)
    assert class_counts(logged, "categories", "iscrowd", 1) == (expected.tolist(), [0])
    assert sorted(logged.requests) == sorted((c, "slice", n) for c in ("categories", "iscrowd") for n in (3, 3, 2))
    logged.requests.clear()
    report = preflight(logged, MAP, BoxFormat(), num_classes=1)
    assert report.rows_checked == ROWS and report.bad_rows == [_bad_row()]
    kinds = {(c, k) for c, k, _ in logged.requests}
    assert kinds == {("masks", "list"), ("boxes", "slice"), ("categories", "slice"), ("iscrowd", "slice")}
    logged.requests.clear()
    sampled = preflight(logged, MAP, BoxFormat(), rows=[0, 2, 5], num_classes=1)   # rows apart: a list each
    assert sampled.rows_checked == 3 and {k for _, k, _ in logged.requests} == {"list"}


def test_a_loader_dataset_pickles_small_whatever_the_row_count(planted):
    """Spawn writes each worker's pickled dataset into a 64 KB pipe; beyond that the start of every worker
    waits for the one before to import torch (+4 s before the first iteration at 100k rows, 2 workers)."""
    import pickle

    from segstudio.base.config import AugmentConfig
    from segstudio.data.mapped import open_mapped
    from segstudio.samples.loader import SegmentationDataset

    mapped = open_mapped(planted)
    rows = sorted(np.random.default_rng(0).choice(110_000, 100_000, replace=False).tolist())
    data = SegmentationDataset(mapped, rows, AugmentConfig(preset="none"), train=True)
    blob = pickle.dumps(data)
    assert len(blob) < 32_000 and pickle.loads(blob).rows == rows
    shuffled = [5, 3, 7, 3]      # not a split's sorted rows: travel as they are
    again = pickle.loads(pickle.dumps(SegmentationDataset(mapped, shuffled, AugmentConfig(preset="none"))))
    assert again.rows == shuffled

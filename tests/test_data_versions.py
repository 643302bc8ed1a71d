"""Reading a dataset at a branch, tag or commit, and recording exactly which state a run read."""
import pickle
import subprocess
import sys

import deeplake
import pytest

from segstudio.base.config import Config, DataConfig
from segstudio.base.errors import DataError
from segstudio.data.mapped import open_mapped
from segstudio.data.versions import VersionRef, resolve, version_key


def test_each_kind_of_version_reads_its_own_rows(versioned_dataset):
    url, ids = versioned_dataset
    ds = deeplake.open_read_only(url)
    head, ref = resolve(ds, "")
    assert len(head) == 14 and ref == VersionRef("main", ids["main"])
    exp, ref = resolve(ds, "exp")
    assert len(exp) == 16 and ref == VersionRef("exp", ids["exp"])
    tagged, ref = resolve(ds, "v1")
    assert len(tagged) == 12 and ref.tag == "v1" and ref.commit == ids["v1"]
    old, ref = resolve(ds, ids["v1"])                       # a bare commit id: looked up on main first
    assert len(old) == 12 and ref == VersionRef("main", ids["v1"])
    again, _ = resolve(ds, f"exp@{ids['exp']}")
    assert len(again) == 16


def test_an_unknown_version_names_the_branches_and_tags(versioned_dataset):
    url, _ = versioned_dataset
    with pytest.raises(DataError, match=r"no branch, tag or commit 'nope' \(branches: exp, main; tags: v1\)"):
        resolve(deeplake.open_read_only(url), "nope")


def test_a_mapped_dataset_keeps_its_version_in_a_worker(versioned_dataset):
    """Deep Lake pickles a dataset at a tag or an old commit as its branch's head: a spawned loader worker
    would read other rows. The mapped dataset reopens the exact state it recorded."""
    url, ids = versioned_dataset
    tagged = deeplake.open_read_only(url).tags["v1"].open()
    assert len(pickle.loads(pickle.dumps(tagged))) == 14      # what Deep Lake alone does (the upstream trap)
    for version, rows in (("v1", 12), ("exp", 16), (ids["v1"], 12), ("", 14)):
        mapped = open_mapped(url, DataConfig(version=version))
        assert mapped.num_rows == rows
        worker_copy = pickle.loads(pickle.dumps(mapped))
        assert len(worker_copy.ds) == rows and worker_copy.read(rows - 1).image.shape[2] == 3


def test_commit_ids_repeat_across_branches_but_cache_keys_do_not(versioned_dataset):
    """exp's first commit and main's second are both '0000000001m...': a cache keyed by the commit alone
    (the row cache, the pre-flight cache) would serve one branch's rows for the other."""
    url, ids = versioned_dataset
    ds = deeplake.open_read_only(url)
    exp, _ = resolve(ds, "exp")
    same_number, _ = resolve(ds, f"main@{ids['exp']}")
    assert exp.version == same_number.version and len(exp) != len(same_number)
    assert version_key(exp) != version_key(same_number)


def test_a_run_trains_on_the_version_it_names_and_records_the_commit(versioned_dataset):
    from segstudio.engine.train_data import build_train_data

    url, ids = versioned_dataset
    cfg = Config()
    cfg.data.url, cfg.data.version, cfg.data.split_column = url, "exp", "split"
    data = build_train_data(cfg)
    try:
        assert len(data.train_rows) + len(data.val_rows) == 16
        assert data.data_config.version == "exp"                      # as the user asked
        assert data.data_config.commit == f"exp@{ids['exp']}"          # and exactly what was read
        assert data.run_info()["dataset_version"] == f"exp@{ids['exp']}"
        resumed = Config()
        resumed.data = data.data_config                                # the run card, read back
        assert open_mapped(url, resumed.data).num_rows == 16
    finally:
        data.close()


def test_inspect_names_the_version_and_refuses_an_unknown_one(versioned_dataset):
    url, _ = versioned_dataset
    done = subprocess.run([sys.executable, "-m", "segstudio", "inspect", url, "--version", "exp", "--limit", "4"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "16 rows" in done.stdout and "Read at: branch exp" in done.stdout and "tags: v1" in done.stdout
    done = subprocess.run([sys.executable, "-m", "segstudio", "inspect", url, "--version", "nope"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "branches: exp, main" in done.stderr

"""Where label fixes cannot be written (a Deep Lake 3.x dataset, a tag, an old commit, read-only S3 keys):
one sentence why, and the way out it offers works (a new branch from that commit, or a copy)."""
import shutil
from pathlib import Path

import deeplake
import numpy as np
import pytest

from segstudio.base.errors import DataError
from segstudio.data.fix_target import OFFER_BRANCH, OFFER_COPY, FixesBlocked, check_target, copy_for_fixes
from segstudio.data.label_fixes import Fix, commit_fixes
from segstudio.data.mapped import open_mapped
from segstudio.data.versions import MAIN

V3 = Path(__file__).resolve().parent / "data" / "dl3_tiny"


def _commit(mapped, fixes, **kw):
    return commit_fixes(mapped.url, fixes, mapped.mapping, mapped.box_format, len(mapped.class_names), "test fixes",
                        endpoint_url=mapped.endpoint_url, creds=mapped.creds.value, **kw)


def _labels(url, branch, row, creds=None):
    ds = deeplake.open_read_only(url, creds=creds)
    branches = ds.branches
    handle = branches[branch]
    at = handle.open()
    return len(at), np.asarray(at["categories"][row]).tolist()


@pytest.fixture
def versioned(versioned_dataset, tmp_path):
    url, ids = versioned_dataset
    shutil.copytree(url, tmp_path / "ds")
    return str(tmp_path / "ds"), ids


def _one_sentence(text):
    assert text.count(". ") == 0 and text.endswith("."), text


def test_the_newest_commit_of_a_branch_takes_fixes(versioned):
    url, _ = versioned
    assert check_target(open_mapped(url)) is None


def test_a_tag_offers_a_new_branch_from_it(versioned):
    url, ids = versioned
    mapped = open_mapped(url, _cfg("v1"))
    blocked = check_target(mapped)
    assert blocked.offer == OFFER_BRANCH and "tag v1" in str(blocked) and blocked.base.commit == ids["v1"]
    _one_sentence(str(blocked))
    label = int(mapped.read(0).labels[0])
    ref = _commit(mapped, [Fix(0, "relabel", 0, (label + 1) % 3)], branch=blocked.suggestion, base=blocked.base)
    rows, labels = _labels(url, blocked.suggestion, 0)
    assert ref.branch == blocked.suggestion and rows == 12 and labels[0] == (label + 1) % 3   # the tag's 12 rows
    assert _labels(url, MAIN, 0) == (14, np.asarray(mapped.read(0).labels).tolist())          # main untouched


def test_an_old_commit_offers_a_new_branch_from_it(versioned):
    url, ids = versioned
    mapped = open_mapped(url, _cfg(f"main@{ids['v1']}"))
    blocked = check_target(mapped)
    assert blocked.offer == OFFER_BRANCH and "old commit of branch main" in str(blocked)
    _commit(mapped, [Fix(1, "delete", 0)], branch=blocked.suggestion, base=blocked.base)
    rows, labels = _labels(url, blocked.suggestion, 1)
    assert rows == 12 and labels == np.asarray(mapped.read(1).labels).tolist()[1:]


def test_a_deep_lake_3_dataset_offers_a_copy_that_takes_fixes(tmp_path):
    mapped = open_mapped(str(V3))
    blocked = check_target(mapped)
    assert blocked.offer == OFFER_COPY and "Deep Lake 3.x" in str(blocked)
    _one_sentence(str(blocked))
    copy = copy_for_fixes(mapped, str(tmp_path / "copy"))
    fixed = open_mapped(copy)
    assert check_target(fixed) is None and fixed.num_rows == mapped.num_rows
    ref = _commit(fixed, [Fix(0, "delete", 0)])
    assert ref.branch == "segstudio-fixes"
    with pytest.raises(DataError, match="choose a new folder"):
        copy_for_fixes(mapped, copy)


def test_read_only_s3_keys_are_refused_in_one_sentence_and_a_copy_takes_the_fixes(demo_small, tmp_path):
    from s3_server import MotoServer

    server = MotoServer(auth=True).start()
    try:
        url = server.upload(demo_small, "segstudio", "demo")
        reader = server.read_only_creds()
        mapped = open_mapped(url, endpoint_url=server.endpoint, creds=reader)
        assert check_target(mapped) is None       # nothing says so before the storage refuses a write
        with pytest.raises(FixesBlocked) as exc:
            _commit(mapped, [Fix(0, "delete", 0)])
        assert exc.value.offer == OFFER_COPY and "no write access" in str(exc.value)
        _one_sentence(str(exc.value))
        copy = copy_for_fixes(mapped, str(tmp_path / "copy"))
        ref = _commit(open_mapped(copy), [Fix(0, "delete", 0)])
        assert _labels(copy, ref.branch, 0)[1] == np.asarray(mapped.read(0).labels).tolist()[1:]
        assert _labels(url, MAIN, 0, {**reader, "endpoint_url": server.endpoint})[1] == \
            np.asarray(mapped.read(0).labels).tolist()     # the bucket is unchanged
    finally:
        server.stop()


def _cfg(version):
    from segstudio.base.config import DataConfig

    return DataConfig(version=version)

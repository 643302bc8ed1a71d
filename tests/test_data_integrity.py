"""A dataset whose data file was cut short: one sentence naming the column and rows, with bounded memory.

The `upstream` tests document deeplake 4.7's own behaviour (which segstudio guards around); if one of them
starts failing, Deep Lake has changed and the guard in segstudio/data/integrity.py may be revisited.
Every read of a damaged dataset runs in a subprocess with an address-space limit and a timeout, so a
regression cannot eat the machine's memory.
"""
import json
import subprocess
import sys
import textwrap

import deeplake
import pytest
from deeplake import types as T

from segstudio.base.errors import DataError
from segstudio.data.integrity import check_local_dataset
from segstudio.data.open import open_dataset

_GIB = 1024 ** 3


def run_limited(args, timeout=120, limit_gib=3):
    """A Python subprocess with an address-space limit (3 GiB; torch's thread pools reserve more address
    space, so commands that import torch get 8) and a timeout."""
    limit = limit_gib * _GIB
    # The limit is set by a small Python that then execs the command (rlimits survive exec): a preexec_fn
    # runs Python in the forked child, which can deadlock when the test process has other threads (it did,
    # once, after the window tests: the child never reached exec and the whole run timed out).
    limited = ("import os, resource, sys; limit = int(sys.argv[1]); "
               "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
               "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")
    return subprocess.run([sys.executable, "-c", limited, str(limit), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _chunk_of(path, column_name):
    """The one data file of a column in a dataset written by a single commit (found via the log)."""
    from segstudio.data.integrity import _blocks
    branch = next(p for p in (path / "_deeplake_log").iterdir() if p.is_dir() and p.name != "_meta")
    blocks = [b for b in _blocks(branch, {}).values() if b.column == column_name]
    return [path / b.key for b in blocks]


def _cut(file, fraction=0.5):
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * fraction)])


@pytest.fixture
def two_commits(tmp_path):
    """text + float array columns, rows 0-2 in one commit, rows 3-5 in a second."""
    path = tmp_path / "ds"
    ds = deeplake.create(str(path))
    ds.add_column("name", T.Text())
    ds.add_column("values", T.Array("float32", 1))
    for start in (0, 3):
        ds.append({"name": [f"row {i} " * 20 for i in range(start, start + 3)],
                   "values": [[float(i + 1)] * 50 for i in range(start, start + 3)]})
        ds.commit(f"rows {start}..{start + 2}")
    return path


_READ = textwrap.dedent("""
    import sys, deeplake
    ds = deeplake.open_read_only(sys.argv[1])
    value = ds[sys.argv[2]][0:3]
    print("READ", [float(v.sum()) for v in value] if sys.argv[2] == "values" else len(value))
""")


@pytest.mark.upstream
def test_upstream_truncated_text_chunk_allocates_without_bound(tmp_path):
    """deeplake 4.7.4: reading a text column whose 76-byte chunk was cut to 20 bytes asks for more memory
    than any limit (without one the process grows until the kernel kills it); other cuts segfault."""
    path = tmp_path / "text"
    ds = deeplake.create(str(path))
    ds.add_column("name", T.Text())
    ds.append({"name": ["train", "val", "train"]})
    ds.commit("three rows")
    chunk = _chunk_of(path, "name")[0]
    chunk.write_bytes(chunk.read_bytes()[:20])
    proc = run_limited(["-c", _READ, str(path), "name"])
    assert "READ" not in proc.stdout
    assert proc.returncode != 0 and ("bad_alloc" in proc.stderr or proc.returncode < 0), proc.stderr[-500:]


@pytest.mark.upstream
def test_upstream_truncated_array_chunk_reads_wrong_values_silently(two_commits):
    """deeplake 4.7.4: a float array column whose chunk was cut short reads wrong values (zeros or
    garbage past the cut), with no error."""
    _cut(_chunk_of(two_commits, "values")[0], 0.3)
    proc = run_limited(["-c", _READ, str(two_commits), "values"])
    assert proc.returncode == 0, proc.stderr[-500:]
    sums = json.loads(proc.stdout.split("READ", 1)[1])
    assert sums != [50.0, 100.0, 150.0]


def test_healthy_dataset_passes(two_commits, demo_dataset):
    check_local_dataset(two_commits, "ds")
    from pathlib import Path
    check_local_dataset(Path(demo_dataset), "demo")


@pytest.mark.parametrize("column, chunk, rows", [("name", 1, "3-5"), ("values", 0, "0-2")])
def test_cut_chunk_names_column_and_rows(two_commits, column, chunk, rows):
    _cut(_chunk_of(two_commits, column)[chunk])
    with pytest.raises(DataError) as exc:
        open_dataset(str(two_commits))
    msg = str(exc.value)
    assert f"column '{column}'" in msg and f"rows {rows}" in msg and "cut short" in msg
    assert msg.endswith(".") and "\n" not in msg


def test_damaged_log_is_one_sentence(two_commits):
    log = max((two_commits / "_deeplake_log").glob("*/*.lz4"))
    _cut(log)
    with pytest.raises(DataError, match="log file .* is damaged"):
        open_dataset(str(two_commits))


def test_inspect_on_cut_demo_dataset_is_one_sentence_with_bounded_memory(tmp_path):
    from segstudio.data.demo import create_demo_dataset
    path = tmp_path / "demo"
    create_demo_dataset(str(path), num_images=6, seed=0)
    for column in ("categories", "split"):
        for chunk in _chunk_of(path, column):
            _cut(chunk)
    proc = run_limited(["-m", "segstudio", "inspect", str(path)])
    assert proc.returncode == 1, proc.stderr[-800:]
    assert "damaged" in proc.stderr and "rows 0-5" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture
def cut_demo(tmp_path):
    """A 6-image demo dataset whose masks file was cut short."""
    from segstudio.data.demo import create_demo_dataset
    path = tmp_path / "demo"
    create_demo_dataset(str(path), num_images=6, seed=0)
    _cut(_chunk_of(path, "masks")[0])
    return path


def test_training_and_preview_on_a_cut_dataset_are_one_sentence(cut_demo, tmp_path):
    config = tmp_path / "cfg.toml"
    config.write_text(f'[data]\nurl = "{cut_demo}"\n[train]\nmax_iters = 1\nworkers = 2\n'
                      f'runs_dir = "{tmp_path}/runs"\n')
    for args in (["train", "--config", str(config)], ["preview", str(cut_demo), "--out", str(tmp_path / "p")]):
        proc = run_limited(["-m", "segstudio", *args], timeout=300, limit_gib=8)
        assert proc.returncode == 1, proc.stderr[-800:]
        assert "column 'masks' holding rows 0-5 is cut short" in proc.stderr and "Traceback" not in proc.stderr


def test_from_coco_dataset_with_a_part_cut_short(tmp_path, coco128):
    """deeplake.from_coco stores a column as a folder of parts; a part cut short names its own rows."""
    doc = json.loads((coco128 / "annotations.json").read_text())
    images = doc["images"][:6]
    ids = {im["id"] for im in images}
    doc.update(images=images, annotations=[a for a in doc["annotations"] if a["image_id"] in ids])
    (tmp_path / "sub.json").write_text(json.dumps(doc))
    path = tmp_path / "fc"
    deeplake.from_coco(str(coco128 / "images"), {"instances": str(tmp_path / "sub.json")}, str(path),
                       file_to_group_mapping={"instances": ""})
    check_local_dataset(path, "fc")            # healthy: passes
    from segstudio.data.integrity import _blocks
    branch = next(p for p in (path / "_deeplake_log").iterdir() if p.is_dir() and p.name != "_meta")
    blocks = [b for b in _blocks(branch, {}).values() if b.column == "images"]
    _cut(path / blocks[-1].key)
    with pytest.raises(DataError, match=f"column 'images' holding rows {blocks[-1].first_row}-5 is cut short"):
        open_dataset(str(path))

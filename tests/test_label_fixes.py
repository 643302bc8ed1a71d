"""Label fixes written to a user's dataset: on a branch, one writer, the whole batch or nothing."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import deeplake
import numpy as np
import pytest

from segstudio.base.errors import DataError
from segstudio.base.locking import Busy, dataset_lock
from segstudio.data.label_fixes import FIX_BRANCH, BoxedMask, Fix, commit_fixes
from segstudio.data.mapped import open_mapped


@pytest.fixture
def dataset(demo_small, tmp_path):
    """A private copy of the small demo dataset (fixes write to it)."""
    dest = tmp_path / "ds"
    shutil.copytree(demo_small, dest)
    return str(dest)


def test_a_waiting_fix_keeps_its_masks_as_their_boxes_and_gives_them_back_exactly():
    rng = np.random.default_rng(0)
    big = np.zeros((3000, 4000), bool)
    big[1200:1260, 3100:3190] = rng.random((60, 90)) > 0.3
    fix = Fix(0, "replace", 0, label=1, mask=big, was_label=2, was_mask=big.astype(np.uint8))
    assert fix.mask.bits.nbytes <= 60 * 90 // 8 + 1 and fix.was_mask.bits.nbytes <= 60 * 90 // 8 + 1
    assert fix.mask.full().dtype == bool and np.array_equal(fix.mask.full(), big)
    assert fix.was_mask.equals(big) and fix.was_mask.equals(big.astype(np.uint8))
    moved = big.copy()
    moved[0, 0] = True                       # one pixel outside the box
    assert not fix.was_mask.equals(moved) and not fix.was_mask.equals(big[:, :3999])
    flipped = big.copy()
    flipped[1230, 3150] = not flipped[1230, 3150]   # one pixel inside it
    assert not fix.was_mask.equals(flipped)
    for mask in (np.zeros((5, 7), bool), np.ones((5, 7), bool), rng.random((1, 9, 4)) > 0.5, rng.random(11) > 0.5):
        boxed = BoxedMask(mask)
        assert np.array_equal(boxed.full(), mask) and boxed.full().shape == mask.shape and boxed.equals(mask)


def rows_bytes(url: str, branch: str = "main") -> list:
    """Every cell of every row of `branch`, as bytes: for byte-identical comparisons."""
    root = deeplake.open_read_only(url)
    branches = root.branches
    handle = branches[branch]
    ds = handle.open()
    columns = [c.name for c in ds.schema.columns]
    out = []
    for name in columns:
        column = ds[name]
        out.append([np.asarray(column[i]).tobytes() for i in range(len(ds))])
    return out


def first_row_with(mapped, n: int) -> int:
    return next(r for r in range(mapped.num_rows) if mapped.read(r).num_instances >= n)


def test_each_fix_reads_back_on_the_branch_and_main_stays_byte_identical(dataset):
    mapped = open_mapped(dataset)
    row = first_row_with(mapped, 3)
    before = mapped.read(row)
    main_before = rows_bytes(dataset)
    new_mask = np.zeros(before.image.shape[:2], bool)
    new_mask[5:15, 8:20] = True
    fixes = [Fix(row, "relabel", 0, label=(int(before.labels[0]) + 1) % len(mapped.class_names)),
             Fix(row, "replace", 1, label=2, mask=new_mask),
             Fix(row, "delete", 2),
             Fix(row, "add", label=4, mask=new_mask)]
    ref = commit_fixes(dataset, fixes, mapped.mapping, mapped.box_format, len(mapped.class_names),
                       "3 fixes from run demo-1")
    assert ref.branch == FIX_BRANCH
    fixed = open_mapped(dataset, mapped_cfg(ref)).read(row)
    n = before.num_instances
    assert fixed.num_instances == n                          # one deleted, one added
    assert fixed.labels[0] == (before.labels[0] + 1) % len(mapped.class_names)
    assert fixed.labels[1] == 2 and np.array_equal(fixed.masks[1].astype(bool), new_mask)
    assert np.allclose(fixed.boxes[1], [8, 5, 20, 15])       # the box follows the new mask
    assert np.array_equal(fixed.masks[2:n - 1], before.masks[3:])   # the deleted one is gone, the rest kept
    assert fixed.labels[-1] == 4 and np.array_equal(fixed.masks[-1].astype(bool), new_mask)
    assert rows_bytes(dataset) == main_before                # main: not one byte changed
    history = deeplake.open_read_only(dataset)
    branches = history.branches
    handle = branches[FIX_BRANCH]
    assert handle.open().history[ref.commit].message == "3 fixes from run demo-1"


def test_a_second_batch_finds_its_instances_where_the_first_moved_them_or_writes_nothing(dataset):
    """Fixes name instances as the reviewer saw them (the version reviewed); a first batch on the branch that
    deleted one before them moves them up: each fix still goes to the instance it was made for, and a fix
    of an instance that is gone stops its batch with one sentence, nothing written."""
    mapped = open_mapped(dataset)
    row = first_row_with(mapped, 3)
    seen = mapped.read(row)                                   # the version reviewed

    def as_seen(action, j, **change):
        return Fix(row, action, j, **change, was_label=int(seen.labels[j]), was_mask=seen.masks[j].astype(bool))

    n = len(mapped.class_names)
    first = commit_fixes(dataset, [as_seen("delete", 0)], mapped.mapping, mapped.box_format, n, "batch 1")
    new_class = (int(seen.labels[2]) + 1) % n
    second = commit_fixes(dataset, [as_seen("relabel", 2, label=new_class)], mapped.mapping, mapped.box_format,
                          n, "batch 2")
    now = open_mapped(dataset, mapped_cfg(second)).read(row)
    assert now.num_instances == seen.num_instances - 1
    assert now.labels[1] == new_class and np.array_equal(now.masks[1], seen.masks[2])   # instance 2 is at 1 now
    assert np.array_equal(now.labels[[0] + list(range(2, now.num_instances))],
                          seen.labels[[1] + list(range(3, seen.num_instances))])        # the others untouched
    with pytest.raises(DataError, match=f"Row {row} changed since it was reviewed.*nothing was written"):
        commit_fixes(dataset, [as_seen("relabel", 1, label=new_class), as_seen("relabel", 0, label=new_class)],
                     mapped.mapping, mapped.box_format, n, "batch 3")   # instance 0 went in batch 1
    head = open_mapped(dataset, mapped_cfg(FIX_BRANCH))
    assert str(head.ref) == str(second) and np.array_equal(head.read(row).labels, now.labels)   # all or nothing
    assert first.branch == second.branch == FIX_BRANCH


def test_fixes_of_identical_twin_annotations_each_find_their_own(dataset):
    """Two identical annotations (a typical label error): after an earlier batch moved them, two fixes of the
    two twins go one to each, not both to the first."""
    mapped = open_mapped(dataset)
    row = first_row_with(mapped, 3)
    raw = mapped.read(row)
    n = len(mapped.class_names)
    twin = commit_fixes(dataset, [Fix(row, "add", label=int(raw.labels[0]), mask=raw.masks[0].astype(bool))],
                        mapped.mapping, mapped.box_format, n, "a duplicate of instance 0")
    seen = open_mapped(dataset, mapped_cfg(twin)).read(row)       # the version reviewed: the twins at 0 and -1
    last = seen.num_instances - 1

    def as_seen(action, j, **change):
        return Fix(row, action, j, **change, was_label=int(seen.labels[j]), was_mask=seen.masks[j].astype(bool))

    commit_fixes(dataset, [as_seen("delete", 1)], mapped.mapping, mapped.box_format, n, "moves the twins")
    other = (int(seen.labels[0]) + 1) % n
    new_mask = np.zeros(seen.image.shape[:2], bool)
    new_mask[2:9, 3:11] = True
    ref = commit_fixes(dataset, [as_seen("relabel", 0, label=other), as_seen("replace", last, label=other,
                                                                             mask=new_mask)],
                       mapped.mapping, mapped.box_format, n, "one fix per twin")
    now = open_mapped(dataset, mapped_cfg(ref)).read(row)
    twins = [j for j in range(now.num_instances) if np.array_equal(now.masks[j], seen.masks[0])]
    assert len(twins) == 1 and now.labels[twins[0]] == other                  # one twin relabelled ...
    assert sum(np.array_equal(m.astype(bool), new_mask) for m in now.masks) == 1   # ... the other replaced
    assert now.num_instances == seen.num_instances - 1


def mapped_cfg(ref):
    from segstudio.base.config import DataConfig
    return DataConfig(version=str(ref))


def test_fixes_never_go_to_main_and_a_second_writer_is_refused(dataset):
    mapped = open_mapped(dataset)
    fix = [Fix(0, "relabel", 0, label=1)] if mapped.read(0).num_instances else [Fix(1, "relabel", 0, label=1)]
    with pytest.raises(DataError, match="never on main"):
        commit_fixes(dataset, fix, mapped.mapping, mapped.box_format, 6, "x", branch="main")
    with dataset_lock(dataset):
        with pytest.raises(Busy, match="in use"):
            commit_fixes(dataset, fix, mapped.mapping, mapped.box_format, 6, "x")
    with pytest.raises(DataError, match="instance 99 cannot be fixed"):
        commit_fixes(dataset, [Fix(fix[0].row, "delete", 99)], mapped.mapping, mapped.box_format, 6, "x")
    with pytest.raises(DataError, match="class 17"):
        commit_fixes(dataset, [Fix(fix[0].row, "relabel", 0, label=17)], mapped.mapping, mapped.box_format, 6, "x")


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from segstudio.data.label_fixes import Fix, commit_fixes
    from segstudio.data.mapped import open_mapped

    url = sys.argv[1]
    mapped = open_mapped(url)
    rows = [r for r in range(mapped.num_rows) if mapped.read(r).num_instances]
    for batch in range(1, 10000):
        fixes = [Fix(r, "relabel", 0, label=batch % 6) for r in rows]
        commit_fixes(url, fixes, mapped.mapping, mapped.box_format, 6, f"batch {batch}")
        print(batch, flush=True)
""")


@pytest.mark.slow
def test_a_writer_killed_at_any_moment_leaves_a_whole_batch_or_none(dataset, tmp_path):
    """kill -9 the writer at several moments (between and inside commits): the dataset opens, and on the
    branch every fixed row carries the same batch's class (never half a batch)."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    mapped = open_mapped(dataset)
    rows = [r for r in range(mapped.num_rows) if mapped.read(r).num_instances]
    main_before = rows_bytes(dataset)
    rng = np.random.default_rng(0)
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, str(script), dataset], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ))
        first = proc.stdout.readline()            # one batch committed: the writer is in its loop
        assert first.strip(), "the writer did not commit a first batch"
        time.sleep(float(rng.uniform(0.0, 1.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        fixed = open_mapped(dataset, mapped_cfg_branch())
        firsts = {int(fixed.read(r).labels[0]) for r in rows}
        assert len(firsts) == 1, f"attempt {attempt}: rows carry classes {firsts} from different batches"
    assert rows_bytes(dataset) == main_before


def mapped_cfg_branch():
    from segstudio.base.config import DataConfig
    return DataConfig(version=FIX_BRANCH)

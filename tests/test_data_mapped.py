"""The one mapped dataset and the one loader factory: every caller goes through them."""
import ast
import pickle
from pathlib import Path

import deeplake
import numpy as np
import pytest
from deeplake import types as T
from torch.utils.data import DistributedSampler

from segstudio.base.config import DataConfig
from segstudio.base.errors import DataError
from segstudio.data.mapped import Hidden, MappedDataset, open_mapped
from segstudio.data.sample import BoxFormat
from segstudio.samples.loader import EpochBatchSampler

ROOT = Path(__file__).resolve().parent.parent / "segstudio"
CALLERS = ["engine/train_data.py", "engine/inference.py", "engine/export.py", "samples/preview.py",
           "commands/inspect.py", "engine/val_browser.py", "gui/dataset_panel.py", "gui/sample_view.py",
           "gui/columns_view.py", "samples/loader.py"]
SET_UP = {"open_dataset", "open_readable", "describe", "resolve_mapping", "class_names_for", "read_sample",
          "open_for_reading"}


def _names_used(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr != "describe"}  # ImageScore
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names


@pytest.mark.parametrize("module", CALLERS)
def test_callers_get_their_dataset_only_from_open_mapped(module):
    used = _names_used(ROOT / module)
    assert not used & SET_UP, f"{module} opens/describes/maps a dataset itself: {used & SET_UP}"
    assert {"open_mapped", "MappedDataset", "mapped"} & used


def test_the_check_above_can_fail():
    assert _names_used(ROOT / "data" / "mapped.py") & SET_UP    # mapped.py itself does the set-up


def test_mapped_dataset_carries_everything(demo_dataset):
    m = open_mapped(demo_dataset)
    assert m.url == demo_dataset and m.num_rows == len(m) == 48 and m.version == m.info.version
    assert m.mapping.images == "images" and m.box_format == BoxFormat("ltwh", "pixel")
    assert m.class_names == m.info.class_names and m.class_names
    assert not m.legacy_v3 and not m.problem
    raw = m.read(3)
    assert raw.index == 3 and raw.image.ndim == 3


def test_pickles_without_its_handle_and_never_shows_credentials(demo_dataset):
    m = open_mapped(demo_dataset)
    secret = MappedDataset(**{**{f: getattr(m, f) for f in ("url", "info", "mapping", "box_format",
                                                             "class_names")},
                              "creds": Hidden({"aws_secret_access_key": "sEcReT"}), "_ds": m.ds})
    for shown in (repr(secret), str(secret), str(secret.info.to_dict()), repr(secret.creds)):
        assert "sEcReT" not in shown
    clone = pickle.loads(pickle.dumps(secret))
    assert clone._ds is None and clone.creds.value == {"aws_secret_access_key": "sEcReT"}
    assert np.array_equal(clone.read(5).image, m.read(5).image)     # reopened on first use


def test_strict_and_lenient_mapping(tmp_path):
    ds = deeplake.create(str(tmp_path / "d"))
    ds.add_column("images", T.Image(dtype="uint8", sample_compression="png"))
    ds.add_column("masks", T.BinaryMask(sample_compression="lz4"))
    ds.add_column("labels", T.ClassLabel(T.Array("uint32", 1)))
    ds.append({"images": [np.zeros((4, 4, 3), np.uint8)], "masks": [np.zeros((4, 4, 0), bool)],
               "labels": [np.zeros(0, np.uint32)]})
    ds.commit()
    with pytest.raises(DataError, match="class_names"):
        open_mapped(str(tmp_path / "d"))
    lenient = open_mapped(str(tmp_path / "d"), strict=False)
    assert lenient.mapping is None and "class_names" in lenient.problem
    with pytest.raises(DataError, match="class_names"):
        lenient.read(0)
    named = lenient.remap(DataConfig(class_names=["thing"]))
    assert named.mapping.labels == "labels" and named.class_names == ["thing"] and named.ds is lenient.ds


def test_training_order_is_distributed_samplers_with_resume_skip():
    n, bs, seed = 23, 4, 7
    sampler = EpochBatchSampler(n, bs, shuffle=True, seed=seed)
    reference = DistributedSampler(range(n), num_replicas=1, rank=0, shuffle=True, seed=seed)
    reference.set_epoch(3)
    order = list(reference)
    sampler.set_epoch(3)
    assert [p for b in sampler for p, e in b] == order
    sampler.set_epoch(3, skip=2)
    resumed = list(sampler)
    assert [p for b in resumed for p, _ in b] == order[2 * bs:] and {e for b in resumed for _, e in b} == {3}
    assert len(sampler) == 6                        # a whole epoch, skipped batches included
    following = list(sampler)                       # the skip applies once; the next epoch runs whole
    assert len(following) == 6 and {e for b in following for _, e in b} == {4}


def test_torchrun_ranks_get_disjoint_shards_that_cover_the_rows():
    n = 10
    shards = [[p for b in EpochBatchSampler(n, 2, True, 0, rank=r, world_size=3) for p, _ in b] for r in range(3)]
    assert all(len(s) == 4 for s in shards)          # DistributedSampler pads ranks to equal shares
    assert set().union(*shards) == set(range(n))
    assert len(EpochBatchSampler(n, 2, True, 0, rank=1, world_size=3)) == 2

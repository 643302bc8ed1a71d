"""Deep Lake 3.x datasets open read-only through deeplake 4's query path: inspect, read, train.

The fixture tests/data/dl3_tiny was written by deeplake 3.9 (scripts/make_dl3_fixture.py, run in its
own virtual environment): 4 rows of 64x48 images with binary masks, LTWH pixel boxes, class labels and a
generic bool tensor of crowd flags (row 3's second instance is a crowd).
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from segstudio.base.errors import DataError
from segstudio.cli import main
from segstudio.data.mapped import open_mapped
from segstudio.data.open import open_dataset
from segstudio.data.sample import BoxFormat

FIXTURE = Path(__file__).resolve().parent / "data" / "dl3_tiny"


@pytest.fixture
def v3(tmp_path) -> str:
    """A copy, so that nothing a read might write lands in the repository."""
    dest = tmp_path / "dl3_tiny"
    shutil.copytree(FIXTURE, dest)
    return str(dest)


def test_v3_kinds_mapping_and_samples(v3):
    m = open_mapped(v3)
    assert m.legacy_v3 and m.num_rows == 4 and m.class_names == ["square", "bar"]
    kinds = {c.name: c.kind for c in m.info.columns}
    assert kinds == {"images": "image", "masks": "binary_mask", "boxes": "bounding_box",
                     "categories": "class_label", "iscrowds": "array"}
    assert m.mapping.iscrowd == "iscrowds"     # a generic tensor without class names (describe asks first)
    assert m.info.box_format_known and m.box_format == BoxFormat("ltwh", "pixel")
    raw = m.read(1)                              # row 1: a 16x16 square at (7, 6) and a 20x6 bar
    assert raw.image.shape == (48, 64, 3) and raw.labels.tolist() == [0, 1]
    assert np.allclose(raw.boxes, [[7, 6, 23, 22], [36, 12, 56, 18]])
    assert raw.masks.shape == (2, 48, 64) and int(raw.masks[0].sum()) == 16 * 16
    assert raw.iscrowd.tolist() == [False, False] and m.read(3).iscrowd.tolist() == [False, True]
    with pytest.raises(Exception):  # noqa: B017 - Deep Lake's read-only refusal has no documented class
        m.ds.append({"categories": [np.zeros(1, np.uint32)]})


def test_inspect_says_3x_and_read_only(v3, capsys):
    assert main(["inspect", v3]) == 0
    out = capsys.readouterr().out
    assert "4 rows" in out and "Boxes: ltwh, pixel" in out and "square" in out
    assert "Deep Lake 3.x dataset" in out and "read-only" in out
    assert main(["inspect", v3, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert any("3.x" in n for n in doc["notes"]) and doc["preflight"]["errors"] == []


def test_writing_a_v3_dataset_is_one_sentence(v3):
    with pytest.raises(DataError, match=r"3.x dataset.*read-only.*deeplake.convert") as exc:
        open_dataset(v3, read_only=False)
    assert "\n" not in str(exc.value)


@pytest.mark.timeout(600)
def test_train_eval_and_preview_from_a_v3_dataset(v3, tmp_path):
    from tiny_config import write_config
    config = write_config(tmp_path, v3, "v3", iters=2, split_column="")
    assert main(["train", "--config", str(config)]) == 0
    records = [json.loads(line) for line in (tmp_path / "runs" / "v3" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "finished" and records[-1]["status"] == "completed"
    assert any(r.get("iteration") == 2 for r in records)
    assert main(["eval", str(tmp_path / "runs" / "v3"), "--checkpoint", "last"]) == 0
    assert main(["preview", v3, "-n", "2", "--out", str(tmp_path / "preview")]) == 0
    assert len(json.loads((tmp_path / "preview" / "preview.json").read_text())["samples"]) == 2


@pytest.mark.timeout(300)
def test_v3_dataset_from_s3_with_its_note_and_wrong_keys(monkeypatch, capsys, tmp_path):
    """A 3.x dataset on an authenticating S3 server (moto in its own process): opened by query, workers
    reopen it (pickled), inspect says 3.x; wrong keys are still one sentence naming the credentials."""
    import pickle

    from s3_server import MotoServer
    server = MotoServer(auth=True).start()
    try:
        url = server.upload(FIXTURE, "segstudio-v3", "dl3_tiny")
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        m = open_mapped(url, endpoint_url=server.endpoint)
        assert m.legacy_v3 and m.num_rows == 4 and m.box_format == BoxFormat("ltwh", "pixel")
        clone = pickle.loads(pickle.dumps(m))
        assert np.array_equal(clone.read(2).image, m.read(2).image)
        assert main(["inspect", url, "--endpoint-url", server.endpoint]) == 0
        assert "Deep Lake 3.x dataset" in capsys.readouterr().out
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        with pytest.raises(DataError, match="denied") as exc:
            open_mapped(url, endpoint_url=server.endpoint)
        assert "not-the-secret" not in str(exc.value)
    finally:
        server.stop()

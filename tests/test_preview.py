"""`segstudio preview`: PNGs and preview.json, the same samples training receives."""
import json

import numpy as np
import pytest

from segstudio.base.config import AugmentConfig
from segstudio.cli import main
from segstudio.data.mapped import open_mapped
from segstudio.samples.loader import SegmentationDataset


def test_preview_writes_pngs_and_json_matching_training(demo_dataset, tmp_path, capsys):
    out = tmp_path / "prev"
    assert main(["preview", demo_dataset, "--preset", "strong", "--seed", "4", "-n", "5", "--out", str(out)]) == 0
    doc = json.loads((out / "preview.json").read_text())
    assert doc["preset"] == "strong" and doc["seed"] == 4 and len(doc["samples"]) == 5
    import cv2
    data = SegmentationDataset(open_mapped(demo_dataset), [], AugmentConfig(preset="strong"), train=True, seed=4)
    for s in doc["samples"]:
        png = cv2.imread(str(out / s["file"]))
        assert png is not None and png.shape[2] == 3
        training = data.sample(s["row"], epoch=0)
        assert s["instances_out"] == len(training.target["labels"])
        assert [a["name"] for a in s["applied"]] == [a["name"] for a in training.report["applied"]]
        assert s["size_out"] == list(training.image.shape[1:])
        assert s["instances_in"] == s["instances_out"] + len(s["dropped"])
    assert "wrote 5 previews" in capsys.readouterr().out
    (out / "notes.txt").write_text("mine")
    assert main(["preview", demo_dataset, "-n", "2", "--out", str(out)]) == 0   # a second, shorter preview
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", "preview.json"] + [
        s["file"] for s in json.loads((out / "preview.json").read_text())["samples"]])   # no stale pictures


def test_preview_uses_the_config_file(demo_dataset, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[augment]\npreset = "custom"\n[[augment.transforms]]\nname = "VerticalFlip"\np = 1.0\n'
                   '[train]\nseed = 9\n')
    out = tmp_path / "p"
    assert main(["preview", demo_dataset, "--config", str(cfg), "-n", "2", "--out", str(out)]) == 0
    doc = json.loads((out / "preview.json").read_text())
    assert doc["seed"] == 9 and doc["spec"] == [{"name": "VerticalFlip", "p": 1.0}]
    assert all(s["applied"][0]["name"] == "VerticalFlip" for s in doc["samples"])


@pytest.mark.parametrize("argv, words", [
    (["--preset", "heavy"], "heavy"),
    (["--config", "/nonexistent/run.toml"], "does not exist"),
    (["-n", "0"], "-n"),
])
def test_preview_errors_are_one_line(demo_dataset, tmp_path, capsys, argv, words):
    assert main(["preview", demo_dataset, "--out", str(tmp_path / "o"), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1


def test_preview_of_a_missing_dataset(tmp_path, capsys):
    assert main(["preview", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_invalid_custom_transform_names_the_key(demo_dataset, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[augment]\npreset = "custom"\n[[augment.transforms]]\nname = "Normalize"\n')
    assert main(["preview", demo_dataset, "--config", str(cfg), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "augment.transforms[0]" in err and "Normalize" in err
    assert np.True_


def test_crop_larger_than_the_image_is_one_error_line(demo_dataset, tmp_path, capsys):
    """Albumentations raises CropSizeError (not a ValueError) at sample time: a one-line error, no traceback."""
    cfg = tmp_path / "crop.toml"
    cfg.write_text('[augment]\npreset = "custom"\n[[augment.transforms]]\nname = "RandomCrop"\n'
                   'height = 5000\nwidth = 5000\n')
    assert main(["preview", demo_dataset, "--config", str(cfg), "-n", "1", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: The augmentation cannot be applied to row")
    assert "pad_if_needed" in err[0]

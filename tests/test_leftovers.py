"""Nothing left behind: temp files of a killed checkpoint write, run folders of failed set-ups, and
output folders of commands that had nothing to write."""
from __future__ import annotations

from pathlib import Path

import pytest
from engine_fakes import FakeData
from test_engine import Recorder, tiny_config

from segstudio.cli import main
from segstudio.engine import rundir
from segstudio.engine.train import train


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("leftovers")
    fin = train(tiny_config(tmp, epochs=1), Recorder(), lambda: False, data=FakeData())
    assert fin.status == "completed"
    return Path(fin.run_dir)


def test_temp_files_of_a_killed_checkpoint_write_go_at_the_next_start(tmp_path):
    first = Recorder(stop_after=2)
    fin = train(tiny_config(tmp_path), first, first.should_stop, data=FakeData())
    folder = rundir.checkpoint_path(fin.run_dir).parent
    torn = folder / ".last.pt.k1ll3d.tmp"     # what a kill -9 during torch.save leaves
    torn.write_bytes(b"x" * 1000)
    card_tmp = Path(fin.run_dir) / ".config.toml.abc123.tmp"
    card_tmp.write_text("half")
    keep = folder / "notes.txt"               # not ours: stays
    keep.write_text("mine")
    fin = train(tiny_config(tmp_path), Recorder(), lambda: False, resume=fin.run_dir, data=FakeData())
    assert fin.status == "completed"
    assert not torn.exists() and not card_tmp.exists() and keep.exists()


def test_a_failed_set_up_leaves_no_run_folder(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.model.weights = str(tmp_path / "missing.pth")
    fin = train(cfg, Recorder(), lambda: False, data=FakeData())
    assert fin.status == "failed" and fin.run_dir == ""
    assert not (tmp_path / "runs" / "t").exists()


def test_a_failed_resume_changes_nothing_in_the_run(tmp_path, small_run):
    import shutil
    run = tmp_path / "copy"
    shutil.copytree(small_run, run)
    rundir.checkpoint_path(run, "last").write_bytes(b"damaged")
    before = _files(run)
    fin = train(tiny_config(tmp_path), Recorder(), lambda: False, resume=str(run), data=FakeData())
    assert fin.status == "failed" and "damaged" in fin.message
    assert _files(run) == before


def _files(folder: Path) -> list:
    """Every file's path and bytes, less the lock file (an empty file the OS locks; it stays in place)."""
    return sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*")
                  if p.is_file() and p.name != ".segstudio.lock")


def test_predict_creates_out_only_with_something_to_write(tmp_path, small_run, capsys):
    empty = tmp_path / "no-images"
    empty.mkdir()
    out = tmp_path / "preds"
    assert main(["predict", str(small_run), str(empty), "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("error: ") and not out.exists()
    assert main(["predict", str(tmp_path / "no-run"), str(empty), "--out", str(out)]) == 1
    assert not out.exists()


def test_preview_creates_out_only_with_something_to_write(tmp_path, capsys):
    out = tmp_path / "pv"
    assert main(["preview", str(tmp_path / "no-dataset"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("error: ") and not out.exists()


@pytest.mark.parametrize("argv, match", [
    (["train", "--set", "train.lrr=1"], "Unknown setting train.lrr"),
    (["train", "--set", "lr=1"], "--set expects section.key=value"),
    (["train", "--set", "train.lr=-3"], "train.lr must be between"),
])
def test_train_set_errors_are_one_sentence(argv, match, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and match in err and len(err.splitlines()) == 1


def test_resume_refuses_config_and_fixed_settings(tmp_path, small_run, capsys):
    assert main(["train", "--resume", str(small_run), "--config", str(small_run / "config.toml")]) == 1
    assert "drop --config" in capsys.readouterr().err
    card = (small_run / "config.toml").read_text()
    assert main(["train", "--resume", str(small_run), "--set", "model.arch=maskrcnn_resnet50_fpn"]) == 1
    assert "model.arch cannot change when resuming" in capsys.readouterr().err
    assert (small_run / "config.toml").read_text() == card

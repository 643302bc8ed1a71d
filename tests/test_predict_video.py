"""`segstudio predict RUN VIDEO`: a short clip the test makes, a folder of videos, and bad video inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_run import tiny_run

from segstudio.cli import main

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def run(demo_dataset, tmp_path_factory):
    return tiny_run(demo_dataset, tmp_path_factory)


def make_clip(path, frames: int = 5, size=(72, 96)):
    """A moving white square on grey, written with OpenCV (MJPG in AVI decodes everywhere)."""
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((h, w, 3), 90, np.uint8)
        frame[10:40, 5 + 8 * i:35 + 8 * i] = 255
        writer.write(frame)
    writer.release()
    return path


def test_video_gives_an_overlay_video_and_results_per_frame(run, tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.avi")
    out = tmp_path / "out"
    assert main(["predict", str(run), str(clip), "--out", str(out), "--checkpoint", "last",
                 "--score-threshold", "0"]) == 0
    assert "1 videos, 5 frames" in capsys.readouterr().out
    overlay = cv2.VideoCapture(str(out / "clip.overlay.mp4"))
    count = 0
    while True:
        ok, frame = overlay.read()
        if not ok:
            break
        assert frame.shape == (72, 96, 3)
        count += 1
    assert count == 5
    frames = json.loads((out / "clip.images.json").read_text())
    assert [f["id"] for f in frames["images"]] == list(range(5)) and frames["fps"] == pytest.approx(10.0)
    results = json.loads((out / "clip.predictions.json").read_text())
    assert all(0 <= r["image_id"] < 5 and {"bbox", "segmentation", "score"} <= set(r) for r in results)


def test_folder_of_videos_and_a_stop_request(run, tmp_path):
    from segstudio.engine.inference import load_run_model, predict
    folder = tmp_path / "videos"
    folder.mkdir()
    make_clip(folder / "a.avi", frames=3)
    make_clip(folder / "b.avi", frames=4)
    loaded = load_run_model(str(run), "last")
    summary = predict(loaded, str(folder), str(tmp_path / "o"))
    assert (summary["videos"], summary["frames"]) == (2, 7)
    calls = []
    stopped = predict(loaded, str(folder), str(tmp_path / "s"), should_stop=lambda: len(calls) >= 2,
                      video_progress=lambda name, n, total: calls.append((name, n, total)))
    assert stopped["stopped"] and stopped["frames"] == 2 and calls[0] == ("a.avi", 1, 3)
    assert len(json.loads((tmp_path / "s" / "a.images.json").read_text())["images"]) == 2


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_bad_video_inputs_are_one_sentence(run, tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    assert main(["predict", str(run), str(broken), "--out", str(tmp_path / "o"), "--checkpoint", "last"]) == 1
    assert "is not a video OpenCV can decode" in _one_line_error(capsys)
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "notes.txt").write_text("x")
    assert main(["predict", str(run), str(nothing), "--out", str(tmp_path / "o"), "--checkpoint", "last"]) == 1
    assert "holds no images" in _one_line_error(capsys)
    assert main(["predict", str(run), str(nothing / "notes.txt"), "--out", str(tmp_path / "o"),
                 "--checkpoint", "last"]) == 1
    assert "neither an image" in _one_line_error(capsys)
    clip = make_clip(tmp_path / "ok.avi", frames=1)
    (tmp_path / "file_out").write_text("x")
    assert main(["predict", str(run), str(clip), "--out", str(tmp_path / "file_out"), "--checkpoint", "last"]) == 1
    assert "is a file, not a folder" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()

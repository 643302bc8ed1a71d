"""The Evaluation tab's Predict on files...: an image and a short clip the test makes, predicted off the GUI
thread with the run's checkpoint; the overlays listed and shown (the clip by frames of its overlay video),
the outputs where the status line says; Cancel; nothing usable is one sentence."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tiny_run import tiny_run

cv2 = pytest.importorskip("cv2")


def _clip(path, frames=6, size=(72, 96)):
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(frames):
        frame = np.full((h, w, 3), 90, np.uint8)
        frame[10:40, 5 + 8 * i:35 + 8 * i] = (40, 200, 255)
        writer.write(frame)
    writer.release()
    return path


def _inputs(tmp_path):
    clip = _clip(tmp_path / "clip.avi")
    image = tmp_path / "square.png"
    pixels = np.full((80, 100, 3), 200, np.uint8)
    pixels[20:60, 30:70] = (30, 60, 220)
    Image.fromarray(pixels).save(image)
    return image, clip


@pytest.fixture(scope="module")
def run(demo_dataset, tmp_path_factory):
    return tiny_run(demo_dataset, tmp_path_factory)


def test_predict_on_files_from_the_evaluation_tab(make_window, qtbot, run, tmp_path, screenshot_dir):
    window = make_window()
    edit = window.trainPanel.editors["train.runs_dir"]
    edit.setText(str(run.parent))
    edit.editingFinished.emit()
    panel = window.evalPanel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.runCombo.findData(str(run)) >= 0, timeout=60000)
    panel.runCombo.setCurrentIndex(panel.runCombo.findData(str(run)))
    panel.predictFilesButton.click()
    dialog = panel.predictDialog
    assert dialog.isVisible() and dialog.run_dir == run
    assert dialog.modelCombo.itemData(0) == "checkpoint"
    image, clip = _inputs(tmp_path)
    dialog.add_paths([image, clip])
    out = tmp_path / "out"
    dialog.outEdit.setText(str(out))
    dialog.thresholdSpin.setValue(0.1)   # the tiny run's detections score ~0.15
    dialog.runButton.click()
    assert dialog.cancelButton.isVisible() and not dialog.runButton.isEnabled()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=120000)
    qtbot.waitUntil(lambda: dialog.runButton.isEnabled(), timeout=10000)
    texts = [dialog.resultsList.item(i).text() for i in range(dialog.resultsList.count())]
    assert texts[0] == "square.png" and texts[1:] == ["clip.overlay.mp4, frame 1", "clip.overlay.mp4, frame 3",
                                                      "clip.overlay.mp4, frame 6"]
    assert (out / "square.png").is_file() and (out / "predictions.json").is_file()
    assert (out / "clip.overlay.mp4").is_file() and (out / "clip.predictions.json").is_file()
    assert str(out) in dialog.statusLabel.text() and "1 image and 1 video" in dialog.statusLabel.text()
    assert "score threshold 0.1" in dialog.statusLabel.text()
    assert dialog.resultView.array.shape == (80, 100, 3)   # the image's overlay, at its size
    assert int(dialog.summary["detections"]) > 0
    dialog.resultsList.setCurrentRow(2)
    assert dialog.resultView.array.shape == (72, 96, 3)    # a frame of the overlay video
    assert not dialog.cancelButton.isVisible()
    dialog.grab().save(str(screenshot_dir / "predict_files.png"))


def test_cancel_and_nothing_usable(qtbot, run, tmp_path):
    from segstudio.gui.predict_files_dialog import PredictFilesDialog
    dialog = PredictFilesDialog(str(run))
    qtbot.addWidget(dialog)
    dialog.runButton.click()
    assert "Nothing to predict on" in dialog.statusLabel.text()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no pictures here")
    dialog.add_paths([tmp_path / "notes"])
    dialog.outEdit.setText(str(tmp_path / "out"))
    dialog.runButton.click()
    qtbot.waitUntil(lambda: dialog.runButton.isEnabled(), timeout=60000)
    assert "No images" in dialog.statusLabel.text() and len(dialog.statusLabel.text().split(". ")) <= 2
    dialog.inputsList.clear()
    dialog.add_paths([_clip(tmp_path / "long.avi", frames=40)])
    dialog.runButton.click()
    dialog.cancelButton.click()
    qtbot.waitUntil(lambda: dialog.runButton.isEnabled(), timeout=60000)
    assert dialog.summary["stopped"] and "stopped early" in dialog.statusLabel.text()


def test_two_images_with_one_name_keep_both_overlays(run, tmp_path):
    from segstudio.engine.inference import load_run_model
    from segstudio.engine.predict_files import predict_files

    first, second = tmp_path / "a" / "photo.png", tmp_path / "b" / "photo.png"
    for path, colour in ((first, (30, 60, 220)), (second, (220, 60, 30))):
        path.parent.mkdir()
        pixels = np.full((80, 100, 3), 200, np.uint8)
        pixels[20:60, 30:70] = colour
        Image.fromarray(pixels).save(path)
    summary = predict_files(load_run_model(str(run)), [str(first), str(second)], tmp_path / "out", score_threshold=0.1)
    assert [p.rsplit("/", 1)[-1] for p in summary["images"]] == ["photo.png", "photo-2.png"]
    assert all((tmp_path / "out" / name).is_file() for name in ("photo.png", "photo-2.png"))
    one, two = (np.asarray(Image.open(tmp_path / "out" / n)) for n in ("photo.png", "photo-2.png"))
    assert not np.array_equal(one, two)    # each image's own overlay, not one written twice

"""The Evaluation tab's threshold explorer, confusion matrix, error types and Save report on a stored
evaluation with planted errors: on the first validation image one instance is predicted as another class,
on the second a spurious box scores 0.3; every other instance is predicted exactly at score 0.9."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog


@pytest.fixture(scope="module")
def planted_run(demo_dataset, tmp_path_factory):
    """(runs folder, run folder, the swapped instance's (true, predicted) class names)."""
    from tiny_config import write_config

    from segstudio.cli import main
    from segstudio.data.mapped import open_mapped
    from segstudio.engine.eval_store import make_image
    from segstudio.engine.inference import save_analysis
    from segstudio.engine.rundir import load_run_config, read_split

    tmp = tmp_path_factory.mktemp("planted")
    assert main(["train", "--config", str(write_config(tmp, demo_dataset, "planted", iters=1, eval_images=2))]) == 0
    run = tmp / "runs" / "planted"
    cfg = load_run_config(run)
    mapped = open_mapped(cfg.data.url, cfg.data)
    names = mapped.class_names
    images, swapped = [], None
    for pos, row in enumerate(read_split(run)["val"][:8]):
        raw = mapped.read(row)
        masks = torch.as_tensor(np.asarray(raw.masks, bool))
        labels = torch.as_tensor(raw.labels + 1)
        boxes = torch.as_tensor(np.asarray(raw.boxes, np.float32))
        pred_labels, scores = labels.clone(), torch.full((len(labels),), 0.9)
        if pos == 0:
            pred_labels[0] = labels[0] % len(names) + 1
            swapped = (names[int(labels[0]) - 1], names[int(pred_labels[0]) - 1])
        if pos == 1:   # a 6x6 box in a corner: no instance of the demo images lies there whole
            extra = torch.zeros((1, *masks.shape[1:]), dtype=torch.bool)
            extra[0, :6, :6] = True
            masks, boxes = torch.cat([masks, extra]), torch.cat([boxes, torch.tensor([[0.0, 0.0, 6.0, 6.0]])])
            pred_labels, scores = torch.cat([pred_labels, torch.tensor([1])]), torch.cat([scores, torch.tensor([0.3])])
        pred = {"boxes": boxes, "scores": scores, "labels": pred_labels, "masks": masks}
        truth = {"boxes": torch.as_tensor(np.asarray(raw.boxes, np.float32)), "labels": labels,
                 "masks": torch.as_tensor(np.asarray(raw.masks, bool)),
                 "iscrowd": torch.zeros(len(labels), dtype=torch.int64)}
        images.append(make_image(pos, row, pred, truth))
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / "metrics.json").write_text('{"run": "planted", "metrics": {}}')
    save_analysis(run / "eval", images, names)
    total = sum(len(im.gt_labels) for im in images)
    shutil.copytree(run, tmp / "runs" / "planted-b")   # a second evaluated run to compare with
    return tmp / "runs", run, swapped, total


def _open(window, qtbot, runs):
    edit = window.trainPanel.editors["train.runs_dir"]
    edit.setText(str(runs))
    edit.editingFinished.emit()
    panel = window.evalPanel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel._explorer is not None, timeout=60000)
    return panel


def _cell(table, row, column):
    return table.item(row, column).text()


@pytest.mark.slow   # a one-iteration training run for the fixture, then the whole tab driven: ~25-60 s on 2 cores
def test_explorer_drag_and_matrix_click(make_window, qtbot, planted_run, screenshot_dir, tmp_path, monkeypatch):
    runs, run, (true_name, predicted_name), total = planted_run
    window = make_window()
    panel = _open(window, qtbot, runs)
    explorer, table = panel.explorerView, panel.explorerView.table
    panel.analysisTabs.setCurrentWidget(explorer)
    assert _cell(table, 0, 0) == "all classes"
    # dragging the line to 0.5 sets the browser's threshold; all classes: one swap = one FP and one FN
    explorer.thresholdLine.setValue(0.5)
    assert panel.thresholdSpin.value() == 0.5
    assert [_cell(table, 0, c) for c in (5, 6, 7)] == [str(total - 1), "1", "1"]
    explorer.thresholdLine.setValue(0.2)            # the spurious 0.3 box now counts
    assert panel.thresholdSpin.value() == 0.2 and _cell(table, 0, 6) == "2"
    started = time.perf_counter()
    for step in range(50):                           # drag steps: counts of every class each time
        explorer.thresholdLine.setValue(0.2 + step * 0.01)
    per_step_ms = (time.perf_counter() - started) * 1000 / 50
    print(f"drag step {per_step_ms:.1f} ms")
    explorer.thresholdLine.setValue(0.5)
    window.grab().save(str(screenshot_dir / "eval_threshold_explorer.png"))

    view = panel.confusionView
    panel.analysisTabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.confusion is not None and "0.50" in view.label.text(), timeout=30000)
    i, j = view.confusion.names.index(true_name), view.confusion.names.index(predicted_name)
    assert view.confusion.counts[i, j] == 1 and view.confusion.counts[0].sum() == 0   # nothing spurious at 0.5
    r, c = view.cell(true_name, predicted_name)
    grid = view.grid
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.visualItemRect(grid.item(r, c)).center())
    images = panel.imageList
    qtbot.waitUntil(lambda: images.count() == 1, timeout=60000)
    first_row = view.confusion.cells[(i, j)][0][0]
    assert f"row {panel.explorerView.explorer.images[first_row].row}" in images.item(0).text()
    assert "confused" in panel.filterLabel.text()
    qtbot.waitUntil(lambda: panel.predView.array is not None, timeout=30000)
    window.grab().save(str(screenshot_dir / "eval_confusion_click.png"))
    # the outline is drawn in yellow on both pictures
    yellow = lambda a: np.all(a[..., :3] == (255, 255, 0), axis=-1).any()  # noqa: E731
    qtbot.waitUntil(lambda: yellow(panel.predView.array) and yellow(panel.truthView.array), timeout=30000)
    panel.clear_filter()
    qtbot.waitUntil(lambda: images.count() == 8, timeout=30000)

    panel.analysisTabs.setCurrentWidget(panel.errorsView)
    assert panel.errorsView.table.item(0, 0).text() == "all classes"
    window.grab().save(str(screenshot_dir / "eval_error_types.png"))

    compare = panel.compareView
    panel.analysisTabs.setCurrentWidget(compare)
    assert compare.otherCombo.count() == 1                  # the other run: the selected one is A
    compare.otherCombo.setCurrentIndex(0)
    qtbot.mouseClick(compare.compareButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: compare.table.rowCount() > 0, timeout=60000)
    # B is a copy of A: every delta is 0 and nothing is significant
    assert compare.table.item(0, 0).text() == "all classes" and compare.table.item(0, 3).text() == "+0.000"
    assert not compare.table.item(0, 3).font().bold()
    window.grab().save(str(screenshot_dir / "eval_compare.png"))

    out = tmp_path / "report"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    qtbot.mouseClick(panel.saveReportButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (out / "index.html").is_file(), timeout=120000)

"""Tick two runs in the Training tab's list and press Compare: the Evaluation tab's Compare view shows A (the older)
against B (the newer), with what changed in the data between the dataset versions they read."""
from __future__ import annotations

import os

from data_changes_cases import make_changed_dataset, write_card
from eval_cases import image, rect
from PySide6.QtCore import Qt

from segstudio.engine import eval_store


def _runs(tmp_path):
    url, ref_a, ref_b = make_changed_dataset(tmp_path)
    g = rect(0, 0, 10, 10)
    for age, (name, ref) in enumerate((("older", ref_a), ("newer", ref_b))):
        run = write_card(tmp_path / "runs" / name, url, ref)
        predicted = [(g, 1, 0.9)] if name == "older" else []
        eval_store.save([image([(g, 1)], predicted, 0)], ["a", "b"], run / "eval" / "predictions.json")
        os.utime(run, (1_000_000 + age, 1_000_000 + age))      # the list shows the newest first
    return tmp_path / "runs"


def test_tick_two_runs_and_compare(make_window, qtbot, tmp_path, screenshot_dir):
    runs = _runs(tmp_path)
    window = make_window()
    panel = window.trainPanel
    edit = panel.editors["train.runs_dir"]
    edit.setText(str(runs))
    edit.editingFinished.emit()
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.runs.runList.count() == 2, timeout=30000)
    button = panel.runs.compareTickedButton
    assert not button.isEnabled()
    panel.runs.runList.item(0).setCheckState(Qt.CheckState.Checked)
    assert not button.isEnabled()                                  # one ticked run is not a pair
    panel.runs.runList.item(1).setCheckState(Qt.CheckState.Checked)
    assert button.isEnabled()
    window.grab().save(str(screenshot_dir / "train_runs_tick_two.png"))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    compare = window.evalPanel.compareView
    assert window.tabs.currentWidget() is window.evalPanel
    assert window.evalPanel.analysisTabs.currentWidget() is compare
    qtbot.waitUntil(lambda: compare.table.rowCount() > 0, timeout=60000)
    assert "A = older, B = newer." in compare.label.text()
    assert compare.table.item(0, 3).text() == "-1.000"             # B lost the one detection A had
    text = compare.dataLabel.text()
    assert text.startswith("Data: from main@") and "2 row(s) added (rows of B 9, 10), 1 removed (rows of A 2)" in text
    window.grab().save(str(screenshot_dir / "eval_compare_ticked.png"))
    panel.runs.runList.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert not button.isEnabled()

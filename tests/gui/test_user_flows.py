"""The window driven as a user drives it: typing, closing at awkward moments, switching datasets."""
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QApplication, QDoubleSpinBox, QFileDialog, QLineEdit, QListWidget, QMessageBox,
                               QPushButton, QSlider, QSpinBox, QTableWidget)

from segstudio.gui.workers import live_threads
from test_training import click, loss_points, set_tiny_training


def answer_question_when(predicate, button=QMessageBox.StandardButton.Yes, log=None):
    """Once a modal QMessageBox is open and predicate() holds, press `button` on it (as a user would)."""
    def poll():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and predicate():
            if log is not None:
                log.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, poll)
    QTimer.singleShot(20, poll)


def test_closing_when_the_run_ends_while_the_question_is_open_closes_at_once(window, qtbot, tmp_path):
    panel = window.trainPanel
    set_tiny_training(window, tmp_path / "runs", max_iters=4)
    click(qtbot, window, "startButton")
    qtbot.waitUntil(lambda: loss_points(window) >= 1, timeout=180000)
    asked = []
    answer_question_when(lambda: not panel.is_running(), log=asked)   # Yes only once the run has ended
    window.close()                                   # the real "Stop it and close?" question
    assert asked and "Stop it" in asked[0]
    assert panel.last_result["status"] == "completed"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)    # one close was enough
    assert not live_threads()


def type_into_spin(qtbot, spin, text, delay_ms=40):
    """Select the spin box's text and type `text` at typing speed, as a user does."""
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin.lineEdit(), text, delay=delay_ms)


def test_a_typed_score_threshold_sticks(window, qtbot):
    window.tabs.setCurrentWidget(window.evalPanel)
    spin = window.findChild(QDoubleSpinBox, "scoreThresholdSpin")
    slider = window.findChild(QSlider, "scoreThresholdSlider")
    for text, value in (("0.45", 0.45), ("0.75", 0.75), ("0.3", 0.3)):
        type_into_spin(qtbot, spin, text)
        assert spin.value() == pytest.approx(value) and spin.text() == text
        assert slider.value() == round(value * 100)
    slider.setValue(62)                                  # dragging the slider still moves the number
    assert spin.value() == pytest.approx(0.62)


def test_typing_a_row_number_shows_that_row(window, qtbot):
    spin = window.findChild(QSpinBox, "sampleSpin")
    slider = window.findChild(QSlider, "sampleSlider")
    type_into_spin(qtbot, spin, "17")
    assert spin.value() == 17 and slider.value() == 17


def test_the_title_names_the_dataset_and_the_app_once(window):
    # Qt appends " — <application display name>" (segstudio in the app) to the title the window sets
    assert window.state.url in window.windowTitle() and "segstudio" not in window.windowTitle()


def test_the_per_class_table_opens_in_alphabetical_order(make_window):
    window = make_window()
    panel = window.evalPanel
    panel._fill_table({}, {"zebra": {"bbox_ap": 0.1}, "apple": {"bbox_ap": 0.2}, "mango": {"bbox_ap": 0.3}},
                      "run")
    table = window.findChild(QTableWidget, "perClassApTable")
    assert [table.item(r, 0).text() for r in range(3)] == ["apple", "mango", "zebra"]


def test_the_runs_folder_is_absolute_and_can_be_browsed_to(make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_DATA_DIR", str(tmp_path / "data"))
    window = make_window()
    edit = window.findChild(QLineEdit, "runsDirEdit")
    assert edit.text() == str(tmp_path / "data" / "runs")           # not relative to the launch folder
    chosen = tmp_path / "elsewhere"
    chosen.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(chosen))
    qtbot.mouseClick(window.findChild(QPushButton, "runsDirBrowseButton"), Qt.MouseButton.LeftButton)
    assert edit.text() == str(chosen)
    assert window.evalPanel.runs_dir_fn() == str(chosen) == window.trainPanel.runs_dir()
    edit.setText("relative-runs")
    edit.editingFinished.emit()
    assert edit.text() == str(tmp_path / "data" / "relative-runs")


def test_curves_span_the_run_and_the_smoothed_loss_keeps_up(make_window):
    window = make_window()
    window.tabs.setCurrentWidget(window.trainPanel)
    curves = window.trainPanel.curves
    raw = [3.5, 3.3, 3.2, 3.0, 2.9, 2.8, 2.6, 2.5]
    events = [{"event": "started", "total_iters": 90}]
    events += [{"event": "iteration", "iteration": i + 1, "loss": v, "lr": 0.01, "images_per_s": 5.0,
                "data_wait": 0.1} for i, v in enumerate(raw)]
    events.append({"event": "eval", "iteration": 60, "metrics": {"segm_map": 0.4}})
    curves.add_events(events)
    curves.redraw()
    (x0, x1), _ = curves.apPlot.getPlotItem().getViewBox().viewRange()
    assert x0 <= 1 and x1 >= 89                        # not 59.6-60.4 around the lone point
    _, (y0, y1) = curves.lrPlot.getPlotItem().getViewBox().viewRange()
    assert y0 <= 0.0005 and 0.01 < y1 < 0.02           # a constant lr: 0 .. just above it, not -40 .. 40
    smooth = curves._series["smooth:total"].data()[1]
    weights = [0.9 ** (len(raw) - 1 - i) for i in range(len(raw))]
    expected = sum(w * v for w, v in zip(weights, raw)) / sum(weights)   # the bias-corrected average
    assert smooth[-1] == pytest.approx(expected) and abs(smooth[-1] - raw[-1]) < 0.6
    curves.clear()                                     # the next run starts with its own axis
    curves.add_events([{"event": "started", "total_iters": 30}])
    (x0, x1), _ = curves.apPlot.getPlotItem().getViewBox().viewRange()
    assert x1 < 40


def test_the_run_list_separates_choosing_a_run_from_overlaying_it(window, qtbot, tmp_path):
    panel = window.trainPanel
    set_tiny_training(window, tmp_path / "runs", max_iters=3)
    window.findChild(QSpinBox, "epochsSpin").setValue(1)
    formats = []
    panel.runner.events.connect(lambda _batch: formats.append(panel.progressBar.format()))
    click(qtbot, window, "startButton")
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=240000)
    assert panel.last_result["status"] == "completed", window.statusLabel.text()
    assert any(f.startswith("evaluating on") for f in formats)       # the final evaluation is said
    assert panel.progressBar.format().startswith("finished · iteration 3/3")

    runs = window.findChild(QListWidget, "runList")
    resume, extend = (window.findChild(QPushButton, n) for n in ("resumeButton", "extendButton"))
    runs.clearSelection()
    assert not resume.isEnabled() and not extend.isEnabled()          # nothing selected
    rect = runs.visualItemRect(runs.item(0))
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert runs.item(0).isSelected() and "completed" in runs.item(0).text()
    assert not resume.isEnabled() and extend.isEnabled()              # a completed run is extended
    assert not panel.curves._overlays                                 # choosing does not overlay
    runs.item(0).setCheckState(Qt.CheckState.Checked)                 # the tick box does
    assert panel.curves._overlays
    panel.extendSpin.setValue(1)
    click(qtbot, window, "extendButton")
    qtbot.waitUntil(lambda: "[running" in runs.item(0).text(), timeout=120000)
    assert not resume.isEnabled() and not extend.isEnabled()
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=120000)
    assert "[running" not in runs.item(0).text()

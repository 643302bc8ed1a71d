"""A real (tiny, CPU) training run driven from the window: curves, stop, resume, errors, close."""
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from segstudio.gui.workers import live_threads


def training_threads():
    return [t for t in live_threads() if t.name == "segstudio-train"]


def child(window, name, cls=QWidget):
    widget = window.findChild(cls, name)
    assert widget is not None, f"no widget named {name}"
    return widget


def set_tiny_training(window, runs_dir, max_iters=40):
    """CPU, 64 px, batch 2, no loader workers, a few iterations, small evaluation; Training tab shown."""
    window.tabs.setCurrentWidget(window.trainPanel)
    child(window, "imageSizeSpin", QSpinBox).setValue(64)
    child(window, "batchSizeSpin", QSpinBox).setValue(2)
    child(window, "workersSpin", QSpinBox).setValue(0)
    child(window, "epochsSpin", QSpinBox).setValue(3)
    child(window, "maxItersSpin", QSpinBox).setValue(max_iters)
    child(window, "learningRateSpin").setValue(0.01)
    child(window, "deviceCombo", QComboBox).setCurrentText("cpu")
    child(window, "archCombo", QComboBox).setCurrentText("maskrcnn_resnet18_fpn")
    child(window, "evalIntervalSpin", QSpinBox).setValue(0)
    child(window, "runsDirEdit", QLineEdit).setText(str(runs_dir))
    child(window, "runNameEdit", QLineEdit).setText("gui-test")
    window.trainPanel.base.eval.max_images = 4          # keep the final evaluation short
    window.trainPanel.base.train.checkpoint_every = 2


def loss_points(window):
    plot = child(window, "lossPlot")
    return max((len(item.getData()[0] if item.getData()[0] is not None else [])
                for item in plot.getPlotItem().listDataItems()), default=0)


def click(qtbot, window, name):
    qtbot.mouseClick(child(window, name, QPushButton), Qt.MouseButton.LeftButton)


def test_train_stop_and_resume_from_the_window(window, qtbot, tmp_path, screenshot_dir):
    panel = window.trainPanel
    set_tiny_training(window, tmp_path / "runs")
    window.tabs.setCurrentWidget(panel)
    click(qtbot, window, "startButton")
    assert panel.is_running() and not child(window, "startButton", QPushButton).isEnabled()
    qtbot.waitUntil(lambda: loss_points(window) >= 3, timeout=180000)   # points arrive on lossPlot
    assert "iteration" in child(window, "progressBar").format()

    click(qtbot, window, "stopButton")
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=60000)
    assert panel.last_result["status"] == "stopped"
    stopped_at = panel.last_result["iteration"]
    assert stopped_at < 40 and "stopped" in child(window, "statusLabel", QLabel).text()
    assert not training_threads()
    runs = child(window, "runList")   # listed again in the background: no longer "running"
    qtbot.waitUntil(lambda: runs.count() == 1 and "[stopped, " in runs.item(0).text(), timeout=10000)
    window.grab().save(str(screenshot_dir / "gui_training.png"))

    qtbot.waitUntil(lambda: runs.count() == 1, timeout=30000)
    runs.item(0).setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: bool(panel.curves._overlays), timeout=30000)  # the past run's curves, overlaid
    runs.item(0).setSelected(True)
    click(qtbot, window, "resumeButton")
    assert panel.is_running()
    qtbot.waitUntil(lambda: panel.curves.point_count() > stopped_at + 1, timeout=180000)
    xs = panel.curves._series["loss:total"].data()[0]
    assert xs[stopped_at] == stopped_at + 1                              # the same curve continues
    qtbot.keyClick(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)   # the Ctrl+. shortcut stops too
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=60000)
    assert panel.last_result["status"] in ("stopped", "completed")
    assert child(window, "startButton", QPushButton).isEnabled()


def test_a_training_error_is_a_message_and_the_window_stays_ready(window, qtbot, tmp_path):
    set_tiny_training(window, tmp_path / "runs")
    child(window, "weightsCombo", QComboBox).setCurrentText(str(tmp_path / "missing.pth"))
    click(qtbot, window, "startButton")
    qtbot.waitUntil(lambda: not window.trainPanel.is_running(), timeout=120000)
    status = child(window, "statusLabel", QLabel).text()
    assert "missing.pth" in status
    assert "Traceback" not in status
    assert child(window, "startButton", QPushButton).isEnabled()


def test_closing_during_training_asks_stops_then_closes(window, qtbot, tmp_path):
    set_tiny_training(window, tmp_path / "runs", max_iters=1000)
    asked = []
    window.confirm_close_during_training = lambda: asked.append(True) or True
    click(qtbot, window, "startButton")
    qtbot.waitUntil(lambda: loss_points(window) >= 1, timeout=180000)
    window.close()
    assert asked and window.isVisible()            # the close waits for the run to stop
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60000)
    assert window.trainPanel.last_result["status"] == "stopped"
    assert not live_threads()


def test_a_completed_run_shows_its_evaluation(window, qtbot, tmp_path, screenshot_dir):
    set_tiny_training(window, tmp_path / "runs", max_iters=2)
    child(window, "epochsSpin", QSpinBox).setValue(1)
    click(qtbot, window, "startButton")
    qtbot.waitUntil(lambda: not window.trainPanel.is_running(), timeout=240000)
    assert window.trainPanel.last_result["status"] == "completed", window.statusLabel.text()
    window.tabs.setCurrentWidget(window.trainPanel)
    # the final evaluation's validation loss is drawn beside the training loss
    qtbot.waitUntil(lambda: window.trainPanel.curves.point_count("val:validation") == 1, timeout=10000)
    # the runs list catches up in the background: the run is listed as completed, with its iterations
    runs = child(window, "runList")
    qtbot.waitUntil(lambda: runs.count() == 1 and "[completed, 2 it" in runs.item(0).text(), timeout=10000)
    bar = child(window, "progressBar")
    assert bar.value() == bar.maximum() and bar.format().startswith("finished")
    window.grab().save(str(screenshot_dir / "gui_training_completed.png"))
    window.tabs.setCurrentWidget(window.evalPanel)
    table = child(window, "perClassApTable")
    qtbot.waitUntil(lambda: table.rowCount() > 0, timeout=10000)
    names = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert names <= set(window.state.class_names)
    assert "mask AP" in child(window, "evalSummaryLabel", QLabel).text()

    status = child(window, "statusLabel", QLabel)
    click(qtbot, window, "evaluateButton")                      # as `segstudio eval RUN`
    click(qtbot, window, "evalImagesButton")   # pressed while the evaluation runs: queued, not lost
    assert status.text().startswith("Queued")
    qtbot.waitUntil(lambda: (tmp_path / "runs" / "gui-test" / "eval" / "metrics.json").is_file(), timeout=120000)
    pred = window.evalPanel.predView
    qtbot.waitUntil(lambda: pred.array is not None, timeout=120000)
    assert window.evalPanel.truthView.array.shape == pred.array.shape
    shown = window.evalPanel._current_row()
    truth_names = sorted(window.state.class_names[i] for i in window.state.mapped.read(shown).labels.tolist())
    assert sorted(window.evalPanel.truthView.tag_texts()) == truth_names   # names drawn over, not into, the picture
    images = child(window, "evalImageList")
    assert images.count() == len(window.evalPanel._browser.rows) > 0
    listed = [float(images.item(i).text().split()[0]) for i in range(images.count())]
    assert listed == sorted(listed)                             # worst images first, each with its score
    child(window, "scoreThresholdSpin").setValue(0.0)
    qtbot.waitUntil(lambda: "score >= 0.00" in child(window, "evalImageInfoLabel", QLabel).text(), timeout=30000)
    qtbot.waitUntil(lambda: "threshold 0.00" in child(window, "evalOrderLabel", QLabel).text(), timeout=30000)
    rescored = [float(images.item(i).text().split()[0]) for i in range(images.count())]
    assert rescored == sorted(rescored) and images.count() == len(listed)
    assert window.minimumSizeHint().width() <= 1360                 # the image line wraps, it does not widen
    window.grab().save(str(screenshot_dir / "gui_evaluation.png"))

    window.tabs.setCurrentWidget(window.trainPanel)             # Extend: one more epoch on the same run
    runs = child(window, "runList")
    qtbot.waitUntil(lambda: runs.count() == 1, timeout=30000)
    runs.item(0).setSelected(True)
    child(window, "extendEpochsSpin", QSpinBox).setValue(1)
    click(qtbot, window, "extendButton")
    qtbot.waitUntil(lambda: window.trainPanel.curves.point_count() > 2, timeout=180000)
    click(qtbot, window, "stopButton")
    qtbot.waitUntil(lambda: not window.trainPanel.is_running(), timeout=60000)
    assert window.trainPanel.last_result["status"] == "stopped"
    from segstudio.engine.rundir import load_run_config
    assert load_run_config(tmp_path / "runs" / "gui-test").train.epochs == 2


def test_training_with_spawned_loader_workers_from_the_window(window, qtbot, tmp_path):
    """DataLoader workers are spawned (never forked) from the Qt process and exit with the run."""
    import multiprocessing

    set_tiny_training(window, tmp_path / "runs", max_iters=2)
    child(window, "workersSpin", QSpinBox).setValue(1)
    child(window, "epochsSpin", QSpinBox).setValue(1)
    window.trainPanel.base.eval.max_images = 2
    click(qtbot, window, "startButton")
    qtbot.waitUntil(lambda: not window.trainPanel.is_running(), timeout=240000)
    assert window.trainPanel.last_result["status"] == "completed", window.statusLabel.text()
    assert loss_points(window) >= 2
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=30000)

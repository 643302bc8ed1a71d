"""The learning-rate range test from the Training tab: Find... runs it off the GUI thread, draws the curve,
and its suggestion fills the learning rate; Cancel stops it; nothing is written."""
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from test_training import child, set_tiny_training


def test_find_draws_the_curve_and_its_suggestion_fills_the_learning_rate(window, qtbot, tmp_path, screenshot_dir):
    set_tiny_training(window, tmp_path / "runs", max_iters=12)   # a 12-step sweep
    qtbot.mouseClick(child(window, "findLrButton", QPushButton), Qt.MouseButton.LeftButton)
    dialog = window.trainPanel.lrDialog
    use = dialog.findChild(QPushButton, "useLrButton")
    qtbot.waitUntil(lambda: use.isEnabled() or dialog.sweep is not None, timeout=240000)
    assert dialog.suggestion is not None, dialog.resultLabel.text()
    assert dialog.sweep.lrs[0] == 1e-6 and 2 <= len(dialog.sweep.lrs) <= 12
    assert "Suggested learning rate" in dialog.resultLabel.text() and "steepest descent" in dialog.resultLabel.text()
    dialog.grab().save(str(screenshot_dir / "lr_finder_dialog.png"))
    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    spin = child(window, "learningRateSpin")
    assert abs(spin.value() - dialog.suggestion) <= 0.5 * 10 ** -spin.decimals() + 1e-12
    assert not (tmp_path / "runs").exists()


def test_cancel_stops_the_sweep_and_keeps_the_learning_rate(window, qtbot, tmp_path):
    set_tiny_training(window, tmp_path / "runs", max_iters=60)
    before = child(window, "learningRateSpin").value()
    qtbot.mouseClick(child(window, "findLrButton", QPushButton), Qt.MouseButton.LeftButton)
    dialog = window.trainPanel.lrDialog
    qtbot.mouseClick(dialog.findChild(QPushButton, "cancelLrButton"), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and not dialog.runner.is_running() or dialog.runner.wait()
    assert child(window, "learningRateSpin").value() == before
    assert not (tmp_path / "runs").exists()


def test_the_batch_size_field_offers_auto_below_one(window, screenshot_dir):
    from PySide6.QtWidgets import QSpinBox

    from segstudio.base.config import Config, apply_overrides

    spin = child(window, "batchSizeSpin", QSpinBox)
    window.trainPanel.apply_config(apply_overrides(Config(), {"train.batch_size": "auto"}))
    assert spin.value() == spin.minimum() == 0 and spin.text() == "auto"
    assert window.trainPanel.config().train.batch_size == "auto"
    spin.setValue(3)
    assert window.trainPanel.config().train.batch_size == 3
    window.tabs.setCurrentWidget(window.trainPanel)
    box = child(window, "findLrButton", QPushButton).parentWidget().parentWidget()   # the Optimisation group
    spin.setValue(0)
    box.grab().save(str(screenshot_dir / "gui_optimisation_form.png"))

"""The window driven as a user drives it: typing, closing at awkward moments, switching datasets."""
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QMessageBox, QSlider, QSpinBox

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

"""The Dataset tab's version list says which runs trained on each version (from the runs folder's run cards)."""
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel
from test_version_runs import card


def test_the_version_shown_lists_the_runs_trained_on_it(make_window, qtbot, versioned_dataset, tmp_path,
                                                         screenshot_dir):
    url, ids = versioned_dataset
    runs = tmp_path / "runs"
    card(runs, "on-main", url, "")
    card(runs, "on-exp", url, "exp")
    window = make_window()
    edit = window.trainPanel.editors["train.runs_dir"]
    edit.setText(str(runs))
    edit.editingFinished.emit()
    window.open_dataset(url)
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == url, timeout=60000)
    label = window.findChild(QLabel, "versionRunsLabel")
    combo = window.findChild(QComboBox, "datasetVersionCombo")
    qtbot.waitUntil(lambda: label.text() == "Trained on this version: on-main.", timeout=30000)   # read off-thread
    assert label.isVisible()
    assert combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole) == label.text()
    window.grab().save(str(screenshot_dir / "gui_version_runs.png"))
    exp = combo.findData("exp")
    combo.setCurrentIndex(exp)
    combo.activated.emit(exp)                                       # as a user's pick does
    qtbot.waitUntil(lambda: window.state.num_rows == 16, timeout=60000)
    qtbot.waitUntil(lambda: label.text() == "Trained on this version: on-exp.", timeout=30000)
    head = combo.findData(f"exp@{ids['exp']}")                      # exp's newest commit in its history
    assert combo.itemData(head, Qt.ItemDataRole.ToolTipRole) == "Trained on this version: on-exp."
    tag = combo.findData("v1")
    combo.setCurrentIndex(tag)
    combo.activated.emit(tag)
    qtbot.waitUntil(lambda: window.state.num_rows == 12, timeout=60000)
    qtbot.waitUntil(lambda: label.text() == "No run has trained on this version yet.", timeout=30000)

"""The Audit view on the Augmentation tab: runs off the GUI thread with progress, fills the per-class table,
marks where a preset differs, puts its advice under the training form, and can be cancelled."""
from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QPushButton, QSpinBox, QTableWidget


def _child(window, name, cls):
    widget = window.findChild(cls, name)
    assert widget is not None, name
    return widget


def _audit_tab(window, rows: int, draws: int):
    window.tabs.setCurrentWidget(window.augmentPanel)
    window.augmentPanel.viewTabs.setCurrentWidget(window.augmentPanel.auditView)
    _child(window, "workersSpin", QSpinBox).setValue(0)      # no spawned workers in tests: seconds, not tens
    _child(window, "auditRowsSpin", QSpinBox).setValue(rows)
    _child(window, "auditDrawsSpin", QSpinBox).setValue(draws)


def _assert_stale(window):
    """The advice left the training form and the view says its figures are for what was set before."""
    assert "Audit: " not in _child(window, "adviceLabel", QLabel).text()
    assert "changed since this audit" in _child(window, "auditStatusLabel", QLabel).text()


def test_the_audit_view_fills_its_table_marks_differences_and_advises(window, qtbot, screenshot_dir):
    _audit_tab(window, rows=12, draws=2)
    _child(window, "auditCompareCombo", QComboBox).setCurrentText("seed")
    run = _child(window, "auditRunButton", QPushButton)
    run.click()
    assert not run.isEnabled()            # running in its thread; the window keeps answering
    qtbot.waitUntil(lambda: run.isEnabled(), timeout=120000)
    table = _child(window, "auditTable", QTableWidget)
    names = window.state.mapped.class_names
    assert table.rowCount() == len(names)     # the demo data has every class in 12 rows
    assert [table.item(i, 0).text() for i in range(table.rowCount())] == names
    headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    assert headers[-3:] == ["lost: seed", "anchors after: seed", "dropped by reason"]
    result = window.augmentPanel.auditView.result
    assert sum(int(table.item(i, 1).text()) for i in range(len(names))) == int(result.tally["before"].sum())
    bar = _child(window, "auditProgressBar", QProgressBar)
    assert bar.value() == bar.maximum() == 2 * 12 * 2      # both pipelines' samples
    status = _child(window, "auditStatusLabel", QLabel).text()
    assert status.startswith("Audit of the multiscale pipeline") and "24 samples" in status
    assert "anchor 16" in _child(window, "auditHistogramText", object).toPlainText()
    histogram = _child(window, "auditHistogramText", object)
    table.selectRow(2)                                     # one class's box sizes
    assert histogram.toPlainText().startswith(names[2][:11]) and "\nseed:\n" in histogram.toPlainText()
    table.clearSelection()
    assert histogram.toPlainText().startswith("box side px")
    advice = _child(window, "adviceLabel", QLabel).text()
    assert "Audit: " in advice
    window.grab().save(str(screenshot_dir / "gui_audit.png"))
    window.augmentPanel.minVisibilitySpin.setValue(0.3)   # another pipeline: the advice no longer holds
    _assert_stale(window)


def test_another_model_makes_the_audit_stale(window, qtbot):
    _audit_tab(window, rows=4, draws=1)
    view = window.augmentPanel.auditView
    _child(window, "auditRunButton", QPushButton).click()
    qtbot.waitUntil(lambda: not view.runner.is_running() and view.result is not None, timeout=120000)
    assert "Audit: " in _child(window, "adviceLabel", QLabel).text()
    _child(window, "archCombo", QComboBox).setCurrentText("maskrcnn_mobilenet_v3_fpn")   # other anchors
    _assert_stale(window)


def test_the_audit_can_be_cancelled(window, qtbot):
    _audit_tab(window, rows=1000, draws=50)
    view = window.augmentPanel.auditView
    _child(window, "auditRunButton", QPushButton).click()
    bar = _child(window, "auditProgressBar", QProgressBar)
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=60000)
    _child(window, "auditCancelButton", QPushButton).click()
    qtbot.waitUntil(lambda: not view.runner.is_running(), timeout=60000)
    assert not view.result.complete and view.result.tally.samples < 38 * 50
    assert "cancelled" in _child(window, "auditStatusLabel", QLabel).text()
    assert "Audit: " not in _child(window, "adviceLabel", QLabel).text()   # a partial audit advises nothing


def test_the_audit_compares_with_a_config_file(window, qtbot, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[augment]\npreset = "none"\n[train]\nseed = 5\n')
    _audit_tab(window, rows=6, draws=1)
    view = window.augmentPanel.auditView
    view.pick_config = lambda: str(other)                 # what the file dialog returns
    combo = _child(window, "auditCompareCombo", QComboBox)
    combo.setCurrentIndex(combo.count() - 1)
    combo.activated.emit(combo.count() - 1)              # "a config file..." chosen
    assert combo.currentText() == "other.toml"
    _child(window, "auditRunButton", QPushButton).click()
    qtbot.waitUntil(lambda: not view.runner.is_running() and view.other is not None, timeout=120000)
    assert view.other.settings["preset"] == "none" and view.other.rows == view.result.rows   # same rows
    table = _child(window, "auditTable", QTableWidget)
    headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    assert "lost: other.toml" in headers


def test_a_broken_config_to_compare_with_is_one_sentence(window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[augment]\nmin_visibility = 'high'\n")
    _audit_tab(window, rows=4, draws=1)
    view = window.augmentPanel.auditView
    view.pick_config = lambda: str(bad)
    combo = _child(window, "auditCompareCombo", QComboBox)
    combo.setCurrentIndex(combo.count() - 1)
    combo.activated.emit(combo.count() - 1)
    _child(window, "auditRunButton", QPushButton).click()
    assert not view.runner.is_running()
    status = _child(window, "auditStatusLabel", QLabel).text()
    assert "augment.min_visibility" in status and status.endswith(".")
    assert status.count("\n") == 0

"""The window driven as a user drives it: typing, closing at awkward moments, switching datasets."""
import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QToolButton,
    QTreeWidget,
)
from test_training import click, loss_points, set_tiny_training

from segstudio.gui.widgets import ImageView
from segstudio.gui.workers import live_threads


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
    assert asked and "has ended" in asked[0]          # not "in progress": it said so after the run ended
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
    from segstudio.engine.events import EvalEvent, IterationEvent, StartedEvent

    window = make_window()
    window.tabs.setCurrentWidget(window.trainPanel)
    curves = window.trainPanel.curves
    raw = [3.5, 3.3, 3.2, 3.0, 2.9, 2.8, 2.6, 2.5]
    events = [StartedEvent(run_dir="", total_iters=90, iters_per_epoch=10, epochs=9)]
    events += [IterationEvent(iteration=i + 1, epoch=0, total_iters=90, losses={}, loss=v, lr=0.01, images_per_s=5.0,
                              data_wait=0.1, elapsed_s=0.0, eta_s=0.0) for i, v in enumerate(raw)]
    events.append(EvalEvent(epoch=5, iteration=60, metrics={"segm_map": 0.4}))
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
    curves.add_events([StartedEvent(run_dir="", total_iters=30, iters_per_epoch=10, epochs=3)])
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
    qtbot.waitUntil(lambda: runs.count() == 1 and "completed" in runs.item(0).text(), timeout=30000)
    resume, extend = (window.findChild(QPushButton, n) for n in ("resumeButton", "extendButton"))
    runs.clearSelection()
    assert not resume.isEnabled() and not extend.isEnabled()          # nothing selected
    rect = runs.visualItemRect(runs.item(0))
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert runs.item(0).isSelected() and "completed" in runs.item(0).text()
    assert "demo, split by column 'split'" in runs.item(0).text()     # which dataset and split it used
    assert not resume.isEnabled() and extend.isEnabled()              # a completed run is extended
    assert not panel.curves._overlays                                 # choosing does not overlay
    runs.item(0).setCheckState(Qt.CheckState.Checked)                 # the tick box does
    qtbot.waitUntil(lambda: bool(panel.curves._overlays), timeout=30000)
    panel.runs.extendSpin.setValue(1)
    click(qtbot, window, "extendButton")
    qtbot.waitUntil(lambda: "[running" in runs.item(0).text(), timeout=120000)
    assert not resume.isEnabled() and not extend.isEnabled()
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=120000)
    qtbot.waitUntil(lambda: "[running" not in runs.item(0).text(), timeout=30000)


def test_the_form_warns_about_settings_that_cannot_work(window, qtbot):
    window.tabs.setCurrentWidget(window.trainPanel)
    advice = window.findChild(QLabel, "adviceLabel")
    window.findChild(QComboBox, "weightsCombo").setCurrentText("none")
    for name, text in (("epochsSpin", "3"), ("maxItersSpin", "12"), ("warmupSpin", "50"),
                       ("evalIntervalSpin", "5")):
        type_into_spin(qtbot, window.findChild(QSpinBox, name), text, delay_ms=5)
    lines = advice.text().splitlines()
    assert len(lines) == 3, advice.text()
    assert "Warm-up (50 iterations)" in lines[0] and "never reaches" in lines[0]
    assert "Evaluate every 5 epochs" in lines[1] and "only the final evaluation" in lines[1]
    assert "From scratch" in lines[2]
    type_into_spin(qtbot, window.findChild(QSpinBox, "warmupSpin"), "5", delay_ms=5)
    type_into_spin(qtbot, window.findChild(QSpinBox, "evalIntervalSpin"), "1", delay_ms=5)
    window.findChild(QComboBox, "weightsCombo").setCurrentText("coco")
    assert advice.text() == ""


def ready_on(window, qtbot, url):
    window.open_dataset(url)
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == url, timeout=60000)


@pytest.fixture
def dataset_without_split(demo_dataset, tmp_path):
    """The demo rows without their stored split column (as many user datasets come)."""
    import shutil

    import deeplake

    path = tmp_path / "nosplit"
    shutil.copytree(demo_dataset, path)
    ds = deeplake.open(str(path))
    ds.remove_column("split")
    ds.commit("no split")
    return str(path)


def test_the_split_column_is_proposed_again_on_every_open(make_window, qtbot, demo_dataset,
                                                           dataset_without_split):
    window = make_window()
    split = window.findChild(QComboBox, "splitColumnCombo")
    ready_on(window, qtbot, dataset_without_split)
    assert split.currentText() == "(random split)"    # nothing else is possible
    ready_on(window, qtbot, demo_dataset)
    assert split.currentText() == "split"             # the stored split, not a silent random one
    ready_on(window, qtbot, dataset_without_split)
    assert split.currentText() == "(random split)"


def test_a_failed_open_leaves_no_doubt_which_dataset_is_open(window, qtbot, tmp_path):
    url = window.state.url
    edit = window.findChild(QLineEdit, "datasetUrlEdit")
    label = window.findChild(QLabel, "datasetMessageLabel")
    coco = tmp_path / "export"
    (coco / "images").mkdir(parents=True)
    (coco / "instances.json").write_text("{}")
    for bad in (str(tmp_path / "missing"), str(coco)):
        edit.clear()
        qtbot.keyClicks(edit, bad)
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda bad=bad: label.isVisible() and bad in label.text(), timeout=30000)
        assert edit.text() == url == window.state.url          # the field names what Start would train on
        assert f"Still open: {url}." in label.text()
    assert "Import COCO... button" in label.text() and "instances.json" in label.text()
    assert "segstudio import-coco" not in label.text()


def preflight_lines(window):
    tree = window.findChild(QTreeWidget, "preflightTree")
    return [tree.topLevelItem(i).text(0).replace("\n", " ") for i in range(tree.topLevelItemCount())]


def test_sampled_checks_say_so_and_all_rows_can_be_checked(make_window, qtbot, demo_dataset, monkeypatch):
    import segstudio.gui.dataset_checks as checks

    monkeypatch.setattr(checks, "PREFLIGHT_ROWS", 10)           # the demo's 48 rows stand in for 12,800
    window = make_window()
    ready_on(window, qtbot, demo_dataset)
    button = window.findChild(QPushButton, "checkAllRowsButton")
    qtbot.waitUntil(lambda: button.isVisible(), timeout=60000)
    lines = preflight_lines(window)
    assert lines[0].startswith("A fixed sample of 10 of 48 rows was checked")
    assert all(line.split(": ", 1)[1].startswith("in the sample") for line in lines[1:])
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: preflight_lines(window)[0].startswith(("All 48 rows", "No problems found in 48")),
                    timeout=60000)
    assert not button.isVisible() and not any("in the sample" in line for line in preflight_lines(window))


def test_a_class_without_instances_is_a_preflight_warning(make_window, qtbot, dataset_without_split):
    import deeplake

    ds = deeplake.open(dataset_without_split)
    names = list(ds["categories"].metadata["class_names"])
    ds["categories"].metadata["class_names"] = names + ["facade"]
    ds.commit("a class no row uses")
    window = make_window()
    ready_on(window, qtbot, dataset_without_split)
    qtbot.waitUntil(lambda: any("facade" in line for line in preflight_lines(window)), timeout=60000)
    line = next(line for line in preflight_lines(window) if "facade" in line)
    assert line.startswith("warning: class 'facade' (id") and "no instances" in line


def test_import_coco_keeps_the_dialog_on_error_and_shows_the_summary(make_window, qtbot, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox
    from test_data_coco_import import make_coco

    from segstudio.gui.import_dialog import ImportCocoDialog

    images, annotations = make_coco(tmp_path / "export")
    window = make_window()
    qtbot.mouseClick(window.findChild(QPushButton, "importCocoButton"), Qt.MouseButton.LeftButton)
    dialog = window.findChild(ImportCocoDialog)
    assert dialog is not None and dialog.isVisible()
    entries = {"cocoImagesEdit": str(tmp_path / "no-such-folder"), "cocoAnnotationsEdit": str(annotations),
               "cocoDestEdit": str(tmp_path / "dataset")}
    for name, text in entries.items():
        qtbot.keyClicks(dialog.findChild(QLineEdit, name), text)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    error = dialog.findChild(QLabel, "cocoImportErrorLabel")
    qtbot.waitUntil(lambda: error.isVisible(), timeout=30000)
    assert "no-such-folder" in error.text() and dialog.isVisible()
    assert {n: dialog.findChild(QLineEdit, n).text() for n in entries} == entries      # nothing cleared
    edit = dialog.findChild(QLineEdit, "cocoImagesEdit")
    edit.clear()
    qtbot.keyClicks(edit, str(images))
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.datasetPanel.importSummaryBox is not None, timeout=120000)
    box = window.datasetPanel.importSummaryBox
    assert box.isVisible() and not dialog.isVisible()
    summary = box.detailedText()
    assert summary.startswith("Imported") and "re-encoded" in summary and "skipped" in summary.lower()
    qtbot.waitUntil(lambda: window.state.url == str(tmp_path / "dataset"), timeout=60000)
    box.close()


def test_switching_datasets_starts_at_row_0_and_shapes_say_varies(make_window, qtbot, demo_dataset,
                                                                   dataset_without_split):
    window = make_window()
    ready_on(window, qtbot, demo_dataset)
    spin = window.findChild(QSpinBox, "sampleSpin")
    type_into_spin(qtbot, spin, "31")
    assert spin.value() == 31
    ready_on(window, qtbot, dataset_without_split)
    assert spin.value() == 0 and window.findChild(QSlider, "sampleSlider").value() == 0
    table = window.findChild(QTableWidget, "schemaTable")
    shapes = [table.item(r, 3).text() for r in range(table.rowCount())]
    assert "?" not in "".join(shapes) and any("varies" in s for s in shapes)


def test_dense_scenes_get_display_toggles(window, qtbot):
    view = window.findChild(ImageView, "previewView")
    qtbot.waitUntil(lambda: view.array is not None, timeout=30000)
    full = view.array.copy()
    spin = window.findChild(QSpinBox, "sampleOpacitySpin")
    type_into_spin(qtbot, spin, "0")
    qtbot.waitUntil(lambda: not np.array_equal(view.array, full), timeout=30000)
    faint = view.array.copy()
    window.findChild(QCheckBox, "sampleMasksCheck").setChecked(False)
    window.findChild(QCheckBox, "sampleBoxesCheck").setChecked(False)
    window.findChild(QCheckBox, "sampleLabelsCheck").setChecked(False)
    raw = window.state.mapped.read(window.findChild(QSpinBox, "sampleSpin").value()).image
    qtbot.waitUntil(lambda: np.array_equal(view.array, raw), timeout=30000)   # the bare picture
    assert not np.array_equal(faint, raw)                                      # outlines were still drawn
    window.findChild(QCheckBox, "sampleMasksCheck").setChecked(True)
    type_into_spin(qtbot, spin, "60")
    qtbot.waitUntil(lambda: not np.array_equal(view.array, raw), timeout=30000)
    display = window.datasetPanel.sample.display
    for i in range(len(window.state.class_names)):
        display.set_class_shown(i, False)                                      # every class hidden
    qtbot.waitUntil(lambda: np.array_equal(view.array, raw), timeout=30000)
    assert "hidden" in window.findChild(QToolButton, "sampleClassesButton").text()


def test_the_augmentation_tab_explains_what_each_draw_did(window, qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QPlainTextEdit, QTabWidget

    from segstudio.base.config import AugmentConfig

    panel = window.augmentPanel
    window.tabs.setCurrentWidget(panel)
    report = window.findChild(QPlainTextEdit, "augReportText")
    type_into_spin(qtbot, window.findChild(QSpinBox, "augRowSpin"), "5")
    assert window.findChild(QSpinBox, "sampleSpin").value() == 5          # one row for both tabs
    window.findChild(QSpinBox, "sampleSpin").setValue(7)
    assert window.findChild(QSpinBox, "augRowSpin").value() == 7
    qtbot.waitUntil(lambda: report.toPlainText().startswith("Row 7, draw 0"), timeout=30000)

    rotate = [{"name": "Rotate", "limit": [25, 25], "p": 1.0}]          # a config a user loads
    panel.set_augment_config(AugmentConfig(preset="custom", transforms=rotate))
    qtbot.waitUntil(lambda: "Rotate: angle=25.0°" in report.toPlainText(), timeout=30000)
    assert "matrix" not in report.toPlainText()
    type_into_spin(qtbot, window.findChild(QDoubleSpinBox, "augMinVisibilitySpin"), "0")
    qtbot.waitUntil(lambda: "Dropped instances: 0" in report.toPlainText(), timeout=30000)
    original = window.findChild(ImageView, "augOriginalView")
    unmarked = original.array.copy()
    type_into_spin(qtbot, window.findChild(QDoubleSpinBox, "augMinAreaSpin"), "1000000")
    qtbot.waitUntil(lambda: "under min_area 1e+06" in report.toPlainText(), timeout=30000)
    assert not np.array_equal(original.array, unmarked)                    # dropped ones crossed out
    assert panel.augment_config().min_area == 1e6

    qtbot.mouseClick(window.findChild(QPushButton, "showGridButton"), Qt.MouseButton.LeftButton)
    grid = window.findChild(ImageView, "augGridView")
    qtbot.waitUntil(lambda: grid.array is not None, timeout=60000)
    tabs = window.findChild(QTabWidget, "augViewTabs")
    assert tabs.currentIndex() == 1
    centre = grid._box.mapViewToScene(QPointF(256 + 4 + 128, 128))         # the second tile
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.mapFromScene(centre))
    qtbot.waitUntil(lambda: tabs.currentIndex() == 0, timeout=5000)
    assert window.findChild(QSpinBox, "augDrawSpin").value() == 1

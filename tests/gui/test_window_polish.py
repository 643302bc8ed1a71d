"""What a newcomer tripped over in the window (second pass): each case fails on the window as it was."""
import threading
import time

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QLineEdit, QMessageBox, QScrollArea, QSpinBox
from test_training import set_tiny_training

from segstudio.engine.events import FinishedEvent, IterationEvent, StartedEvent


def child(window, name, cls=None):
    from PySide6.QtWidgets import QWidget
    found = window.findChild(cls or QWidget, name)
    assert found is not None, name
    return found


def wheel(widget, notches: int = 1) -> None:
    """A mouse-wheel turn over the middle of `widget` (negative: towards the user, scrolling down)."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def endless_training(monkeypatch):
    """Start runs a fake training that reports an iteration every 20 ms (with a long loss readout) until
    stopped: the window's behaviour during a run, without the minutes a real one takes to start."""
    started = threading.Event()

    def fake_train(cfg, on_event, should_stop, resume=None, extend_epochs=0):
        on_event(StartedEvent(run_dir="", total_iters=10**6, iters_per_epoch=1000, epochs=1000))
        i = 0
        while not should_stop() and i < 50000:
            i += 1
            losses = {f"loss_term_with_a_long_name_{k}": 123.456789 * k for k in range(6)}
            on_event(IterationEvent(iteration=i, epoch=i // 1000, total_iters=10**6, losses=losses,
                                    loss=sum(losses.values()), lr=0.00123, images_per_s=1234.5, data_wait=0.5,
                                    elapsed_s=i, eta_s=10**7, cuda_mem_mb=123456.0))
            started.set()
            time.sleep(0.02)
        return FinishedEvent(status="stopped", run_dir="", iteration=i, epoch=0)

    monkeypatch.setattr("segstudio.gui.train_panel.train_in_thread", fake_train)
    return started


def test_the_wheel_scrolls_the_form_and_leaves_unfocused_fields_alone(window, qtbot):
    window.tabs.setCurrentWidget(window.trainPanel)
    window.resize(1280, 600)          # a form taller than its area: it scrolls
    qtbot.wait(50)
    batch = child(window, "batchSizeSpin", QSpinBox)
    lr = child(window, "learningRateSpin", QDoubleSpinBox)
    batch.setValue(8)
    lr.setValue(0.001)
    window.trainPanel.startButton.setFocus()
    scroll = batch.parentWidget()
    while not isinstance(scroll, QScrollArea):
        scroll = scroll.parentWidget()
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(0)
    wheel(batch, -1)
    wheel(lr, -2)
    assert batch.value() == 8 and lr.value() == pytest.approx(0.001)
    assert bar.value() > 0             # the wheel scrolled the form instead
    batch.setFocus()                   # clicked or tabbed into: now the wheel edits it
    qtbot.waitUntil(batch.hasFocus, timeout=2000)
    wheel(batch, 1)
    assert batch.value() == 9


def test_esc_does_not_end_a_run_and_ctrl_period_does(window, qtbot, tmp_path, endless_training):
    set_tiny_training(window, tmp_path / "runs")
    panel = window.trainPanel
    assert panel.start()
    qtbot.waitUntil(endless_training.is_set, timeout=30000)
    window.tabs.setCurrentWidget(window.augmentPanel)
    seed = window.augmentPanel.seedSpin
    seed.setFocus()
    qtbot.keyClick(seed, Qt.Key.Key_Escape)            # "leave this field", while a run goes on
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.wait(300)
    assert panel.is_running()
    qtbot.keyClick(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert panel.last_result["status"] == "stopped"


def test_a_run_does_not_widen_the_window_at_1280(window, qtbot, tmp_path, endless_training):
    set_tiny_training(window, tmp_path / "runs")
    window.resize(1280, 720)
    qtbot.wait(100)
    before = window.width()
    assert before <= 1280
    assert window.trainPanel.start()
    try:
        qtbot.waitUntil(lambda: "loss" in window.trainPanel.readoutLabel.text(), timeout=30000)
        qtbot.wait(300)
        during, minimum = window.width(), window.minimumSizeHint().width()
    finally:
        window.trainPanel.stop()
        qtbot.waitUntil(lambda: not window.trainPanel.is_running(), timeout=30000)
    assert during == before and minimum <= 1280


def test_every_tab_fits_a_1280_by_720_screen(window, qtbot, screenshot_dir):
    window.resize(1280, 720)
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        qtbot.wait(100)
        assert window.minimumSizeHint().width() <= 1280 and window.minimumSizeHint().height() <= 720
        assert window.width() <= 1280 and window.height() <= 720
        window.grab().save(str(screenshot_dir / f"gui_1280_tab{i + 1}.png"))


def test_import_coco_shows_one_summary_after_failed_attempts(make_window, qtbot, tmp_path):
    from test_data_coco_import import make_coco

    images, annotations = make_coco(tmp_path / "export")
    window = make_window()
    panel = window.datasetPanel
    summaries, opened = [], []
    panel.importer.summarized.connect(summaries.append)
    panel.importer.imported.connect(opened.append)
    for attempt in range(2):                           # two failures first (no such images folder)
        errors = []
        panel.importer.failed.connect(errors.append)
        assert panel.import_coco(str(tmp_path / "nowhere"), str(annotations), str(tmp_path / f"bad{attempt}"))
        qtbot.waitUntil(lambda errors=errors: bool(errors), timeout=30000)
        qtbot.waitUntil(lambda: not panel.importer.runner.is_running(), timeout=30000)
    assert panel.import_coco(str(images), str(annotations), str(tmp_path / "dataset"))
    qtbot.waitUntil(lambda: window.state.url == str(tmp_path / "dataset"), timeout=120000)
    qtbot.wait(300)
    assert len(summaries) == 1 and opened == [str(tmp_path / "dataset")]
    boxes = [b for b in window.findChildren(QMessageBox, "importSummaryBox") if b.isVisible()]
    assert len(boxes) == 1
    boxes[0].close()


def test_the_import_summary_fits_a_laptop_screen(make_window, qtbot, screenshot_dir):
    from segstudio.data.coco_summary import ImportSummary

    names = [f"class number {i}" for i in range(80)]   # coco128's 80 classes made a 1262 px box
    summary = ImportSummary(dest="/data/coco128", images_in_file=128, class_names=names, images_imported=128,
                            rows_in_dataset=128, instances=929)
    summary.per_class.update({n: 3 for n in names})
    window = make_window()
    window.datasetPanel._on_imported(summary.format_text())
    box = window.datasetPanel.importSummaryBox
    qtbot.waitUntil(box.isVisible, timeout=5000)
    assert box.sizeHint().height() < 600
    assert "class number 79" in box.detailedText() and "class number 79" not in box.informativeText()
    assert "Classes: 80" in box.informativeText()
    box.grab().save(str(screenshot_dir / "gui_import_summary.png"))
    box.close()



def test_a_config_preset_keeps_the_split_column_and_the_gpu_preset_warns_without_a_gpu(window, qtbot):
    from PySide6.QtWidgets import QComboBox

    from segstudio.base.accelerator import gpu_present

    combo = child(window, "splitColumnCombo", QComboBox)
    assert combo.currentText() == "split"                      # proposed on open
    window.trainPanel.load_preset("cpu")
    assert combo.currentText() == "split" and window.trainPanel.config().data.split_column == "split"
    window.trainPanel.load_preset("gpu")
    assert combo.currentText() == "split"
    advice = child(window, "adviceLabel").text()
    if not gpu_present():
        assert "sized for a GPU" in advice and "cpu preset" in advice
    window.trainPanel.load_preset("cpu")
    assert "sized for a GPU" not in child(window, "adviceLabel").text()


def test_the_split_column_offers_text_columns_and_a_random_split(window):
    from PySide6.QtWidgets import QComboBox

    combo = child(window, "splitColumnCombo", QComboBox)
    assert not combo.isEditable()
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items[0] == "(random split)" and "split" in items and "images" not in items
    combo.setCurrentIndex(0)
    assert window.trainPanel.config().data.split_column == ""
    assert child(window, "valFractionSpin").isEnabled()
    child(window, "valFractionSpin").setValue(0.0)
    text = child(window, "validationLabel").text()
    assert "Validation fraction (data.val_fraction)" in text          # the window's words, then the key


def test_a_failed_start_clears_the_readout_and_says_failed_as_an_error(window, qtbot):
    panel = window.trainPanel
    panel.readoutLabel.setText("loss 1.2345   classifier 0.3   lr 1.00e-02")   # left by an earlier run
    child(window, "splitColumnCombo").setCurrentIndex(0)
    child(window, "valFractionSpin").setValue(0.0)                   # Start cannot work
    assert not panel.start()
    assert panel.readoutLabel.text() == "" and panel.progressBar.format() == "failed"
    assert "b00020" in panel.progressBar.styleSheet()
    child(window, "valFractionSpin").setValue(0.2)
    panel._show_outcome("")
    assert panel.progressBar.styleSheet() == ""


def test_a_fixed_augmentation_error_leaves_the_status_bar(window, qtbot):
    panel = window.augmentPanel
    panel._error("Augmentation: Rotate limit must be a pair")
    assert "b00020" in window.statusLabel.styleSheet()
    window.tabs.setCurrentWidget(panel)
    panel.reroll()                                                   # a preview that works
    qtbot.waitUntil(lambda: "b00020" not in window.statusLabel.styleSheet(), timeout=60000)
    assert "works again" in window.statusLabel.text()


def test_the_classes_menu_stays_open_while_classes_are_ticked(window, qtbot):
    from PySide6.QtWidgets import QToolButton

    button = child(window, "sampleClassesButton", QToolButton)
    menu = button.menu()
    menu.popup(button.mapToGlobal(button.rect().bottomLeft()))
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    classes = [a for a in menu.actions() if a.isCheckable()]
    for action in classes[:2]:
        rect = menu.actionGeometry(action)
        menu.setActiveAction(action)
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=rect.center())
        assert menu.isVisible()
    assert [a.isChecked() for a in classes[:3]] == [False, False, True]
    assert button.text() == "Classes (2 hidden)"
    menu.close()


def test_the_from_scratch_advice_says_when_it_fires():
    from segstudio.base.advice import FROM_SCRATCH_MIN_ITERS, run_warnings
    from segstudio.base.config import Config

    cfg = Config()
    cfg.model.weights, cfg.train.max_iters = "none", FROM_SCRATCH_MIN_ITERS - 10
    line = next(w for w in run_warnings(cfg, 1000) if w.startswith("From scratch"))
    assert f"under {FROM_SCRATCH_MIN_ITERS}" in line
    cfg.train.max_iters = FROM_SCRATCH_MIN_ITERS
    assert not any(w.startswith("From scratch") for w in run_warnings(cfg, 1000))


def test_the_window_opens_on_the_last_local_dataset_used(tmp_path):
    from segstudio.gui import settings

    assert settings.startup_dataset() is None                  # first launch: the demo dataset
    settings.add_recent_dataset(str(tmp_path))
    assert settings.startup_dataset() == str(tmp_path)
    settings.add_recent_dataset("s3://bucket/data")            # its credentials are never stored
    assert settings.startup_dataset() is None
    settings.add_recent_dataset(str(tmp_path / "deleted-since"))
    assert settings.startup_dataset() is None


def test_the_import_dialog_proposes_the_annotations_and_a_destination_and_speaks_its_own_words(qtbot, tmp_path):
    from segstudio.gui.import_dialog import ImportCocoDialog

    export = tmp_path / "street"
    (export / "images").mkdir(parents=True)
    (export / "other.json").write_text("{}")
    (export / "annotations.json").write_text("{}")
    (tmp_path / "street-deeplake").mkdir()                     # taken: the next name is proposed
    dialog = ImportCocoDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_images(str(export / "images"))
    assert dialog.annotationsEdit.text() == str(export / "annotations.json")
    assert dialog.destEdit.text() == str(tmp_path / "street-deeplake-2")
    height = dialog.height()
    dialog.show_error(f"{tmp_path}/x already exists; choose a new destination, or add --resume to continue an "
                      "interrupted import into it. " * 3)
    text = dialog.errorLabel.text()
    assert "--resume" not in text and "tick 'Resume" in text
    assert dialog.height() >= height and dialog.errorLabel.height() >= dialog.errorLabel.heightForWidth(
        dialog.errorLabel.width())                                 # every line of it shows


def test_a_past_run_has_its_own_colour_and_the_same_smoothing(qtbot):
    import numpy as np
    import pyqtgraph as pg

    from segstudio.engine.events import IterationEvent
    from segstudio.gui.curves import SMOOTHING, TERM_COLOURS, CurvesWidget, smoothed

    assert np.allclose(smoothed([2.0, 4.0, np.nan, 6.0]),
                       [2.0, (0.1 * 2 * 0.9 + 0.1 * 4) / (1 - SMOOTHING ** 2), np.nan,
                        ((0.1 * 2 * 0.9 + 0.1 * 4) * 0.9 + 0.1 * 6) / (1 - SMOOTHING ** 3)], equal_nan=True)
    curves = CurvesWidget()
    qtbot.addWidget(curves)
    events = [IterationEvent(iteration=i, epoch=0, total_iters=4, losses={}, loss=float(v), lr=0.01,
                             images_per_s=0.0, data_wait=0.0, elapsed_s=0.0, eta_s=0.0)
              for i, v in enumerate([5.0, 1.0, 5.0, 1.0], 1)]
    curves.add_overlay("old", events, 0)
    loss_items = [item for plot, item in curves._overlays if plot is curves.lossPlot]
    drawn = {tuple(np.round(item.getData()[1], 6)) for item in loss_items}
    assert tuple(np.round(smoothed([5.0, 1.0, 5.0, 1.0]), 6)) in drawn        # smoothed, raw faintly behind
    live = {pg.mkColor(c).name() for c in TERM_COLOURS}
    assert all(item.opts["pen"].color().name() not in live for item in loss_items)


def test_the_run_name_is_for_one_run(make_window):
    from segstudio.base.config import Config, dumps_config
    from segstudio.gui import settings

    cfg = Config()
    cfg.train.run_name = "short30"
    settings.save_value("config/last", dumps_config(cfg))
    window = make_window()
    assert window.findChild(QLineEdit, "runNameEdit").text() == ""          # a timestamp, not short30-2, -3 ...


def test_a_transform_without_parameters_says_it_was_applied():
    from segstudio.gui.augment_panel import describe_report

    text = describe_report({"dropped": [], "applied": [{"name": "HorizontalFlip", "params": {}}]})
    assert "HorizontalFlip (applied)" in text and "HorizontalFlip:" not in text


def test_the_dataset_tab_picks_a_version_and_a_run_trains_on_it(make_window, qtbot, versioned_dataset):
    from PySide6.QtWidgets import QComboBox

    url, ids = versioned_dataset
    window = make_window()
    window.open_dataset(url)
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == url, timeout=60000)
    assert window.state.num_rows == 14
    combo = child(window, "datasetVersionCombo", QComboBox)
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[:3] == ["branch main", "branch exp", "tag v1"] and any("two more rows on main" in t for t in labels)
    combo.setCurrentIndex(1)
    combo.activated.emit(1)                                     # as a user's pick does
    qtbot.waitUntil(lambda: window.state.num_rows == 16, timeout=60000)
    assert "at exp" in window.statusLabel.text()
    assert window.trainPanel.config().data.version == "exp"
    assert any(str(combo.itemData(i)).startswith("exp@") for i in range(combo.count()))   # exp's history now
    combo.setCurrentIndex(0)
    combo.activated.emit(0)                                     # back to main's newest
    qtbot.waitUntil(lambda: window.state.num_rows == 14, timeout=60000)
    assert window.trainPanel.config().data.version == ""
    old = next(i for i in range(combo.count()) if combo.itemData(i) == f"main@{ids['v1']}")
    combo.setCurrentIndex(old)
    combo.activated.emit(old)
    qtbot.waitUntil(lambda: window.state.num_rows == 12, timeout=60000)
    assert window.trainPanel.config().data.version == f"main@{ids['v1']}"


def test_the_query_box_counts_rows_and_classes_and_a_run_trains_on_them(window, qtbot, demo_dataset,
                                                                        screenshot_dir):
    from segstudio.data.splits import filtered_rows

    box = window.datasetPanel.queryBox
    edit = child(window, "datasetQueryEdit", QLineEdit)
    label = child(window, "queryResultLabel")
    qtbot.keyClicks(edit, "WHERE contains(categories, 'star')")
    expected = len(filtered_rows(window.state.ds, "WHERE contains(categories, 'star')"))
    qtbot.waitUntil(lambda: label.text().startswith(f"{expected} of 48 rows match"), timeout=30000)
    assert "star" in label.text()
    assert window.trainPanel.config().data.query == "WHERE contains(categories, 'star')"
    window.grab().save(str(screenshot_dir / "gui_query.png"))
    edit.setText("")
    qtbot.keyClicks(edit, "WHERE categories ==")
    qtbot.waitUntil(lambda: "syntax error" in label.text(), timeout=30000)
    assert "at character" in label.text() and "b00020" in label.styleSheet()
    assert window.trainPanel.config().data.query == ""              # an invalid filter is not trained on
    edit.setText("WHERE contains(categories, 'ring')")
    box.set_query(edit.text())
    qtbot.waitUntil(lambda: "rows match" in label.text(), timeout=30000)
    window.open_dataset(demo_dataset)                               # reopened: the filter is remembered
    qtbot.waitUntil(lambda: "rows match" in label.text() and edit.text().endswith("'ring')"), timeout=60000)


def test_clicking_a_class_steps_through_its_rows_and_hover_names_an_instance(window, qtbot):
    from PySide6.QtWidgets import QListWidget

    from segstudio.data.query_summary import rows_with_class

    classes = child(window, "classList", QListWidget)
    star = window.state.class_names.index("star")
    rows = rows_with_class(window.state.mapped, star)
    assert rows and all(star in window.state.mapped.read(r).labels.tolist() for r in rows[:5])
    spin = child(window, "sampleSpin", QSpinBox)
    seen = []
    for _ in range(3):
        before = spin.value()
        classes.itemClicked.emit(classes.item(star))          # a click on "star" in the class list
        qtbot.waitUntil(lambda before=before: spin.value() != before or len(rows) == 1, timeout=30000)
        seen.append(spin.value())
    assert seen == [r for r in rows if r > 0][:3]
    assert f"of {len(rows)} rows with star" in window.statusLabel.text()
    view = window.datasetPanel.sample.previewView
    qtbot.waitUntil(lambda: window.datasetPanel.sample._instances is not None
                    and "row " + str(seen[-1]) in window.datasetPanel.sample.sampleInfo.text(), timeout=30000)
    inst = window.datasetPanel.sample._instances
    i = inst.labels.index(star)
    ys, xs = inst.masks[i].nonzero()
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    scale_y, scale_x = view.array.shape[0] / inst.shape[0], view.array.shape[1] / inst.shape[1]
    text = inst.at((x + 0.5) * scale_x, (y + 0.5) * scale_y, view.array.shape[:2])
    assert text.startswith("star (class id") and "px" in text
    view.set_image(view.array * 0)                                       # zoomed and panned, then fitted
    view._box.setRange(xRange=(0, 5), yRange=(0, 5), padding=0)
    view.fit()
    (x0, x1), _ = view._box.viewRange()
    assert x0 <= 0 and x1 >= view.array.shape[1] - 1


def test_an_image_size_out_of_range_becomes_the_nearest_and_is_said(window, qtbot):
    spin = child(window, "imageSizeSpin", QSpinBox)
    window.tabs.setCurrentWidget(window.trainPanel)
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin.lineEdit(), "5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == spin.minimum()                              # the nearest allowed value, not the old one
    assert f"takes {spin.minimum()}" in window.statusLabel.text() and "5 became" in window.statusLabel.text()


def test_names_are_drawn_over_the_picture_at_screen_size(window, qtbot, screenshot_dir):
    from PySide6.QtWidgets import QCheckBox

    view = window.datasetPanel.sample.previewView
    qtbot.waitUntil(lambda: bool(view.tag_texts()), timeout=30000)
    raw = window.state.mapped.read(window.datasetPanel.sample.current_row())
    names = sorted(window.state.class_names[i] for i in raw.labels.tolist())
    assert sorted(view.tag_texts()) == names
    window.findChild(QCheckBox, "sampleMasksCheck").setChecked(False)
    window.findChild(QCheckBox, "sampleBoxesCheck").setChecked(False)
    qtbot.waitUntil(lambda: view.array is not None and (view.array == raw.image).all(), timeout=30000)
    assert sorted(view.tag_texts()) == names            # the names are not in the pixels, but over them
    window.findChild(QCheckBox, "sampleLabelsCheck").setChecked(False)
    qtbot.waitUntil(lambda: view.tag_texts() == [], timeout=30000)
    window.findChild(QCheckBox, "sampleLabelsCheck").setChecked(True)
    window.findChild(QCheckBox, "sampleMasksCheck").setChecked(True)
    window.findChild(QCheckBox, "sampleBoxesCheck").setChecked(True)
    qtbot.waitUntil(lambda: bool(view.tag_texts()), timeout=30000)
    view._box.scaleBy((0.25, 0.25))                      # zoomed in 4x: the tags keep their size on screen
    qtbot.wait(100)
    window.grab().save(str(screenshot_dir / "gui_zoomed_labels.png"))
    heights = {round(item.boundingRect().height()) for item in view._tags}
    assert max(heights) < 40


def test_a_name_over_a_box_at_the_pictures_top_edge_is_not_cut_off(qtbot):
    import numpy as np

    from segstudio.gui.widgets import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    view.set_image(np.zeros((200, 200, 3), np.uint8))
    qtbot.wait(50)
    view.set_tags([(10, 0, "top", (200, 0, 0)), (10, 100, "middle", (0, 200, 0)), (14, 100, "next", (0, 0, 200))])
    top, middle, neighbour = (item.mapRectToView(item.boundingRect()) for item in view._tags)
    assert 0 <= top.top() < 20                          # inside the picture, just under the box's top edge
    assert middle.bottom() == pytest.approx(100, abs=1) and middle.top() < 100   # above its box, as usual
    assert not neighbour.intersects(middle)             # a box at nearly the same corner: its name below
    view.set_tags([(195, 100, "right edge", (0, 0, 200))])
    edge = view._tags[0].mapRectToView(view._tags[0].boundingRect())
    assert edge.right() <= 200.5 and edge.left() < 195     # moved left to stay inside the picture
    view.set_tags([(10, 0, "top", (200, 0, 0)), (10, 100, "middle", (0, 200, 0)), (14, 100, "next", (0, 0, 200))])
    view._box.scaleBy((0.5, 0.5))                       # zoomed in: still just above the box
    middle = view._tags[1].mapRectToView(view._tags[1].boundingRect())
    assert middle.bottom() == pytest.approx(100, abs=1)


def test_an_evaluation_in_a_run_shows_its_count_and_eta(window):
    from segstudio.engine.events import EvaluatingEvent

    panel = window.trainPanel
    panel._on_events([EvaluatingEvent(epoch=1, iteration=50, images=40)])
    assert panel.progressBar.format().startswith("evaluating on 40 validation images")
    panel._on_events([EvaluatingEvent(epoch=1, iteration=50, images=40, done=10, elapsed_s=5.0)])
    assert panel.progressBar.format() == "evaluating 10/40 validation images (after epoch 2) · ETA 0:00:15"
    assert (panel.progressBar.value(), panel.progressBar.maximum()) == (10, 40)


def test_the_evaluation_progress_is_told_about_once_a_second_and_not_logged():
    from types import SimpleNamespace

    from segstudio.engine.train import evaluation_progress

    told = []
    run = SimpleNamespace(log=SimpleNamespace(on_event=told.append))
    progress = evaluation_progress(run, SimpleNamespace(epoch=0, iteration=9), images=8, every_s=0.0)
    for seen in (2, 4, 8, 10):
        progress(seen)
    assert [e.done for e in told] == [2, 4, 8, 8] and all(e.kind == "evaluating" for e in told)
    quiet = []
    progress = evaluation_progress(SimpleNamespace(log=SimpleNamespace(on_event=quiet.append)),
                                   SimpleNamespace(epoch=0, iteration=9), images=8, every_s=3600)
    progress(2)
    progress(4)
    assert len(quiet) == 1                                           # throttled


def test_evaluate_checkpoint_shows_progress_and_cancel_and_ignores_a_second_click(window, qtbot, monkeypatch,
                                                                                tmp_path):
    import threading

    from segstudio.base.errors import TrainingError

    started = threading.Event()
    calls = []

    def slow_evaluation(path, report, should_stop):
        calls.append(path)
        started.set()
        for i in range(1, 600):
            if should_stop():
                raise TrainingError("The evaluation was stopped before its end; its previous result is kept.")
            report(i, 600)
            threading.Event().wait(0.05)
        return "eval", {}
    monkeypatch.setattr("segstudio.gui.eval_panel.evaluate_task", slow_evaluation)
    panel = window.evalPanel
    window.tabs.setCurrentWidget(panel)
    panel.runCombo.addItem("some-run", str(tmp_path))
    panel.runCombo.setCurrentIndex(panel.runCombo.count() - 1)
    panel.evaluate_checkpoint()
    qtbot.waitUntil(started.is_set, timeout=10000)
    qtbot.waitUntil(lambda: panel.workBar.maximum() == 600 and panel.workBar.value() > 0, timeout=10000)
    assert panel.workBar.isVisible() and panel.cancelButton.isVisible()
    assert not panel.evaluateButton.isEnabled()                      # no second evaluation from a double click
    assert panel.loadButton.isEnabled()                              # the other action can still be queued
    qtbot.mouseClick(panel.cancelButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel._runner.is_running(), timeout=10000)
    assert calls == [str(tmp_path)] and not panel.workBar.isVisible() and panel.evaluateButton.isEnabled()
    assert "stopped" in window.statusLabel.text()


def test_after_a_relaunch_the_evaluation_tab_shows_the_later_evaluate_checkpoint_result(window, tmp_path):
    import json
    from types import SimpleNamespace

    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text(json.dumps({
        "run": str(tmp_path), "checkpoint": "best.pt", "iteration": 120, "images": 12,
        "metrics": {"segm_map": 0.42, "bbox_map": 0.5}, "per_class": {"star": {"bbox_ap": 0.5, "segm_ap": 0.4}}}))
    panel = window.evalPanel
    panel._summaries[str(tmp_path)] = SimpleNamespace(last_eval={"iteration": 100, "epoch": 3, "per_class": {},
                                                                 "metrics": {"segm_map": 0.1}})
    panel.runCombo.addItem("run", str(tmp_path))
    panel.runCombo.setCurrentIndex(panel.runCombo.count() - 1)
    assert "iteration 120" in panel.summaryLabel.text() and "0.420" in panel.summaryLabel.text()


def test_an_empty_class_is_named_once_with_honest_advice(qtbot):
    from types import SimpleNamespace

    from segstudio.gui.dataset_checks import DatasetChecks
    from segstudio.gui.state import DatasetState

    state = DatasetState()
    state.mapped = SimpleNamespace(class_names=["facade (id 0)", "door", "window"])
    checks = DatasetChecks(state)
    qtbot.addWidget(checks)
    lines = checks._empty_classes(([0, 3, 0], [0, 0, 0]))
    assert lines == ["2 classes have no instances in any row ('facade (id 0)', 'window' (id 2)): check the labels "
                     "column (they are never learnt and get no AP; training works otherwise)"]
    assert "leave" not in checks._empty_classes(([0, 3, 1], [0, 0, 0]))[0]


def test_the_augmentation_views_draw_names_over_the_pictures(window, qtbot):
    panel = window.augmentPanel
    window.tabs.setCurrentWidget(panel)
    row = next(r for r in range(window.state.num_rows) if window.state.mapped.read(r).num_instances >= 2)
    panel.rowSpin.setValue(row)
    raw = window.state.mapped.read(row)
    names = sorted(window.state.class_names[i] for i in raw.labels.tolist())
    qtbot.waitUntil(lambda: sorted(panel.originalView.tag_texts()) == names, timeout=60000)
    kept = panel.augmentedView.tag_texts()
    assert set(kept) <= set(names)                       # what survived the draw, named over the augmented view


def test_a_readout_wider_than_its_place_ends_in_an_ellipsis_not_in_a_number(window, qtbot):
    # it was clipped where the width ran out: "lr 1.0" on screen for lr 1.00e-02 (a 2-iteration run at 1360 px)
    window.tabs.setCurrentWidget(window.trainPanel)
    window.show()
    qtbot.waitExposed(window)
    label = window.trainPanel.readoutLabel
    line = "loss 3.5718   lr 1.00e-02   0.6 img/s   data wait 2%   classifier 2.087  box_reg 0.006  mask 0.790"
    label.setText(line)
    label.resize(label.fontMetrics().horizontalAdvance("loss 3.5718   lr 1.00e-02   0.6 img/s"), label.height())
    shown = label.text()
    assert shown.endswith("…") and line.startswith(shown[:-1]) and len(shown) < len(line), (shown, label.width())
    assert label.toolTip() == line == label.full_text()
    label.resize(label.fontMetrics().horizontalAdvance(line) + 20, label.height())
    assert label.text() == line

"""The window driven through its objectNames, offscreen, on the demo dataset."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QListWidget, QPushButton, QSpinBox, QWidget

from segstudio.gui.widgets import ImageView

CONTRACT = ["datasetUrlEdit", "openDatasetButton", "imagesColumnCombo", "masksColumnCombo",
            "boxesColumnCombo", "labelsColumnCombo", "classList", "sampleSpin", "previewView",
            "rerollButton", "augPresetCombo", "epochsSpin", "batchSizeSpin", "learningRateSpin",
            "imageSizeSpin", "workersSpin", "startButton", "stopButton", "lossPlot", "speedPlot",
            "progressBar", "statusLabel"]


def child(window, name, cls=QWidget):
    widget = window.findChild(cls, name)
    assert widget is not None, f"no widget named {name}"
    return widget


def expected_row(dataset_url, row):
    """What the core draws for a raw row: the window must show exactly these pixels (the class names are
    drawn over them at screen size, not into them)."""
    from segstudio.data.describe import describe
    from segstudio.data.open import open_dataset
    from segstudio.data.sample import read_sample
    from segstudio.samples.render import render

    ds = open_dataset(dataset_url)
    info = describe(ds, dataset_url)
    raw = read_sample(ds, row, info.mapping, info.box_format)
    return render(raw.image, raw.masks, raw.boxes, raw.labels, info.class_names, draw_labels=False)


def busiest_row(dataset_url):
    from segstudio.data.open import open_dataset

    ds = open_dataset(dataset_url)
    return max(range(len(ds)), key=lambda r: len(ds[r]["categories"]))


def test_every_automation_name_exists(make_window):
    window = make_window()
    missing = [name for name in CONTRACT if window.findChild(QWidget, name) is None]
    assert not missing


def test_opens_the_demo_dataset_and_shows_its_first_row(window, demo_dataset, qtbot, screenshot_dir):
    view = child(window, "previewView", ImageView)
    np.testing.assert_array_equal(view.array, expected_row(demo_dataset, 0))
    classes = child(window, "classList", QListWidget)
    assert classes.count() == 6
    qtbot.waitUntil(lambda: "(" in classes.item(0).text(), timeout=30000)   # instance counts arrived
    assert child(window, "imagesColumnCombo", QComboBox).currentText() == "images"
    assert child(window, "labelsColumnCombo", QComboBox).currentText() == "categories"
    assert "Opened" in child(window, "statusLabel", QLabel).text()

    tree = child(window, "preflightTree")                   # the counts come first, then the checks
    qtbot.waitUntil(lambda: tree.topLevelItem(0).text(0) == "All 48 rows checked.", timeout=30000)
    finding = tree.topLevelItem(1)
    assert "no instances" in finding.text(0)                # the demo has empty rows on purpose
    row_item = finding.child(0)
    tree.itemClicked.emit(row_item, 0)                      # clicking a row id shows that row
    assert child(window, "sampleSpin", QSpinBox).value() == int(row_item.text(0).split()[1])

    child(window, "sampleSpin", QSpinBox).setValue(5)
    qtbot.waitUntil(lambda: np.array_equal(view.array, expected_row(demo_dataset, 5))
                    if view.array.shape == expected_row(demo_dataset, 5).shape else False, timeout=20000)
    busiest = busiest_row(demo_dataset)                    # a row with many instances for the picture
    child(window, "sampleSpin", QSpinBox).setValue(busiest)
    qtbot.waitUntil(lambda: window.datasetPanel.sample.sampleInfo.text().startswith(f"row {busiest}:"), timeout=20000)
    qtbot.wait(300)
    window.tabs.setCurrentIndex(0)
    window.grab().save(str(screenshot_dir / "gui_dataset.png"))


def test_a_wrong_column_choice_is_explained_and_the_old_mapping_kept(window, qtbot):
    boxes = child(window, "boxesColumnCombo", QComboBox)
    before = window.state.mapping
    boxes.setCurrentText("split")          # a text column cannot hold boxes
    status = child(window, "statusLabel", QLabel).text()
    assert "split" in status and "boxes" in status
    assert window.state.mapping == before
    assert boxes.currentText() == "boxes"   # the combo shows the column still in effect, not the rejected one
    labels = child(window, "labelsColumnCombo", QComboBox)
    labels.setCurrentText("images")
    assert "images" in child(window, "statusLabel", QLabel).text() and window.state.mapping == before
    assert labels.currentText() == "categories"


def test_bad_dataset_url_shows_its_message_and_the_window_stays_ready(make_window, qtbot, tmp_path):
    window = make_window()
    child(window, "datasetUrlEdit", QLineEdit).setText(str(tmp_path / "no-such-dataset"))
    qtbot.mouseClick(child(window, "openDatasetButton", QPushButton), Qt.MouseButton.LeftButton)
    status = child(window, "statusLabel", QLabel)
    qtbot.waitUntil(lambda: "no-such-dataset" in status.text() and not status.text().startswith("Opening"),
                    timeout=30000)
    print(status.text())
    assert "no-such-dataset" in child(window, "datasetMessageLabel", QLabel).text()
    assert child(window, "openDatasetButton", QPushButton).isEnabled()
    assert window.state.ds is None


def test_closing_while_a_dataset_server_hangs_does_not_wait_for_it(make_window, qtbot, monkeypatch):
    """Opening an unreachable s3:// server blocks in the storage library for about a minute; closing
    the window then must not wait that long (it froze, and exiting aborted on the running QThread)."""
    import threading

    import segstudio.gui.dataset_panel as dataset_panel
    from segstudio.base.errors import DataError
    from segstudio.gui.workers import live_threads
    release = threading.Event()

    def hang(*args):
        release.wait(120)
        raise DataError("Cannot reach the storage behind s3://unreachable/ds; check the network.")
    monkeypatch.setattr(dataset_panel, "open_and_describe", hang)
    window = make_window()
    window.open_dataset("s3://unreachable/ds")
    qtbot.waitUntil(lambda: window.datasetPanel._opener.is_running(), timeout=5000)
    timer = threading.Timer(15, release.set)    # the server "answers" after 15 s (the close used to wait 30)
    timer.start()
    window.close()
    assert not window.isVisible() and not release.is_set()   # closed while the read is still blocked
    assert live_threads()                                    # (the app leaves with os._exit in that case)
    release.set()
    timer.cancel()
    qtbot.waitUntil(lambda: not live_threads(), timeout=30000)


def test_a_new_open_does_not_wait_for_a_hanging_one(make_window, qtbot, monkeypatch, demo_dataset):
    """While an unreachable server blocks an open, the user can open another dataset at once; the
    abandoned open's late failure does not replace the dataset now shown."""
    import threading

    import segstudio.gui.dataset_panel as dataset_panel
    from segstudio.base.errors import DataError

    release = threading.Event()
    real_open = dataset_panel.open_and_describe

    def maybe_hang(url, *args):
        if url.startswith("s3://"):
            release.wait(120)
            raise DataError("Cannot reach the storage behind s3://unreachable/ds; check the network.")
        return real_open(url, *args)
    monkeypatch.setattr(dataset_panel, "open_and_describe", maybe_hang)
    window = make_window()
    url_edit, status = child(window, "datasetUrlEdit", QLineEdit), child(window, "statusLabel", QLabel)
    url_edit.setText("s3://unreachable/ds")
    qtbot.mouseClick(child(window, "openDatasetButton", QPushButton), Qt.MouseButton.LeftButton)
    url_edit.setText(demo_dataset)
    qtbot.mouseClick(child(window, "openDatasetButton", QPushButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status.text().startswith("Opened"), timeout=60000)
    abandoned = list(window.datasetPanel._abandoned)
    assert abandoned and not release.is_set()
    release.set()
    qtbot.waitUntil(lambda: not abandoned[0].is_running(), timeout=30000)
    qtbot.wait(50)
    assert status.text().startswith("Opened") and window.state.url == demo_dataset
    assert not window.datasetPanel._abandoned


def test_form_follows_the_dataset_and_refuses_a_zero_learning_rate(window):
    """Validation fraction editable when a newly opened dataset lacks the split column; lr 0 refused."""
    split, fraction = child(window, "splitColumnCombo", QComboBox), child(window, "valFractionSpin")
    assert split.currentText() == "split" and not fraction.isEnabled()   # the demo has a split column
    window.trainPanel.set_split_columns(["source"])                      # a dataset without "split"
    assert split.currentText() == "(random split)" and fraction.isEnabled()
    lr = child(window, "learningRateSpin")
    lr.setValue(0.0)              # a run with lr 0 "trains" with flat curves and no message
    assert lr.value() > 0


def test_reroll_changes_the_augmented_preview(window, qtbot, screenshot_dir):
    window.tabs.setCurrentWidget(window.augmentPanel)
    aug = window.augmentPanel.augmentedView
    child(window, "augPresetCombo", QComboBox).setCurrentText("strong")
    qtbot.waitUntil(lambda: aug.array is not None, timeout=30000)
    qtbot.wait(500)
    seen = [aug.array.copy()]
    for _ in range(3):
        qtbot.mouseClick(child(window, "rerollButton", QPushButton), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not np.array_equal(aug.array, seen[-1]), timeout=30000)
        seen.append(aug.array.copy())
    assert window.augmentPanel.reportText.toPlainText().startswith("Row 0, draw 3 (seed ")
    draw = window.augmentPanel.drawSpin.value()
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)   # the Ctrl+R shortcut
    assert window.augmentPanel.drawSpin.value() == draw + 1
    qtbot.waitUntil(lambda: not np.array_equal(aug.array, seen[-1]), timeout=30000)
    window.grab().save(str(screenshot_dir / "gui_augmentation.png"))
    window.augmentPanel.gridSpin.setValue(6)
    window.augmentPanel.request_grid()
    qtbot.waitUntil(lambda: window.augmentPanel.gridView.array is not None, timeout=30000)
    window.grab().save(str(screenshot_dir / "gui_augmentation_grid.png"))


def test_settings_persist_between_windows(make_window, demo_dataset, qtbot, tmp_path):
    from segstudio.gui import settings

    first = make_window()
    first.open_dataset(demo_dataset)
    qtbot.waitUntil(lambda: first.state.ready, timeout=30000)
    child(first, "epochsSpin", QSpinBox).setValue(7)
    child(first, "batchSizeSpin", QSpinBox).setValue(3)
    first.close()
    assert settings.recent_datasets()[0] == demo_dataset
    second = make_window()
    assert child(second, "epochsSpin", QSpinBox).value() == 7
    assert child(second, "batchSizeSpin", QSpinBox).value() == 3


def test_config_saves_and_loads_as_toml(window, tmp_path):
    from segstudio.base.config import load_config

    path = tmp_path / "run.toml"
    child(window, "epochsSpin", QSpinBox).setValue(9)
    child(window, "learningRateSpin").setValue(0.005)
    assert window.trainPanel.save_config_file(str(path))
    cfg = load_config(path)
    assert cfg.train.epochs == 9 and cfg.train.lr == pytest.approx(0.005)
    assert cfg.data.url and cfg.data.images == "images" and cfg.data.labels == "categories"
    child(window, "epochsSpin", QSpinBox).setValue(2)
    assert window.trainPanel.load_config_file(str(path))
    assert child(window, "epochsSpin", QSpinBox).value() == 9
    path.write_text("[train]\nepochs = 'many'\n")
    assert not window.trainPanel.load_config_file(str(path))
    assert "train.epochs" in child(window, "statusLabel", QLabel).text()


def test_import_coco_runs_in_a_worker_then_opens_the_result(make_window, qtbot, coco128, tmp_path,
                                                            screenshot_dir):
    window = make_window()
    dest = tmp_path / "coco128"
    assert window.datasetPanel.import_coco(str(coco128 / "images"), str(coco128 / "annotations.json"), str(dest))
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == str(dest), timeout=240000)
    assert window.state.num_rows > 100 and "person" in window.state.class_names
    qtbot.waitUntil(lambda: child(window, "previewView", ImageView).array is not None, timeout=30000)
    qtbot.waitUntil(lambda: "(" in child(window, "classList", QListWidget).item(0).text(), timeout=60000)
    window.grab().save(str(screenshot_dir / "gui_dataset_coco128.png"))


def test_import_coco_error_is_a_message(make_window, qtbot, tmp_path):
    window = make_window()
    (tmp_path / "bad.json").write_text("{not json")
    window.datasetPanel.import_coco(str(tmp_path), str(tmp_path / "bad.json"), str(tmp_path / "out"))
    status = child(window, "statusLabel", QLabel)
    qtbot.waitUntil(lambda: status.text().startswith("Import COCO:"), timeout=30000)
    assert window.state.ds is None


def test_form_validation_names_the_key(window, qtbot):
    assert child(window, "validationLabel", QLabel).text() == ""   # nothing stale once a dataset is open
    child(window, "valFractionSpin").setEnabled(True)
    child(window, "splitColumnCombo", QComboBox).setCurrentIndex(0)   # (random split)
    child(window, "valFractionSpin").setValue(0.0)          # a random split needs a validation share
    label = child(window, "validationLabel", QLabel)
    assert "data.val_fraction" in label.text()
    child(window, "valFractionSpin").setValue(0.2)
    assert label.text() == ""


def test_s3_credentials_stay_in_memory(make_window, qtbot, tmp_path, isolated_settings):
    window = make_window()
    panel = window.datasetPanel
    panel.credsButton.setChecked(True)
    panel.endpointEdit.setText("http://127.0.0.1:9")          # nothing listens there
    panel.keyEdit.setText("AKIAEXAMPLEKEY")
    panel.secretEdit.setText("super-secret-value")
    child(window, "datasetUrlEdit", QLineEdit).setText("s3://bucket/dataset")
    qtbot.mouseClick(child(window, "openDatasetButton", QPushButton), Qt.MouseButton.LeftButton)
    status = child(window, "statusLabel", QLabel)
    qtbot.waitUntil(lambda: "127.0.0.1:9" in status.text() and not status.text().startswith("Opening"),
                    timeout=60000)
    window.close()
    written = "".join(p.read_text(errors="ignore") for p in isolated_settings.rglob("*") if p.is_file())
    assert written and "super-secret-value" not in written and "AKIAEXAMPLEKEY" not in written

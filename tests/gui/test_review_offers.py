"""The Review tab where fixes cannot be written: the sentence why, and its way out taken with one click (a new
branch from a tag, a Deep Lake 4 copy of a Deep Lake 3 dataset), then "Train from this commit" opens it."""
import shutil
from pathlib import Path

import deeplake
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPushButton

V3 = Path(__file__).resolve().parent.parent / "data" / "dl3_tiny"


def click(qtbot, window, name):
    qtbot.mouseClick(window.findChild(QPushButton, name), Qt.MouseButton.LeftButton)


def relabel_first_instance(window, qtbot, url, version=""):
    """Open `url` at `version`, propose a wrong class on row 0's first instance and take the relabel fix."""
    window.datasetPanel.open_url(url, version=version)
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == url, timeout=60000)
    panel = window.reviewPanel
    window.tabs.setCurrentWidget(panel)
    names = window.state.class_names
    label = int(window.state.mapped.read(0).labels[0])
    candidate = {"kind": "wrong_class", "row": 0, "score": 0.9, "annotation": 0, "prediction": -1, "label": label,
                 "proposed": (label + 1) % len(names), "training_row": False}
    found = {"run": "/runs/r1", "dataset": "/elsewhere/ds", "candidates": [candidate], "class_names": names,
             "rows": 1, "mode": "quick", "note": ""}
    panel._on_found((found, {}))
    assert "The run was trained on /elsewhere/ds, not on the dataset open" in panel.statusLabel.text()
    panel._on_found(({**found, "dataset": url}, {}))
    assert panel.runLabel.text() == "Run: r1"            # the list says which run it came from
    assert "trained on" not in panel.statusLabel.text()  # ... and it is the dataset open
    click(qtbot, window, "relabelButton")
    click(qtbot, window, "commitFixesButton")
    qtbot.waitUntil(lambda: panel.blocked is not None, timeout=60000)
    return panel, label, (label + 1) % len(names)


def test_a_tag_offers_a_new_branch_and_trains_from_it(make_window, qtbot, demo_small, tmp_path, screenshot_dir):
    url = str(tmp_path / "ds")
    shutil.copytree(demo_small, url)
    deeplake.open(url).tag("v1")
    window = make_window()
    panel, _, new = relabel_first_instance(window, qtbot, url, "v1")
    assert "tag v1" in panel.statusLabel.text() and window.findChild(QPushButton, "fixOfferButton").isVisible()
    qtbot.waitUntil(lambda: panel.view.array is not None, timeout=30000)
    window.grab().save(str(screenshot_dir / "gui_review_offer_branch.png"))
    click(qtbot, window, "fixOfferButton")
    qtbot.waitUntil(lambda: panel.committed != "", timeout=60000)
    assert panel.committed.startswith("segstudio-fixes-v1@") and panel.committed_url == url
    qtbot.waitUntil(panel.trainButton.isEnabled, timeout=60000)    # the commit's task has ended too
    click(qtbot, window, "trainFromCommitButton")
    qtbot.waitUntil(lambda: window.datasetPanel.version_spec() == panel.committed and window.state.ready,
                    timeout=60000)
    assert int(window.state.mapped.read(0).labels[0]) == new


def test_a_deep_lake_3_dataset_offers_a_copy_that_takes_the_fixes(make_window, qtbot, tmp_path, screenshot_dir):
    window = make_window()
    panel, label, new = relabel_first_instance(window, qtbot, str(V3))
    assert "Deep Lake 3.x" in panel.statusLabel.text()
    edit = window.findChild(QLineEdit, "fixCopyEdit")
    assert edit.isVisible() and edit.text().endswith("dl3_tiny-fixes")
    window.grab().save(str(screenshot_dir / "gui_review_offer_copy.png"))
    edit.setText(str(tmp_path / "copy"))
    click(qtbot, window, "fixOfferButton")
    qtbot.waitUntil(lambda: panel.committed != "", timeout=60000)
    assert panel.committed_url == str(tmp_path / "copy") and panel.committed.startswith("segstudio-fixes@")
    qtbot.waitUntil(panel.trainButton.isEnabled, timeout=60000)    # the commit's task has ended too
    click(qtbot, window, "trainFromCommitButton")
    qtbot.waitUntil(lambda: window.state.url == str(tmp_path / "copy") and window.state.ready, timeout=60000)
    assert int(window.state.mapped.read(0).labels[0]) == new


def test_a_fix_whose_annotation_an_earlier_commit_removed_is_left_out_and_the_rest_commit(
        make_window, qtbot, demo_small, tmp_path):
    url = str(tmp_path / "ds")
    shutil.copytree(demo_small, url)
    window = make_window()
    window.datasetPanel.open_url(url)
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == url, timeout=60000)
    panel, names = window.reviewPanel, window.state.class_names
    window.tabs.setCurrentWidget(panel)
    labels = [int(v) for v in window.state.mapped.read(0).labels]
    wrong = [{"kind": "wrong_class", "row": 0, "score": 0.9 - j / 10, "annotation": j, "prediction": -1,
              "label": labels[j], "proposed": (labels[j] + 1) % len(names), "training_row": False} for j in (0, 1)]
    panel._on_found(({"run": "/runs/r1", "dataset": url, "commit": str(window.state.mapped.ref),
                      "candidates": wrong, "class_names": names, "rows": 1, "mode": "quick", "note": ""}, {}))
    issues = panel.list
    issues.setCurrentIndex(issues.model().index(0))
    click(qtbot, window, "deleteButton")                           # batch 1: annotation 0 goes
    click(qtbot, window, "commitFixesButton")
    qtbot.waitUntil(lambda: panel.committed != "" and not panel.committer.is_running(), timeout=60000)
    for j in (0, 1):                                               # batch 2: a new class for 0 (gone) and 1
        issues.setCurrentIndex(issues.model().index(j))
        panel.classCombo.setCurrentIndex(wrong[j]["proposed"])
        click(qtbot, window, "relabelButton")
    first = panel.committed
    click(qtbot, window, "commitFixesButton")                      # refused whole: annotation 0 is gone
    qtbot.waitUntil(lambda: "left out" in panel.statusLabel.text() and not panel.committer.is_running(),
                    timeout=60000)
    assert "Row 0 changed since it was reviewed" in panel.statusLabel.text() and panel.committed == first
    assert len(panel.fixes) == 1 and "[left out]" in issues.model().index(0).data()
    click(qtbot, window, "commitFixesButton")                      # the other one goes in
    qtbot.waitUntil(lambda: panel.committed != first, timeout=60000)
    qtbot.waitUntil(panel.trainButton.isEnabled, timeout=60000)    # the commit's task has ended too
    click(qtbot, window, "trainFromCommitButton")
    qtbot.waitUntil(lambda: window.datasetPanel.version_spec() == panel.committed and window.state.ready,
                    timeout=60000)
    now = [int(v) for v in window.state.mapped.read(0).labels]
    assert now == [wrong[1]["proposed"]] + labels[2:]              # 0 deleted, 1 (now first) relabelled
    issues.setCurrentIndex(issues.model().index(1))                # the list is of the version reviewed:
    click(qtbot, window, "deleteButton")                           # not fixed from another version
    assert panel.fixes == [] and "were found on version" in panel.statusLabel.text()

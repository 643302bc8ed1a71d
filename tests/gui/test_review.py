"""The Review tab: find likely label errors with a run, fix them, undo, commit on a branch, train from it."""
import json
import shutil

import deeplake
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListView, QPushButton
from tiny_config import write_config

from segstudio.cli import main


@pytest.fixture(scope="module")
def reviewed_run(demo_dataset, tmp_path_factory):
    """A tiny run on a private copy of the demo dataset (the review writes to the dataset)."""
    tmp = tmp_path_factory.mktemp("review")
    data = tmp / "demo"
    shutil.copytree(demo_dataset, data)
    assert main(["train", "--config", str(write_config(tmp, str(data)))]) == 0
    return tmp / "runs" / "cli", str(data)


def click(qtbot, window, name):
    qtbot.mouseClick(window.findChild(QPushButton, name), Qt.MouseButton.LeftButton)


def test_review_fix_undo_commit_and_train_from_the_commit(make_window, qtbot, reviewed_run, screenshot_dir):
    run, url = reviewed_run
    window = make_window()
    window.open_dataset(url)
    qtbot.waitUntil(lambda: window.state.ready and window.state.url == url, timeout=60000)
    panel = window.reviewPanel
    window.tabs.setCurrentWidget(panel)
    panel.set_run(str(run))
    click(qtbot, window, "findIssuesButton")
    issues = window.findChild(QListView, "issueList")
    model = issues.model()
    qtbot.waitUntil(lambda: panel.result is not None and not panel.finder.is_running(), timeout=180000)
    if model.rowCount() == 0:
        pytest.skip("the tiny run proposed no candidate on this machine")
    qtbot.waitUntil(lambda: panel.view.array is not None, timeout=30000)
    if panel.result["note"]:                                             # an untrained run: it says so
        assert "weak model" in panel.statusLabel.text()
    window.grab().save(str(screenshot_dir / "gui_review.png"))

    fixable = next(i for i, c in enumerate(panel.result["candidates"]) if c["annotation"] >= 0)
    issues.setCurrentIndex(model.index(fixable))
    target = panel.candidate()
    window.activateWindow()
    issues.setFocus()
    qtbot.waitUntil(issues.hasFocus)
    qtbot.keyClick(issues, Qt.Key.Key_D)                                   # the keyboard, as a reviewer goes
    assert len(panel.fixes) == 1 and "[delete]" in model.index(fixable).data()
    assert panel.pendingLabel.text().startswith("1 fix waiting")
    qtbot.keyClick(issues, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # taken back before committing
    assert panel.fixes == [] and "[delete]" not in model.index(fixable).data()
    issues.setCurrentIndex(model.index(fixable))
    new_class = (target["label"] + 1) % len(window.state.class_names)
    qtbot.keyClick(issues, Qt.Key(Qt.Key.Key_1.value + new_class))       # 1-9 pick the class ...
    assert panel.classCombo.currentIndex() == new_class
    qtbot.keyClick(issues, Qt.Key.Key_C)                                   # ... C changes the label to it
    assert "[relabel]" in model.index(fixable).data()
    before = window.state.mapped.read(target["row"]).labels.tolist()
    main_before = deeplake.open_read_only(url).version
    click(qtbot, window, "commitFixesButton")
    qtbot.waitUntil(lambda: panel.committed != "", timeout=60000)
    assert panel.committed.startswith("segstudio-fixes@")
    assert deeplake.open_read_only(url).version == main_before           # main untouched
    qtbot.waitUntil(panel.trainButton.isEnabled, timeout=60000)    # the commit's task has ended too
    click(qtbot, window, "trainFromCommitButton")
    qtbot.waitUntil(lambda: window.datasetPanel.version_spec() == panel.committed and window.state.ready,
                    timeout=60000)
    after = window.state.mapped.read(target["row"]).labels.tolist()
    expected = list(before)
    expected[target["annotation"]] = new_class
    assert after == expected and window.tabs.currentWidget() is window.trainPanel
    assert window.trainPanel.config().data.version == panel.committed



def test_mark_correct_is_not_proposed_again(reviewed_run):
    from segstudio.engine.label_issues import Candidate
    from segstudio.engine.label_review import find_label_issues, mark_reviewed

    run, _ = reviewed_run
    result, _ = find_label_issues(str(run), checkpoint="last")
    if not result["candidates"]:
        pytest.skip("no candidate")
    top = Candidate(**result["candidates"][0])
    mark_reviewed(run, [top.key()])
    again, _ = find_label_issues(str(run), checkpoint="last")
    assert top.key() not in [Candidate(**c).key() for c in again["candidates"]]
    assert json.loads((run / "label_issues" / "reviewed.json").read_text())["correct"]


def test_cross_prediction_states_its_cost_and_asks_before_it_trains(make_window, qtbot, reviewed_run, screenshot_dir):
    from PySide6.QtWidgets import QMessageBox

    from segstudio.engine import rundir

    run, _ = reviewed_run
    trained = [e for e in rundir.read_metrics(run) if e.get("event") == "iteration"][-1]["iteration"]
    window = make_window()
    panel = window.reviewPanel
    window.tabs.setCurrentWidget(panel)
    panel.set_run(str(run))
    assert not panel.foldItersSpin.isEnabled()                         # the quick option trains nothing
    panel.foldsSpin.setValue(2)
    assert panel.foldItersSpin.isEnabled() and panel.foldItersSpin.text() == "as the run"
    click(qtbot, window, "findIssuesButton")
    box = panel.findChild(QMessageBox, "foldCostBox")
    assert box is not None and box.isVisible()
    assert f"2 trainings of {trained:,} iterations each" in box.text() and "minute" in box.text()
    box.grab().save(str(screenshot_dir / "gui_review_fold_cost.png"))
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(50)
    assert not panel.finder.is_running()                                # declined: nothing started
    panel.foldsSpin.setValue(1)
    click(qtbot, window, "findIssuesButton")
    assert "at least 2 folds" in panel.statusLabel.text() and not panel.finder.is_running()
    panel.foldsSpin.setValue(2)
    panel.foldItersSpin.setValue(2)                                     # a tiny choice, to keep the test short
    click(qtbot, window, "findIssuesButton")
    box = [b for b in panel.findChildren(QMessageBox, "foldCostBox") if b.isVisible()][-1]
    assert "2 trainings of 2 iterations each" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: panel.result is not None and not panel.finder.is_running(), timeout=300000)
    assert panel.result["mode"].startswith("2-fold cross-prediction")
    panel.branchEdit.setText("my-fixes")
    panel.branchEdit.editingFinished.emit()
    again = make_window().reviewPanel                                  # the next session starts from these choices
    assert (again.foldsSpin.value(), again.foldItersSpin.value(), again.foldItersSpin.isEnabled()) == (2, 2, True)
    assert again.branchEdit.text() == "my-fixes"


def test_the_candidate_list_shows_each_candidate_with_its_fixes_and_takes_one_back(qtbot):
    from segstudio.gui.candidate_list import CandidateList

    model = CandidateList()
    wrong = {"kind": "wrong_class", "row": 12, "score": 0.934, "label": 0, "proposed": 1, "training_row": False}
    missing = {"kind": "missing", "row": 3, "score": 0.5, "label": -1, "proposed": 2, "training_row": True}
    model.show([wrong, missing], ["circle", "square"])
    assert model.rowCount() == 2
    assert model.index(0).data() == "0.93  wrong class · row 12 · circle → square"
    assert model.index(1).data() == "0.50  missing annotation · row 3 · →   (training row)"   # class 2 unknown
    with qtbot.waitSignal(model.dataChanged):
        model.tag(0, "relabel")
    model.tag(0, "delete")
    model.tag(0, "relabel")
    model.untag(0, "relabel")                                        # the last one given goes
    assert model.index(0).data().endswith("circle → square  [relabel]  [delete]")
    model.show([missing], ["circle", "square", "star"])              # a new search starts unmarked
    assert model.index(0).data() == "0.50  missing annotation · row 3 · → star  (training row)"


def test_waiting_fixes_are_not_lost_by_closing_nor_committed_to_another_dataset(make_window, qtbot, screenshot_dir):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from segstudio.data.label_fixes import Fix

    window = make_window()
    panel = window.reviewPanel
    panel.fixes.append((Fix(0, "delete", 0), 0))
    panel.fixes_url = "/data/the-dataset-reviewed"                 # the window has no dataset open now
    panel.commit()
    assert "no longer open" in panel.statusLabel.text() and len(panel.fixes) == 1
    asked = []

    def answer_no(tries=[50]):                                     # noqa: B006 - counts down across calls
        box = window.findChild(QMessageBox, "discardFixesBox")
        if box is None or not box.isVisible():
            tries[0] -= 1
            if tries[0]:
                QTimer.singleShot(100, answer_no)
            return
        try:
            asked.append(box.text())
            box.grab().save(str(screenshot_dir / "gui_review_discard_fixes.png"))
        finally:                                                   # never leave the question open
            box.button(QMessageBox.StandardButton.No).click()
    QTimer.singleShot(100, answer_no)
    window.close()                                                 # No: the window stays, on the Review tab
    assert asked and asked[0].startswith("1 label fix is waiting") and window.isVisible()
    assert window.tabs.currentWidget() is panel
    window.confirm_discard_fixes = lambda n: asked.append(n) or True
    window.close()                                                 # Yes: it closes
    assert asked[1:] == [1] and not window.isVisible()

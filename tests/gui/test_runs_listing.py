"""Run folders are read off the GUI thread: a folder of many long runs never freezes the window (the runs
list, the Evaluation tab's table, the curves of ticked runs)."""
import json
import threading
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QListWidget

from segstudio.base.config import Config, dumps_config
from segstudio.engine import rundir
from segstudio.gui import runs_view
from segstudio.gui.runs_listing import RunsLister


def make_runs(folder, count, iterations=50):
    """`count` finished runs, each with a loadable config.toml and `iterations` iteration records."""
    for i in range(count):
        run = folder / f"run-{i:03d}"
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.toml").write_text(dumps_config(Config()))
        records = [{"event": "started", "run_dir": str(run), "total_iters": iterations}]
        records += [{"event": "iteration", "iteration": k + 1, "loss": 1.0} for k in range(iterations)]
        records += [{"event": "eval", "iteration": iterations, "epoch": 0,
                     "metrics": {"segm_map": i / 100, "bbox_map": 0.5}, "per_class": {"disc": {"segm_ap": 0.1}}},
                    {"event": "finished", "status": "completed", "iteration": iterations}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def record_reading_threads(monkeypatch, delay_s=0.002):
    """Slow reading of each run down a little and note which threads read run files."""
    threads = []
    real_summarize, real_read = rundir.summarize_run, rundir.read_metrics

    def summarize(run_dir):
        threads.append(threading.current_thread())
        time.sleep(delay_s)
        return real_summarize(run_dir)

    def read(run_dir):
        threads.append(threading.current_thread())
        return real_read(run_dir)
    monkeypatch.setattr(rundir, "summarize_run", summarize)
    monkeypatch.setattr(rundir, "read_metrics", read)
    monkeypatch.setattr(runs_view, "read_metrics", read)
    return threads


def test_the_window_lists_a_big_runs_folder_off_the_gui_thread(make_window, qtbot, tmp_path, monkeypatch):
    runs_dir = make_runs(tmp_path / "runs", 60)
    threads = record_reading_threads(monkeypatch)
    window = make_window()
    edit = window.findChild(QLineEdit, "runsDirEdit")
    edit.setText(str(runs_dir))
    edit.editingFinished.emit()
    runs, combo = window.findChild(QListWidget, "runList"), window.findChild(QComboBox, "evalRunCombo")
    qtbot.waitUntil(lambda: runs.count() == 60 and combo.count() == 60, timeout=30000)
    assert "completed, 50 it, best mask AP" in runs.item(0).text()
    combo.setCurrentIndex(combo.findData(str(runs_dir / "run-007")))   # its last evaluation, from the listing
    assert "run-007, epoch 1" in window.evalPanel.summaryLabel.text()
    assert window.evalPanel.apTable.rowCount() == 1
    runs.item(3).setCheckState(Qt.CheckState.Checked)                   # overlay a run's curves
    qtbot.waitUntil(lambda: bool(window.trainPanel.curves._overlays), timeout=30000)
    assert threads and threading.main_thread() not in threads


def test_requests_during_a_listing_collapse_into_one_of_the_newest_folder(qtbot, tmp_path, monkeypatch):
    first, second = make_runs(tmp_path / "a", 20), make_runs(tmp_path / "b", 3)
    record_reading_threads(monkeypatch, delay_s=0.01)
    lister = RunsLister(lambda path: path[-3:])
    listed = []
    lister.listed.connect(lambda folder, rows: listed.append((folder, rows)))
    lister.refresh(str(first))
    for _ in range(5):
        lister.refresh(str(second))
    qtbot.waitUntil(lambda: bool(listed) and not lister.busy(), timeout=30000)
    assert [folder for folder, _ in listed] == [str(second)]   # the overtaken listing is not shown
    assert sorted(extra for _, extra in listed[0][1]) == ["000", "001", "002"]

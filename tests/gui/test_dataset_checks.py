"""The window's classes and checks on a big dataset: the counts fill in with progress, and a dataset
version seen before answers from the report cache without reading its rows again."""
from __future__ import annotations

from segstudio.data import class_counts as cc
from segstudio.data import counts_report
from segstudio.data.mapped import open_mapped
from segstudio.gui import dataset_checks
from segstudio.gui.dataset_checks import DatasetChecks
from segstudio.gui.state import DatasetState


def _checks(qtbot, url: str) -> DatasetChecks:
    state = DatasetState()
    checks = DatasetChecks(state)
    qtbot.addWidget(checks)
    state.set_dataset(open_mapped(url))
    return checks


def test_counts_fill_in_with_progress_then_come_from_the_cache(qtbot, demo_dataset, monkeypatch):
    monkeypatch.setattr(cc, "CHUNK", 8)                 # 48 rows: six steps of progress
    monkeypatch.setattr(dataset_checks, "_throttled", lambda progress, every_s=0: progress)
    calls, titles = [], []
    real = counts_report.class_counts

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(counts_report, "class_counts", counting)
    checks = _checks(qtbot, demo_dataset)
    checks.task.progress.connect(lambda values: titles.append(checks.classesBox.title()))
    checks.start()
    qtbot.waitUntil(lambda: checks.preflightTree.topLevelItemCount() and "(" in checks.classList.item(0).text()
                    and not checks.task.busy(), timeout=60000)
    assert calls == [1] and "counting instances: 8 of 48 rows" in " ".join(titles)
    counted = [checks.classList.item(i).text() for i in range(checks.classList.count())]
    again = _checks(qtbot, demo_dataset)
    again.start()
    qtbot.waitUntil(lambda: "(" in again.classList.item(0).text() and not again.task.busy(), timeout=60000)
    assert calls == [1] and [again.classList.item(i).text() for i in range(again.classList.count())] == counted


def test_the_sampled_check_shows_its_progress(qtbot, demo_dataset, monkeypatch):
    from segstudio.data import preflight as pf

    monkeypatch.setattr(dataset_checks, "PREFLIGHT_ROWS", 16)    # 48 rows: a sample of 16, in batches of 4
    monkeypatch.setattr(pf, "_BATCH", 4)
    monkeypatch.setattr(dataset_checks, "_throttled", lambda progress, every_s=0: progress)
    checks = _checks(qtbot, demo_dataset)
    shown = []
    checks.task.progress.connect(lambda values: shown.append(checks.preflightTree.topLevelItem(0).text(0)))
    checks.start()
    qtbot.waitUntil(lambda: checks._counts is not None and not checks.task.busy(), timeout=60000)
    assert "Checking a fixed sample of 16 of 48 rows: 8 done ..." in shown
    assert checks.preflightTree.topLevelItem(0).text(0).startswith("A fixed sample of 16 of 48 rows was checked")


def test_the_first_row_is_on_screen_before_the_counts_and_checks_start(qtbot, demo_dataset, monkeypatch):
    """Started together, the counting worker took the GIL from the row's render on a big dataset."""
    from segstudio.gui.dataset_panel import DatasetPanel
    from segstudio.gui.workers import RenderService

    renderer = RenderService()
    panel = DatasetPanel(DatasetState(), renderer)
    qtbot.addWidget(panel)
    row_shown_at_start = []
    real_start = panel.checks.start

    def start():
        row_shown_at_start.append(panel.sample.previewView.array is not None)
        real_start()
    monkeypatch.setattr(panel.checks, "start", start)
    panel.open_url(demo_dataset)
    qtbot.waitUntil(lambda: panel.checks._counts is not None and not panel.checks.task.busy(),
                    timeout=60000)
    assert row_shown_at_start == [True] and "(" in panel.checks.classList.item(0).text()
    panel.state.set_dataset(open_mapped(demo_dataset))     # opened again: no figures of the last open shown
    assert "(" not in panel.checks.classList.item(0).text() and panel.checks._counts is None
    qtbot.waitUntil(lambda: panel.checks._counts is not None and not panel.checks.task.busy(),
                    timeout=60000)
    renderer.shutdown()
    assert row_shown_at_start == [True, True]

"""The Training tab's runs list: the runs folder listed off the GUI thread, a run selected to resume or extend,
runs ticked to overlay their curves (read off the GUI thread) or, two of them, to compare.

It says what the user asked through signals; the Training tab starts runs and draws curves.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segstudio.engine.events import events_from
from segstudio.engine.rundir import read_metrics
from segstudio.gui.runs_listing import RunsLister
from segstudio.gui.workers import LatestTask

RUN_STATUS_ROLE = Qt.ItemDataRole.UserRole + 1


def read_runs_metrics(paths: tuple, should_stop) -> list:
    """Every event of each run's metrics.jsonl (off the GUI thread: a long run's file is tens of MB)."""
    return [[] if should_stop() else events_from(read_metrics(path)) for path in paths]


class RunsView(QGroupBox):
    message = Signal(str, bool)
    runSelected = Signal(str)             # a past run's folder
    resumeRequested = Signal(str)         # the run to continue
    extendRequested = Signal(str, int)    # the run, epochs to add
    compareRequested = Signal(str, str)   # run A (older), run B (newer)
    overlaysRead = Signal(object, object)  # the ticked runs' folders, each one's events

    def __init__(self, runs_dir_fn: Callable[[], str], describe_split: Callable[[str], str],
                 parent: QWidget | None = None):
        super().__init__("Runs (select one to resume or extend it; tick to overlay its curves; tick two to compare)",
                         parent)
        self.runs_dir_fn = runs_dir_fn
        self._running, self._run_dir = False, ""
        self.lister = RunsLister(describe_split, self)
        self.lister.listed.connect(self._fill)
        self.lister.failed.connect(lambda m: self.message.emit(m, True))
        self.overlayReader = LatestTask(read_runs_metrics, "read the ticked runs' metrics", self)
        self.overlayReader.ready.connect(self._on_overlays_read)
        self.overlayReader.failed.connect(lambda m: self.message.emit(m, True))
        self._build()

    def _build(self) -> None:
        self.runList = QListWidget(objectName="runList")
        self.runList.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runList.itemSelectionChanged.connect(self._on_selected)
        self.runList.itemChanged.connect(self._on_ticked)
        self.runList.setMaximumHeight(96)
        refresh = QPushButton("Refresh", objectName="refreshRunsButton", clicked=self.refresh)
        self.resumeButton = QPushButton("Resume", objectName="resumeButton", clicked=self.resume_selected)
        self.resumeButton.setToolTip("Continue the selected run from its last checkpoint")
        self.extendSpin = QSpinBox(objectName="extendEpochsSpin", minimum=1, maximum=10000, value=5)
        self.extendButton = QPushButton("Extend", objectName="extendButton", clicked=self.extend_selected)
        self.extendButton.setToolTip("Add the given number of epochs to the selected run and continue")
        self.resumeWithFormCheck = QCheckBox("with the form's optimiser", objectName="resumeWithFormCheck")
        self.resumeWithFormCheck.setToolTip("Resume/Extend with this form's optimiser settings (learning rate, "
                                            "momentum, weight decay, optimizer, schedule, warm-up) instead of "
                                            "the run's; the run's config.toml records the change")
        self.compareTickedButton = QPushButton("Compare", objectName="compareTickedButton", enabled=False,
                                               clicked=self.compare_ticked)
        self.compareTickedButton.setToolTip("Tick two runs: the older one (A) against the newer (B) in the "
                                            "Evaluation tab's Compare view (as `segstudio compare A B`)")
        row = QHBoxLayout()
        for w in (refresh, self.compareTickedButton, self.resumeButton, self.resumeWithFormCheck, self.extendButton,
                  QLabel("by"), self.extendSpin, QLabel("epochs")):
            row.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addWidget(self.runList)
        layout.addLayout(row)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    # ---- state from the Training tab ----------------------------------------------------------
    def set_running(self, running: bool, run_dir: str = "") -> None:
        """A run started or ended: its row says "running", and Resume/Extend wait for it."""
        self._running, self._run_dir = running, run_dir
        self._update_buttons()

    def with_form_optimiser(self) -> bool:
        return self.resumeWithFormCheck.isChecked()

    def readers(self) -> list:
        return self.lister.readers() + self.overlayReader.readers()

    # ---- the list -----------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """List the runs folder in the background; `_fill` shows it."""
        self.lister.refresh(self.runs_dir_fn())

    @Slot(str, object)
    def _fill(self, runs_dir: str, rows: list) -> None:
        """Show a listing; the selection and the ticked overlays stay as they were."""
        if runs_dir != self.runs_dir_fn():
            return   # the folder was changed since: its own listing follows
        selected, ticked = set(self.selected_runs()), set(self.overlaid_runs())
        self.runList.blockSignals(True)
        self.runList.clear()
        for r, split in rows:
            status = "running" if self._running and r.path == self._run_dir else r.status
            best = f", best mask AP {r.best_metric:.3f}" if r.best_metric is not None else ""
            item = QListWidgetItem(f"{r.name}  [{status}, {r.iteration} it{best}, {split}]")
            item.setData(Qt.ItemDataRole.UserRole, r.path)
            item.setData(RUN_STATUS_ROLE, status)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if r.path in ticked else Qt.CheckState.Unchecked)
            item.setToolTip("Tick to draw this run's curves faintly beside the current ones")
            self.runList.addItem(item)
            item.setSelected(r.path in selected)
        self.runList.blockSignals(False)
        self._update_buttons()

    def selected_runs(self) -> list[str]:
        return [i.data(Qt.ItemDataRole.UserRole) for i in self.runList.selectedItems()
                if i.data(Qt.ItemDataRole.UserRole)]

    def overlaid_runs(self) -> list[str]:
        items = (self.runList.item(i) for i in range(self.runList.count()))
        return [i.data(Qt.ItemDataRole.UserRole) for i in items if i.checkState() == Qt.CheckState.Checked]

    def _update_buttons(self) -> None:
        """Resume needs a selected run that can continue (not completed: Extend adds epochs to those);
        neither acts while a run trains or with nothing selected. Compare needs two ticked runs."""
        items = self.runList.selectedItems()
        status = items[0].data(RUN_STATUS_ROLE) if items else None
        idle = not self._running
        self.resumeButton.setEnabled(idle and status not in (None, "completed", "running"))
        self.extendButton.setEnabled(idle and status not in (None, "running"))
        self.resumeButton.setToolTip("Continue the selected run from its last checkpoint" if status != "completed"
                                     else "This run completed: Extend adds epochs to it")
        self.compareTickedButton.setEnabled(len(self.overlaid_runs()) == 2)

    @Slot()
    def _on_selected(self) -> None:
        self._update_buttons()
        runs = self.selected_runs()
        if runs:
            self.runSelected.emit(runs[0])

    @Slot()
    def _on_ticked(self, *_):
        """Read the ticked runs' metrics in the background; `overlaysRead` hands them on."""
        self.overlayReader.request(tuple(self.overlaid_runs()))
        self.compareTickedButton.setEnabled(len(self.overlaid_runs()) == 2)

    @Slot(object, object)
    def _on_overlays_read(self, paths: tuple, metrics: list) -> None:
        if paths == tuple(self.overlaid_runs()):   # else ticked or unticked since: the newer request follows
            self.overlaysRead.emit(paths, metrics)

    # ---- actions ------------------------------------------------------------------------------
    def compare_ticked(self) -> None:
        """Two ticked runs: the older (lower in the newest-first list) is A, the newer B."""
        runs = self.overlaid_runs()
        if len(runs) != 2:
            self.message.emit("Tick exactly two runs in the list to compare them.", True)
            return
        self.compareRequested.emit(runs[1], runs[0])

    def resume_selected(self) -> None:
        runs = self.selected_runs()
        if not runs:
            self.message.emit("Select a run in the list to resume it.", True)
            return
        self.resumeRequested.emit(runs[0])

    def extend_selected(self) -> None:
        runs = self.selected_runs()
        if not runs:
            self.message.emit("Select a run in the list to extend it.", True)
            return
        self.extendRequested.emit(runs[0], self.extendSpin.value())

"""The segstudio window: Dataset, Augmentation, Training (with live curves) and Evaluation tabs."""
from __future__ import annotations

import os

from PySide6.QtCore import QByteArray, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from segstudio.base.config import DataConfig, config_from_dict
from segstudio.base.errors import UserError
from segstudio.gui import settings
from segstudio.gui.augment_panel import AugmentPanel
from segstudio.gui.dataset_panel import DatasetPanel
from segstudio.gui.eval_panel import EvalPanel
from segstudio.gui.process_policy import calm_gc
from segstudio.gui.review_panel import ReviewPanel
from segstudio.gui.sample_view import CHANNEL as DATASET_CHANNEL
from segstudio.gui.state import DatasetState
from segstudio.gui.train_panel import TrainPanel
from segstudio.gui.widgets import WheelGuard
from segstudio.gui.workers import RenderService

TEXT_KINDS = ("text", "class_label", "scalar")
# form settings that change what the Augmentation tab's audit describes (the model's anchors, the rows)

class MainWindow(QMainWindow):
    """Build once a QApplication exists. Scripts drive it through the objectNames of its widgets."""

    loaded = Signal()   # the first dataset row is on screen (or opening it failed)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("segstudio")
        WheelGuard.install()
        self.state = DatasetState(self)
        self.renderer = RenderService(self)
        self._loaded = False
        self._close_after_training = False
        self._discard_fixes_asked = False   # Yes to discarding waiting label fixes: not asked again
        self._closed = False

        self.datasetPanel = DatasetPanel(self.state, self.renderer)
        self.trainPanel = TrainPanel(self._config_parts)
        # the audit describes the run the form would start
        self.augmentPanel = AugmentPanel(self.state, self.renderer, image_size_fn=self.trainPanel.image_size,
                                         config_fn=self.trainPanel.config)
        self.evalPanel = EvalPanel(self.trainPanel.runs_dir, self.renderer)
        self.tabs = QTabWidget(objectName="mainTabs")
        self.tabs.addTab(self.datasetPanel, "1 Dataset")
        self.tabs.addTab(self.augmentPanel, "2 Augmentation")
        self.tabs.addTab(self.trainPanel, "3 Training")
        self.tabs.addTab(self.evalPanel, "4 Evaluation")
        self.reviewPanel = ReviewPanel(self.state, self.renderer)
        self.tabs.addTab(self.reviewPanel, "5 Review")
        self.setCentralWidget(self.tabs)

        self.statusLabel = QLabel("Ready.", objectName="statusLabel")
        self.statusLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.statusLabel, 1)
        self._connect()
        self._shortcuts()
        self._restore()
        self.evalPanel.refresh_runs()
        calm_gc(collect=True)

    # ---- wiring -------------------------------------------------------------------------------
    def _connect(self) -> None:
        for panel in (self.datasetPanel, self.augmentPanel, self.trainPanel, self.evalPanel, self.reviewPanel):
            panel.message.connect(self.show_message)
        self.trainPanel.runSelected.connect(self.reviewPanel.set_run)
        self.reviewPanel.trainFrom.connect(self._train_from)
        self.datasetPanel.runs_dir_fn = self.trainPanel.runs_dir
        # one row for both tabs: picking it on either shows it on the other
        self.datasetPanel.rowChanged.connect(self.augmentPanel.set_row)
        self.augmentPanel.rowChanged.connect(self.datasetPanel.show_row)
        self.trainPanel.imageSizeChanged.connect(self.augmentPanel.refresh_preset)
        self.trainPanel.seedChanged.connect(self.augmentPanel.set_seed)
        self.trainPanel.trainingFinished.connect(self._on_training_finished)
        self.trainPanel.runningChanged.connect(self._on_running_changed)
        self.trainPanel.runSelected.connect(self.evalPanel.select_run)
        self.trainPanel.compareRequested.connect(self._compare_runs)
        self.trainPanel.configLoaded.connect(self.on_config_loaded)
        self.trainPanel.starting.connect(self._export_credentials)
        self.trainPanel.runsDirChanged.connect(self.evalPanel.refresh_runs)
        self.augmentPanel.auditAdviceChanged.connect(self.trainPanel.set_audit_advice)
        self.trainPanel.auditedSettingsChanged.connect(self.augmentPanel.audit_settings_changed)
        self.state.changed.connect(self._on_dataset_changed)
        self.datasetPanel.opened.connect(self.trainPanel.propose_split_column)
        first = self.renderer.channel(DATASET_CHANNEL)   # the first row drawn (or not): the window is loaded
        first.resultReady.connect(self._mark_loaded)
        first.failed.connect(self._mark_loaded)
        self.datasetPanel.openFailed.connect(lambda _m: self._mark_loaded())

    def _shortcuts(self) -> None:
        def add(keys, slot):
            for key in keys:
                QShortcut(QKeySequence(key), self, activated=slot,
                          context=Qt.ShortcutContext.ApplicationShortcut)
        add(["Ctrl+O"], self._focus_open)
        add(["Ctrl+R"], self.augmentPanel.reroll)
        add(["Ctrl+Return", "Ctrl+Enter"], lambda: self.trainPanel.start())
        add(["Ctrl+."], self.trainPanel.stop)   # not Esc: Esc leaves a field or a popup, and it ended runs
        add(["Ctrl+S"], self.trainPanel.save_config_dialog)
        add(["Ctrl+Q"], self.close)
        for i in range(self.tabs.count()):
            add([f"Alt+{i + 1}"], lambda i=i: self.tabs.setCurrentIndex(i))

    def _focus_open(self) -> None:
        self.tabs.setCurrentWidget(self.datasetPanel)
        self.datasetPanel.open_or_focus()

    # ---- public API ---------------------------------------------------------------------------
    def open_dataset(self, url: str) -> None:
        """Open a dataset by path or URL, as typing it and pressing Open does."""
        self.datasetPanel.open_url(url)

    @Slot(str, bool)
    def show_message(self, text: str, error: bool = False) -> None:
        self.statusLabel.setText(text)
        self.statusLabel.setToolTip(text)
        self.statusLabel.setStyleSheet("color: #b00020;" if error else "")

    def on_config_loaded(self, cfg) -> None:
        """A config was loaded in the Training tab: the augmentation panel shows its augment section."""
        self.augmentPanel.set_augment_config(cfg.augment)
        if cfg.data.query:
            self.datasetPanel.set_query(cfg.data.query)
        if cfg.data.url and cfg.data.url != self.state.url:
            self.show_message(f"The config names dataset {cfg.data.url}; open it on the Dataset tab to use it.")

    # ---- callbacks ----------------------------------------------------------------------------
    def _config_parts(self):
        st = self.state
        if st.ds is None:
            raise UserError("No dataset is open; open one on the Dataset tab first.")
        if st.mapping is None:
            raise UserError("The dataset's columns are not chosen; pick the images, masks, boxes and labels "
                            "columns on the Dataset tab.")
        data = DataConfig(url=st.url, endpoint_url=st.endpoint_url, version=self.datasetPanel.version_spec(),
                          query=self.datasetPanel.query(),
                          images=st.mapping.images,
                          masks=st.mapping.masks, boxes=st.mapping.boxes, labels=st.mapping.labels,
                          iscrowd=st.mapping.iscrowd)
        return data, self.augmentPanel.augment_config()

    @Slot()
    def _export_credentials(self) -> None:
        """A run starts: the engine reads s3 credentials from the environment. Set there only now (not while
        the form is edited), they stay in this process's memory (never in the run card, settings or logs)."""
        creds = self.datasetPanel.credentials()
        if creds and self.state.url.startswith("s3://"):
            os.environ.update({k.upper(): v for k, v in creds.items()})

    @Slot()
    def _on_dataset_changed(self) -> None:
        self._on_running_changed(self.trainPanel.is_running())
        info = self.state.info
        if info is not None:
            self.trainPanel.set_split_columns([c.name for c in info.columns if c.kind in TEXT_KINDS
                                               and c.name != getattr(self.state.mapping, "labels", "")])
        self.trainPanel.set_dataset_rows(self.state.num_rows if info is not None else 0)

    def _mark_loaded(self, *_) -> None:
        if not self._loaded:
            self._loaded = True
            self.loaded.emit()

    @Slot(bool)
    def _on_running_changed(self, running: bool = False) -> None:
        # Qt appends the application display name ("— segstudio"), so the title names only the dataset
        self.setWindowTitle(f"{self.state.url}{' (training)' if running else ''}")

    @Slot(str)
    def _train_from(self, url: str, version: str) -> None:
        """Review committed label fixes: open the dataset (or the copy they went to) at that commit and go to
        the Training tab."""
        url = url or self.state.url
        self.datasetPanel.open_url(url, version=version)
        self.tabs.setCurrentWidget(self.trainPanel)
        self.show_message(f"Opening {url} at {version}; press Start to train on the fixed labels.")

    @Slot(str, str)
    def _compare_runs(self, run_a: str, run_b: str) -> None:
        """Tick two runs and Compare: the Evaluation tab's Compare view, A against B."""
        self.tabs.setCurrentWidget(self.evalPanel)
        self.evalPanel.compare_pair(run_a, run_b)

    @Slot(object)
    def _on_training_finished(self, result) -> None:
        self.evalPanel.refresh_runs()
        self.datasetPanel.refresh_version_runs()
        if result.get("run_dir"):
            self.evalPanel.select_run(result["run_dir"])
            self.reviewPanel.set_run(result["run_dir"])
        if self._close_after_training:
            self.close()

    # ---- settings and closing -----------------------------------------------------------------
    def _restore(self) -> None:
        geometry = settings.load_value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1360, 860)
        last = settings.load_value("config/last")
        if isinstance(last, str) and last.strip():
            try:
                import tomllib
                cfg = config_from_dict(tomllib.loads(last))
            except (UserError, ValueError):
                return  # an outdated or broken saved config: keep the defaults
            cfg.train.run_name = ""   # a name is for one run: kept, every launch made name-2, name-3 ... name-6
            self.trainPanel.apply_config(cfg)
            self.augmentPanel.set_augment_config(cfg.augment)

    def _save_settings(self) -> None:
        settings.save_value("window/geometry", self.saveGeometry())
        try:
            from segstudio.base.config import dumps_config
            settings.save_value("config/last", dumps_config(self.trainPanel.config()))
        except UserError:
            pass  # no dataset open or an invalid form: keep the previous values

    def confirm_close_during_training(self) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          "A training run is in progress. Stop it (the last checkpoint is kept) and close?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("closeQuestionBox")
        box.setDefaultButton(QMessageBox.StandardButton.No)

        def ended(_result) -> None:   # the run may end while the question is open: say so, not "in progress"
            box.setWindowTitle("Training has ended")
            box.setText("The training run has ended. Close segstudio?")
        self.trainPanel.trainingFinished.connect(ended)
        try:
            return box.exec() == QMessageBox.StandardButton.Yes
        finally:
            self.trainPanel.trainingFinished.disconnect(ended)

    def confirm_discard_fixes(self, waiting: int) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, "Label fixes not committed",
                          f"{waiting} label fix{'es are' if waiting > 1 else ' is'} waiting on the Review tab, not "
                          f"committed. Close and discard {'them' if waiting > 1 else 'it'}?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("discardFixesBox")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        # fixes being committed are not lost: closing waits for the commit (shutdown)
        waiting = 0 if self.reviewPanel.committer.is_running() else len(self.reviewPanel.fixes)
        if waiting and not self._closed and not self._discard_fixes_asked:
            if not self.confirm_discard_fixes(waiting):
                self.tabs.setCurrentWidget(self.reviewPanel)
                event.ignore()
                return
            self._discard_fixes_asked = True
        if self.trainPanel.is_running() and not self._close_after_training:
            if not self.confirm_close_during_training():
                self._discard_fixes_asked = False    # not closing after all: fixes made later are asked about
                event.ignore()
                return
            self._close_after_training = True
        if self.trainPanel.is_running():  # the run may have ended while the question was open: then close now
            self.trainPanel.stop()
            self.show_message("Stopping training before closing ...")
            event.ignore()
            return
        if not self._closed:
            self._closed = True
            self._save_settings()
            self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop background threads (render loop, open/check tasks); called when the window closes."""
        self.renderer.shutdown()
        writers = self.datasetPanel.writers() + self.reviewPanel.writers()
        readers = (self.datasetPanel.readers() + self.evalPanel.readers() + self.trainPanel.readers()
                   + self.reviewPanel.readers() + self.augmentPanel.readers())
        for runner in writers + readers:
            runner.request_stop()
        for runner in writers:
            runner.wait(30000)    # the import stops between chunks, leaving a dataset that --resume continues
        for runner in readers:
            # Read-only work, safe to abandon: a call into an unreachable server (s3://...) can block for
            # a minute and cannot be interrupted, and waiting for it froze the closing window.
            runner.wait(2000)

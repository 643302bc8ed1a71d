"""Training panel: the hyperparameter form, Start/Stop/Resume/Extend, progress, live curves, past runs."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segstudio.base.advice import run_warnings
from segstudio.base.config import (
    OPTIMISER_SETTINGS,
    Config,
    changed_settings,
    dumps_config,
    load_config,
    save_config,
    validate,
    with_panels,
)
from segstudio.base.config_presets import load_preset, preset_names
from segstudio.base.errors import UserError
from segstudio.engine.events import (
    BadRowEvent,
    ErrorEvent,
    EvalEvent,
    EvaluatingEvent,
    IterationEvent,
    StartedEvent,
    WarningEvent,
    events_from,
    format_duration,
)
from segstudio.engine.rundir import load_run_config, read_metrics
from segstudio.gui import config_form, settings
from segstudio.gui.curves import CurvesWidget
from segstudio.gui.process_policy import hold_full_collections, import_evaluation_libraries, release_gc
from segstudio.gui.runs_view import RunsView
from segstudio.gui.series import readout
from segstudio.gui.weights_field import WeightsRow, confirm_missing_weights
from segstudio.gui.widgets import ElidedLabel, hbox, vbox
from segstudio.gui.workers import TrainingRunner, describe_exception

# settings the augmentation audit depends on besides the pipeline (it is marked stale when one changes)
AUDITED_SETTINGS = ("model.arch", "data.split_column", "data.val_fraction", "train.repeat_factor_threshold",
                    "train.seed")


def format_eta(seconds: float) -> str:
    """The run's estimated time left; --:-- until the first iterations give an estimate."""
    if not seconds or seconds != seconds or seconds < 0:
        return "--:--"
    return format_duration(seconds)


_SPLIT_TEXTS: dict[str, tuple[int, str]] = {}   # run folder -> (config.toml's mtime_ns, text)


def split_text(run_dir: str) -> str:
    """Which dataset and validation split a run used, in a few words (AP figures compare only on the same
    split). Reads the run's config.toml once (until it changes): called by the runs listing, off the GUI thread."""
    try:
        stamp = (Path(run_dir) / "config.toml").stat().st_mtime_ns
        if run_dir not in _SPLIT_TEXTS or _SPLIT_TEXTS[run_dir][0] != stamp:
            data = load_run_config(run_dir).data
            at = f" at {data.version}" if data.version else ""
            _SPLIT_TEXTS[run_dir] = (stamp, f"{dataset_name(data.url)}{at}, {describe_split(data)}")
        return _SPLIT_TEXTS[run_dir][1]
    except (UserError, OSError):
        return "split unknown"


def dataset_name(url: str) -> str:
    """A dataset's last path part ("demo", "coco128"), the whole URL when it has none."""
    return url.rstrip("/").rsplit("/", 1)[-1] or url


def describe_split(data) -> str:
    if data.split_column:
        return f"split by column '{data.split_column}'"
    return f"random {data.val_fraction:.0%} validation split (seed {data.split_seed})"


def train_in_thread(*args, **kwargs):
    """engine.train, imported in the training thread: its imports (torchvision's detection models) took
    seconds at the first Start, on the GUI thread, and froze the window. The evaluation's libraries are
    imported now too, not at the first evaluation mid-run (see import_evaluation_libraries)."""
    import_evaluation_libraries()
    from segstudio.engine.train import train
    return train(*args, **kwargs)


class TrainPanel(QWidget):
    message = Signal(str, bool)
    runningChanged = Signal(bool)
    trainingFinished = Signal(object)   # the finished dict
    runSelected = Signal(str)           # a past run's folder
    configLoaded = Signal(object)       # a config file or preset filled the form (the window shows its augment)
    starting = Signal()                 # a run is about to start (the window hands it the S3 credentials)
    runsDirChanged = Signal()           # the runs folder was edited or browsed to
    imageSizeChanged = Signal(int)      # the form's image size (the augmentation presets are sized by it)
    seedChanged = Signal(int)           # the form's seed (the augmentation preview draws with it)
    auditedSettingsChanged = Signal()   # a setting the augmentation audit depends on besides the pipeline
    compareRequested = Signal(str, str)  # two ticked runs: (A, B)

    def __init__(self, config_parts, parent: QWidget | None = None):
        """`config_parts()` returns (DataConfig, AugmentConfig) from the dataset and augmentation panels."""
        super().__init__(parent)
        self.config_parts = config_parts
        self._dataset_rows = 0         # the open dataset's row count (set_dataset_rows), for the advice
        self.audit_advice = ""         # the Augmentation tab's audit of the current pipeline, in one line
        self.base = Config()
        try:
            self.base = load_preset()
        except UserError:
            pass
        self.runner = TrainingRunner(self)
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(self._on_finished)
        self.runs = RunsView(self.runs_dir, split_text, self)
        self.runs.message.connect(self.message)
        self.runs.runSelected.connect(self.runSelected)
        self.runs.compareRequested.connect(self.compareRequested)
        self.runs.resumeRequested.connect(lambda run: self.start(resume=run))
        self.runs.extendRequested.connect(lambda run, epochs: self.start(resume=run, extend_epochs=epochs))
        self.runs.overlaysRead.connect(self._show_overlays)
        self.run_dir = ""
        self.last_result: dict | None = None
        self._epochs = 0
        self._progress_text = ""
        self._split_note = ""
        self._has_accelerator: bool | None = None   # CUDA or MPS present (asked once, when first needed)
        self._build()
        self._fill_form(self.base)
        for w in self.editors.values():
            config_form.changed_signal(w).connect(self.validate_live)
        self.refresh_runs()

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.validationLabel = QLabel("", objectName="validationLabel", wordWrap=True)
        self.validationLabel.setStyleSheet("color: #b00020;")
        self.adviceLabel = QLabel("", objectName="adviceLabel", wordWrap=True)
        self.adviceLabel.setStyleSheet("color: #8a5a00;")
        self.startButton = QPushButton("Start", objectName="startButton", clicked=lambda: self.start())
        self.startButton.setToolTip("Start training (Ctrl+Enter)")
        self.startButton.setStyleSheet("font-weight: bold;")
        self.stopButton = QPushButton("Stop", objectName="stopButton", clicked=self.stop, enabled=False)
        self.stopButton.setToolTip("Stop after the current iteration; last.pt is kept (Ctrl+.)")
        left = vbox(self._build_file_buttons(), (self._build_form(), 1), self.validationLabel, self.adviceLabel,
                    hbox((self.startButton, 1), (self.stopButton, 1)), self.runs)

        self.progressBar = QProgressBar(objectName="progressBar", format="idle", value=0, textVisible=True)
        self.readoutLabel = ElidedLabel(objectName="readoutLabel")
        # text that changes every iteration must not size the window: a long readout widened it past a
        # laptop screen (1360 -> 1475 px, saved on close); what does not fit ends in "…", the tooltip has it all
        self.readoutLabel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progressBar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.readoutLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curves = CurvesWidget()
        self.lossPlot, self.speedPlot = self.curves.lossPlot, self.curves.speedPlot
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(vbox(self.progressBar, self.readoutLabel, (self.curves, 1)))
        split.setStretchFactor(1, 1)
        split.setSizes([380, 900])
        QVBoxLayout(self).addWidget(split)

    def _build_form(self) -> QScrollArea:
        """One editor per config key (config_form.GROUPS), grouped, in a scroll area."""
        self.editors: dict[str, QWidget] = {}
        boxes = []
        for group, rows in config_form.GROUPS.items():
            box = QGroupBox(group)
            form = QFormLayout(box)
            for key, label, name in rows:
                w = self.editors[key] = config_form.make_editor(key, name)
                if key == "model.weights":   # what is present, Download... and File...
                    w = self.weightsRow = WeightsRow(w, self.editors["model.arch"])
                elif key == "train.lr":
                    w = hbox((w, 1), QPushButton("Find...", objectName="findLrButton", clicked=self.find_lr,
                                                 toolTip="Run the learning-rate range test on this data and "
                                                         "model (a short sweep; nothing is written)"))
                elif key == "train.runs_dir":
                    w.editingFinished.connect(self._on_runs_dir_edited)
                    w = hbox((w, 1), QPushButton("Browse...", objectName="runsDirBrowseButton",
                                                 clicked=self._pick_runs_dir))
                if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                    self._say_corrections(w, label)
                form.addRow(label, w)
            boxes.append(box)
        self.editors["data.split_column"].currentTextChanged.connect(self._on_split_column)
        self.editors["augment.image_size"].valueChanged.connect(self.imageSizeChanged)
        self.editors["train.seed"].valueChanged.connect(self.seedChanged)
        for key in AUDITED_SETTINGS:
            config_form.changed_signal(self.editors[key]).connect(self.auditedSettingsChanged)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(vbox(*boxes, 1))
        scroll.setMinimumWidth(330)
        return scroll

    def _say_corrections(self, spin, label: str) -> None:
        """A typed value outside the field's range becomes the nearest allowed one, and the status bar says so
        (Image size "5" silently went back to the previous value)."""
        spin.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToNearestValue)
        typed: list[str] = [""]
        spin.lineEdit().textEdited.connect(lambda text: typed.__setitem__(0, text))

        def finished() -> None:
            text, typed[0] = typed[0].strip(), ""
            try:
                number = float(text.removesuffix(spin.suffix()).strip().replace(spin.locale().groupSeparator(), ""))
            except ValueError:
                return
            tolerance = 10 ** -spin.decimals() if isinstance(spin, QDoubleSpinBox) else 0
            if abs(number - spin.value()) > tolerance:
                self.message.emit(f"{label} takes {spin.minimum():g} to {spin.maximum():g}; {number:g} became "
                                  f"{spin.value():g}.", True)
        spin.editingFinished.connect(finished)

    def _build_file_buttons(self) -> QHBoxLayout:
        presets = QToolButton(text="Config preset", objectName="loadPresetButton")
        presets.setToolTip("Fill the whole form from a shipped config preset (cpu, gpu, tutorial)")
        presets.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(presets)
        try:
            for name in preset_names():
                menu.addAction(name, lambda n=name: self.load_preset(n))
        except UserError:
            presets.setEnabled(False)
        presets.setMenu(menu)
        save = QPushButton("Save...", objectName="saveConfigButton", clicked=self.save_config_dialog)
        save.setToolTip("Save the complete config as TOML (Ctrl+S)")
        return hbox(presets, QPushButton("Load...", objectName="loadConfigButton", clicked=self.load_config_dialog),
                    save, 1)

    # ---- config -------------------------------------------------------------------------------
    def set_split_columns(self, names: list[str]) -> None:
        combo = self.editors["data.split_column"]
        current = combo.currentText()
        combo.blockSignals(True)
        combo.clear()
        combo.addItems([config_form.RANDOM_SPLIT] + list(names))
        config_form.set_value(combo, current if current in names else "")   # a column the new dataset lacks
        combo.blockSignals(False)
        self._on_split_column()

    def set_split_column(self, name: str) -> None:
        config_form.set_value(self.editors["data.split_column"], name)

    @Slot()
    def propose_split_column(self, *_) -> None:
        """On every open: the loaded config's split column if this dataset has it, else a column named
        "split", else none (a seeded random split). A column kept from the previous dataset, or an empty
        choice kept from one without a split column, made runs on the same data incomparable silently."""
        combo = self.editors["data.split_column"]
        names = [combo.itemText(i) for i in range(combo.count())]
        wanted = self.base.data.split_column
        self.set_split_column(wanted if wanted and wanted in names else ("split" if "split" in names else ""))

    def image_size(self) -> int:
        return self.editors["augment.image_size"].value()

    def set_dataset_rows(self, rows: int) -> None:
        """The open dataset's row count (0: none open), for the advice under the form."""
        self._dataset_rows = rows
        self.validate_live()

    def _on_split_column(self, *_) -> None:
        self.editors["data.val_fraction"].setEnabled(not config_form.get_value(self.editors["data.split_column"]))

    def config(self) -> Config:
        """The complete config: the loaded base, the dataset and augmentation panels, then this form."""
        cfg = with_panels(self.base, *self.config_parts())
        config_form.apply_form(cfg, self.editors)
        return validate(cfg)

    def find_lr(self) -> bool:
        """The range test for the form's settings in a dialog; its suggestion fills the learning rate."""
        from segstudio.gui.lr_finder_dialog import LrFinderDialog

        if self.is_running():
            self.message.emit("A training run is in progress; find the learning rate once it has ended.", True)
            return False
        try:
            cfg = self.config()
        except UserError as exc:
            self._show_validation(str(exc))
            return False
        self.lrDialog = LrFinderDialog(cfg, self)
        self.lrDialog.accepted.connect(self._use_found_lr)
        self.lrDialog.open()
        return True

    def _use_found_lr(self) -> None:
        if self.lrDialog.suggestion is not None:
            self.editors["train.lr"].setValue(self.lrDialog.suggestion)

    def apply_config(self, cfg: Config) -> None:
        """Fill the form from a config. One that names no split column keeps the one chosen for the open
        dataset: the presets name none, and loading one silently switched a run to a random split."""
        split = config_form.get_value(self.editors["data.split_column"])
        self.base = copy.deepcopy(cfg)
        self._fill_form(cfg)
        if not cfg.data.split_column and split:
            self.set_split_column(split)

    def _fill_form(self, cfg: Config) -> None:
        config_form.fill_form(cfg, self.editors)
        runs = self.editors["train.runs_dir"]
        runs.setText(settings.absolute_runs_dir(runs.text().strip()))

    def load_preset(self, name: str) -> None:
        try:
            cfg = load_preset(name)
        except UserError as exc:
            self.message.emit(str(exc), True)
            return
        self.apply_config(cfg)
        self.message.emit(f"Loaded the {name} config preset.", False)
        self.configLoaded.emit(cfg)

    def load_config_file(self, path: str) -> bool:
        try:
            cfg = load_config(path)
        except UserError as exc:
            self._show_validation(str(exc))
            return False
        self.apply_config(cfg)
        self._show_validation("")
        self.message.emit(f"Loaded config {path}.", False)
        self.configLoaded.emit(cfg)
        return True

    def save_config_file(self, path: str) -> bool:
        try:
            save_config(self.config(), path)
        except UserError as exc:
            self._show_validation(str(exc))
            return False
        except OSError as exc:
            self._show_validation(f"Cannot write {path} ({exc.strerror}); choose another place.")
            return False
        self.message.emit(f"Saved config to {path}.", False)
        return True

    def load_config_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load config", "", "TOML config (*.toml)")
        if path:
            self.load_config_file(path)

    @Slot()
    def save_config_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save config", "segstudio.toml", "TOML config (*.toml)")
        if path:
            self.save_config_file(path if path.endswith(".toml") else path + ".toml")

    def _pick_runs_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Runs folder", self.runs_dir())
        if path:
            self.editors["train.runs_dir"].setText(path)
            self._on_runs_dir_edited()

    @Slot()
    def _on_runs_dir_edited(self) -> None:
        edit = self.editors["train.runs_dir"]
        edit.setText(settings.absolute_runs_dir(edit.text().strip()))
        self.refresh_runs()
        self.runsDirChanged.emit()

    @Slot()
    def validate_live(self, *_):
        """Check the form as it is edited; the message names the key and what is allowed."""
        try:
            cfg = self.config()
        except UserError as exc:
            self.validationLabel.setText(config_form.in_window_words(str(exc)))
            self.adviceLabel.setText("")
        else:
            self.validationLabel.setText("")
            advice = run_warnings(cfg, self._dataset_rows, self._accelerator())
            self.adviceLabel.setText("\n".join(advice + ([self.audit_advice] if self.audit_advice else [])))

    def _accelerator(self) -> bool:
        if self._has_accelerator is None:
            from segstudio.base.accelerator import gpu_present
            self._has_accelerator = gpu_present()
        return self._has_accelerator

    @Slot(str)
    def set_audit_advice(self, line: str) -> None:
        """Show the audit's advice under the form ("" once the pipeline has changed since the audit)."""
        self.audit_advice = line
        self.validate_live()

    def _show_validation(self, text: str) -> None:
        text = config_form.in_window_words(text)
        self.validationLabel.setText(text)
        if text:
            self.message.emit(text, True)

    # ---- running ------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.runner.is_running()

    def start(self, resume: str | None = None, extend_epochs: int = 0) -> bool:
        if self.runner.is_running():
            self.message.emit("A training run is already in progress; stop it first.", True)
            return False
        train = train_in_thread
        try:
            cfg = self.config() if resume is None else None
            if resume is not None:
                cfg = load_run_config(resume)
                overrides = self._resume_overrides(cfg)
                if overrides:
                    train = functools.partial(train, overrides=overrides)
        except Exception as exc:  # noqa: BLE001 - a readable message, the panel stays ready
            self._show_validation(describe_exception(exc))
            self._show_outcome("failed")
            return False
        if resume is None and not confirm_missing_weights(self, cfg, then=self.start):
            return False   # asked to download the weights the config names; Start again once they are here
        self._show_validation("")
        self._show_outcome("")
        settings.save_value("config/last", dumps_config(cfg))
        self.curves.clear()
        if resume is not None:
            self.curves.add_events(events_from(read_metrics(resume)))
        self.last_result = None
        self._epochs = cfg.train.epochs + extend_epochs
        self._split_note = describe_split(cfg.data)
        hold_full_collections()   # no full collection walks the heap mid-run (see workers.release_gc)
        self.starting.emit()
        self.runner.start(train, cfg, resume=resume, extend_epochs=extend_epochs)
        self._set_running(True)
        what = "Resuming" if resume and not extend_epochs else ("Extending" if resume else "Starting")
        self.message.emit(f"{what} training ...", False)
        self.progressBar.setFormat("starting ...")
        return True

    def _resume_overrides(self, run_cfg: Config) -> dict:
        """The form's optimiser settings that differ from the run's, when "with the form's optimiser" is ticked."""
        if not self.runs.with_form_optimiser():
            return {}
        current = config_form.apply_form(copy.deepcopy(run_cfg), self.editors)
        return changed_settings(run_cfg, current, [k for k in OPTIMISER_SETTINGS if k in self.editors])

    @Slot()
    def stop(self) -> None:
        if self.runner.is_running():
            self.runner.stop()
            self.stopButton.setEnabled(False)
            self.progressBar.setFormat(self.progressBar.format() + " (stopping)")
            self.message.emit("Stopping after the current iteration ...", False)

    def _set_running(self, running: bool) -> None:
        self.startButton.setEnabled(not running)
        self.stopButton.setEnabled(running)
        self.runs.set_running(running, self.run_dir)
        self.runningChanged.emit(running)

    @Slot(object)
    def _on_events(self, events: list) -> None:
        self.curves.add_events(events)
        last_iter = None
        for ev in events:
            if isinstance(ev, IterationEvent):
                last_iter = ev
            elif isinstance(ev, StartedEvent):
                self.run_dir = ev.run_dir
                self.runs.set_running(True, self.run_dir)
                self._epochs = ev.epochs or self._epochs
                self.progressBar.setMaximum(max(1, ev.total_iters))
                self.refresh_runs()     # the run (new or resumed) is listed as running
                self.message.emit(f"Training on {ev.device} ({ev.train_images} training, {ev.val_images} "
                                  f"validation images, {self._split_note}) into {self.run_dir}.", False)
            elif isinstance(ev, EvaluatingEvent):
                last_iter = None
                self._show_evaluating(ev)
            elif isinstance(ev, EvalEvent):
                m = ev.metrics
                self.message.emit(f"Epoch {ev.epoch + 1}: box AP {m.get('bbox_map', float('nan')):.3f}, "
                                  f"mask AP {m.get('segm_map', float('nan')):.3f}.", False)
            elif isinstance(ev, WarningEvent | BadRowEvent | ErrorEvent):   # bad_row: a row met mid-run, named
                self.message.emit(ev.message, True)
        if last_iter is not None:
            self._show_progress(last_iter)

    def _show_evaluating(self, ev: EvaluatingEvent) -> None:
        """The evaluation's own count and ETA on the bar (it showed a full bar for minutes)."""
        images, done, elapsed = ev.images, ev.done, ev.elapsed_s
        after = f"after epoch {ev.epoch + 1}"
        if not done:
            self.progressBar.setFormat(f"evaluating on {images} validation images ({after}) ...")
            self.message.emit(f"Evaluating on {images} validation images ...", False)
            return
        self.progressBar.setMaximum(max(1, images))
        self.progressBar.setValue(min(done, images))
        eta = format_eta(elapsed / done * (images - done)) if done else "--:--"
        self.progressBar.setFormat(f"evaluating {done}/{images} validation images ({after}) · ETA {eta}")

    def _show_progress(self, ev: IterationEvent) -> None:
        total = max(1, ev.total_iters)
        self.progressBar.setMaximum(total)
        self.progressBar.setValue(min(total, ev.iteration))
        self._progress_text = (f"iteration {ev.iteration}/{total} · epoch {ev.epoch + 1}/"
                               f"{self._epochs or '?'} · ETA {format_eta(ev.eta_s)}")
        self.progressBar.setFormat(self._progress_text)
        text = readout(ev)
        self.readoutLabel.setText(text)

    @Slot(object)
    def _on_finished(self, result: dict) -> None:
        release_gc()
        self.last_result = result
        self._set_running(False)
        status, msg = result.get("status", "failed"), result.get("message", "")
        self.run_dir = result.get("run_dir") or self.run_dir
        if status == "completed":   # the final evaluation's count was the bar's last value
            self.progressBar.setValue(self.progressBar.maximum())
        if status == "completed" and msg:   # early stopping: why it ended before its last epoch
            self.progressBar.setFormat(f"stopped early · {self._progress_text.split(' · ETA')[0]}")
            self.message.emit(f"Training finished: {msg}", False)
        elif status == "completed":
            # a run that ends at "Stop after N iterations" before its last epoch says so, not "finished · epoch 1/3"
            limit = " at the iteration limit" if result.get("epoch", 0) + 1 < self._epochs else ""
            self.progressBar.setFormat(f"finished{limit} · {self._progress_text.split(' · ETA')[0]}")
            self.message.emit(f"Training finished: {self.run_dir}.", False)
        elif status == "stopped":
            self.progressBar.setFormat(f"stopped at iteration {result.get('iteration', '?')}")
            self.message.emit(f"Training stopped at iteration {result.get('iteration')}; the last checkpoint "
                              "is kept (Resume continues it).", False)
        else:
            self._show_outcome("failed")
            self._show_validation(msg or "Training failed.")
        self.refresh_runs()
        self.trainingFinished.emit(result)

    def _show_outcome(self, status: str) -> None:
        """"failed": the bar says so in the error colour and the readout of an earlier run is cleared;
        "": back to normal for a new run."""
        failed = status == "failed"
        self.progressBar.setStyleSheet("QProgressBar { color: #b00020; } QProgressBar::chunk { background: #e6b8be; }"
                                       if failed else "")
        if failed:
            self.progressBar.setFormat("failed")
            self.readoutLabel.setText("")

    # ---- past runs ----------------------------------------------------------------------------
    def runs_dir(self) -> str:
        return settings.absolute_runs_dir(config_form.get_value(self.editors["train.runs_dir"]))

    def readers(self) -> list:
        """Background work that only reads (the runs listing): safe to abandon when the window closes."""
        return self.runs.readers() + self.weightsRow.readers()

    @Slot()
    def refresh_runs(self) -> None:
        self.runs.refresh()

    @Slot(object, object)
    def _show_overlays(self, paths: tuple, metrics: list) -> None:
        self.curves.clear_overlays()
        for i, (path, events) in enumerate(zip(paths, metrics)):
            self.curves.add_overlay(Path(path).name, events, i)

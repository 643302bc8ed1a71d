"""Dataset panel: where the dataset comes from (path or URL, S3 credentials, recent, COCO import), and the
views of what was opened: its columns, classes and pre-flight report, and one row at a time."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segstudio.data.mapped import open_mapped
from segstudio.data.query_summary import rows_with_class
from segstudio.gui import settings
from segstudio.gui.coco_import_task import CocoImportTask
from segstudio.gui.columns_view import ColumnsView
from segstudio.gui.dataset_checks import DatasetChecks
from segstudio.gui.import_dialog import ImportCocoDialog
from segstudio.gui.query_box import QueryBox
from segstudio.gui.sample_view import SampleView
from segstudio.gui.state import DatasetState
from segstudio.gui.workers import LatestTask, RenderService, TaskRunner


def open_and_describe(url: str, endpoint_url: str, creds: dict | None, version: str = ""):
    """Worker job: open the dataset at `version`, describe it and propose its columns, and list the versions
    there are to choose from (slow for remote storage). -> (MappedDataset, version choices)."""
    from segstudio.base.config import DataConfig
    from segstudio.data.versions import version_choices

    mapped = open_mapped(url, DataConfig(version=version), endpoint_url=endpoint_url, creds=creds or None,
                         strict=False)
    return mapped, version_choices(mapped.ds, mapped.ref)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def for_the_window(message: str, url: str) -> str:
    """An open error as the window says it: the Import COCO... button instead of the CLI command, and a
    folder holding a COCO export (a .json beside images) named as such."""
    message = message.replace("import COCO data with `segstudio import-coco`",
                              "import COCO data with the Import COCO... button beside the path")
    from pathlib import Path
    folder = Path(url)
    if "://" in url or not folder.is_dir() or (folder / "_deeplake_log").is_dir():
        return message
    entries = [p for _, p in zip(range(2000), folder.iterdir())]   # a glance, not a walk of a huge folder
    jsons = [p.name for p in entries if p.suffix.lower() == ".json"]
    images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in entries) or any(
        p.is_dir() and p.name.lower() in ("images", "train", "val", "train2017", "val2017") for p in entries)
    if jsons and images:
        message += (f" It looks like a COCO export ({jsons[0]} beside the images): press Import COCO... to "
                    "convert it into a dataset.")
    return message


class DatasetPanel(QWidget):
    """Opens datasets (newest open wins) into the shared DatasetState; its child views follow the state."""

    message = Signal(str, bool)     # text, is_error
    opened = Signal(str)            # url, after a successful open
    rowChanged = Signal(int)        # the row shown (the Augmentation tab follows)
    openFailed = Signal(str)        # message, when the newest open failed

    def __init__(self, state: DatasetState, renderer: RenderService, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._abandoned: list[TaskRunner] = []   # superseded opens still blocked in the storage library
        self._opener = self._new_opener()
        self._pending_url = ""
        self._checks_due = False     # the open dataset's checks wait for its first row on screen
        self._version = self._pending_version = ""   # the version shown ("" the main branch's newest)
        self.columns = ColumnsView(state)
        self.checks = DatasetChecks(state)
        self.sample = SampleView(state, renderer)
        self.sample.rowChanged.connect(self.rowChanged)
        self.importer = CocoImportTask(self)
        self.classRows = LatestTask(lambda key, _stop: rows_with_class(*key), "find the class's rows", self)
        self.classRows.ready.connect(self._on_class_rows)
        self.classRows.failed.connect(lambda m: self.message.emit(m, True))
        self.versionRunsReader = LatestTask(lambda key, _stop: _runs_by_version(*key), "read the run cards", self)
        self.versionRunsReader.ready.connect(self._show_version_runs)
        self.versionRunsReader.failed.connect(lambda m: self.message.emit(m, True))
        self._class_rows: dict = {}
        self.importDialog: ImportCocoDialog | None = None
        self.importSummaryBox: QMessageBox | None = None
        self._build()
        self._connect()

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.urlEdit = QLineEdit(objectName="datasetUrlEdit")
        self.urlEdit.setPlaceholderText("dataset path or URL (local folder, s3://bucket/path, mem://...)")
        self.urlEdit.returnPressed.connect(self.open_current)
        browse = QPushButton("Browse...", objectName="browseDatasetButton")
        browse.clicked.connect(self._browse)
        self.recentButton = QToolButton(objectName="recentDatasetsButton", text="Recent")
        self.recentButton.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recentButton.setMenu(QMenu(self.recentButton))
        self._fill_recent(settings.recent_datasets())
        self.credsButton = QPushButton("S3 credentials...", objectName="credentialsButton", checkable=True)
        self.credsButton.toggled.connect(lambda on: self.credsBox.setVisible(on))
        self.openButton = QPushButton("Open", objectName="openDatasetButton")
        self.openButton.setToolTip("Open the dataset (Ctrl+O)")
        self.openButton.clicked.connect(self.open_current)
        self.importButton = QPushButton("Import COCO...", objectName="importCocoButton")
        self.importButton.clicked.connect(self._import_coco)
        self.versionCombo = QComboBox(objectName="datasetVersionCombo")
        self.versionCombo.setToolTip("The version shown and trained on: a branch (its newest commit when a run "
                                     "starts), a tag, or one commit of the branch's history")
        self.versionCombo.setMinimumContentsLength(18)
        self.versionCombo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.versionCombo.setEnabled(False)
        self.versionCombo.activated.connect(self._on_version_picked)
        self.runs_dir_fn = lambda: "runs"      # the Training tab's runs folder (the main window sets it)
        self.versionRunsLabel = QLabel("", objectName="versionRunsLabel", wordWrap=True)
        self.versionRunsLabel.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:"))
        for w in (self.urlEdit, browse, self.recentButton, self.credsButton, self.openButton,
                  self.importButton, QLabel("Version:"), self.versionCombo):
            top.addWidget(w, 1 if w is self.urlEdit else 0)

        self.queryBox = QueryBox(self.state)
        self.credsBox = self._build_creds()
        self.credsBox.setVisible(False)
        self.errorLabel = QLabel(objectName="datasetMessageLabel", wordWrap=True)
        self.errorLabel.setStyleSheet("color: #b00020;")
        self.errorLabel.setVisible(False)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.columns)
        left.addWidget(self.checks)
        left.setSizes([260, 400])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.sample)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([430, 800])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.versionRunsLabel)
        layout.addWidget(self.queryBox)
        layout.addWidget(self.credsBox)
        layout.addWidget(self.errorLabel)
        layout.addWidget(split, 1)

    def _build_creds(self) -> QGroupBox:
        box = QGroupBox("S3 credentials (kept in memory for this session only)")
        form = QFormLayout(box)
        self.endpointEdit = QLineEdit(objectName="s3EndpointEdit", placeholderText="https://... (optional)")
        self.keyEdit = QLineEdit(objectName="s3KeyEdit")
        self.secretEdit = QLineEdit(objectName="s3SecretEdit", echoMode=QLineEdit.EchoMode.Password)
        self.tokenEdit = QLineEdit(objectName="s3TokenEdit", echoMode=QLineEdit.EchoMode.Password)
        form.addRow("Endpoint URL", self.endpointEdit)
        form.addRow("Access key id", self.keyEdit)
        form.addRow("Secret access key", self.secretEdit)
        form.addRow("Session token", self.tokenEdit)
        return box

    def _connect(self) -> None:
        for child in (self.sample, self.importer):
            child.message.connect(self.message)
        self.columns.message.connect(self._on_columns_message)
        self.columns.mappingRejected.connect(self._show_error)
        self.checks.rowActivated.connect(self.sample.show_row)
        self.checks.classClicked.connect(self.step_to_class)
        self.sample.shown.connect(self._start_checks)
        self.importer.failed.connect(self._on_import_failed)
        self.importer.summarized.connect(self._on_imported)
        self.importer.imported.connect(self.open_url)
        self.state.changed.connect(self._on_state_changed)

    # ---- opening ------------------------------------------------------------------------------
    def credentials(self) -> dict:
        """Current s3 credentials as deeplake expects them; empty entries left out."""
        creds = {"aws_access_key_id": self.keyEdit.text().strip(),
                 "aws_secret_access_key": self.secretEdit.text().strip(),
                 "aws_session_token": self.tokenEdit.text().strip()}
        return {k: v for k, v in creds.items() if v}

    @Slot()
    def open_current(self) -> None:
        self.open_url(self.urlEdit.text().strip())

    def open_or_focus(self) -> None:
        """Ctrl+O: open what the address field holds, or put the cursor there when it is empty."""
        if self.urlEdit.text().strip():
            self.open_current()
        else:
            self.urlEdit.setFocus()

    @Slot(int)
    def show_row(self, row: int) -> None:
        self.sample.show_row(row)

    def query(self) -> str:
        return self.queryBox.query()

    def set_query(self, query: str) -> None:
        self.queryBox.set_query(query)

    def _new_opener(self) -> TaskRunner:
        """A runner whose result counts only while it is the newest open."""
        runner = TaskRunner(self)
        runner.succeeded.connect(lambda result: runner is self._opener and self._on_opened(result))
        runner.failed.connect(lambda message: runner is self._opener and self._on_open_failed(message))
        runner.done.connect(lambda: runner in self._abandoned and self._abandoned.remove(runner))
        return runner

    def writers(self) -> list[TaskRunner]:
        """Background tasks that write (the COCO import): stop them and wait, or the dataset is half written."""
        return [self.importer.runner]

    def readers(self) -> list[TaskRunner]:
        """Background tasks that only read (opens, checks): safe to abandon when the window closes."""
        return [self._opener, *self._abandoned, *self.checks.task.readers(), *self.queryBox.readers(),
                *self.classRows.readers(), *self.versionRunsReader.readers()]

    def version_spec(self) -> str:
        """The version chosen for the open dataset ("" for the main branch's newest commit)."""
        return self._version

    @Slot(int)
    def _on_version_picked(self, index: int) -> None:
        spec = self.versionCombo.itemData(index) or ""
        if spec != self._version and self.state.url:
            self.open_url(self.state.url, version=spec)

    @Slot(str)
    def open_url(self, url: str, version: str = "") -> None:
        if not url:
            self._show_error("No dataset given; type a path or URL, or pick a folder with Browse.")
            return
        if self._opener.is_running():
            if url == self._pending_url and version == self._pending_version:
                self.message.emit(f"Still opening {url}; wait a moment.", False)
                return
            # An unreachable server can block the previous open for a minute, uninterruptibly: leave it
            # running (its result is ignored) and open the newly asked dataset now.
            self._opener.request_stop()
            self._abandoned.append(self._opener)
            self._opener = self._new_opener()
        self.urlEdit.setText(url)
        self._pending_url, self._pending_version = url, version
        endpoint, creds = self.endpointEdit.text().strip(), self.credentials()
        self.errorLabel.setVisible(False)
        self.message.emit(f"Opening {url}{f' at {version}' if version else ''} ...", False)
        self._opener.start(lambda report, stop: open_and_describe(url, endpoint, creds, version))

    @Slot(object)
    def _on_opened(self, result) -> None:
        mapped, choices = result
        url, info = self._pending_url, mapped.info
        self._version = self._pending_version
        self._fill_versions(choices, self._version)
        self.columns.show_info(info)
        if url != self.state.url:
            # another dataset starts at its first row (row 731 of the last one means nothing here), with
            # all of its classes shown
            self.sample.show_row(0)
            self.sample.display.set_classes(mapped.class_names)
        self.state.set_dataset(mapped)
        self.refresh_version_runs()
        self.queryBox.dataset_opened(url)
        self._fill_recent(settings.add_recent_dataset(url))
        n = info.num_rows
        note = "" if mapped.mapping is not None else " No complete column mapping was found: pick the columns."
        notes = "".join(f" {x}" for x in info.notes if "3.x" in x)   # read-only: say it where it is seen
        at = f" at {self._version} ({mapped.ref})" if self._version else ""
        self.message.emit(f"Opened {url}{at}: {n:,} rows, {len(mapped.class_names)} classes.{note}{notes}",
                          mapped.mapping is None)
        self.opened.emit(url)

    def _fill_versions(self, choices: list, current: str) -> None:
        """(label, spec) pairs from versions.version_choices; the current spec selected."""
        combo = self.versionCombo
        combo.blockSignals(True)
        combo.clear()
        for label, spec in choices:
            combo.addItem(label, spec)
        index = combo.findData(current)
        if index < 0 and current:
            combo.addItem(current, current)
            index = combo.count() - 1
        combo.setCurrentIndex(max(index, 0))
        combo.setEnabled(bool(choices))
        combo.blockSignals(False)

    def refresh_version_runs(self) -> None:
        """Under the version list, the runs (from the run cards in the runs folder, read off the GUI thread:
        a folder may hold hundreds) trained on the version shown; on each commit, a tooltip naming its runs."""
        mapped = self.state.mapped
        if mapped is None or not str(mapped.ref):
            self.versionRunsLabel.setVisible(False)
            return
        self.versionRunsReader.request((self.runs_dir_fn(), mapped.url))

    @Slot(object, object)
    def _show_version_runs(self, key: tuple, by_version: dict) -> None:
        from segstudio.engine.version_runs import runs_line

        mapped = self.state.mapped
        if mapped is None or key != (self.runs_dir_fn(), mapped.url):
            return   # another dataset or runs folder since: its own reading follows
        combo = self.versionCombo
        for i in range(combo.count()):
            spec = combo.itemData(i) or ""
            names = by_version.get(str(mapped.ref) if i == combo.currentIndex() else spec, [])
            combo.setItemData(i, runs_line(names) if names else None, Qt.ItemDataRole.ToolTipRole)
        self.versionRunsLabel.setText(runs_line(by_version.get(str(mapped.ref), [])))
        self.versionRunsLabel.setVisible(True)

    @Slot(str)
    def _on_open_failed(self, message: str) -> None:
        message = for_the_window(message, self._pending_url)
        if self.state.url:
            # the field shows what is open (and what Start trains on), not the path that failed
            self.urlEdit.setText(self.state.url)
            message += f" Still open: {self.state.url}."
        self._show_error(message)
        self.openFailed.emit(message)

    @Slot(str)
    def _show_error(self, message: str) -> None:
        self.errorLabel.setText(message)
        self.errorLabel.setVisible(True)
        self.message.emit(message, True)

    @Slot(str, bool)
    def _on_columns_message(self, text: str, is_error: bool) -> None:
        self.errorLabel.setVisible(False)   # a usable mapping: an earlier rejection no longer applies
        self.message.emit(text, is_error)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a Deep Lake dataset folder", self.urlEdit.text())
        if path:
            self.open_url(path)

    def _fill_recent(self, urls: list[str]) -> None:
        menu = self.recentButton.menu()
        menu.clear()
        for url in urls:
            menu.addAction(url, lambda u=url: self.open_url(u))
        self.recentButton.setEnabled(bool(urls))

    @Slot()
    def _on_state_changed(self) -> None:
        """The row first, then the counts and checks: started together, the counting worker took the GIL
        from the row's render, and row 0 of a 100k-row dataset came up to a second later on a busy machine."""
        self.sample.set_row_count(self.state.num_rows)
        self.checks.clear()
        self._checks_due = True
        self.sample.request_preview()
        if not self.state.ready:
            self._start_checks()      # no row to show: the checks clear the class list and say why

    @Slot()
    def _start_checks(self) -> None:
        if self._checks_due:
            self._checks_due = False
            self.checks.start()

    # ---- stepping through a class's rows -------------------------------------------------------
    @Slot(int)
    def step_to_class(self, index: int) -> None:
        """Show the next row holding class `index` (the rows are looked up once per class, off the GUI thread)."""
        if not self.state.ready:
            return
        key = (self.state.mapped, index)
        if self._class_rows.get("key") == key:
            self._show_class_row(index, self._class_rows["rows"])
        else:
            self.message.emit(f"Finding the rows with {self.state.class_names[index]} ...", False)
            self.classRows.request(key)

    @Slot(object, object)
    def _on_class_rows(self, key, rows) -> None:
        if key[0] is not self.state.mapped:
            return   # another dataset was opened since
        self._class_rows = {"key": key, "rows": rows}
        self._show_class_row(key[1], rows)

    def _show_class_row(self, index: int, rows: list) -> None:
        from segstudio.data.query_summary import next_row

        name = self.state.class_names[index]
        row = next_row(rows, self.sample.current_row())
        if row is None:
            self.message.emit(f"No row contains {name}.", False)
            return
        self.sample.show_row(row)
        self.message.emit(f"Row {row}: {rows.index(row) + 1} of {len(rows):,} rows with {name} (click {name} "
                          "again for the next).", False)

    # ---- COCO import --------------------------------------------------------------------------
    def _import_coco(self) -> None:
        """The dialog stays open (its entries kept) until an import succeeds; a failure is said inside it."""
        dialog = self.importDialog = ImportCocoDialog(self)
        dialog.submitted.connect(lambda: self.import_coco(*dialog.values()))
        dialog.finished.connect(lambda _code: setattr(self, "importDialog", None))
        dialog.open()

    @Slot(str)
    def _on_import_failed(self, message: str) -> None:
        if self.importDialog is not None and self.importDialog.isVisible():
            self.importDialog.show_error(message)
            self.message.emit(message, True)
        else:
            self._show_error(message)

    @Slot(str)
    def _on_imported(self, summary: str) -> None:
        """Close the dialog and show what the import did (skips and why, re-encodes, rotations)."""
        if self.importDialog is not None:
            self.importDialog.accept()
        box = QMessageBox(QMessageBox.Icon.Information, "Import COCO finished", summary.splitlines()[0],
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("importSummaryBox")
        box.setDetailedText(summary)
        # a few lines; the per-class list (80 lines for COCO, taller than a laptop screen) is under Details
        box.setInformativeText("\n".join(line for line in summary.splitlines()[1:] if not line.startswith("  ")))
        box.setModal(False)
        box.show()
        self.importSummaryBox = box

    def import_coco(self, images: str, annotations: str, dest: str, resume: bool = False) -> bool:
        """Run the COCO importer in a worker with a progress dialog (Cancel stops it); open the result."""
        return self.importer.start(images, annotations, dest, resume)


def _runs_by_version(runs_dir: str, url: str) -> dict:
    from segstudio.engine.version_runs import runs_by_version  # in the reader's thread

    return runs_by_version(runs_dir, url)

"""Dataset panel: open a dataset, pick its columns, browse rows, read the pre-flight report, import COCO."""
from __future__ import annotations

import textwrap

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QListWidget, QMenu, QProgressDialog, QPushButton,
                               QSlider, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QToolButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from segstudio.commands.inspect import class_counts
from segstudio.data import coco_import
from segstudio.data.describe import describe, resolve_mapping
from segstudio.data.open import open_dataset
from segstudio.data.preflight import preflight, sample_rows
from segstudio.data.sample import read_sample
from segstudio.gui import settings
from segstudio.gui.import_dialog import ImportCocoDialog
from segstudio.gui.state import DatasetState
from segstudio.gui.widgets import ImageView
from segstudio.gui.workers import RenderService, TaskRunner
from segstudio.render import raw_to_render, render

ROLES = ("images", "masks", "boxes", "labels")
PREFLIGHT_ROWS = 2000  # rows checked in the window; `segstudio inspect` and training check them all


def open_and_describe(url: str, endpoint_url: str, creds: dict | None):
    """Worker job: open the dataset and describe it (both may be slow for remote storage)."""
    ds = open_dataset(url, endpoint_url=endpoint_url, creds=creds or None, read_only=True)
    return ds, describe(ds, url=url)


def render_row(ds, row: int, mapping, box_format, class_names):
    """Render job: one raw row with masks, boxes and names, as the core draws it."""
    raw = read_sample(ds, row, mapping, box_format)
    rgb = render(**raw_to_render(raw), class_names=class_names)
    names = [class_names[i] if 0 <= i < len(class_names) else str(i) for i in raw.labels.tolist()]
    h, w = raw.image.shape[:2]
    n = raw.num_instances
    text = f"row {row}: {w}x{h}, {n} instance{'' if n == 1 else 's'}" + (f" ({', '.join(names[:12])}"
                                                                    f"{', ...' if len(names) > 12 else ''})"
                                                                    if names else "")
    return row, rgb, text


class DatasetPanel(QWidget):
    message = Signal(str, bool)     # text, is_error
    opened = Signal(str)            # url, after a successful open
    openFailed = Signal(str)        # message, when the newest open failed

    def __init__(self, state: DatasetState, renderer: RenderService, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.renderer = renderer
        self._creds: dict = {}  # in memory only: never written to settings, configs or logs
        self._abandoned: list[TaskRunner] = []   # superseded opens still blocked in the storage library
        self._opener = self._new_opener()
        self._checker = TaskRunner(self)
        self._checker.succeeded.connect(self._on_preflight)
        self._checker.failed.connect(lambda msg: self._set_preflight_message(f"Pre-flight failed: {msg}"))
        self._importer = TaskRunner(self)
        self._importer.progress.connect(self._on_import_progress)
        self._import_progress: QProgressDialog | None = None
        self._pending_url = ""
        self._filling = False
        self._build()
        renderer.resultReady.connect(self._on_render)
        renderer.failed.connect(self._on_render_failed)
        state.changed.connect(self._on_state_changed)

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
        self._refresh_recent()
        self.credsButton = QPushButton("S3 credentials...", objectName="credentialsButton", checkable=True)
        self.credsButton.toggled.connect(lambda on: self.credsBox.setVisible(on))
        self.openButton = QPushButton("Open", objectName="openDatasetButton")
        self.openButton.setToolTip("Open the dataset (Ctrl+O)")
        self.openButton.clicked.connect(self.open_current)
        self.importButton = QPushButton("Import COCO...", objectName="importCocoButton")
        self.importButton.clicked.connect(self._import_coco)
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:"))
        for w in (self.urlEdit, browse, self.recentButton, self.credsButton, self.openButton,
                  self.importButton):
            top.addWidget(w, 1 if w is self.urlEdit else 0)

        self.credsBox = self._build_creds()
        self.credsBox.setVisible(False)
        self.errorLabel = QLabel(objectName="datasetMessageLabel", wordWrap=True)
        self.errorLabel.setStyleSheet("color: #b00020;")
        self.errorLabel.setVisible(False)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self._build_schema())
        left.addWidget(self._build_classes())
        left.addWidget(self._build_preflight())
        left.setSizes([260, 200, 200])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self._build_sample())
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([430, 800])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
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

    def _build_schema(self) -> QGroupBox:
        box = QGroupBox("Columns")
        self.schemaTable = QTableWidget(0, 4, objectName="schemaTable")
        self.schemaTable.setHorizontalHeaderLabels(["name", "kind", "dtype", "shape"])
        self.schemaTable.verticalHeader().setVisible(False)
        self.schemaTable.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.schemaTable.horizontalHeader().setStretchLastSection(True)
        self.schemaTable.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.schemaTable.verticalHeader().setDefaultSectionSize(22)
        self.schemaTable.setMinimumHeight(140)
        self.combos: dict[str, QComboBox] = {}
        form = QFormLayout()
        for role in ROLES:
            combo = QComboBox(objectName=f"{role}ColumnCombo")
            combo.currentTextChanged.connect(self._on_mapping_edited)
            self.combos[role] = combo
            form.addRow(f"{role.capitalize()} column", combo)
        self.boxFormatLabel = QLabel("", objectName="boxFormatLabel")
        form.addRow("Box format", self.boxFormatLabel)
        layout = QVBoxLayout(box)
        layout.addWidget(self.schemaTable, 1)
        layout.addLayout(form)
        return box

    def _build_classes(self) -> QGroupBox:
        box = QGroupBox("Classes (instances)")
        self.classList = QListWidget(objectName="classList")
        QVBoxLayout(box).addWidget(self.classList)
        return box

    def _build_preflight(self) -> QGroupBox:
        box = QGroupBox("Pre-flight check (click a row id to show it)")
        self.preflightTree = QTreeWidget(objectName="preflightTree")
        self.preflightTree.setHeaderHidden(True)
        self.preflightTree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.preflightTree.itemActivated.connect(self._on_finding_clicked)
        self.preflightTree.itemClicked.connect(self._on_finding_clicked)
        QVBoxLayout(box).addWidget(self.preflightTree)
        return box

    def _build_sample(self) -> QGroupBox:
        box = QGroupBox("Sample")
        self.sampleSpin = QSpinBox(objectName="sampleSpin", minimum=0, maximum=0)
        self.sampleSpin.setToolTip("Row shown (raw, before augmentation)")
        self.sampleSlider = QSlider(Qt.Orientation.Horizontal, objectName="sampleSlider")
        self.sampleSlider.setRange(0, 0)
        self.sampleSpin.valueChanged.connect(self.sampleSlider.setValue)
        self.sampleSlider.valueChanged.connect(self.sampleSpin.setValue)
        self.sampleSpin.valueChanged.connect(self.request_preview)
        self.previewView = ImageView(placeholder="Open a dataset to see its rows")
        self.previewView.setObjectName("previewView")
        self.sampleInfo = QLabel("", objectName="sampleInfoLabel", wordWrap=True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Row"))
        row.addWidget(self.sampleSpin)
        row.addWidget(self.sampleSlider, 1)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addWidget(self.previewView, 1)
        layout.addWidget(self.sampleInfo)
        return box

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

    def _new_opener(self) -> TaskRunner:
        """A runner whose result counts only while it is the newest open."""
        runner = TaskRunner(self)
        runner.succeeded.connect(lambda result: runner is self._opener and self._on_opened(result))
        runner.failed.connect(lambda message: runner is self._opener and self._on_open_failed(message))
        runner.done.connect(lambda: runner in self._abandoned and self._abandoned.remove(runner))
        return runner

    def background_runners(self) -> list[TaskRunner]:
        return [self._opener, *self._abandoned, self._checker, self._importer]

    def open_url(self, url: str) -> None:
        if not url:
            self._show_error("No dataset given; type a path or URL, or pick a folder with Browse.")
            return
        if self._opener.is_running():
            if url == self._pending_url:
                self.message.emit(f"Still opening {url}; wait a moment.", False)
                return
            # An unreachable server can block the previous open for a minute, uninterruptibly: leave it
            # running (its result is ignored) and open the newly asked dataset now.
            self._opener.request_stop()
            self._abandoned.append(self._opener)
            self._opener = self._new_opener()
        self.urlEdit.setText(url)
        self._pending_url = url
        endpoint, creds = self.endpointEdit.text().strip(), self.credentials()
        self.errorLabel.setVisible(False)
        self.message.emit(f"Opening {url} ...", False)
        self._opener.start(lambda report, stop: open_and_describe(url, endpoint, creds))

    @Slot(object)
    def _on_opened(self, result) -> None:
        ds, info = result
        url = self._pending_url
        self._fill_schema(info)
        mapping, box_format = info.mapping, info.box_format
        self.state.set_dataset(url, self.endpointEdit.text().strip(), ds, info, mapping, box_format)
        self._fill_recent(settings.add_recent_dataset(url))
        n = info.num_rows
        note = "" if mapping is not None else " No complete column mapping was found: pick the columns."
        self.message.emit(f"Opened {url}: {n} rows, {len(info.class_names)} classes.{note}", mapping is None)
        self.opened.emit(url)

    @Slot(str)
    def _on_open_failed(self, message: str) -> None:
        self._show_error(message)
        self.openFailed.emit(message)

    def _show_error(self, message: str) -> None:
        self.errorLabel.setText(message)
        self.errorLabel.setVisible(True)
        self.message.emit(message, True)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a Deep Lake dataset folder", self.urlEdit.text())
        if path:
            self.open_url(path)

    def _refresh_recent(self) -> None:
        self._fill_recent(settings.recent_datasets())

    def _fill_recent(self, urls: list[str]) -> None:
        menu = self.recentButton.menu()
        menu.clear()
        for url in urls:
            menu.addAction(url, lambda u=url: self.open_url(u))
        self.recentButton.setEnabled(bool(urls))

    # ---- schema and mapping -------------------------------------------------------------------
    def _fill_schema(self, info) -> None:
        self._filling = True
        try:
            self.schemaTable.setRowCount(len(info.columns))
            for r, col in enumerate(info.columns):
                for c, value in enumerate((col.name, col.kind, col.dtype, str(col.shape))):
                    self.schemaTable.setItem(r, c, QTableWidgetItem(str(value)))
                self.schemaTable.setItem(r, 3, QTableWidgetItem(format_shape(col.shape)))
            names = [c.name for c in info.columns]
            for role, combo in self.combos.items():
                combo.clear()
                combo.addItems(([""] if role == "masks" else []) + names)
                proposed = getattr(info.mapping, role, "") if info.mapping is not None else ""
                combo.setCurrentText(proposed)
            self.boxFormatLabel.setText(f"{info.box_format.fmt}, {info.box_format.units}")
        finally:
            self._filling = False

    def _show_mapping(self, mapping) -> None:
        if mapping is None:
            return
        self._filling = True
        try:
            for role, combo in self.combos.items():
                combo.setCurrentText(getattr(mapping, role, "") or "")
        finally:
            self._filling = False

    def mapping_overrides(self):
        """A DataConfig carrying the columns chosen in the combos (what a config file would say)."""
        from segstudio.config import DataConfig
        return DataConfig(url=self.state.url, **{role: self.combos[role].currentText() for role in ROLES})

    @Slot()
    def _on_mapping_edited(self, *_):
        if self._filling or self.state.info is None:
            return
        try:
            mapping, box_format = resolve_mapping(self.state.info, self.mapping_overrides())
        except Exception as exc:  # noqa: BLE001 - show the core's message, keep the old mapping
            from segstudio.gui.workers import describe_exception
            self._show_error(describe_exception(exc))
            self._show_mapping(self.state.mapping)   # the combos show the columns still in effect
            return
        self.errorLabel.setVisible(False)
        self.boxFormatLabel.setText(f"{box_format.fmt}, {box_format.units}")
        self.state.set_mapping(mapping, box_format)
        self.message.emit(f"Columns: images={mapping.images}, masks={mapping.masks or '-'}, "
                          f"boxes={mapping.boxes}, labels={mapping.labels}.", False)

    @Slot()
    def _on_state_changed(self) -> None:
        st = self.state
        self.sampleSpin.setMaximum(max(0, st.num_rows - 1))
        self.sampleSlider.setMaximum(max(0, st.num_rows - 1))
        self.classList.clear()
        for name in st.class_names:
            self.classList.addItem(f"{name}")
        self.request_preview()
        self._start_checks()

    # ---- sample preview -----------------------------------------------------------------------
    @Slot()
    def request_preview(self, *_):
        st = self.state
        if not st.ready:
            if st.ds is not None:
                self.previewView.set_message("Pick the image, boxes and labels columns")
            return
        row = self.sampleSpin.value()
        ds, mapping, fmt, names = st.ds, st.mapping, st.box_format, st.class_names
        self.renderer.submit("dataset", lambda: render_row(ds, row, mapping, fmt, names))

    @Slot(str, int, object)
    def _on_render(self, channel: str, seq: int, payload) -> None:
        if channel != "dataset":
            return
        row, rgb, text = payload
        self.previewView.set_image(rgb)
        self.sampleInfo.setText(text)

    @Slot(str, int, str)
    def _on_render_failed(self, channel: str, seq: int, message: str) -> None:
        if channel == "dataset":
            self.previewView.set_message("Cannot show this row")
            self.sampleInfo.setText(message)
            self.message.emit(message, True)

    # ---- pre-flight and class counts ----------------------------------------------------------
    def _start_checks(self) -> None:
        st = self.state
        self.preflightTree.clear()
        if not st.ready:
            return
        if self._checker.is_running():
            self._checker.request_stop()
            self._checks_again = True
            return
        self._checks_again = False
        ds, mapping, fmt, n, k = st.ds, st.mapping, st.box_format, st.num_rows, len(st.class_names)
        self._set_preflight_message("Checking rows ..." if n <= PREFLIGHT_ROWS
                                    else f"Checking a fixed sample of {PREFLIGHT_ROWS} of {n} rows ...")

        def job(report, should_stop):
            counts = class_counts(ds, mapping.labels, mapping.iscrowd, k)   # what `segstudio inspect` shows
            return mapping, counts, preflight(ds, mapping, fmt, rows=sample_rows(n, PREFLIGHT_ROWS))
        self._checker.start(job)
        self._checker.done.connect(self._after_checks, Qt.ConnectionType.SingleShotConnection)

    @Slot()
    def _after_checks(self) -> None:
        if getattr(self, "_checks_again", False):
            self._start_checks()

    def _set_preflight_message(self, text: str) -> None:
        self.preflightTree.clear()
        QTreeWidgetItem(self.preflightTree, [text])

    @Slot(object)
    def _on_preflight(self, result) -> None:
        mapping, counts, report = result
        if mapping is not self.state.mapping:
            return  # the mapping changed meanwhile; a new check is on its way
        self._show_counts(counts)
        self.preflightTree.clear()
        findings = [("error", f) for f in report.errors] + [("warning", f) for f in report.warnings]
        if not findings:
            QTreeWidgetItem(self.preflightTree, [f"No problems found in {report.rows_checked} rows checked."])
        for level, f in findings:
            # broken into lines by hand: QTreeView does not wrap item text to the column width
            top = QTreeWidgetItem(self.preflightTree, [textwrap.fill(f"{level}: {f.message}", 58)])
            top.setToolTip(0, f.message)
            top.setForeground(0, Qt.GlobalColor.red if level == "error" else Qt.GlobalColor.darkYellow)
            for row in list(f.rows)[:200]:
                child = QTreeWidgetItem(top, [f"row {row}"])
                child.setData(0, Qt.ItemDataRole.UserRole, int(row))
            top.setExpanded(level == "error" or len(findings) == 1)   # warnings open on a click

    def _show_counts(self, counts) -> None:
        total, crowd = counts
        self.classList.clear()
        for i, name in enumerate(self.state.class_names):
            extra = f", {crowd[i]} crowd" if i < len(crowd) and crowd[i] else ""
            self.classList.addItem(f"{name}  ({total[i] if i < len(total) else 0}{extra})")

    @Slot(QTreeWidgetItem)
    def _on_finding_clicked(self, item, *_):
        row = item.data(0, Qt.ItemDataRole.UserRole)
        if row is not None:
            self.sampleSpin.setValue(int(row))

    # ---- COCO import --------------------------------------------------------------------------
    def _import_coco(self) -> None:
        dialog = ImportCocoDialog(self)
        if dialog.exec() == ImportCocoDialog.DialogCode.Accepted:
            self.import_coco(*dialog.values())

    def import_coco(self, images: str, annotations: str, dest: str, resume: bool = False) -> bool:
        """Run the COCO importer in a worker with a progress dialog (Cancel stops it); open the result."""
        if self._importer.is_running():
            self._show_error("An import is already running; wait for it or cancel it.")
            return False
        progress = QProgressDialog(f"Importing {annotations} ...", "Cancel", 0, 0, self)
        progress.setObjectName("importProgressDialog")
        progress.setWindowTitle("Import COCO")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(self._importer.request_stop)
        self._import_progress = progress

        def finish_ok(summary):
            self._import_progress = None
            progress.close()
            if getattr(summary, "stopped", False):
                self.message.emit(f"Import stopped; {dest} holds the images done so far. Import again with "
                                  "'Resume' ticked to continue.", True)
                return
            self.open_url(dest)

        def finish_failed(message):
            self._import_progress = None
            progress.close()
            self._show_error(f"Import COCO: {message}")
        self._importer.succeeded.connect(finish_ok, Qt.ConnectionType.SingleShotConnection)
        self._importer.failed.connect(finish_failed, Qt.ConnectionType.SingleShotConnection)
        self._importer.start(lambda report, stop: coco_import.import_coco(
            images, annotations, dest, resume=resume, progress=report, should_stop=stop))
        progress.show()
        self.message.emit(f"Importing {annotations} into {dest} ...", False)
        return True

    @Slot(object)
    def _on_import_progress(self, values) -> None:
        if self._import_progress is not None and len(values) >= 2:
            self._import_progress.setMaximum(int(values[1]))
            self._import_progress.setValue(int(values[0]))


def format_shape(shape) -> str:
    """(None, None, 3) -> "? x ? x 3": per-row shapes, ? where rows differ."""
    if shape is None:
        return "?"
    return " x ".join("?" if d is None else str(d) for d in shape) or "scalar"

"""Augmentation panel: preset, editable transform list, original | augmented of the current row.

Every picture comes from the core's one sample path (read_sample -> build_pipeline -> prepare_sample ->
render), in the render thread, newest request wins, so what is shown is what the model will get.
"""
from __future__ import annotations

import copy

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from segstudio.base.config import AugmentConfig, Config
from segstudio.base.errors import UserError
from segstudio.gui.audit_view import AuditView
from segstudio.gui.state import DatasetState
from segstudio.gui.transform_editor import TransformListEditor
from segstudio.gui.widgets import TILE, TILE_GAP, ImageView, hbox, tile_images, titled, vbox
from segstudio.gui.workers import LatestTask, RenderService
from segstudio.samples.augment_presets import AUGMENT_PRESETS, resolve_spec
from segstudio.samples.render import name_tags, render_prepared, render_raw

CUSTOM = "custom"


def describe_report(report, class_names=()) -> str:
    """What the draw dropped and which parameters each transform applied, as readable lines."""
    if not report:
        return ""
    from segstudio.samples.augment import report_to_json  # albumentations and torch: not at window start-up
    plain = report_to_json(report)
    dropped = plain.get("dropped", [])
    lines = [f"Dropped instances: {len(dropped)}"]
    for d in dropped:
        label = d.get("label", -1)
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        lines.append(f"  - instance {d.get('instance')} ({name}): {d.get('reason', '')}")
    lines.append("Applied transforms:" if plain.get("applied") else "Applied transforms: none")
    for a in report.get("applied", []):
        params = readable_params(a.get("params", {}))   # a flip has none to show: say it happened
        lines.append(f"  {a['name']}: {_format_item(params)}" if params else f"  {a['name']} (applied)")
    return "\n".join(lines)


HIDDEN_PARAMS = ("shape", "bbox_matrix", "fill", "fill_mask", "interpolation", "mask_interpolation")


def readable_params(params: dict) -> dict:
    """Applied parameters as a reader checks them: a 3x3 warp matrix becomes its rotation angle (and scale,
    when not 1); the image shape, fill values and the boxes' copy of the matrix are left out."""
    import math

    import numpy as np

    out = {}
    for key, value in params.items():
        if key in HIDDEN_PARAMS or (key in ("x_min", "x_max", "y_min", "y_max") and value == -1):
            continue
        matrix = np.asarray(value) if key == "matrix" else None
        if matrix is not None and matrix.shape == (3, 3):
            a, b = float(matrix[0, 0]), float(matrix[0, 1])
            if "rotate" not in params:
                out["angle"] = f"{math.degrees(math.atan2(b, a)):.1f}°"
            scale = math.hypot(a, b)
            if abs(scale - 1) > 1e-3 and "scale" not in params:
                out["scale"] = scale
            continue
        out[key] = value.tolist() if isinstance(value, np.ndarray) and value.size <= 16 else value
    return out


def _format_item(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items())
    if hasattr(value, "__dataclass_fields__"):
        return ", ".join(f"{k}={_short(getattr(value, k))}" for k in value.__dataclass_fields__)
    return _short(value)


def _short(v) -> str:
    """Parameters at a readable precision: 0.7517556504 -> 0.752, nested lists and dicts alike."""
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_short(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    return str(v)


class AugmentRenderer:
    """Render-thread side: caches the raw row, its original picture and the built pipeline."""

    def __init__(self):
        self._raw_key = None
        self._raw_mapped = None
        self._raw = None
        self._original = None
        self._pipe_key = None
        self._pipeline = None

    def raw(self, mapped, row):
        # a new column choice is a new MappedDataset: identity, not id() (ids are reused)
        if row != self._raw_key or mapped is not self._raw_mapped:
            raw = mapped.read(row)
            self._original = render_raw(raw, mapped.class_names, draw_labels=False)   # names: overlay items
            self._original.setflags(write=False)   # sent to the GUI thread again on every draw: read-only
            self._raw, self._raw_key, self._raw_mapped = raw, row, mapped
        return self._raw, self._original

    def pipeline(self, aug_cfg: AugmentConfig):
        from segstudio.samples.augment import build_pipeline
        key = repr(aug_cfg)
        if key != self._pipe_key:
            self._pipeline, self._pipe_key = build_pipeline(aug_cfg, train=True), key
        return self._pipeline

    def draw(self, raw, aug_cfg, seed, names, labels: bool = True):
        """What training gets, drawn as `segstudio preview` draws it (names in the pixels unless `labels` is
        off), its report, and the names' places over it (see render.name_tags)."""
        from segstudio.samples.augment import prepare_sample
        prepared = prepare_sample(raw, self.pipeline(aug_cfg), seed)
        picture, factor = render_prepared(raw, prepared, names, draw_labels=labels)
        t = prepared.target
        tags = name_tags(t["boxes"].cpu().numpy(), t["labels"].cpu().numpy() - 1, names, factor=factor)
        return picture, prepared.report, tags

    def job(self, mapped, row, aug_cfg, seed):
        names = mapped.class_names
        raw, original = self.raw(mapped, row)
        augmented, report, tags = self.draw(raw, aug_cfg, seed, names, labels=False)
        original = mark_dropped(original, raw, report)
        texts = (f"Row {row}", describe_report(report, names), name_tags(raw.boxes, raw.labels, names), tags)
        return "pair", original, augmented, texts, seed

    def grid_job(self, mapped, row, aug_cfg, seeds, columns, first_draw):
        names = mapped.class_names
        raw, _ = self.raw(mapped, row)
        drawn = [self.draw(raw, aug_cfg, s, names) for s in seeds]   # a grid of pictures: names in the pixels
        captions = [f"draw {first_draw + i}" + (f" · {len(r['dropped'])} dropped" if r.get("dropped") else "")
                    for i, (_, r, _) in enumerate(drawn)]
        grid = tile_images([p for p, _, _ in drawn], columns, captions=captions)
        return "grid", grid, None, f"{len(seeds)} draws of row {row}", seeds[0]


def mark_dropped(original, raw, report):
    """The original with each instance the draw dropped crossed out in red, its number (as the report lists
    it) small in the box's lower corner so it does not cover the class labels."""
    import cv2

    dropped = [d["instance"] for d in report.get("dropped", []) if 0 <= d["instance"] < len(raw.boxes)]
    if not dropped:
        return original
    out = original.copy()
    thick = max(1, round(min(out.shape[:2]) / 300))
    for i in dropped:
        x1, y1, x2, y2 = (int(round(v)) for v in raw.boxes[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), (230, 0, 0), thick + 1)
        cv2.line(out, (x1, y1), (x2, y2), (230, 0, 0), thick)
        cv2.line(out, (x1, y2), (x2, y1), (230, 0, 0), thick)
        text = f"#{i}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        bx, by = max(0, x1), min(out.shape[0] - 1, y2)
        cv2.rectangle(out, (bx, by - th - base - 2), (bx + tw + 3, by), (230, 0, 0), -1)
        cv2.putText(out, text, (bx + 1, by - base - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


class AugmentPanel(QWidget):
    message = Signal(str, bool)
    rowChanged = Signal(int)            # the row shown here (the Dataset tab follows)
    auditAdviceChanged = Signal(str)    # the audit's advice in one line ("" once the pipeline changed since)

    def __init__(self, state: DatasetState, renderer: RenderService, image_size_fn=lambda: 128, config_fn=None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.renderer = renderer
        self.image_size_fn = image_size_fn
        # the whole config the audit describes (in the window: the Training tab's form)
        self.config_fn = config_fn or (lambda: Config(augment=self.augment_config()))
        self._worker = AugmentRenderer()
        self._filling = False
        self._error_shown = False
        self._presets = AUGMENT_PRESETS
        # the transforms' typed parameters, read off the GUI thread (Albumentations imports torch when it is there)
        self.catalogueReader = LatestTask(lambda _arg, _stop: _transform_catalogue(), "read the transforms", self)
        self.catalogueReader.ready.connect(self._on_catalogue)
        self.catalogueReader.failed.connect(self._error)
        self._build()
        self.pairChannel, self.gridChannel = renderer.channel("augment"), renderer.channel("augment-grid")
        for channel in (self.pairChannel, self.gridChannel):
            channel.resultReady.connect(self._on_render)
            channel.failed.connect(self._on_failed)
        state.changed.connect(self._on_state_changed)
        self.catalogueReader.request(None)

    def readers(self) -> list:
        return [self.catalogueReader]

    @Slot(int)
    def set_row(self, row: int) -> None:
        self.rowSpin.setValue(row)

    @Slot(int)
    def set_seed(self, seed: int) -> None:
        self.seedSpin.setValue(seed)

    @Slot()
    def audit_settings_changed(self) -> None:
        """A setting the audit depends on besides the pipeline changed (the form's model, split, seed ...)."""
        self.auditView.mark_stale()

    @Slot(object, object)
    def _on_catalogue(self, _arg, catalogue: dict) -> None:
        self.transforms.set_catalogue(catalogue)

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_pipeline_editor())
        split.addWidget(self._build_views())
        split.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        default = AugmentConfig().preset    # the CPU preset's, as a new training config has
        self.presetCombo.setCurrentText(default if default in self._presets else list(self._presets)[0])
        self.refresh_preset()

    def _build_pipeline_editor(self) -> QWidget:
        """Left side: preset, the ordered transform list with its parameter editors."""
        self.presetCombo = QComboBox(objectName="augPresetCombo")
        self.presetCombo.addItems(list(self._presets) + [CUSTOM])
        self.presetCombo.currentTextChanged.connect(self.apply_preset)
        self.transforms = TransformListEditor({})
        self.transforms.edited.connect(self._edited)
        form = QFormLayout()
        form.addRow("Augmentation preset", self.presetCombo)
        self.minAreaSpin = QDoubleSpinBox(objectName="augMinAreaSpin", minimum=0, maximum=1e7, decimals=1,
                                          suffix=" px²")
        self.minAreaSpin.setToolTip("Drop an instance whose box is smaller than this after the transforms")
        self.minVisibilitySpin = QDoubleSpinBox(objectName="augMinVisibilitySpin", minimum=0, maximum=1,
                                                decimals=2, singleStep=0.05)
        self.minVisibilitySpin.setToolTip("Drop an instance when less than this share of its box is left after "
                                          "cropping")
        for spin in (self.minAreaSpin, self.minVisibilitySpin):
            spin.valueChanged.connect(self.request_preview)
            spin.valueChanged.connect(self._pipeline_changed)
        filters = QFormLayout()
        filters.addRow("Drop boxes under", self.minAreaSpin)
        filters.addRow("Drop boxes less visible than", self.minVisibilitySpin)
        self._set_filters(AugmentConfig())
        return vbox(form, (self.transforms, 1), filters)

    def _set_filters(self, cfg: AugmentConfig) -> None:
        self.minAreaSpin.setValue(cfg.min_area)
        self.minVisibilitySpin.setValue(cfg.min_visibility)

    def _build_views(self) -> QWidget:
        """Right side: seed/draw/re-roll, original | augmented (or a grid), what the draw did."""
        self.seedSpin = QSpinBox(objectName="augSeedSpin", minimum=0, maximum=2**31 - 1)
        self.seedSpin.setToolTip("Run seed (the training seed); with the draw number it fixes the sample")
        self.drawSpin = QSpinBox(objectName="augDrawSpin", minimum=0, maximum=100000)
        self.drawSpin.setToolTip("Which draw: the epoch whose augmentation of this row is shown")
        self.rowSpin = QSpinBox(objectName="augRowSpin", minimum=0, maximum=0)
        self.rowSpin.setToolTip("The dataset row augmented here (the Dataset tab shows the same row)")
        self.rowSpin.valueChanged.connect(self.rowChanged)
        self.seedSpin.valueChanged.connect(self.request_preview)
        self.drawSpin.valueChanged.connect(self.request_preview)
        self.rowSpin.valueChanged.connect(self.request_preview)
        self.rerollButton = QPushButton("Re-roll", objectName="rerollButton", clicked=self.reroll)
        self.rerollButton.setToolTip("Show the next draw (Ctrl+R)")
        self.gridSpin = QSpinBox(objectName="gridCountSpin", minimum=2, maximum=64, value=9)
        self.originalView = ImageView(placeholder="original")
        self.originalView.setObjectName("augOriginalView")
        self.augmentedView = ImageView(placeholder="augmented")
        self.augmentedView.setObjectName("augmentedView")
        self.gridView = ImageView(placeholder="Press 'Show grid'")
        self.gridView.setObjectName("augGridView")
        self.gridView.setToolTip("Click a draw to see it beside the original")
        self.gridView.scene().sigMouseClicked.connect(self._on_grid_clicked)
        self._grid = (1, 0, 0)   # (columns, first draw, tiles) of the grid shown
        pair = QSplitter(Qt.Orientation.Horizontal)
        pair.addWidget(titled("Original (raw row)", self.originalView))
        pair.addWidget(titled("Augmented (what the model gets)", self.augmentedView))
        self.viewTabs = QTabWidget(objectName="augViewTabs")
        self.viewTabs.addTab(pair, "Original | augmented")
        self.viewTabs.addTab(self.gridView, "Grid")
        self.auditView = AuditView(self.state, lambda: self.config_fn(), self._presets)
        self.auditView.message.connect(self.message)
        self.auditView.adviceChanged.connect(self.auditAdviceChanged)
        self.viewTabs.addTab(self.auditView, "Audit")
        self.reportText = QPlainTextEdit(objectName="augReportText", readOnly=True)
        self.reportText.setMaximumHeight(130)
        self.reportText.setPlaceholderText("Dropped instances and applied parameters of the shown draw")
        controls = hbox(QLabel("Row"), self.rowSpin, QLabel("Seed"), self.seedSpin, QLabel("Draw"), self.drawSpin,
                        self.rerollButton, 1,
                        QLabel("Grid of"), self.gridSpin,
                        QPushButton("Show grid", objectName="showGridButton", clicked=self.request_grid))
        return vbox(controls, (self.viewTabs, 1), self.reportText)

    # ---- the spec -----------------------------------------------------------------------------
    def augment_config(self) -> AugmentConfig:
        preset = self.presetCombo.currentText()
        base = AugmentConfig(image_size=int(self.image_size_fn()), min_area=self.minAreaSpin.value(),
                             min_visibility=self.minVisibilitySpin.value())
        base.preset = preset
        if preset == CUSTOM:
            base.transforms = self.transforms.spec()
        return base

    def set_augment_config(self, cfg: AugmentConfig) -> None:
        """Show a loaded config: its preset, or its custom transform list, and its box filters."""
        self._set_filters(cfg)
        if cfg.preset == CUSTOM:
            self.transforms.set_spec(copy.deepcopy(cfg.transforms))
            self._set_preset_silently(CUSTOM)
        else:
            self.presetCombo.setCurrentText(cfg.preset)
        self.request_preview()

    def _set_preset_silently(self, name: str) -> None:
        self._filling = True
        self.presetCombo.setCurrentText(name)
        self._filling = False

    @Slot()
    def refresh_preset(self, *_):
        """The preset's transforms again (they follow the image size), unless the list is custom."""
        self.apply_preset(self.presetCombo.currentText())

    @Slot(str)
    def apply_preset(self, name: str) -> None:
        if self._filling:
            return
        if name != CUSTOM:
            try:
                spec = resolve_spec(AugmentConfig(preset=name, image_size=int(self.image_size_fn())))
            except UserError as exc:   # a preset that does not fit the image size: the core's message
                self._error(str(exc))
                return
            self.transforms.set_spec(spec)
        self._pipeline_changed()
        self.request_preview()

    @Slot()
    def _edited(self) -> None:
        """Any edit of the list makes the pipeline custom; the preview follows at once."""
        self._set_preset_silently(CUSTOM)
        self._pipeline_changed()
        self.request_preview()

    @Slot()
    def _pipeline_changed(self, *_) -> None:
        if hasattr(self, "auditView"):   # the filters are set while the panel is built
            self.auditView.mark_stale()

    # ---- previews -----------------------------------------------------------------------------
    def row_fn(self) -> int:
        return self.rowSpin.value()

    @Slot()
    def _on_state_changed(self) -> None:
        self.rowSpin.setMaximum(max(0, self.state.num_rows - 1))
        self.request_preview()

    def draw_seed(self) -> int:
        from segstudio.samples.augment import sample_seed
        return int(sample_seed(self.seedSpin.value(), self.drawSpin.value(), self.row_fn()))

    @Slot()
    def reroll(self) -> None:
        self.drawSpin.setValue(self.drawSpin.value() + 1)  # triggers request_preview

    @Slot()
    def request_preview(self, *_):
        st = self.state
        if not st.ready:
            return
        try:
            cfg, seed = self.augment_config(), self.draw_seed()
        except UserError as exc:
            self._error(str(exc))
            return
        mapped, row = st.mapped, self.row_fn()
        self.pairChannel.submit(lambda: self._worker.job(mapped, row, cfg, seed))

    @Slot()
    def request_grid(self) -> None:
        st = self.state
        if not st.ready:
            return
        from segstudio.samples.augment import sample_seed
        n, row = self.gridSpin.value(), self.row_fn()
        seeds = [int(sample_seed(self.seedSpin.value(), self.drawSpin.value() + i, row)) for i in range(n)]
        columns = int(np.ceil(np.sqrt(n)))
        mapped, cfg, first = st.mapped, self.augment_config(), self.drawSpin.value()
        self._grid = (columns, first, n)
        self.viewTabs.setCurrentIndex(1)
        self.gridChannel.submit(lambda: self._worker.grid_job(mapped, row, cfg, seeds, columns, first))

    def open_tile(self, index: int) -> None:
        """Show tile `index` of the grid side by side with the original (its draw becomes the current one)."""
        columns, first, n = self._grid
        if 0 <= index < n:
            self.drawSpin.setValue(first + index)
            self.viewTabs.setCurrentIndex(0)

    def _on_grid_clicked(self, event) -> None:
        if self.gridView.array is None or not self._grid[2]:
            return
        point = self.gridView.image_point(event.scenePos())
        if point is None:
            return
        x, y = point
        step = TILE + TILE_GAP
        self.open_tile(int(y // step) * self._grid[0] + int(x // step))

    @Slot(int, object)
    def _on_render(self, seq: int, payload) -> None:
        kind, first, second, text, seed = payload
        if self._error_shown:   # the red message of a pipeline that failed would outlive its fix
            self._error_shown = False
            self.message.emit("Augmentation works again.", False)
        if kind == "pair":
            self.originalView.set_image(first)
            self.augmentedView.set_image(second)
            self.originalView.set_tags(text[2])
            self.augmentedView.set_tags(text[3])
            self.reportText.setPlainText(f"{text[0]}, draw {self.drawSpin.value()} (seed {seed})\n{text[1]}")
        else:
            self.gridView.set_image(first)

    def _error(self, text: str) -> None:
        self._error_shown = True
        self.message.emit(text, True)

    @Slot(int, str)
    def _on_failed(self, seq: int, message: str) -> None:
        self.augmentedView.set_message("Cannot augment this row")
        self.reportText.setPlainText(message)
        self._error(f"Augmentation: {message}")


def _transform_catalogue() -> dict:
    from segstudio.samples.augment_spec import list_transforms  # Albumentations: in the reader's thread

    return {t.name: t for t in list_transforms()}

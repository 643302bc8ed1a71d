"""Augmentation panel: preset, editable transform list, original | augmented of the current row.

Every picture comes from the core's one sample path (read_sample -> build_pipeline -> prepare_sample ->
render), in the render thread, newest request wins, so what is shown is what the model will get.
"""
from __future__ import annotations

import copy

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFormLayout, QLabel, QPlainTextEdit, QPushButton,
                               QSpinBox, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from segstudio.config import AugmentConfig
from segstudio.errors import UserError
from segstudio.gui.state import DatasetState
from segstudio.gui.transform_editor import TransformListEditor
from segstudio.gui.widgets import ImageView, hbox, tile_images, titled, vbox
from segstudio.gui.workers import RenderService
from segstudio.render import render_prepared, render_raw

CUSTOM = "custom"


def describe_report(report, class_names=()) -> str:
    """What the draw dropped and which parameters each transform applied, as readable lines."""
    if not report:
        return ""
    from segstudio.augment import report_to_json   # albumentations and torch: not at window start-up
    plain = report_to_json(report)
    dropped = plain.get("dropped", [])
    lines = [f"Dropped instances: {len(dropped)}"]
    for d in dropped:
        label = d.get("label", -1)
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        lines.append(f"  - instance {d.get('instance')} ({name}): {d.get('reason', '')}")
    lines.append("Applied transforms:" if plain.get("applied") else "Applied transforms: none")
    lines += [f"  {a['name']}: {_format_item(a.get('params', {}))}" for a in plain.get("applied", [])]
    return "\n".join(lines)


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
            self._original = render_raw(raw, mapped.class_names)
            self._original.setflags(write=False)   # sent to the GUI thread again on every draw: read-only
            self._raw, self._raw_key, self._raw_mapped = raw, row, mapped
        return self._raw, self._original

    def pipeline(self, aug_cfg: AugmentConfig):
        from segstudio.augment import build_pipeline
        key = repr(aug_cfg)
        if key != self._pipe_key:
            self._pipeline, self._pipe_key = build_pipeline(aug_cfg, train=True), key
        return self._pipeline

    def draw(self, raw, aug_cfg, seed, names):
        from segstudio.augment import prepare_sample
        prepared = prepare_sample(raw, self.pipeline(aug_cfg), seed)
        return render_prepared(raw, prepared, names)[0], prepared.report   # as `segstudio preview` draws it

    def job(self, mapped, row, aug_cfg, seed):
        names = mapped.class_names
        raw, original = self.raw(mapped, row)
        augmented, report = self.draw(raw, aug_cfg, seed, names)
        return "pair", original, augmented, describe_report(report, names), seed

    def grid_job(self, mapped, row, aug_cfg, seeds, columns):
        names = mapped.class_names
        raw, _ = self.raw(mapped, row)
        pictures = [self.draw(raw, aug_cfg, s, names)[0] for s in seeds]
        return "grid", tile_images(pictures, columns), None, f"{len(seeds)} draws of row {row}", seeds[0]


class AugmentPanel(QWidget):
    message = Signal(str, bool)

    def __init__(self, state: DatasetState, renderer: RenderService, image_size_fn=lambda: 128,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.renderer = renderer
        self.image_size_fn = image_size_fn
        self.row_fn = lambda: 0
        self._worker = AugmentRenderer()
        self._filling = False
        from segstudio.augment import AUGMENT_PRESETS, list_transforms   # albumentations: built with the panel
        self._presets = AUGMENT_PRESETS
        self._catalogue = {t.name: t for t in list_transforms()}
        self._build()
        renderer.resultReady.connect(self._on_render)
        renderer.failed.connect(self._on_failed)
        state.changed.connect(self.request_preview)

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
        self.transforms = TransformListEditor(self._catalogue)
        self.transforms.edited.connect(self._edited)
        form = QFormLayout()
        form.addRow("Augmentation preset", self.presetCombo)
        return vbox(form, (self.transforms, 1))

    def _build_views(self) -> QWidget:
        """Right side: seed/draw/re-roll, original | augmented (or a grid), what the draw did."""
        self.seedSpin = QSpinBox(objectName="augSeedSpin", minimum=0, maximum=2**31 - 1)
        self.seedSpin.setToolTip("Run seed (the training seed); with the draw number it fixes the sample")
        self.drawSpin = QSpinBox(objectName="augDrawSpin", minimum=0, maximum=100000)
        self.drawSpin.setToolTip("Which draw: the epoch whose augmentation of this row is shown")
        self.seedSpin.valueChanged.connect(self.request_preview)
        self.drawSpin.valueChanged.connect(self.request_preview)
        self.rerollButton = QPushButton("Re-roll", objectName="rerollButton", clicked=self.reroll)
        self.rerollButton.setToolTip("Show the next draw (Ctrl+R)")
        self.gridSpin = QSpinBox(objectName="gridCountSpin", minimum=2, maximum=64, value=9)
        self.originalView = ImageView(placeholder="original")
        self.originalView.setObjectName("augOriginalView")
        self.augmentedView = ImageView(placeholder="augmented")
        self.augmentedView.setObjectName("augmentedView")
        self.gridView = ImageView(placeholder="Press 'Show grid'")
        self.gridView.setObjectName("augGridView")
        pair = QSplitter(Qt.Orientation.Horizontal)
        pair.addWidget(titled("Original (raw row)", self.originalView))
        pair.addWidget(titled("Augmented (what the model gets)", self.augmentedView))
        self.viewTabs = QTabWidget(objectName="augViewTabs")
        self.viewTabs.addTab(pair, "Original | augmented")
        self.viewTabs.addTab(self.gridView, "Grid")
        self.reportText = QPlainTextEdit(objectName="augReportText", readOnly=True)
        self.reportText.setMaximumHeight(130)
        self.reportText.setPlaceholderText("Dropped instances and applied parameters of the shown draw")
        controls = hbox(QLabel("Seed"), self.seedSpin, QLabel("Draw"), self.drawSpin, self.rerollButton, 1,
                        QLabel("Grid of"), self.gridSpin,
                        QPushButton("Show grid", objectName="showGridButton", clicked=self.request_grid))
        return vbox(controls, (self.viewTabs, 1), self.reportText)

    # ---- the spec -----------------------------------------------------------------------------
    def augment_config(self) -> AugmentConfig:
        preset = self.presetCombo.currentText()
        base = AugmentConfig(image_size=int(self.image_size_fn()))
        base.preset = preset
        if preset == CUSTOM:
            base.transforms = self.transforms.spec()
        return base

    def set_augment_config(self, cfg: AugmentConfig) -> None:
        """Show a loaded config: its preset, or its custom transform list."""
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
            from segstudio.augment import resolve_spec
            try:
                spec = resolve_spec(AugmentConfig(preset=name, image_size=int(self.image_size_fn())))
            except UserError as exc:   # a preset that does not fit the image size: the core's message
                self.message.emit(str(exc), True)
                return
            self.transforms.set_spec(spec)
        self.request_preview()

    @Slot()
    def _edited(self) -> None:
        """Any edit of the list makes the pipeline custom; the preview follows at once."""
        self._set_preset_silently(CUSTOM)
        self.request_preview()

    # ---- previews -----------------------------------------------------------------------------
    def draw_seed(self) -> int:
        from segstudio.augment import sample_seed
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
            self.message.emit(str(exc), True)
            return
        mapped, row = st.mapped, self.row_fn()
        self.renderer.submit("augment", lambda: self._worker.job(mapped, row, cfg, seed))

    @Slot()
    def request_grid(self) -> None:
        st = self.state
        if not st.ready:
            return
        from segstudio.augment import sample_seed
        n, row = self.gridSpin.value(), self.row_fn()
        seeds = [int(sample_seed(self.seedSpin.value(), self.drawSpin.value() + i, row)) for i in range(n)]
        columns = int(np.ceil(np.sqrt(n)))
        mapped, cfg = st.mapped, self.augment_config()
        self.viewTabs.setCurrentIndex(1)
        self.renderer.submit("augment-grid", lambda: self._worker.grid_job(mapped, row, cfg, seeds, columns))

    @Slot(str, int, object)
    def _on_render(self, channel: str, seq: int, payload) -> None:
        if channel not in ("augment", "augment-grid"):
            return
        kind, first, second, text, seed = payload
        if kind == "pair":
            self.originalView.set_image(first)
            self.augmentedView.set_image(second)
            self.reportText.setPlainText(f"Draw seed {seed}\n{text}")
        else:
            self.gridView.set_image(first)

    @Slot(str, int, str)
    def _on_failed(self, channel: str, seq: int, message: str) -> None:
        if channel in ("augment", "augment-grid"):
            self.augmentedView.set_message("Cannot augment this row")
            self.reportText.setPlainText(message)
            self.message.emit(f"Augmentation: {message}", True)

"""Augmentation panel: preset, editable transform list, original | augmented of the current row.

Every picture comes from the core's one sample path (read_sample -> build_pipeline -> prepare_sample ->
render), in the render thread, newest request wins, so what is shown is what the model will get.
"""
from __future__ import annotations

import copy

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QPlainTextEdit, QPushButton,
                               QScrollArea, QSpinBox, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from segstudio.config import AugmentConfig
from segstudio.data.sample import read_sample
from segstudio.gui.state import DatasetState
from segstudio.gui.widgets import ImageView, hbox, tile_images, titled, vbox
from segstudio.gui.workers import RenderService
from segstudio.render import enlarge, prepared_to_render, raw_to_render, render

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


def parse_literal(text: str):
    """A typed value from a free-text parameter field: numbers, lists, None, True; else the text."""
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


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
        self._raw_ds = None
        self._raw = None
        self._original = None
        self._pipe_key = None
        self._pipeline = None

    def raw(self, ds, row, mapping, fmt, names):
        key = (row, mapping, fmt)
        if key != self._raw_key or ds is not self._raw_ds:   # identity, not id(): ids are reused
            raw = read_sample(ds, row, mapping, fmt)
            self._original = render(**raw_to_render(raw), class_names=names)
            self._original.setflags(write=False)   # sent to the GUI thread again on every draw: read-only
            self._raw, self._raw_key, self._raw_ds = raw, key, ds
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
        # a small training crop is shown enlarged (pixels repeated, not resampled) as `preview` does,
        # so its labels stay readable next to the original
        factor = max(1, min(4, raw.image.shape[0] // max(1, int(prepared.image.shape[1]))))
        rgb = render(**enlarge(prepared_to_render(prepared), factor), class_names=names)
        return rgb, prepared.report

    def job(self, ds, row, mapping, fmt, names, aug_cfg, seed):
        raw, original = self.raw(ds, row, mapping, fmt, names)
        augmented, report = self.draw(raw, aug_cfg, seed, names)
        return "pair", original, augmented, describe_report(report, names), seed

    def grid_job(self, ds, row, mapping, fmt, names, aug_cfg, seeds, columns):
        raw, _ = self.raw(ds, row, mapping, fmt, names)
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
        self._spec: list[dict] = []
        self._transforms: dict[str, object] = {}
        self._filling = False
        from segstudio.augment import PRESETS, list_transforms
        self._presets = PRESETS
        self._transforms = {t.name: t for t in list_transforms()}
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
        if self._presets:
            default = AugmentConfig().preset    # the CPU preset's, as a new training config has
            self.presetCombo.setCurrentText(default if default in self._presets else list(self._presets)[0])
            self._on_preset(self.presetCombo.currentText())

    def _build_pipeline_editor(self) -> QWidget:
        """Left side: preset, the ordered transform list with add/remove/move, the parameter form."""
        self.presetCombo = QComboBox(objectName="augPresetCombo")
        self.presetCombo.addItems(list(self._presets) + [CUSTOM])
        self.presetCombo.currentTextChanged.connect(self._on_preset)
        self.transformList = QListWidget(objectName="transformList")
        self.transformList.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.transformList.currentRowChanged.connect(self._show_params)
        self.transformList.model().rowsMoved.connect(self._on_reordered)
        self.addCombo = QComboBox(objectName="addTransformCombo")
        self.addCombo.addItems(sorted(self._transforms))
        self.paramBox = QGroupBox("Parameters")
        self.paramForm = QFormLayout(self.paramBox)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.paramBox)
        form = QFormLayout()
        form.addRow("Preset", self.presetCombo)
        return vbox(form, QLabel("Transforms, in order (drag to reorder):"), (self.transformList, 1),
                    hbox((self.addCombo, 1),
                         QPushButton("Add", objectName="addTransformButton", clicked=self._add_transform)),
                    hbox(QPushButton("Remove", objectName="removeTransformButton", clicked=self._remove_transform),
                         QPushButton("Up", objectName="moveUpButton", clicked=lambda: self._move(-1)),
                         QPushButton("Down", objectName="moveDownButton", clicked=lambda: self._move(1))),
                    (scroll, 1))

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
        if preset == CUSTOM:
            base.preset = CUSTOM
            base.transforms = copy.deepcopy(self._spec)
        else:
            base.preset = preset
        return base

    def set_augment_config(self, cfg: AugmentConfig) -> None:
        """Show a loaded config: its preset, or its custom transform list."""
        if cfg.preset == CUSTOM:
            self._set_spec(copy.deepcopy(cfg.transforms))
            self._set_preset_silently(CUSTOM)
        else:
            self.presetCombo.setCurrentText(cfg.preset)
        self.request_preview()

    def _set_preset_silently(self, name: str) -> None:
        self._filling = True
        self.presetCombo.setCurrentText(name)
        self._filling = False

    @Slot(str)
    def _on_preset(self, name: str) -> None:
        if self._filling or not self._presets:
            return
        if name != CUSTOM:
            from segstudio.augment import resolve_spec
            try:
                spec = resolve_spec(AugmentConfig(preset=name, image_size=int(self.image_size_fn())))
            except Exception as exc:  # noqa: BLE001 - show the core's message
                self.message.emit(str(exc), True)
                return
            self._set_spec(spec)
        self.request_preview()

    def _set_spec(self, spec: list[dict]) -> None:
        self._spec = [dict(t) for t in spec]
        self.transformList.blockSignals(True)
        self.transformList.clear()
        for t in self._spec:
            self.transformList.addItem(t.get("name", "?"))
        self.transformList.blockSignals(False)
        self.transformList.setCurrentRow(0 if self._spec else -1)
        self._show_params(self.transformList.currentRow())

    def _edited(self) -> None:
        """Any edit of the list makes the pipeline custom; the preview follows at once."""
        self._set_preset_silently(CUSTOM)
        self.request_preview()

    def _add_transform(self) -> None:
        name = self.addCombo.currentText()
        if not name:
            return
        entry = {"name": name}
        for p in self._transforms[name].params:
            entry[p.name] = copy.deepcopy(p.default)
        self._spec.append(entry)
        self.transformList.addItem(name)
        self.transformList.setCurrentRow(len(self._spec) - 1)
        self._edited()

    def _remove_transform(self) -> None:
        row = self.transformList.currentRow()
        if 0 <= row < len(self._spec):
            del self._spec[row]
            self.transformList.takeItem(row)
            self._show_params(self.transformList.currentRow())
            self._edited()

    def _move(self, step: int) -> None:
        row = self.transformList.currentRow()
        dest = row + step
        if 0 <= row < len(self._spec) and 0 <= dest < len(self._spec):
            self._spec[row], self._spec[dest] = self._spec[dest], self._spec[row]
            item = self.transformList.takeItem(row)
            self.transformList.insertItem(dest, item)
            self.transformList.setCurrentRow(dest)
            self._edited()

    def _on_reordered(self, *_):
        by_name = list(self._spec)
        order = [self.transformList.item(i).text() for i in range(self.transformList.count())]
        new = []
        for name in order:
            for j, t in enumerate(by_name):
                if t.get("name") == name:
                    new.append(by_name.pop(j))
                    break
        self._spec = new + by_name
        self._edited()

    # ---- parameter editors --------------------------------------------------------------------
    @Slot(int)
    def _show_params(self, row: int) -> None:
        while self.paramForm.rowCount():
            self.paramForm.removeRow(0)
        if not 0 <= row < len(self._spec):
            self.paramBox.setTitle("Parameters")
            return
        entry = self._spec[row]
        self.paramBox.setTitle(f"Parameters of {entry.get('name')}")
        known = self._transforms.get(entry.get("name"))
        specs = {p.name: p for p in (known.params if known else ())}
        for key in list(specs) + [k for k in entry if k != "name" and k not in specs]:
            value = entry.get(key, specs[key].default if key in specs else None)
            self.paramForm.addRow(key, self._editor(row, key, value, specs.get(key)))

    def _editor(self, row: int, key: str, value, spec) -> QWidget:
        """An editor for one parameter; `spec` is its ParamInfo, None for a key the catalogue does not know."""
        def setter(v):
            if row < len(self._spec):
                self._spec[row][key] = v
                self._edited()
        choices = spec.choices if spec else None
        lo, hi = (spec.min, spec.max) if spec else (None, None)
        if choices:
            w = QComboBox()
            w.addItems([str(c) for c in (spec.labels or choices)])
            if value in list(choices):
                w.setCurrentIndex(list(choices).index(value))
            w.currentIndexChanged.connect(lambda i: setter(list(choices)[i]))
        elif isinstance(value, bool) or (spec is not None and spec.type == "bool"):
            w = QCheckBox()
            w.setChecked(value)
            w.toggled.connect(setter)
        elif isinstance(value, int):
            w = QSpinBox(minimum=int(lo if lo is not None else -10**6), maximum=int(hi if hi is not None else 10**6))
            w.setValue(value)
            w.valueChanged.connect(setter)
        elif isinstance(value, float):
            w = QDoubleSpinBox(decimals=3, singleStep=0.05, minimum=float(lo if lo is not None else -1e6),
                               maximum=float(hi if hi is not None else 1e6))
            w.setValue(value)
            w.valueChanged.connect(setter)
        elif (isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
              and 0 < len(value) <= 2):   # a [lo, hi] pair; longer lists are edited as text below
            w = QWidget()
            layout = QHBoxLayout(w)
            layout.setContentsMargins(0, 0, 0, 0)
            parts = list(value)
            for i, v in enumerate(value):
                box = (QDoubleSpinBox(decimals=3, singleStep=0.05, minimum=-1e6, maximum=1e6)
                       if isinstance(v, float) else QSpinBox(minimum=-10**6, maximum=10**6))
                box.setValue(v)
                box.valueChanged.connect(lambda x, i=i: (parts.__setitem__(i, x), setter(list(parts))))
                layout.addWidget(box)
        else:
            w = QLineEdit(repr(value) if not isinstance(value, str) else value)
            w.editingFinished.connect(lambda: setter(parse_literal(w.text())))
        return w

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
        except Exception as exc:  # noqa: BLE001
            self.message.emit(str(exc), True)
            return
        args = (st.ds, self.row_fn(), st.mapping, st.box_format, st.class_names, cfg)
        self.renderer.submit("augment", lambda: self._worker.job(*args, seed))

    @Slot()
    def request_grid(self) -> None:
        st = self.state
        if not st.ready:
            return
        from segstudio.augment import sample_seed
        n, row = self.gridSpin.value(), self.row_fn()
        seeds = [int(sample_seed(self.seedSpin.value(), self.drawSpin.value() + i, row)) for i in range(n)]
        columns = int(np.ceil(np.sqrt(n)))
        args = (st.ds, row, st.mapping, st.box_format, st.class_names, self.augment_config())
        self.viewTabs.setCurrentIndex(1)
        self.renderer.submit("augment-grid", lambda: self._worker.grid_job(*args, seeds, columns))

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

"""One raw row of the open dataset, drawn as the core draws it, picked with a spin box and a slider."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget

from segstudio.gui.display_controls import DisplayControls
from segstudio.gui.state import DatasetState
from segstudio.gui.widgets import ImageView, link_slider
from segstudio.gui.workers import RenderService
from segstudio.samples.render import name_tags, render_raw

CHANNEL = "dataset"   # the render service's channel of this view
HOVER_HINT = "Point at an instance to name it; wheel to zoom, drag to pan, double-click to fit."


def render_row(mapped, row: int, options: dict | None = None):
    """Render job: one raw row of a MappedDataset with masks, boxes and names, as the core draws it (with
    the display options: render() keyword arguments)."""
    raw, class_names = mapped.read(row), mapped.class_names
    options = dict(options or {})
    with_labels = options.pop("draw_labels", True)
    # names are drawn by the view at screen size (burned into the pixels they were blocky on small images
    # and huge when zoomed in)
    rgb = render_raw(raw, class_names, draw_labels=False, **options)
    names = [class_names[i] if 0 <= i < len(class_names) else str(i) for i in raw.labels.tolist()]
    h, w = raw.image.shape[:2]
    n = raw.num_instances
    listed = f" ({', '.join(names[:12])}{', ...' if len(names) > 12 else ''})" if names else ""
    tags = name_tags(raw.boxes, raw.labels, class_names, hidden=options.get("hidden_classes", ())) \
        if with_labels else []
    instances = Instances(names, raw.labels.tolist(), raw.masks.astype(bool, copy=False), (h, w), tags)
    return row, rgb, f"row {row}: {w}x{h}, {n} instance{'' if n == 1 else 's'}{listed}", instances


class Instances:
    """The instances of the row on screen, to name the one under the mouse pointer."""

    def __init__(self, names: list, labels: list, masks, shape: tuple, tags: list = ()):
        self.names, self.labels, self.masks, self.shape = names, labels, masks, shape
        self.tags = list(tags)   # (x, y, name, rgb) of each name drawn over the picture

    def at(self, x: float, y: float, drawn_shape: tuple) -> str:
        """'star (class id 3), instance 2, mask 1,234 px' for the topmost mask at picture point (x, y)."""
        h, w = self.shape
        col, row = int(x * w / max(1, drawn_shape[1])), int(y * h / max(1, drawn_shape[0]))
        if not (0 <= row < h and 0 <= col < w) or self.masks is None or not len(self.masks):
            return ""
        hits = [i for i in range(len(self.masks)) if self.masks[i][row, col]]
        if not hits:
            return ""
        i = hits[-1]   # drawn last, so on top
        return (f"{self.names[i]} (class id {self.labels[i]}), instance {i}, mask "
                f"{int(self.masks[i].sum()):,} px")


class SampleView(QGroupBox):
    """The row picker and its picture; other panels follow `rowChanged` (the augmentation preview)."""

    message = Signal(str, bool)
    rowChanged = Signal(int)
    shown = Signal()        # a row's picture (or why it cannot be shown) reached the screen

    def __init__(self, state: DatasetState, renderer: RenderService, parent: QWidget | None = None):
        super().__init__("Sample", parent)
        self.state = state
        self.renderer = renderer
        self.sampleSpin = QSpinBox(objectName="sampleSpin", minimum=0, maximum=0)
        self.sampleSpin.setToolTip("Row shown (raw, before augmentation)")
        self.sampleSlider = QSlider(Qt.Orientation.Horizontal, objectName="sampleSlider")
        self.sampleSlider.setRange(0, 0)
        link_slider(self.sampleSlider, self.sampleSpin)
        self.sampleSpin.valueChanged.connect(self.request_preview)
        self.sampleSpin.valueChanged.connect(self.rowChanged)
        self.rowCountLabel = QLabel("", objectName="rowCountLabel")
        self.previewView = ImageView(placeholder="Open a dataset to see its rows")
        self.previewView.setObjectName("previewView")
        self.sampleInfo = QLabel("", objectName="sampleInfoLabel", wordWrap=True)
        self.hoverLabel = QLabel(HOVER_HINT, objectName="sampleHoverLabel")
        self.hoverLabel.setStyleSheet("color: #5f6368;")
        self.hoverLabel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._instances: Instances | None = None
        self.previewView.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.display = DisplayControls("sample")
        self.display.changed.connect(self.request_preview)
        row = QHBoxLayout()
        row.addWidget(QLabel("Row"))
        row.addWidget(self.sampleSpin)
        row.addWidget(self.rowCountLabel)
        row.addWidget(self.sampleSlider, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.display)
        layout.addWidget(self.previewView, 1)
        layout.addWidget(self.sampleInfo)
        layout.addWidget(self.hoverLabel)
        self.channel = renderer.channel(CHANNEL)
        self.channel.resultReady.connect(self._on_render)
        self.channel.failed.connect(self._on_render_failed)

    def current_row(self) -> int:
        return self.sampleSpin.value()

    def show_row(self, row: int) -> None:
        self.sampleSpin.setValue(int(row))

    def set_row_count(self, n: int) -> None:
        self.sampleSlider.setMaximum(max(0, n - 1))
        self.sampleSpin.setMaximum(max(0, n - 1))
        self.rowCountLabel.setText(f"({n:,} row{'' if n == 1 else 's'})")

    @Slot()
    def request_preview(self, *_):
        st = self.state
        if not st.ready:
            if st.ds is not None:
                self.previewView.set_message("Pick the image, boxes and labels columns")
            return
        row, mapped, options = self.sampleSpin.value(), st.mapped, self.display.options()
        self.channel.submit(lambda: render_row(mapped, row, options))

    @Slot(int, object)
    def _on_render(self, seq: int, payload) -> None:
        row, rgb, text, self._instances = payload
        self.previewView.set_image(rgb)
        self.previewView.set_tags(self._instances.tags)
        self.sampleInfo.setText(text)
        self.shown.emit()

    @Slot(object)
    def _on_mouse_moved(self, scene_pos) -> None:
        point = self.previewView.image_point(scene_pos)
        text = ""
        if point is not None and self._instances is not None and self.previewView.array is not None:
            text = self._instances.at(point[0], point[1], self.previewView.array.shape[:2])
        self.hoverLabel.setText(text or HOVER_HINT)

    @Slot(int, str)
    def _on_render_failed(self, seq: int, message: str) -> None:
        self.previewView.set_message("Cannot show this row")
        self.sampleInfo.setText(message)
        self.message.emit(message, True)
        self.shown.emit()

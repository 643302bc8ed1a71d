"""Small reusable widgets: an RGB image view, a label that elides, labelled groups, layout helpers."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QBoxLayout,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QScrollBar,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class ImageView(pg.GraphicsView):
    """Shows one HxWx3 uint8 RGB array (as drawn by segstudio.samples.render) with zoom and pan.

    `array` keeps the last array shown so scripts and tests can check exactly what is on screen.
    """

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent, background="#202124")
        self._box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.setCentralItem(self._box)
        self._item = pg.ImageItem()
        self._box.addItem(self._item)
        self._text = pg.TextItem(placeholder, color="#bbbbbb", anchor=(0.5, 0.5))
        self._box.addItem(self._text)
        self._text.setPos(0.5, 0.5)
        self._box.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.array: np.ndarray | None = None
        self._tags: list = []          # pg.TextItems, each with .corner: its box's top-left in picture pixels
        self._box.sigRangeChanged.connect(lambda *_: self._place_tags())
        self.setMinimumSize(160, 120)

    def set_image(self, rgb: np.ndarray | None, message: str = "") -> None:
        if rgb is None:
            self.array = None
            self._item.clear()
            self._text.setText(message)
            self._text.setPos(0.5, 0.5)
            self._box.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            return
        rgb = np.ascontiguousarray(rgb)
        previous = None if self.array is None else self.array.shape
        self.array = rgb
        self._text.setText("")
        # uint8 without levels takes pyqtgraph's fast path; setImage keeps a view, so never reuse rgb
        self._item.setImage(rgb, autoLevels=False, levels=None)
        if previous != rgb.shape:
            self._box.setRange(xRange=(0, rgb.shape[1]), yRange=(0, rgb.shape[0]), padding=0.01)

    def set_message(self, message: str) -> None:
        self.set_image(None, message)
        self.set_tags([])

    def set_tags(self, tags: list) -> None:
        """Names over the picture at screen size, whatever the zoom: (x, y, text, rgb) with (x, y) the
        top-left corner of the instance's box in picture pixels."""
        for item in self._tags:
            self._box.removeItem(item)
        self._tags = []
        for x, y, text, rgb in tags:
            luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
            item = pg.TextItem(text, color="#000000" if luma > 150 else "#ffffff", fill=pg.mkBrush(*rgb, 220),
                               anchor=(0, 0))
            item.corner = (x, y)
            self._box.addItem(item)
            self._tags.append(item)
        self._place_tags()

    def _place_tags(self) -> None:
        """Each tag just above its box, or just inside it where the box touches the picture's top (above, it
        would be cut off), moved left where it would run past the picture's right edge, and below any earlier
        tag it would cover; again at every zoom, since the tags keep their size on screen while the picture's
        scale changes."""
        px_w, px_h = (abs(v) for v in self._box.viewPixelSize())
        right_edge = self.array.shape[1] if self.array is not None else float("inf")
        placed: list[tuple] = []
        for item in self._tags:
            x, y = item.corner
            w, h = item.boundingRect().width() * px_w, item.boundingRect().height() * px_h
            x = max(0.0, min(x, right_edge - w))
            top = y - h if y >= h else y
            for _ in range(len(placed)):                  # a bounded walk downwards, past earlier tags
                below = next((b for left, a, right, b in placed if x < right and left < x + w and top < b
                              and a < top + h), None)
                if below is None:
                    break
                top = below
            placed.append((x, top, x + w, top + h))
            item.setPos(x, top)

    def tag_texts(self) -> list[str]:
        return [item.toPlainText() for item in self._tags]

    def fit(self) -> None:
        """The whole picture in view again, after zooming and panning."""
        if self.array is not None:
            self._box.setRange(xRange=(0, self.array.shape[1]), yRange=(0, self.array.shape[0]), padding=0.01)

    def mouseDoubleClickEvent(self, event) -> None:   # double-click: zoom to fit
        self.fit()
        event.accept()

    def image_point(self, scene_pos) -> tuple[float, float] | None:
        """(x, y) in image pixels under a scene position, or None outside the image."""
        if self.array is None:
            return None
        p = self._box.mapSceneToView(scene_pos)
        h, w = self.array.shape[:2]
        return (p.x(), p.y()) if 0 <= p.x() < w and 0 <= p.y() < h else None


TILE, TILE_GAP = 256, 4   # the augmentation grid's cell and gap (a click finds its tile with them)


def tile_images(images: list[np.ndarray], columns: int, cell: int = TILE, gap: int = TILE_GAP,
                captions: list[str] | None = None) -> np.ndarray:
    """Fit each RGB image into a cell x cell square and tile them in a grid (for the augmentation grid);
    captions are written in the top-left corner of their tiles."""
    rows = max(1, -(-len(images) // columns))
    out = np.full((rows * (cell + gap) - gap, columns * (cell + gap) - gap, 3), 32, np.uint8)
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        scale = cell / max(h, w)
        ys = (np.arange(max(1, int(h * scale))) / scale).astype(int).clip(0, h - 1)
        xs = (np.arange(max(1, int(w * scale))) / scale).astype(int).clip(0, w - 1)
        small = img[ys][:, xs]
        r, c = divmod(i, columns)
        y0, x0 = r * (cell + gap), c * (cell + gap)
        out[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        if captions and i < len(captions):
            _caption(out, captions[i], x0, y0)
    return out


def _caption(out: np.ndarray, text: str, x0: int, y0: int) -> None:
    """White text on a dark strip at (x0, y0): readable over any picture."""
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    out[y0:y0 + th + base + 4, x0:x0 + tw + 6] = (20, 20, 20)
    cv2.putText(out, text, (x0 + 3, y0 + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def link_slider(slider: QAbstractSlider, spin: QAbstractSpinBox, scale: int = 1) -> None:
    """Keep a slider and a spin box on one value (slider = spin value x scale); the spin box owns the value,
    so listen to its valueChanged. The slider follows the spin box silently: rewriting the spin box from the
    slider while the user types into it replaced "0.4" by "0.00" mid-word."""
    def from_slider(position: int) -> None:
        if round(spin.value() * scale) != position:
            spin.setValue(position / scale if scale != 1 else position)

    def from_spin(value) -> None:
        with QSignalBlocker(slider):
            slider.setValue(round(value * scale))

    slider.valueChanged.connect(from_slider)
    spin.valueChanged.connect(from_spin)
    from_spin(spin.value())


class ElidedLabel(QLabel):
    """A one-line label whose text, when wider than the label, ends in "…" rather than being clipped in the
    middle of a number ("lr 1.0" for "lr 1.00e-02"); the tooltip holds the whole line."""

    def __init__(self, text: str = "", **kwargs):
        super().__init__(**kwargs)
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:   # noqa: N802 (Qt's name)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:   # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 1)))


class WheelGuard(QObject):
    """The mouse wheel scrolls the page under it; it changes a spin box, combo box or slider only once the
    user has clicked or tabbed into that field. Scrolling the Training form turned Batch size 8 into 1 and
    Learning rate 0.001 into 0.00001 without a word, and the form is saved on close.

    Installed once on the application: each such field is switched from wheel focus to click/tab focus as
    it is polished, and a wheel over an unfocused one goes to the vertical scroll bar of the nearest
    scrolling area instead (or nowhere)."""

    GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)

    @classmethod
    def install(cls, app: QCoreApplication | None = None) -> "WheelGuard":
        app = app or QApplication.instance()
        guard = app.findChild(cls)
        if guard is None:
            guard = cls(app)
            app.installEventFilter(guard)
        return guard

    def _guarded(self, obj) -> bool:
        return isinstance(obj, self.GUARDED) and not isinstance(obj, QScrollBar)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and self._guarded(obj):
            obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        elif kind == QEvent.Type.Wheel and self._guarded(obj) and not obj.hasFocus():
            area = obj.parentWidget()
            while area is not None and not isinstance(area, QAbstractScrollArea):
                area = area.parentWidget()
            if area is not None:
                QCoreApplication.sendEvent(area.verticalScrollBar(), event)
            return True
        return False


def read_only_table(headers: list[str], object_name: str) -> QTableWidget:
    """A table of figures: headers, no row numbers, the first column stretched, the rest fitted, not editable."""
    table = QTableWidget(0, len(headers), objectName=object_name)
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return table


def _fill(layout: QBoxLayout, items) -> QBoxLayout:
    """Add widgets/layouts; (item, stretch) pairs stretch; a bare int adds a stretch."""
    for item in items:
        item, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(item, int):
            layout.addStretch(item)
        elif isinstance(item, QLayout):
            layout.addLayout(item, stretch)
        else:
            layout.addWidget(item, stretch)
    return layout


def hbox(*items) -> QHBoxLayout:
    return _fill(QHBoxLayout(), items)


def vbox(*items) -> QWidget:
    """A plain widget holding `items` stacked vertically."""
    box = QWidget()
    _fill(QVBoxLayout(box), items)
    return box


def titled(title: str, widget: QWidget) -> QWidget:
    """`widget` with a caption above it."""
    box = vbox(QLabel(title), (widget, 1))
    box.layout().setContentsMargins(0, 0, 0, 0)
    return box

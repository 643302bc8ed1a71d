"""Live training curves (pyqtgraph): losses raw and smoothed, lr, speed, data wait, validation AP.

Events only append to growing float64 buffers; a ~10 Hz QTimer pushes the buffers that changed to their
curve items. Plots clip to the view and downsample (peak mode), so 100k+ points stay smooth.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QCheckBox, QGridLayout, QSizePolicy, QWidget

from segstudio.engine.events import Event, IterationEvent, StartedEvent
from segstudio.gui.series import SERIES, points

SMOOTHING = 0.9          # exponential moving average factor of the smoothed loss curves (bias-corrected)
REDRAW_MS = 100
MAX_REDRAW_MS = 1000   # live readouts at least once a second
GROUP_COLOURS = {"lr": "#e8710a", "speed": "#1a73e8", "wait": "#a142f4"}
TERM_COLOURS = ["#e8710a", "#1a73e8", "#188038", "#a142f4", "#d01884", "#12b5cb", "#f9ab00", "#5f6368"]
# past runs: muted tones no live curve uses (a ticked run was drawn in the mask term's colour)
PAST_COLOURS = ["#795548", "#607d8b", "#9e9d24", "#00897b", "#8d6e63", "#546e7a"]


def smoothed(values) -> np.ndarray:
    """The live curves' bias-corrected exponential moving average over a whole series (past runs are drawn
    with the same smoothing as the current one); NaN points are passed through and skipped."""
    out = np.asarray(values, np.float64).copy()
    biased, n = 0.0, 0
    for i, y in enumerate(out):
        if np.isfinite(y):
            biased, n = SMOOTHING * biased + (1 - SMOOTHING) * y, n + 1
            out[i] = biased / (1 - SMOOTHING ** n)
    return out


class Series:
    """x/y float64 buffers that double their capacity when full (no per-point reallocation)."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity, np.float64)
        self.y = np.empty(capacity, np.float64)
        self.n = 0
        self.dirty = False
        self.finite = True   # lets the redraw skip pyqtgraph's finite check while no NaN arrived
        self.top = 0.0       # the highest finite y (the y axis reaches it)

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.empty_like(self.x)])
            self.y = np.concatenate([self.y, np.empty_like(self.y)])
        self.x[self.n] = x
        self.y[self.n] = y
        finite = bool(np.isfinite(y))
        self.finite = self.finite and finite
        if finite and y > self.top:
            self.top = float(y)
        self.n += 1
        self.dirty = True

    def extend(self, xs, ys) -> None:
        xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        need = self.n + len(xs)
        if need > len(self.x):
            cap = max(need, 2 * len(self.x))
            self.x = np.concatenate([self.x[:self.n], np.empty(cap - self.n)])
            self.y = np.concatenate([self.y[:self.n], np.empty(cap - self.n)])
        self.x[self.n:need] = xs
        self.y[self.n:need] = ys
        finite = np.isfinite(ys)
        self.finite = self.finite and bool(finite.all())
        if finite.any():
            self.top = max(self.top, float(ys[finite].max()))
        self.n = need
        self.dirty = True

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:self.n], self.y[:self.n]


def make_plot(object_name: str, title: str, left: str, bottom: str = "iteration",
              legend: bool = False) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setObjectName(object_name)
    item = plot.getPlotItem()
    item.setTitle(title, color="#202124", size="10pt")
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    # no grid: on the raster paint engine it costs more than all the curves together
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    item.getAxis("left").enableAutoSIPrefix(False)   # "lr (x0.001)" style axis titles confuse readers
    if legend:
        # beside the plot, not over it: a legend inside the view hides the newest points
        item.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor="#202124")
        item.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # rows stay compact
        item.layout.addItem(item.legend, 2, 3)
        item.layout.setAlignment(item.legend, Qt.AlignmentFlag.AlignTop)
    plot.setMinimumSize(260, 170)
    return plot


class CurvesWidget(QWidget):
    """The live plots of one run plus faint overlays of past runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.lossPlot = make_plot("lossPlot", "Loss (thin: raw, thick: smoothed)", "loss", legend=True)
        self.lrPlot = make_plot("lrPlot", "Learning rate", "lr")
        self.speedPlot = make_plot("speedPlot", "Speed", "images/s")
        self.waitPlot = make_plot("dataWaitPlot", "Share of step waiting for data", "%")
        self.apPlot = make_plot("apPlot", "Validation AP", "AP", legend=True)
        self.waitPlot.setYRange(0, 100)
        self.apPlot.setYRange(0, 1)                      # AP is a share: keep its scale fixed
        self.apPlot.getPlotItem().enableAutoRange(y=False)
        self._ap_hint = pg.TextItem("no evaluation yet", color="#80868b", anchor=(0.5, 0.5))
        self.apPlot.getPlotItem().addItem(self._ap_hint, ignoreBounds=True)
        self._ap_hint.setPos(0.5, 0.5)
        self._loss_hint = pg.TextItem("No run yet: set the form and press Start (Ctrl+Enter), or pick a past run",
                                      color="#80868b", anchor=(0.5, 0.5))
        self.lossPlot.getPlotItem().addItem(self._loss_hint, ignoreBounds=True)
        self._loss_hint.setPos(0.5, 0.5)
        self.rawTermsCheck = QCheckBox("raw loss terms", objectName="rawTermsCheck", checked=True)
        self.rawTermsCheck.setToolTip("Show each loss term's raw values as thin lines (the total is always shown)")
        self.rawTermsCheck.toggled.connect(self.show_raw_terms)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.rawTermsCheck, 0, 0, 1, 2, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.lossPlot, 1, 0, 1, 2)
        layout.addWidget(self.lrPlot, 2, 0)
        layout.addWidget(self.apPlot, 2, 1)
        layout.addWidget(self.speedPlot, 3, 0)
        layout.addWidget(self.waitPlot, 3, 1)
        layout.setRowStretch(1, 3)
        layout.setRowStretch(2, 2)
        layout.setRowStretch(3, 2)
        self._series: dict[str, Series] = {}
        self._items: dict[str, pg.PlotDataItem] = {}
        self._ema: dict[str, tuple[float, int]] = {}   # loss term -> (biased average, points averaged)
        self._x_end = 1.0          # the x axis spans 0 .. the run's last iteration (or the last point)
        self._manual: set = set()  # plots the user zoomed or panned: left alone until the next run
        self._ranges: dict = {}    # plot -> (x end, y top) last applied
        for plot in self.plots():
            plot.getPlotItem().getViewBox().sigRangeChangedManually.connect(
                lambda *_, p=plot: self._manual.add(p))
        self._colours: dict[str, int] = {"total": -1}
        self._overlays: list[tuple[pg.PlotWidget, pg.PlotDataItem]] = []
        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    def plots(self) -> tuple[pg.PlotWidget, ...]:
        return self.lossPlot, self.lrPlot, self.speedPlot, self.waitPlot, self.apPlot

    # ---- data in ------------------------------------------------------------------------------
    def set_total_iterations(self, total: int) -> None:
        """The run's length: every plot's x axis spans it, so a lone AP point is not zoomed to ±0.4."""
        self._x_end = max(self._x_end, float(total))
        self._fit_ranges()

    def clear(self) -> None:
        for key, item in self._items.items():
            plot = self._plot_of(key)
            plot.getPlotItem().removeItem(item)
            legend = plot.getPlotItem().legend
            if legend is not None:
                legend.removeItem(item)
        self._series.clear()
        self._items.clear()
        self._ema.clear()
        self._colours = {"total": -1}
        self._ap_hint.setVisible(True)
        self._x_end = 1.0
        self._manual.clear()
        self._ranges.clear()
        self._fit_ranges()

    def add_events(self, events: list[Event]) -> None:
        """Append a batch of typed events (as the worker sends them, or as read back from metrics.jsonl)."""
        for ev in events:
            if isinstance(ev, StartedEvent):
                self.set_total_iterations(ev.total_iters)
                continue
            if isinstance(ev, IterationEvent):
                self._loss("total", float(ev.iteration), float(ev.loss))
                for name, value in (ev.losses or {}).items():
                    self._loss(name.removeprefix("loss_"), float(ev.iteration), float(value))
            for key, value in points(ev):
                self._point(key, float(ev.iteration), value)
                if key == "val:validation":
                    self._name_validation(value)

    def _name_validation(self, value: float) -> None:
        """The legend says the last validation loss (it may lie above the plot's scale)."""
        legend = getattr(self.lossPlot.getPlotItem(), "legend", None)
        label = legend.getLabel(self._items["val:validation"]) if legend is not None else None
        if label is not None:
            label.setText(f"validation loss {value:.3g}")

    def _loss(self, name: str, x: float, y: float) -> None:
        self._point("loss:" + name, x, y)
        self._point("smooth:" + name, x, self._smooth(name, y))

    def _smooth(self, name: str, y: float) -> float:
        """Exponential moving average, bias-corrected as TensorBoard's: the average starts at 0 and is divided
        by (1 - SMOOTHING^n), so the first points are a plain mean instead of dragging the first loss along."""
        if not np.isfinite(y):
            return y
        biased, n = self._ema.get(name, (0.0, 0))
        biased, n = SMOOTHING * biased + (1 - SMOOTHING) * y, n + 1
        self._ema[name] = (biased, n)
        return biased / (1 - SMOOTHING ** n)

    def _point(self, key: str, x: float, y: float) -> None:
        if key.startswith("ap:"):
            self._ap_hint.setVisible(False)
        self._loss_hint.setVisible(False)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series()
            self._items[key] = self._new_item(key)
        series.append(x, y)

    def _plot_of(self, key: str) -> pg.PlotWidget:
        return {"loss": self.lossPlot, "smooth": self.lossPlot, "val": self.lossPlot, "lr": self.lrPlot,
                "speed": self.speedPlot,
                "wait": self.waitPlot, "ap": self.apPlot}[key.split(":", 1)[0]]

    def _new_item(self, key: str) -> pg.PlotDataItem:
        group, name = key.split(":", 1)
        # one colour per loss term, in order of first appearance, shared by its raw and smoothed curves
        colour = TERM_COLOURS[self._colours.setdefault(name, len(self._colours)) % len(TERM_COLOURS)]
        if name == "total":
            colour = "#202124"
        if group == "ap":
            colour = "#1a73e8" if name == "box AP" else "#d93025"
        elif group in GROUP_COLOURS:
            colour = GROUP_COLOURS[group]
        plot = self._plot_of(key)
        if group == "loss":
            pen = pg.mkPen(pg.mkColor(colour).lighter(150), width=1)
            item = pg.PlotDataItem(pen=pen)
        elif group == "ap":
            item = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                                   symbolBrush=colour, name=name)
        elif group == "val":   # validation loss: one point per evaluation, beside the training loss
            item = pg.PlotDataItem(pen=pg.mkPen("#e8710a", width=2, style=Qt.PenStyle.DashLine), symbol="s",
                                   symbolSize=7, symbolBrush="#e8710a", name="validation loss")
        else:
            item = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), name=name if group == "smooth" else None)
        plot.getPlotItem().addItem(item)
        # peaks matter on raw losses (spikes); smooth curves can simply be subsampled, which draws half
        # the points (addItem copied the plot's mode, so set it per item afterwards)
        item.setDownsampling(auto=True, method="peak" if group == "loss" else "subsample")
        if group == "loss" and name != "total":
            item.setVisible(self.rawTermsCheck.isChecked())
        return item

    @Slot(bool)
    def show_raw_terms(self, on: bool) -> None:
        for key, item in self._items.items():
            if key.startswith("loss:") and key != "loss:total":
                item.setVisible(on)
        self.redraw()

    # ---- past runs ----------------------------------------------------------------------------
    def clear_overlays(self) -> None:
        for plot, item in self._overlays:
            plot.getPlotItem().removeItem(item)
        self._overlays.clear()
        self._fit_ranges()

    def add_overlay(self, label: str, events: list[Event], index: int) -> None:
        """Dashed curves of a past run in its own muted colour: total loss smoothed as the live one is (the raw
        points faintly behind it) and every series of the table marked `past`, for comparison."""
        colour = pg.mkColor(PAST_COLOURS[index % len(PAST_COLOURS)])
        colour.setAlpha(200)
        its = [e for e in events if isinstance(e, IterationEvent)]
        if its:
            faint = pg.mkColor(colour)
            faint.setAlpha(60)
            raw = pg.PlotDataItem(np.asarray([e.iteration for e in its], np.float64),
                                  np.asarray([e.loss for e in its], np.float64), pen=pg.mkPen(faint, width=1))
            self.lossPlot.getPlotItem().addItem(raw)
            self._overlays.append((self.lossPlot, raw))
        curves = [(self.lossPlot, [e.iteration for e in its], smoothed([e.loss for e in its]))]
        for spec in SERIES:
            if spec.past:
                chosen = [e for e in events if isinstance(e, spec.event)]
                values = [spec.value(e) for e in chosen]
                curves.append((self._plot_of(spec.key), [e.iteration for e in chosen],
                               [np.nan if v is None else v for v in values]))
        for plot, xs, ys in curves:
            if not len(xs):
                continue
            item = pg.PlotDataItem(np.asarray(xs, np.float64), np.asarray(ys, np.float64),
                                   pen=pg.mkPen(colour, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                                   name=f"{label} (past)" if plot is self.lossPlot else None,
                                   symbol="o" if plot is self.apPlot else None, symbolSize=5,
                                   symbolBrush=colour, symbolPen=None)
            plot.getPlotItem().addItem(item)
            self._overlays.append((plot, item))
            self._loss_hint.setVisible(False)
            if plot is self.apPlot:
                self._ap_hint.setVisible(False)
        self._fit_ranges()

    # ---- drawing ------------------------------------------------------------------------------
    @Slot()
    def redraw(self) -> None:
        if not self.isVisible():
            return  # another tab is shown: keep the buffers dirty, draw when the plots are shown again
        started = time.perf_counter()
        for key, series in self._series.items():
            if series.dirty and self._items[key].isVisible():
                x, y = series.data()
                self._items[key].setData(x, y, skipFiniteCheck=series.finite)
                series.dirty = False
        # very long runs make each redraw dearer: keep redrawing under ~1/8 of the GUI thread's time
        # (the paint itself follows in the event loop, so the measured share is doubled)
        self._fit_ranges()
        cost_ms = 2000 * (time.perf_counter() - started)
        self.timer.setInterval(int(min(MAX_REDRAW_MS, max(REDRAW_MS, 8 * cost_ms))))

    def _fit_ranges(self) -> None:
        """x from 0 to the run's end on every plot; y from 0 to the highest point (AP and data wait keep their
        fixed 0-1 and 0-100 %), except on plots the user has zoomed or panned."""
        x_end = self._x_end
        for series in self._series.values():
            if series.n:
                x_end = max(x_end, float(series.x[series.n - 1]))
        for _plot, item in self._overlays:
            if item.xData is not None and len(item.xData):
                x_end = max(x_end, float(item.xData[-1]))
        self._ap_hint.setPos(x_end / 2, 0.5)        # the hints stay centred whatever the axes span
        self._loss_hint.setPos(x_end / 2, 0.5)
        for plot in self.plots():
            if plot in self._manual:
                continue
            top = self._y_top(plot)
            ranges = (x_end, top)
            if self._ranges.get(plot) == ranges:
                continue     # unchanged: setting a range redraws the plot
            self._ranges[plot] = ranges
            plot.setXRange(0, x_end, padding=0.02)
            if plot not in (self.apPlot, self.waitPlot):
                plot.setYRange(0, top if top > 0 else 1.0, padding=0.05)

    def _y_top(self, plot: pg.PlotWidget) -> float:
        shown = [(key, s) for key, s in self._series.items()
                 if self._plot_of(key) is plot and self._items[key].isVisible()]
        tops = [s.top for key, s in shown if not key.startswith("val:")]
        tops += [float(np.nanmax(item.yData)) for p, item in self._overlays
                 if p is plot and item.yData is not None and np.isfinite(item.yData).any()]
        # a validation loss far above the training loss (BatchNorm statistics of a model trained from scratch
        # for a few iterations) would flatten the training curves: the scale stops at twice their top
        top = max(tops, default=0.0)
        for key, s in shown:
            if key.startswith("val:"):
                top = max(top, min(s.top, 2 * top) if top > 0 else s.top)
        return top

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.redraw()

    def point_count(self, key: str = "loss:total") -> int:
        series = self._series.get(key)
        return 0 if series is None else series.n

"""CurvesPanel: losses, D outputs, gradient norms and speed, plotted live with pyqtgraph; the lines
follow what the run logs, placed by its family's declared curves."""

from __future__ import annotations

import csv
import io
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from ganstudio.ui.widgets import save_or_say

# The plots every run has; a family's `curves` may add more. A key goes to the plot its family
# declares for it, else: loss/... to Loss, grad_norm/<optimiser> to Gradient norm, img_per_s to Images / s.
PLOTS = ("Loss", "D output", "Gradient norm", "Images / s")
# (colour, legend name) of the keys most families log; others take the next palette colour and their key
KNOWN = {"loss/d": ("#d62728", "D"), "loss/g": ("#1f77b4", "G"), "d/real": ("#2ca02c", "D(x)"),
         "d/fake": ("#ff7f0e", "D(G(z))"), "grad_norm/d": ("#d62728", "D"), "grad_norm/g": ("#1f77b4", "G"),
         "img_per_s": ("#7f7f7f", "img/s")}
PALETTE = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e", "#7f7f7f")
LAYER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#aec7e8", "#ffbb78", "#98df8a")


def default_plot(key: str) -> str | None:
    """Where a key is drawn when its family declares nothing for it (None: not drawn, e.g. lr/g)."""
    if key.startswith("loss/"):
        return "Loss"
    if key.startswith("d/"):
        return "D output"
    if key.startswith("grad_norm/") and key.count("/") == 1:
        return "Gradient norm"
    return "Images / s" if key == "img_per_s" else None


def _faint(colour: str) -> "pg.QtGui.QColor":
    """The colour blended 70% towards white, opaque (cheaper to draw than alpha)."""
    c = pg.mkColor(colour)
    return pg.mkColor(int(c.red() * 0.3 + 255 * 0.7), int(c.green() * 0.3 + 255 * 0.7), int(c.blue() * 0.3 + 255 * 0.7))


MAX_DRAWN = 400  # points per curve handed to the painter; keeps a repaint well under one 16 ms frame


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_DRAWN, peaks: bool = False):
    """At most ~max_points points: bucket means, or each bucket's min and max (peaks=True, for raw lines)."""
    n = len(x)
    if n <= max_points:
        return x, y
    k = -(-n // (max_points // (2 if peaks else 1)))  # bucket size
    m = n // k * k
    xb, yb = x[:m].reshape(-1, k), y[:m].reshape(-1, k)
    if peaks:
        xs = np.repeat(xb[:, 0], 2)
        ys = np.stack([np.nanmin(yb, axis=1), np.nanmax(yb, axis=1)], axis=1).ravel()
    else:
        xs, ys = xb[:, 0], np.nanmean(yb, axis=1)
    return np.concatenate([xs, x[m:]]), np.concatenate([ys, y[m:]])


class Series:
    """A growing column with its smoothed twin (amortised doubling: appends are O(1)).

    Smoothing is the TensorBoard-style debiased exponential moving average, kept
    up to date on append so a redraw never walks the whole history in Python.
    """

    def __init__(self, weight: float):
        self.x = np.empty(256)
        self.y = np.empty(256)
        self.ys = np.empty(256)
        self.n = 0
        self.weight = weight
        self._acc = self._norm = 0.0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x, self.y, self.ys = (np.resize(a, 2 * self.n) for a in (self.x, self.y, self.ys))
        self.x[self.n], self.y[self.n] = x, y
        self.ys[self.n] = self._smooth_one(y)
        self.n += 1

    def _smooth_one(self, v: float) -> float:
        if not math.isfinite(v):
            return v
        w = self.weight
        self._acc = self._acc * w + (1 - w) * v
        self._norm = self._norm * w + (1 - w)
        return self._acc / self._norm

    def set_weight(self, weight: float) -> None:
        self.weight, self._acc, self._norm = weight, 0.0, 0.0
        for i in range(self.n):
            self.ys[i] = self._smooth_one(self.y[i])

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[: self.n], self.y[: self.n]

    def smoothed(self) -> np.ndarray:
        return self.ys[: self.n]


class _TimedLayout(pg.GraphicsLayoutWidget):
    """Remembers how long its last repaint took, so the panel can budget its redraws."""

    last_paint_s = 0.0

    def paintEvent(self, event) -> None:
        t = time.perf_counter()
        super().paintEvent(event)
        self.last_paint_s = time.perf_counter() - t


# Share of wall time the curves may take on the GUI thread.  The GUI thread shares the
# GIL with the training thread, so every millisecond spent drawing is one the loop waits.
DRAW_BUDGET = 0.04


class CurvesPanel(QWidget):
    """Plot items are made once; a timer pushes new data with setData at most ~10 times a second."""

    exported = Signal(str)

    def __init__(self, parent: QWidget | None = None, refresh_ms: int = 100):
        super().__init__(parent)
        self.series: dict[str, Series] = {}
        self.records: list[dict] = []
        self._dirty = False
        self._smoothing = 0.6
        self.layout_widget = _TimedLayout()
        self.plots: dict[str, pg.PlotItem] = {}
        self.raw_items: dict[str, pg.PlotDataItem] = {}
        self.smooth_items: dict[str, pg.PlotDataItem] = {}
        self.layer_items: dict[str, pg.PlotDataItem] = {}
        self.declared: dict[str, str] = {}  # metric key → plot title, from the run's family
        for title in PLOTS:
            self._plot(title)
        self.plots["Loss"].setLabel("bottom", "step")
        self.plots["Gradient norm"].setLabel("bottom", "step")

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(int(self._smoothing * 100))
        self.smoothing_slider.setToolTip("Smoothing of the bold lines (exponential moving average); the faint lines are raw.")
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider_changed)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Logarithmic y axis for losses and gradient norms (spans several orders of magnitude).")
        self.log_check.toggled.connect(self._on_log_check_toggled)
        self.layers_check = QCheckBox("Per-layer gradients")
        self.layers_check.setToolTip("Show the gradient norm of each layer of every network: a layer whose norm collapses or explodes is where training breaks.")
        self.layers_check.toggled.connect(lambda _: self._mark_dirty())
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save every logged metric of this run as a CSV table.")
        self.export_button.clicked.connect(self._on_export_button_clicked)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing_slider, 1)
        bar.addWidget(self.log_check)
        bar.addWidget(self.layers_check)
        bar.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.layout_widget, 1)

        self._min_interval_ms = refresh_ms
        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self._refresh)
        self._timer.start()

    def _plot(self, title: str) -> pg.PlotItem:
        plot = self.plots.get(title)
        if plot is None:
            i = len(self.plots)
            # The legend gets its own row above the plot, in one line: inside the plot it hid the curves.
            legend = pg.LegendItem(colCount=8, horSpacing=12, verSpacing=0)
            legend.layout.setContentsMargins(4, 0, 4, 0)
            legend.setMaximumHeight(22)
            self.layout_widget.addItem(legend, row=2 * (i // 2), col=i % 2)
            plot = self.layout_widget.addPlot(row=2 * (i // 2) + 1, col=i % 2, title=title)
            plot.legend = legend  # PlotItem.addItem(name=...) adds its entries here
            # no grid: alpha-blended grid lines were most of the paint time (software raster)
            self.plots[title] = plot
        return plot

    def set_family(self, family: str) -> None:
        """Draw each metric where `family`'s `curves` put it (its panels are added when missing)."""
        from ganstudio.core.families import FAMILIES

        self.declared = {}
        if family in FAMILIES:
            for title, keys in FAMILIES.get(family).curves.items():
                self.declared.update({k: title for k in keys})
        self._mark_dirty()

    def _line(self, key: str) -> pg.PlotDataItem | None:
        """The raw line of a key, made the first time it has data (None: the key is not drawn)."""
        item = self.raw_items.get(key)
        if item is not None:
            return item
        title = self.declared.get(key) or default_plot(key)
        if title is None:
            return None
        plot = self._plot(title)
        colour, name = KNOWN.get(key, (PALETTE[len(self.raw_items) % len(PALETTE)], key.split("/", 1)[-1]))
        # Thin opaque pens only: wide or translucent lines cost several times more to
        # rasterise, and painting runs on the GUI thread that shares the GIL with training.
        self.raw_items[key] = plot.plot([], [], pen=pg.mkPen(_faint(colour), width=1))
        self.smooth_items[key] = plot.plot([], [], pen=pg.mkPen(colour, width=1), name=name)
        return self.raw_items[key]

    # ------------------------------------------------------------ data in

    def clear(self) -> None:
        self.series.clear()
        self.records.clear()
        for item in list(self.raw_items.values()) + list(self.smooth_items.values()):
            item.setData([], [])
        for key, item in self.layer_items.items():
            item.getViewBox() and item.getViewBox().removeItem(item)
        self.layer_items.clear()
        self._dirty = True

    def add_records(self, records: list[dict]) -> None:
        """Records are {"step": N, key: value, ...} as in metrics.jsonl."""
        for rec in records:
            step = rec.get("step")
            if step is None:
                continue
            if self.records and step <= self.records[-1]["step"]:
                # a resumed run re-logs steps after its checkpoint: drop what it replaces
                self._truncate(step - 1)
            self.records.append(rec)
            for key, value in rec.items():
                if key == "step" or not isinstance(value, (int, float)):
                    continue
                s = self.series.get(key)
                if s is None:
                    s = self.series[key] = Series(self._smoothing)
                s.append(step, float(value))
        self._mark_dirty()

    def add_metrics(self, events: list) -> None:
        self.add_records([{"step": ev.step, **ev.values} for ev in events])

    def _truncate(self, step: int) -> None:
        keep = [r for r in self.records if r["step"] <= step]
        self.series.clear()
        self.records = []
        self.add_records(keep)

    def _mark_dirty(self) -> None:
        self._dirty = True

    # ------------------------------------------------------------ drawing (timer)

    def _refresh(self) -> None:
        if not self._dirty or not self.isVisible():
            return
        self._dirty = False
        t0 = time.perf_counter()
        self._update_items()
        # Redraw no more often than the budget allows: a long run's repaint costs more.
        cost = time.perf_counter() - t0 + self.layout_widget.last_paint_s
        self._timer.setInterval(int(min(1000, max(self._min_interval_ms, 1000 * cost / DRAW_BUDGET))))

    def _update_items(self) -> None:
        for key, s in list(self.series.items()):
            item = self._line(key)
            if item is None:
                continue
            x, y = s.view()
            item.setData(*decimate(x, y, peaks=True))
            self.smooth_items[key].setData(*decimate(x, s.smoothed()))
        show_layers = self.layers_check.isChecked()
        plot = self.plots["Gradient norm"]
        layer_keys = [k for k in self.series if k.startswith("grad_norm/") and k.count("/") >= 2]
        for i, key in enumerate(layer_keys):
            item = self.layer_items.get(key)
            if item is None:
                colour = LAYER_COLOURS[i % len(LAYER_COLOURS)]
                item = self.layer_items[key] = plot.plot([], [], pen=pg.mkPen(_faint(colour), width=1))
            item.setVisible(show_layers)
            if show_layers:
                item.setData(*decimate(*self.series[key].view()))

    def showEvent(self, event) -> None:
        self._dirty = True
        super().showEvent(event)

    # ------------------------------------------------------------ controls

    def _on_smoothing_slider_changed(self, value: int) -> None:
        self._smoothing = value / 100
        for key in self.raw_items:
            if key in self.series:
                self.series[key].set_weight(self._smoothing)
        self._mark_dirty()

    def _on_log_check_toggled(self, on: bool) -> None:
        for title in ("Loss", "Gradient norm"):
            self.plots[title].setLogMode(y=on)

    def export_csv(self, path: str) -> None:
        from ganstudio.core.checkpoint import atomic_write_text

        keys = sorted({k for r in self.records for k in r if k != "step"})
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(["step", *keys])
        for r in self.records:
            w.writerow([r["step"], *(r.get(k, "") for k in keys)])
        atomic_write_text(path, buf.getvalue())  # whole or not at all, also on a full disk
        self.exported.emit(path)

    def _on_export_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV (*.csv)")
        if path:
            save_or_say(self, lambda: self.export_csv(path))

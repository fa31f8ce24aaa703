"""SamplesPanel: the live fixed-noise grid, a timeline of every saved grid, side-by-side compare, 2-D scatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.widgets import save_or_say


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W, 3) → a QImage that owns its copy of the pixels."""
    a = np.ascontiguousarray(image[..., :3])
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImageView(QWidget):
    """Shows one image as large as fits, scaled with nearest-neighbour so 28-px digits stay crisp."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self.setMinimumSize(160, 160)

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = image
        self._qimage = None if image is None else to_qimage(image)
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        if self._qimage is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No samples yet")
            return
        iw, ih = self._qimage.width(), self._qimage.height()
        scale = min(self.width() / iw, self.height() / ih)
        if scale >= 1:
            scale = float(int(scale))  # whole-pixel zoom: every source pixel the same size
        w, h = iw * scale, ih * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(target, self._qimage)


class ScatterView(pg.PlotWidget):
    """Generated 2-D points over the real mode centres."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAspectLocked(True)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.centres = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#d62728", width=2), brush=None, symbol="o")
        self.points = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(31, 119, 180, 140))
        self.addItem(self.points)
        self.addItem(self.centres)
        self._has_centres = False

    def set_centres(self, centres: np.ndarray | None) -> None:
        if centres is None:
            self.centres.setData([], [])
            return
        c = np.asarray(centres, float)
        self.centres.setData(c[:, 0], c[:, 1])
        pad = 0.25 * (c.max() - c.min() + 1e-3)
        self.setRange(xRange=(c[:, 0].min() - pad, c[:, 0].max() + pad), yRange=(c[:, 1].min() - pad, c[:, 1].max() + pad))

    def set_points(self, pts: np.ndarray) -> None:
        self.points.setData(pts[:, 0], pts[:, 1])


class SamplesPanel(QWidget):
    """Live grid plus a timeline slider over every grid the run saved (samples/step_N.png)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.timeline: list[tuple[int, str]] = []   # (step, png path), sorted by step
        self.live_image: np.ndarray | None = None
        self.live_step = -1
        self.points_mode = False

        self.view = ImageView()
        self.compare_view = ImageView()
        self.compare_view.hide()
        self.scatter = ScatterView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.scatter)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub back through every sample grid saved during the run; at the right end the view follows training live.")
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.step_label = QLabel("step –")
        self.compare_check = QCheckBox("Compare")
        self.compare_check.setToolTip("Show a second step side by side: pick it with the second slider.")
        self.compare_check.toggled.connect(self._on_compare_check_toggled)
        self.compare_slider = QSlider(Qt.Orientation.Horizontal)
        self.compare_slider.setRange(0, 0)
        self.compare_slider.hide()
        self.compare_slider.valueChanged.connect(self._on_compare_slider_value_changed)
        self.compare_label = QLabel("")
        self.compare_label.hide()
        self.save_button = QPushButton("Save grid…")
        self.save_button.setToolTip("Save the grid shown as a PNG.")
        self.save_button.clicked.connect(self._on_save_button_clicked)

        views = QHBoxLayout()
        views.addWidget(self.stack, 1)
        views.addWidget(self.compare_view, 1)
        row = QHBoxLayout()
        row.addWidget(self.step_label)
        row.addWidget(self.slider, 1)
        row.addWidget(self.compare_check)
        row.addWidget(self.save_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.compare_label)
        row2.addWidget(self.compare_slider, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(views, 1)
        lay.addLayout(row)
        lay.addLayout(row2)

    # ------------------------------------------------------------ data in

    def clear(self, centres: np.ndarray | None = None) -> None:
        self.timeline = []
        self.live_image, self.live_step = None, -1
        self.points_mode = centres is not None
        self.scatter.set_centres(centres)
        self.stack.setCurrentWidget(self.scatter if self.points_mode else self.view)
        self.view.set_image(None)
        self.compare_view.set_image(None)
        self._sync_sliders(follow=True)

    def following(self) -> bool:
        return self.slider.value() >= self.slider.maximum()

    def add_saved(self, items: list[tuple[int, str]]) -> None:
        """New grids written to disk: extend the timeline (keeps following the newest when at the end)."""
        follow = self.following()
        known = {s for s, _ in self.timeline}
        for step, path in items:
            if step in known:
                self.timeline = [(s, p) for s, p in self.timeline if s != step]
            self.timeline.append((step, path))
        self.timeline.sort()
        self._sync_sliders(follow)

    def show_live(self, step: int, image: np.ndarray, points: np.ndarray | None = None) -> None:
        self.live_image, self.live_step = image, step
        if not self.following():
            return
        if points is not None and self.points_mode:
            self.scatter.set_points(points)
            self.stack.setCurrentWidget(self.scatter)
        else:
            self.view.set_image(image)
        self.step_label.setText(f"step {step}")

    # ------------------------------------------------------------ timeline

    def _sync_sliders(self, follow: bool) -> None:
        n = max(len(self.timeline) - 1, 0)
        for s in (self.slider, self.compare_slider):
            s.blockSignals(True)
            s.setRange(0, n)
            s.blockSignals(False)
        if follow:
            self.slider.setValue(n)
            self._show_index(n)

    def _load(self, index: int) -> tuple[int, np.ndarray | None]:
        if not self.timeline:
            return -1, None
        step, path = self.timeline[index]
        if step == self.live_step and self.live_image is not None:
            return step, self.live_image
        try:
            from PIL import Image

            with Image.open(path) as im:
                return step, np.asarray(im.convert("RGB"))
        except (OSError, ValueError):
            return step, None

    def _show_index(self, index: int) -> None:
        step, image = self._load(index)
        if image is None:
            return
        live = index == len(self.timeline) - 1
        if self.points_mode and not live:
            self.stack.setCurrentWidget(self.view)  # past steps of a 2-D run: the saved scatter picture
        elif self.points_mode:
            self.stack.setCurrentWidget(self.scatter)
        self.view.set_image(image)
        self.step_label.setText(f"step {step}")

    def _on_slider_value_changed(self, value: int) -> None:
        self._show_index(value)

    def _on_compare_check_toggled(self, on: bool) -> None:
        for w in (self.compare_view, self.compare_slider, self.compare_label):
            w.setVisible(on)
        if on:
            self.compare_slider.setValue(0)
            self._on_compare_slider_value_changed(0)

    def _on_compare_slider_value_changed(self, value: int) -> None:
        step, image = self._load(value)
        self.compare_view.set_image(image)
        self.compare_label.setText(f"compare: step {step}")

    def shown_image(self) -> np.ndarray | None:
        return self.view.image

    def save_shown(self, path: str) -> None:
        from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes

        if self.view.image is not None:
            atomic_write_bytes(path, png_bytes(self.view.image))

    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save sample grid", "samples.png", "PNG (*.png)")
        if path:
            save_or_say(self, lambda: self.save_shown(path if Path(path).suffix else path + ".png"))

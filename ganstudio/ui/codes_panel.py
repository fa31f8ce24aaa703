"""CodesBox: a model's latent codes (InfoGAN) as named, renamable controls, and the traverse-code grid."""

from __future__ import annotations

import weakref

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.samples import ImageView
from ganstudio.ui.widgets import button, save_or_say

TICKS = 100  # a continuous code's slider: value = lo + (hi - lo) · tick / TICKS


class CodeControl(QWidget):
    """One code: its name (editable) and a picker of its values or a slider over its prior's range."""

    def __init__(self, code, on_change, on_rename):
        super().__init__()
        self.code = code
        self.name = QLineEdit(code.name)
        self.name.setMaximumWidth(90)
        self.name.setToolTip("Name this code after what it changes (digit, slant, width…); kept with the run.")
        self.name.editingFinished.connect(on_rename)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.name)
        if code.kind == "categorical":
            self.picker = QComboBox()
            self.picker.addItems([str(v) for v in range(code.size)])
            self.picker.setToolTip(f"{code.size} values: which one the image shows.")
            self.picker.currentIndexChanged.connect(lambda _: on_change())
            lay.addWidget(self.picker, 1)
            self.slider = self.value_label = None
        else:
            self.picker = None
            self.lo, self.hi = code.range
            self.slider = QSlider(Qt.Orientation.Horizontal)
            self.slider.setRange(0, TICKS)
            self.slider.setToolTip(f"From {self.lo:g} to {self.hi:g}, the range of its "
                                   f"{'uniform' if code.prior == 'uniform' else 'normal'} prior.")
            self.slider.valueChanged.connect(lambda _: (self._show(), on_change()))
            self.value_label = QLabel("")
            self.value_label.setMinimumWidth(38)
            lay.addWidget(self.slider, 1)
            lay.addWidget(self.value_label)

    def value(self) -> float:
        if self.picker is not None:
            return float(self.picker.currentIndex())
        return self.lo + (self.hi - self.lo) * self.slider.value() / TICKS

    def set_value(self, v: float) -> None:
        if self.picker is not None:
            self.picker.blockSignals(True)
            self.picker.setCurrentIndex(int(round(v)))
            self.picker.blockSignals(False)
        else:
            self.slider.blockSignals(True)
            self.slider.setValue(int(round((min(max(v, self.lo), self.hi) - self.lo) / (self.hi - self.lo) * TICKS)))
            self.slider.blockSignals(False)
            self._show()

    def _show(self) -> None:
        self.value_label.setText(f"{self.value():+.2f}")


class CodesBox(QWidget):
    """The left column's Codes tab; its traverse grid is shown in `grid_tab` (a right-hand tab)."""

    def __init__(self, panel):
        super().__init__()
        self._panel = weakref.ref(panel)
        self.reason = QLabel("Load a generator first.")
        self.reason.setWordWrap(True)
        self.rows = QVBoxLayout()
        self.controls_: list[CodeControl] = []
        self.code_combo = QComboBox()
        self.code_combo.setToolTip("The code whose values make the rows of the grid.")
        self.seeds = QSpinBox()
        self.seeds.setRange(1, 32)
        self.seeds.setValue(8)
        self.seeds.setToolTip("Columns: seeds from the current one on.")
        self.steps = QSpinBox()
        self.steps.setRange(2, 32)
        self.steps.setValue(9)
        self.steps.setToolTip("Rows for a continuous code: evenly spaced values over its range.")
        self.traverse_button = button("Traverse code", "Rows are the code's values, columns seeds: what this one code changes.", self.show_grid)
        lay = QVBoxLayout(self)
        lay.addWidget(self.reason)
        lay.addLayout(self.rows)
        grid = QGridLayout()
        grid.addWidget(QLabel("code"), 0, 0)
        grid.addWidget(self.code_combo, 0, 1, 1, 3)
        grid.addWidget(QLabel("seeds"), 1, 0)
        grid.addWidget(self.seeds, 1, 1)
        grid.addWidget(QLabel("steps"), 1, 2)
        grid.addWidget(self.steps, 1, 3)
        lay.addLayout(grid)
        lay.addWidget(self.traverse_button)
        lay.addStretch(1)

        self.grid_tab = QWidget()
        self.view = ImageView()
        self.frames = None  # (rows of values) uint8 grids, one per value, for the GIF
        self.save_png = button("Save PNG…", "The traversal grid as a picture.", self._on_save_png_clicked)
        self.save_gif = button("Save GIF…", "One frame per value: the code sweeping across every seed.", self._on_save_gif_clicked)
        gl = QVBoxLayout(self.grid_tab)
        row = QHBoxLayout()
        row.addWidget(self.save_png)
        row.addWidget(self.save_gif)
        row.addStretch(1)
        gl.addLayout(row)
        gl.addWidget(self.view, 1)
        self.set_layout(None)

    @property
    def panel(self):
        return self._panel()

    # ------------------------------------------------------------ the model's codes

    def set_layout(self, layout, reason: str = "") -> None:
        """Build one control per code; None disables the tab with `reason`."""
        for c in self.controls_:
            c.setParent(None)
            c.deleteLater()
        self.controls_ = []
        self.layout_ = layout
        self.code_combo.clear()
        on = layout is not None
        for w in (self.code_combo, self.seeds, self.steps, self.traverse_button, self.save_png, self.save_gif):
            w.setEnabled(on)
        if not on:
            self.reason.setText(reason or "Load a generator first.")
            return
        self.reason.setText(f"{len(layout.codes)} codes learned with the model: pick or slide one to see what it changes, "
                            "and name it after that.")
        for c in layout.codes:
            ctl = CodeControl(c, self._on_code_changed, self._on_name_edited)
            self.rows.addWidget(ctl)
            self.controls_.append(ctl)
        self.code_combo.addItems([c.name for c in layout.codes])

    def values(self) -> list[float]:
        return [c.value() for c in self.controls_]

    def set_values(self, values) -> None:
        for c, v in zip(self.controls_, values):
            c.set_value(float(v))

    def read_from(self, z) -> None:
        """Show the codes a latent carries (the seed's own, until one is moved)."""
        if self.layout_ is None:
            return
        self.set_values([float(self.layout_.get(z[None], i)[0]) for i in range(len(self.layout_.codes))])

    def apply(self, z, values=None):
        """z (N, z_dim) with every code set to `values` (default: the controls'); the layout does the work,
        so a background job may call it with values read on the GUI thread."""
        if self.layout_ is None:
            return z
        for i, v in enumerate(self.values() if values is None else values):
            z = self.layout_.set(z, i, v)
        return z

    def _on_code_changed(self) -> None:
        self.panel.update_image()

    def _on_name_edited(self) -> None:
        from ganstudio.core.codes import save_names

        names = {i: c.name.text().strip() for i, c in enumerate(self.controls_)}
        if any(not n for n in names.values()) or len(set(names.values())) != len(names):
            self.reason.setText("<span style='color:#c0392b'>Each code needs its own, non-empty name.</span>")
            for c, code in zip(self.controls_, self.layout_.codes):
                c.name.setText(code.name)
            return
        if [c.name for c in self.layout_.codes] == [names[i] for i in range(len(names))]:
            return
        layout = self.layout_.renamed(names)
        p = self.panel
        if save_or_say(self, lambda: save_names(p.source, layout)):
            self.layout_ = layout
            p.gen.codes = layout
            current = self.code_combo.currentIndex()
            self.code_combo.blockSignals(True)
            self.code_combo.clear()
            self.code_combo.addItems([c.name for c in layout.codes])
            self.code_combo.setCurrentIndex(max(0, current))
            self.code_combo.blockSignals(False)
            p.status.emit("code names saved with the run")

    # ------------------------------------------------------------ the traverse grid

    def show_grid(self) -> None:
        import torch

        from ganstudio.core import latent
        from ganstudio.core.codes import traverse
        from ganstudio.core.sampling import make_grid

        p, layout = self.panel, self.layout_
        if layout is None:
            return
        i = self.code_combo.currentIndex()
        code = layout.codes[i]
        values = code.values(self.steps.value())
        seed, n, psi = p.seed_spin.value(), self.seeds.value(), p.psi_slider.value() / 100
        gen, now = p.gen, self.values()  # read here, on the GUI thread

        def job():
            base = torch.stack([latent.truncate(latent.seed_to_z(s, gen.z_dim), psi) for s in range(seed, seed + n)])
            for k, v in enumerate(now):
                base = layout.set(base, k, v)
            x = traverse(gen.G, layout, i, values, base)
            frames = [make_grid(x[r * n:(r + 1) * n], ncol=n) for r in range(len(values))]
            return make_grid(x, ncol=n), frames

        p.background.request("traverse", ("traverse", 0), job)

    def show_result(self, result) -> None:
        grid, self.frames = result
        self.view.set_image(grid)

    def _on_save_png_clicked(self) -> None:
        if self.view.image is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save traversal", "traverse.png", "PNG (*.png)")
        if path:
            from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes

            image = self.view.image
            save_or_say(self, lambda: atomic_write_bytes(path, png_bytes(image)))

    def _on_save_gif_clicked(self) -> None:
        if self.frames is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save traversal", "traverse.gif", "GIF (*.gif)")
        if path:
            self.write_gif(path)

    def write_gif(self, path) -> bool:
        import numpy as np
        import torch

        from ganstudio.core import latent
        from ganstudio.core.checkpoint import atomic_write_bytes

        frames = torch.from_numpy(np.stack(self.frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
        return save_or_say(self, lambda: atomic_write_bytes(path, latent.gif_bytes(frames, fps=3, scale=2)))

"""ExplorerPanel: a trained generator's latent space with sliders and truncation; the walk, bookmarks and class
grids around it are in explorer_tools."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.codes_panel import CodesBox
from ganstudio.ui.explorer_tools import BookmarksBox, ConditionalTab, WalkBox
from ganstudio.ui.nearest import NearestTab
from ganstudio.ui.render import Renderer
from ganstudio.ui.samples import ImageView
from ganstudio.ui.widgets import button

N_DIMS = 8        # sliders for the first latent dimensions
N_DIRECTIONS = 8  # GANSpace principal directions
TICKS = 200       # slider resolution: value = ticks / TICKS * strength


class LatentSlider(QWidget):
    """A labelled slider over [-strength, +strength] with its own strength box."""

    moved = Signal()

    def __init__(self, name: str, tip: str, strength: float = 3.0):
        super().__init__()
        self.label = QLabel(name)
        self.label.setMinimumWidth(44)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-TICKS, TICKS)
        self.slider.setToolTip(tip)
        self.slider.valueChanged.connect(lambda _: self.moved.emit())
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.1, 20.0)
        self.strength.setValue(strength)
        self.strength.setToolTip("The slider's range: ± this much along the axis.")
        self.strength.valueChanged.connect(lambda _: self.moved.emit())
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.strength)

    def value(self) -> float:
        return self.slider.value() / TICKS * self.strength.value()

    def set_value(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(np.clip(v / self.strength.value(), -1, 1) * TICKS)))
        self.slider.blockSignals(False)


class ExplorerPanel(QWidget):
    """Everything renders on the Renderer's thread from a private copy of G in eval mode."""

    status = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.gen = None
        self.source: Path | None = None
        self.directions = None  # (D, z_dim) tensor
        # Two workers: one for the image being dragged, one for slow jobs (directions,
        # grids, walks), so a long job never delays a slider.
        self.renderer = Renderer(self)
        self.background = Renderer(self)
        for r in (self.renderer, self.background):
            r.rendered.connect(self._on_renderer_rendered)
            r.failed.connect(self._on_renderer_failed)
        self._request_id = 0
        self.requested_at: dict[int, float] = {}
        self.latencies: list[float] = []

        # --- source
        self.source_label = QLabel("No generator loaded: open a checkpoint, or drop one on the window.")
        self.source_label.setWordWrap(True)
        self.open_button = button("Open checkpoint…", "Load a generator from a checkpoint file or a run directory.", self._on_open_button_clicked)

        # --- latent
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Latents come from seeds: the same seed gives the same z everywhere (share a view as 'seed 42, class 3').")
        self.seed_spin.valueChanged.connect(self._on_seed_spin_changed)
        self.z_label = QLabel("")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class to generate (conditional models).")
        self.class_combo.currentIndexChanged.connect(lambda _: self.update_image())
        self.psi_slider = QSlider(Qt.Orientation.Horizontal)
        self.psi_slider.setRange(0, 100)
        self.psi_slider.setValue(100)
        self.psi_slider.setToolTip("Truncation ψ: pull z toward the mean latent. Lower ψ gives cleaner, more typical samples and less variety.")
        self.psi_slider.valueChanged.connect(self._on_psi_slider_changed)
        self.psi_label = QLabel("ψ 1.00")
        self.reset_button = button("Reset", "Back to the seed's own latent: sliders to their start, ψ 1, directions 0.", self.reset)
        self.random_button = button("Randomize", "A new random seed.", lambda: self.seed_spin.setValue(int(np.random.default_rng().integers(0, 2**31 - 1))))
        self.dim_sliders = [LatentSlider(f"z[{i}]", f"Latent dimension {i}") for i in range(N_DIMS)]
        self.dir_sliders = [LatentSlider(f"PC{i + 1}", f"Principal direction {i + 1} (GANSpace: PCA of G's first layer, mapped back to z)") for i in range(N_DIRECTIONS)]
        for s in self.dim_sliders + self.dir_sliders:
            s.moved.connect(self.update_image)

        self.view = ImageView()
        self.view.setMinimumSize(240, 240)

        latent_box = QGroupBox("Latent")
        form = QFormLayout(latent_box)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.random_button)
        seed_row.addWidget(self.reset_button)
        form.addRow("Seed", seed_row)
        form.addRow("", self.z_label)
        form.addRow("Class", self.class_combo)
        psi_row = QHBoxLayout()
        psi_row.addWidget(self.psi_slider, 1)
        psi_row.addWidget(self.psi_label)
        form.addRow("Truncation", psi_row)
        sliders = QTabWidget()
        dims_w, dirs_w = QWidget(), QWidget()
        QVBoxLayout(dims_w).addWidget(QLabel("The first latent dimensions, set directly."))
        for s in self.dim_sliders:
            dims_w.layout().addWidget(s)
        self.dirs_note = QLabel("Directions are computed when a generator loads.")
        QVBoxLayout(dirs_w).addWidget(self.dirs_note)
        for s in self.dir_sliders:
            dirs_w.layout().addWidget(s)
        sliders.addTab(dims_w, "Dimensions")
        sliders.addTab(dirs_w, "Directions")
        self.codes = CodesBox(self)
        sliders.addTab(self.codes, "Codes")
        self.slider_tabs = sliders

        self.walk = WalkBox(self)
        self.bookmarks = BookmarksBox(self)
        self.conditional = ConditionalTab(self)
        self.nearest = NearestTab(self)

        left = QWidget()
        ll = QVBoxLayout(left)
        src = QHBoxLayout()
        src.addWidget(self.source_label, 1)
        src.addWidget(self.open_button)
        ll.addLayout(src)
        ll.addWidget(latent_box)
        ll.addWidget(sliders, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        # never narrower than its controls (Randomize, |z|, truncation, both slider tabs): the
        # image side gives way instead, and no control hides behind a sideways scrollbar
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.source_label.setWordWrap(True)
        self.z_label.setWordWrap(True)
        self._left, self._left_scroll = left, scroll  # its minimum width holds while Explore is shown (showEvent)
        right_tabs = QTabWidget()
        explore = QWidget()
        el = QVBoxLayout(explore)
        el.addWidget(self.view, 3)
        # the walk and bookmarks scroll under the image when the window is short: at 800 px high the
        # image, the walk and the bookmarks stacked made the window taller than the screen
        tools = QWidget()
        tl = QVBoxLayout(tools)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.walk, 2)
        tl.addWidget(self.bookmarks, 1)
        tools_scroll = QScrollArea()
        tools_scroll.setWidgetResizable(True)
        tools_scroll.setWidget(tools)
        tools_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tools_scroll.setMinimumHeight(160)
        el.addWidget(tools_scroll, 2)
        right_tabs.addTab(explore, "Latent")
        right_tabs.addTab(self.conditional, "Conditional")
        right_tabs.addTab(self.nearest, "Nearest training images")
        right_tabs.addTab(self.codes.grid_tab, "Code traversal")
        self.tabs = right_tabs
        lay = QHBoxLayout(self)
        lay.addWidget(scroll, 2)
        lay.addWidget(right_tabs, 3)
        self._set_enabled(False)

    def showEvent(self, event) -> None:
        # Only while shown: a hidden tab's minimum still counts in the window's, and the Train tab
        # with Setup beside it would then not fit a 1280-px screen.
        sc = self._left_scroll
        sc.setMinimumWidth(self._left.sizeHint().width() + sc.verticalScrollBar().sizeHint().width() + 2 * sc.frameWidth())
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._left_scroll.setMinimumWidth(0)
        super().hideEvent(event)

    # ------------------------------------------------------------ loading

    def _set_enabled(self, on: bool) -> None:
        for w in (self.seed_spin, self.random_button, self.reset_button, self.psi_slider, *self.walk.controls(),
                  *self.bookmarks.controls(), *self.nearest.controls(), *self.dim_sliders, *self.dir_sliders):
            w.setEnabled(on)
        cond = on and self.gen is not None and self.gen.num_classes > 0
        for w in (self.class_combo, *self.conditional.controls()):
            w.setEnabled(cond)
        reason = self.conditional.cond_reason
        if self.gen is None:
            reason.setText("Load a generator first.")
        elif not cond:
            reason.setText("This model was trained without labels, so it cannot be asked for a class "
                           "(train a conditional preset such as cgan-mnist).")
        else:
            reason.setText(f"{self.gen.num_classes} classes.")

    def load(self, path: str | Path) -> bool:
        """Load a generator (EMA weights when the run kept them); a bad file is a message, not a crash."""
        from ganstudio.core.checkpoint import CheckpointError
        from ganstudio.core.inference import load_generator

        try:
            gen = load_generator(str(path))
        except CheckpointError as e:
            self.source_label.setText(f"<span style='color:#c0392b'>{e}</span>")
            self.status.emit(str(e))
            return False
        if gen.kind == "points":
            self.source_label.setText("<span style='color:#c0392b'>This is a 2-D point model; the explorer shows image models.</span>")
            return False
        self.gen = gen
        self.source = Path(path)
        self.directions = None
        names = list(gen.classes) if gen.classes else [str(i) for i in range(gen.num_classes)]
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItems(names)
        self.class_combo.blockSignals(False)
        self.conditional.set_classes(names)
        self.codes.set_layout(gen.codes, "This model has no latent codes: only InfoGAN models learn them "
                                         "(train the infogan-mnist preset to get a digit picker and slant and width sliders).")
        self.source_label.setText(f"{path} · step {gen.step} · z {gen.z_dim}-d" + (f" · {gen.num_classes} classes" if gen.num_classes else ""))
        self._set_enabled(True)
        self.bookmarks.reload()
        self.reset()
        self._compute_directions()
        return True

    def _compute_directions(self) -> None:
        from ganstudio.core import latent

        gen = self.gen
        self.dirs_note.setText("Computing principal directions…")
        self.background.request("directions", ("directions", id(gen)), lambda: latent.principal_directions(gen, k=N_DIRECTIONS, n=2000))

    # ------------------------------------------------------------ the latent shown

    def state(self) -> dict:
        return {
            "seed": self.seed_spin.value(),
            "class": self.class_combo.currentIndex() if self.gen is not None and self.gen.num_classes else None,
            "dims": [s.value() for s in self.dim_sliders],
            "directions": [s.value() for s in self.dir_sliders],
            "psi": self.psi_slider.value() / 100,
            "codes": self.codes.values() if self.gen is not None and self.gen.codes is not None else None,
        }

    def apply_state(self, st: dict) -> None:
        self.seed_spin.blockSignals(True)
        self.seed_spin.setValue(int(st["seed"]))
        self.seed_spin.blockSignals(False)
        if st.get("class") is not None:
            self.class_combo.blockSignals(True)
            self.class_combo.setCurrentIndex(int(st["class"]))
            self.class_combo.blockSignals(False)
        for s, v in zip(self.dim_sliders, st.get("dims", [])):
            s.set_value(v)
        for s, v in zip(self.dir_sliders, st.get("directions", [])):
            s.set_value(v)
        if st.get("codes") is not None:
            self.codes.set_values(st["codes"])
        self.psi_slider.blockSignals(True)
        self.psi_slider.setValue(int(round(st.get("psi", 1.0) * 100)))
        self.psi_slider.blockSignals(False)
        self.psi_label.setText(f"ψ {self.psi_slider.value() / 100:.2f}")
        self.update_image()

    def z_of(self, st: dict):
        """The latent a state describes: the seed's z with its first dims set, truncated, moved along directions."""
        import torch

        from ganstudio.core import latent

        z = latent.seed_to_z(st["seed"], self.gen.z_dim)
        k = min(N_DIMS, self.gen.z_dim)
        z[:k] = torch.tensor(st["dims"][:k], dtype=z.dtype)
        z = latent.truncate(z, st["psi"])
        if self.directions is not None:
            coef = torch.tensor(st["directions"][: len(self.directions)], dtype=z.dtype)
            z = z + coef @ self.directions
        if st.get("codes") is not None and self.gen.codes is not None:  # the codes' controls win over the sliders above
            z = self.codes.apply(z[None], st["codes"])[0]
        return z

    def _on_seed_spin_changed(self, _value: int) -> None:
        self._load_seed_dims()
        self.update_image()

    def _load_seed_dims(self) -> None:
        from ganstudio.core import latent

        if self.gen is None:
            return
        z = latent.seed_to_z(self.seed_spin.value(), self.gen.z_dim)
        for i, s in enumerate(self.dim_sliders):
            s.setEnabled(i < self.gen.z_dim)
            if i < self.gen.z_dim:
                s.set_value(float(z[i]))
        self.z_label.setText(f"|z| = {float(z.norm()):.2f} (typical √{self.gen.z_dim} = {self.gen.z_dim ** 0.5:.1f})")
        self.codes.read_from(z)

    def reset(self) -> None:
        for s in self.dir_sliders:
            s.set_value(0.0)
        self.psi_slider.blockSignals(True)
        self.psi_slider.setValue(100)
        self.psi_slider.blockSignals(False)
        self.psi_label.setText("ψ 1.00")
        self._load_seed_dims()
        self.update_image()

    def _on_psi_slider_changed(self, value: int) -> None:
        self.psi_label.setText(f"ψ {value / 100:.2f}")
        self.update_image()
        self._measure_diversity()

    def _measure_diversity(self) -> None:
        """The variety truncation costs: spread of 64 samples at ψ over spread at ψ = 1."""
        import torch

        from ganstudio.core import latent

        gen, psi = self.gen, self.psi_slider.value() / 100
        if gen is None:
            return

        def job():
            z = torch.stack([latent.seed_to_z(s, gen.z_dim) for s in range(64)])
            y = torch.arange(64) % gen.num_classes if gen.num_classes else None
            full = latent.diversity(latent.render(gen, z, y))
            return latent.diversity(latent.render(gen, latent.truncate(z, psi), y)) / max(full, 1e-12)

        # Its own channel, newest wins: dragging ψ computes the figure once it rests.
        self.background.request("diversity", ("diversity", psi), job)

    def update_image(self) -> None:
        """Ask for the current latent's image; a newer request replaces an older one still waiting."""
        if self.gen is None:
            return
        import torch

        from ganstudio.core import latent
        from ganstudio.core.sampling import to_uint8

        st = self.state()
        gen, z = self.gen, self.z_of(st)
        y = None if st["class"] is None else torch.tensor([st["class"]])
        self._request_id += 1
        rid = self._request_id
        self.requested_at[rid] = time.perf_counter()
        self.renderer.request("image", ("image", rid), lambda: to_uint8(latent.render(gen, z[None], y))[0])

    def _on_renderer_failed(self, key, message: str) -> None:
        if key and key[0] == "nearest":  # said where the user looks, not only in the status bar
            self.nearest.result.setText(f"<span style='color:#c0392b'>{message}</span>")
        self.status.emit(f"render failed: {message}")

    def _on_renderer_rendered(self, key, result) -> None:
        kind, ident = key
        if kind == "image":
            now = time.perf_counter()
            # every request up to this one is answered now (older ones were superseded)
            for rid in [k for k in self.requested_at if k <= ident]:
                self.latencies.append(now - self.requested_at.pop(rid))
            self.view.set_image(result)
        elif kind == "directions":
            if self.gen is not None and ident == id(self.gen):
                self.directions, stds = result
                self.dirs_note.setText("Principal directions of G's first layer (largest variance first).")
                self.update_image()
        elif kind == "diversity":
            if abs(ident - self.psi_slider.value() / 100) < 1e-9:
                self.psi_label.setText(f"ψ {ident:.2f} · diversity {result:.0%}")
        elif kind == "frames":
            self.walk.show_frames(result)
        elif kind == "cond":
            self.conditional.cond_view.set_image(result)
        elif kind == "nearest":
            self.nearest.show_result(result)
        elif kind == "traverse":
            self.codes.show_result(result)
            self.tabs.setCurrentWidget(self.codes.grid_tab)
        elif kind == "history":
            self.conditional.cond_view.set_image(result)
            self.tabs.setCurrentWidget(self.conditional)

    def _on_open_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", "", "Checkpoints (*.pt)")
        if path:
            self.load(path)

    def shutdown(self, wait: float = 10.0) -> None:
        """End both workers, letting a running job finish (call before the application quits)."""
        self.walk.stop()
        self.renderer.close(wait)
        self.background.close(wait)

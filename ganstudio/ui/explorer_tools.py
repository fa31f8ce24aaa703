"""The Explore tab's tools around the latent shown: a walk through keyframes, bookmarks kept with
the run, and the conditional grids. Each reads the explorer's current latent (`panel.state()`,
`panel.z_of`) and renders on its background worker, never on the GUI thread."""

from __future__ import annotations

import json
import weakref
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.samples import ImageView
from ganstudio.ui.widgets import button, save_or_say


class _OfPanel:
    """The explorer panel a tool works for, held weakly: a strong reference back would make a
    panel ↔ tool cycle of Qt wrappers, left to the garbage collector to tear down in any order."""

    def _hold(self, panel) -> None:
        self._panel = weakref.ref(panel)

    @property
    def panel(self):
        return self._panel()


class WalkBox(_OfPanel, QGroupBox):
    """Keyframes and the slerp/lerp walk through them: played in the panel's view, exported as GIF or strip."""

    def __init__(self, panel):
        super().__init__("Interpolation")
        self._hold(panel)
        self.frames: list = []  # the interpolation path as uint8 images (playback)
        self.path_frames = None  # ... and as G's output (N, C, H, W) for export
        self._frame = 0
        self._play = QTimer(self)
        self._play.setInterval(1000 // 24)
        self._play.timeout.connect(self._on_play_timeout)
        self.keyframes = QListWidget()
        self.keyframes.setToolTip("Keyframes of the walk: each is a seed (with its sliders) and a class.")
        self.add_key_button = button("Add current", "Add the latent shown now as the next keyframe.", self.add_keyframe)
        self.clear_keys_button = button("Clear", "", self._on_clear_keys_button_clicked)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["slerp", "lerp"])
        self.mode_combo.setToolTip("slerp follows the sphere Gaussian latents live on; lerp cuts through the low-density middle (blurrier frames).")
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(2, 600)
        self.frames_spin.setValue(60)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Animate the walk.")
        self.play_button.toggled.connect(self._on_play_button_toggled)
        self.strip_view = ImageView()
        self.strip_view.setMinimumSize(200, 60)
        self.gif_button = button("Export GIF…", "", self._on_gif_button_clicked)
        self.strip_button = button("Export strip…", "", self._on_strip_button_clicked)
        ig = QGridLayout(self)
        ig.addWidget(self.keyframes, 0, 0, 3, 1)
        ig.addWidget(self.add_key_button, 0, 1)
        ig.addWidget(self.clear_keys_button, 0, 2)
        ig.addWidget(self.mode_combo, 1, 1)
        ig.addWidget(self.frames_spin, 1, 2)
        ig.addWidget(self.play_button, 2, 1)
        ig.addWidget(self.gif_button, 2, 2)
        ig.addWidget(self.strip_button, 3, 2)
        ig.addWidget(self.strip_view, 4, 0, 1, 3)

    def controls(self) -> tuple[QWidget, ...]:
        """What needs a loaded generator."""
        return self.add_key_button, self.play_button, self.gif_button, self.strip_button

    def add_keyframe(self) -> None:
        st = self.panel.state()
        item_text = f"seed {st['seed']}" + (f", class {self.panel.class_combo.currentText()}" if st["class"] is not None else "")
        self.keyframes.addItem(item_text)
        self.keyframes.item(self.keyframes.count() - 1).setData(256, st)
        self._render_path()

    def _on_clear_keys_button_clicked(self) -> None:
        self.keyframes.clear()
        self.frames, self.path_frames = [], None
        self.strip_view.set_image(None)

    def keyframe_states(self) -> list[dict]:
        return [self.keyframes.item(i).data(256) for i in range(self.keyframes.count())]

    def path_job(self, n_frames: int | None = None):
        """A job rendering the walk through the keyframes (classes blend with their embeddings)."""
        import torch

        from ganstudio.core import latent
        from ganstudio.core.sampling import to_uint8

        states = self.keyframe_states()
        if len(states) < 2:
            return None
        gen = self.panel.gen
        keys = [self.panel.z_of(s) for s in states]
        frames = n_frames or self.frames_spin.value()
        mode = self.mode_combo.currentText()

        def job():
            z = latent.interpolate(keys, frames, mode)
            if gen.num_classes:
                e = torch.stack([gen.G.embed(torch.tensor(s["class"] or 0)).detach() for s in states])
                emb = latent.interpolate(list(e), frames, "lerp")
                x = latent.render(gen, z, embed=emb)
            else:
                x = latent.render(gen, z)
            return x, list(to_uint8(x))

        return job

    def _render_path(self) -> None:
        job = self.path_job()
        if job is not None:
            self.panel.background.request("frames", ("frames", 0), job)

    def show_frames(self, result) -> None:
        from ganstudio.core import latent

        self.path_frames, self.frames = result
        self.strip_view.set_image(latent.strip(self.path_frames))
        self._frame = 0

    def _on_play_button_toggled(self, on: bool) -> None:
        if on and not self.frames:
            self._render_path()
        self.play_button.setText("Pause" if on else "Play")
        (self._play.start if on else self._play.stop)()

    def _on_play_timeout(self) -> None:
        if self.frames:
            self.panel.view.set_image(self.frames[self._frame % len(self.frames)])
            self._frame += 1

    def stop(self) -> None:
        try:
            self._play.stop()
        except RuntimeError:  # Qt already deleted the timer (window torn down first)
            pass

    def export_gif(self, path: str, fps: int = 24) -> None:
        from ganstudio.core import latent
        from ganstudio.core.checkpoint import atomic_write_bytes

        atomic_write_bytes(path, latent.gif_bytes(self.path_frames, fps=fps))

    def _on_gif_button_clicked(self) -> None:
        if not self.frames:
            self.panel.status.emit("Add two or more keyframes first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export GIF", "walk.gif", "GIF (*.gif)")
        if path:
            save_or_say(self, lambda: self.export_gif(path))

    def _on_strip_button_clicked(self) -> None:
        if not self.frames:
            self.panel.status.emit("Add two or more keyframes first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export strip", "walk.png", "PNG (*.png)")
        if path:
            from ganstudio.core import latent
            from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes

            save_or_say(self, lambda: atomic_write_bytes(path, png_bytes(latent.strip(self.path_frames))))


class BookmarksBox(_OfPanel, QGroupBox):
    """Latents saved with the run (RUN/bookmarks.json), and one rendered by every saved checkpoint."""

    def __init__(self, panel):
        super().__init__("Bookmarks")
        self._hold(panel)
        self.bookmarks = QListWidget()
        self.bookmarks.setToolTip("Latents saved with the run (bookmarks.json); double-click to show one.")
        self.bookmarks.itemDoubleClicked.connect(lambda item: self.panel.apply_state(item.data(256)))
        self.bookmark_button = button("Bookmark", "Save this latent (seed, sliders, class) to the run.", self.add_bookmark)
        self.evolve_button = button("Render at every checkpoint", "Show how the selected bookmark's sample evolved over the run's saved checkpoints.", self.render_bookmark_history)
        bl = QVBoxLayout(self)
        bl.addWidget(self.bookmarks)
        row = QHBoxLayout()
        row.addWidget(self.bookmark_button)
        row.addWidget(self.evolve_button)
        bl.addLayout(row)

    def controls(self) -> tuple[QWidget, ...]:
        return self.bookmark_button, self.evolve_button

    def _path(self) -> Path | None:
        source = self.panel.source
        if source is None:
            return None
        from ganstudio.core.checkpoint import RunDir

        run = RunDir.of_checkpoint(source)
        return run.path / "bookmarks.json" if run is not None else source.with_suffix(".bookmarks.json")

    def reload(self) -> None:
        self.bookmarks.clear()
        p = self._path()
        try:
            items = json.loads(p.read_text()) if p and p.exists() else []
        except (OSError, json.JSONDecodeError):
            items = []
        for st in items:
            self._add_item(st)

    def _add_item(self, st: dict) -> None:
        text = f"seed {st['seed']}" + (f", class {st['class']}" if st.get("class") is not None else "") + (f", ψ {st['psi']:.2f}" if st.get("psi", 1) != 1 else "")
        self.bookmarks.addItem(text)
        self.bookmarks.item(self.bookmarks.count() - 1).setData(256, st)

    def add_bookmark(self) -> None:
        from ganstudio.core.checkpoint import atomic_write_text

        self._add_item(self.panel.state())
        p = self._path()
        if p is not None:
            items = [self.bookmarks.item(i).data(256) for i in range(self.bookmarks.count())]
            save_or_say(self, lambda: atomic_write_text(p, json.dumps(items, indent=1)))

    def render_bookmark_history(self) -> None:
        """The selected (or last) bookmark rendered by every step_*.pt checkpoint of the run, oldest first."""
        source = self.panel.source
        if self.bookmarks.count() == 0 or source is None:
            self.panel.status.emit("Bookmark a latent first.")
            return
        item = self.bookmarks.currentItem() or self.bookmarks.item(self.bookmarks.count() - 1)
        st = item.data(256)
        from ganstudio.core.checkpoint import RunDir

        run = RunDir.of_checkpoint(source)
        ckpts = sorted(run.checkpoints_dir.glob("step_*.pt")) if run is not None else []
        ckpts = ckpts or [run.latest_checkpoint if run is not None else source]
        z = self.panel.z_of(st)

        def job():
            import torch

            from ganstudio.core import latent
            from ganstudio.core.inference import load_generator
            from ganstudio.core.sampling import make_grid

            tiles = []
            for c in ckpts:
                g = load_generator(str(c))
                y = torch.tensor([st["class"]]) if st.get("class") is not None and g.num_classes else None
                tiles.append(latent.render(g, z[None], y))
            return make_grid(torch.cat(tiles), ncol=len(tiles))

        self.panel.background.request("cond", ("history", 0), job)


class ConditionalTab(_OfPanel, QWidget):
    """Class × seed grids, one latent as every class, and a blend between two classes' embeddings."""

    def __init__(self, panel):
        super().__init__()
        self._hold(panel)
        self.cond_reason = QLabel("")
        self.cond_reason.setWordWrap(True)
        self.grid_seeds = QSpinBox()
        self.grid_seeds.setRange(1, 32)
        self.grid_seeds.setValue(8)
        self.grid_button = button("Class × seed grid", "Rows are classes, columns seeds: the same z down each column.", self.show_class_grid)
        self.sweep_button = button("Sweep classes", "The current z rendered as every class.", self.show_class_sweep)
        self.class_a, self.class_b = QComboBox(), QComboBox()
        self.blend_button = button("Blend A → B", "Fixed z, the label embedding moving from class A to class B.", self.show_class_blend)
        self.cond_view = ImageView()
        self.cond_save = button("Save PNG…", "", self._on_cond_save_clicked)
        cl = QGridLayout(self)
        cl.addWidget(self.cond_reason, 0, 0, 1, 4)
        cl.addWidget(QLabel("seeds"), 1, 0)
        cl.addWidget(self.grid_seeds, 1, 1)
        cl.addWidget(self.grid_button, 1, 2)
        cl.addWidget(self.sweep_button, 1, 3)
        cl.addWidget(self.class_a, 2, 0)
        cl.addWidget(self.class_b, 2, 1)
        cl.addWidget(self.blend_button, 2, 2)
        cl.addWidget(self.cond_save, 2, 3)
        cl.addWidget(self.cond_view, 3, 0, 1, 4)

    def controls(self) -> tuple[QWidget, ...]:
        """What needs a conditional generator."""
        return self.grid_button, self.sweep_button, self.class_a, self.class_b, self.blend_button, self.grid_seeds

    def set_classes(self, names: list[str]) -> None:
        for combo in (self.class_a, self.class_b):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.blockSignals(False)
        if len(names) > 1:
            self.class_b.setCurrentIndex(1)

    def _request(self, make) -> None:
        from ganstudio.core.sampling import make_grid

        gen = self.panel.gen
        self.panel.background.request("cond", ("cond", 0), lambda: make_grid(*make(gen)))

    def show_class_grid(self) -> None:
        from ganstudio.core import latent

        p = self.panel
        seed, n, psi = p.seed_spin.value(), self.grid_seeds.value(), p.psi_slider.value() / 100
        self._request(lambda g: (latent.class_grid(g, list(range(seed, seed + n)), psi), n))

    def show_class_sweep(self) -> None:
        import torch

        from ganstudio.core import latent

        z = self.panel.z_of(self.panel.state())
        self._request(lambda g: (latent.render(g, z.expand(g.num_classes, -1), torch.arange(g.num_classes)), g.num_classes))

    def show_class_blend(self) -> None:
        from ganstudio.core import latent

        seed, a, b = self.panel.seed_spin.value(), self.class_a.currentIndex(), self.class_b.currentIndex()
        self._request(lambda g: (latent.class_blend(g, seed, a, b, 10), 10))

    def _on_cond_save_clicked(self) -> None:
        if self.cond_view.image is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save grid", "classes.png", "PNG (*.png)")
        if path:
            from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes

            image = self.cond_view.image
            save_or_say(self, lambda: atomic_write_bytes(path, png_bytes(image)))

"""NearestTab: "is it copying?": the image on show beside its nearest training images, in Explore."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QSpinBox, QWidget

from ganstudio.ui.samples import ImageView
from ganstudio.ui.widgets import button


class NearestTab(QWidget):
    """The current latent's image, then the k training images nearest to it in the run's features.

    The first lookup reads the run's data and loads (or, for a folder without labels, trains and
    caches) its features, in the explorer's background worker; later lookups take milliseconds.
    """

    def __init__(self, panel):
        super().__init__()
        import weakref

        self._panel = weakref.ref(panel)
        self._index = None  # (checkpoint path, NearestIndex)
        self.note = QLabel("Users training on a few hundred images ask this first: are the samples new, or copies? "
                           "Find compares the image on show with every training image.")
        self.note.setWordWrap(True)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 16)
        self.k_spin.setValue(6)
        self.k_spin.setToolTip("How many of the nearest training images to show.")
        self.find_button = button("Find nearest training images",
                                  "The image on show, then its nearest training images (by the features eval uses).",
                                  self.find)
        self.view = ImageView()
        self.result = QLabel("")
        self.result.setWordWrap(True)
        lay = QGridLayout(self)
        lay.addWidget(self.note, 0, 0, 1, 3)
        lay.addWidget(QLabel("show"), 1, 0)
        lay.addWidget(self.k_spin, 1, 1)
        lay.addWidget(self.find_button, 1, 2)
        lay.addWidget(self.view, 2, 0, 1, 3)
        lay.addWidget(self.result, 3, 0, 1, 3)

    def controls(self) -> tuple[QWidget, ...]:
        return self.find_button, self.k_spin

    def find(self) -> None:
        import torch

        from ganstudio.core import latent

        p = self._panel()
        if p is None or p.gen is None or p.source is None:
            return
        st = p.state()
        gen, z, source, k = p.gen, p.z_of(st), p.source, self.k_spin.value()
        y = None if st["class"] is None else torch.tensor([st["class"]])
        cached = self._index
        run_dir = source if source.is_dir() else (source.parent.parent if source.parent.name == "checkpoints" else None)
        self.result.setText("Reading the training images and their features (the first time, for a folder "
                            "without labels, about a minute)…" if cached is None or cached[0] != source else "Searching…")

        def job():
            from ganstudio.core.evaluate import NearestIndex

            index = cached[1] if cached is not None and cached[0] == source else NearestIndex(source, cache_dir=run_dir)
            image = latent.render(gen, z[None], y)
            dist, _ = index.lookup(image, k)
            typical = index.lookup(index.data.x[: min(500, len(index.data.x))], 2)[0][:, 1]  # a training image's nearest other one
            return source, index, index.grid(image, k), float(dist[0, 0]), float(typical.median())

        p.background.request("nearest", ("nearest", 0), job)

    def show_result(self, result) -> None:
        source, index, grid, nearest, typical = result
        self._index = (source, index)
        self.view.set_image(grid)
        ratio = nearest / typical if typical > 0 else float("inf")
        verdict = ("closer to a training image than training images are to each other: it may be a copy"
                   if ratio < 0.5 else "about as far from the training images as they are from each other: a new image")
        self.result.setText(f"Nearest training image at distance {nearest:.3g}; a training image's nearest other one "
                            f"is typically {typical:.3g} away ({ratio:.2f}×): {verdict}. Judged by {index.why}.")

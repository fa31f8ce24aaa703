"""TranslatePanel: drop images, pick a pix2pix/CycleGAN or super-resolution model, translate or upscale the batch off the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.samples import to_qimage
from ganstudio.ui.widgets import button, in_background

THUMB = 48


class WipeView(QWidget):
    """Before on the left of the wipe line, after on the right; the slider moves the line. With the loupe on,
    a square around the pointer shows the result at 1:1 (one image pixel per screen pixel), the wipe line
    running through it too, so an upscale's invented detail can be judged at its real size."""

    LOUPE = 180  # side of the loupe, screen px

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.before = self.after = None
        self.position = 0.5
        self.loupe = False
        self.pointer: QPointF | None = None
        self.setMinimumSize(200, 200)
        self.setMouseTracking(True)

    def set_loupe(self, on: bool) -> None:
        self.loupe = on
        self.update()

    def mouseMoveEvent(self, event) -> None:
        self.pointer = event.position()
        if self.loupe:
            self.update()

    def leaveEvent(self, event) -> None:
        self.pointer = None
        self.update()

    def _target(self) -> QRectF | None:
        img = self.after or self.before
        if img is None:
            return None
        scale = min(self.width() / img.width(), self.height() / img.height())
        w, h = img.width() * scale, img.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def loupe_source(self) -> QRectF | None:
        """The rectangle of the result (in its pixels) the loupe shows now, or None when it shows nothing."""
        img, target = self.after or self.before, self._target()
        if not self.loupe or self.pointer is None or target is None or not target.contains(self.pointer):
            return None
        k = img.width() / target.width()  # image px per screen px
        cx = (self.pointer.x() - target.left()) * k
        cy = (self.pointer.y() - target.top()) * k
        half = self.LOUPE / 2
        return QRectF(cx - half, cy - half, self.LOUPE, self.LOUPE)

    def set_images(self, before: np.ndarray | None, after: np.ndarray | None) -> None:
        self.before = None if before is None else to_qimage(before)
        self.after = None if after is None else to_qimage(after)
        self.update()

    def set_position(self, value: float) -> None:
        self.position = value
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        target = self._target()
        if target is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select a translated image")
            return
        w, h = target.width(), target.height()
        split = target.left() + w * self.position
        if self.before is not None:
            p.save()
            p.setClipRect(QRectF(target.left(), target.top(), split - target.left(), h))
            p.drawImage(target, self.before)
            p.restore()
        if self.after is not None:
            p.save()
            p.setClipRect(QRectF(split, target.top(), target.right() - split, h))
            p.drawImage(target, self.after)
            p.restore()
        p.setPen(Qt.GlobalColor.red)
        p.drawLine(int(split), int(target.top()), int(split), int(target.bottom()))
        src = self.loupe_source()
        if src is not None:
            self._draw_loupe(p, src, target, split)

    def _draw_loupe(self, p: QPainter, src: QRectF, target: QRectF, split: float) -> None:
        img = self.after or self.before
        k = img.width() / target.width()
        lens = QRectF(self.pointer.x() - self.LOUPE / 2, self.pointer.y() - self.LOUPE / 2, self.LOUPE, self.LOUPE)
        cut = lens.left() + (split - self.pointer.x()) * k + self.LOUPE / 2  # the wipe line, magnified with the image
        cut = min(max(cut, lens.left()), lens.right())
        p.fillRect(lens, Qt.GlobalColor.black)
        for image, clip in ((self.before, QRectF(lens.left(), lens.top(), cut - lens.left(), lens.height())),
                            (self.after, QRectF(cut, lens.top(), lens.right() - cut, lens.height()))):
            if image is None or clip.width() <= 0:
                continue
            f = image.width() / img.width()  # the before image is smaller: its pixels are magnified, not smoothed
            p.save()
            p.setClipRect(clip)
            p.drawImage(lens, image, QRectF(src.left() * f, src.top() * f, src.width() * f, src.height() * f))
            p.restore()
        p.setPen(Qt.GlobalColor.red)
        p.drawLine(int(cut), int(lens.top()), int(cut), int(lens.bottom()))
        p.setPen(Qt.GlobalColor.white)
        p.drawRect(lens)


class _Relay(QObject):
    result = Signal(object)
    finished = Signal(bool)   # cancelled?
    failed = Signal(str)


class TranslatePanel(QWidget):
    """A queue of images translated by a worker thread; per-file status; cancel stops within one image."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.model = None  # (G, size, in_channels, names, path)
        self.out_dir: Path | None = None
        self.results: dict[str, object] = {}
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._relay = _Relay()
        self._relay.result.connect(self._on_worker_result)
        self._relay.finished.connect(self._on_worker_finished)
        self._relay.failed.connect(lambda msg: self.status.setText(f"<span style='color:#c0392b'>{msg}</span>"))

        self.model_label = QLabel("No model: open a pix2pix or CycleGAN checkpoint.")
        self.model_label.setWordWrap(True)
        self.open_button = button("Open model…", "A translation checkpoint (a run's checkpoints/latest.pt).", self._on_open_button_clicked)
        self.direction_combo = QComboBox()
        self.direction_combo.setToolTip("CycleGAN models translate both ways.")
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["tile", "resize"])
        self.mode_combo.setToolTip("tile: large images translated tile by tile with blended overlaps (sharp, no seams); "
                                   "resize: to the model's size and back (faster, softer).")
        self.out_label = QLabel("Output: translated/ next to the inputs")
        self.out_button = button("Output folder…", "", self._on_out_button_clicked)
        self.queue = QListWidget()
        self.queue.setIconSize(QSize(THUMB, THUMB))
        self.queue.setToolTip("Drop image files or folders here (folders are searched recursively).")
        self.queue.currentItemChanged.connect(self._on_queue_current_changed)
        self.add_button = button("Add…", "", self._on_add_button_clicked)
        self.clear_button = button("Clear", "", self.clear)
        self.run_button = button("Translate", "Translate every image in the queue; existing files are never overwritten.", self.start)
        self.cancel_button = button("Cancel", "Stop after the image being translated now.", self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.wipe = WipeView()
        self.wipe_slider = QSlider(Qt.Orientation.Horizontal)
        self.wipe_slider.setRange(0, 100)
        self.wipe_slider.setValue(50)
        self.wipe_slider.setToolTip("Wipe between the original (left) and the translation (right).")
        self.wipe_slider.valueChanged.connect(lambda v: self.wipe.set_position(v / 100))
        from ganstudio.ui.samples import ImageView

        self.cycle_view = ImageView()
        self.cycle_view.setMinimumSize(120, 120)
        self.cycle_view.setToolTip("CycleGAN: the translation translated back (F(G(x))); close to the original when the cycle holds.")
        self.cycle_label = QLabel("")
        # super-resolution models: network interpolation, the output limit, the loupe
        self.alpha_label = QLabel("PSNR ↔ GAN  α 1.00")
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(100)
        self.alpha_slider.setToolTip("Network interpolation (ESRGAN): the weights (1 − α)·PSNR model + α·GAN. 0 is faithful "
                                     "and smooth, 1 is sharp with invented texture; in between trades one for the other.")
        self.alpha_slider.valueChanged.connect(lambda v: self.alpha_label.setText(f"PSNR ↔ GAN  α {v / 100:.2f}"))
        self.alpha_slider.sliderReleased.connect(self._on_alpha_slider_released)
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(1, 100_000)
        self.limit_spin.setSuffix(" Mpx")
        self.limit_spin.setToolTip("Largest result to write, in megapixels (default: Pillow's decompression limit, 89 Mpx). "
                                   "A larger result is refused with its size; raise this to allow it.")
        from PIL import Image  # not ganstudio.core.images: that imports torch, which must wait for the first paint

        self.limit_spin.setValue(round(Image.MAX_IMAGE_PIXELS / 1e6))
        self.loupe_check = QCheckBox("Loupe 1:1")
        self.loupe_check.setToolTip("Show the result at its real size, one image pixel per screen pixel, around the pointer.")
        self.loupe_check.toggled.connect(lambda on: self.wipe.set_loupe(on))
        self.sr_row = QWidget()
        sr = QHBoxLayout(self.sr_row)
        sr.setContentsMargins(0, 0, 0, 0)
        for w in (self.alpha_label, self.alpha_slider, QLabel("Limit"), self.limit_spin):
            sr.addWidget(w)
        self.sr_row.setVisible(False)

        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.open_button)
        top.addWidget(QLabel("Direction"))
        top.addWidget(self.direction_combo)
        top.addWidget(self.mode_combo)
        out = QHBoxLayout()
        out.addWidget(self.out_label, 1)
        out.addWidget(self.out_button)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.clear_button, self.run_button, self.cancel_button):
            buttons.addWidget(b)
        left = QVBoxLayout()
        left.addWidget(self.queue, 1)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        right = QVBoxLayout()
        right.addWidget(self.wipe, 1)
        right.addWidget(self.wipe_slider)
        right.addWidget(self.loupe_check)
        right.addWidget(self.cycle_label)
        right.addWidget(self.cycle_view)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.sr_row)
        lay.addLayout(out)
        lay.addLayout(body, 1)
        self._update_buttons()

    # ------------------------------------------------------------ model and queue

    def load_model(self, path: str | Path) -> bool:
        from ganstudio.core.errors import CheckpointError
        from ganstudio.core.inference import read_checkpoint, require_kind, signature_of

        try:
            state = read_checkpoint(path)
            sig = signature_of(state)
            require_kind(path, state, sig, "translate")
        except CheckpointError as e:
            self.model_label.setText(f"<span style='color:#c0392b'>{e}</span>")
            return False
        from ganstudio.core.upscale import PSNR_SUFFIX, upscale_factor

        entries = {e.name: e for e in sig.entries}
        names = (entries["AtoB"].source, entries["AtoB"].target)
        scale = upscale_factor(entries["AtoB"])
        interpolable = scale > 1 and entries["AtoB"].net + PSNR_SUFFIX in state["nets"]
        # a model that translates both ways also shows each result translated back
        self.model = {"path": str(path), "names": names, "both_ways": "BtoA" in entries, "scale": scale,
                      "interpolable": interpolable}
        self.direction_combo.clear()
        for e in sig.entries:
            self.direction_combo.addItem(f"{e.source} → {e.target}", e.name)
        self.sr_row.setVisible(scale > 1)
        self.alpha_slider.setValue(100)
        self.alpha_slider.setEnabled(interpolable)
        self.alpha_label.setEnabled(interpolable)
        self.alpha_slider.setToolTip(self.alpha_slider.toolTip() if interpolable else
                                     "This model has no PSNR start to interpolate from: network interpolation needs a GAN "
                                     "model trained with init_from set to a PSNR-only (srresnet) run.")
        self.mode_combo.setVisible(scale == 1)  # super-resolution always tiles, streamed
        self.run_button.setText(f"Upscale ×{scale}" if scale > 1 else "Translate")
        what = f" · upscales ×{scale}" if scale > 1 else ""
        self.model_label.setText(f"{state['family']} · step {state.get('step', 0)}{what} · {path}")
        self._update_buttons()
        return True

    @property
    def upscaling(self) -> bool:
        return self.model is not None and self.model.get("scale", 1) > 1

    @property
    def alpha(self) -> float:
        return self.alpha_slider.value() / 100

    def add_paths(self, paths) -> int:
        from ganstudio.core.translate import collect_inputs

        known = {self.queue.item(i).data(256) for i in range(self.queue.count())}
        added = 0
        for p in collect_inputs(paths, exclude=self.out_dir):
            if str(p) in known:
                continue
            item = QListWidgetItem(p.name)
            item.setData(256, str(p))
            item.setToolTip(str(p))
            reader = QImageReader(str(p))  # thumbnail decoded at thumbnail size
            size = reader.size()
            if size.isValid():
                reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
            image = reader.read()
            if not image.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            self.queue.addItem(item)
            added += 1
        self._update_buttons()
        return added

    def clear(self) -> None:
        if self.running:
            return
        self.queue.clear()
        self.results.clear()
        self.wipe.set_images(None, None)
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _update_buttons(self) -> None:
        busy = self.running
        self.run_button.setEnabled(not busy and self.model is not None and self.queue.count() > 0)
        self.cancel_button.setEnabled(busy)
        for w in (self.open_button, self.add_button, self.clear_button, self.out_button, self.direction_combo, self.mode_combo,
                  self.limit_spin):
            w.setEnabled(not busy)
        self.alpha_slider.setEnabled(not busy and self.model is not None and bool(self.model.get("interpolable")))

    # ------------------------------------------------------------ the batch (worker thread)

    def start(self) -> None:
        from ganstudio.core.translate import default_output_dir

        if self.running or self.model is None or self.queue.count() == 0:
            return
        inputs = [Path(self.queue.item(i).data(256)) for i in range(self.queue.count())]
        out_dir = self.out_dir or default_output_dir(inputs)
        direction = self.direction_combo.currentData() or "AtoB"
        mode = self.mode_combo.currentText()
        path = self.model["path"]
        upscaling, alpha, limit = self.upscaling, self.alpha, self.limit_spin.value() * 1_000_000
        if upscaling and self.out_dir is None:
            first = inputs[0]
            out_dir = (first if first.is_dir() else first.parent) / "upscaled"
        self._cancel.clear()
        self.progress.setRange(0, len(inputs))
        self.progress.setValue(0)
        self.status.setText(f"{'Upscaling' if upscaling else 'Translating'} {len(inputs)} images into {out_dir}…")

        def work():
            from ganstudio.core.checkpoint import CheckpointError
            from ganstudio.core.errors import DataError
            from ganstudio.core.translate import translate_files
            from ganstudio.core.inference import load_translator

            try:
                if upscaling:
                    from ganstudio.core.upscale import load_upscaler, upscale_files

                    results = upscale_files(inputs, out_dir, load_upscaler(path, alpha), max_pixels=limit,
                                            cancel=self._cancel.is_set)
                else:
                    G, size, in_ch, _ = load_translator(path, direction)
                    results = translate_files(inputs, out_dir, G, size, in_ch, mode=mode, cancel=self._cancel.is_set)
                for r in results:
                    self._relay.result.emit(r)
            except (CheckpointError, DataError, OSError) as e:
                self._relay.failed.emit(str(e))
            finally:
                self._relay.finished.emit(self._cancel.is_set())

        self._thread = threading.Thread(target=work, name="ganstudio-translate", daemon=True)
        self._thread.start()
        self._update_buttons()

    def cancel(self) -> None:
        self._cancel.set()

    def _item_for(self, source: str) -> QListWidgetItem | None:
        for i in range(self.queue.count()):
            if self.queue.item(i).data(256) == source:
                return self.queue.item(i)
        return None

    def _on_worker_result(self, r) -> None:
        self.results[r.source] = r
        self.progress.setValue(self.progress.value() + 1)
        item = self._item_for(r.source)
        if item is not None:
            name = Path(r.source).name
            note = f" ({r.note})" if getattr(r, "note", "") else ""
            item.setText(f"{name}  ✓ {Path(r.output).name}{note}" if not r.error else f"{name}  ✗ {r.error}")
            item.setToolTip((r.output + note) if r.output else r.error)
            if self.queue.currentItem() is None and not r.error:
                self.queue.setCurrentItem(item)

    def _on_worker_finished(self, cancelled: bool) -> None:
        self._thread = None
        done = sum(1 for r in self.results.values() if not r.error)
        failed = sum(1 for r in self.results.values() if r.error)
        verb = "Cancelled" if cancelled else "Done"
        self.status.setText(f"{verb}: {done} {'upscaled' if self.upscaling else 'translated'}, {failed} failed" + (f", {self.queue.count() - len(self.results)} not started" if cancelled else ""))
        self._update_buttons()

    def wait(self, timeout: float = 60.0) -> None:
        """For scripts and tests only (never from a slot)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------ view

    def _on_queue_current_changed(self, item, _prev=None) -> None:
        if item is None:
            return
        r = self.results.get(item.data(256))
        from PIL import Image

        try:
            with Image.open(item.data(256)) as im:
                before = np.asarray(im.convert("RGB"))
        except OSError:
            before = None
        after = None
        if r is not None and not r.error:
            with Image.open(r.output) as im:
                after = np.asarray(im.convert("RGB"))
        self.wipe.set_images(before, after)
        self.cycle_view.set_image(None)
        self.cycle_label.setText("")
        if after is not None and self.model is not None and self.model["both_ways"]:
            self._reconstruct(item.data(256), after)

    PREVIEW_MAX_PIXELS = 4_000_000  # α previews are redrawn in memory up to this output size

    def _on_alpha_slider_released(self) -> None:
        """A new α: the selected image is upscaled again at it (off the GUI thread) so the change shows at once;
        the batch uses it from the next press of Upscale."""
        item = self.queue.currentItem()
        if item is None or not self.upscaling or self.running:
            return
        source, path, alpha = item.data(256), self.model["path"], self.alpha
        self.status.setText(f"Previewing α {alpha:.2f}…")

        def work():
            import torch

            from ganstudio.core.upscale import decode_for_upscale, load_upscaler, upscale_array

            dec = decode_for_upscale(Path(source))
            up = load_upscaler(path, alpha)
            h, w = dec.pixels.shape[:2]
            if h * w * up.scale ** 2 > self.PREVIEW_MAX_PIXELS:
                return f"α {alpha:.2f} applies when you press Upscale (this image is too large to preview live)"
            with torch.inference_mode():
                out = upscale_array(dec.pixels, up, up.scale, up.channels)
            return out if out.shape[2] == 3 else np.repeat(out, 3, axis=2)

        in_background(self, work, lambda result: self._on_alpha_preview_ready(source, alpha, result),
                      "ganstudio-alpha", daemon=False)

    def _on_alpha_preview_ready(self, source: str, alpha: float, result) -> None:
        current = self.queue.currentItem()
        if current is None or current.data(256) != source:
            return
        if isinstance(result, (str, Exception)):
            self.status.setText(str(result))
            return
        self.wipe.set_images(self._before(source), result)
        self.status.setText(f"Preview at α {alpha:.2f}; Upscale writes the files at it.")

    @staticmethod
    def _before(source: str) -> np.ndarray | None:
        from PIL import Image

        try:
            with Image.open(source) as im:
                return np.asarray(im.convert("RGB"))
        except OSError:
            return None

    def _reconstruct(self, source: str, after: np.ndarray) -> None:
        """Two-way models (CycleGAN): translate the result back with the other generator, off the GUI thread."""
        back = "BtoA" if (self.direction_combo.currentData() or "AtoB") == "AtoB" else "AtoB"
        path, mode = self.model["path"], self.mode_combo.currentText()
        self.cycle_label.setText("Cycle reconstruction: computing…")

        def work():
            from ganstudio.core.translate import translate_array
            from ganstudio.core.inference import load_translator

            try:
                G, size, in_ch, _ = load_translator(path, back)
                import torch

                with torch.inference_mode():
                    return translate_array(after, G, size, in_ch, mode)
            except Exception as e:  # shown in the panel, never raised into Qt
                return str(e)

        in_background(self, work, lambda result: self._on_cycle_ready(source, result), "ganstudio-cycle")

    def _on_cycle_ready(self, source: str, result) -> None:
        current = self.queue.currentItem()
        if current is None or current.data(256) != source:
            return  # the selection moved on
        if isinstance(result, str):
            self.cycle_label.setText(f"Cycle reconstruction failed: {result}")
            return
        self.cycle_view.set_image(result if result.shape[2] == 3 else np.repeat(result, 3, axis=2))
        self.cycle_label.setText("Cycle reconstruction F(G(x)):")

    # ------------------------------------------------------------ files and drops

    def _on_open_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a translation model", "", "Checkpoints (*.pt)")
        if path:
            self.load_model(path)

    def _on_add_button_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add images", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp)")
        if paths:
            self.add_paths(paths)

    def _on_out_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.out_dir = Path(path)
            self.out_label.setText(f"Output: {path}")

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        pts = [p for p in paths if p.endswith(".pt")]
        if pts:
            self.load_model(pts[0])
        rest = [p for p in paths if not p.endswith(".pt")]
        if rest:
            self.add_paths(rest)
        event.acceptProposedAction()

    def shutdown(self, wait: float = 30.0) -> None:
        self._cancel.set()
        self.wait(wait)

"""TranslatePanel: drop images, pick a pix2pix/CycleGAN model and a direction, translate the batch off the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.samples import to_qimage
from ganstudio.ui.widgets import button, in_background

THUMB = 48


class WipeView(QWidget):
    """Before on the left of the wipe line, after on the right; the slider moves the line."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.before = self.after = None
        self.position = 0.5
        self.setMinimumSize(200, 200)

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
        img = self.after or self.before
        if img is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select a translated image")
            return
        scale = min(self.width() / img.width(), self.height() / img.height())
        w, h = img.width() * scale, img.height() * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
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
        right.addWidget(self.cycle_label)
        right.addWidget(self.cycle_view)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
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
        entries = {e.name: e for e in sig.entries}
        names = (entries["AtoB"].source, entries["AtoB"].target)
        # a model that translates both ways also shows each result translated back
        self.model = {"path": str(path), "names": names, "both_ways": "BtoA" in entries}
        self.direction_combo.clear()
        for e in sig.entries:
            self.direction_combo.addItem(f"{e.source} → {e.target}", e.name)
        self.model_label.setText(f"{state['family']} · step {state.get('step', 0)} · {path}")
        self._update_buttons()
        return True

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
        for w in (self.open_button, self.add_button, self.clear_button, self.out_button, self.direction_combo, self.mode_combo):
            w.setEnabled(not busy)

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
        self._cancel.clear()
        self.progress.setRange(0, len(inputs))
        self.progress.setValue(0)
        self.status.setText(f"Translating {len(inputs)} images into {out_dir}…")

        def work():
            from ganstudio.core.checkpoint import CheckpointError
            from ganstudio.core.translate import translate_files
            from ganstudio.core.inference import load_translator

            try:
                G, size, in_ch, _ = load_translator(path, direction)
                for r in translate_files(inputs, out_dir, G, size, in_ch, mode=mode, cancel=self._cancel.is_set):
                    self._relay.result.emit(r)
            except (CheckpointError, OSError) as e:
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
            item.setText(f"{name}  ✓ {Path(r.output).name}" if not r.error else f"{name}  ✗ {r.error}")
            item.setToolTip(r.output or r.error)
            if self.queue.currentItem() is None and not r.error:
                self.queue.setCurrentItem(item)

    def _on_worker_finished(self, cancelled: bool) -> None:
        self._thread = None
        done = sum(1 for r in self.results.values() if not r.error)
        failed = sum(1 for r in self.results.values() if r.error)
        verb = "Cancelled" if cancelled else "Done"
        self.status.setText(f"{verb}: {done} translated, {failed} failed" + (f", {self.queue.count() - len(self.results)} not started" if cancelled else ""))
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

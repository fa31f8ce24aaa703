"""File ▸ Export model…: a generator or translation generator to ONNX or TorchScript, verified, off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.widgets import in_background

FORMAT_LABELS = {
    "onnx": "ONNX: onnxruntime, TensorRT, OpenVINO, browsers",
    "torchscript": "TorchScript: LibTorch (C++), PyTorch without GAN Studio",
}


class ExportDialog(QDialog):
    # (ok, message): emitted from the worker thread, delivered on the GUI thread
    done = Signal(bool, str)

    def __init__(self, checkpoint: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.resize(640, 260)
        self._running = False  # from start() until its result is shown
        form = QFormLayout()
        self.checkpoint_edit = QLineEdit(str(checkpoint or ""))
        self.checkpoint_edit.setToolTip("The checkpoint whose generator is exported (a .pt file or a run folder).")
        self.checkpoint_edit.editingFinished.connect(self._on_checkpoint_changed)
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose a checkpoint file.")
        browse.clicked.connect(self._browse_checkpoint)
        form.addRow("Checkpoint", _row(self.checkpoint_edit, browse))
        self.format_combo = QComboBox()
        for key, label in FORMAT_LABELS.items():
            self.format_combo.addItem(label, key)
        self.format_combo.setToolTip("ONNX opset 18 with a dynamic batch axis, or TorchScript (traced).")
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        form.addRow("Format", self.format_combo)
        self.direction_combo = QComboBox()
        self.direction_combo.addItems(["AtoB", "BtoA"])
        self.direction_combo.setToolTip("Which CycleGAN generator to export; other models have one.")
        form.addRow("Direction", self.direction_combo)
        self.output_edit = QLineEdit()
        self.output_edit.setToolTip("The file to write; an existing file is never replaced.")
        save_as = QPushButton("Save as…")
        save_as.setToolTip("Choose where to write the exported file.")
        save_as.clicked.connect(self._browse_output)
        form.addRow("Output file", _row(self.output_edit, save_as))
        self.status = QLabel("The exported file is run and compared with the checkpoint before it is kept.")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setToolTip("Export, then check the file against the checkpoint (max difference ≤ 1e-4).")
        self.export_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.done.connect(self._on_done)
        self._on_checkpoint_changed()

    # ------------------------------------------------------------ fields

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", self.checkpoint_edit.text(), "Checkpoints (*.pt)")
        if path:
            self.checkpoint_edit.setText(path)
            self._on_checkpoint_changed()

    def _browse_output(self) -> None:
        from ganstudio.core.export import SUFFIXES

        fmt = self.format_combo.currentData()
        filt = f"{'ONNX' if fmt == 'onnx' else 'TorchScript'} (*{SUFFIXES[fmt]})"
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.output_edit.text(), filt)
        if path:
            self.output_edit.setText(path)

    def _default_output(self) -> str:
        ckpt = Path(self.checkpoint_edit.text())
        run = ckpt if ckpt.is_dir() else ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        from ganstudio.core.export import SUFFIXES

        suffix = SUFFIXES[self.format_combo.currentData()]
        direction = f"-{self.direction_combo.currentText()}" if self.direction_combo.isEnabled() else ""
        return str(run / f"{run.name}-generator{direction}{suffix}")

    def _on_checkpoint_changed(self) -> None:
        """Enable the direction for models that translate both ways; propose an output name next to the run."""
        from ganstudio.core.errors import CheckpointError
        from ganstudio.core.inference import read_checkpoint, signature_of

        text = self.checkpoint_edit.text().strip()
        both_ways = False
        if text:
            try:
                sig = signature_of(read_checkpoint(text))
                both_ways = sig.kind == "translate" and len(sig.entries) > 1  # a generator's other entries (InfoGAN's encode) are not directions
            except CheckpointError as e:
                self.status.setText(str(e))
        self.direction_combo.setEnabled(both_ways)
        if text and not self.output_edit.text():
            self.output_edit.setText(self._default_output())

    def _on_format_changed(self) -> None:
        out = self.output_edit.text()
        if out:
            from ganstudio.core.export import SUFFIXES

            self.output_edit.setText(str(Path(out).with_suffix(SUFFIXES[self.format_combo.currentData()])))

    # ------------------------------------------------------------ export

    @property
    def busy(self) -> bool:
        return self._running

    def start(self) -> None:
        if self.busy:
            return
        ckpt, out = self.checkpoint_edit.text().strip(), self.output_edit.text().strip()
        if not ckpt or not out:
            self.status.setText("Choose a checkpoint and an output file first.")
            return
        fmt = self.format_combo.currentData()
        direction = self.direction_combo.currentText() if self.direction_combo.isEnabled() else "AtoB"
        self._running = True
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting to {fmt} and checking it against the checkpoint…")

        def work():
            from ganstudio.core.checkpoint import CheckpointError
            from ganstudio.core.export import ExportError, export_model

            try:
                res = export_model(ckpt, fmt, out, direction=direction)
                lines = [res.summary()] + [f"input {k}: {v}" for k, v in res.inputs.items()] \
                    + [f"output {k}: {v}" for k, v in res.outputs.items()]
                return True, "\n".join(lines)
            except (ExportError, CheckpointError) as e:
                return False, str(e)
            except Exception as e:  # noqa: BLE001 - never a traceback in the GUI
                return False, f"export failed: {type(e).__name__}: {e}"

        in_background(self, work, lambda r: self.done.emit(*r), "ganstudio-export")

    def _on_done(self, ok: bool, message: str) -> None:
        self._running = False
        self.export_button.setEnabled(True)
        self.status.setText(("✔ " if ok else "✘ ") + message)

    def reject(self) -> None:
        if self.busy:  # an export finishes in seconds; closing mid-way would orphan its file check
            self.status.setText("Wait for the export to finish.")
            return
        super().reject()


def _row(*widgets) -> QWidget:
    w = QWidget()
    h = QHBoxLayout(w)
    h.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        h.addWidget(x)
    return w

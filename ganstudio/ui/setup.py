"""SetupPanel: preset, dataset and every config field as a form, each with its one-sentence why as tooltip."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.config import GROUP_ORDER, PRESETS, TRANSLATION_TASKS, TrainConfig, apply_overrides, field_info

GROUP_TITLES = {"data": "Data", "model": "Model", "loss": "Loss", "optim": "Optimisation", "tricks": "Tricks",
                "translation": "Image translation", "run": "Run", "speed": "GPU speed"}
OPEN_FOLDER = "Open folder…"
OPEN_FILE = "Open IDX / npz file…"
# Fields shown at the top of the panel rather than in their group.
TOP_FIELDS = ("dataset",)


TRANSLATION_CPU_NOTE = (
    "Translation defaults are sized for a CPU: half-width networks (g_width, d_width 32), built-in sets "
    "at their native 28 px, your own images at up to 128 px. On a GPU, raise image_size, g_width and "
    "d_width (the papers use 256 px and 64).")


def registry_choices(name: str) -> list[str]:
    if name == "model":
        from ganstudio.core.models import MODELS

        return MODELS.names() + list(TRANSLATION_TASKS)
    if name == "loss":
        from ganstudio.core.losses import LOSSES

        return LOSSES.names()
    return []


class _Relay(QObject):
    done = Signal(object, object)  # (token, result or exception)


class SetupPanel(QWidget):
    """Builds a TrainConfig from the form.  Dataset details load off the GUI thread."""

    dataset_inspected = Signal(object)   # a Dataset (or None) after a pick or drop

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.info = field_info()
        self.editors: dict[str, QWidget] = {}
        self._relay = _Relay()
        self._relay.done.connect(self._on_relay_done)
        self._inspect_token = 0
        self.dataset = None  # the last inspected Dataset
        self._inspected = None  # (spec, image_size, channels) it was read with

        self.preset_combo = QComboBox()
        self.preset_combo.addItems(PRESETS.names())
        self.preset_combo.setToolTip("A preset fills the form with a known-good setup from the literature.")
        self.preset_combo.currentTextChanged.connect(self._on_preset_combo_changed)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setEditable(False)
        self.dataset_combo.setToolTip(self.info["dataset"]["why"] + " Drop a folder or IDX/npz file on the window to use it.")
        self._builtin_names: list[str] = []  # filled from the dataset registries once torch is loaded
        self.dataset_combo.addItems([OPEN_FOLDER, OPEN_FILE])
        self.dataset_combo.activated.connect(self._on_dataset_combo_activated)
        self.dataset_label = QLabel("")
        self.dataset_label.setWordWrap(True)
        self.dataset_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Issue-level promise: translation defaults are CPU-sized and the studio says so.
        self.cpu_note = QLabel(TRANSLATION_CPU_NOTE)
        self.cpu_note.setWordWrap(True)
        self.cpu_note.setVisible(False)

        top = QFormLayout()
        top.addRow("Preset", self.preset_combo)
        top.addRow("Dataset", self.dataset_combo)
        top.addRow(self.dataset_label)
        top.addRow(self.cpu_note)

        body = QWidget()
        body_lay = QVBoxLayout(body)
        body_lay.addLayout(top)
        for group in GROUP_ORDER:
            box = QGroupBox(GROUP_TITLES[group])
            form = QFormLayout(box)
            for name, meta in self.info.items():
                if meta["group"] != group or name in TOP_FIELDS:
                    continue
                editor = self._make_editor(name, meta)
                editor.setToolTip(meta["why"])
                label = QLabel(name)
                label.setToolTip(meta["why"])
                form.addRow(label, editor)
                self.editors[name] = editor
            body_lay.addWidget(box)
        body_lay.addStretch(1)
        self.editors["model"].currentTextChanged.connect(self._on_model_editor_changed)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)

        self._dataset_value = "mnist"
        self.preset_combo.setCurrentText("dcgan-mnist")
        self.set_config(PRESETS.get("dcgan-mnist").config())

    # ------------------------------------------------------------ form

    def _make_editor(self, name: str, meta: dict) -> QWidget:
        default = meta["default"]
        choices = meta["choices"]
        if isinstance(choices, str) and choices:
            # Filled by fill_registry_choices() once torch is imported in the background:
            # the model and loss registries import torch, which would slow the window's start.
            w = QComboBox()
            w.addItem(str(default))
            w.setProperty("registry", choices)
            return w
        if isinstance(choices, tuple) and choices:
            w = QComboBox()
            w.addItems([str(c) for c in choices])
            return w
        if isinstance(default, bool):
            return QCheckBox()
        if isinstance(default, int):
            w = QSpinBox()
            w.setRange(int(meta["min"]) if meta["min"] is not None else -(2**31), 2**31 - 1)
            return w
        if isinstance(default, float):
            # learning rates span 1e-5..1e-2: free text with scientific notation reads better than a spin box
            return QLineEdit()
        return QLineEdit()

    def fill_registry_choices(self) -> None:
        from ganstudio.core.data import BUILTIN_DATASETS
        from ganstudio.core.pairs import TRANSLATION_DATASETS

        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        self._builtin_names = BUILTIN_DATASETS.names() + TRANSLATION_DATASETS.names()
        self.dataset_combo.addItems(self._builtin_names + [OPEN_FOLDER, OPEN_FILE])
        self.set_dataset(self._dataset_value, inspect=False)
        self.dataset_combo.blockSignals(False)
        for editor in self.editors.values():
            reg = editor.property("registry") if isinstance(editor, QComboBox) else None
            if reg:
                current = editor.currentText()
                editor.blockSignals(True)
                editor.clear()
                editor.addItems(registry_choices(reg))
                editor.setCurrentText(current)
                editor.blockSignals(False)

    def set_config(self, cfg: TrainConfig) -> None:
        for name, editor in self.editors.items():
            value = getattr(cfg, name)
            editor.blockSignals(True)
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QSpinBox):
                editor.setValue(int(value))
            elif isinstance(editor, QComboBox):
                if editor.findText(str(value)) < 0:
                    editor.addItem(str(value))
                editor.setCurrentText(str(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(repr(value) if isinstance(value, float) else str(value))  # repr: no digits lost
            editor.blockSignals(False)
        self._on_model_editor_changed(cfg.model)
        self.set_dataset(cfg.dataset, inspect=False)

    def _on_model_editor_changed(self, model: str) -> None:
        self.cpu_note.setVisible(model in TRANSLATION_TASKS)

    def update_values(self, changes: dict) -> None:
        """Show settings changed elsewhere (the running loop) in the form."""
        from dataclasses import replace

        self.set_config(replace(apply_overrides(TrainConfig(), self.values()), **changes))

    def dataset_for(self, cfg: TrainConfig):
        """The dataset already read for the panel, if it is exactly what cfg asks for (saves a second decode)."""
        d = self.dataset
        if d is None or getattr(d, "kind", None) != "image" or self._inspected != (cfg.dataset, cfg.image_size, cfg.channels):
            return None
        return d

    def values(self) -> dict:
        out = {"dataset": self._dataset_value}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                out[name] = editor.value()
            elif isinstance(editor, QComboBox):
                out[name] = editor.currentText()
            else:
                out[name] = editor.text()
        return out

    def config(self) -> TrainConfig:
        """The form as a validated TrainConfig; raises ConfigError naming the field."""
        from ganstudio.core.config import validate

        return validate(apply_overrides(TrainConfig(), self.values()))

    # ------------------------------------------------------------ preset / dataset

    def _on_preset_combo_changed(self, name: str) -> None:
        if name in PRESETS:
            self.set_config(PRESETS.get(name).config())
            self.inspect_dataset()

    def set_dataset(self, value: str, inspect: bool = True) -> None:
        self._dataset_value = value
        if self.dataset_combo.findText(value) < 0:
            self.dataset_combo.insertItem(len(self._builtin_names), value)
        self.dataset_combo.setCurrentText(value)
        if inspect:
            self.inspect_dataset()

    def _on_dataset_combo_activated(self, index: int) -> None:
        text = self.dataset_combo.itemText(index)
        if text == OPEN_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Open an image folder")
            if path:
                self.set_dataset(path)
            else:
                self.dataset_combo.setCurrentText(self._dataset_value)
        elif text == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open a dataset file", "", "Datasets (*.npz *idx3-ubyte *idx3-ubyte.gz)")
            if path:
                self.set_dataset(path)
            else:
                self.dataset_combo.setCurrentText(self._dataset_value)
        else:
            self.set_dataset(text)

    def inspect_dataset(self) -> None:
        """Load the chosen dataset in a worker thread and show its size, shape, classes and skipped files."""
        self._inspect_token += 1
        token, spec = self._inspect_token, self._dataset_value
        size = int(self.values().get("image_size", 0))
        ch = int(self.values().get("channels", 0))
        self.dataset_label.setText(f"Reading {spec}…")

        translating = self.values().get("model") in TRANSLATION_TASKS

        def work():
            try:
                from ganstudio.core.pairs import TRANSLATION_DATASETS, load_translation_data

                if translating or spec in TRANSLATION_DATASETS:

                    result = load_translation_data(spec, size, ch)
                else:
                    from ganstudio.core.data import load_dataset

                    result = load_dataset(spec, size, ch)
            except Exception as e:  # reported in the panel, never raised into Qt
                result = e
            self._relay.done.emit(token, (result, (spec, size, ch)))

        threading.Thread(target=work, name="ganstudio-inspect", daemon=True).start()

    def _on_relay_done(self, token, payload) -> None:
        if token != self._inspect_token:
            return  # a newer pick superseded this one
        result, self._inspected = payload
        if isinstance(result, Exception):
            self.dataset = None
            self.dataset_label.setText(f"<span style='color:#c0392b'>{result}</span>")
            self.dataset_inspected.emit(None)
            return
        self.dataset = result
        text = result.summary()
        for problem in getattr(result, "problems", [])[:5]:
            text += f"<br><span style='color:#b9770e'>{problem}</span>"
        if getattr(result, "classes", None):
            text += "<br>classes: " + ", ".join(result.classes[:20]) + (" …" if len(result.classes) > 20 else "")
        if result.skipped:
            text += f"<br><span style='color:#b9770e'>{result.skipped_report()}</span>"
        self.dataset_label.setText(text)
        self.dataset_inspected.emit(result)

"""SetupPanel: preset, dataset and every config field as a form, each with its one-sentence why as tooltip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
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

from ganstudio.ui.widgets import in_background

if TYPE_CHECKING:
    from ganstudio.core.config import TrainConfig

GROUP_TITLES = {"data": "Data", "model": "Model", "loss": "Loss", "optim": "Optimisation", "tricks": "Tricks",
                "translation": "Image translation", "run": "Run", "speed": "GPU speed"}
MIN_WIDTH, MAX_WIDTH = 300, 440  # the Setup panel's width range (px): its form fits without clipping
OPEN_FOLDER = "Open folder…"
OPEN_FILE = "Open IDX / npz file…"
# Fields shown at the top of the panel rather than in their group.
TOP_FIELDS = ("dataset",)


def registry_choices(name: str) -> list[str]:
    """Values of a field whose choices are a registry: the family's own registries, or the families."""
    from ganstudio.core.families import FAMILIES

    if name == "family":
        return FAMILIES.names()
    for family in FAMILIES.items():
        reg = getattr(family[1], "registries", lambda: {})().get(name)
        if reg is not None:
            return reg.names()
    return []


class SetupPanel(QWidget):
    """Builds a TrainConfig from the form.  Dataset details load off the GUI thread.

    The form is built from the common config fields and the picked family's declared options, so a
    new family shows its fields, groups and tooltips here with no edit to this file. It is built on
    first use (or when the studio has imported torch in the background), so the window opens at once.
    """

    dataset_inspected = Signal(object)   # a Dataset (or None) after a pick or drop

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._editors: dict[str, QWidget] = {}
        self._family_editors: list[str] = []
        self._inspect_token = 0
        self.dataset = None  # the last inspected Dataset
        self._inspected = None  # (spec, image_size, channels) it was read with
        self._built = False
        self._family = ""

        self._preset_combo = QComboBox()
        self._preset_combo.setToolTip("A preset fills the form with a known-good setup from the literature.")
        self._preset_combo.currentTextChanged.connect(self._on_preset_combo_changed)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setEditable(False)
        self._builtin_names: list[str] = []  # filled from the dataset registries once torch is loaded
        self.dataset_combo.addItems([OPEN_FOLDER, OPEN_FILE])
        self.dataset_combo.activated.connect(self._on_dataset_combo_activated)
        self.dataset_label = QLabel("Loading the training core…")
        self.dataset_label.setWordWrap(True)
        self.dataset_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a family's note, e.g. that translation defaults are sized for a CPU
        self.cpu_note = QLabel("")
        self.cpu_note.setWordWrap(True)
        self.cpu_note.setVisible(False)

        top = QFormLayout()
        top.addRow("Preset", self._preset_combo)
        top.addRow("Dataset", self.dataset_combo)
        top.addRow(self.dataset_label)
        top.addRow(self.cpu_note)

        body = QWidget()
        self._body = QVBoxLayout(body)
        self._body.addLayout(top)
        self._body.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        # the panel is as wide as its form (fit_width): nothing hides behind a sideways scrollbar
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll, self._body_widget = scroll, body
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)
        self._dataset_value = "mnist"
        self._inert_pending = False
        self._family_box: QWidget | None = None

    # ------------------------------------------------------------ form

    @property
    def preset_combo(self) -> QComboBox:
        self._ensure_form()
        return self._preset_combo

    @property
    def editors(self) -> dict[str, QWidget]:
        self._ensure_form()
        return self._editors

    def _ensure_form(self) -> None:
        """Build the form (imports the training core: torch, the families) once."""
        if self._built:
            return
        self._built = True
        from ganstudio.core.config import PRESETS, field_info, groups_of

        info = field_info()
        self.dataset_combo.setToolTip(info["dataset"]["why"] + " Drop a folder or IDX/npz file on the window to use it.")
        self._preset_combo.blockSignals(True)
        self._preset_combo.addItems(PRESETS.names())
        self._preset_combo.blockSignals(False)
        at = self._body.count() - 1  # before the stretch
        for group in groups_of(info):
            box = QGroupBox(GROUP_TITLES.get(group, group.title()))
            form = QFormLayout(box)
            for name, meta in info.items():
                if meta["group"] == group and name not in TOP_FIELDS:
                    form.addRow(*self._editor_row(name, meta))
            self._body.insertWidget(at, box)
            at += 1
            if group == "model":  # the family's own options follow its picker
                self._family_at = at
        self._editors["family"].currentTextChanged.connect(self._on_family_editor_changed)
        self._fill_registries(self._editors)
        chosen = self._dataset_value  # a folder dropped before the core had loaded stays chosen
        self._preset_combo.setCurrentText("dcgan-mnist")
        self.set_config(PRESETS.get("dcgan-mnist").config())
        if chosen and chosen != "mnist":
            self.set_dataset(chosen, inspect=False)

    def _editor_row(self, name: str, meta: dict) -> tuple[QLabel, QWidget]:
        editor = self._make_editor(name, meta)
        editor.setToolTip(meta["why"])
        # a choice that decides which other options act (loss, conditional, model) re-marks the inert ones
        for signal in ("currentTextChanged", "toggled"):
            if hasattr(editor, signal):
                getattr(editor, signal).connect(lambda *_: self._mark_inert_later())
        label = QLabel(name)
        label.setToolTip(meta["why"])
        self._editors[name] = editor
        return label, editor

    def _build_family(self, family: str) -> None:
        """The picked family's options, one box per group, replacing the previous family's."""
        from ganstudio.core.config import field_info, groups_of
        from ganstudio.core.families import FAMILIES

        if family == self._family and self._family_box is not None:
            return
        if self._family_box is not None:
            self._body.removeWidget(self._family_box)
            self._family_box.hide()  # gone at once: deleteLater waits for the event loop, and the old
            self._family_box.setParent(None)  # family's boxes stayed on screen below the new ones
            self._family_box.deleteLater()
        for name in self._family_editors:
            self._editors.pop(name, None)
        own = {n: m for n, m in field_info(family).items() if m.get("family") == family}
        cls = FAMILIES.get(family)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        before = set(self._editors)
        for group in groups_of(own):
            group_box = QGroupBox(f"{cls.title}: {GROUP_TITLES.get(group, group.title())}")
            group_box.setToolTip(cls.summary)
            form = QFormLayout(group_box)
            for name, meta in own.items():
                if meta["group"] == group:
                    form.addRow(*self._editor_row(name, meta))
            lay.addWidget(group_box)
        self._family_editors = [n for n in self._editors if n not in before]
        self._fill_registries({n: self._editors[n] for n in self._family_editors})
        self._body.insertWidget(self._family_at, box)
        self._family_box, self._family = box, family
        if self._built:
            self.fit_width()  # another family's boxes may need more room
        self.cpu_note.setText(cls.cpu_note)
        self.cpu_note.setVisible(bool(cls.cpu_note))

    def _make_editor(self, name: str, meta: dict) -> QWidget:
        default = meta["default"]
        choices = meta["choices"]
        if isinstance(choices, str) and choices:
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
        # floats: learning rates span 1e-5..1e-2, and free text with scientific notation reads better than a spin box
        return QLineEdit()

    @staticmethod
    def _fill_registries(editors: dict[str, QWidget]) -> None:
        for editor in editors.values():
            reg = editor.property("registry") if isinstance(editor, QComboBox) else None
            if reg:
                current = editor.currentText()
                editor.blockSignals(True)
                editor.clear()
                editor.addItems(registry_choices(reg))
                editor.setCurrentText(current)
                editor.blockSignals(False)

    def fill_registry_choices(self) -> None:
        """Called once the training core is imported: builds the form and lists the built-in datasets."""
        from ganstudio.core.data import BUILTIN_DATASETS
        from ganstudio.core.pairs import TRANSLATION_DATASETS

        self._ensure_form()
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        self._builtin_names = BUILTIN_DATASETS.names() + TRANSLATION_DATASETS.names()
        self.dataset_combo.addItems(self._builtin_names + [OPEN_FOLDER, OPEN_FILE])
        self.set_dataset(self._dataset_value, inspect=False)
        self.dataset_combo.blockSignals(False)

    def set_config(self, cfg: TrainConfig) -> None:
        self._ensure_form()
        self._build_family(cfg.family)
        values = cfg.to_dict()
        for name, editor in self._editors.items():
            value = values[name]
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
        self.set_dataset(cfg.dataset, inspect=False)
        self.mark_inert()

    def mark_inert(self) -> None:
        """Grey out the options that do nothing with the rest of the form (gp_weight without a gradient
        penalty, aux_weight on an unconditional model), each saying why in its tooltip."""
        from ganstudio.core.config import TrainConfig, apply_overrides
        from ganstudio.core.errors import ConfigError
        from ganstudio.core.families import FAMILIES

        values = self.values()
        try:
            cfg = apply_overrides(TrainConfig(family=values["family"]), values)
        except (ConfigError, KeyError, ValueError):
            return  # a half-typed value: keep the marks as they are
        inert = FAMILIES.get(cfg.family).inert(cfg)
        for name, editor in self._editors.items():
            why = editor.property("why") or editor.toolTip()
            editor.setProperty("why", why)
            editor.setEnabled(name not in inert)
            editor.setToolTip(f"{why}\n\nHas no effect now: {inert[name]}." if name in inert else why)

    def _on_family_editor_changed(self, family: str) -> None:
        """Another family picked: its options at their defaults, the common fields as they are."""
        from ganstudio.core.config import TrainConfig, apply_overrides
        from ganstudio.core.families import FAMILIES

        if family not in FAMILIES or family == self._family:
            return
        common = {k: v for k, v in self.values().items() if k not in self._family_editors}
        common["family"] = family
        self.set_config(apply_overrides(TrainConfig(family=family), common))

    def update_values(self, changes: dict) -> None:
        """Show settings changed elsewhere (the running loop) in the form."""
        from ganstudio.core.config import TrainConfig, apply_overrides

        values = self.values()
        self.set_config(apply_overrides(TrainConfig(family=values["family"]), {**values, **changes}))

    def dataset_for(self, cfg: TrainConfig):
        """The dataset already read for the panel, if it is exactly what cfg asks for (saves a second decode)."""
        d = self.dataset
        if d is None or getattr(d, "kind", None) != "image" or self._inspected != (cfg.dataset, cfg.image_size, cfg.channels):
            return None
        return d

    def fit_width(self) -> int:
        """Make the panel at least as wide as its form needs (combos, values, the dataset summary), up
        to MAX_WIDTH; returns that width, for the window to size its dock."""
        self._body_widget.adjustSize()
        need = self._body_widget.sizeHint().width() + self._scroll.verticalScrollBar().sizeHint().width() \
            + 2 * self._scroll.frameWidth() + 4
        width = min(MAX_WIDTH, max(MIN_WIDTH, need))
        self.setMinimumWidth(width)
        return width

    def _mark_inert_later(self) -> None:
        if not self._inert_pending:
            self._inert_pending = True
            QTimer.singleShot(0, self, self._mark_inert_now)  # tied to the panel: never after it is gone

    def _mark_inert_now(self) -> None:
        self._inert_pending = False
        self.mark_inert()

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
        from ganstudio.core.config import TrainConfig, apply_overrides, validate

        values = self.values()
        return validate(apply_overrides(TrainConfig(family=values["family"]), values))

    # ------------------------------------------------------------ preset / dataset

    def _on_preset_combo_changed(self, name: str) -> None:
        from ganstudio.core.config import PRESETS

        if name in PRESETS:
            self.set_config(PRESETS.get(name).config())
            self.inspect_dataset()

    def set_dataset(self, value: str, inspect: bool = True) -> None:
        self._dataset_value = value
        if self.dataset_combo.findText(value) < 0:
            self.dataset_combo.insertItem(len(self._builtin_names), value)
        self.dataset_combo.setCurrentText(value)
        if inspect:
            self._fit_preset_to(value)
            self.inspect_dataset()

    def _fit_preset_to(self, dataset: str) -> None:
        """A user's own folder or file picked: a generator preset made for a built-in set gives way to the
        default recipe for own images; any preset drops the size and channels it set for its own data."""
        from ganstudio.core.config import OWN_IMAGES_PRESET, PRESETS, apply_overrides, default_preset

        name = self._preset_combo.currentText()
        preset = PRESETS.get(name) if name in PRESETS else None
        if preset is None or dataset in self._builtin_names:
            return
        if preset.family == PRESETS.get(OWN_IMAGES_PRESET).family and not name.startswith(OWN_IMAGES_PRESET):
            name = default_preset(dataset, str(self.values().get("device", "auto")))
            self._preset_combo.blockSignals(True)
            self._preset_combo.setCurrentText(name)
            self._preset_combo.blockSignals(False)
            preset = PRESETS.get(name)
            self.set_config(apply_overrides(preset.config(), {"dataset": dataset}))
        values = self.values()
        try:
            cfg = apply_overrides(preset.config(), {**values, "dataset": dataset})
        except Exception:  # noqa: BLE001  (a half-typed field: leave the form as the user has it)
            return
        refit = preset.refit(cfg)
        if refit is not cfg:
            self.set_config(refit)

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

        values = self.values()

        def work():
            from ganstudio.core.config import TrainConfig, apply_overrides
            from ganstudio.core.families import FAMILIES

            cfg = apply_overrides(TrainConfig(family=values["family"]), values)
            data = FAMILIES.get(cfg.family).load_data(cfg)
            try:  # three real steps timed: what the user plans the run by
                from ganstudio.core.loop import seconds_per_100_steps
                from ganstudio.core.train import auto_threads, resolve_device

                torch_threads = cfg.threads or auto_threads(data)[0]
                import torch

                old = torch.get_num_threads()
                torch.set_num_threads(torch_threads)
                try:
                    data.pace = seconds_per_100_steps(cfg, data, resolve_device(cfg.device))
                finally:
                    torch.set_num_threads(old)
            except Exception:  # noqa: BLE001  (no estimate is no reason to refuse the dataset; Train says what is wrong)
                data.pace = None
            return data

        # the result (or the exception, reported in the panel) comes back on the GUI thread
        in_background(self, work, lambda result: self._on_relay_done(token, (result, (spec, size, ch))), "ganstudio-inspect")

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
        text = result.fit_summary()
        pace = getattr(result, "pace", None)
        if pace:
            text += f"; about {pace:.0f} s per 100 steps here"
        for problem in getattr(result, "problems", [])[:5]:
            text += f"<br><span style='color:#b9770e'>{problem}</span>"
        if getattr(result, "classes", None):
            text += "<br>classes: " + ", ".join(result.classes[:20]) + (" …" if len(result.classes) > 20 else "")
        if result.skipped:
            text += f"<br><span style='color:#b9770e'>{result.skipped_report()}</span>"
        self.dataset_label.setText(text)
        self.dataset_inspected.emit(result)

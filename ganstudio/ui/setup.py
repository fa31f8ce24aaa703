"""SetupPanel: task, recipe, dataset (with thumbnails and its summary), steps and size first; every other
config field under Advanced, each with its one-sentence why as tooltip."""

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
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.setup_fields import (
    GROUP_TITLES,
    THUMB_PX,
    THUMBNAILS,
    fill_registries,
    make_editor,
    read_dataset,
    thumbnail_strip,
)
from ganstudio.ui.widgets import in_background

if TYPE_CHECKING:
    from ganstudio.core.config import TrainConfig

MIN_WIDTH, MAX_WIDTH = 300, 440  # the Setup panel's width range (px): its form fits without clipping
OPEN_FOLDER = "Open folder…"
OPEN_FILE = "Open IDX / npz file…"
# Fields shown at the top of the panel rather than in their group: what most runs change.
TOP_FIELDS = ("dataset", "steps", "image_size")
TOP_LABELS = {"steps": "Steps", "image_size": "Image size"}
TASKS = {"generate": "Generate images", "translate": "Translate images"}


class SetupPanel(QWidget):
    """Builds a TrainConfig from the form.  Dataset details load off the GUI thread.

    The form is built from the common config fields and the picked family's declared options, so a
    new family shows its fields, groups and tooltips here with no edit to this file. It is built on
    first use (or when the studio has imported torch in the background), so the window opens at once.
    """

    dataset_inspected = Signal(object)   # a Dataset (or None) after a pick or drop
    width_changed = Signal()             # Advanced unfolded or folded: the window refits its dock

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._editors: dict[str, QWidget] = {}
        self._family_editors: list[str] = []
        self._inspect_token = 0
        self.dataset = None  # the last inspected Dataset
        self._inspected = None  # (spec, image_size, channels) it was read with
        self._built = False
        self._family = ""

        self.task_combo = QComboBox()
        self.task_combo.addItems(list(TASKS.values()))
        self.task_combo.setToolTip("Generate: new images from noise (or a class). Translate: images of one kind "
                                   "into another (edges → photo, horse → zebra).")
        self.task_combo.activated.connect(self._on_task_combo_activated)
        self._preset_combo = QComboBox()
        self._preset_combo.setToolTip("A recipe (preset) fills the form with a known-good setup from the literature; "
                                      "own-images is the one for your own pictures.")
        self._preset_combo.currentTextChanged.connect(self._on_preset_combo_changed)
        self.thumbnails = QLabel("")
        self.thumbnails.setVisible(False)
        self.thumbnails.setToolTip("A few images of the dataset, as the models will see them.")
        self.pace_label = QLabel("")
        self.pace_label.setWordWrap(True)
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
        top.addRow("Task", self.task_combo)
        top.addRow("Recipe", self._preset_combo)
        top.addRow("Dataset", self.dataset_combo)
        top.addRow(self.thumbnails)
        top.addRow(self.dataset_label)
        top.addRow(self.cpu_note)
        self._top = top

        # Advanced: every other field, grouped, folded away until asked for
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced: every other setting")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolTip("Model, loss, optimiser, tricks, run and speed settings, each with why it exists.")
        self.advanced_button.toggled.connect(self._on_advanced_button_toggled)
        self._advanced = QWidget()
        self._groups = QVBoxLayout(self._advanced)
        self._groups.setContentsMargins(0, 0, 0, 0)
        self._advanced.setVisible(False)

        body = QWidget()
        self._body = QVBoxLayout(body)
        self._body.addLayout(top)
        self._body.addWidget(self.advanced_button)
        self._body.addWidget(self._advanced)
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
        import threading

        self._gone = threading.Event()  # set when the panel is destroyed: background work stops
        gone = self._gone
        self.destroyed.connect(lambda *_: gone.set())
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
        from ganstudio.core.families import FAMILIES

        self._preset_combo.blockSignals(True)
        self._task_of: dict[str, str] = {}
        for task in TASKS:  # one task's recipes together, the tasks apart
            names = [n for n in PRESETS.names() if FAMILIES.get(PRESETS.get(n).family).task == task]
            if names and self._preset_combo.count():
                self._preset_combo.insertSeparator(self._preset_combo.count())
            self._preset_combo.addItems(names)
            self._task_of.update({n: task for n in names})
        self._preset_combo.blockSignals(False)
        for name in TOP_FIELDS[1:]:
            label, editor = self._editor_row(name, info[name])
            label.setText(TOP_LABELS[name])
            self._top.addRow(label, editor)
            if name == "steps":
                self._top.addRow(self.pace_label)
                editor.valueChanged.connect(lambda _: self._show_pace())
        at = 0
        for group in groups_of(info):
            box = QGroupBox(GROUP_TITLES.get(group, group.title()))
            form = QFormLayout(box)
            for name, meta in info.items():
                if meta["group"] == group and name not in TOP_FIELDS:
                    form.addRow(*self._editor_row(name, meta))
            self._groups.insertWidget(at, box)
            at += 1
            if group == "model":  # the family's own options follow its picker
                self._family_at = at
        self._editors["family"].currentTextChanged.connect(self._on_family_editor_changed)
        fill_registries(self._editors)
        chosen = self._dataset_value  # a folder dropped before the core had loaded stays chosen
        self._preset_combo.setCurrentText("dcgan-mnist")
        self.set_config(PRESETS.get("dcgan-mnist").config())
        if chosen and chosen != "mnist":
            self.set_dataset(chosen, inspect=False)

    def _editor_row(self, name: str, meta: dict) -> tuple[QLabel, QWidget]:
        editor = make_editor(name, meta)
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
            self._groups.removeWidget(self._family_box)
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
        fill_registries({n: self._editors[n] for n in self._family_editors})
        self._groups.insertWidget(self._family_at, box)
        self._family_box, self._family = box, family
        if self._built:
            self.fit_width()  # another family's boxes may need more room
        self.cpu_note.setText(cls.cpu_note)
        self.cpu_note.setVisible(bool(cls.cpu_note))

    def fill_registry_choices(self) -> None:
        """Called once the training core is imported: builds the form and lists the built-in datasets."""
        from ganstudio.core.data import BUILTIN_DATASETS
        from ganstudio.core.pairs import TRANSLATION_DATASETS
        from ganstudio.core.photos import PHOTO_SETS

        self._ensure_form()
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        self._builtin_names = BUILTIN_DATASETS.names() + TRANSLATION_DATASETS.names() + PHOTO_SETS.names()
        self.dataset_combo.addItems(self._builtin_names + [OPEN_FOLDER, OPEN_FILE])
        self.set_dataset(self._dataset_value, inspect=False)
        self.dataset_combo.blockSignals(False)

    def set_config(self, cfg: TrainConfig) -> None:
        from ganstudio.core.families import FAMILIES

        self._ensure_form()
        self._build_family(cfg.family)
        if cfg.family in FAMILIES:
            self.task_combo.setCurrentText(TASKS.get(FAMILIES.get(cfg.family).task, TASKS["generate"]))
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
            self.set_config(PRESETS.get(name).config())  # the task follows the family
            self.inspect_dataset()

    def _on_task_combo_activated(self, index: int) -> None:
        """Another task: its first recipe."""
        task = list(TASKS)[index]
        if self._task_of.get(self._preset_combo.currentText()) == task:
            return
        names = [n for n, t in self._task_of.items() if t == task]
        if names:
            self._preset_combo.setCurrentText(names[0])

    def _on_advanced_button_toggled(self, on: bool) -> None:
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self._advanced.setVisible(on)
        self.fit_width()
        self.width_changed.emit()

    def _show_pace(self) -> None:
        """"3,000 steps ≈ 10 min here", from the pace measured when the dataset was read."""
        pace = getattr(self.dataset, "pace", None)
        steps = self._editors["steps"].value() if "steps" in self._editors else 0
        if not pace or not steps:
            self.pace_label.setText("")
            return
        minutes = pace * steps / 100 / 60
        when = f"{minutes:.0f} min" if minutes >= 1.5 else f"{minutes * 60:.0f} s"
        self.pace_label.setText(f"{steps:,} steps ≈ {when} here (about {pace:.0f} s per 100 steps)")

    def _show_thumbnails(self, data) -> None:
        """A strip of a few images of the dataset, as the models will see them."""
        pix = thumbnail_strip(data, THUMBNAILS, THUMB_PX)
        self.thumbnails.setVisible(pix is not None)
        if pix is not None:
            self.thumbnails.setPixmap(pix)

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
        gone = self._gone

        def work():
            return read_dataset(values, gone)

        # the result (or the exception, reported in the panel) comes back on the GUI thread; not a
        # daemon (it runs torch), and it stops between steps once the panel is gone
        in_background(self, work, lambda result: self._on_relay_done(token, (result, (spec, size, ch))), "ganstudio-inspect",
                      daemon=False)

    def _on_relay_done(self, token, payload) -> None:
        if token != self._inspect_token:
            return  # a newer pick superseded this one
        result, self._inspected = payload
        if isinstance(result, Exception):
            self.dataset = None
            self.thumbnails.setVisible(False)
            self.pace_label.setText("")
            self.dataset_label.setText(f"<span style='color:#c0392b'>{result}</span>")
            self.dataset_inspected.emit(None)
            return
        self.dataset = result
        text = result.fit_summary()
        self._show_thumbnails(result)
        self._show_pace()
        for problem in getattr(result, "problems", [])[:5]:
            text += f"<br><span style='color:#b9770e'>{problem}</span>"
        if getattr(result, "classes", None):
            text += "<br>classes: " + ", ".join(result.classes[:20]) + (" …" if len(result.classes) > 20 else "")
        if result.skipped:
            text += f"<br><span style='color:#b9770e'>{result.skipped_report()}</span>"
        self.dataset_label.setText(text)
        self.dataset_inspected.emit(result)

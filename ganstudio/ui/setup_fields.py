"""The Setup panel's pieces: one editor per config field, the dataset's thumbnails, and reading a dataset
(with the measured pace of three real steps) off the GUI thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

GROUP_TITLES = {"data": "Data", "model": "Model", "loss": "Loss", "optim": "Optimisation", "tricks": "Tricks",
                "translation": "Image translation", "run": "Run", "speed": "GPU speed"}
THUMBNAILS = 6  # dataset images shown under the dataset picker
# what 0 means for the integer fields where it is a choice, not a number: a spin box shows the words
ZERO_TEXT = {"image_size": "the data's own", "threads": "automatic", "eval_every": "off",
             "g_width": "sized to the images", "d_width": "sized to the images"}
THUMB_PX = 40


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



def make_editor(name: str, meta: dict) -> QWidget:
    """The editor of one config field: a combo for choices, a check box, a spin box, or text for floats."""
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
        if name in ZERO_TEXT and meta["min"] == 0:
            w.setSpecialValueText(ZERO_TEXT[name])
        return w
    # floats: learning rates span 1e-5..1e-2, and free text with scientific notation reads better than a spin box
    return QLineEdit()



def fill_registries(editors: dict[str, QWidget]) -> None:
    """Fill the combo boxes whose choices are a registry (models, losses, families)."""
    for editor in editors.values():
        reg = editor.property("registry") if isinstance(editor, QComboBox) else None
        if reg:
            current = editor.currentText()
            editor.blockSignals(True)
            editor.clear()
            editor.addItems(registry_choices(reg))
            editor.setCurrentText(current)
            editor.blockSignals(False)



def thumbnail_strip(data, count: int, height: int) -> QPixmap | None:
    """A row of `count` images of a dataset (the targets of a translation set), `height` px high; None without images."""
    import numpy as np

    from ganstudio.core.sampling import make_grid

    x = getattr(data, "x", None)
    if x is None:
        x = getattr(data, "b", None)
    if x is None and hasattr(data, "thumbnails"):  # photos at their own sizes
        x = data.thumbnails(count)
    if x is None or getattr(x, "dim", lambda: 0)() != 4 or not len(x):
        return None
    pick = x[np.linspace(0, len(x) - 1, min(count, len(x))).astype(int)]
    grid = np.ascontiguousarray(make_grid(pick, ncol=len(pick), pad=1))
    h, w = grid.shape[:2]
    img = QImage(grid.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(max(1, int(w * height / max(1, h))), height, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)


def read_dataset(values: dict, gone: threading.Event):
    """The dataset the form's `values` name, as its family trains on it, with `.pace`: seconds per 100
    steps measured on three real steps (None when that failed or the panel went away). Off the GUI thread."""
    from ganstudio.core.config import TrainConfig, apply_overrides
    from ganstudio.core.families import FAMILIES

    cfg = apply_overrides(TrainConfig(family=values["family"]), values)
    data = FAMILIES.get(cfg.family).load_data(cfg)
    data.pace = None
    if gone.is_set():
        return data
    try:  # what the user plans the run by
        import torch

        from ganstudio.core.loop import seconds_per_100_steps
        from ganstudio.core.train import auto_threads, resolve_device

        old = torch.get_num_threads()
        torch.set_num_threads(cfg.threads or auto_threads(data)[0])
        try:
            data.pace = seconds_per_100_steps(cfg, data, resolve_device(cfg.device), abort=gone.is_set)
        finally:
            torch.set_num_threads(old)
    except Exception:  # noqa: BLE001  (no estimate is no reason to refuse the dataset; Train says what is wrong)
        data.pace = None
    return data

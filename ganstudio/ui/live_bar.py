"""LiveSettingsBar: the toolbar that changes a running loop's learning rates and one live setting of its family."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QMessageBox, QPushButton, QToolBar


class LiveSettingsBar(QToolBar):
    """lr_g, lr_d and a picker of the family's other live numbers; Apply emits `apply_requested(changes)`."""

    apply_requested = Signal(dict)

    def __init__(self, parent=None):
        super().__init__("Live settings", parent)
        self.setObjectName("live")
        self.cfg = None  # the config the running loop uses now
        self.lr_g_edit = QLineEdit()
        self.lr_d_edit = QLineEdit()
        for w, name in ((self.lr_g_edit, "lr_g"), (self.lr_d_edit, "lr_d")):
            w.setMaximumWidth(80)
            w.setToolTip(f"{name}: applied to the running loop between steps")
            self.addWidget(QLabel(f" {name} "))
            self.addWidget(w)
        self.weight_combo = QComboBox()  # filled with the family's live settings when a run starts
        self.weight_combo.setToolTip("A loss weight, trick strength or step count of the family to change while training.")
        self.weight_combo.currentTextChanged.connect(self._on_weight_combo_changed)
        self.weight_edit = QLineEdit()
        self.weight_edit.setMaximumWidth(70)
        self.weight_edit.setToolTip("New value for the chosen weight, applied between steps.")
        self.addWidget(QLabel(" weight "))
        self.addWidget(self.weight_combo)
        self.addWidget(self.weight_edit)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Send the learning rates and the chosen setting to the running loop.")
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.addWidget(self.apply_button)

    def show_config(self, cfg) -> None:
        """A run started: its rates, and the numbers its family's loop accepts between steps."""
        from ganstudio.core.config import field_info

        self.cfg = cfg
        self.lr_g_edit.setText(repr(cfg.lr_g))
        self.lr_d_edit.setText(repr(cfg.lr_d))
        from ganstudio.core.families import FAMILIES

        info = field_info(cfg.family)
        inert = FAMILIES.get(cfg.family).inert(cfg)  # gp_weight on an ns run would change nothing
        names = [n for n, m in info.items() if m["live"] and n not in ("lr_g", "lr_d") and n not in inert
                 and isinstance(m["default"], (int, float)) and not isinstance(m["default"], bool)]
        current = self.weight_combo.currentText()
        self.weight_combo.blockSignals(True)
        self.weight_combo.clear()
        self.weight_combo.addItems(names)
        for i, n in enumerate(names):
            self.weight_combo.setItemData(i, info[n]["why"], Qt.ItemDataRole.ToolTipRole)
        if current in names:
            self.weight_combo.setCurrentText(current)
        self.weight_combo.blockSignals(False)
        self._on_weight_combo_changed(self.weight_combo.currentText())

    def applied(self, changes: dict) -> None:
        """The loop took `changes`: the config shown follows it."""
        from ganstudio.core.config import apply_overrides

        if self.cfg is not None:
            self.cfg = apply_overrides(self.cfg, changes)

    def _on_weight_combo_changed(self, name: str) -> None:
        if self.cfg is not None and name:
            self.weight_edit.setText(f"{self.cfg.get(name):g}")

    def _on_apply_button_clicked(self) -> None:
        try:
            changes = {"lr_g": float(self.lr_g_edit.text()), "lr_d": float(self.lr_d_edit.text())}
            if self.weight_combo.currentText():
                changes[self.weight_combo.currentText()] = float(self.weight_edit.text())
        except ValueError:
            QMessageBox.warning(self, "Live settings", "Learning rates and weights must be numbers, e.g. 2e-4.")
            return
        self.apply_requested.emit(changes)

"""Desktop integration: shortcuts, menus, tooltips, About/Help, themes, icons, and the export dialog."""

from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog

from ganstudio.ui.icons import RENDER_SIZES, action_icon, app_icon
from ganstudio.ui.theme import is_dark


def _train_tiny(w, qtbot, steps=100_000):
    w.setup.preset_combo.setCurrentText("ring8")
    for name, value in {"steps": steps, "batch_size": 16, "log_every": 1, "sample_every": 5, "threads": 1}.items():
        editor = w.setup.editors[name]
        editor.setValue(value) if hasattr(editor, "setValue") else editor.setText(str(value))
    w.train_action.trigger()
    qtbot.waitUntil(lambda: w.bridge.state == "running", timeout=30_000)


def test_standard_shortcuts_trigger_their_actions(win, qtbot, monkeypatch):
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: asked.append("open") or "")
    qtbot.keyClick(win, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert asked == ["open"]  # Ctrl+O: the open-run dialog

    qtbot.keyClick(win, Qt.Key.Key_F1)  # F1: help, with the shortcuts listed
    qtbot.waitUntil(lambda: getattr(win, "help_dialog", None) is not None and win.help_dialog.isVisible())
    text = win.help_dialog.browser.toPlainText()
    assert "Keyboard shortcuts" in text and "Ctrl+E" in text and "Space" in text
    win.help_dialog.close()

    qtbot.keyClick(win, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # Ctrl+E: export
    qtbot.waitUntil(lambda: getattr(win, "export_dialog", None) is not None and win.export_dialog.isVisible())
    win.export_dialog.close()

    _train_tiny(win, qtbot)
    win.live.weight_edit.clear()
    qtbot.keyClicks(win.live.weight_edit, "1 0")  # a space typed into a field is text, not Pause
    assert win.live.weight_edit.text() == "1 0" and win.bridge.state == "running"
    win.setFocus()
    win.activateWindow()
    qtbot.keyClick(win, Qt.Key.Key_Space)  # Space: pause …
    qtbot.waitUntil(lambda: win.bridge.state == "paused", timeout=10_000)
    saved = []
    win.bridge.checkpoint_saved.connect(saved.append)
    qtbot.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S: save a checkpoint now
    qtbot.waitUntil(lambda: bool(saved), timeout=10_000)
    assert Path(saved[0].path).is_file()
    qtbot.keyClick(win, Qt.Key.Key_Space)  # … and resume
    qtbot.waitUntil(lambda: win.bridge.state == "running", timeout=10_000)

    qtbot.keyClick(win, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Q: stop, save, quit
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=30_000)
    assert not win.bridge.running


def test_every_action_has_a_tooltip_and_the_menus_are_complete(win):
    menus = {m.title().replace("&", ""): m for m in win.menuBar().findChildren(type(win.menuBar().addMenu("x")))}
    for name in ("File", "Training", "View", "Help"):
        assert name in [a.text().replace("&", "") for a in win.menuBar().actions()]
    texts = {name: {a.text().replace("&", "").rstrip("…") for a in m.actions() if a.text()} for name, m in menus.items()}
    assert {"Open run", "Export model", "Quit"} <= texts["File"]
    assert {"Train", "Step", "Stop", "Save checkpoint", "Resume run", "Explore"} <= texts["Training"]
    assert {"Help", "About GAN Studio"} <= texts["Help"]
    untipped = []
    for a in win.findChildren(QAction):
        if a.isSeparator() or not a.text() or a.menu() is not None:
            continue
        tip = a.toolTip().replace("&", "")
        if not tip or tip == a.text().replace("&", ""):  # Qt's fallback tooltip is the bare text
            untipped.append(a.text())
    assert untipped == []
    assert "(Ctrl+E)" in win.export_action.toolTip()  # tooltips name their shortcut


def test_about_lists_versions_device_and_dataset_licences(win, qtbot):
    win.about_action.trigger()
    d = win.about_dialog
    qtbot.waitUntil(d.isVisible)
    system = d.system.toPlainText()
    import torch

    assert "GAN Studio" in system and torch.__version__.split("+")[0] in system and "Qt" in system
    assert ("CPU:" in system) or ("CUDA GPU" in system)
    assert "Fashion-MNIST" in d.datasets.toPlainText() and "Zalando" in d.licences.toPlainText()
    assert "CC BY-SA 3.0" in d.licences.toPlainText()
    d.close()


def test_theme_follows_the_system_and_can_be_forced(win, qtbot):
    theme = win.theme
    win.set_theme("dark")
    assert is_dark(QApplication.instance().palette()) and theme.dark
    plot = win.findChildren(pg.PlotWidget)[0]
    assert plot.backgroundBrush().color().lightness() < 128
    icon = win.train_action.icon().pixmap(32).toImage()
    assert icon.pixelColor(16, 12).lightness() > 150  # light glyphs on a dark theme
    assert win.settings.value("theme") == "dark"

    win.set_theme("light")
    assert not is_dark(QApplication.instance().palette())
    assert plot.backgroundBrush().color().lightness() > 200
    assert win.train_action.icon().pixmap(32).toImage().pixelColor(16, 12).lightness() < 100

    win.set_theme("system")
    seen = []
    theme.changed.connect(seen.append)
    theme._on_system_scheme_changed(Qt.ColorScheme.Dark)  # what Qt sends when the desktop turns dark
    assert seen == [True] and plot.backgroundBrush().color().lightness() < 128
    theme._on_system_scheme_changed(Qt.ColorScheme.Light)
    assert seen == [True, False]


def test_icons_are_rendered_from_vectors_at_high_dpi_sizes(qtbot):
    icon = action_icon("train", "#000000")
    sizes = {s.width() for s in icon.availableSizes()}
    assert sizes == set(RENDER_SIZES)
    big = icon.pixmap(32, 32).toImage()  # a 2× screen asks for 64 device pixels of a 32 px icon …
    hi = icon.pixmap(64, 64).toImage()
    assert hi.width() == 64 and big.width() == 32
    # … and gets an image drawn at 64 px: its edge has the anti-aliasing of one device pixel, not two
    partial = sum(1 for x in range(64) if 0 < hi.pixelColor(x, 32).alpha() < 255)
    assert partial <= 4
    app = app_icon()
    assert {16, 32, 48, 256, 512} <= {s.width() for s in app.availableSizes()}


def test_export_dialog_exports_and_reports_parity(win, qtbot, tmp_path):
    pytest.importorskip("onnxruntime")
    _train_tiny(win, qtbot, steps=3)
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=30_000)
    win.export_action.trigger()
    d = win.export_dialog
    assert d.checkpoint_edit.text().endswith("latest.pt")
    assert d.output_edit.text().endswith("-generator.pt") is False and d.output_edit.text().endswith(".onnx")
    target = tmp_path / "ring8.onnx"
    d.output_edit.setText(str(target))
    d.export_button.click()
    qtbot.waitUntil(lambda: d.status.text().startswith(("✔", "✘")), timeout=60_000)
    assert d.status.text().startswith("✔") and "parity" in d.status.text() and target.is_file()
    before = target.read_bytes()
    d.export_button.click()  # again: the file exists, and stays as it was
    qtbot.waitUntil(lambda: d.export_button.isEnabled() and "already exists" in d.status.text(), timeout=60_000)
    assert d.status.text().startswith("✘") and target.read_bytes() == before
    d.format_combo.setCurrentIndex(1)
    assert d.output_edit.text().endswith(".pt")
    d.close()

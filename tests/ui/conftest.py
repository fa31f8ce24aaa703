"""The studio window as the UI tests drive it: offscreen, shown and focused, with its own settings file."""

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from ganstudio.ui.main_window import MainWindow


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    # message boxes would block an offscreen test: record them instead
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(runs_root=tmp_path / "runs", settings=settings)
    w.messages = shown

    def settle(w):
        # pytest-qt closes and deletes the window before fixture teardown runs, so the
        # cleanup that needs a live window happens here, just before that close
        if w.bridge.running:
            w.bridge.stop()
            qtbot.waitUntil(lambda: not w.bridge.running, timeout=30_000)
        w.set_theme("system")  # the palette is the application's: leave it as the next test expects
        w.explorer.shutdown()

    qtbot.addWidget(w, before_close_func=settle)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()  # keyboard shortcuts go to the active window
    w.setFocus()
    return w

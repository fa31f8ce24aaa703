"""Saves the user asks for (a grid, the curves as CSV) into a folder that cannot be written: a message
naming the file and the cause, no traceback, and no half-written file."""

import numpy as np
from PySide6.QtWidgets import QFileDialog


def test_saving_into_a_read_only_folder_is_a_message(win, tmp_path, monkeypatch, read_only):
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder)
    win.samples.show_live(1, np.zeros((8, 8, 3), np.uint8), None)
    win.curves.records = [{"step": 1, "loss/d": 0.5}]
    for target, click in ((folder / "grid.png", win.samples._on_save_button_clicked),
                          (folder / "metrics.csv", win.curves._on_export_button_clicked)):
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, t=target, **k: (str(t), ""))
        click()
        assert win.messages and win.messages[-1] == f"cannot write {target}: Read-only file system"
    assert len(win.messages) == 2
    assert list(folder.iterdir()) == []

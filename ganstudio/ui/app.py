"""Start the studio: one QApplication, one MainWindow."""

from __future__ import annotations

import sys


def run_studio(argv: list[str] | None = None, open_path: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("GAN Studio")
    app.setOrganizationName("GANStudio")
    from pathlib import Path

    from ganstudio.ui.main_window import MainWindow

    win = MainWindow()
    win.show()
    if open_path:
        win.drop_path(Path(open_path))
    return app.exec()

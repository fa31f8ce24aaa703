"""Start the studio: one QApplication, one MainWindow."""

from __future__ import annotations

import os
import sys

import ganstudio


def no_display() -> bool:
    """True on a Linux machine without a screen, where Qt would abort instead of opening a window."""
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    )


def run_studio(argv: list[str] | None = None, open_path: str | None = None) -> int:
    if no_display():
        print(
            "ganstudio: error: no display to open the studio on; train headless with "
            "`ganstudio train --preset dcgan-mnist` (see `ganstudio --help`)",
            file=sys.stderr,
        )
        return 2
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("GAN Studio")
    app.setOrganizationName("GANStudio")
    app.setApplicationVersion(ganstudio.__version__)
    app.setDesktopFileName("org.ganstudio.GANStudio")  # ties the window to the installed .desktop entry
    from pathlib import Path

    from ganstudio.ui.main_window import MainWindow

    win = MainWindow()
    win.show()
    if open_path:
        win.drop_path(Path(open_path))
    return app.exec()

"""Regenerate the README screenshots from the real studio window (offscreen grab), so they stay current.

    python packaging/screenshots.py [--steps 300]

Writes resources/screenshots/{studio-mnist,studio-ring8}.png.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OUT = Path(__file__).resolve().parents[1] / "resources" / "screenshots"


def train_and_grab(app, preset: str, steps: int, out: Path, **overrides) -> None:
    from PySide6.QtCore import QEventLoop

    from ganstudio.core.config import PRESETS
    from ganstudio.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        from PySide6.QtCore import QSettings

        win = MainWindow(runs_root=tmp, settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        win.resize(1400, 860)
        win.show()
        win.setup.preset_combo.setCurrentText(preset)
        cfg = replace(PRESETS.get(preset).config(), steps=steps, **overrides)
        loop = QEventLoop()
        win.bridge.state_changed.connect(lambda s: s == "idle" and loop.quit())
        win._start(cfg, Path(tmp) / preset, resume=False)
        loop.exec()
        win.curves._dirty = True
        win.curves._refresh()
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        win.grab().save(str(out))
        print(f"wrote {out}")
        win.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    app = QApplication.instance() or QApplication([])
    train_and_grab(app, "dcgan-mnist", args.steps, OUT / "studio-mnist.png", sample_every=50, log_every=5)
    train_and_grab(app, "ring8", 3000, OUT / "studio-ring8.png")


if __name__ == "__main__":
    main()

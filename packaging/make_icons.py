"""Render the application icon's PNG sizes from its SVG (run after editing the SVG).

    python packaging/make_icons.py

Writes resources/icons/hicolor/NxN/apps/org.ganstudio.GANStudio.png for the sizes desktops ask
for, each rendered from the vector source at its own size (no scaled-down bitmaps).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

APP_ID = "org.ganstudio.GANStudio"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons" / "hicolor"
SVG = ICONS / "scalable" / "apps" / f"{APP_ID}.svg"


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    from ganstudio.ui.icons import render

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841  (QPainter needs one)
    for size in SIZES:
        out = ICONS / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not render(SVG.read_bytes(), size).save(str(out)):
            print(f"cannot write {out}", file=sys.stderr)
            return 1
        print(f"wrote {out.relative_to(ICONS.parent.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

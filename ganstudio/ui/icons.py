"""Icons drawn from vectors: crisp at any screen scale, recoloured for light and dark themes.

Action icons are small SVGs in the palette's text colour, rendered at every size a toolbar or menu
may ask for at device-pixel ratios up to 4, so nothing is ever a scaled-up bitmap. The application
icon is the hicolor set under resources/icons (PNG sizes rendered from the same SVG).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

APP_ID = "org.ganstudio.GANStudio"
RENDER_SIZES = (16, 20, 24, 32, 40, 48, 64, 96, 128)  # logical 16-32 px at 1x-4x

_STROKE = 'fill="none" stroke="{fg}" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"'
# 24×24 viewBox bodies; {fg} becomes the colour.
SHAPES: dict[str, str] = {
    "train": '<path d="M7 4.5v15l12-7.5z" fill="{fg}"/>',
    "pause": '<rect x="6" y="5" width="4" height="14" rx="1" fill="{fg}"/><rect x="14" y="5" width="4" height="14" rx="1" fill="{fg}"/>',
    "step": '<path d="M5 5v14l9-7z" fill="{fg}"/><rect x="16" y="5" width="3" height="14" rx="1" fill="{fg}"/>',
    "stop": '<rect x="6" y="6" width="12" height="12" rx="1.5" fill="{fg}"/>',
    "save": f'<path d="M12 3v11M7 9.5l5 5 5-5M4 15v5h16v-5" {_STROKE}/>',
    "open": f'<path d="M3 6.5h6l2 2h10v11H3z" {_STROKE}/>',
    "resume": f'<path d="M19 12a7 7 0 1 1-2.1-5" {_STROKE}/><path d="M17.5 3v4.5H13" {_STROKE}/><path d="M10 9v6l5-3z" fill="{{fg}}"/>',
    "explore": (f'<path d="M4 7h16M4 12h16M4 17h16" {_STROKE}/><circle cx="9" cy="7" r="2.2" fill="{{fg}}"/>'
                '<circle cx="15" cy="12" r="2.2" fill="{fg}"/><circle cx="7" cy="17" r="2.2" fill="{fg}"/>'),
    "export": f'<path d="M14 4h6v6M20 4l-9 9M18 14v6H4V6h6" {_STROKE}/>',
    "help": (f'<circle cx="12" cy="12" r="9" {_STROKE}/><path d="M9.5 9.5a2.5 2.5 0 1 1 3.6 2.2c-.7.4-1.1 1-1.1 1.8v.5" {_STROKE}/>'
             '<circle cx="12" cy="17" r="1.2" fill="{fg}"/>'),
    "about": f'<circle cx="12" cy="12" r="9" {_STROKE}/><path d="M12 11v6" {_STROKE}/><circle cx="12" cy="7.5" r="1.2" fill="{{fg}}"/>',
    "quit": f'<path d="M12 3v8M7 6.3a7.5 7.5 0 1 0 10 0" {_STROKE}/>',
}


def svg(name: str, color: str) -> bytes:
    body = SHAPES[name].replace("{fg}", color)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">{body}</svg>'.encode()


def render(data: bytes, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(QByteArray(data)).render(painter)
    painter.end()
    return image


def action_icon(name: str, color: QColor | str) -> QIcon:
    """The named action icon in `color`, with a pixmap rendered from vectors at each of RENDER_SIZES."""
    data = svg(name, QColor(color).name())
    icon = QIcon()
    for size in RENDER_SIZES:
        icon.addPixmap(QPixmap.fromImage(render(data, size)))
    return icon


def app_icon() -> QIcon:
    """The application icon: every hicolor PNG size, plus the SVG for anything larger."""
    from ganstudio.core.paths import resources_dir

    root = resources_dir() / "icons" / "hicolor"
    icon = QIcon()
    for png in sorted(root.glob(f"*/apps/{APP_ID}.png")):
        icon.addFile(str(png))
    scalable = root / "scalable" / "apps" / f"{APP_ID}.svg"
    if scalable.is_file():
        icon.addFile(str(scalable), QSize(1024, 1024))
    return icon

"""Light and dark: follow the system by default, or keep the one the user picked (View ▸ Theme).

"system" leaves the platform's own palette alone and follows its light/dark switch live (Qt's
colour-scheme hint). "light"/"dark" ask Qt for that scheme and, so that it holds on every platform
and style, also set the Fusion style with an explicit palette. Plots and icons are recoloured by
the window through `Theme.changed`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

CHOICES = ("system", "light", "dark")


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    R, G = QPalette.ColorRole, QPalette.ColorGroup
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(222, 222, 222)
    for role, color in ((R.Window, window), (R.WindowText, text), (R.Base, base), (R.AlternateBase, window),
                        (R.ToolTipBase, QColor(60, 63, 65)), (R.ToolTipText, text), (R.Text, text),
                        (R.Button, window), (R.ButtonText, text), (R.BrightText, QColor(255, 90, 90)),
                        (R.Link, QColor(110, 170, 255)), (R.Highlight, QColor(61, 120, 200)),
                        (R.HighlightedText, QColor(255, 255, 255)), (R.PlaceholderText, QColor(140, 140, 140)),
                        (R.Light, QColor(70, 72, 75)), (R.Midlight, QColor(55, 57, 60)), (R.Mid, QColor(40, 41, 44)),
                        (R.Dark, QColor(20, 21, 23)), (R.Shadow, QColor(0, 0, 0))):
        p.setColor(role, color)
    for role in (R.WindowText, R.Text, R.ButtonText):
        p.setColor(G.Disabled, role, QColor(120, 120, 120))
    return p


def light_palette() -> QPalette:
    p = QPalette(QColor(239, 239, 239))  # Qt derives the rest from the button colour
    p.setColor(QPalette.ColorRole.Base, QColor(255, 255, 255))
    return p


class Theme(QObject):
    """Applies a theme choice to the application and reports whether the result is dark.

    One per application (`Theme.of(app)`), created before any choice is applied, so that what it
    keeps as the system's palette and style really is the system's.
    """

    changed = Signal(bool)  # dark

    @classmethod
    def of(cls, app: QApplication) -> "Theme":
        theme = app.findChild(Theme, "ganstudio-theme")
        if theme is None:
            theme = Theme(app)
            theme.setObjectName("ganstudio-theme")
        return theme

    def __init__(self, app: QApplication, choice: str = "system"):
        super().__init__(app)
        self.app = app
        self.choice = "system"
        self._system_style = app.style().name()
        self._system_palette = QPalette(app.palette())
        self.dark = is_dark(self._system_palette)
        hints = app.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._on_system_scheme_changed)
        self.set_choice(choice)

    def set_choice(self, choice: str) -> None:
        if choice not in CHOICES:
            choice = "system"
        self.choice = choice
        hints = self.app.styleHints()
        if choice == "system":
            if hasattr(hints, "unsetColorScheme"):
                hints.unsetColorScheme()
            if self.app.style().name() != self._system_style:
                self.app.setStyle(self._system_style)
            self.app.setPalette(self._system_palette)
        else:
            scheme = Qt.ColorScheme.Dark if choice == "dark" else Qt.ColorScheme.Light
            if hasattr(hints, "setColorScheme"):  # Qt ≥ 6.8: native styles follow it where they can
                hints.setColorScheme(scheme)
            self.app.setStyle("Fusion")
            self.app.setPalette(dark_palette() if choice == "dark" else light_palette())
        self._report()

    def _on_system_scheme_changed(self, scheme) -> None:
        if self.choice != "system":
            return
        # The platform updates the palette along with the hint; our copy of it is what "system" restores.
        self._system_palette = QPalette(self.app.palette())
        if scheme == Qt.ColorScheme.Dark and not is_dark(self._system_palette):
            self._system_palette = dark_palette()  # a platform that flips the hint but not the palette
            self.app.setPalette(self._system_palette)
        elif scheme == Qt.ColorScheme.Light and is_dark(self._system_palette):
            self._system_palette = light_palette()
            self.app.setPalette(self._system_palette)
        self._report()

    def _report(self) -> None:
        self.dark = is_dark(self.app.palette())
        self.changed.emit(self.dark)


class ThemedIcons(QObject):
    """A window's action icons (drawn from vectors in the text colour) and plot colours, kept in the theme's colours.

    A child of the window, so Theme.changed stops reaching it when the window goes.
    """

    def __init__(self, window):
        super().__init__(window)  # Qt's parent, not a Python reference: no cycle with the window
        self.names: dict = {}  # QAction -> icon name

    def set(self, action, name: str) -> None:
        self.names[action] = name
        self.recolor(action)

    def recolor(self, action) -> None:
        from ganstudio.ui.icons import action_icon

        name = self.names.get(action)
        if name:
            action.setIcon(action_icon(name, QApplication.palette().color(QPalette.ColorRole.WindowText)))

    def apply(self, dark: bool) -> None:
        import pyqtgraph as pg

        for action in self.names:
            self.recolor(action)
        fg = QApplication.palette().color(QPalette.ColorRole.WindowText)  # the window's own copy updates later
        bg = QColor(30, 31, 34) if dark else QColor("white")
        pg.setConfigOptions(background=bg, foreground=fg)  # plots made later (a family's own curves) start right
        # every pyqtgraph view: single plots, the curves' stacked layout, the metrics plot
        for view in self.parent().findChildren(pg.GraphicsView):
            view.setBackground(bg)
            for item in view.scene().items():
                if isinstance(item, pg.AxisItem):
                    item.setPen(fg)
                    item.setTextPen(fg)
                elif isinstance(item, pg.LegendItem):
                    item.setLabelTextColor(fg)  # for entries added later
                elif isinstance(item, pg.LabelItem):  # titles and legend entries
                    item.setText(item.text, color=fg)

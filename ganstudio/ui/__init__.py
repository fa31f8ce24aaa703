"""PySide6 + pyqtgraph studio: main window, panels, and the bridge to the training core."""

"""Small widget helpers shared by the panels."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget


def button(text: str, tip: str, slot) -> QPushButton:
    """A push button with its tooltip (every action says what it does) and its slot."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    b.clicked.connect(slot)
    return b


def save_or_say(parent: QWidget, write: Callable[[], object]) -> bool:
    """Run a save the user asked for; a full disk, a read-only folder or a missing permission
    becomes a message naming the file and the cause, never a traceback. True when it was written."""
    from ganstudio.core.errors import os_error_line

    try:
        write()
    except OSError as e:
        QMessageBox.warning(parent, "Could not save", os_error_line(e))
        return False
    return True

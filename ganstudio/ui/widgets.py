"""Small widget helpers shared by the panels."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton


def button(text: str, tip: str, slot) -> QPushButton:
    """A push button with its tooltip (every action says what it does) and its slot."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    b.clicked.connect(slot)
    return b

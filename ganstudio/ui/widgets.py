"""Small widget helpers shared by the panels."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
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


def in_background(owner: QObject, work: Callable[[], object], done: Callable[[object], None], name: str,
                  poll_ms: int = 30, daemon: bool = True) -> None:
    """Run `work()` in a thread and hand its result (or the exception it raised) to `done` on the GUI thread.

    daemon=False for work that runs torch ops: the interpreter then waits for it at exit (a daemon
    thread inside a torch kernel at exit aborts the process); such work must stop soon when its
    owner goes (see SetupPanel's pace estimate).

    The thread touches no Qt object: a timer that is a child of `owner` collects the result. A
    window closed while the work runs simply never calls `done`. A signal emitted from the thread
    into an object Qt was deleting crashed the process.
    """
    box: list = []

    def run():
        try:
            box.append(work())
        except Exception as e:  # noqa: BLE001  handed to `done`, which says it in the window
            box.append(e)

    timer = QTimer(owner)
    timer.setInterval(poll_ms)

    def collect():
        if box:
            timer.stop()
            timer.deleteLater()
            done(box[0])

    timer.timeout.connect(collect)
    timer.start()
    threading.Thread(target=run, name=name, daemon=daemon).start()

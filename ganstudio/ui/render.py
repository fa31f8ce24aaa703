"""Renderer: runs a generator off the GUI thread; the newest request wins, so dragging a slider never queues work."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal


class Renderer(QObject):
    """One worker thread with a one-job mailbox per channel.

    `request(channel, key, job)` replaces whatever job of that channel is waiting; the
    worker runs only the newest job of each channel, so a burst of slider moves costs
    one render per frame at most, never a backlog.  The "image" channel is served
    first (it is what the user is dragging); slower jobs (directions, grids, walks)
    wait their turn without being dropped by image requests.  Results come back on
    the GUI thread through the queued `rendered(key, result)` signal, failures
    through `failed(key, message)`.
    """

    rendered = Signal(object, object)
    failed = Signal(object, str)
    PRIORITY = "image"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[object, Callable[[], object]]] = {}
        self._closed = False
        self.renders = 0  # jobs actually run (the rest were superseded)
        self._thread = threading.Thread(target=self._run, name="ganstudio-render", daemon=True)
        self._thread.start()

    def request(self, channel: str, key: object, job: Callable[[], object]) -> None:
        with self._cond:
            self._pending[channel] = (key, job)
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy

    _busy = False

    def close(self, wait: float = 0.0) -> None:
        """Drop waiting jobs and end the worker; `wait` > 0 lets a running job finish first.

        Waiting matters at exit: a thread still inside torch when the interpreter tears
        down its native thread pools aborts the process.
        """
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify()
        if wait > 0 and threading.current_thread() is not self._thread:
            self._thread.join(wait)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                channel = self.PRIORITY if self.PRIORITY in self._pending else next(iter(self._pending))
                key, job = self._pending.pop(channel)
                self._busy = True
            try:
                self._finish(key, job)
            finally:
                with self._cond:
                    self._busy = False  # only after the result is posted: idle() means delivered

    def _finish(self, key, job) -> None:
        try:
            result = job()
        except Exception as e:  # shown in the panel, never raised into Qt
            self._emit(self.failed, key, f"{type(e).__name__}: {e}")
            return
        self.renders += 1
        self._emit(self.rendered, key, result)

    def _emit(self, signal, *args) -> None:
        if self._closed:
            return
        try:
            signal.emit(*args)
        except RuntimeError:  # the receiving panel was deleted meanwhile
            pass

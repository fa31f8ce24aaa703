"""Small panels: HealthPanel (training warnings with what to try) and RunFollower (reads a run directory as it grows)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

TITLES = {
    "nan": "Training diverged (NaN)",
    "d_overpowering": "D is overpowering G",
    "vanishing_g_grad": "G's gradient vanished",
    "mode_collapse": "Possible mode collapse",
    "settings": "Setting refused",
}


class HealthPanel(QWidget):
    """The core's health warnings as they happen, each with a plain explanation and what to try."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setToolTip("Warnings from the training loop, newest first, with what to try.")
        self.empty = QLabel("No problems seen. Warnings appear here as training runs.")
        self.empty.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.empty)
        lay.addWidget(self.list, 1)

    def clear(self) -> None:
        self.list.clear()
        self.empty.show()

    def add_warning(self, step: int, kind: str, message: str, advice: str) -> None:
        self.empty.hide()
        title = TITLES.get(kind, kind)
        text = f"step {step}: {title}\n{message}"
        if advice:
            text += f"\nTry: {advice}"
        item = QListWidgetItem(text)
        item.setToolTip(text)
        item.setData(256, kind)
        self.list.insertItem(0, item)

    def kinds(self) -> list[str]:
        return [self.list.item(i).data(256) for i in range(self.list.count())]


class RunFollower(QObject):
    """Polls a run directory (written by this studio, the CLI or a torchrun job) and reports what is new.

    Reading appends only: metrics.jsonl is read from the last byte offset (a line cut
    mid-write is kept for the next poll), samples/ is listed for new step files.
    """

    records_added = Signal(list)
    samples_added = Signal(list)
    reset = Signal()

    def __init__(self, parent: QObject | None = None, interval_ms: int = 1000):
        super().__init__(parent)
        self.path: Path | None = None
        self._offset = 0
        self._partial = ""
        self._known_samples: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    def follow(self, path: str | Path, live: bool = True) -> None:
        self.path = Path(path)
        self._offset, self._partial = 0, ""
        self._known_samples = set()
        self.reset.emit()
        self.poll()
        if live:
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.path = None

    def poll(self) -> None:
        if self.path is None:
            return
        metrics = self.path / "metrics.jsonl"
        try:
            size = metrics.stat().st_size
        except OSError:
            size = 0
        if size < self._offset:  # rewritten (a resume dropped steps past its checkpoint): read again
            self._offset, self._partial = 0, ""
            self.reset.emit()
            self._known_samples = set()
        if size > self._offset:
            with open(metrics, "rb") as f:
                f.seek(self._offset)
                chunk = f.read(size - self._offset)
            self._offset = size
            text = self._partial + chunk.decode("utf-8", errors="replace")
            lines = text.split("\n")
            self._partial = lines.pop()  # '' after a complete line, else a line still being written
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            if records:
                self.records_added.emit(records)
        samples = self.path / "samples"
        if samples.is_dir():
            new = []
            for p in samples.iterdir():
                if p.suffix == ".png" and p.name.startswith("step_") and p.name not in self._known_samples:
                    try:
                        new.append((int(p.stem[5:]), str(p)))
                    except ValueError:
                        continue
                    self._known_samples.add(p.name)
            if new:
                self.samples_added.emit(sorted(new))

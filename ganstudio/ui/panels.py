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


class _JsonlTail:
    """Reads the records appended to a JSON-lines file since the last read.

    A line cut mid-write is kept for the next read; a file that shrank was rewritten (a resume
    dropped records past its checkpoint) and is read again from the start (`rewound`).
    """

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = ""

    def read(self) -> tuple[list[dict], bool]:
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0
        rewound = size < self.offset
        if rewound:
            self.offset, self.partial = 0, ""
        records = []
        if size > self.offset:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
            self.offset = size
            lines = (self.partial + chunk.decode("utf-8", errors="replace")).split("\n")
            self.partial = lines.pop()  # '' after a complete line, else a line still being written
            for line in lines:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records, rewound


class RunFollower(QObject):
    """Polls a run directory (written by this studio, the CLI or a torchrun job) and reports what is new.

    Reading appends only: metrics.jsonl and health.jsonl are read from the last byte offset,
    samples/ is listed for new step files.
    """

    records_added = Signal(list)
    samples_added = Signal(list)
    warnings_added = Signal(list)  # health warnings the training process raised, as dicts
    reset = Signal()

    def __init__(self, parent: QObject | None = None, interval_ms: int = 1000):
        super().__init__(parent)
        self.path: Path | None = None
        self._metrics: _JsonlTail | None = None
        self._health: _JsonlTail | None = None
        self._known_samples: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    def follow(self, path: str | Path, live: bool = True) -> None:
        self.path = Path(path)
        self._metrics = _JsonlTail(self.path / "metrics.jsonl")
        self._health = _JsonlTail(self.path / "health.jsonl")
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
        records, rewound = self._metrics.read()
        if rewound:
            self.reset.emit()
            self._known_samples = set()
        if records:
            self.records_added.emit(records)
        warnings, _ = self._health.read()
        if warnings:
            self.warnings_added.emit(warnings)
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

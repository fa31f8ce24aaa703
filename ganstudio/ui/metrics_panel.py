"""MetricsPanel: evaluations of a run (RUN/eval.json) over steps, next to the real-vs-real floor, with their cost."""

from __future__ import annotations

import json
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

# (label, value key, floor key or None, lower is better)
CHOICES = (
    ("Fréchet distance", "fd", "fd_floor", True),
    ("KID", "kid", "kid_floor", True),
    ("Precision", "precision", None, False),
    ("Recall", "recall", None, False),
    ("Coverage", "coverage", None, False),
    ("Classifier score", "is", "is_real", False),
    ("Diversity", "diversity", "diversity_real", False),
    ("Modes covered", "modes", None, False),
    ("High quality", "high_quality", None, False),
    ("Held-out L1", "l1", None, True),
    ("Cycle L1 (A)", "cycle_l1_a", None, True),
    ("A → B called B", "a_to_b_share", None, False),
)


class MetricsPanel(QWidget):
    """Reads RUN/eval.json whenever it changes (whoever writes it: this studio, the CLI, another machine).

    "Evaluate now" scores the run's latest checkpoint in a background process; periodic
    evaluation during training is the `eval_every` setting, and `keep_best` keeps the best by FD.
    """

    evaluation_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, interval_ms: int = 1000):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.history: list[dict] = []
        self._stamp = None
        self._evaluator = None

        self.metric_combo = QComboBox()
        self.metric_combo.setToolTip("Which evaluation to plot over training steps; the dashed line is the "
                                     "same measure between two halves of the real data (the best reachable).")
        self.metric_combo.currentIndexChanged.connect(lambda _: self._redraw())
        self.eval_button = QPushButton("Evaluate now")
        self.eval_button.setToolTip("Score the run's latest checkpoint (FD, KID, precision/recall or modes) in a "
                                    "background process on one CPU thread; training is not paused.")
        self.eval_button.clicked.connect(self._on_eval_button_clicked)
        self.eval_button.setEnabled(False)

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.addLegend(offset=(5, 5))
        self.line = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=1), symbol="o", symbolSize=6, name="samples")
        self.floor = self.plot.plot([], [], pen=pg.mkPen("#2ca02c", width=1, style=Qt.PenStyle.DashLine), name="real vs real")
        self.best = self.plot.plot([], [], pen=None, symbol="star", symbolSize=14, symbolBrush="#d62728", name="best")

        self.summary = QLabel("No evaluations yet. Set eval_every in Setup (run) to evaluate while training, "
                              "or press Evaluate now.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QHBoxLayout()
        bar.addWidget(self.metric_combo, 1)
        bar.addWidget(self.eval_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.summary)

        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._refill_choices()

    # ------------------------------------------------------------ run

    def link_x(self, plot_item) -> None:
        """Share the step axis with the training curves."""
        self.plot.getPlotItem().setXLink(plot_item)

    def follow(self, run_dir: str | Path | None) -> None:
        self.run_dir = Path(run_dir) if run_dir else None
        self.history, self._stamp = [], None
        self.eval_button.setEnabled(self.run_dir is not None)
        self.reload()
        if self.run_dir is not None:
            self._timer.start()
        else:
            self._timer.stop()

    def reload(self) -> None:
        path = self.run_dir / "eval.json" if self.run_dir else None
        try:
            st = path.stat() if path else None
            stamp = (st.st_mtime_ns, st.st_size) if st else None
        except OSError:
            stamp = None
        if stamp == self._stamp and self.history:
            return
        self._stamp = stamp
        history = []
        if stamp is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                history = [h for h in data.get("evaluations", []) if isinstance(h, dict) and "values" in h]
            except (OSError, ValueError, AttributeError):
                history = self.history  # being replaced right now: keep what is shown
        self.history = sorted(history, key=lambda h: h.get("step", 0))
        self._refill_choices()
        self._redraw()

    def shutdown(self) -> None:
        self._timer.stop()
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    # ------------------------------------------------------------ view

    def _refill_choices(self) -> None:
        present = {k for h in self.history for k in h.get("values", {})}
        wanted = [(label, key) for label, key, _, _ in CHOICES if key in present] or [("Fréchet distance", "fd")]
        current = self.metric_combo.currentData()
        if [self.metric_combo.itemData(i) for i in range(self.metric_combo.count())] == [k for _, k in wanted]:
            return
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        for label, key in wanted:
            self.metric_combo.addItem(label, key)
        i = self.metric_combo.findData(current)
        self.metric_combo.setCurrentIndex(max(0, i))
        self.metric_combo.blockSignals(False)

    def _redraw(self) -> None:
        key = self.metric_combo.currentData() or "fd"
        spec = next((c for c in CHOICES if c[1] == key), CHOICES[0])
        rows = [h for h in self.history if key in h["values"]]
        xs = [h["step"] for h in rows]
        self.line.setData(xs, [h["values"][key] for h in rows])
        floor = spec[2]
        fl = [(h["step"], h["values"][floor]) for h in rows if floor and floor in h["values"]]
        self.floor.setData([x for x, _ in fl], [y for _, y in fl])
        if rows:
            pick = min if spec[3] else max
            b = pick(rows, key=lambda h: h["values"][key])
            self.best.setData([b["step"]], [b["values"][key]])
        else:
            self.best.setData([], [])
        self.plot.setLabel("left", spec[0])
        self._summarise(rows, spec)

    def _summarise(self, rows: list[dict], spec) -> None:
        if not self.history:
            return
        last = self.history[-1]
        v = last["values"]
        parts = [f"step {last['step']:,}"]
        for label, key, floor, _ in CHOICES:
            if key in v:
                parts.append(f"{label} {v[key]:.3g}" + (f" (real {v[floor]:.3g})" if floor and floor in v else ""))
        cost = sum(last.get("seconds", {}).values())
        text = "Last: " + ", ".join(parts) + f". Took {cost:.1f} s in a background process."
        if rows:
            pick = min if spec[3] else max
            b = pick(rows, key=lambda h: h["values"][spec[1]])
            text += f" Best {spec[0]}: step {b['step']:,}."
        if self.run_dir is not None and (self.run_dir / "checkpoints" / "best.pt").is_file():
            text += " checkpoints/best.pt holds the lowest-FD checkpoint."
        self.summary.setText(text)

    # ------------------------------------------------------------ evaluate now

    def _on_eval_button_clicked(self) -> None:
        from ganstudio.core.evaluate import BackgroundEvaluator

        ckpt = self.run_dir / "checkpoints" / "latest.pt" if self.run_dir else None
        if ckpt is None or not ckpt.is_file():
            self.evaluation_failed.emit("this run has no checkpoint to evaluate yet")
            return
        if self._evaluator is None or self._evaluator.run_dir != self.run_dir:
            if self._evaluator is not None:
                self._evaluator.close()
            self._evaluator = BackgroundEvaluator(self.run_dir)
        self._evaluator.submit(-1, ckpt)
        self.eval_button.setEnabled(False)
        self.eval_button.setText("Evaluating…")
        self._timer.start()

    def _tick(self) -> None:
        if self._evaluator is not None and self._evaluator.busy:
            for r in self._evaluator.poll():
                if r["error"]:
                    self.evaluation_failed.emit(f"evaluation failed: {r['error']}")
            if not self._evaluator.busy:
                self.eval_button.setEnabled(self.run_dir is not None)
                self.eval_button.setText("Evaluate now")
        self.reload()

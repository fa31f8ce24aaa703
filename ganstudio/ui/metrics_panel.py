"""MetricsPanel: evaluations of a run (RUN/eval.json) over steps, next to the real-vs-real floor, with their cost."""

from __future__ import annotations

import json
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ganstudio.core.evaluation import Score

TOP_MARGIN = 10  # px above the plot, so the top tick's label is drawn whole



def score_choices() -> list[Score]:
    """Every score some family reports, once each, in family order; the panel offers those the run's evaluations hold."""
    from ganstudio.core.families import FAMILIES  # torch: only once a run's evaluations are shown

    seen: dict[str, Score] = {}
    for name in FAMILIES:
        for sc in FAMILIES.get(name).scores:
            seen.setdefault(sc.key, sc)
    return list(seen.values())


class MetricsPanel(QWidget):
    """Reads RUN/eval.json whenever it changes (whoever writes it: this studio, the CLI, another machine).

    "Evaluate now" scores the run's latest checkpoint in a background process; periodic
    evaluation during training is the `eval_every` setting, and `keep_best` keeps the best by the family's best score.
    """

    evaluation_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, interval_ms: int = 1000):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.history: list[dict] = []
        self._stamp = None
        self._evaluator = None
        self._choices: list[Score] = []

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
        # room above the top tick: without a title, its label ("1.0") was cut in half by the plot's edge
        self.plot.getPlotItem().setContentsMargins(0, TOP_MARGIN, 6, 0)
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
        self._choices = [sc for sc in score_choices() if sc.key in present] if present else []
        wanted = [(sc.label, sc.key) for sc in self._choices]
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
        key = self.metric_combo.currentData()
        spec = next((sc for sc in self._choices if sc.key == key), None)
        if spec is None:
            for item in (self.line, self.floor, self.best):
                item.setData([], [])
            return
        rows = [h for h in self.history if key in h["values"]]
        xs = [h["step"] for h in rows]
        self.line.setData(xs, [h["values"][key] for h in rows])
        floor = spec.reference
        fl = [(h["step"], h["values"][floor]) for h in rows if floor and floor in h["values"]]
        if len(fl) == 1:  # one evaluation: a line needs two ends, so the floor runs from step 0 to it
            fl = [(min(0, fl[0][0]), fl[0][1]), fl[0]]
        self.floor.setData([x for x, _ in fl], [y for _, y in fl])
        if rows:
            pick = min if spec.lower_is_better else max
            b = pick(rows, key=lambda h: h["values"][key])
            self.best.setData([b["step"]], [b["values"][key]])
        else:
            self.best.setData([], [])
        self.plot.setLabel("left", spec.label)
        self._summarise(rows, spec)

    def _summarise(self, rows: list[dict], spec: Score) -> None:
        if not self.history:
            return
        last = self.history[-1]
        v = last["values"]
        parts = [f"step {last['step']:,}"]
        for sc in self._choices:
            if sc.key in v:
                ref = v.get(sc.reference) if sc.reference else None
                parts.append(f"{sc.label} {v[sc.key]:.3g}" + (f" (reference {ref:.3g})" if ref is not None else ""))
        cost = sum(last.get("seconds", {}).values())
        text = "Last: " + ", ".join(parts) + f". Took {cost:.1f} s in a background process."
        if rows:
            pick = min if spec.lower_is_better else max
            b = pick(rows, key=lambda h: h["values"][spec.key])
            text += f" Best {spec.label}: step {b['step']:,}."
        if self.run_dir is not None and (self.run_dir / "checkpoints" / "best.pt").is_file():
            text += " checkpoints/best.pt holds the best-scoring checkpoint (keep_best)."
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

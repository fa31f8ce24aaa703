"""Training a config for at most a CPU budget: what the quality benchmarks share."""

from __future__ import annotations

import time
from pathlib import Path


def train_within(cfg, run: Path, budget_s: float) -> tuple[int, float, dict]:
    """Train `cfg` into `run`, stopped (with its checkpoint) once this process has used `budget_s` CPU-seconds
    (`time.process_time`: every thread of the process, not the wall clock). (steps done, CPU-seconds, last logged values)."""
    from ganstudio.core.events import Control, RunFinished, StepMetrics
    from ganstudio.core.train import iter_train

    control, t0, step, last = Control(), time.process_time(), 0, {}
    for ev in iter_train(cfg, run, control):
        if isinstance(ev, StepMetrics):
            step, last = ev.step, ev.values
            if time.process_time() - t0 >= budget_s:
                control.stop()
        elif isinstance(ev, RunFinished):
            step = ev.step
    return step, time.process_time() - t0, last

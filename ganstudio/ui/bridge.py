"""TrainBridge: runs the core's iter_train in a background thread and hands its events to the GUI as Qt signals."""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque

from PySide6.QtCore import QObject, QTimer, Signal

# The GUI hears from the loop at most this often, whatever the step rate: a 2-D model can
# take thousands of steps a second, and every signal costs the training thread GIL time.
UPDATE_HZ = 30


class TrainBridge(QObject):
    """One training run at a time.  The worker thread only appends plain events to a
    locked buffer; a GUI-thread timer drains it ~30 times a second and emits:

    - `started(RunStarted)`, `metrics_ready(list[StepMetrics])` (every record since the
      last drain, so curves miss nothing), `sample_ready(SampleGrid)` (the newest grid),
      `warning_raised(HealthWarning)`, `checkpoint_saved(CheckpointSaved)`,
      `state_changed(str)` ("running", "paused", "stopping", "idle"),
      `settings_changed(dict)`, `finished(RunFinished)`, `failed(str)`.

    Commands (stop, pause, step, set, save) are flags on the core's Control: nothing
    here waits on the training thread.
    """

    started = Signal(object)
    metrics_ready = Signal(list)
    sample_ready = Signal(object)
    samples_saved = Signal(list)
    warning_raised = Signal(object)
    checkpoint_saved = Signal(object)
    evaluated = Signal(object)
    state_changed = Signal(str)
    step_changed = Signal(int)   # the step the loop is at, also between logged steps (pause, single steps, stop)
    settings_changed = Signal(dict)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, update_hz: float = UPDATE_HZ):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._events: deque = deque()
        self._metrics: list = []
        self._sample = None
        self._sample_paths: list = []
        self._thread: threading.Thread | None = None
        self._control = None
        self._state = "idle"
        self.last_step = 0
        self.total_steps = 0
        self.stop_requested_at = self.stopped_at = None
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / update_hz))
        self._timer.timeout.connect(self._drain)

    # ------------------------------------------------------------ commands (GUI thread)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        return self._state

    def start(self, cfg, run_dir, resume: bool = False, data=None) -> None:
        if self.running:
            raise RuntimeError("a run is already in progress")
        from ganstudio.core.events import Control  # torch-free, but keep start-up lean

        self._control = Control()
        self.total_steps = cfg.steps
        self._thread = threading.Thread(
            target=self._work, args=(cfg, run_dir, resume, data, self._control), name="ganstudio-train", daemon=True
        )
        self._set_state("running")
        self._timer.start()
        self._thread.start()

    def stop(self) -> None:
        if self._control is not None and self.running:
            self.stop_requested_at = time.perf_counter()
            self._control.stop()
            self._set_state("stopping")

    def pause(self) -> None:
        if self._control is not None and self.running:
            self._control.pause()

    def resume(self) -> None:
        if self._control is not None and self.running:
            self._control.resume()

    def step(self) -> None:
        if self._control is not None and self.running:
            self._control.step()

    def save_checkpoint(self) -> None:
        if self._control is not None and self.running:
            self._control.save_checkpoint()

    def set(self, **changes) -> None:
        if self._control is not None and self.running:
            self._control.set(**changes)

    # ------------------------------------------------------------ worker thread

    def _work(self, cfg, run_dir, resume, data, control) -> None:
        from ganstudio.core.events import SampleGrid, StepMetrics, Stopping
        from ganstudio.core.train import iter_train

        try:
            for ev in iter_train(cfg, run_dir, control, resume=resume, data=data):
                if isinstance(ev, Stopping):
                    self.stopped_at = time.perf_counter()  # when the loop really stopped (latency probe)
                with self._lock:
                    if isinstance(ev, StepMetrics):
                        self._metrics.append(ev)
                    elif isinstance(ev, SampleGrid):
                        self._sample = ev  # only the newest grid is worth drawing
                        self._sample_paths.append((ev.step, ev.path))
                    else:
                        self._events.append(ev)
        except Exception as e:  # bad data, bad config, a full disk: a message, not a crash
            from ganstudio.core.errors import UserError

            msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            if not isinstance(e, UserError):
                traceback.print_exc()
            with self._lock:
                self._events.append(("failed", msg))
        finally:
            with self._lock:
                self._events.append(("exited", None))

    # ------------------------------------------------------------ GUI thread

    def _at_step(self, step: int) -> None:
        if step != self.last_step:
            self.last_step = step
            self.step_changed.emit(step)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _drain(self) -> None:
        from ganstudio.core import events as E

        with self._lock:
            metrics, self._metrics = self._metrics, []
            sample, self._sample = self._sample, None
            paths, self._sample_paths = self._sample_paths, []
            evs = list(self._events)
            self._events.clear()
        for ev in evs:
            if isinstance(ev, E.RunStarted):
                self.last_step, self.total_steps = ev.step, ev.total_steps
                self.started.emit(ev)
        if metrics:
            self.last_step = metrics[-1].step
            self.metrics_ready.emit(metrics)
        if sample is not None:  # first: the timeline then shows the newest grid from memory, not re-read from disk
            self.sample_ready.emit(sample)
        if paths:
            self.samples_saved.emit(paths)
        for ev in evs:
            if isinstance(ev, E.RunStarted):
                continue
            if isinstance(ev, tuple):
                kind, payload = ev
                if kind == "failed":
                    self.failed.emit(payload)
                elif kind == "exited":
                    self._timer.stop()
                    self._thread = None
                    self._set_state("idle")
            elif isinstance(ev, E.HealthWarning):
                self.warning_raised.emit(ev)
            elif isinstance(ev, E.Paused):
                self._at_step(ev.step)  # a single step while paused ends in another Paused
                if self._state != "stopping":
                    self._set_state("paused")
            elif isinstance(ev, E.Resumed):
                self._at_step(ev.step)  # a rollback after a divergence goes back
                if self._state != "stopping":
                    self._set_state("running")
            elif isinstance(ev, E.CheckpointSaved):
                self.checkpoint_saved.emit(ev)
            elif isinstance(ev, E.Evaluated):
                self.evaluated.emit(ev)
            elif isinstance(ev, E.SettingsChanged):
                self.settings_changed.emit(ev.changes)
            elif isinstance(ev, E.RunFinished):
                self._at_step(ev.step)
                self.finished.emit(ev)

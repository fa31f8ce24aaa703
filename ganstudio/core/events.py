"""Plain events the training loop yields, and the Control object other threads steer it with."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    step: int


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    total_steps: int
    device: str
    config: dict
    dataset: str          # one-line summary of the data
    skipped: str          # report of unusable files ('' if none)
    resumed: bool
    centers: np.ndarray | None = None   # mode centres of a 2-D point dataset (for the scatter view)
    threads: str = ""     # the CPU threads training uses and why, e.g. "1 thread (1 of 2 cores busy)"


@dataclass(frozen=True)
class StepMetrics(Event):
    values: dict[str, float]   # loss/d, loss/g, d/real, d/fake, grad_norm/d, grad_norm/g, grad_norm/d/<layer>, img_per_s, lr/g, lr/d, ...


@dataclass(frozen=True)
class SampleGrid(Event):
    image: np.ndarray              # uint8 (H, W, 3): the fixed-noise grid (or a scatter plot for 2-D points)
    path: str                      # where the PNG was written ('' if not written)
    points: np.ndarray | None = None   # (N, 2) float32 generated points for 2-D models


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str


@dataclass(frozen=True)
class Evaluated(Event):
    checkpoint: str          # the step checkpoint that was scored
    values: dict[str, float]  # fd, fd_floor, kid, precision, recall, ... (see ganstudio.core.evaluate)
    seconds: float           # wall time of the background evaluation
    best: bool = False       # it became checkpoints/best.pt (keep_best)
    error: str = ""          # why it failed ('' when it worked)


@dataclass(frozen=True)
class HealthWarning(Event):
    kind: str        # "nan", "d_overpowering", "vanishing_g_grad", "mode_collapse"
    message: str     # what happened, in plain language
    advice: str      # what to try


@dataclass(frozen=True)
class Paused(Event):
    reason: str = "requested"


@dataclass(frozen=True)
class Resumed(Event):
    pass


@dataclass(frozen=True)
class SettingsChanged(Event):
    changes: dict[str, Any]


@dataclass(frozen=True)
class Stopping(Event):
    """A stop request took effect: no more steps; the final checkpoint is being written."""


@dataclass(frozen=True)
class RunFinished(Event):
    reason: str              # "completed", "stopped", "diverged"
    checkpoint: str          # the last good checkpoint ('' if none)


class Control:
    """Thread-safe flags the loop reads between steps: stop, pause/resume, single step, live settings.

    Nothing here blocks the caller; only the training loop waits (while paused).
    """

    def __init__(self, pause_on_divergence: bool = True) -> None:
        # True where someone can answer (the studio): a NaN pauses, and Resume rolls back to the last
        # good checkpoint. False (the CLI): the run ends there, keeping that checkpoint.
        self.pause_on_divergence = pause_on_divergence
        self._cond = threading.Condition()
        self._stop = False
        self._paused = False
        self._steps_granted = 0
        self._changes: dict[str, Any] = {}
        self._save = False

    # --- called from any thread
    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._steps_granted = 0  # a Step pressed just before is not carried into this pause

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._steps_granted = 0
            self._cond.notify_all()

    def step(self, n: int = 1) -> None:
        """While paused: run n more steps, then pause again."""
        with self._cond:
            self._steps_granted += n
            self._cond.notify_all()

    def save_checkpoint(self) -> None:
        """Write a checkpoint at the next step boundary (also while paused)."""
        with self._cond:
            self._save = True
            self._cond.notify_all()

    def set(self, **changes: Any) -> None:
        """Settings for the loop to apply between steps; it refuses (with a warning event) any field
        that is not live for its family (config.live_fields)."""
        with self._cond:
            self._changes.update(changes)

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @property
    def paused(self) -> bool:
        return self._paused

    # --- called by the loop
    def take_changes(self) -> dict[str, Any]:
        with self._cond:
            changes, self._changes = self._changes, {}
            return changes

    def wait_while_paused(self) -> str:
        """Block while paused: "stop", "save" (a checkpoint was asked for), or "go" for one step.

        A single step granted while paused is consumed here.
        """
        with self._cond:
            while self._paused and not self._stop and self._steps_granted == 0 and not self._save:
                self._cond.wait()
            if self._stop:
                return "stop"
            if self._save:
                return "save"
            if self._paused:
                self._steps_granted -= 1
            return "go"

    def take_save_request(self) -> bool:
        with self._cond:
            asked, self._save = self._save, False
            return asked

"""The parts of an evaluation every family shares: the request a family's `evaluate` gets, the
`Evaluation` it returns, the `Score` rows it declares, and the one error type for "cannot evaluate"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganstudio.core.errors import UserError

TSTR_SAMPLES = 5_000  # TSTR trains a classifier on this many generated images


class EvalError(UserError):
    """An evaluation that cannot run as asked; str(e) is one clear line."""


@dataclass
class Evaluation:
    """One evaluation of one checkpoint; `values` hold plain floats keyed like `fd`, `fd_floor`, `precision`."""

    checkpoint: str
    step: int
    n: int
    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> why it could not be computed
    judge: str = ""  # where the features came from, in words
    seconds: dict[str, float] = field(default_factory=dict)  # cost of each metric (features are counted once, in "features")
    subject: str = ""  # what was scored, in words ("2,000 generated vs 2,000 real", "120 held-out pairs")
    family: str = ""   # whose scores these are (names the table rows and the Metrics view's choices)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Score:
    """One value an evaluation reports: a row of `ganstudio eval`, a choice in the Metrics panel.

    `reference` names the value it is read against (real vs real, the classifier on real targets);
    `note` may name other values, e.g. "of {n_modes:.0f}"; a `short` label puts it in the one-line
    headline of periodic evaluations; `lower_is_better` orders "best" for keep_best and the panel.
    """
    key: str
    label: str
    fmt: str = "{:.3f}"
    note: str = ""
    reference: str = ""
    short: str = ""
    lower_is_better: bool = False


@dataclass
class EvalRequest:
    """What a family's `evaluate` is given: the checkpoint, what to compute, and loaders of the parts it needs."""
    checkpoint: str
    step: int
    cfg: Any
    meta: dict
    signature: Any                               # the family's Signature for this checkpoint's meta
    metrics: tuple[str, ...]
    n: int
    seed: int
    cache_dir: Path | None
    say: Callable[[str], None]
    data: Callable[[], Any]                      # the run's dataset (or the one asked for), as the family trains on it
    generator: Callable[[], Any]                 # kind "generate": an inference.LoadedGenerator
    translator: Callable[[str], Any]             # kind "translate": the network of one entry ("AtoB", ...)
    tstr_samples: int = TSTR_SAMPLES

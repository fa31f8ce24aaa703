"""The Family contract: everything one GAN system declares, and nothing the loop does for every system.

A family module subclasses `Family`, registers it in `FAMILIES` and declares, all in its one file:
- `Options`: a frozen dataclass of `option(...)` fields, saved as the family's own TOML table;
- `networks(meta)`: its named networks, and `groups()`: which optimiser steps which of them;
- `phases()`: the updates of one training step (e.g. D × n_critic, then G) and `loss(phase, ...)`:
  the scalar each minimises plus named `loss/...` values for the curves;
- `curves`: the metric keys it logs, grouped by plot;
- `fixed` inputs and `preview(...)`: the grid drawn while training;
- `signature(meta)`: its inference entry points (named inputs and outputs), which sampling,
  Explore, Translate and export build on;
- `metrics` (what `ganstudio eval --metrics` may name, with what each measures), the `scores` they
  report (rows of the eval table, choices of the Metrics panel) and `evaluate(request)`;
- its presets, and a why-sentence for each option.

The loop (`ganstudio.core.loop`) owns zero-grad, backward, mixed precision, the optimiser step,
gradient norms and clipping, EMA, learning-rate schedules, checkpoints, stop/pause and DDP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ganstudio.core.errors import CheckpointError, UserError
from ganstudio.core.evaluation import EvalRequest, Evaluation, Score  # noqa: F401 (part of the contract)
from ganstudio.core.registry import Registry


@dataclass(frozen=True)
class OptGroup:
    """One optimiser over the parameters of some networks, at the learning rate in config field `lr`."""
    name: str
    nets: tuple[str, ...]
    lr: str = "lr_g"


@dataclass(frozen=True)
class Phase:
    """One update of a training step: `loss(phase, ...)` is minimised and `group`'s optimiser steps.

    `repeat` runs it several times per step (a critic trained n_critic times); `frozen` networks need no
    weight gradient in it (their input gradient still flows), which saves part of their backward;
    `weight_clip` > 0 clamps the group's weights to ±c after each step (WGAN's Lipschitz bound).
    """
    name: str
    group: str
    repeat: int = 1
    frozen: tuple[str, ...] = ()
    weight_clip: float = 0.0


@dataclass
class Terms:
    """What a phase minimises, and the values to log (averaged between log records), e.g. {"loss/d": ...}."""
    loss: torch.Tensor
    values: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Port:
    """One named input or output of an inference entry point."""
    name: str
    kind: str          # "noise", "class", "image" or "points"
    shape: tuple       # per sample, e.g. (100,) for z or (1, 28, 28) for an image
    doc: str = ""
    choices: int = 0   # a "class" input: how many classes


@dataclass(frozen=True)
class Entry:
    """A way to use a trained model: which network runs, on what, producing what."""
    name: str                   # "sample", "AtoB", "BtoA", ...
    net: str                    # the network in the checkpoint that computes it
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    source: str = ""            # translation: the domain names of input and output
    target: str = ""


@dataclass(frozen=True)
class Signature:
    """A family's inference description. `kind` says which studio tools apply:
    "generate" (noise, and a class when conditional → sample; Explore, sample, eval) or
    "translate" (image → image; Translate, eval of translations)."""
    kind: str
    entries: tuple[Entry, ...]

    def entry(self, name: str | None = None) -> Entry:
        if name is None:
            return self.entries[0]
        for e in self.entries:
            if e.name == name:
                return e
        raise CheckpointError(f"this model offers {', '.join(e.name for e in self.entries)}, not {name}")


@dataclass
class Preview:
    """The fixed inputs' outputs: the tensor the health monitor reads, the uint8 (H, W, 3) grid, 2-D points."""
    samples: torch.Tensor
    image: np.ndarray
    points: np.ndarray | None = None


class Nets(dict):
    """Name → bare network; `.train` maps the same names to what training passes call
    (DistributedDataParallel wrappers in a distributed job, the networks themselves otherwise)."""

    def __init__(self, modules: Mapping[str, nn.Module]):
        super().__init__(modules)
        self.train: dict[str, nn.Module] = dict(modules)


class Family:
    """Base of every family; a subclass fills in the declarations and the methods below."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""           # the Setup picker's label
    task: ClassVar[str] = "generate"    # what a person wants done: "generate" images (or points), or "translate" them
    summary: ClassVar[str] = ""         # one sentence: what it is, after whom
    Options: ClassVar[type] = type(None)
    curves: ClassVar[dict[str, tuple[str, ...]]] = {"Loss": ("loss/d", "loss/g")}
    presets: ClassVar[dict[str, tuple[str, dict]]] = {}   # name → (summary, overrides)
    ema_nets: ClassVar[tuple[str, ...]] = ()   # networks the loop keeps an EMA of when cfg.ema > 0
    d_output: ClassVar[str] = "prob"    # "prob" (D's logits are probabilities) or "critic" (scores)
    legacy_models: ClassVar[tuple[str, ...]] = ()   # format-1 `model` values this family now trains
    cpu_note: ClassVar[str] = ""        # shown in the Setup panel when the family is picked
    metrics: ClassVar[dict[str, str]] = {}          # `--metrics` name → what it measures
    default_metrics: ClassVar[tuple[str, ...]] = ()  # computed when none are named (and by eval_every)
    scores: ClassVar[tuple[Score, ...]] = ()         # the values those metrics report, in table order
    best_by: ClassVar[str] = ""         # the score keep_best keeps the best checkpoint by ("" = none)
    reference_column: ClassVar[str] = "reference"   # what the scores' references are, as the eval table's heading

    # ------------------------------------------------------------ before training (no instance)

    @classmethod
    def load_data(cls, cfg, seed: int = 0):
        """The dataset `cfg.dataset` names, in the form this family trains on (default: the image or point
        set `load_dataset` reads, made fit by `fit_data`; translation families read pairs instead)."""
        from ganstudio.core.data import load_dataset

        return cls.fit_data(cfg, load_dataset(cfg.dataset, cfg.image_size, cfg.channels, seed=seed))

    @classmethod
    def fit_data(cls, cfg, data):
        """`data` made fit for the networks `cfg` builds (images resized to a side the model builds at,
        with the reason in the data's summary); already-fitting data is returned as it is."""
        return data

    @classmethod
    def check(cls, cfg) -> None:
        """Raise ConfigError for option values that do not belong together (fields are already typed)."""

    @classmethod
    def inert(cls, cfg) -> dict[str, str]:
        """Options that do nothing under `cfg`, each with the reason (`gp_weight` without a gradient
        penalty): the studio leaves them out of the live settings and marks them in Setup."""
        return {}

    @classmethod
    def describe(cls, cfg, data) -> dict:
        """Plain data (numbers, strings, lists) that rebuilds the networks without the dataset:
        saved in every checkpoint as `meta`, read by `networks` and `signature`."""
        raise NotImplementedError

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        """Fresh networks by name (weights initialised from the global RNG)."""
        raise NotImplementedError

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        raise NotImplementedError

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        """The optimisers: each steps the parameters of its networks at its learning rate."""
        raise NotImplementedError

    @classmethod
    def entry_network(cls, meta: dict, entry: Entry) -> nn.Module:
        """The network an inference entry runs, freshly built (default: every network, then the one named)."""
        return cls.networks(meta)[entry.net]

    @classmethod
    def evaluate(cls, req: EvalRequest) -> Evaluation:
        """Score a checkpoint: an Evaluation with `req.metrics` computed (generators: ganstudio.core.scoring)."""
        raise UserError(f"the {cls.name} family has no evaluation yet")

    @classmethod
    def upgrade_v1(cls, state: dict) -> dict:
        """A format-1 checkpoint's family parts as format 2 (`meta`, `nets`, `ema`, `opts`, `parts`, `fixed`)."""
        raise NotImplementedError

    # ------------------------------------------------------------ training (one instance per run)

    def __init__(self, cfg, data, meta: dict, device: torch.device, fast, ctx):
        self.cfg, self.data, self.meta = cfg, data, meta
        self.device, self.fast, self.ctx = device, fast, ctx
        self.step = 0

    def start(self, nets: Nets) -> None:
        """Called once when a run begins (not on a resume), before the first step: weights another run
        trained are loaded here (SRGAN starting from SRResNet)."""

    def phases(self) -> list[Phase]:
        """Read every step, so live option changes (n_critic) apply from the next one."""
        raise NotImplementedError

    def schedule(self, step: int) -> None:
        """Called before every step: growth schedules and annealed tricks live here."""
        self.step = step

    def loss(self, phase: Phase, repeat: int, nets: Nets) -> Terms:
        raise NotImplementedError

    def parts(self) -> dict[str, Any]:
        """Named objects with state_dict()/load_state_dict() that checkpoints keep (samplers, pools)."""
        return {}

    def fixed(self) -> dict[str, torch.Tensor]:
        """The fixed preview inputs, kept in checkpoints so a resumed run draws the same grid."""
        return {}

    def set_fixed(self, fixed: dict[str, torch.Tensor]) -> None:
        pass

    def preview(self, nets: Mapping[str, nn.Module]) -> Preview:
        """The fixed inputs through `nets` (EMA copies where the run keeps them)."""
        raise NotImplementedError

    def real_reference(self, n: int, seed: int) -> torch.Tensor | None:
        """Real samples the health monitor compares preview diversity with (None: no such check)."""
        return None

    def images_per_step(self) -> int:
        """Real images one step reads (per rank), for the images/s curve."""
        return self.cfg.batch_size

    def data_count(self) -> int:
        return len(self.data)

    def dataset_info(self) -> dict:
        return {"name": self.data.name, "n": self.data_count()}


FAMILIES: Registry[type[Family]] = Registry("family")


_ON_REGISTER: list = []  # callables(cls) run for every family registered (e.g. adding its presets)


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: add a family to FAMILIES under its `name` (and tell every `on_register` hook)."""
    FAMILIES.register(cls.name, cls)
    for hook in _ON_REGISTER:
        hook(cls)
    return cls


def on_register(hook) -> None:
    """Run hook(cls) for every family registered so far and every one registered later (a plug-in, a test's)."""
    _ON_REGISTER.append(hook)
    for name in FAMILIES:
        hook(FAMILIES.get(name))


def family_of_legacy_model(model: str) -> str | None:
    """The family that now trains a format-1 config's `model` value."""
    for name, cls in FAMILIES.items():
        if model in cls.legacy_models:
            return name
    return None

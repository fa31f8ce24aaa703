"""The one training step, for any family: zero-grad, backward, mixed precision, optimiser steps,
gradient norms and clipping, EMA, learning-rate schedules, log averages, and the run's checkpoint state.

`Session` holds everything one run trains: the family instance, its named networks (and their EMA
copies), one optimiser per group, the log accumulators. `iter_train` (ganstudio.core.train) drives
it and turns what happens into events; nothing here knows any family's name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ganstudio.core import distributed, fastpath
from ganstudio.core.checkpoint import nonfinite_tensors
from ganstudio.core.config import apply_overrides, live_fields, to_toml, validate
from ganstudio.core.errors import CheckpointError, ConfigError
from ganstudio.core.families import FAMILIES, Nets
from ganstudio.core.losses import clip_weights


class StepAborted(Exception):
    """A stop arrived mid-step; the step was undone."""


def layer_groups(modules: dict[str, nn.Module]) -> tuple[list[nn.Parameter], list[str], torch.Tensor]:
    """Parameters, their layer names ("net.0", or "F.net.0" when a group has several networks),
    and an index mapping each parameter to its layer."""
    params, layer_of, names = [], [], []
    for net, module in modules.items():
        for pname, p in module.named_parameters():
            if not p.requires_grad:
                continue
            layer = pname.rsplit(".", 1)[0] if "." in pname else pname
            layer = layer.replace(".parametrizations.weight", "").replace(".weight_orig", "")
            if len(modules) > 1:
                layer = f"{net}.{layer}"
            if layer not in names:
                names.append(layer)
            params.append(p)
            layer_of.append(names.index(layer))
    return params, names, torch.tensor(layer_of, dtype=torch.long)


def grad_norms(params: list, layer_names: list[str], layer_index: torch.Tensor, prefix: str) -> dict[str, float]:
    """Total and per-layer L2 norms of the current gradients (one fused kernel per device)."""
    # a network of the group that this phase left out (InfoGAN-CR's H while the regulariser is off) has no gradient
    keep = [i for i, p in enumerate(params) if p.grad is not None]
    if not keep:
        return {}
    norms = torch.stack(torch._foreach_norm([params[i].grad for i in keep])).float().cpu()
    index = layer_index[keep]
    per_layer = torch.zeros(len(layer_names)).index_add_(0, index, norms.square()).sqrt()
    present = torch.zeros(len(layer_names), dtype=torch.bool).index_fill_(0, index, True)
    out = {prefix: float(norms.square().sum().sqrt())}
    for name, v, has in zip(layer_names, per_layer.tolist(), present.tolist()):
        if has:
            out[f"{prefix}/{name}"] = v
    return out


def make_optimizer(cfg, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


class MetricLog:
    """Sums and counts of the values phases report, averaged at each log record (no GPU sync before)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.steps = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v = v.detach().double()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1

    def finite(self) -> bool:
        return not self.sums or bool(torch.isfinite(torch.stack(list(self.sums.values()))).all())

    def take(self) -> dict[str, float]:
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).tolist() if keys else []
        out = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums, self.counts, self.steps = {}, {}, 0
        return out

    def state_dict(self) -> dict:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "counts": dict(self.counts), "steps": self.steps}

    def load_state_dict(self, s: dict, device) -> None:
        self.sums = {k: v.to(device) for k, v in s["sums"].items()}
        self.counts, self.steps = {k: int(v) for k, v in s["counts"].items()}, int(s["steps"])


class Session:
    """All state of one run; used only by iter_train."""

    def __init__(self, cfg, data, device: torch.device, ctx=None):
        self.ctx = ctx or distributed.SINGLE
        self.cfg, self.data, self.device = cfg, data, device
        self.family_cls = FAMILIES.get(cfg.family)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.meta = self.family_cls.describe(cfg, data)
        try:
            modules = self.family_cls.networks(self.meta)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        for m in modules.values():
            m.to(device)
        self.groups = self.family_cls.groups(cfg)
        self.fast = fastpath.resolve(cfg, device, list(modules.values()), image=getattr(data, "kind", "image") != "points",
                                     scaler_keys=tuple(g.name for g in self.groups))
        self.nets = Nets(modules)
        self.family = self.family_cls(cfg, data, self.meta, device, self.fast, self.ctx)
        self.ema = {n: copy.deepcopy(modules[n]).eval().requires_grad_(False)
                    for n in self.family_cls.ema_nets if cfg.ema > 0 and n in modules}
        self.opts = {g.name: make_optimizer(cfg, [p for n in g.nets for p in modules[n].parameters()], cfg.get(g.lr))
                     for g in self.groups}
        self.layers = {g.name: layer_groups({n: modules[n] for n in g.nets}) for g in self.groups}
        self.step = 0
        self.diverged = False  # a NaN was seen and not yet rolled back: never save this state
        self.log = MetricLog()
        self.real_ref = self.family.real_reference(cfg.sample_count, cfg.seed + 3)

    def start(self) -> None:
        """A fresh run's first moment: the family may load weights from elsewhere; EMA copies follow them."""
        self.family.start(self.nets)
        with torch.no_grad():
            for name, avg in self.ema.items():
                avg.load_state_dict(self.nets[name].state_dict())

    def distribute(self) -> None:
        """Wrap every network for a distributed job (collective: every rank calls it, in step)."""
        if not self.ctx.active:
            return
        for name in list(self.nets):
            if not any(p.requires_grad for p in self.nets[name].parameters()):
                continue  # a fixed network (SRGAN's PSNR start) has no gradients to average
            wrapped = distributed.wrap(self.nets[name], self.ctx, self.device)
            self.nets.train[name] = wrapped
            self.nets[name] = wrapped.module  # SyncBatchNorm may have replaced layers
        distributed.seed_rank(self.ctx, self.cfg.seed)  # each rank draws its own noise

    # ------------------------------------------------------------ one step

    def lr_factor(self) -> float:
        if not self.cfg.lr_decay:
            return 1.0
        half = self.cfg.steps / 2
        return 1.0 if self.step < half else max(0.0, (self.cfg.steps - self.step) / half)

    def _buffers(self):
        return (b for m in self.nets.values() for b in m.buffers())

    def _snapshot(self) -> tuple:
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        parts = {k: p.state_dict() for k, p in self.family.parts().items()}  # snapshots: nothing they hold changes in place
        # BatchNorm running statistics (and spectral-norm vectors) change in the forward pass
        buffers = [b.clone() for b in self._buffers()]
        log = (dict(self.log.sums), dict(self.log.counts))
        return torch.get_rng_state(), cuda, parts, buffers, log

    def _restore(self, snap: tuple) -> None:
        rng, cuda, parts, buffers, log = snap
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        for k, p in self.family.parts().items():
            p.load_state_dict(parts[k])
        with torch.no_grad():
            for b, saved in zip(self._buffers(), buffers):
                b.copy_(saved)
        self.log.sums, self.log.counts = log

    def train_step(self, log: bool, abort: Callable[[], bool] | None = None) -> dict[str, float]:
        """Every phase of the family once (each `repeat` times); gradient norms when `log`.

        `abort` is polled once the first gradient is computed, before any weight changes: a stop
        pressed mid-step takes effect within part of a step, and the step is undone (RNG, batch
        order, buffers restored) so the checkpoint written next is exactly the state after the previous step.
        """
        cfg, fp, fam = self.cfg, self.fast, self.family
        snap = self._snapshot() if abort is not None else None
        f = self.lr_factor()
        for g in self.groups:
            for pg in self.opts[g.name].param_groups:
                pg["lr"] = cfg.get(g.lr) * f
        fam.cfg = cfg
        fam.schedule(self.step)
        grads: dict[str, float] = {}
        first = abort is not None
        for phase in fam.phases():
            opt = self.opts[phase.group]
            params = self.layers[phase.group][0]
            frozen = [self.nets[n] for n in phase.frozen]
            for m in frozen:
                m.requires_grad_(False)
            try:
                for i in range(phase.repeat):
                    with fp.autocast():
                        terms = fam.loss(phase, i, self.nets)
                    opt.zero_grad(set_to_none=True)
                    fp.backward(terms.loss, phase.group)
                    if first:
                        first = False
                        if abort():
                            self._restore(snap)
                            raise StepAborted
                    self.log.add(terms.values)
                    last = i == phase.repeat - 1
                    if (log and last) or cfg.grad_clip:
                        fp.unscale(opt, phase.group)
                    if log and last:
                        grads.update(grad_norms(*self.layers[phase.group], f"grad_norm/{phase.group}"))
                    if cfg.grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                    fp.step(opt, phase.group)
                    if phase.weight_clip:
                        for n in next(g for g in self.groups if g.name == phase.group).nets:
                            clip_weights(self.nets[n], phase.weight_clip)
            finally:
                for m in frozen:
                    m.requires_grad_(True)
        if self.ema:
            self._update_ema()
        self.log.steps += 1
        self.step += 1
        return grads

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up: a fixed 0.999 would average in the random initial weights for the first
        # thousand steps (blank previews, false mode-collapse hints); (1+t)/(10+t) ramps the
        # decay up so the average follows the network early and reaches the configured value later.
        d = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
        for name, avg in self.ema.items():
            net = self.nets[name]
            torch._foreach_lerp_(list(avg.parameters()), [p.detach() for p in net.parameters()], 1.0 - d)
            for be, b in zip(avg.buffers(), net.buffers()):
                be.copy_(b)  # BatchNorm running statistics follow the network's

    def take_metrics(self, seconds: float) -> dict[str, float]:
        steps = self.log.steps
        out = self.log.take()
        # every rank trains on its own batch: the job's rate is world × this rank's
        out["img_per_s"] = steps * self.family.images_per_step() * self.ctx.world / max(seconds, 1e-9)
        for g in self.groups:
            out[f"lr/{g.name}"] = self.opts[g.name].param_groups[0]["lr"]
        return out

    def metrics_finite(self) -> bool:
        return self.log.finite()

    def healthy(self) -> bool:
        """Safe to checkpoint: no divergence pending and no non-finite loss since the last log."""
        return not self.diverged and self.metrics_finite()

    def nonfinite_state(self, state: dict | None = None) -> list[str]:
        """Tensors of the weights, their averages and the optimisers' state holding NaN or ±inf, in
        `state` (a state_dict() about to be saved) or in the live session.

        Losses are computed before the update that breaks a network, and Adam's second moment
        overflows while every loss is still finite, so the state itself is checked before a save.
        """
        if state is None:
            state = {"nets": {k: m.state_dict() for k, m in self.nets.items()},
                     "ema": {k: m.state_dict() for k, m in self.ema.items()},
                     "opts": {k: o.state_dict() for k, o in self.opts.items()}}
        return nonfinite_tensors({"nets": state["nets"], "ema": state["ema"],
                                  "opts": {k: o["state"] for k, o in state["opts"].items()}})

    def preview(self):
        return self.family.preview({n: self.ema.get(n, m) for n, m in self.nets.items()})

    def apply_changes(self, changes: dict) -> dict:
        refused = sorted(set(changes) - set(live_fields(self.cfg.family)))
        if refused:
            raise ConfigError(f"not changeable while training: {', '.join(refused)}; "
                              f"live settings: {', '.join(live_fields(self.cfg.family))}")
        self.cfg = validate(apply_overrides(self.cfg, changes))
        return changes

    # ------------------------------------------------------------ checkpoint state

    def state_dict(self) -> dict:
        return {
            "family": self.cfg.family,
            "config_toml": to_toml(self.cfg),
            "meta": self.meta,
            "step": self.step,
            "nets": {k: m.state_dict() for k, m in self.nets.items()},
            "ema": {k: m.state_dict() for k, m in self.ema.items()},
            "opts": {k: o.state_dict() for k, o in self.opts.items()},
            "parts": {k: p.state_dict() for k, p in self.family.parts().items()},
            "fixed": self.family.fixed(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None},
            "amp_scalers": self.fast.state_dict(),
            "log": self.log.state_dict(),
            "dataset": self.family.dataset_info(),
        }

    def load_state_dict(self, s: dict) -> None:
        then, now = s.get("dataset", {}).get("n"), self.family.data_count()
        if then is not None and then != now:
            raise CheckpointError(f"the dataset changed since this run was trained ({then:,} samples then, {now:,} now); "
                                  "start a new run")
        try:
            for k, m in self.nets.items():
                m.load_state_dict(s["nets"][k])
            for k, m in self.ema.items():
                m.load_state_dict(s["ema"].get(k) or s["nets"][k])
            for k, o in self.opts.items():
                o.load_state_dict(s["opts"][k])
            for k, p in self.family.parts().items():
                p.load_state_dict(s["parts"][k])
            if s.get("fixed"):
                self.family.set_fixed(s["fixed"])
            self.step = int(s["step"])
            self.log.load_state_dict(s["log"], self.device)
            torch.set_rng_state(s["rng"]["torch"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            # torch's load_state_dict puts a generic heading first and the useful line (which tensor, what shape) after it
            detail = next((ln for ln in lines if not ln.startswith("Error(s) in loading")), lines[0] if lines else type(e).__name__)
            raise CheckpointError(f"checkpoint does not match this model or is incomplete: {detail[:200]}") from None
        if s["rng"].get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(s["rng"]["cuda"])
        if self.ctx.rank > 0:  # the checkpoint holds rank 0's generator: the others draw their own noise
            distributed.seed_rank(self.ctx, self.cfg.seed, self.step)
        self.fast.load_state_dict(s.get("amp_scalers"))
        self.family.step = self.step
        self.diverged = False


def seconds_per_100_steps(cfg, data, device: torch.device | None = None, steps: int = 3,
                          abort: Callable[[], bool] | None = None) -> float | None:
    """How long 100 training steps of `cfg` on `data` take here: `steps` real steps timed after one warm-up.

    The summary the studio shows before training ("about 34 s per 100 steps here"). A throwaway
    Session: nothing is written, and the caller's RNG is left as it was.
    """
    import time

    rng = torch.get_rng_state()
    stop = abort or (lambda: False)
    try:
        session = Session(validate(cfg), data, device or torch.device("cpu"))
        session.train_step(log=False)
        t0 = time.perf_counter()
        for _ in range(steps):
            if stop():
                return None  # the caller has gone: None, not a guess
            session.train_step(log=False)
        return 100 * (time.perf_counter() - t0) / steps
    finally:
        torch.set_rng_state(rng)

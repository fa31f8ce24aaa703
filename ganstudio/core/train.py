"""The one training loop: `iter_train` yields plain events; the CLI prints them, the studio draws them."""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core import health
from ganstudio.core.augment import diff_augment
from ganstudio.core.checkpoint import CheckpointError, RunDir, load_checkpoint
from ganstudio.core.config import TRANSLATION_TASKS, ConfigError, TrainConfig, apply_overrides, from_toml, to_toml, validate
from ganstudio.core.data import Dataset, load_dataset
from ganstudio.core.events import (
    CheckpointSaved,
    Control,
    Evaluated,
    Event,
    HealthWarning,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    SampleGrid,
    SettingsChanged,
    StepMetrics,
    Stopping,
)
from ganstudio.core.losses import LOSSES, clip_weights, gradient_penalty, r1_penalty
from ganstudio.core.models import ModelSpec, build_models
from ganstudio.core.sampling import conditional_labels, grid_columns, make_grid, scatter_plot

# Fields a resumed run may change; the rest shape the model, data or optimiser state.
RESUME_CHANGEABLE = frozenset(
    {"steps", "device", "threads", "log_every", "sample_every", "checkpoint_every", "lr_g", "lr_d",
     "n_critic", "gp_weight", "r1_gamma", "feature_matching", "mode_seeking", "label_smoothing", "instance_noise", "lr_decay",
     "l1_weight", "cycle_weight", "identity_weight", "jitter", "mirror", "eval_every", "keep_best",
     "amp", "channels_last", "cudnn_benchmark", "pin_memory"}
)


def auto_threads(data: Dataset) -> int:
    """All cores for image models; one for 2-D point models.

    A point model's ops are microseconds long: splitting them across threads costs
    more in synchronisation than it gains, and with any other process busy on a
    core, two spinning threads ran a ring8 step 50x slower than one.
    """
    return 1 if getattr(data, "kind", "image") == "points" else (os.cpu_count() or 1)


class StepAborted(Exception):
    """A stop arrived mid-step; the step was undone."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but no CUDA GPU is available (use --device cpu or auto)")
    return torch.device(name)


class BatchSampler:
    """Shuffled batches of indices from an in-memory dataset, epoch by epoch, with its own RNG.

    Indexing a tensor already in memory (on the device) is far cheaper than a
    DataLoader's per-sample fetch and collate; the state is small and saved in
    checkpoints so a resumed run sees exactly the batches it would have.

    In a distributed job (`ctx.world` > 1) each epoch's order comes from a DistributedSampler
    seeded alike on every rank and moved on with set_epoch: the ranks read disjoint shards of one
    shuffle, and `batch_size` is per rank. The state is then (epoch, position), which every rank
    recomputes; a checkpoint carried to a different number of processes starts the next epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device, ctx=None):
        from ganstudio.core.distributed import SINGLE

        self.ctx = ctx or SINGLE
        self.seed = seed
        self.n, self.device = n, device
        self.epoch = 0
        self.pos = 0
        self.pin = False  # page-locked index batches: their copy to the GPU does not block
        if self.ctx.active:
            self.batch_size = max(1, min(batch_size, n // self.ctx.world))
            self.gen = None
            self.perm = self._shard(0)
        else:
            self.batch_size = min(batch_size, n)
            self.gen = torch.Generator().manual_seed(seed)
            self.perm = torch.randperm(n, generator=self.gen)

    def _shard(self, epoch: int) -> torch.Tensor:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(self.n), num_replicas=self.ctx.world, rank=self.ctx.rank,
                                     shuffle=True, seed=self.seed, drop_last=True)
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler), dtype=torch.int64)

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > len(self.perm):  # drop the ragged tail: every batch has batch_size samples
            self.epoch += 1
            self.perm = self._shard(self.epoch) if self.gen is None else torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        if self.pin and not self.perm.is_pinned():
            self.perm = self.perm.pin_memory()
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx.to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        if self.gen is None:
            return {"epoch": self.epoch, "pos": self.pos, "world": self.ctx.world}
        return {"gen": self.gen.get_state(), "perm": self.perm.clone(), "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, s: dict) -> None:
        same_layout = (self.gen is None) == ("gen" not in s) and int(s.get("world", 1)) == self.ctx.world
        if same_layout and self.gen is not None:
            self.gen.set_state(s["gen"])
            self.perm, self.pos, self.epoch = s["perm"].clone(), int(s["pos"]), int(s["epoch"])
        elif same_layout:
            self.epoch, self.pos = int(s["epoch"]), int(s["pos"])
            self.perm = self._shard(self.epoch)
        else:
            # Saved by a job with another number of processes: its batch order cannot continue
            # here; go on with a fresh shuffle from the next epoch (weights, optimisers and step are exact).
            self.epoch, self.pos = int(s.get("epoch", 0)) + 1, 0
            if self.gen is None:
                self.perm = self._shard(self.epoch)
            else:
                self.gen.manual_seed(self.seed + self.epoch)
                self.perm = torch.randperm(self.n, generator=self.gen)


def _layer_groups(module: nn.Module) -> tuple[list[torch.nn.Parameter], list[str], torch.Tensor]:
    """Parameters, their layer names ("net.0"), and an index mapping each parameter to its layer."""
    params, layer_of, names = [], [], []
    for pname, p in module.named_parameters():
        if not p.requires_grad:
            continue
        layer = pname.rsplit(".", 1)[0] if "." in pname else pname
        layer = layer.replace(".parametrizations.weight", "").replace(".weight_orig", "")
        if layer not in names:
            names.append(layer)
        params.append(p)
        layer_of.append(names.index(layer))
    return params, names, torch.tensor(layer_of)


def grad_norms(params: list, layer_names: list[str], layer_index: torch.Tensor, prefix: str) -> dict[str, float]:
    """Total and per-layer L2 norms of the current gradients (one fused kernel per device)."""
    grads = [p.grad for p in params]
    if not grads or any(g is None for g in grads):
        return {}
    norms = torch.stack(torch._foreach_norm(grads)).float().cpu()
    per_layer = torch.zeros(len(layer_names)).index_add_(0, layer_index, norms.square()).sqrt()
    out = {prefix: float(norms.square().sum().sqrt())}
    for name, v in zip(layer_names, per_layer.tolist()):
        out[f"{prefix}/{name}"] = v
    return out


def _optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


def mode_seeking_loss(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's term (Mao et al. 2019): 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|), lower when the
    two samples differ more than their noise vectors do."""
    ratio = (a.float() - b.float()).abs().mean() / (za.float() - zb.float()).abs().mean()
    return 1.0 / (ratio + eps)


def _unpack(out, kw: dict) -> tuple:
    """D's output as (logits, feats or None, class logits or None), whatever was asked of it."""
    if not isinstance(out, tuple):
        return out, None, None
    logits, *rest = out
    feats = rest.pop(0) if kw.get("features") else None
    cls = rest.pop(0) if kw.get("classify") else None
    return logits, feats, cls


def model_spec_for(cfg: TrainConfig, data: Dataset) -> ModelSpec:
    if cfg.conditional and data.num_classes == 0:
        raise ConfigError(f"conditional: dataset {data.name} has no labels (use class sub-folders, or conditional=false)")
    return ModelSpec(
        kind=data.kind,
        channels=data.channels or 1,
        image_size=data.image_size or 0,
        z_dim=cfg.z_dim,
        num_classes=data.num_classes if cfg.conditional else 0,
        g_width=cfg.g_width,
        d_width=cfg.d_width,
        cond_d=cfg.cond_d,
        spectral_norm=cfg.spectral_norm,
        minibatch=cfg.minibatch,
        d_batchnorm=cfg.d_batchnorm,
        d_dropout=cfg.d_dropout,
        aux_classifier=cfg.conditional and cfg.aux_weight > 0,
    )


class Trainer:
    """All state of one run: models, optimisers, sampler, RNG, fixed noise.  Used only by iter_train."""

    def __init__(self, cfg: TrainConfig, data: Dataset, device: torch.device, ctx=None):
        from ganstudio.core import distributed

        self.ctx = ctx or distributed.SINGLE
        self.cfg, self.data, self.device = cfg, data, device
        self.loss = LOSSES.get(cfg.loss)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.spec = model_spec_for(cfg, data)
        try:
            self.G, self.D = build_models(cfg.model, self.spec)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        self.G.to(device)
        self.D.to(device)
        from ganstudio.core import fastpath

        self.fast = fastpath.resolve(cfg, device, [self.G, self.D], image=getattr(data, "kind", "image") != "points")
        # What the training passes call: DistributedDataParallel wrappers once distribute() has run
        # (gradients averaged over ranks), the models themselves otherwise. Previews, the EMA,
        # penalties and G's pass through a frozen D use the bare models: no gradient to share.
        self.G_train, self.D_train = self.G, self.D
        self.G_ema = None
        if cfg.ema > 0:
            self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = _optimizer(cfg, self.G.parameters(), cfg.lr_g)
        self.opt_d = _optimizer(cfg, self.D.parameters(), cfg.lr_d)
        self.x = data.x.pin_memory().to(device, non_blocking=True) if self.fast.pin_memory else data.x.to(device)
        self.y = data.labels.to(device) if (data.labels is not None and self.spec.num_classes) else None
        self.sampler = BatchSampler(len(self.x), cfg.batch_size, cfg.seed + 1, device, self.ctx)
        self.sampler.pin = self.fast.pin_memory
        # Fixed noise (and labels: one class per row) for the sample timeline: the same z every time.
        g = torch.Generator().manual_seed(cfg.seed + 2)
        if self.spec.num_classes:
            self.fixed_y = conditional_labels(self.spec.num_classes, cfg.sample_count)
        else:
            self.fixed_y = None
        n_fixed = len(self.fixed_y) if self.fixed_y is not None else cfg.sample_count
        self.fixed_z = torch.randn(n_fixed, cfg.z_dim, generator=g)
        self.step = 0
        self.diverged = False  # a NaN was seen and not yet rolled back: never save this state
        self.g_params, self.g_layers, self.g_index = _layer_groups(self.G)
        self.d_params, self.d_layers, self.d_index = _layer_groups(self.D)
        # Real and fake can share one D pass unless D's BatchNorm would mix their statistics.
        # Only on GPUs does the doubled batch pay: on the CPU two passes of 128 measured
        # faster than one of 256 (dcgan-tf D, 2 threads: 106 vs 116 ms forward+backward).
        self.joint_d = device.type == "cuda" and not (self.D.has_batchnorm and cfg.separate_batches)
        self.acc = torch.zeros(4, dtype=torch.float64, device=device)  # loss/d, loss/g, d/real, d/fake since the last log
        self.acc_n = 0
        self.extra_acc: dict[str, torch.Tensor] = {}
        self.real_ref = health.reference_batch(data, cfg.sample_count, cfg.seed + 3)

    def distribute(self) -> None:
        """Wrap G and D for a distributed job (collective: every rank calls it, in step)."""
        from ganstudio.core import distributed

        if not self.ctx.active:
            return
        self.G_train = distributed.wrap(self.G, self.ctx, self.device)
        self.D_train = distributed.wrap(self.D, self.ctx, self.device)
        self.G, self.D = self.G_train.module, self.D_train.module  # SyncBatchNorm may have replaced layers
        distributed.seed_rank(self.ctx, self.cfg.seed)  # each rank draws its own noise

    # ------------------------------------------------------------ one step

    def _lr_factor(self) -> float:
        if not self.cfg.lr_decay:
            return 1.0
        half = self.cfg.steps / 2
        return 1.0 if self.step < half else max(0.0, (self.cfg.steps - self.step) / half)

    def _d_input(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.diffaugment:
            x = diff_augment(x, cfg.diffaugment)
        if cfg.instance_noise > 0:
            sigma = cfg.instance_noise * max(0.0, 1.0 - self.step / cfg.steps)  # annealed to 0 by the end
            if sigma > 0:
                x = x + sigma * torch.randn_like(x)
        return x

    def _add_extra(self, key: str, value: torch.Tensor) -> None:
        v = value.detach().double()
        self.extra_acc[key] = self.extra_acc[key] + v if key in self.extra_acc else v

    def _snapshot(self) -> tuple:
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        smp = self.sampler  # perm is replaced, never mutated, so a reference is a snapshot
        # BatchNorm running statistics (and spectral-norm vectors) change in the forward pass
        buffers = [b.clone() for m in (self.G, self.D) for b in m.buffers()]
        gen = smp.gen.get_state() if smp.gen is not None else None
        return (torch.get_rng_state(), cuda, (gen, smp.perm, smp.pos, smp.epoch), dict(self.extra_acc), buffers)

    def _restore(self, snap: tuple) -> None:
        torch.set_rng_state(snap[0])
        if snap[1] is not None:
            torch.cuda.set_rng_state_all(snap[1])
        smp = self.sampler
        if snap[2][0] is not None:
            smp.gen.set_state(snap[2][0])
        smp.perm, smp.pos, smp.epoch = snap[2][1:]
        self.extra_acc = snap[3]
        with torch.no_grad():
            for b, saved in zip((b for m in (self.G, self.D) for b in m.buffers()), snap[4]):
                b.copy_(saved)

    def train_step(self, log: bool, abort: Callable[[], bool] | None = None) -> dict[str, float]:
        """One G update after n_critic D updates.

        `abort` is polled once the first D gradient is computed, before any weight
        changes: a stop pressed mid-step takes effect within about half a step, and
        the step is undone (RNG and batch order restored) so the checkpoint written
        next is exactly the state after the previous step.
        """
        cfg, loss, G, D = self.cfg, self.loss, self.G, self.D
        G_t, D_t = self.G_train, self.D_train
        snap = self._snapshot() if abort is not None else None
        f = self._lr_factor()
        for group in self.opt_g.param_groups:
            group["lr"] = cfg.lr_g * f
        for group in self.opt_d.param_groups:
            group["lr"] = cfg.lr_d * f
        real_target = 1.0 - cfg.label_smoothing
        want_feats = cfg.feature_matching > 0
        aux = cfg.aux_weight if D.aux is not None else 0.0  # self.D is the bare module, never a DDP wrapper
        d_kw = dict(features=want_feats, classify=aux > 0)
        grads: dict[str, float] = {}
        B = self.sampler.batch_size
        reuse_fake = cfg.n_critic == 1  # one G forward serves the D step (detached) and the G step
        fake = y = real = None
        feats_real = None
        seek = cfg.mode_seeking
        half = B // 2
        # mode seeking pairs sample i with sample half+i: fakes get the classes of rows `pair` of the batch
        pair = None
        if seek and self.y is not None:
            pair = torch.cat([torch.arange(half), torch.arange(half), torch.arange(2 * half, B)]).to(self.device)

        fp = self.fast
        # --- D (critic) updates
        for i in range(cfg.n_critic):
            idx = self.sampler.next()
            real = fp.images(self.x.index_select(0, idx))
            y = self.y.index_select(0, idx) if self.y is not None else None
            y_fake = y.index_select(0, pair) if pair is not None else y
            z = torch.randn(B, cfg.z_dim, device=self.device)
            with fp.autocast():
                if reuse_fake:
                    fake = G_t(z, y_fake)
                    fake_d = fake.detach()
                else:
                    with torch.no_grad():
                        fake_d = G(z, y_fake)
                real_in, fake_in = self._d_input(real), self._d_input(fake_d)
                if self.joint_d:
                    logits, feats, cls = _unpack(D_t(torch.cat([real_in, fake_in]), None if y is None else torch.cat([y, y_fake]),
                                                     **d_kw), d_kw)
                    lr_, lf_ = logits[:B], logits[B:]
                    if want_feats:
                        feats_real = feats[:B].detach()
                    cls_real = cls[:B] if cls is not None else None
                else:
                    lr_, feats_r, cls_real = _unpack(D_t(real_in, y, **d_kw), d_kw)
                    lf_ = D_t(fake_in, y_fake)
                    if want_feats:
                        feats_real = feats_r.detach()
                loss_d = loss.d_loss(lr_, lf_, real_target)
                if aux:
                    ce = F.cross_entropy(cls_real.float(), y)  # real images only: see TrainConfig.aux_weight
                    self._add_extra("loss/aux_d", ce)
                    loss_d = loss_d + aux * ce
            if loss.penalty == "gp":
                with fp.full_precision():
                    # each interpolate lies between a real and a fake of one class, scored under that class
                    real_gp = real_in if pair is None else real_in.index_select(0, pair)
                    gp = gradient_penalty(D, real_gp.float(), fake_in.float(), y_fake)
                self._add_extra("loss/gp", gp)
                loss_d = loss_d + cfg.gp_weight * gp
            elif loss.penalty == "r1":
                with fp.full_precision():
                    r1 = r1_penalty(D, real_in.float(), y)
                self._add_extra("loss/r1", r1)
                loss_d = loss_d + 0.5 * cfg.r1_gamma * r1
            self.opt_d.zero_grad(set_to_none=True)
            fp.backward(loss_d, "d")
            if i == 0 and abort is not None and abort():
                self._restore(snap)
                raise StepAborted
            if log and i == cfg.n_critic - 1:
                fp.unscale(self.opt_d, "d")
                grads.update(grad_norms(self.d_params, self.d_layers, self.d_index, "grad_norm/d"))
            fp.step(self.opt_d, "d")
            if loss.clip:
                clip_weights(D, cfg.clip_value)

        # --- G update; D's weights need no gradient here (saves a third of D's backward)
        D.requires_grad_(False)
        try:
            with fp.autocast():
                if not reuse_fake:
                    z = torch.randn(B, cfg.z_dim, device=self.device)
                    fake = G_t(z, y_fake)
                lf_g, feats_fake, cls_fake = _unpack(D(self._d_input(fake), y_fake, **d_kw), d_kw)
                loss_g = loss.g_loss(lf_g)
                if seek and half:
                    ms = mode_seeking_loss(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
                    self._add_extra("loss/mode_seeking", ms)
                    loss_g = loss_g + seek * ms
                if aux:
                    ce = F.cross_entropy(cls_fake.float(), y_fake)
                    self._add_extra("loss/aux_g", ce)
                    loss_g = loss_g + aux * ce
                if want_feats:
                    fm = (feats_real.float().mean(0) - feats_fake.float().mean(0)).square().mean()
                    self._add_extra("loss/feature_matching", fm)
                    loss_g = loss_g + cfg.feature_matching * fm
            self.opt_g.zero_grad(set_to_none=True)
            fp.backward(loss_g, "g")
        finally:
            D.requires_grad_(True)
        if log:
            fp.unscale(self.opt_g, "g")
            grads.update(grad_norms(self.g_params, self.g_layers, self.g_index, "grad_norm/g"))
        fp.step(self.opt_g, "g")
        if self.G_ema is not None:
            self._update_ema()

        self._count_step(loss_d, loss_g, lr_, lf_)
        return grads

    @torch.no_grad()
    def _count_step(self, loss_d, loss_g, real_logits, fake_logits) -> None:
        """Add this step's losses and mean D outputs (probabilities or critic values) to the log averages."""
        if self.loss.output == "prob":
            dr, df = torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()
        else:
            dr, df = real_logits.mean(), fake_logits.mean()
        self.acc += torch.stack([loss_d.detach(), loss_g.detach(), dr, df]).double()
        self.acc_n += 1
        self.step += 1

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up: a fixed 0.999 would average in the random initial weights for the first
        # thousand steps (blank previews, false mode-collapse hints); (1+t)/(10+t) ramps the
        # decay up so the average follows G early and reaches the configured value later.
        d = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
        ema_p = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in self.G.parameters()], 1.0 - d)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)  # BatchNorm running statistics follow G's

    def take_metrics(self, seconds: float) -> dict[str, float]:
        n = max(self.acc_n, 1)
        ld, lg, dr, df = (self.acc / n).tolist()
        out = {"loss/d": ld, "loss/g": lg, "d/real": dr, "d/fake": df}
        for k, v in self.extra_acc.items():
            out[k] = float(v) / (n * (self.cfg.n_critic if k in ("loss/gp", "loss/r1") else 1))
        # every rank trains on its own batch: the job's rate is world × this rank's
        out["img_per_s"] = self.acc_n * self.sampler.batch_size * self.cfg.n_critic * self.ctx.world / max(seconds, 1e-9)
        out["lr/g"] = self.opt_g.param_groups[0]["lr"]
        out["lr/d"] = self.opt_d.param_groups[0]["lr"]
        self.acc.zero_()
        self.acc_n = 0
        self.extra_acc = {}
        return out

    def metrics_finite(self) -> bool:
        return bool(torch.isfinite(self.acc).all()) and all(bool(torch.isfinite(v)) for v in self.extra_acc.values())

    def healthy(self) -> bool:
        """Safe to checkpoint: no divergence pending and no non-finite loss since the last log."""
        return not self.diverged and self.metrics_finite()

    # ------------------------------------------------------------ samples

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """G (or its EMA) on the fixed noise, BatchNorm normalising with the fixed batch's own statistics.

        Early in training BatchNorm's running averages lag far behind the weights
        (dcgan-tf keeps Keras' momentum of 0.01), so eval-mode grids looked worse than
        the generator was; the fixed batch of 64 is a sound normaliser, as in the
        PyTorch DCGAN example.  Running statistics are neither used nor changed.
        """
        G = self.G_ema if self.G_ema is not None else self.G
        was_training = G.training
        G.eval()
        norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.train()
            m.track_running_stats = False
        try:
            y = None if self.fixed_y is None else self.fixed_y.to(self.device)
            return G(self.fixed_z.to(self.device), y).float().cpu()
        finally:
            for m in norms:
                m.track_running_stats = True
            G.train(was_training)

    def render(self, samples: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        if self.data.kind == "points":
            pts = samples.numpy().astype(np.float32)
            return scatter_plot(pts, self.data.centers, sigma=self.data.sigma), pts
        return make_grid(samples, ncol=grid_columns(len(samples), self.spec.num_classes)), None

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        cuda_rng = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        return {
            "task": "generate",  # image-translation checkpoints say "translate"
            "config_toml": to_toml(self.cfg),
            "model_name": self.cfg.model,
            "model_spec": dataclasses.asdict(self.spec),
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "cuda": cuda_rng},
            "sampler": self.sampler.state_dict(),
            "amp_scalers": self.fast.state_dict(),
            "fixed_z": self.fixed_z,
            "fixed_y": self.fixed_y,
            "acc": self.acc.cpu(),
            "acc_n": self.acc_n,
            "extra_acc": {k: v.cpu() for k, v in self.extra_acc.items()},
            "dataset": {
                "name": self.data.name,
                "n": len(self.data),
                "kind": self.data.kind,
                "classes": list(self.data.classes),
                "centers": None if self.data.centers is None else np.asarray(self.data.centers).tolist(),
                "sigma": self.data.sigma,
            },
        }

    def load_state_dict(self, s: dict) -> None:
        then = s.get("dataset", {}).get("n", len(self.data)) if isinstance(s.get("dataset"), dict) else len(self.data)
        if then != len(self.data):
            raise CheckpointError(
                f"the dataset changed since this run was trained ({then:,} samples then, {len(self.data):,} now); "
                "start a new run"
            )
        try:
            self.G.load_state_dict(s["G"])
            self.D.load_state_dict(s["D"])
            if self.G_ema is not None:
                self.G_ema.load_state_dict(s["G_ema"] if s.get("G_ema") is not None else s["G"])
            self.opt_g.load_state_dict(s["opt_g"])
            self.opt_d.load_state_dict(s["opt_d"])
            self.sampler.load_state_dict(s["sampler"])
            self.fixed_z = s["fixed_z"]
            self.fixed_y = s["fixed_y"]
            self._load_progress(s)
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
            msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            raise CheckpointError(f"checkpoint does not match this model or is incomplete: {msg}") from None
        self.diverged = False

    def _load_progress(self, s: dict) -> None:
        """Step, log averages and RNG states from a checkpoint: the part every trainer shares."""
        self.step = int(s["step"])
        self.acc = s["acc"].to(self.device)
        self.acc_n = int(s["acc_n"])
        self.extra_acc = {k: v.to(self.device) for k, v in s.get("extra_acc", {}).items()}
        torch.set_rng_state(s["rng"]["torch"])
        if s["rng"].get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(s["rng"]["cuda"])
        if self.ctx.rank > 0:  # the checkpoint holds rank 0's generator: the others draw their own noise
            from ganstudio.core.distributed import seed_rank

            seed_rank(self.ctx, self.cfg.seed, self.step)
        self.fast.load_state_dict(s.get("amp_scalers"))

    def apply_changes(self, changes: dict) -> dict:
        cfg = dataclasses.replace(self.cfg, **changes)
        validate(cfg)
        self.cfg = cfg
        return changes


def check_resume_changes(saved: TrainConfig, cfg: TrainConfig) -> None:
    """Refuse changes a resume cannot make (model, data, optimiser shape) with the fields named."""
    diff = [f.name for f in dataclasses.fields(TrainConfig)
            if getattr(saved, f.name) != getattr(cfg, f.name) and f.name not in RESUME_CHANGEABLE]
    if diff:
        raise ConfigError(f"cannot change {', '.join(diff)} when resuming (they shape the model or data); start a new run instead")


def resume_config(run_dir: str | Path, overrides: dict) -> TrainConfig:
    """The config a resume of `run_dir` trains with: the saved one, with `overrides` applied and checked."""
    run = RunDir(run_dir)
    if not run.latest_checkpoint.is_file():
        raise CheckpointError(f"{run.path}: no checkpoint to resume from (expected checkpoints/latest.pt)")
    saved, _ = config_from_checkpoint(run.latest_checkpoint)
    cfg = apply_overrides(saved, overrides)
    check_resume_changes(saved, cfg)
    return validate(cfg)


def config_from_checkpoint(path: str | Path) -> tuple[TrainConfig, dict]:
    state = load_checkpoint(path)
    try:
        cfg = from_toml(state["config_toml"], source=str(path))
    except KeyError:
        raise CheckpointError(f"{path}: checkpoint has no config") from None
    return cfg, state


def iter_train(
    cfg: TrainConfig,
    run_dir: str | Path | RunDir,
    control: Control | None = None,
    *,
    resume: bool = False,
    data: Dataset | None = None,
    ctx=None,
) -> Iterator[Event]:
    """Train, yielding events; `resume=True` continues the run in `run_dir` from checkpoints/latest.pt.

    When resuming, `cfg` is the run's config with any RESUME_CHANGEABLE fields
    changed by the caller; other differences raise ConfigError.  Stop, pause,
    single steps and live settings come through `control` between steps.

    `ctx` (distributed.from_env() under torchrun) makes this one rank of a distributed job:
    every rank trains, only rank 0 reads and writes the run directory, and a stop on any rank
    (Ctrl-C, SIGTERM) ends all of them after the same step.
    """
    from ganstudio.core import distributed

    ctx = ctx or distributed.SINGLE
    control = control or Control()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if not ctx.active:
        yield from _prepare_and_run(cfg, run, control, resume, data, ctx, None)
        return
    owner = not distributed.initialized()  # a caller that joined the group itself also leaves it
    device = distributed.setup(ctx, cfg.device)
    finished = False
    try:
        yield from _prepare_and_run(cfg, run, control, resume, data, ctx, device)
        finished = True
    finally:
        if owner:
            distributed.shutdown(together=finished)


def _prepare_and_run(cfg, run: RunDir, control: Control, resume: bool, data, ctx, device) -> Iterator[Event]:
    from ganstudio.core import distributed

    # Setup errors are agreed: a rank that fails alone would leave the others waiting in a collective.
    state = None
    trainer = None
    error = None
    try:
        cfg = validate(cfg)
        if ctx.main:
            if resume:
                run.open_existing()
                saved_cfg, state = config_from_checkpoint(run.latest_checkpoint)
                check_resume_changes(saved_cfg, cfg)
            else:
                run.ensure_new()
        device = device or resolve_device(cfg.device)
        if cfg.model in TRANSLATION_TASKS:
            from ganstudio.core.pairs import load_translation_data
            from ganstudio.core.translation_train import TranslationTrainer

            data = data or load_translation_data(cfg.dataset, cfg.image_size, cfg.channels)
            torch.set_num_threads(cfg.threads or auto_threads(data))
            trainer = TranslationTrainer(cfg, data, device, ctx)
        else:
            data = data or load_dataset(cfg.dataset, cfg.image_size, cfg.channels, seed=cfg.seed)
            torch.set_num_threads(cfg.threads or auto_threads(data))
            trainer = Trainer(cfg, data, device, ctx)
        if ctx.main:
            if not resume:
                run.create()  # only now: bad data or a bad model spec leaves nothing behind
            run.lock()  # one writer per run: a second trainer of the same run is refused
    except Exception as e:
        if not ctx.active:
            raise
        user_error = isinstance(e, (ConfigError, CheckpointError, OSError, ValueError))
        error = e
    if ctx.active:
        # (rank, message, a user's mistake?) of the first rank that failed, seen by all
        shared = distributed.first_error(ctx, None if error is None else
                                         (ctx.rank, str(error), user_error))
        if shared:
            if ctx.main and trainer is not None:
                run.close()
            rank, message, user = shared
            if rank == ctx.rank and not user:
                raise error
            raise ConfigError(message if rank == 0 else f"rank {rank}: {message}")
        trainer.distribute()  # collectives start here, with every rank known to be ready
        state = distributed.broadcast(ctx, state if resume else None)
    loop = _run_loop(cfg, run, control, trainer, data, device, state, resume)
    try:
        for ev in loop:
            if ctx.main and isinstance(ev, HealthWarning) and ev.kind != "settings":
                # also on disk: the studio following this run from elsewhere shows the same warnings
                try:
                    run.append_health({"step": ev.step, "kind": ev.kind, "message": ev.message, "advice": ev.advice})
                except OSError:
                    pass  # a full disk must not end training over a warning; the event still goes out
            yield ev
    finally:
        loop.close()  # a consumer that stops early: the loop saves what was trained
        if ctx.main:
            run.close()


def _run_loop(cfg, run: RunDir, control: Control, trainer: Trainer, data: Dataset, device, state, resume: bool) -> Iterator[Event]:
    from ganstudio.core.distributed import any_rank

    ctx = trainer.ctx
    main = ctx.main  # only rank 0 writes: config, metrics, samples, checkpoints, evaluations
    if state is not None:
        trainer.load_state_dict(state)
        if main:
            run.truncate_metrics_after(trainer.step)
        state = None
    if main:
        run.write_config(to_toml(cfg))
    monitor = health.HealthMonitor(cfg, trainer.loss.output, trainer.real_ref)

    yield RunStarted(
        step=trainer.step, run_dir=str(run.path), total_steps=cfg.steps, device=str(device), config=cfg.to_dict(),
        dataset=data.summary(), skipped=data.skipped_report(), resumed=resume,
        centers=None if getattr(data, "centers", None) is None else np.asarray(data.centers, np.float64),
    )

    last_ckpt = str(run.latest_checkpoint) if main and run.latest_checkpoint.exists() else ""
    saved_step = trainer.step if last_ckpt else -1

    def save(periodic: bool) -> Iterator[Event]:
        nonlocal last_ckpt, saved_step
        if not main:
            last_ckpt, saved_step = str(run.latest_checkpoint), trainer.step
            return
        if not trainer.healthy():  # never let a diverged state replace the last good checkpoint
            yield HealthWarning(step=trainer.step, kind="settings", advice="",
                                message=f"checkpoint not written: training has diverged; {last_ckpt or 'no checkpoint'} is kept")
            return
        path = run.save_checkpoint(trainer.step, trainer.state_dict(), periodic)
        last_ckpt, saved_step = str(path), trainer.step
        yield CheckpointSaved(step=trainer.step, path=str(run.checkpoint_path(trainer.step) if periodic else path))

    def sample() -> Iterator[Event]:
        if not main:
            return
        samples = trainer.sample_fixed()
        image, points = trainer.render(samples)
        path = run.save_sample(trainer.step, image)
        yield SampleGrid(step=trainer.step, image=image, path=str(path), points=points)
        warning = monitor.check_samples(trainer.step, samples)
        if warning:
            yield warning

    evaluator = None  # a child process scoring step checkpoints (eval_every); created on first use

    def evaluate_step(step: int) -> None:
        nonlocal evaluator
        path = run.checkpoint_path(step)
        if not path.is_file():  # not written (a diverged state is never saved)
            return
        if evaluator is None:
            from ganstudio.core.evaluate import BackgroundEvaluator

            evaluator = BackgroundEvaluator(run.path, keep_best=trainer.cfg.keep_best)
        evaluator.keep_best = trainer.cfg.keep_best
        evaluator.submit(step, path)

    def evaluations(results: list[dict]) -> Iterator[Event]:
        for r in results:
            yield Evaluated(step=r["step"], checkpoint=r["checkpoint"], values=r["values"], seconds=r["seconds"],
                            best=r["best"], error=r["error"])

    if trainer.step == 0:
        yield from sample()
        # A checkpoint from the start: a run that diverges early can still roll back.
        yield from save(periodic=False)

    reason = "completed"
    t_log = time.perf_counter()
    try:
        while trainer.step < trainer.cfg.steps:
            if any_rank(ctx, control.stop_requested):  # one tiny all-reduce a step in a distributed job
                reason = "stopped"
                break
            if control.take_save_request():
                yield from save(periodic=True)
            if control.paused:
                yield Paused(step=trainer.step)
                action = control.wait_while_paused()
                if action == "stop":
                    reason = "stopped"
                    break
                if action == "save":
                    continue  # saved at the top of the loop, then paused again
                if not control.paused:
                    yield Resumed(step=trainer.step)
                t_log = time.perf_counter()
            changes = control.take_changes()
            if changes:
                try:
                    trainer.apply_changes(changes)
                    run.write_config(to_toml(trainer.cfg))
                    yield SettingsChanged(step=trainer.step, changes=changes)
                except (ConfigError, TypeError) as e:
                    yield HealthWarning(step=trainer.step, kind="settings", message=f"setting change refused: {e}", advice="")

            cfg = trainer.cfg
            log = (trainer.step + 1) % cfg.log_every == 0 or trainer.step + 1 == cfg.steps
            try:
                # Mid-step aborts are for one process; ranks stop together, between steps.
                grads = trainer.train_step(log, abort=None if ctx.active else (lambda: control.stop_requested))
            except StepAborted:
                reason = "stopped"
                break
            step = trainer.step

            if log:
                if ctx.active and any_rank(ctx, not trainer.metrics_finite()):
                    # No one is at a window to roll back a distributed job: end it, keeping the last good checkpoint.
                    trainer.diverged = True
                    yield StepMetrics(step=step, values=trainer.take_metrics(time.perf_counter() - t_log))
                    yield health.nan_warning(step, last_ckpt)
                    reason = "diverged"
                    break
                if not trainer.metrics_finite():
                    trainer.diverged = True
                    now = time.perf_counter()
                    values = trainer.take_metrics(now - t_log)
                    yield StepMetrics(step=step, values=values)
                    yield health.nan_warning(step, last_ckpt)
                    control.pause()
                    yield Paused(step=step, reason="diverged")
                    action = control.wait_while_paused()
                    while action == "save":  # the last good checkpoint is already on disk
                        control.take_save_request()
                        action = control.wait_while_paused()
                    if action == "stop" or not last_ckpt:
                        reason = "diverged"
                        break
                    # Resume after a divergence: roll back to the last good checkpoint, keep new settings.
                    good = load_checkpoint(last_ckpt)
                    new_cfg = trainer.cfg
                    trainer.load_state_dict(good)
                    trainer.cfg = new_cfg
                    run.truncate_metrics_after(trainer.step)
                    yield Resumed(step=trainer.step)
                    t_log = time.perf_counter()
                    continue
                now = time.perf_counter()
                values = trainer.take_metrics(now - t_log)
                t_log = now
                values.update(grads)
                if main:
                    run.append_metrics({"step": step, **values})
                yield StepMetrics(step=step, values=values)
                for w in monitor.check_metrics(step, values):
                    yield w
            if step % cfg.sample_every == 0 or step == cfg.steps:
                yield from sample()
            evaluate_now = cfg.eval_every > 0 and step % cfg.eval_every == 0
            if step % cfg.checkpoint_every == 0 or evaluate_now:
                yield from save(periodic=True)
            if evaluate_now and main:
                evaluate_step(step)
            if evaluator is not None:
                yield from evaluations(evaluator.poll())
    except GeneratorExit:
        # The consumer closed us (window closed, Ctrl-C): keep what was trained, if sound.
        if evaluator is not None:
            evaluator.close()
        if main and trainer.healthy() and trainer.step > saved_step:
            run.save_checkpoint(trainer.step, trainer.state_dict(), periodic=False)
        raise
    if reason == "stopped":
        yield Stopping(step=trainer.step)  # training has stopped; the checkpoint is written next
    if reason != "diverged" and saved_step != trainer.step:
        yield from save(periodic=False)
    if evaluator is not None:
        if reason == "completed":  # the last evaluation decides best.pt: let it finish
            yield from evaluations(evaluator.wait(timeout=600))
        evaluator.close()
    yield RunFinished(step=trainer.step, reason=reason, checkpoint=last_ckpt)

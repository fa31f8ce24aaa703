"""pix2pix and CycleGAN training state, stepped by the one loop (iter_train) like the noise-to-image Trainer."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import torch

from ganstudio.core import health
from ganstudio.core.augment import shift_images
from ganstudio.core.config import ConfigError, TrainConfig, to_toml
from ganstudio.core.pairs import TranslationData
from ganstudio.core.sampling import make_grid
from ganstudio.core.translation_models import (
    ImagePool,
    TranslationSpec,
    bce_d_loss,
    bce_g_loss,
    build_generator,
    build_patchgan,
    l1,
    lsgan_d_loss,
    lsgan_g_loss,
)

PREVIEW_ROWS = 4  # examples per direction in the preview grid


def translation_spec(cfg: TrainConfig, data: TranslationData, reverse: bool = False) -> TranslationSpec:
    ca, cb = data.a.shape[1], data.b.shape[1]
    return TranslationSpec(
        in_channels=cb if reverse else ca, out_channels=ca if reverse else cb, image_size=data.a.shape[-1],
        g_width=cfg.g_width, d_width=cfg.d_width, unet_depth=cfg.unet_depth, dropout=cfg.g_dropout,
        resnet_blocks=cfg.resnet_blocks, resnet_down=cfg.resnet_down, norm=cfg.norm,
    )


def jitter_pairs(a: torch.Tensor, b: torch.Tensor, shift: int, mirror: bool, paired: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """pix2pix's random jitter and mirroring of a batch: each image moves by up to `shift` pixels
    (reflect-padded, so no black borders) and is mirrored with probability 1/2. Paired batches move
    A[i] and B[i] together, so the pair stays aligned. Draws from torch's RNG, which checkpoints keep."""
    def draw(n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        offs = torch.randint(-shift, shift + 1, (n, 2), device=device) if shift else None
        flips = torch.rand(n, device=device) < 0.5 if mirror else None
        return offs, flips

    def apply(x: torch.Tensor, offs: torch.Tensor | None, flips: torch.Tensor | None) -> torch.Tensor:
        if offs is not None:
            mode = "reflect" if shift < min(x.shape[-2:]) else "replicate"
            x = shift_images(x, offs[:, 0], offs[:, 1], shift, shift, mode)
        return x if flips is None else torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)

    oa, fa = draw(len(a), a.device)
    ob, fb = (oa, fa) if paired else draw(len(b), b.device)
    return apply(a, oa, fa), apply(b, ob, fb)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class TranslationTrainer:
    """pix2pix (U-Net G, PatchGAN D on (input, output) pairs, adversarial + λ·L1) or CycleGAN
    (two ResNet Gs, two PatchGANs, LSGAN + cycle + identity losses, pools of past fakes)."""

    def __init__(self, cfg: TrainConfig, data: TranslationData, device: torch.device, ctx=None):
        from ganstudio.core import distributed
        from ganstudio.core.train import BatchSampler, _layer_groups, _optimizer

        self.ctx = ctx or distributed.SINGLE
        self.cfg, self.data, self.device = cfg, data, device
        self.task = cfg.model
        if self.task == "pix2pix" and not data.paired:
            raise ConfigError(f"pix2pix needs paired data; {data.name} is unpaired (use cyclegan)")
        self.loss = SimpleNamespace(output="prob" if self.task == "pix2pix" else "critic")
        torch.manual_seed(cfg.seed)
        self.spec = translation_spec(cfg, data)
        try:
            if self.task == "pix2pix":
                self.G = build_generator("unet", self.spec)
                self.D = build_patchgan(self.spec.in_channels + self.spec.out_channels, self.spec)
                self.F = self.D_A = None
            else:
                self.spec_ba = translation_spec(cfg, data, reverse=True)
                self.G = build_generator("resnet", self.spec)
                self.F = build_generator("resnet", self.spec_ba)
                self.D = build_patchgan(self.spec.out_channels, self.spec)  # judges domain B
                self.D_A = build_patchgan(self.spec.in_channels, self.spec)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        self.gens = [m for m in (self.G, self.F) if m is not None]
        self.discs = [m for m in (self.D, self.D_A) if m is not None]
        for m in self.gens + self.discs:
            m.to(device)
        from ganstudio.core import fastpath

        self.fast = fastpath.resolve(cfg, device, self.gens + self.discs, image=True)
        # Training passes go through DistributedDataParallel once distribute() has run (see
        # Trainer); D's pass in G's update and the previews use the bare models.
        self.G_t, self.D_t, self.F_t, self.D_A_t = self.G, self.D, self.F, self.D_A
        g_params = [p for m in self.gens for p in m.parameters()]
        d_params = [p for m in self.discs for p in m.parameters()]
        self.opt_g = _optimizer(cfg, g_params, cfg.lr_g)
        self.opt_d = _optimizer(cfg, d_params, cfg.lr_d)
        if self.fast.pin_memory:
            self.a, self.b = (t.pin_memory().to(device, non_blocking=True) for t in (data.a, data.b))
        else:
            self.a, self.b = data.a.to(device), data.b.to(device)
        self.sampler = BatchSampler(len(self.a), cfg.batch_size, cfg.seed + 1, device, self.ctx)
        self.sampler_b = None if data.paired else BatchSampler(len(self.b), cfg.batch_size, cfg.seed + 4, device, self.ctx)
        for smp in (self.sampler, self.sampler_b):
            if smp is not None:
                smp.pin = self.fast.pin_memory
        self.pool_a = ImagePool(cfg.pool_size, torch.Generator().manual_seed(cfg.seed + 5))
        self.pool_b = ImagePool(cfg.pool_size, torch.Generator().manual_seed(cfg.seed + 6))
        # the preview: the first held-out examples (training ones when nothing is held out)
        src_a = data.held_out_a if data.held_out_a is not None and len(data.held_out_a) else data.a
        src_b = data.held_out_b if data.held_out_b is not None and len(data.held_out_b) else data.b
        self.fixed_a, self.fixed_b = src_a[:PREVIEW_ROWS].clone(), src_b[:PREVIEW_ROWS].clone()
        self.step = 0
        self.diverged = False
        self.g_params, self.g_layers, self.g_index = _layer_groups(self.G)
        self.d_params, self.d_layers, self.d_index = _layer_groups(self.D)
        self.acc = torch.zeros(4, dtype=torch.float64, device=device)
        self.acc_n = 0
        self.extra_acc: dict[str, torch.Tensor] = {}
        self.real_ref = health.reference_batch(SimpleNamespace(x=data.b), cfg.sample_count, cfg.seed + 3)

    # the Trainer's bookkeeping is shared as is
    from ganstudio.core.train import Trainer as _T

    _lr_factor = _T._lr_factor
    _add_extra = _T._add_extra
    _count_step = _T._count_step
    _load_progress = _T._load_progress
    take_metrics = _T.take_metrics
    metrics_finite = _T.metrics_finite
    healthy = _T.healthy
    apply_changes = _T.apply_changes
    del _T

    def distribute(self) -> None:
        """Wrap the four networks for a distributed job (collective: every rank calls it, in step)."""
        from ganstudio.core import distributed

        if not self.ctx.active:
            return
        self.G_t, self.D_t = distributed.wrap(self.G, self.ctx, self.device), distributed.wrap(self.D, self.ctx, self.device)
        self.G, self.D = self.G_t.module, self.D_t.module
        if self.F is not None:
            self.F_t, self.D_A_t = distributed.wrap(self.F, self.ctx, self.device), distributed.wrap(self.D_A, self.ctx, self.device)
            self.F, self.D_A = self.F_t.module, self.D_A_t.module
        self.gens = [m for m in (self.G, self.F) if m is not None]
        self.discs = [m for m in (self.D, self.D_A) if m is not None]
        distributed.seed_rank(self.ctx, self.cfg.seed)  # each rank its own dropout masks

    def _set_lr(self) -> None:
        f = self._lr_factor()
        for g in self.opt_g.param_groups:
            g["lr"] = self.cfg.lr_g * f
        for g in self.opt_d.param_groups:
            g["lr"] = self.cfg.lr_d * f

    def train_step(self, log: bool, abort=None) -> dict[str, float]:
        """One G and one D update; a stop request is honoured between steps."""
        from ganstudio.core.train import StepAborted, grad_norms

        if abort is not None and abort():
            raise StepAborted
        self._set_lr()
        cfg = self.cfg
        grads: dict[str, float] = {}
        fp = self.fast
        idx = self.sampler.next()
        a = self.a.index_select(0, idx)
        b = self.b.index_select(0, idx if self.sampler_b is None else self.sampler_b.next())
        if cfg.jitter or cfg.mirror:
            a, b = jitter_pairs(a, b, cfg.jitter, cfg.mirror, paired=self.sampler_b is None)
        a, b = fp.images(a), fp.images(b)
        for d in self.discs:
            d.requires_grad_(False)
        try:
            G, F = self.G_t, self.F_t
            with fp.autocast():
                if self.task == "pix2pix":
                    fake_b = G(a)
                    lf = self.D(torch.cat([a, fake_b], 1))
                    loss_gan = bce_g_loss(lf)
                    loss_l1 = l1(fake_b.float(), b)
                    self._add_extra("loss/l1", loss_l1)
                    loss_g = loss_gan + cfg.l1_weight * loss_l1
                else:
                    fake_b, fake_a = G(a), F(b)
                    rec_a, rec_b = F(fake_b), G(fake_a)
                    loss_gan = lsgan_g_loss(self.D(fake_b)) + lsgan_g_loss(self.D_A(fake_a))
                    cyc = l1(rec_a.float(), a) + l1(rec_b.float(), b)
                    self._add_extra("loss/cycle", cyc)
                    loss_g = loss_gan + cfg.cycle_weight * cyc
                    if cfg.identity_weight > 0 and a.shape[1] == b.shape[1]:
                        idt = l1(G(b).float(), b) + l1(F(a).float(), a)
                        self._add_extra("loss/identity", idt)
                        loss_g = loss_g + cfg.identity_weight * cfg.cycle_weight * idt
            self.opt_g.zero_grad(set_to_none=True)
            fp.backward(loss_g, "g")
        finally:
            for d in self.discs:
                d.requires_grad_(True)
        if log:
            fp.unscale(self.opt_g, "g")
            grads.update(grad_norms(self.g_params, self.g_layers, self.g_index, "grad_norm/g"))
        fp.step(self.opt_g, "g")

        with fp.autocast():
            if self.task == "pix2pix":
                lr_ = self.D_t(torch.cat([a, b], 1))
                lf_ = self.D_t(torch.cat([a, fake_b.detach()], 1))
                loss_d = bce_d_loss(lr_, lf_)
            else:
                fb = self.pool_b.query(fake_b.detach().float())
                fa = self.pool_a.query(fake_a.detach().float())
                lr_, lf_ = self.D_t(b), self.D_t(fb)
                loss_d = lsgan_d_loss(lr_, lf_) + lsgan_d_loss(self.D_A_t(a), self.D_A_t(fa))
        self.opt_d.zero_grad(set_to_none=True)
        fp.backward(loss_d, "d")
        if log:
            fp.unscale(self.opt_d, "d")
            grads.update(grad_norms(self.d_params, self.d_layers, self.d_index, "grad_norm/d"))
        fp.step(self.opt_d, "d")
        self._count_step(loss_d, loss_g, lr_, lf_)
        return grads

    # ------------------------------------------------------------ previews

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """Rows of input | output | target (pix2pix) or A | G(A) | F(G(A)) and B | F(B) | G(F(B)), as one batch."""
        was = [m.training for m in self.gens]
        for m in self.gens:
            m.eval()
        try:
            a, b = self.fixed_a.to(self.device), self.fixed_b.to(self.device)
            if self.task == "pix2pix":
                cols = [(_rgb(a), _rgb(self.G(a)), _rgb(b))]
            else:
                gb = self.G(a)
                fa = self.F(b)
                cols = [(_rgb(a), _rgb(gb), _rgb(self.F(gb))), (_rgb(b), _rgb(fa), _rgb(self.G(fa)))]
            rows = [torch.stack(triple, 1).flatten(0, 1) for triple in cols]  # (rows·3, 3, H, W), row-major
            return torch.cat(rows).float().cpu()
        finally:
            for m, w in zip(self.gens, was):
                m.train(w)

    def render(self, samples: torch.Tensor) -> tuple[np.ndarray, None]:
        return make_grid(samples, ncol=3), None

    # ------------------------------------------------------------ state

    def _nets(self) -> dict:
        nets = {"G": self.G, "D": self.D}
        if self.F is not None:
            nets.update(F=self.F, D_A=self.D_A)
        return nets

    def state_dict(self) -> dict:
        s = {
            "task": "translate",
            "config_toml": to_toml(self.cfg),
            "model_name": self.task,
            "translation_spec": dataclasses.asdict(self.spec),
            "translation_spec_ba": dataclasses.asdict(self.spec_ba) if self.F is not None else None,
            "direction_names": list(self.data.direction_names),
            "step": self.step,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None},
            "sampler": self.sampler.state_dict(),
            "sampler_b": None if self.sampler_b is None else self.sampler_b.state_dict(),
            "amp_scalers": self.fast.state_dict(),
            "pool_a": self.pool_a.state_dict(),
            "pool_b": self.pool_b.state_dict(),
            "acc": self.acc.cpu(),
            "acc_n": self.acc_n,
            "extra_acc": {k: v.cpu() for k, v in self.extra_acc.items()},
            "dataset": {"name": self.data.name, "n": len(self.a), "paired": self.data.paired},
        }
        s.update({k: m.state_dict() for k, m in self._nets().items()})
        return s

    def load_state_dict(self, s: dict) -> None:
        from ganstudio.core.checkpoint import CheckpointError

        then = s.get("dataset", {}).get("n", len(self.a))
        if then != len(self.a):
            raise CheckpointError(f"the dataset changed since this run was trained ({then:,} samples then, {len(self.a):,} now); start a new run")
        try:
            for k, m in self._nets().items():
                m.load_state_dict(s[k])
            self.opt_g.load_state_dict(s["opt_g"])
            self.opt_d.load_state_dict(s["opt_d"])
            self.sampler.load_state_dict(s["sampler"])
            if self.sampler_b is not None:
                self.sampler_b.load_state_dict(s["sampler_b"])
            self.pool_a.load_state_dict(s["pool_a"])
            self.pool_b.load_state_dict(s["pool_b"])
            self._load_progress(s)
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(f"checkpoint does not match this model or is incomplete: {str(e).splitlines()[0][:160]}") from None
        self.diverged = False


def load_translator(path: str, direction: str = "AtoB"):
    """(generator fn, image size, input channels, names) from a translation checkpoint, on the CPU in eval mode."""
    from ganstudio.core.checkpoint import CheckpointError, load_checkpoint

    state = load_checkpoint(path)
    if state.get("task") != "translate":
        raise CheckpointError(f"{path}: holds a generator of samples from noise, not an image-translation model; "
                              "sample or explore it instead")
    if direction not in ("AtoB", "BtoA"):
        raise CheckpointError(f"direction must be AtoB or BtoA, not {direction}")
    name = state.get("model_name")
    try:
        if direction == "BtoA":
            if name != "cyclegan":
                raise CheckpointError(f"{path}: a {name} model translates one way only (AtoB)")
            spec, key, kind = TranslationSpec(**state["translation_spec_ba"]), "F", "resnet"
        else:
            spec, key, kind = TranslationSpec(**state["translation_spec"]), "G", "unet" if name == "pix2pix" else "resnet"
        with torch.device("meta"):  # no weight init: the global RNG is left alone
            G = build_generator(kind, spec)
        G.load_state_dict(state[key], assign=True)
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: checkpoint does not match its model ({str(e).splitlines()[0][:120]})") from None
    G.eval()
    names = tuple(state.get("direction_names", ("A", "B")))
    return G, spec.image_size, spec.in_channels, names

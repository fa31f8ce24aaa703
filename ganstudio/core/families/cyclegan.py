"""CycleGAN (Zhu et al. 2017): unpaired translation both ways with two ResNet generators and two
PatchGANs, LSGAN + cycle + identity losses, and pools of past fakes for the discriminators."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.core import translation_eval
from ganstudio.core.families._translation import TranslationFamily, TranslationOptions, rgb, translation_spec
from ganstudio.core.families.base import OptGroup, Phase, Signature, Terms, register
from ganstudio.core.options import option
from ganstudio.core.translation_models import ImagePool, TranslationSpec, build_generator, build_patchgan, l1, lsgan_d_loss, lsgan_g_loss


@dataclass(frozen=True)
class CycleGANOptions(TranslationOptions):
    cycle_weight: float = option(10.0, "translation", "Weight λ of the cycle loss ‖F(G(a)) − a‖₁, which forces a translation that can be undone (Zhu et al. use 10).", minimum=0.0, live=True)
    identity_weight: float = option(0.5, "translation", "Identity loss weight, as a fraction of λ: an image already in the target domain should pass unchanged, which preserves colours (0.5 in the paper).", minimum=0.0, live=True)
    pool_size: int = option(50, "translation", "D also sees a pool of earlier fakes, so it cannot chase G's latest trick (Shrivastava et al. 2017; 50 in the paper).", minimum=0)
    resnet_down: int = option(2, "translation", "Stride-2 levels in each generator (2 in the paper); 1 keeps the outlines of small (28-64 px) images sharp at the same cost.", minimum=0)
    resnet_blocks: int = option(6, "translation", "Residual blocks in each generator (6 for 128 px, 9 for 256 px in the paper).", minimum=0)


@register
class CycleGAN(TranslationFamily):
    name = "cyclegan"
    title = "CycleGAN (unpaired image ↔ image)"
    summary = "Unpaired translation both ways: two ResNet Gs, two PatchGANs, LSGAN + cycle + identity losses, pools of past fakes (Zhu et al. 2017)."
    Options = CycleGANOptions
    curves = {"Loss": ("loss/d", "loss/g", "loss/cycle", "loss/identity"), "D output": ("d/real", "d/fake")}
    d_output = "critic"
    legacy_models = ("cyclegan",)
    metrics, scores = translation_eval.UNPAIRED_METRICS, translation_eval.UNPAIRED_SCORES
    default_metrics, best_by = tuple(metrics), "cycle_l1"
    generator_kind = "resnet"
    presets = {
        "cyclegan-horse2zebra": (
            "CycleGAN (Zhu et al. 2017): Animal-MNIST horses ↔ zebras, unpaired; LSGAN, cycle 10, identity 0.5, pool 50, lr decay; one stride-2 level at 28 px.",
            dict(dataset="horse2zebra", g_width=32, d_width=32, resnet_blocks=6, resnet_down=1, batch_size=4,
                 lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, cycle_weight=10.0, identity_weight=0.5, pool_size=50,
                 lr_decay=True, steps=4000, sample_every=250, log_every=10)),
    }

    @classmethod
    def describe(cls, cfg, data) -> dict:
        o = cfg.options
        shape = dict(resnet_blocks=o.resnet_blocks, resnet_down=o.resnet_down)
        return {"spec": translation_spec(o, data, **shape), "spec_ba": translation_spec(o, data, reverse=True, **shape),
                "direction_names": list(data.direction_names)}

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        ab, ba = TranslationSpec(**meta["spec"]), TranslationSpec(**meta["spec_ba"])
        return {"G": build_generator("resnet", ab), "F": build_generator("resnet", ba),
                "D": build_patchgan(ab.out_channels, ab),      # judges domain B
                "D_A": build_patchgan(ab.in_channels, ab)}

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        return cls._entries(meta, both=True)

    @classmethod
    def upgrade_v1(cls, s: dict) -> dict:
        return {**cls._upgrade_common(s), "nets": {k: s[k] for k in ("G", "F", "D", "D_A")}}

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        return [OptGroup("g", ("G", "F"), "lr_g"), OptGroup("d", ("D", "D_A"), "lr_d")]

    def __init__(self, cfg, data, meta, device, fast, ctx):
        super().__init__(cfg, data, meta, device, fast, ctx)
        self.pool_a = ImagePool(cfg.options.pool_size, torch.Generator().manual_seed(cfg.seed + 5))
        self.pool_b = ImagePool(cfg.options.pool_size, torch.Generator().manual_seed(cfg.seed + 6))

    def parts(self) -> dict:
        return {**super().parts(), "pool_a": self.pool_a, "pool_b": self.pool_b}

    def phases(self) -> list[Phase]:
        return [Phase("g", "g", frozen=("D", "D_A")), Phase("d", "d")]

    def loss(self, phase: Phase, repeat: int, nets) -> Terms:
        o, s = self.cfg.options, self._scratch
        if phase.name == "g":
            a, b = self.batch()
            G, F = nets.train["G"], nets.train["F"]
            fake_b, fake_a = G(a), F(b)
            rec_a, rec_b = F(fake_b), G(fake_a)
            s.update(a=a, b=b, fake_a=fake_a.detach(), fake_b=fake_b.detach())
            cyc = l1(rec_a.float(), a) + l1(rec_b.float(), b)
            loss_g = lsgan_g_loss(nets["D"](fake_b)) + lsgan_g_loss(nets["D_A"](fake_a)) + o.cycle_weight * cyc
            out = {"loss/cycle": cyc}
            if o.identity_weight > 0 and a.shape[1] == b.shape[1]:
                idt = l1(G(b).float(), b) + l1(F(a).float(), a)
                out["loss/identity"] = idt
                loss_g = loss_g + o.identity_weight * o.cycle_weight * idt
            out["loss/g"] = loss_g
            return Terms(loss_g, out)
        a, b = s.pop("a"), s.pop("b")
        fb = self.pool_b.query(s.pop("fake_b").float())
        fa = self.pool_a.query(s.pop("fake_a").float())
        D, D_A = nets.train["D"], nets.train["D_A"]
        lr_, lf_ = D(b), D(fb)
        loss_d = lsgan_d_loss(lr_, lf_) + lsgan_d_loss(D_A(a), D_A(fa))
        return Terms(loss_d, {"loss/d": loss_d, "d/real": lr_.detach().mean(), "d/fake": lf_.detach().mean()})

    def preview_rows(self, nets) -> list[tuple[torch.Tensor, ...]]:
        a, b = self.fixed_a.to(self.device), self.fixed_b.to(self.device)
        G, F = nets["G"], nets["F"]
        gb, fa = G(a), F(b)
        return [(rgb(a), rgb(gb), rgb(F(gb))), (rgb(b), rgb(fa), rgb(G(fa)))]

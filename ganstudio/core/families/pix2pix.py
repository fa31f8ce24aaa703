"""pix2pix (Isola et al. 2017): paired image-to-image translation with a U-Net G and a PatchGAN D
that judges (input, output) pairs; adversarial + λ·L1 to the target."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.core import translation_eval
from ganstudio.core.errors import ConfigError
from ganstudio.core.families._translation import TranslationFamily, TranslationOptions, rgb, translation_spec
from ganstudio.core.families.base import OptGroup, Phase, Signature, Terms, register
from ganstudio.core.options import option
from ganstudio.core.translation_models import TranslationSpec, bce_d_loss, bce_g_loss, build_generator, build_patchgan, l1


@dataclass(frozen=True)
class Pix2PixOptions(TranslationOptions):
    l1_weight: float = option(100.0, "translation", "Weight λ of the L1 distance to the target, which keeps outputs close to the truth while the adversarial loss keeps them sharp (Isola et al. use 100).", minimum=0.0, live=True)
    unet_depth: int = option(0, "translation", "U-Net levels; 0 = down to 1×1, as the paper's generator.", minimum=0)
    g_dropout: float = option(0.5, "translation", "Dropout in the U-Net decoder, the only noise the generator gets.", minimum=0.0, below=1.0)


@register
class Pix2Pix(TranslationFamily):
    name = "pix2pix"
    title = "pix2pix (paired image → image)"
    summary = "Paired image-to-image translation: a U-Net G, a PatchGAN D on (input, output) pairs, adversarial + λ·L1 (Isola et al. 2017)."
    Options = Pix2PixOptions
    curves = {"Loss": ("loss/d", "loss/g", "loss/l1"), "D output": ("d/real", "d/fake")}
    legacy_models = ("pix2pix",)
    metrics, scores = translation_eval.PAIRED_METRICS, translation_eval.PAIRED_SCORES
    default_metrics, best_by = tuple(metrics), "l1"
    generator_kind = "unet"
    presets = {
        "pix2pix-edges2fashion": (
            "pix2pix (Isola et al. 2017): edge maps of Fashion-MNIST to the items; U-Net G, PatchGAN D, adversarial + 100·L1.",
            dict(dataset="edges2fashion", image_size=32, g_width=32, d_width=32, batch_size=16, lr_g=2e-4, lr_d=2e-4,
                 beta1=0.5, beta2=0.999, l1_weight=100.0, steps=4000, sample_every=250, log_every=10)),
    }

    @classmethod
    def describe(cls, cfg, data) -> dict:
        if not data.paired:
            raise ConfigError(f"pix2pix needs paired data; {data.name} is unpaired (use cyclegan)")
        o = cfg.options
        return {"spec": translation_spec(o, data, unet_depth=o.unet_depth, dropout=o.g_dropout), "spec_ba": None,
                "direction_names": list(data.direction_names)}

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        spec = TranslationSpec(**meta["spec"])
        return {"G": build_generator("unet", spec), "D": build_patchgan(spec.in_channels + spec.out_channels, spec)}

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        return cls._entries(meta, both=False)

    @classmethod
    def upgrade_v1(cls, s: dict) -> dict:
        return {**cls._upgrade_common(s), "nets": {"G": s["G"], "D": s["D"]}}

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        return [OptGroup("g", ("G",), "lr_g"), OptGroup("d", ("D",), "lr_d")]

    def phases(self) -> list[Phase]:
        # G first: its output, detached, is the fake D then sees in the same step
        return [Phase("g", "g", frozen=("D",)), Phase("d", "d")]

    def loss(self, phase: Phase, repeat: int, nets) -> Terms:
        s = self._scratch
        if phase.name == "g":
            a, b = self.batch()
            fake_b = nets.train["G"](a)
            loss_l1 = l1(fake_b.float(), b)
            s.update(a=a, b=b, fake_b=fake_b.detach())
            loss_g = bce_g_loss(nets["D"](torch.cat([a, fake_b], 1))) + self.cfg.options.l1_weight * loss_l1
            return Terms(loss_g, {"loss/g": loss_g, "loss/l1": loss_l1})
        a, b, fake_b = s.pop("a"), s.pop("b"), s.pop("fake_b")
        lr_, lf_ = nets.train["D"](torch.cat([a, b], 1)), nets.train["D"](torch.cat([a, fake_b], 1))
        loss_d = bce_d_loss(lr_, lf_)
        return Terms(loss_d, {"loss/d": loss_d, "d/real": torch.sigmoid(lr_.detach()).mean(),
                              "d/fake": torch.sigmoid(lf_.detach()).mean()})

    def preview_rows(self, nets) -> list[tuple[torch.Tensor, ...]]:
        a, b = self.fixed_a.to(self.device), self.fixed_b.to(self.device)
        return [(rgb(a), rgb(nets["G"](a)), rgb(b))]

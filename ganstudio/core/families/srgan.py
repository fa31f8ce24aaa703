"""Super-resolution: SRResNet (PSNR-trained) and SRGAN / ESRGAN (adversarial), trained on random patches of
photos at their own size with bicubic (and optionally blur, noise and JPEG) degradation; ×2, ×4 or ×8."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.errors import CheckpointError, ConfigError
from ganstudio.core.evaluation import EvalError, Evaluation, Score
from ganstudio.core.families.base import Entry, Family, OptGroup, Phase, Port, Preview, Signature, Terms, register
from ganstudio.core.options import option
from ganstudio.core.photos import (PatchSampler, degrade, downscale, gradient_magnitude, load_photos, modcrop,
                                   psnr_ssim, to_uint8, upscale_bicubic)
from ganstudio.core.sampling import make_grid
from ganstudio.core.sr_models import RandomFeatures, SRSpec, VGGDiscriminator, build_sr_generator, content_loss

PREVIEW_CROPS = 4      # rows of the preview: bicubic | model | original
PREVIEW_LR = 32        # LR side of each preview crop
PSNR_NET = "G_psnr"    # the PSNR-trained start a GAN run keeps, for network interpolation


@dataclass(frozen=True)
class SROptions:
    scale: int = option(4, "model", "Upscaling factor: ×2, ×4 or ×8, one sub-pixel ×2 stage each.", choices=(2, 4, 8))
    generator: str = option("srresnet", "model", "srresnet: residual blocks (Ledig et al. 2017); rrdb: ESRGAN's residual-in-residual dense blocks, more detail per parameter but about 3× the compute (Wang et al. 2018).", choices=("srresnet", "rrdb"))
    g_width: int = option(64, "model", "Feature channels of G; the papers use 64.", minimum=4)
    g_blocks: int = option(16, "model", "Residual blocks (SRResNet's 16) or RRDBs (ESRGAN's 23) in G: deeper sees more context.", minimum=1)
    growth: int = option(32, "model", "RRDB: channels each dense layer adds (ESRGAN's 32).", minimum=1)
    g_norm: str = option("none", "model", "BatchNorm in G's blocks (the SRResNet paper's) or none: EDSR and ESRGAN found BN makes SR outputs blotchy and costs memory, with no gain.", choices=("none", "batch"))
    bicubic_skip: bool = option(True, "model", "G adds its output to the bicubic upscale, so it learns only the missing detail (VDSR's global residual): several times faster to train, and it starts at bicubic instead of grey.")
    d_width: int = option(64, "model", "Base width of the VGG-style D (SRGAN's 64).", minimum=4)
    lr_patch: int = option(24, "data", "Side of the low-resolution training patches (SRGAN's 24: 96-px HR patches at ×4); the photos stay at their own size and a new random patch is cut each time.", minimum=8)
    pixel_loss: str = option("l1", "loss", "Distance to the true pixels: l1 (EDSR, ESRGAN: sharper, higher PSNR) or mse (SRResNet).", choices=("l1", "mse"))
    pixel_weight: float = option(1.0, "loss", "Weight of the pixel loss; with an adversary it keeps colours and layout faithful (ESRGAN uses 0.01 beside its perceptual loss).", minimum=0.0, live=True)
    content_weight: float = option(0.0, "loss", "Weight of the content loss: distance between feature maps of a fixed random-weight VGG-style network, so G matches edges and texture rather than exact pixel values (SRGAN's VGG loss; no ImageNet VGG is available offline, see the README).", minimum=0.0, live=True)
    adversarial: str = option("none", "loss", "none: PSNR-only training (SRResNet); standard: SRGAN's D(x) loss; relativistic: ESRGAN's relativistic average D, which asks whether a real patch looks more real than the fakes on average and gives G gradients from real images too.", choices=("none", "standard", "relativistic"))
    adv_weight: float = option(5e-3, "loss", "Weight of the adversarial loss for G (SRGAN 1e-3, ESRGAN 5e-3): higher invents more texture and lowers PSNR.", minimum=0.0, live=True)
    init_from: str = option("", "model", "A PSNR-only super-resolution run (or checkpoint) G starts from, as SRGAN and ESRGAN do; its weights are also kept for network interpolation between the two. Empty: start from random weights.")
    blur: float = option(0.0, "degradation", "Largest Gaussian blur σ (HR px) applied before downscaling, drawn per patch; trains a model for soft, out-of-focus photos. 0 = the papers' clean bicubic.", minimum=0.0, live=True)
    noise: float = option(0.0, "degradation", "Largest Gaussian noise σ (in 8-bit levels) added to the LR patch, drawn per patch; for grainy photos. 0 = off.", minimum=0.0, live=True)
    jpeg: int = option(0, "degradation", "Lowest JPEG quality the LR patch is re-encoded at (drawn per patch up to 95); for compressed photos from the web. 0 = off.", minimum=0, live=True)


def _pixel(sr: torch.Tensor, hr: torch.Tensor, kind: str) -> torch.Tensor:
    return (sr - hr).abs().mean() if kind == "l1" else (sr - hr).square().mean()


def _psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1] (range 2), all channels: the live curve, not the papers' Y-channel score."""
    return 10 * torch.log10(4.0 / (x.clamp(-1, 1) - y).square().mean().clamp_min(1e-10))


SR_SCORES = (
    Score("psnr", "PSNR (Y, dB)", "{:.2f}", "the SR papers' PSNR on the Y channel with scale px of border cropped; higher is closer",
          reference="psnr_bicubic", short="PSNR"),
    Score("ssim", "SSIM (Y)", "{:.4f}", "structural similarity on Y (Gaussian window σ 1.5), border cropped", reference="ssim_bicubic"),
    Score("sharpness", "sharpness / original", "{:.2f}", "mean Sobel gradient magnitude of the result over the original's: "
          "1 = as sharp as the truth, below = blurry, above = over-sharpened", reference="sharpness_bicubic", short="sharpness"),
)


@register
class SRGAN(Family):
    name = "srgan"
    title = "Super-resolution (SRResNet, SRGAN, ESRGAN)"
    task = "translate"
    summary = ("Upscale photos ×2/×4/×8: SRResNet trained on pixels (Ledig et al. 2017), then SRGAN or ESRGAN "
               "adversarial fine-tuning from it, with network interpolation between the two (Wang et al. 2018).")
    Options = SROptions
    curves = {"Loss": ("loss/g", "loss/pixel", "loss/content", "loss/adv", "loss/d"),
              "PSNR (training patches, dB)": ("psnr/model", "psnr/bicubic"), "D output": ("d/real", "d/fake")}
    ema_nets = ("G",)
    metrics = {"psnr": "PSNR and SSIM on the Y channel against the original, border cropped, next to bicubic's",
               "sharpness": "mean gradient magnitude of the result over the original's, next to bicubic's"}
    default_metrics = ("psnr", "sharpness")
    scores = SR_SCORES
    best_by = "psnr"
    reference_column = "bicubic"
    cpu_note = ("Super-resolution presets are sized for a CPU: 8 blocks of 32 channels, 24-px patches. The papers' "
                "networks (g_width 64, 16 blocks, or rrdb with 23) are for a GPU.")
    presets = {
        "srresnet": (
            "SRResNet ×4 on the built-in photos, PSNR-only (L1), CPU-sized: the start for srgan, and the faithful upscaler.",
            dict(family="srgan", dataset="photos", scale=4, g_width=32, g_blocks=8, lr_patch=24, batch_size=16,
                 lr_g=5e-4, beta1=0.9, beta2=0.999, lr_decay=True, adversarial="none", content_weight=0.0, steps=3000,
                 sample_every=250, log_every=10, checkpoint_every=500)),
        "srgan": (
            "SRGAN ×4: adversarial fine-tuning of an srresnet run (set init_from) with a relativistic D "
            "(ESRGAN's) and a random-feature content loss; sharper, lower PSNR.",
            dict(family="srgan", dataset="photos", scale=4, g_width=32, g_blocks=8, d_width=32, lr_patch=24,
                 batch_size=16, lr_g=1e-4, lr_d=1e-4, beta1=0.9, beta2=0.999, adversarial="relativistic",
                 pixel_weight=1.0, content_weight=1.0, adv_weight=5e-3, steps=1200, sample_every=250,
                 log_every=10, checkpoint_every=500)),
    }

    # ------------------------------------------------------------ before training

    @classmethod
    def load_data(cls, cfg, seed: int = 0):
        return load_photos(cfg.dataset, cfg.channels)

    @classmethod
    def check(cls, cfg) -> None:
        o = cfg.options
        if o.adversarial == "none" and o.content_weight == 0 and o.pixel_weight == 0:
            raise ConfigError("pixel_weight and content_weight are both 0 and there is no adversary: nothing to learn from")

    @classmethod
    def inert(cls, cfg) -> dict[str, str]:
        o = cfg.options
        out = {"image_size": "super-resolution trains on lr_patch-px patches cut from the photos at their own size"}
        if o.adversarial == "none":
            for k in ("adv_weight", "d_width", "lr_d"):
                out[k] = "adversarial is none: there is no discriminator"
        if o.generator == "srresnet":
            out["growth"] = "only the rrdb generator has dense layers"
        return out

    @classmethod
    def describe(cls, cfg, data) -> dict:
        o = cfg.options
        try:
            spec = SRSpec(channels=data.channels, scale=o.scale, generator=o.generator, width=o.g_width,
                          blocks=o.g_blocks, growth=o.growth, norm=o.g_norm, bicubic_skip=o.bicubic_skip,
                          d_width=o.d_width)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return {"spec": asdict(spec), "adversarial": o.adversarial, "interpolable": bool(o.init_from),
                "lr_patch": o.lr_patch}

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        spec = SRSpec(**meta["spec"])
        nets = {"G": build_sr_generator(spec)}
        if meta["adversarial"] != "none":
            nets["D"] = VGGDiscriminator(spec.channels, spec.d_width)
        if meta.get("interpolable"):
            nets[PSNR_NET] = build_sr_generator(spec).requires_grad_(False)  # fixed: the PSNR end of the interpolation
        return nets

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        spec = SRSpec(**meta["spec"])
        p = meta["lr_patch"]
        return Signature("translate", (Entry(
            "AtoB", "G", (Port("image", "image", (spec.channels, p, p), "low resolution, in [-1, 1]; any size"),),
            (Port("upscaled", "image", (spec.channels, p * spec.scale, p * spec.scale), f"×{spec.scale}, in [-1, 1]"),),
            source="low-res", target=f"×{spec.scale}"),))

    @classmethod
    def entry_network(cls, meta: dict, entry: Entry) -> nn.Module:
        return build_sr_generator(SRSpec(**meta["spec"]))

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        groups = [OptGroup("g", ("G",), "lr_g")]
        if cfg.options.adversarial != "none":
            groups.append(OptGroup("d", ("D",), "lr_d"))
        return groups

    # ------------------------------------------------------------ training

    def __init__(self, cfg, data, meta, device, fast, ctx):
        super().__init__(cfg, data, meta, device, fast, ctx)
        o = cfg.options
        self.scale = o.scale
        self.sampler = PatchSampler(data.images, o.lr_patch * o.scale, cfg.batch_size, cfg.seed + 1, ctx.rank)
        with torch.random.fork_rng(devices=[]):  # its layers' default init must not move the training RNG
            self.features = RandomFeatures(data.channels).to(device).eval()
        src = data.held_out or data.images
        side = PREVIEW_LR * o.scale
        crops = []
        for i in range(PREVIEW_CROPS):
            img = src[i % len(src)]
            h, w = img.shape[1:]
            s = min(side, h, w) // o.scale * o.scale
            y, x = (h - s) // 2 + (i // len(src)) * s // 2, (w - s) // 2
            y = min(y, h - s)
            crop = img[:, y:y + s, x:x + s].float() / 127.5 - 1
            crops.append(F.interpolate(crop[None], size=(side, side), mode="bicubic", align_corners=False)[0]
                         if s != side else crop)
        self.fixed_hr = torch.stack(crops).clamp(-1, 1)
        self._scratch: dict = {}

    def start(self, nets) -> None:
        """A fresh run with init_from: G (and the PSNR end of the interpolation) start from that run's G."""
        path = self.cfg.options.init_from
        if not path:
            return
        from ganstudio.core.checkpoint import load_checkpoint

        state = load_checkpoint(path)
        if state.get("family") != self.name or not isinstance(state.get("meta"), dict):
            raise CheckpointError(f"init_from {path}: not a super-resolution run (trained by {state.get('family')!r})")
        theirs = state["meta"].get("spec") if isinstance(state["meta"].get("spec"), dict) else {}
        mine = {k: v for k, v in self.meta["spec"].items() if k != "d_width"}  # D is not carried over
        if any(theirs.get(k) != v for k, v in mine.items()):
            diff = ", ".join(f"{k} {theirs.get(k)!r} there, {v!r} here" for k, v in mine.items() if theirs.get(k) != v)
            raise CheckpointError(f"init_from {path}: its generator differs from this one ({diff})")
        weights = (state.get("ema") or {}).get("G") or state["nets"]["G"]
        try:
            nets["G"].load_state_dict(weights)
            nets[PSNR_NET].load_state_dict(weights)
        except (RuntimeError, KeyError) as e:
            raise CheckpointError(f"init_from {path}: its G does not load ({str(e).splitlines()[0][:120]})") from None

    def parts(self) -> dict:
        return {"sampler": self.sampler}

    def data_count(self) -> int:
        return len(self.data.images)

    def dataset_info(self) -> dict:
        return {"name": self.data.name, "n": len(self.data.images), "pixels": self.data.pixels()}

    def phases(self) -> list[Phase]:
        if self.meta["adversarial"] == "none":
            return [Phase("g", "g")]
        return [Phase("g", "g", frozen=("D",)), Phase("d", "d")]

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) training patches, degraded as the options ask."""
        o = self.cfg.options
        hr = self.sampler.next().to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        lr = degrade(hr, self.scale, o.blur, o.noise, o.jpeg)
        return self.fast.images(lr), self.fast.images(hr)

    def loss(self, phase: Phase, repeat: int, nets) -> Terms:
        o, s = self.cfg.options, self._scratch
        if phase.name == "g":
            lr, hr = self.batch()
            sr = nets.train["G"](lr)
            srf = sr.float()
            values = {}
            total = srf.new_zeros(())
            if o.pixel_weight:
                pix = _pixel(srf, hr, o.pixel_loss)
                total = total + o.pixel_weight * pix
                values["loss/pixel"] = pix
            if o.content_weight:
                con = content_loss(self.features, srf, hr)
                total = total + o.content_weight * con
                values["loss/content"] = con
            if self.meta["adversarial"] != "none":
                fake = nets["D"](sr)
                with torch.no_grad():
                    real = nets["D"](hr)
                adv = self._g_adv(real, fake)
                total = total + o.adv_weight * adv
                values["loss/adv"] = adv
                s.update(hr=hr, sr=sr.detach())
            with torch.no_grad():
                values["psnr/model"] = _psnr(srf, hr)
                values["psnr/bicubic"] = _psnr(upscale_bicubic(lr.float(), self.scale), hr)
            values["loss/g"] = total
            return Terms(total, values)
        hr, sr = s.pop("hr"), s.pop("sr")
        real, fake = nets.train["D"](hr), nets.train["D"](sr)
        loss_d = self._d_adv(real, fake)
        r, f = real.detach().float(), fake.detach().float()
        if self.meta["adversarial"] == "relativistic":  # what a relativistic D says: more real than the others?
            r, f = r - f.mean(), f - r.mean()
        return Terms(loss_d, {"loss/d": loss_d, "d/real": torch.sigmoid(r).mean(), "d/fake": torch.sigmoid(f).mean()})

    def _g_adv(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits
        real, fake = real.float(), fake.float()
        if self.meta["adversarial"] == "standard":
            return bce(fake, torch.ones_like(fake))
        # relativistic average (ESRGAN): real should look less real than the fakes on average, fakes more
        return 0.5 * (bce(real - fake.mean(), torch.zeros_like(real)) + bce(fake - real.mean(), torch.ones_like(fake)))

    def _d_adv(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits
        real, fake = real.float(), fake.float()
        if self.meta["adversarial"] == "standard":
            return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
        return 0.5 * (bce(real - fake.mean(), torch.ones_like(real)) + bce(fake - real.mean(), torch.zeros_like(fake)))

    def fixed(self) -> dict[str, torch.Tensor]:
        return {"hr": self.fixed_hr}

    def set_fixed(self, fixed: dict[str, torch.Tensor]) -> None:
        if "hr" in fixed:
            self.fixed_hr = fixed["hr"].float()

    @torch.no_grad()
    def preview(self, nets) -> Preview:
        """Rows of bicubic | model | original on crops of held-out photos."""
        G = nets["G"]
        was = G.training
        G.eval()
        try:
            hr = self.fixed_hr.to(self.device)
            lr = downscale(hr, self.scale).clamp(-1, 1)
            sr = G(lr).float().clamp(-1, 1)
            bic = upscale_bicubic(lr, self.scale).clamp(-1, 1)
        finally:
            G.train(was)
        samples = torch.stack([bic, sr, hr], 1).flatten(0, 1).float().cpu()
        if samples.shape[1] == 1:
            samples = samples.expand(-1, 3, -1, -1)
        return Preview(samples, make_grid(samples, ncol=3))

    # ------------------------------------------------------------ evaluation

    @classmethod
    def evaluate(cls, req) -> Evaluation:
        return score_upscaler(req)


def score_upscaler(req, photos=None, tile: int = 128) -> Evaluation:
    """PSNR / SSIM (Y, `scale` px border cropped) and sharpness of the model and of bicubic on the held-out photos
    (the training photos when a folder holds too few to keep some back), each photo bicubic-downscaled first."""
    from ganstudio.core.upscale import upscale_array

    data = req.data() if photos is None else photos
    spec = SRSpec(**req.meta["spec"])
    s = spec.scale
    images, names = (data.held_out, data.held_out_names) if data.held_out else (data.images, data.names)
    which = "held-out" if data.held_out else "training (none held out)"
    out = Evaluation(checkpoint=req.checkpoint, step=req.step, n=len(images),
                     subject=f"×{s} on {len(images)} {which} photos of {data.name}: {', '.join(names[:6])}")
    G = req.translator("AtoB")
    rows = []
    for img, name in zip(images, names):
        hr = modcrop(img, s)
        if min(hr.shape[1:]) < 2 * s:
            continue
        hr_f = hr.float()[None] / 127.5 - 1
        lr = downscale(hr_f, s).clamp(-1, 1)
        lr8 = to_uint8(lr[0])
        with torch.inference_mode():
            sr8 = upscale_array(lr8, G, s, spec.channels, tile=tile)
            bic8 = to_uint8(upscale_bicubic(torch.from_numpy(lr8).permute(2, 0, 1).float()[None] / 127.5 - 1, s)[0])
        hr8 = hr.permute(1, 2, 0).numpy()
        if not np.isfinite(sr8).all():
            raise EvalError("the model's outputs hold NaN or infinite values; evaluate an earlier checkpoint")
        p, q = psnr_ssim(sr8, hr8, s)
        pb, qb = psnr_ssim(bic8, hr8, s)
        g_hr = gradient_magnitude(hr8, s)
        rows.append((p, q, pb, qb, gradient_magnitude(sr8, s) / g_hr, gradient_magnitude(bic8, s) / g_hr))
        req.say(f"{name}: PSNR {p:.2f} dB (bicubic {pb:.2f})")
    if not rows:
        raise EvalError(f"{data.name}: no photo is large enough to score at ×{s}")
    m = np.mean(np.array(rows), 0)
    if "psnr" in req.metrics:
        out.values.update(psnr=m[0], ssim=m[1], psnr_bicubic=m[2], ssim_bicubic=m[3])
    if "sharpness" in req.metrics:
        out.values.update(sharpness=m[4], sharpness_bicubic=m[5])
    out.values = {k: float(v) for k, v in out.values.items()}
    return out

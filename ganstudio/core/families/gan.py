"""The image GAN family: noise (and a class) → image or 2-D point; MLP GAN, DCGAN, conditional GAN
(projection, AC-GAN, mode seeking), WGAN, WGAN-GP, LSGAN, hinge, R1 and every trick they share."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core import health, resgan, scoring  # noqa: F401  (resgan registers the resnet model)
from ganstudio.core.augment import DIFFAUG_POLICIES, AdaptiveAugment, diff_augment
from ganstudio.core.batches import BatchSampler
from ganstudio.core.errors import ConfigError
from ganstudio.core.families.base import Entry, Family, OptGroup, Phase, Port, Preview, Signature, Terms, register
from ganstudio.core.losses import LOSSES, gradient_penalty, r1_penalty
from ganstudio.core.models import MODELS, ModelSpec, build_models, check_image_size, nearest_size
from ganstudio.core.options import option
from ganstudio.core.sampling import conditional_labels, grid_columns, make_grid, scatter_plot


@dataclass(frozen=True)
class GANOptions:
    model: str = option("dcgan", "model", "Generator/discriminator architecture.", choices="model")
    conditional: bool = option(False, "model", "Feed class labels to G and D (conditional GAN, Mirza & Osindero 2014) so you can ask for a class.")
    cond_d: str = option("projection", "model", "How D sees the label: projection (Miyato & Koyama 2018) is more stable than concatenating it to the input.", choices=("projection", "concat"))
    z_dim: int = option(100, "model", "Size of the noise vector G turns into a sample.", minimum=1)
    g_width: int = option(64, "model", "Base width of G; wider learns more detail but trains slower. 0 = sized to the images: 64 up to 32 px, halved each time the side doubles, so a step costs about the same at any size.", minimum=0)
    d_width: int = option(64, "model", "Base width of D; keep it close to G's so neither overpowers the other. 0 = sized to the images, as for g_width.", minimum=0)
    d_batchnorm: bool = option(False, "model", "BatchNorm in D's hidden layers (DCGAN); must stay off for WGAN-GP, whose penalty is per-sample.")
    d_dropout: float = option(0.0, "model", "Dropout in an MLP D: noise that keeps D from memorising the training set.", minimum=0.0, below=1.0)
    loss: str = option("ns", "loss", "The adversarial objective.", choices="loss")
    gp_weight: float = option(10.0, "loss", "λ of the WGAN-GP gradient penalty (Gulrajani et al. 2017 use 10).", minimum=0.0, live=True)
    r1_gamma: float = option(10.0, "loss", "γ of the R1 penalty on D's gradient at real data (Mescheder et al. 2018), and of R2 at fake data for rpgan-r1r2.", minimum=0.0, live=True)
    penalty_every: int = option(1, "loss", "Apply the gradient penalty (GP, R1, R2) every this many D steps, weighted by as many (lazy regularisation, Karras et al. 2020): the penalty's double backward is the dearest part of a D step, and its effect builds up slowly.", minimum=1, resume=True)
    clip_value: float = option(0.01, "loss", "WGAN weight clipping range: keeps the critic Lipschitz (Arjovsky et al. 2017 use 0.01).", minimum=0.0)
    n_critic: int = option(1, "optim", "D updates per G update: a critic must be near-optimal for its gradient to mean anything (WGAN: 5).", minimum=1, live=True)
    label_smoothing: float = option(0.0, "tricks", "One-sided label smoothing: real target 1-s (e.g. 0.1 → 0.9) stops D from becoming over-confident (Salimans et al. 2016).", minimum=0.0, below=1.0, live=True)
    instance_noise: float = option(0.0, "tricks", "Std of Gaussian noise added to D's real and fake inputs, annealed to 0: overlaps the two distributions so D's gradient stays useful (Sønderby et al. 2017).", minimum=0.0, live=True)
    spectral_norm: bool = option(False, "tricks", "Spectral normalisation of D's layers keeps D Lipschitz, a cheap and stable alternative to gradient penalties (Miyato et al. 2018).")
    diffaugment: str = option("", "tricks", "Differentiable augmentation of real and fake images seen by D (e.g. 'translation,cutout,color'): stops D overfitting small datasets (Zhao et al. 2020).")
    ada_target: float = option(0.0, "tricks", "Adaptive augmentation (ADA, Karras et al. 2020): the diffaugment policy is applied to each image D sees with a probability that rises while D's verdicts on the training images are right more often than this target (the paper's 0.6) and falls below it, so a small folder gets heavy augmentation and a large one none. 0 = off (DiffAugment, when set, always applies).", minimum=0.0, below=1.0)
    minibatch: str = option("none", "tricks", "Let D see batch statistics so G cannot collapse to one mode: minibatch std (Karras 2018) or minibatch discrimination (Salimans 2016).", choices=("none", "std", "discrimination"))
    feature_matching: float = option(0.0, "tricks", "Weight of feature matching: G also matches the mean of D's features on real data, a steadier target than fooling D (Salimans et al. 2016). 0 = off.", minimum=0.0, live=True)
    aux_weight: float = option(0.0, "tricks", "AC-GAN (Odena et al. 2017): D also learns to name the class of real images, and G is rewarded when D names the class it was asked for; keeps a conditional GAN's classes apart (it is trained on real images only, so G is not pushed towards one easy-to-name look per class). 0 = off.", minimum=0.0)
    mode_seeking: float = option(0.0, "tricks", "Mode seeking (Mao et al. 2019): G is rewarded when two noise vectors given the same class make different images (it minimises 1 / the ratio of image to noise distance), so a conditional GAN cannot answer each class with one look. Weight; 0 = off.", minimum=0.0, resume=True)
    separate_batches: bool = option(True, "tricks", "A D with BatchNorm sees real and fake in separate batches, so batch statistics cannot tell them apart (GAN hacks, Chintala et al.). Ds without BatchNorm take both in one pass either way.")


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


def auto_width(size: int) -> int:
    """The base width for `size`-px images when g_width / d_width is 0: 64 up to 32 px, halved per doubling
    (32 at 64 px, 16 at 128 px): the convolutions' cost per image stays about level."""
    return max(16, min(64, 64 * 32 // max(1, size)))


def model_spec(o: GANOptions, data) -> ModelSpec:
    if o.conditional and data.num_classes == 0:
        raise ConfigError(f"conditional: dataset {data.name} has no labels (use class sub-folders, or conditional=false)")
    size = data.image_size or 0
    return ModelSpec(
        kind=data.kind, channels=data.channels or 1, image_size=size, z_dim=o.z_dim,
        num_classes=data.num_classes if o.conditional else 0, g_width=o.g_width or auto_width(size or 32),
        d_width=o.d_width or auto_width(size or 32), cond_d=o.cond_d,
        spectral_norm=o.spectral_norm, minibatch=o.minibatch, d_batchnorm=o.d_batchnorm, d_dropout=o.d_dropout,
        aux_classifier=o.conditional and o.aux_weight > 0,
    )


# The default recipe for a user's own images (see the own-images preset); Stacked-MNIST is its own showcase.
OWN_IMAGES = dict(dataset="stacked-mnist", model="dcgan", g_width=0, d_width=0, loss="rpgan-r1r2", r1_gamma=1.0,
                  penalty_every=4, lr_g=2e-4, lr_d=2e-4, beta1=0.0, beta2=0.99, batch_size=64, ema=0.999,
                  diffaugment="translation,color,cutout", ada_target=0.6, steps=3000, eval_every=1000, sample_every=250)


def _mnist(**kw) -> dict:
    return dict(dataset="mnist", **kw)


@register
class GAN(Family):
    """Noise → sample: one G and one D (critic), trained D × n_critic then G."""

    name = "gan"
    title = "GAN (noise → image)"
    summary = "A generator turns noise (and a class, when conditional) into samples; a discriminator tells them from real data (Goodfellow et al. 2014)."
    Options = GANOptions
    curves = {
        "Loss": ("loss/d", "loss/g", "loss/gp", "loss/r1", "loss/r2", "loss/aux_d", "loss/aux_g", "loss/mode_seeking", "loss/feature_matching"),
        "D output": ("d/real", "d/fake"),
        "Augmentation": ("aug/p",),
    }
    ema_nets = ("G",)
    legacy_models = ("mlp", "dcgan", "dcgan-tf")
    metrics, default_metrics, scores = scoring.GENERATED_METRICS, scoring.GENERATED_DEFAULT, scoring.GENERATED_SCORES
    best_by, reference_column = "fd", "real vs real"
    presets = {
        "gan-mlp-mnist": ("Goodfellow et al. 2014: MLP generator and discriminator (dropout) on MNIST, non-saturating loss.",
                          _mnist(model="mlp", loss="ns", d_dropout=0.3, batch_size=64, steps=5000)),
        "dcgan-mnist": ("The TensorFlow DCGAN tutorial model on MNIST: batch 128, Adam(2e-4, 0.5): our speed yardstick.",
                        _mnist(model="dcgan-tf", loss="ns", batch_size=128, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, steps=2000)),
        "cgan-mnist": ("Conditional DCGAN on MNIST (label embedding in G, projection D): ask for any digit. EMA of G and lr decay "
                       "make the samples sharp; batch 64 buys twice the updates of batch 128 in the same 10 CPU-minutes.",
                       _mnist(model="dcgan-tf", conditional=True, cond_d="projection", loss="ns", batch_size=64,
                              ema=0.999, lr_decay=True, steps=3000)),
        "cgan-fashion": ("Conditional DCGAN on Fashion-MNIST (label embedding in G, projection D): ask for any garment. An auxiliary "
                         "classifier keeps look-alike garments apart, mode seeking gives each garment many looks, DiffAugment stops D "
                         "memorising 9,000 images; EMA of G and lr decay, sized for one CPU-hour (a minute or two on a GPU).",
                         dict(dataset="fashion", model="dcgan-tf", conditional=True, cond_d="projection", loss="ns", batch_size=128,
                              aux_weight=1.0, mode_seeking=1.0, diffaugment="translation,cutout", ema=0.999, lr_decay=True, steps=8800)),
        "dcgan-fashion": ("DCGAN (Radford et al. 2016) on Fashion-MNIST at 28 px.",
                          dict(dataset="fashion", model="dcgan", loss="ns", batch_size=128, steps=3000)),
        "wgan-clip-mnist": ("WGAN with weight clipping (Arjovsky et al. 2017): RMSprop 5e-5, clip 0.01, 5 critic steps.",
                            _mnist(model="dcgan", loss="wgan", optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5,
                                   clip_value=0.01, n_critic=5, batch_size=64, steps=3000)),
        "wgan-gp-fashion": ("WGAN-GP (Gulrajani et al. 2017) on Fashion-MNIST: λ 10, 5 critic steps, Adam(1e-4, 0, 0.9).",
                            dict(dataset="fashion", model="dcgan", loss="wgan-gp", gp_weight=10.0, n_critic=5,
                                 lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9, batch_size=64, steps=3000)),
        "ring8": ("8 Gaussians on a ring (PacGAN protocol), MLP on 2-D points: minibatch std keeps every mode, EMA and lr decay make samples precise.",
                  dict(dataset="ring8", model="mlp", loss="ns", z_dim=2, g_width=128, d_width=128, batch_size=256,
                       lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999, minibatch="std", ema=0.999, lr_decay=True,
                       steps=10000, log_every=50, sample_every=500, sample_count=512)),
        "grid25": ("25 Gaussians on a 5×5 grid (PacGAN protocol), MLP on 2-D points: the harder coverage test; minibatch std, EMA and lr decay as for ring8.",
                   dict(dataset="grid25", model="mlp", loss="ns", z_dim=2, g_width=256, d_width=256, batch_size=256,
                        lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999, minibatch="std", ema=0.999, lr_decay=True,
                        steps=12000, log_every=50, sample_every=500, sample_count=512)),
        "dcgan-animals": ("DCGAN on Animal-MNIST silhouettes (bear … zebra).",
                          dict(dataset="animals", model="dcgan", loss="ns", batch_size=128, steps=3000)),
        "own-images": ("The default recipe for your own images, sized for a CPU: any folder, any size, no flags. A DCGAN whose widths "
                       "follow the image size, the relativistic pairing loss with R1 and R2 penalties (R3GAN, Huang et al. 2024; "
                       "applied every 4th D step), Adam β (0, 0.99), an EMA of G, and adaptive augmentation (ADA) so D cannot memorise "
                       "a small folder; a background evaluation on label-free features every 1,000 steps warns of collapse.",
                       OWN_IMAGES),
        "own-images-gpu": ("The default recipe for your own images, sized for a GPU: wider networks, larger batches, more steps.",
                           {**OWN_IMAGES, "g_width": 64, "d_width": 64, "batch_size": 128, "steps": 20000, "eval_every": 2000}),
        "hinge-sn-fashion": ("Hinge loss with a spectrally normalised D and TTUR (Miyato et al. 2018; Heusel et al. 2017) on Fashion-MNIST.",
                             dict(dataset="fashion", model="dcgan", loss="hinge", spectral_norm=True, lr_g=1e-4, lr_d=4e-4,
                                  beta1=0.0, beta2=0.9, batch_size=64, steps=3000)),
    }

    # ------------------------------------------------------------ declarations

    @staticmethod
    def registries() -> dict:
        return {"model": MODELS, "loss": LOSSES}

    @classmethod
    def check(cls, cfg) -> None:
        o = cfg.options
        if cfg.image_size and o.model in MODELS:
            try:  # before any data is loaded: 5,000 images at a size the model refuses would fill memory first
                check_image_size(o.model, cfg.image_size)
            except ValueError as e:
                raise ConfigError(f"image_size: {e}") from None
        loss = LOSSES.get(o.loss)
        if o.label_smoothing and not loss.supports_label_smoothing:
            raise ConfigError(f"label_smoothing: the {o.loss} loss has no real-label target to smooth; use minimax, ns, lsgan or r1")
        if o.aux_weight > 0 and not o.conditional:
            raise ConfigError("aux_weight: the auxiliary classifier names classes; it needs conditional = true")
        if loss.penalty == "gp" and o.d_batchnorm:
            raise ConfigError("d_batchnorm: WGAN-GP penalises each sample's gradient, which BatchNorm mixes across the batch; turn one off")
        for p in filter(None, (p.strip() for p in o.diffaugment.split(","))):
            if p not in DIFFAUG_POLICIES:
                raise ConfigError(f"diffaugment: unknown policy {p!r}; valid: {', '.join(DIFFAUG_POLICIES)}")
        if o.ada_target > 0 and not o.diffaugment.strip():
            raise ConfigError("ada_target: adaptive augmentation applies the diffaugment policy; name it (e.g. diffaugment = 'translation,color,cutout')")

    @classmethod
    def inert(cls, cfg) -> dict[str, str]:
        o = cfg.options
        out = {}
        loss = LOSSES.get(o.loss) if o.loss in LOSSES else None
        if loss is not None:
            if loss.penalty != "gp":
                out["gp_weight"] = f"only the wgan-gp loss has a gradient penalty (loss is {o.loss})"
            if loss.penalty not in ("r1", "r1r2"):
                out["r1_gamma"] = f"only the r1 and rpgan-r1r2 losses have an R1 penalty (loss is {o.loss})"
            if loss.penalty is None:
                out["penalty_every"] = f"the {o.loss} loss has no gradient penalty"
            if not loss.clip:
                out["clip_value"] = f"only the wgan loss clips weights (loss is {o.loss})"
            if not loss.supports_label_smoothing:
                out["label_smoothing"] = f"the {o.loss} loss has no real-label target to smooth"
        if not o.conditional:
            for name in ("cond_d", "aux_weight", "mode_seeking"):
                out[name] = "the model is not conditional (conditional = false)"
        if not o.diffaugment.strip():
            out["ada_target"] = "adaptive augmentation applies the diffaugment policy, and none is set"
        if o.model != "mlp":
            out["d_dropout"] = f"only the mlp model has dropout in D (model is {o.model})"
        if o.model != "dcgan":
            out["d_batchnorm"] = f"only the dcgan model has an optional BatchNorm in D (model is {o.model})"
        return out

    @classmethod
    def fit_data(cls, cfg, data):
        model = cfg.options.model
        if data.kind != "image" or model not in MODELS:
            return data
        size = nearest_size(model, data.image_size)
        return data.resized(size, f"{data.image_size} px → {size} px, the nearest size {model} builds at")

    @classmethod
    def evaluate(cls, req):
        return scoring.score_generator(req)

    @classmethod
    def describe(cls, cfg, data) -> dict:
        return {
            "model": cfg.options.model,
            "spec": asdict(model_spec(cfg.options, data)),
            "classes": list(data.classes),
            "centers": None if data.centers is None else np.asarray(data.centers).tolist(),
            "sigma": data.sigma,
        }

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        G, D = build_models(meta["model"], ModelSpec(**meta["spec"]))
        return {"G": G, "D": D}

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        spec = ModelSpec(**meta["spec"])
        inputs = [Port("z", "noise", (spec.z_dim,), "standard normal")]
        if spec.num_classes:
            inputs.append(Port("y", "class", (), f"class index 0..{spec.num_classes - 1}", choices=spec.num_classes))
        if spec.kind == "points":
            out = Port("points", "points", (2,))
        else:
            out = Port("image", "image", (spec.channels, spec.image_size, spec.image_size), "in [-1, 1]")
        return Signature("generate", (Entry("sample", "G", tuple(inputs), (out,)),))

    @classmethod
    def upgrade_v1(cls, s: dict) -> dict:
        data = s.get("dataset", {})
        return {
            "meta": {"model": s["model_name"], "spec": s["model_spec"], "classes": list(data.get("classes", [])),
                     "centers": data.get("centers"), "sigma": data.get("sigma")},
            "nets": {"G": s["G"], "D": s["D"]},
            "ema": {"G": s["G_ema"]} if s.get("G_ema") is not None else {},
            "opts": {"g": s["opt_g"], "d": s["opt_d"]},
            "parts": {"sampler": s["sampler"]},
            "fixed": {"z": s["fixed_z"], **({"y": s["fixed_y"]} if s.get("fixed_y") is not None else {})},
        }

    # ------------------------------------------------------------ training

    def __init__(self, cfg, data, meta, device, fast, ctx):
        super().__init__(cfg, data, meta, device, fast, ctx)
        self.spec = ModelSpec(**meta["spec"])
        self.x = data.x.pin_memory().to(device, non_blocking=True) if fast.pin_memory else data.x.to(device)
        self.y = data.labels.to(device) if (data.labels is not None and self.spec.num_classes) else None
        self.sampler = BatchSampler(len(self.x), cfg.batch_size, cfg.seed + 1, device, ctx)
        self.sampler.pin = fast.pin_memory
        # Fixed noise (and labels: one class per row) for the sample timeline: the same z every time.
        g = torch.Generator().manual_seed(cfg.seed + 2)
        self.fixed_y = conditional_labels(self.spec.num_classes, cfg.sample_count) if self.spec.num_classes else None
        n_fixed = len(self.fixed_y) if self.fixed_y is not None else cfg.sample_count
        self.fixed_z = torch.randn(n_fixed, self.spec.z_dim, generator=g)
        self._scratch: dict = {}
        o = cfg.options
        self.ada = AdaptiveAugment(o.ada_target, o.diffaugment) if o.ada_target > 0 else None

    @property
    def d_output(self) -> str:
        return LOSSES.get(self.cfg.options.loss).output

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        return [OptGroup("d", ("D",), "lr_d"), OptGroup("g", ("G",), "lr_g")]

    def phases(self) -> list[Phase]:
        o = self.cfg.options
        clip = o.clip_value if LOSSES.get(o.loss).clip else 0.0
        # G's update needs no gradient for D's weights: saves a third of D's backward
        return [Phase("d", "d", repeat=o.n_critic, weight_clip=clip), Phase("g", "g", frozen=("D",))]

    def parts(self) -> dict:
        return {"sampler": self.sampler, **({"ada": self.ada} if self.ada is not None else {})}

    def fixed(self) -> dict[str, torch.Tensor]:
        return {"z": self.fixed_z, **({"y": self.fixed_y} if self.fixed_y is not None else {})}

    def set_fixed(self, fixed: dict[str, torch.Tensor]) -> None:
        self.fixed_z, self.fixed_y = fixed["z"], fixed.get("y")

    def images_per_step(self) -> int:
        return self.sampler.batch_size * self.cfg.options.n_critic

    def real_reference(self, n: int, seed: int) -> torch.Tensor:
        return health.reference_batch(self.data.x, n, seed)

    def dataset_info(self) -> dict:
        return {"name": self.data.name, "n": len(self.data), "kind": self.data.kind}

    def _d_input(self, x: torch.Tensor) -> torch.Tensor:
        o = self.cfg.options
        if self.ada is not None:
            x = self.ada(x)
        elif o.diffaugment:
            x = diff_augment(x, o.diffaugment)
        if o.instance_noise > 0:
            sigma = o.instance_noise * max(0.0, 1.0 - self.step / self.cfg.steps)  # annealed to 0 by the end
            if sigma > 0:
                x = x + sigma * torch.randn_like(x)
        return x

    def loss(self, phase: Phase, repeat: int, nets) -> Terms:
        return self._d_loss(repeat, nets) if phase.name == "d" else self._g_loss(nets)

    def _d_loss(self, repeat: int, nets) -> Terms:
        o, loss, fp, s = self.cfg.options, LOSSES.get(self.cfg.options.loss), self.fast, self._scratch
        G, D = nets["G"], nets["D"]
        G_t, D_t = nets.train["G"], nets.train["D"]
        B = self.sampler.batch_size
        if repeat == 0:
            s.clear()
            s["reuse"] = o.n_critic == 1  # one G forward serves the D step (detached) and the G step
            aux = o.aux_weight if D.aux is not None else 0.0
            s["kw"] = dict(features=o.feature_matching > 0, classify=aux > 0)
            s["aux"] = aux
            s["pair"] = None
            if o.mode_seeking and self.y is not None:
                # mode seeking pairs sample i with sample half+i: fakes get the classes of rows `pair` of the batch
                half = B // 2
                s["pair"] = torch.cat([torch.arange(half), torch.arange(half), torch.arange(2 * half, B)]).to(self.device)
        kw, aux, pair = s["kw"], s["aux"], s["pair"]
        idx = self.sampler.next()
        real = fp.images(self.x.index_select(0, idx))
        y = self.y.index_select(0, idx) if self.y is not None else None
        y_fake = y.index_select(0, pair) if pair is not None else y
        z = torch.randn(B, self.spec.z_dim, device=self.device)
        if s["reuse"]:
            fake = G_t(z, y_fake)
            fake_d = fake.detach()
            s["fake"], s["z"] = fake, z
        else:
            with torch.no_grad():
                fake_d = G(z, y_fake)
        s["y_fake"] = y_fake
        real_in, fake_in = self._d_input(real), self._d_input(fake_d)
        # Real and fake share one D pass unless D's BatchNorm would mix their statistics. Only on GPUs
        # does the doubled batch pay: on the CPU two passes of 128 measured faster than one of 256.
        if self.device.type == "cuda" and not (D.has_batchnorm and o.separate_batches):
            logits, feats, cls = _unpack(D_t(torch.cat([real_in, fake_in]), None if y is None else torch.cat([y, y_fake]), **kw), kw)
            lr_, lf_ = logits[:B], logits[B:]
            feats_real = feats[:B] if feats is not None else None
            cls_real = cls[:B] if cls is not None else None
        else:
            lr_, feats_real, cls_real = _unpack(D_t(real_in, y, **kw), kw)
            lf_ = D_t(fake_in, y_fake)
        if feats_real is not None:
            s["feats_real"] = feats_real.detach()
        if loss.relativistic:
            s["real_in"], s["y_real"] = real_in.detach(), y
        loss_d = loss.d_loss(lr_, lf_, 1.0 - o.label_smoothing)
        out = {"loss/d": loss_d}
        if self.ada is not None:
            self.ada.observe(torch.sign(lr_.detach() - lf_.detach()) if loss.relativistic else torch.sign(lr_.detach()))
            out["aug/p"] = torch.tensor(self.ada.p, device=lr_.device)
        if loss.output == "prob":
            out["d/real"], out["d/fake"] = torch.sigmoid(lr_.detach()).mean(), torch.sigmoid(lf_.detach()).mean()
        else:
            out["d/real"], out["d/fake"] = lr_.detach().mean(), lf_.detach().mean()
        if aux:
            ce = F.cross_entropy(cls_real.float(), y)  # real images only: see GANOptions.aux_weight
            out["loss/aux_d"] = ce
            loss_d = loss_d + aux * ce
        every = o.penalty_every
        if loss.penalty and (self.step * o.n_critic + repeat) % every:
            return Terms(loss_d, out)  # lazy regularisation: this D step goes without the penalty
        if loss.penalty == "gp":
            with fp.full_precision():
                # each interpolate lies between a real and a fake of one class, scored under that class
                real_gp = real_in if pair is None else real_in.index_select(0, pair)
                gp = gradient_penalty(D, real_gp.float(), fake_in.float(), y_fake)
            out["loss/gp"] = gp
            loss_d = loss_d + every * o.gp_weight * gp
        elif loss.penalty in ("r1", "r1r2"):
            with fp.full_precision():
                r1 = r1_penalty(D, real_in.float(), y)
                out["loss/r1"] = r1
                if loss.penalty == "r1r2":  # R2: the same penalty at the fakes D was just shown
                    r2 = r1_penalty(D, fake_in.float(), y_fake)
                    out["loss/r2"] = r2
                    r1 = r1 + r2
            loss_d = loss_d + every * 0.5 * o.r1_gamma * r1
        return Terms(loss_d, out)

    def _g_loss(self, nets) -> Terms:
        o, loss, s = self.cfg.options, LOSSES.get(self.cfg.options.loss), self._scratch
        kw, aux, y_fake = s["kw"], s["aux"], s["y_fake"]
        if s["reuse"]:
            fake, z = s["fake"], s["z"]
        else:
            z = torch.randn(self.sampler.batch_size, self.spec.z_dim, device=self.device)
            fake = nets.train["G"](z, y_fake)
        lf_g, feats_fake, cls_fake = _unpack(nets["D"](self._d_input(fake), y_fake, **kw), kw)
        if loss.relativistic:
            with torch.no_grad():  # G's gradient flows through the fakes only: the reals' logits are constants
                lr_g = nets["D"](s["real_in"], s["y_real"])
            loss_g = loss.g_loss(lf_g, lr_g)
        else:
            loss_g = loss.g_loss(lf_g)
        out = {"loss/g": loss_g}
        half = self.sampler.batch_size // 2
        if o.mode_seeking and half:
            ms = mode_seeking_loss(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
            out["loss/mode_seeking"] = ms
            loss_g = loss_g + o.mode_seeking * ms
        if aux:
            ce = F.cross_entropy(cls_fake.float(), y_fake)
            out["loss/aux_g"] = ce
            loss_g = loss_g + aux * ce
        if kw["features"]:
            fm = (s["feats_real"].float().mean(0) - feats_fake.float().mean(0)).square().mean()
            out["loss/feature_matching"] = fm
            loss_g = loss_g + o.feature_matching * fm
        s.clear()  # no graph outlives the step
        return Terms(loss_g, out)

    # ------------------------------------------------------------ preview

    @torch.no_grad()
    def preview(self, nets) -> Preview:
        """G (or its EMA) on the fixed noise, BatchNorm normalising with the fixed batch's own statistics.

        Early in training BatchNorm's running averages lag far behind the weights (dcgan-tf keeps
        Keras' momentum of 0.01), so eval-mode grids looked worse than the generator was; the fixed
        batch of 64 is a sound normaliser, as in the PyTorch DCGAN example. Running statistics are
        neither used nor changed.
        """
        G = nets["G"]
        was_training = G.training
        G.eval()
        norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.train()
            m.track_running_stats = False
        try:
            y = None if self.fixed_y is None else self.fixed_y.to(self.device)
            samples = G(self.fixed_z.to(self.device), y).float().cpu()
        finally:
            for m in norms:
                m.track_running_stats = True
            G.train(was_training)
        if self.data.kind == "points":
            pts = samples.numpy().astype(np.float32)
            return Preview(samples, scatter_plot(pts, self.data.centers, sigma=self.data.sigma), pts)
        return Preview(samples, make_grid(samples, ncol=grid_columns(len(samples), self.spec.num_classes)))

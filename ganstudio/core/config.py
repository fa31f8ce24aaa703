"""Training configuration: one frozen dataclass with working defaults, TOML in and out, presets."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ganstudio.core.registry import Registry


class ConfigError(ValueError):
    """A config value or file the user must fix; str(e) is one clear line."""


def _f(default, group: str, why: str, choices: str | tuple = "", minimum: float | None = None):
    """A config field with the metadata the CLI, TOML writer and GUI forms read.

    `why` is the one sentence shown as a tooltip; `choices` is a tuple of values
    or the name of a registry ("model", "loss", ...) that lists them.
    """
    return field(default=default, metadata={"group": group, "why": why, "choices": choices, "min": minimum})


@dataclass(frozen=True)
class TrainConfig:
    # --- data
    dataset: str = _f("mnist", "data", "A built-in dataset name (see `ganstudio datasets`) or a path to an image folder, IDX file or .npz.")
    image_size: int = _f(0, "data", "Side of the square images the models see; 0 keeps the dataset's native size.", minimum=0)
    channels: int = _f(0, "data", "1 for grayscale, 3 for colour; 0 keeps the dataset's own.", choices=(0, 1, 3))
    # --- model
    model: str = _f("dcgan", "model", "Generator/discriminator architecture.", choices="model")
    conditional: bool = _f(False, "model", "Feed class labels to G and D (conditional GAN, Mirza & Osindero 2014) so you can ask for a class.")
    cond_d: str = _f("projection", "model", "How D sees the label: projection (Miyato & Koyama 2018) is more stable than concatenating it to the input.", choices=("projection", "concat"))
    z_dim: int = _f(100, "model", "Size of the noise vector G turns into a sample.", minimum=1)
    g_width: int = _f(64, "model", "Base width of G; wider learns more detail but trains slower.", minimum=1)
    d_width: int = _f(64, "model", "Base width of D; keep it close to G's so neither overpowers the other.", minimum=1)
    d_batchnorm: bool = _f(False, "model", "BatchNorm in D's hidden layers (DCGAN); must stay off for WGAN-GP, whose penalty is per-sample.")
    d_dropout: float = _f(0.0, "model", "Dropout in an MLP D: noise that keeps D from memorising the training set.", minimum=0.0)
    # --- loss
    loss: str = _f("ns", "loss", "The adversarial objective.", choices="loss")
    gp_weight: float = _f(10.0, "loss", "λ of the WGAN-GP gradient penalty (Gulrajani et al. 2017 use 10).", minimum=0.0)
    r1_gamma: float = _f(10.0, "loss", "γ of the R1 penalty on D's gradient at real data (Mescheder et al. 2018).", minimum=0.0)
    clip_value: float = _f(0.01, "loss", "WGAN weight clipping range: keeps the critic Lipschitz (Arjovsky et al. 2017 use 0.01).", minimum=0.0)
    # --- optimisation
    optimizer: str = _f("adam", "optim", "Adam for most GANs; RMSprop for weight-clipped WGAN, where momentum destabilises the critic.", choices=("adam", "rmsprop"))
    lr_g: float = _f(2e-4, "optim", "Generator learning rate; separate from D's (TTUR, Heusel et al. 2017) so D can learn faster.", minimum=0.0)
    lr_d: float = _f(2e-4, "optim", "Discriminator learning rate (TTUR: often 2-4x G's).", minimum=0.0)
    beta1: float = _f(0.5, "optim", "Adam β1: 0.5 (DCGAN) or 0 (WGAN-GP) damps the momentum that makes GAN training oscillate.", minimum=0.0)
    beta2: float = _f(0.999, "optim", "Adam β2.", minimum=0.0)
    n_critic: int = _f(1, "optim", "D updates per G update: a critic must be near-optimal for its gradient to mean anything (WGAN: 5).", minimum=1)
    batch_size: int = _f(128, "optim", "Real images per D step.", minimum=1)
    lr_decay: bool = _f(False, "optim", "Decay both learning rates linearly to 0 over the second half of training: sharper final samples.")
    # --- tricks
    label_smoothing: float = _f(0.0, "tricks", "One-sided label smoothing: real target 1-s (e.g. 0.1 → 0.9) stops D from becoming over-confident (Salimans et al. 2016).", minimum=0.0)
    instance_noise: float = _f(0.0, "tricks", "Std of Gaussian noise added to D's real and fake inputs, annealed to 0: overlaps the two distributions so D's gradient stays useful (Sønderby et al. 2017).", minimum=0.0)
    spectral_norm: bool = _f(False, "tricks", "Spectral normalisation of D's layers keeps D Lipschitz, a cheap and stable alternative to gradient penalties (Miyato et al. 2018).")
    ema: float = _f(0.0, "tricks", "Decay of an exponential moving average of G's weights (e.g. 0.999, ramped up from the start of the run); samples from the average are smoother and sharper (Karras et al. 2018). 0 = off.", minimum=0.0)
    diffaugment: str = _f("", "tricks", "Differentiable augmentation of real and fake images seen by D (e.g. 'translation,cutout,color'): stops D overfitting small datasets (Zhao et al. 2020).")
    minibatch: str = _f("none", "tricks", "Let D see batch statistics so G cannot collapse to one mode: minibatch std (Karras 2018) or minibatch discrimination (Salimans 2016).", choices=("none", "std", "discrimination"))
    feature_matching: float = _f(0.0, "tricks", "Weight of feature matching: G also matches the mean of D's features on real data, a steadier target than fooling D (Salimans et al. 2016). 0 = off.", minimum=0.0)
    aux_weight: float = _f(0.0, "tricks", "AC-GAN (Odena et al. 2017): D also learns to name the class of real images, and G is rewarded when D names the class it was asked for; keeps a conditional GAN's classes apart (it is trained on real images only, so G is not pushed towards one easy-to-name look per class). 0 = off.", minimum=0.0)
    mode_seeking: float = _f(0.0, "tricks", "Mode seeking (Mao et al. 2019): G is rewarded when two noise vectors given the same class make different images (it minimises 1 / the ratio of image to noise distance), so a conditional GAN cannot answer each class with one look. Weight; 0 = off.", minimum=0.0)
    separate_batches: bool = _f(True, "tricks", "A D with BatchNorm sees real and fake in separate batches, so batch statistics cannot tell them apart (GAN hacks, Chintala et al.). Ds without BatchNorm take both in one pass either way.")
    # --- image-to-image translation (models pix2pix and cyclegan)
    l1_weight: float = _f(100.0, "translation", "pix2pix: weight λ of the L1 distance to the target, which keeps outputs close to the truth while the adversarial loss keeps them sharp (Isola et al. use 100).", minimum=0.0)
    cycle_weight: float = _f(10.0, "translation", "CycleGAN: weight λ of the cycle loss ‖F(G(a)) − a‖₁, which forces a translation that can be undone (Zhu et al. use 10).", minimum=0.0)
    identity_weight: float = _f(0.5, "translation", "CycleGAN: identity loss weight, as a fraction of λ: an image already in the target domain should pass unchanged, which preserves colours (0.5 in the paper).", minimum=0.0)
    pool_size: int = _f(50, "translation", "CycleGAN: D also sees a pool of earlier fakes, so it cannot chase G's latest trick (Shrivastava et al. 2017; 50 in the paper).", minimum=0)
    unet_depth: int = _f(0, "translation", "pix2pix: U-Net levels; 0 = down to 1×1, as the paper's generator.", minimum=0)
    resnet_down: int = _f(2, "translation", "CycleGAN: stride-2 levels in each generator (2 in the paper); 1 keeps the outlines of small (28-64 px) images sharp at the same cost.", minimum=0)
    resnet_blocks: int = _f(6, "translation", "CycleGAN: residual blocks in each generator (6 for 128 px, 9 for 256 px in the paper).", minimum=0)
    norm: str = _f("instance", "translation", "Normalisation in the translation networks: instance norm keeps each image's contrast its own.", choices=("instance", "batch"))
    jitter: int = _f(0, "translation", "Random jitter: each training pair is shifted by up to this many pixels (edges reflected), the same shift for A and B when paired; the paper's resize-and-crop, so G sees more variety than the files hold (Isola et al. 2017). 0 = off.", minimum=0)
    mirror: bool = _f(False, "translation", "Mirror training pairs left-right at random (A and B together when paired), as the paper does; leave off for images whose meaning flips (text, digits).")
    g_dropout: float = _f(0.5, "translation", "pix2pix: dropout in the U-Net decoder, the only noise the generator gets.", minimum=0.0)
    # --- run
    steps: int = _f(2000, "run", "Total number of G updates; a resumed run continues up to this.", minimum=1)
    seed: int = _f(0, "run", "Seed of every random number: the same seed and config give the same run.")
    device: str = _f("auto", "run", "auto picks CUDA when available.", choices=("auto", "cpu", "cuda"))
    threads: int = _f(0, "run", "CPU threads for torch; 0 = automatic (all cores for images, one for tiny 2-D models).", minimum=0)
    amp: str = _f("auto", "speed", "Mixed precision: matrix maths in 16 bits, about twice as fast on recent GPUs. auto = bf16 on GPUs that have it, else fp16 with a gradient scaler (so small gradients do not underflow); off on the CPU. Penalties (GP, R1) stay in 32 bits.", choices=("auto", "off", "bf16", "fp16"))
    channels_last: str = _f("auto", "speed", "Store image tensors as NHWC, the layout GPU tensor cores convolve fastest; auto = on with CUDA.", choices=("auto", "on", "off"))
    cudnn_benchmark: str = _f("auto", "speed", "Let cuDNN time its convolution algorithms once and keep the fastest (shapes never change during training); auto = on with CUDA.", choices=("auto", "on", "off"))
    pin_memory: str = _f("auto", "speed", "Page-locked host memory, so copies to the GPU run asynchronously beside compute; auto = on with CUDA.", choices=("auto", "on", "off"))
    log_every: int = _f(10, "run", "Steps between metric records (losses are averaged over them).", minimum=1)
    sample_every: int = _f(200, "run", "Steps between saved sample grids (the timeline).", minimum=1)
    checkpoint_every: int = _f(1000, "run", "Steps between periodic checkpoints (latest.pt is always updated then too).", minimum=1)
    sample_count: int = _f(64, "run", "Samples in the fixed-noise grid.", minimum=1)
    eval_every: int = _f(0, "run", "Steps between background evaluations (Fréchet distance, KID, precision/recall on 1,000 samples, in a separate process on one CPU thread, so training never waits); each keeps a step_N.pt and adds to eval.json. 0 = off.", minimum=0)
    keep_best: bool = _f(False, "run", "Keep checkpoints/best.pt, the evaluated checkpoint with the lowest Fréchet distance: GANs oscillate, and the last step is not always the best (needs eval_every).")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_info() -> dict[str, dict]:
    """Per field: type, default, group, why, choices — what forms and --help show."""
    out = {}
    for f in fields(TrainConfig):
        out[f.name] = {"type": f.type, "default": f.default, **f.metadata}
    return out


GROUP_ORDER = ("data", "model", "loss", "optim", "tricks", "translation", "run", "speed")
# Models that translate images (paired or unpaired data) instead of generating from noise.
TRANSLATION_TASKS = ("pix2pix", "cyclegan")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a TOML value or a --set string to the field's type, or raise ConfigError."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}: expected true/false, got {value!r}")
        try:
            number = float(text) if kind is not str else text
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if kind is float:
            return number
        if not float(number).is_integer():  # "1e4" is a fine step count, "2.5" is not
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return int(number)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Return cfg with fields replaced; unknown keys and wrong types raise ConfigError."""
    known = {f.name: f.default for f in fields(TrainConfig)}
    changes = {}
    for key, value in overrides.items():
        if key not in known:
            close = [k for k in known if key.split(".")[-1] in k or k in key]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint}")
        changes[key] = _coerce(key, value, known[key])
    return replace(cfg, **changes)


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check values that belong together; raise ConfigError naming the field."""
    from ganstudio.core.losses import LOSSES
    from ganstudio.core.models import MODELS

    info = field_info()
    for name, meta in info.items():
        value = getattr(cfg, name)
        choices = meta["choices"]
        if choices == "model":
            if value not in MODELS and value not in TRANSLATION_TASKS:
                raise ConfigError(f"model: unknown {value!r}; valid: {', '.join(MODELS.names() + list(TRANSLATION_TASKS))}")
        elif choices == "loss":
            if value not in LOSSES:
                raise ConfigError(f"loss: unknown {value!r}; valid: {', '.join(LOSSES.names())}")
        elif choices and value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")
        if meta["min"] is not None and value < meta["min"]:
            raise ConfigError(f"{name}: must be ≥ {meta['min']}, got {value}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}: must be a finite number, got {value}")
    loss = LOSSES.get(cfg.loss)
    if cfg.label_smoothing and not loss.supports_label_smoothing:
        raise ConfigError(f"label_smoothing: the {cfg.loss} loss has no real-label target to smooth; use minimax, ns, lsgan or r1")
    if not cfg.label_smoothing < 1:
        raise ConfigError("label_smoothing: must be below 1 (0.1 makes the real target 0.9)")
    if cfg.aux_weight > 0 and not cfg.conditional:
        raise ConfigError("aux_weight: the auxiliary classifier names classes; it needs conditional = true")
    if not 0 <= cfg.ema < 1:
        raise ConfigError("ema: a decay in [0, 1), e.g. 0.999 (0 = off)")
    if loss.penalty == "gp" and cfg.d_batchnorm:
        raise ConfigError("d_batchnorm: WGAN-GP penalises each sample's gradient, which BatchNorm mixes across the batch; turn one off")
    if cfg.diffaugment:
        from ganstudio.core.augment import DIFFAUG_POLICIES

        for p in cfg.diffaugment.split(","):
            if p.strip() not in DIFFAUG_POLICIES:
                raise ConfigError(f"diffaugment: unknown policy {p.strip()!r}; valid: {', '.join(DIFFAUG_POLICIES)}")
    return cfg


# ---------------------------------------------------------------- TOML


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # JSON escapes are valid TOML basic strings


def to_toml(cfg: TrainConfig) -> str:
    """Human-readable TOML: one table per group, each key preceded by its why."""
    info = field_info()
    lines = ["# GAN Studio training config. Load with: ganstudio train --config THIS_FILE", ""]
    for group in GROUP_ORDER:
        lines.append(f"[{group}]")
        for name, meta in info.items():
            if meta["group"] == group:
                lines.append(f"# {meta['why']}")
                lines.append(f"{name} = {_toml_value(getattr(cfg, name))}")
        lines.append("")
    return "\n".join(lines)


def from_toml(text: str, base: TrainConfig | None = None, source: str = "config") -> TrainConfig:
    """Parse TOML (tables by group, or flat keys) over `base`; errors name the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    try:
        return apply_overrides(base or TrainConfig(), flat)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def load_toml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}") from None
    return from_toml(text, base, source=str(p))


# ---------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    overrides: dict

    def config(self) -> TrainConfig:
        return apply_overrides(TrainConfig(), self.overrides)


PRESETS: Registry[Preset] = Registry("preset")


def _preset(name: str, summary: str, **overrides) -> None:
    PRESETS.register(name, Preset(name, summary, overrides))


_preset(
    "gan-mlp-mnist",
    "Goodfellow et al. 2014: MLP generator and discriminator (dropout) on MNIST, non-saturating loss.",
    dataset="mnist", model="mlp", loss="ns", d_dropout=0.3, batch_size=64, steps=5000,
)
_preset(
    "dcgan-mnist",
    "The TensorFlow DCGAN tutorial model on MNIST: batch 128, Adam(2e-4, 0.5): our speed yardstick.",
    dataset="mnist", model="dcgan-tf", loss="ns", batch_size=128, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, steps=2000,
)
_preset(
    "cgan-mnist",
    "Conditional DCGAN on MNIST (label embedding in G, projection D): ask for any digit. EMA of G and lr decay "
    "make the samples sharp; batch 64 buys twice the updates of batch 128 in the same 10 CPU-minutes.",
    dataset="mnist", model="dcgan-tf", conditional=True, cond_d="projection", loss="ns", batch_size=64,
    ema=0.999, lr_decay=True, steps=3000,
)
_preset(
    "cgan-fashion",
    "Conditional DCGAN on Fashion-MNIST (label embedding in G, projection D): ask for any garment. An auxiliary "
    "classifier keeps look-alike garments apart, mode seeking gives each garment many looks, DiffAugment stops D "
    "memorising 9,000 images; EMA of G and lr decay, sized for one CPU-hour (a minute or two on a GPU).",
    dataset="fashion", model="dcgan-tf", conditional=True, cond_d="projection", loss="ns", batch_size=128,
    aux_weight=1.0, mode_seeking=1.0, diffaugment="translation,cutout", ema=0.999, lr_decay=True, steps=8800,
)
_preset(
    "dcgan-fashion",
    "DCGAN (Radford et al. 2016) on Fashion-MNIST at 28 px.",
    dataset="fashion", model="dcgan", loss="ns", batch_size=128, steps=3000,
)
_preset(
    "wgan-clip-mnist",
    "WGAN with weight clipping (Arjovsky et al. 2017): RMSprop 5e-5, clip 0.01, 5 critic steps.",
    dataset="mnist", model="dcgan", loss="wgan", optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5,
    clip_value=0.01, n_critic=5, batch_size=64, steps=3000,
)
_preset(
    "wgan-gp-fashion",
    "WGAN-GP (Gulrajani et al. 2017) on Fashion-MNIST: λ 10, 5 critic steps, Adam(1e-4, 0, 0.9).",
    dataset="fashion", model="dcgan", loss="wgan-gp", gp_weight=10.0, n_critic=5,
    lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9, batch_size=64, steps=3000,
)
_preset(
    "ring8",
    "8 Gaussians on a ring (PacGAN protocol), MLP on 2-D points: minibatch std keeps every mode, EMA and lr decay make samples precise.",
    dataset="ring8", model="mlp", loss="ns", z_dim=2, g_width=128, d_width=128, batch_size=256,
    lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999, minibatch="std", ema=0.999, lr_decay=True,
    steps=10000, log_every=50, sample_every=500, sample_count=512,
)
_preset(
    "grid25",
    "25 Gaussians on a 5×5 grid (PacGAN protocol), MLP on 2-D points: the harder coverage test; minibatch std, EMA and lr decay as for ring8.",
    dataset="grid25", model="mlp", loss="ns", z_dim=2, g_width=256, d_width=256, batch_size=256,
    lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.999, minibatch="std", ema=0.999, lr_decay=True,
    steps=12000, log_every=50, sample_every=500, sample_count=512,
)
_preset(
    "pix2pix-edges2fashion",
    "pix2pix (Isola et al. 2017): edge maps of Fashion-MNIST to the items; U-Net G, PatchGAN D, adversarial + 100·L1.",
    dataset="edges2fashion", model="pix2pix", image_size=32, g_width=32, d_width=32, batch_size=16,
    lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, l1_weight=100.0, steps=4000, sample_every=250, log_every=10,
)
_preset(
    "cyclegan-horse2zebra",
    "CycleGAN (Zhu et al. 2017): Animal-MNIST horses ↔ zebras, unpaired; LSGAN, cycle 10, identity 0.5, pool 50, lr decay; one stride-2 level at 28 px.",
    dataset="horse2zebra", model="cyclegan", g_width=32, d_width=32, resnet_blocks=6, resnet_down=1, batch_size=4,
    lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, cycle_weight=10.0, identity_weight=0.5, pool_size=50,
    lr_decay=True, steps=4000, sample_every=250, log_every=10,
)
_preset(
    "dcgan-animals",
    "DCGAN on Animal-MNIST silhouettes (bear … zebra).",
    dataset="animals", model="dcgan", loss="ns", batch_size=128, steps=3000,
)
_preset(
    "hinge-sn-fashion",
    "Hinge loss with a spectrally normalised D and TTUR (Miyato et al. 2018; Heusel et al. 2017) on Fashion-MNIST.",
    dataset="fashion", model="dcgan", loss="hinge", spectral_norm=True, lr_g=1e-4, lr_d=4e-4,
    beta1=0.0, beta2=0.9, batch_size=64, steps=3000,
)

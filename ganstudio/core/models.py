"""Generator/discriminator pairs (MLP, DCGAN, the TF-tutorial DCGAN) built by short name from a ModelSpec."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganstudio.core.blocks import Dropout, MinibatchDiscrimination, MinibatchStd, apply_spectral_norm, dcgan_init
from ganstudio.core.registry import Registry

COND_D = ("projection", "concat")
MINIBATCH = ("none", "std", "discrimination")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides a model's shape; saved with every checkpoint.

    Widths: `g_width`/`d_width` are the base widths.
      dcgan   : channels of G's last hidden layer and D's first layer, doubling per level.
      mlp     : images G 4w→8w→16w, D 8w→4w (w=64 gives Goodfellow-style 256/512/1024 and 512/256);
                points G and D use w hidden units in each of their three hidden layers
                (the 2-D presets pass 128 or more).
      dcgan-tf: fixed by the tutorial; widths are ignored.
    `embed_dim=0` picks the G label embedding size automatically: 10 for mlp and dcgan-tf
    (small models, one slot per MNIST class), min(z_dim, 50) for dcgan (a label should weigh
    about as much as the noise it is concatenated to, without dominating a 100-d z).
    """

    kind: str = "image"  # "image" or "points"
    channels: int = 1  # image channels (ignored for points)
    image_size: int = 28  # see supported_sizes: 4·2^k or 7·2^k for dcgan, 28 for dcgan-tf, any for mlp
    z_dim: int = 100
    num_classes: int = 0  # 0 = unconditional; >0 builds the conditional variant
    g_width: int = 64
    d_width: int = 64
    cond_d: str = "projection"  # "projection" (Miyato & Koyama 2018) or "concat"
    embed_dim: int = 0  # label embedding size in G; 0 = auto (see above)
    spectral_norm: bool = False  # on every conv/linear (and the projection embedding) of D
    minibatch: str = "none"  # "none" | "std" (Karras 2018) | "discrimination" (Salimans 2016)
    d_batchnorm: bool = False  # BatchNorm in D's hidden convs (dcgan only; WGAN-GP needs False)
    d_dropout: float = 0.0  # dropout after D's hidden layers (mlp only)
    aux_classifier: bool = False  # AC-GAN: a class head on D's features (conditional models)


# ---------------------------------------------------------------------------- G and D shells


def _check_labels(y: torch.Tensor | None, n: int, num_classes: int, who: str) -> torch.Tensor:
    if y is None:
        raise ValueError(
            f"this {who} is conditional ({num_classes} classes): pass y, int64 class labels of shape (N,)"
        )
    if y.shape != (n,):
        raise ValueError(f"{who} labels y must have shape ({n},), got {tuple(y.shape)}")
    return y


class Generator(nn.Module):
    """G(z, y=None) -> x: concatenates a label embedding to z (conditional) and runs `body`.

    z (N, z_dim) float; y (N,) int64, required when num_classes > 0 and ignored otherwise (so the
    loop may always pass the dataset's labels). Output: images (N, C, H, W) in [-1, 1] or points (N, 2).
    """

    def __init__(self, body: nn.Module, z_dim: int, num_classes: int = 0, embed_dim: int = 0,
                 out_shape: tuple[int, ...] = ()):
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.out_shape = out_shape  # (C, H, W) or (2,): lets callers size buffers without a forward
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.body = body

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            y = _check_labels(y, z.shape[0], self.num_classes, "generator")
            z = torch.cat([z, self.embed(y)], dim=1)  # (N, z_dim + embed_dim)
        return self.body(z)

    def forward_embedded(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """G with a label embedding given directly (N, embed_dim): blends between classes."""
        return self.body(torch.cat([z, e], dim=1))


class Discriminator(nn.Module):
    """D(x, y=None, features=False, classify=False) -> raw logits (N,), or (logits, feats (N, F)), with
    the auxiliary classifier's class logits (N, K) appended when `classify`.

    Pipeline: [flatten] -> [concat label] -> trunk -> feats h -> [minibatch layer] -> linear
    (+ projection <embed(y), h>). `feats` are the per-sample penultimate activations, taken before
    any minibatch layer: feature matching compares their batch means, and batch statistics
    appended by a minibatch layer would only add noise there.
    """

    def __init__(self, trunk: nn.Module, feat_shape: tuple[int, ...], *, flat_input: bool,
                 num_classes: int = 0, cond_d: str = "projection", minibatch: str = "none",
                 aux_classifier: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.cond_d = cond_d if num_classes else None
        self.flat_input = flat_input  # mlp Ds see the image as one vector
        self.trunk = trunk
        n_feat = math.prod(feat_shape)
        self.mbstd = MinibatchStd() if minibatch == "std" else None
        head_in = n_feat + (math.prod(feat_shape[1:]) if minibatch == "std" else 0)  # one extra map/feature
        self.mbdisc = None
        if minibatch == "discrimination":
            self.mbdisc = MinibatchDiscrimination(head_in)
            head_in += self.mbdisc.kernels
        self.fc = nn.Linear(head_in, 1)
        self.embed = None
        if self.cond_d == "projection":
            self.embed = nn.Embedding(num_classes, n_feat)
            nn.init.xavier_uniform_(self.embed.weight)  # N(0, 1) would swamp the linear term at start
        # AC-GAN's auxiliary classifier: class logits from the same penultimate features
        self.aux = nn.Linear(n_feat, num_classes) if aux_classifier and num_classes else None

    @property
    def has_batchnorm(self) -> bool:
        """True if any BatchNorm is inside: then real and fake must not share one forward pass."""
        return any(isinstance(m, _BatchNorm) for m in self.modules())

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, features: bool = False,
                classify: bool = False):
        if self.cond_d is not None:
            y = _check_labels(y, x.shape[0], self.num_classes, "discriminator")
        if self.flat_input:
            x = x.flatten(1)  # (N, C*H*W) or (N, 2)
        if self.cond_d == "concat":
            onehot = F.one_hot(y, self.num_classes).to(x.dtype)  # (N, K)
            if x.dim() == 4:
                onehot = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])  # (N, K, H, W)
            x = torch.cat([x, onehot], dim=1)
        f = self.trunk(x)  # (N, C', H', W') or (N, F)
        h = f.flatten(1)  # (N, F) penultimate features
        if self.mbstd is not None:
            f = self.mbstd(f)
        g = f.flatten(1)
        if self.mbdisc is not None:
            g = self.mbdisc(g)
        out = self.fc(g).squeeze(1)  # (N,)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        if classify:  # (logits, [feats,] class logits (N, K)): the class head runs inside forward for DDP
            if self.aux is None:
                raise ValueError("this discriminator has no auxiliary classifier (aux_weight = 0)")
            return (out, h, self.aux(h)) if features else (out, self.aux(h))
        return (out, h) if features else out


# ---------------------------------------------------------------------------- builders

MODELS: Registry = Registry("model")

MODEL_WHY: dict[str, str] = {
    "mlp": "Fully connected G and D (Goodfellow et al. 2014): fast on CPU, the model for 2-D point "
           "sets and a first look at MNIST.",
    "dcgan": "Convolutional G and D with BatchNorm in G (Radford et al. 2016): the standard baseline "
             "for 28-64 px images.",
    "dcgan-tf": "The exact 28 px DCGAN of the TensorFlow tutorial, for comparing with its published "
                "results.",
}


def _g_embed_dim(name: str, spec: ModelSpec) -> int:
    if spec.num_classes == 0:
        return 0
    if spec.embed_dim:
        return spec.embed_dim
    return min(spec.z_dim, 50) if name in ("dcgan", "resnet") else 10


def _d_in_channels(spec: ModelSpec) -> int:
    return spec.channels + (spec.num_classes if spec.num_classes and spec.cond_d == "concat" else 0)


def _finish_d(d: Discriminator, spec: ModelSpec) -> Discriminator:
    return apply_spectral_norm(d) if spec.spectral_norm else d


@MODELS.register("mlp")
def _build_mlp(spec: ModelSpec) -> tuple[Generator, Discriminator]:
    z_in = spec.z_dim + _g_embed_dim("mlp", spec)
    d_extra = spec.num_classes if spec.num_classes and spec.cond_d == "concat" else 0
    if spec.kind == "points":
        gw, dw = spec.g_width, spec.d_width
        # ReLU in G, LeakyReLU in D: the usual 2-D toy setup; three layers are enough to fold a
        # Gaussian into rings and spirals and stay at a few ms per step on CPU.
        body = nn.Sequential(
            nn.Linear(z_in, gw), nn.ReLU(),
            nn.Linear(gw, gw), nn.ReLU(),
            nn.Linear(gw, gw), nn.ReLU(),
            nn.Linear(gw, 2),  # (N, 2) linear output: points are unbounded
        )
        g = Generator(body, spec.z_dim, spec.num_classes, _g_embed_dim("mlp", spec), out_shape=(2,))
        trunk = nn.Sequential(
            nn.Linear(2 + d_extra, dw), nn.LeakyReLU(0.2), Dropout(spec.d_dropout),
            nn.Linear(dw, dw), nn.LeakyReLU(0.2), Dropout(spec.d_dropout),
            nn.Linear(dw, dw), nn.LeakyReLU(0.2), Dropout(spec.d_dropout),
        )
        d = Discriminator(trunk, (dw,), flat_input=True, num_classes=spec.num_classes,
                          cond_d=spec.cond_d, minibatch=spec.minibatch, aux_classifier=spec.aux_classifier)
        return g, _finish_d(d, spec)

    c, s = spec.channels, spec.image_size
    w = spec.g_width
    # LeakyReLU(0.2) and no BatchNorm in G: every sample is computed on its own, so a single
    # preview z, an interpolation and a batch-of-1 step give the same image in train and eval
    # mode; LeakyReLU keeps units from dying, which plain ReLU MLP GANs on MNIST are prone to.
    body = nn.Sequential(
        nn.Linear(z_in, 4 * w), nn.LeakyReLU(0.2),  # (N, 256) for w=64
        nn.Linear(4 * w, 8 * w), nn.LeakyReLU(0.2),  # (N, 512)
        nn.Linear(8 * w, 16 * w), nn.LeakyReLU(0.2),  # (N, 1024)
        nn.Linear(16 * w, c * s * s), nn.Tanh(),
        nn.Unflatten(1, (c, s, s)),  # (N, C, H, W)
    )
    g = Generator(body, spec.z_dim, spec.num_classes, _g_embed_dim("mlp", spec), out_shape=(c, s, s))
    w = spec.d_width
    trunk = nn.Sequential(
        nn.Linear(c * s * s + d_extra, 8 * w), nn.LeakyReLU(0.2), Dropout(spec.d_dropout),  # (N, 512)
        nn.Linear(8 * w, 4 * w), nn.LeakyReLU(0.2), Dropout(spec.d_dropout),  # (N, 256)
    )
    d = Discriminator(trunk, (4 * w,), flat_input=True, num_classes=spec.num_classes,
                      cond_d=spec.cond_d, minibatch=spec.minibatch,
                      aux_classifier=spec.aux_classifier)
    return g, _finish_d(d, spec)


@MODELS.register("dcgan")
def _build_dcgan(spec: ModelSpec) -> tuple[Generator, Discriminator]:
    c, s = spec.channels, spec.image_size
    base, levels = size_levels(s, DCGAN_BASES)  # 28 = 7·2², 32 = 4·2³, 64 = 4·2⁴: stride-2 layers per side
    z_in = spec.z_dim + _g_embed_dim("dcgan", spec)

    gw = spec.g_width
    ch = gw * 2 ** (levels - 1)  # 2w at 7x7 for 28 px, 4w at 4x4 for 32 px, 8w at 4x4 for 64 px
    g_layers: list[nn.Module] = [
        nn.Unflatten(1, (z_in, 1, 1)),  # (N, Z, 1, 1)
        # a base x base transposed conv on a 1x1 input is the dense projection of the paper
        nn.ConvTranspose2d(z_in, ch, base, 1, 0, bias=False),  # (N, ch, base, base)
        nn.BatchNorm2d(ch), nn.ReLU(True),
    ]
    for _ in range(levels - 1):  # double the size, halve the channels, down to (N, w, s/2, s/2)
        g_layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    # no BN on the output layer (Radford et al.), so it keeps a bias to centre the tanh
    g_layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]  # (N, C, s, s)
    g = Generator(nn.Sequential(*g_layers), spec.z_dim, spec.num_classes, _g_embed_dim("dcgan", spec),
                  out_shape=(c, s, s))

    dw = spec.d_width
    d_layers: list[nn.Module] = [nn.Conv2d(_d_in_channels(spec), dw, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    ch = dw  # (N, w, s/2, s/2); no BN on D's input layer (Radford et al.)
    for _ in range(levels - 1):  # down to (N, w·2^(levels-1), base, base)
        bn = spec.d_batchnorm
        d_layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not bn)]
        if bn:
            d_layers += [nn.BatchNorm2d(ch * 2)]
        d_layers += [nn.LeakyReLU(0.2, True)]
        ch *= 2
    # the final Linear on the flattened base x base map is the paper's last full-size conv
    d = Discriminator(nn.Sequential(*d_layers), (ch, base, base), flat_input=False,
                      num_classes=spec.num_classes, cond_d=spec.cond_d, minibatch=spec.minibatch,
                      aux_classifier=spec.aux_classifier)
    dcgan_init(g)
    dcgan_init(d)  # leaves the projection embedding's Xavier init alone
    return g, _finish_d(d, spec)


# Keras BatchNormalization defaults (momentum 0.99 of the running average, eps 1e-3) in torch terms,
# so the running statistics used for eval-mode samples evolve as in the tutorial.
_KERAS_BN = dict(eps=1e-3, momentum=0.01)


@MODELS.register("dcgan-tf")
def _build_dcgan_tf(spec: ModelSpec) -> tuple[Generator, Discriminator]:
    # Layer for layer the TensorFlow DCGAN tutorial (Keras LeakyReLU's default slope is 0.3).
    # Weights keep torch's default init rather than Keras' Glorot-uniform: both are fan-scaled
    # uniform inits and the tutorial trains the same with either.
    c = spec.channels
    z_in = spec.z_dim + _g_embed_dim("dcgan-tf", spec)
    body = nn.Sequential(
        nn.Linear(z_in, 7 * 7 * 256, bias=False),  # (N, 12544)
        nn.BatchNorm1d(7 * 7 * 256, **_KERAS_BN),
        nn.LeakyReLU(0.3),
        nn.Unflatten(1, (256, 7, 7)),  # (N, 256, 7, 7)
        nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False),  # (N, 128, 7, 7)
        nn.BatchNorm2d(128, **_KERAS_BN),
        nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False),  # (N, 64, 14, 14)
        nn.BatchNorm2d(64, **_KERAS_BN),
        nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, c, 5, 2, 2, output_padding=1, bias=False),  # (N, C, 28, 28)
        nn.Tanh(),
    )
    g = Generator(body, spec.z_dim, spec.num_classes, _g_embed_dim("dcgan-tf", spec), out_shape=(c, 28, 28))
    trunk = nn.Sequential(
        nn.Conv2d(_d_in_channels(spec), 64, 5, 2, 2),  # (N, 64, 14, 14)
        nn.LeakyReLU(0.3),
        Dropout(0.3),
        nn.Conv2d(64, 128, 5, 2, 2),  # (N, 128, 7, 7)
        nn.LeakyReLU(0.3),
        Dropout(0.3),
    )
    # Flatten + Dense(1) of the tutorial: the Discriminator shell flattens and owns the Linear.
    d = Discriminator(trunk, (128, 7, 7), flat_input=False, num_classes=spec.num_classes,
                      cond_d=spec.cond_d, minibatch=spec.minibatch,
                      aux_classifier=spec.aux_classifier)
    return g, _finish_d(d, spec)


# ---------------------------------------------------------------------------- validation


# An image side the conv models build at is base·2^levels: the base map G starts from, doubled per level.
DCGAN_BASES = (4, 7)
MIN_LEVELS = 1


def size_levels(size: int, bases: tuple[int, ...]) -> tuple[int, int]:
    """(base, levels) with size == base·2^levels, the smallest base that fits; ValueError if none does."""
    for base in sorted(bases):
        levels = 0
        while base * 2 ** levels < size:
            levels += 1
        if base * 2 ** levels == size and levels >= MIN_LEVELS:
            return base, levels
    raise ValueError(f"{size} px is not {' or '.join(f'{b}·2^k' for b in sorted(bases))}")


# Sides each model builds at; None = any side (the MLPs). Models registered elsewhere add theirs.
MODEL_SIZES: dict[str, tuple[int, ...] | None] = {"mlp": None, "dcgan-tf": (28,)}


def supported_sizes(name: str, limit: int = 1024) -> tuple[int, ...] | None:
    """Every image side up to `limit` that model `name` builds at, ascending; None when it takes any."""
    if name == "dcgan":
        return tuple(sorted({b * 2 ** k for b in DCGAN_BASES for k in range(MIN_LEVELS, 12) if b * 2 ** k <= limit}))
    return MODEL_SIZES.get(name)


def nearest_size(name: str, size: int) -> int:
    """The side model `name` builds at that is nearest to `size` on a log scale (ties go up): the size a
    dataset that the model cannot use exactly is resized to."""
    sizes = supported_sizes(name)
    if sizes is None or size in sizes:
        return size
    return min(sizes, key=lambda s: (abs(math.log(s / size)), -s))


def check_image_size(name: str, size: int) -> None:
    """ValueError unless model `name` builds at `size` px: checked from the config alone, before any data is loaded."""
    if name == "dcgan-tf" and size != 28:
        raise ValueError(f"dcgan-tf is the 28-px TensorFlow tutorial model; image_size must be 28, "
                         f"not {size} (use dcgan or resnet for other sizes)")
    sizes = supported_sizes(name)
    if sizes is not None and size not in sizes:
        near = nearest_size(name, size)
        shown = ", ".join(str(s) for s in sizes if s <= max(256, near))
        raise ValueError(f"{name} builds at image_size {shown}; not {size} (nearest: {near}, or 0 to fit the data)")


def _validate(name: str, spec: ModelSpec) -> None:
    if spec.kind not in ("image", "points"):
        raise ValueError(f"kind must be 'image' or 'points', not {spec.kind!r}")
    if spec.kind == "points" and name != "mlp":
        raise ValueError(f"{name} is an image model; use 'mlp' for kind='points'")
    for field in ("z_dim", "g_width", "d_width"):
        if getattr(spec, field) < 1:
            raise ValueError(f"{field} must be at least 1, not {getattr(spec, field)}")
    if spec.kind == "image" and spec.channels < 1:
        raise ValueError(f"channels must be at least 1, not {spec.channels}")
    if spec.kind == "image" and spec.image_size < 1:
        raise ValueError(f"image_size must be at least 1, not {spec.image_size}")
    if spec.num_classes < 0:
        raise ValueError(f"num_classes must be 0 (unconditional) or more, not {spec.num_classes}")
    if spec.num_classes == 1:
        raise ValueError("num_classes=1 has nothing to condition on; use 0 for an unconditional model")
    if spec.embed_dim < 0:
        raise ValueError(f"embed_dim must be 0 (auto) or more, not {spec.embed_dim}")
    if spec.cond_d not in COND_D:
        raise ValueError(f"cond_d must be one of {', '.join(COND_D)}, not {spec.cond_d!r}")
    if spec.minibatch not in MINIBATCH:
        raise ValueError(f"minibatch must be one of {', '.join(MINIBATCH)}, not {spec.minibatch!r}")
    if not 0.0 <= spec.d_dropout < 1.0:
        raise ValueError(f"d_dropout must be in [0, 1), not {spec.d_dropout}")
    if spec.kind == "image":
        check_image_size(name, spec.image_size)
    # Knobs a model does not have fail loudly instead of being silently ignored.
    if spec.d_batchnorm and name != "dcgan":
        raise ValueError(f"d_batchnorm applies to dcgan only; {name} has a fixed D without BatchNorm")
    if spec.d_dropout and name != "mlp":
        extra = " (dcgan-tf has its own fixed Dropout(0.3))" if name == "dcgan-tf" else ""
        raise ValueError(f"d_dropout applies to mlp only, not {name}{extra}")


def build_models(name: str, spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    """(G, D) for a registered model name; raises ValueError naming the problem for a bad spec."""
    builder = MODELS.get(name)  # UnknownNameError (a ValueError) lists the valid names
    _validate(name, spec)
    return builder(spec)

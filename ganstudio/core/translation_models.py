"""Image-to-image translation networks (pix2pix U-Net, CycleGAN ResNet G, PatchGAN D), their losses, pool and schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganstudio.core.blocks import Dropout, dcgan_init
from ganstudio.core.registry import Registry

NORMS = ("instance", "batch")
GENERATORS = ("unet", "resnet")  # the TRANSLATION_MODELS entries that build_generator accepts


@dataclass(frozen=True)
class TranslationSpec:
    """Everything that decides a translation network's shape; saved with every checkpoint.

    Widths follow the reference code: level i of the U-Net / PatchGAN has width·min(2^i, 8)
    channels; the ResNet G works at 2^resnet_down·g_width channels at 1/2^resnet_down of the resolution.
    `dropout` is the U-Net's only noise source (pix2pix has no z); the ResNet G has none
    (CycleGAN trains with --no_dropout).
    """

    in_channels: int = 3
    out_channels: int = 3
    image_size: int = 64  # unet: divisible by 2^depth (a power of two for auto depth); resnet: multiple of 4
    g_width: int = 32  # ngf (the papers use 64; half-width is the CPU default)
    d_width: int = 32  # ndf
    unet_depth: int = 0  # 0 = log2(image_size): down to 1x1 like pix2pix's unet_256; or fewer levels
    dropout: float = 0.5  # U-Net decoder dropout, 0 to disable
    resnet_blocks: int = 6  # CycleGAN: 6 for 128 px, 9 for 256 px
    resnet_down: int = 2  # stride-2 levels of the ResNet G (2 in the paper); 1 keeps small images sharp
    d_layers: int = 3  # PatchGAN stride-2 layers: 3 gives the 70x70 receptive field
    norm: str = "instance"  # "instance" (CycleGAN, pix2pix at batch 1) or "batch"


# ---------------------------------------------------------------------------- helpers


def _norm(kind: str, ch: int) -> nn.Module:
    # InstanceNorm without affine parameters or running stats, as in the reference code: train
    # and eval mode normalise the same way, so a batch-1 preview matches training.
    return nn.InstanceNorm2d(ch) if kind == "instance" else nn.BatchNorm2d(ch)


def _conv_bias(kind: str) -> bool:
    # BatchNorm's shift makes a conv bias redundant; affine-free InstanceNorm has no shift, so the
    # conv keeps its bias (the reference's use_bias rule).
    return kind == "instance"


def _init_weights(module: nn.Module) -> None:
    """The papers' init (conv weights N(0, 0.02), biases 0, BatchNorm scale N(1, 0.02)): DCGAN's."""
    dcgan_init(module)


def unet_depth(spec: TranslationSpec) -> int:
    """The number of stride-2 levels the U-Net of `spec` has (resolves unet_depth=0)."""
    return spec.unet_depth or int(round(math.log2(spec.image_size)))


# ---------------------------------------------------------------------------- generators


class UnetGenerator(nn.Module):
    """pix2pix G: (N, in_channels, H, W) -> (N, out_channels, H, W) in [-1, 1].

    Encoder level i: [LeakyReLU(0.2)] Conv k4 s2 p1 [norm] -> (N, w·min(2^i, 8), H/2^(i+1), W/2^(i+1)).
    The activation sits before each conv, as in the reference code, so a skip carries the
    pre-activation (normalised) map and the decoder's ReLU acts on [decoded, skip] together.
    No norm on the first level (raw pixels) or the innermost one (1x1 at full depth: instance
    norm would zero it, batch norm at batch 1 is undefined).
    Decoder level j (innermost first): ReLU ConvT k4 s2 p1 norm [dropout], its output
    concatenated with the encoder map of the same size; the outermost ends in tanh instead.
    """

    def __init__(self, spec: TranslationSpec):
        super().__init__()
        self.in_channels, self.out_channels = spec.in_channels, spec.out_channels
        depth = unet_depth(spec)
        self.depth = depth
        w, norm, bias = spec.g_width, spec.norm, _conv_bias(spec.norm)
        enc = [w * min(2 ** i, 8) for i in range(depth)]  # encoder output channels per level

        self.downs = nn.ModuleList()
        for i in range(depth):
            if i == 0:
                self.downs.append(nn.Conv2d(spec.in_channels, enc[0], 4, 2, 1, bias=bias))  # (N, w, H/2, W/2)
                continue
            layers: list[nn.Module] = [nn.LeakyReLU(0.2), nn.Conv2d(enc[i - 1], enc[i], 4, 2, 1, bias=bias)]
            if i < depth - 1:
                layers.append(_norm(norm, enc[i]))
            self.downs.append(nn.Sequential(*layers))  # (N, enc[i], H/2^(i+1), W/2^(i+1))

        self.ups = nn.ModuleList()
        for j in range(depth):  # j = 0 is the innermost decoder level
            lvl = depth - 1 - j  # the encoder level whose resolution this decoder level reads
            cin = enc[lvl] if j == 0 else 2 * enc[lvl]  # [decoded, skip] except at the bottleneck
            if lvl == 0:
                # the output layer keeps a bias: no norm follows it to centre the tanh
                self.ups.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, spec.out_channels, 4, 2, 1),
                                              nn.Tanh()))  # (N, out_channels, H, W)
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, enc[lvl - 1], 4, 2, 1, bias=bias), _norm(norm, enc[lvl - 1])]
            if j < 3 and spec.dropout > 0:
                # pix2pix's only noise: dropout on the first 3 decoder layers, in train and test
                # (callers wanting stochastic outputs at test time keep the model in train mode)
                layers.append(Dropout(spec.dropout))
            self.ups.append(nn.Sequential(*layers))  # (N, enc[lvl-1], H/2^lvl, W/2^lvl)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        h = x  # (N, C_in, H, W)
        for down in self.downs:
            h = down(h)
            skips.append(h)
        # h: (N, enc[-1], H/2^depth, W/2^depth), the bottleneck
        for j, up in enumerate(self.ups):
            if j > 0:
                h = torch.cat([h, skips[self.depth - 1 - j]], dim=1)  # (N, 2·enc[lvl], ...)
            h = up(h)
        return h  # (N, C_out, H, W)


class ResnetBlock(nn.Module):
    """x + [pad conv3 norm ReLU pad conv3 norm](x); reflection padding avoids border artefacts."""

    def __init__(self, ch: int, norm: str):
        super().__init__()
        bias = _conv_bias(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), _norm(norm, ch), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), _norm(norm, ch),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # no ReLU after the sum, as in the reference


class ResnetGenerator(nn.Module):
    """CycleGAN G (Johnson et al. 2016 style): (N, in_channels, H, W) -> (N, out_channels, H, W) in [-1, 1]."""

    def __init__(self, spec: TranslationSpec):
        super().__init__()
        self.in_channels, self.out_channels = spec.in_channels, spec.out_channels
        w, norm, bias = spec.g_width, spec.norm, _conv_bias(spec.norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(spec.in_channels, w, 7, bias=bias), _norm(norm, w), nn.ReLU(),  # (N, w, H, W)
        ]
        ch = w
        for _ in range(spec.resnet_down):  # (N, 2ch, H/2, W/2) each; the paper's two levels end at (4w, H/4, W/4)
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1, bias=bias), _norm(norm, 2 * ch), nn.ReLU()]
            ch *= 2
        layers += [ResnetBlock(ch, norm) for _ in range(spec.resnet_blocks)]  # (N, ch, H/2^down, W/2^down)
        for _ in range(spec.resnet_down):  # back up: (N, ch/2, 2h, 2w) each
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias), _norm(norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, spec.out_channels, 7), nn.Tanh()]  # (N, C_out, H, W)
        self.body = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN D: (N, in_channels, H, W) -> raw logits (N, 1, H', W'), one per overlapping patch.

    With d_layers=n the map is floor(H / 2^n) - 2 on a side (6x6 at 64 px, 30x30 at 256 px for n=3).
    """

    def __init__(self, in_channels: int, spec: TranslationSpec):
        super().__init__()
        self.in_channels = in_channels
        w, norm, bias = spec.d_width, spec.norm, _conv_bias(spec.norm)
        # no norm on the first layer: it sees raw pixels (Radford et al.)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2)]  # (N, w, H/2, W/2)
        ch = w
        for n in range(1, spec.d_layers):
            nxt = w * min(2 ** n, 8)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1, bias=bias), _norm(norm, nxt), nn.LeakyReLU(0.2)]  # (N, nxt, H/2^(n+1), ..)
            ch = nxt
        nxt = w * min(2 ** spec.d_layers, 8)
        layers += [nn.Conv2d(ch, nxt, 4, 1, 1, bias=bias), _norm(norm, nxt), nn.LeakyReLU(0.2)]  # (N, nxt, s-1, s-1)
        layers += [nn.Conv2d(nxt, 1, 4, 1, 1)]  # (N, 1, s-2, s-2) with s = H / 2^d_layers
        self.body = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


TRANSLATION_MODELS: Registry = Registry("translation model")
TRANSLATION_MODELS.register("unet", UnetGenerator)
TRANSLATION_MODELS.register("resnet", ResnetGenerator)
TRANSLATION_MODELS.register("patchgan", PatchDiscriminator)

TRANSLATION_WHY: dict[str, str] = {
    "unet": "pix2pix's encoder-decoder with skip connections (Isola et al. 2017): for paired data, "
            "where input and output share their layout.",
    "resnet": "CycleGAN's residual G (Zhu et al. 2017): for unpaired data; 6 blocks at 128 px, 9 at 256 px.",
    "patchgan": "A discriminator that classifies each overlapping patch (70x70 at 256 px) as real or "
                "fake, for pix2pix and CycleGAN.",
}


# ---------------------------------------------------------------------------- validation and builders


def _validate_common(spec: TranslationSpec) -> None:
    for field in ("in_channels", "out_channels", "image_size", "g_width", "d_width"):
        if getattr(spec, field) < 1:
            raise ValueError(f"{field} must be at least 1, not {getattr(spec, field)}")
    if spec.norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {spec.norm!r}")


def _validate_generator(name: str, spec: TranslationSpec) -> None:
    _validate_common(spec)
    s = spec.image_size
    if name == "unet":
        if not 0.0 <= spec.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {spec.dropout}")
        if spec.unet_depth < 0:
            raise ValueError(f"unet_depth must be 0 (auto) or more, not {spec.unet_depth}")
        if spec.unet_depth == 0 and (s < 2 or s & (s - 1)):
            raise ValueError(f"unet with unet_depth=0 (down to 1x1) needs a power-of-two image_size, not {s}; "
                             f"pick a power of two or set unet_depth so that 2^depth divides {s}")
        depth = unet_depth(spec)
        if s % 2 ** depth:
            raise ValueError(f"unet with unet_depth={depth} needs image_size divisible by 2^{depth} = {2 ** depth}, "
                             f"not {s}; use fewer levels or another image_size")
    elif name == "resnet":
        if spec.resnet_blocks < 0:
            raise ValueError(f"resnet_blocks must be 0 or more, not {spec.resnet_blocks}")
        if not 0 <= spec.resnet_down <= 4:
            raise ValueError(f"resnet_down must be 0 to 4 stride-2 levels, not {spec.resnet_down}")
        f = 2 ** spec.resnet_down
        if s % f:
            raise ValueError(f"resnet with resnet_down={spec.resnet_down} needs image_size divisible by {f}, not {s}")
        if s // f < 2:
            raise ValueError(f"resnet with resnet_down={spec.resnet_down} needs image_size at least {2 * f} "
                             f"(reflection padding at 1/{f} size), not {s}")


def build_generator(name: str, spec: TranslationSpec) -> nn.Module:
    """A translation G ("unet" | "resnet"); raises ValueError naming the problem for a bad spec."""
    cls = TRANSLATION_MODELS.get(name)  # UnknownNameError (a ValueError) lists the valid names
    if name not in GENERATORS:
        raise ValueError(f"{name!r} is a discriminator, not a generator; generators: {', '.join(GENERATORS)} "
                         f"(build D with build_patchgan)")
    _validate_generator(name, spec)
    return cls(spec)


def build_patchgan(in_channels: int, spec: TranslationSpec) -> nn.Module:
    """PatchGAN D. pix2pix: in_channels = in + out (D sees input and output concatenated); CycleGAN: one domain's."""
    _validate_common(spec)
    if in_channels < 1:
        raise ValueError(f"patchgan in_channels must be at least 1, not {in_channels}")
    if spec.d_layers < 1:
        raise ValueError(f"d_layers must be at least 1, not {spec.d_layers}")
    need = 3 * 2 ** spec.d_layers  # the map side is floor(s / 2^n) - 2, which must stay >= 1
    if spec.image_size < need:
        raise ValueError(f"patchgan with d_layers={spec.d_layers} needs image_size at least {need}, "
                         f"not {spec.image_size}; use fewer d_layers")
    return TRANSLATION_MODELS.get("patchgan")(in_channels, spec)


# ---------------------------------------------------------------------------- image pool


class ImagePool:
    """A buffer of past fakes for D's update (Shrivastava et al. 2017; CycleGAN uses 50).

    D then sees fakes from several past Gs, which damps oscillation. Per image: while the pool
    is not full the image is stored and returned; afterwards, with p=0.5, a random stored image is
    returned and the new one takes its place, else the new one is returned. Draws come from its own
    torch.Generator (default: a fresh one at torch's fixed default seed, so the global RNG is never
    touched) and its state is saved with the pool for an exact resume. Returned images are
    detached: the pool only feeds D's step, which must not backpropagate into G.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        if size < 0:
            raise ValueError(f"pool size must be 0 (no pool) or more, not {size}")
        self.size = size
        self.generator = generator if generator is not None else torch.Generator()
        self.images: list[Tensor] = []  # each (C, H, W)

    def query(self, images: Tensor) -> Tensor:
        """(N, C, H, W) fakes -> (N, C, H, W): each the new image or a stored older one."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for img in images:  # img (C, H, W)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand((), generator=self.generator).item() < 0.5:
                k = int(torch.randint(self.size, (), generator=self.generator).item())
                out.append(self.images[k].to(img.device))  # a resumed pool holds CPU tensors
                self.images[k] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def __len__(self) -> int:
        return len(self.images)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [t.cpu() for t in self.images],
                "generator": self.generator.get_state()}

    def load_state_dict(self, d: dict) -> None:
        if d["size"] != self.size:
            raise ValueError(f"pool state has size {d['size']}, this pool {self.size}")
        if len(d["images"]) > self.size:
            raise ValueError(f"pool state holds {len(d['images'])} images, more than its size {self.size}")
        self.images = [t.clone() for t in d["images"]]
        self.generator.set_state(d["generator"])


# ---------------------------------------------------------------------------- losses and schedule


def lsgan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Least-squares D loss (Mao et al. 2017, CycleGAN's choice) on patch maps of any shape, halved as in CycleGAN."""
    return 0.5 * (((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean())


def lsgan_g_loss(fake_logits: Tensor) -> Tensor:
    return ((fake_logits - 1) ** 2).mean()


def bce_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """pix2pix's vanilla GAN D loss on patch logits; halved as pix2pix does to slow D relative to G."""
    # softplus(-r) = -log sigmoid(r), softplus(f) = -log(1 - sigmoid(f)): stable for large logits
    return 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


def bce_g_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss: -log sigmoid(D(fake)) per patch, averaged."""
    return F.softplus(-fake_logits).mean()


def l1(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().mean()


def linear_decay(step: int, total: int) -> float:
    """lr factor: 1 for the first half of `total` steps, then linearly to 0 at `total` (CycleGAN's schedule)."""
    if total < 1:
        raise ValueError(f"total steps must be at least 1, not {total}")
    half = total / 2
    if step <= half:
        return 1.0
    return max(0.0, (total - step) / (total - half))

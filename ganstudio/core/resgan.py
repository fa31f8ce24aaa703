"""The `resnet` G and D: residual blocks without normalisation, at any side of 4, 5, 6 or 7·2^k px.

After R3GAN (Huang et al. 2024): with a well-posed loss (relativistic pairing + R1 + R2) a plain
residual network needs none of the normalisation and tricks older GANs leaned on. No BatchNorm
means every sample is computed on its own (a one-image preview equals a batch one), the R1/R2
penalties are per-sample, and nothing couples the batch so it could "flip together".
The residual branch's last conv starts at zero (Fixup): every block starts as the identity, so
deep stacks train from step 0 without normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.models import (
    MODEL_SIZES,
    MODEL_WHY,
    MODELS,
    Discriminator,
    Generator,
    ModelSpec,
    _d_in_channels,
    _finish_d,
    _g_embed_dim,
    size_levels,
)

# bases of the sides this model builds at: 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, ...
RESNET_BASES = (4, 5, 6, 7)
# widths double per level towards the base map, up to this multiple of g_width / d_width
WIDTH_CAP = 8


def _widths(w: int, levels: int) -> list[int]:
    """Channels at each level, from the base map (index 0) to the full-size image (index levels)."""
    return [w * min(2 ** (levels - i), WIDTH_CAP) for i in range(levels + 1)]


class ResBlock(nn.Module):
    """x + conv(lrelu(conv(lrelu(x)))), 3×3 convs, the branch's last conv zero-initialised (Fixup)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, 0.2)), 0.2))


class _Up(nn.Module):
    """(N, cin, H, W) -> (N, cout, 2H, 2W): nearest upsampling, a 3×3 conv, then a residual block."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)
        self.block = ResBlock(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.block(self.conv(F.leaky_relu(x, 0.2)))


class _Down(nn.Module):
    """(N, cin, H, W) -> (N, cout, H/2, W/2): a residual block, a 3×3 conv, then 2×2 average pooling."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block = ResBlock(cin)
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.leaky_relu(self.block(x), 0.2)), 2)


class _GBody(nn.Module):
    def __init__(self, z_in: int, channels: int, base: int, widths: list[int]):
        super().__init__()
        self.base, self.c0 = base, widths[0]
        self.fc = nn.Linear(z_in, widths[0] * base * base)  # (N, w0·b·b): the base map
        self.block0 = ResBlock(widths[0])
        self.ups = nn.ModuleList(_Up(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.block0(self.fc(z).view(-1, self.c0, self.base, self.base))  # (N, w0, b, b)
        for up in self.ups:
            x = up(x)  # doubles the side each level
        x = self.out(F.leaky_relu(x, 0.2))  # (N, C, s, s)
        # Linear in training: a tanh saturates at the black or white background most sets have, and a
        # saturated G gets no gradient (measured: Stacked-MNIST collapsed to black by step 50). Clamped
        # to [-1, 1] in eval mode, for samples, previews and exports.
        return x if self.training else x.clamp(-1.0, 1.0)


class _DTrunk(nn.Module):
    def __init__(self, cin: int, widths: list[int]):
        super().__init__()
        rev = widths[::-1]  # full size first
        self.stem = nn.Conv2d(cin, rev[0], 3, 1, 1)
        self.downs = nn.Sequential(*(_Down(a, b) for a, b in zip(rev, rev[1:])))
        self.block = ResBlock(rev[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, s, s) -> (N, w0, b, b), activated: the shell's linear head reads it directly
        return F.leaky_relu(self.block(self.downs(self.stem(x))), 0.2)


@MODELS.register("resnet")
def _build_resnet(spec: ModelSpec) -> tuple[Generator, Discriminator]:
    c, s = spec.channels, spec.image_size
    base, levels = size_levels(s, RESNET_BASES)
    z_in = spec.z_dim + _g_embed_dim("resnet", spec)
    g = Generator(_GBody(z_in, c, base, _widths(spec.g_width, levels)), spec.z_dim, spec.num_classes,
                  _g_embed_dim("resnet", spec), out_shape=(c, s, s))
    dw = _widths(spec.d_width, levels)
    d = Discriminator(_DTrunk(_d_in_channels(spec), dw), (dw[0], base, base), flat_input=False,
                      num_classes=spec.num_classes, cond_d=spec.cond_d, minibatch=spec.minibatch,
                      aux_classifier=spec.aux_classifier)
    return g, _finish_d(d, spec)


MODEL_SIZES["resnet"] = tuple(sorted({b * 2 ** k for b in RESNET_BASES for k in range(2, 9) if b * 2 ** k <= 1024}))
MODEL_WHY["resnet"] = ("Residual G and D without normalisation (after R3GAN, Huang et al. 2024): with the "
                       "rpgan-r1r2 loss, the steadiest model for your own images, at any side 4-7·2^k px.")

"""Super-resolution networks: SRResNet and ESRGAN's RRDB generator (LR → ×2/×4 HR, any input size), the
VGG-style discriminator, and the fixed random-weight feature network of the content loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class SRSpec:
    """What rebuilds an SR generator and its discriminator (saved in checkpoints as `meta["spec"]`)."""
    channels: int = 3
    scale: int = 4
    generator: str = "srresnet"   # "srresnet" or "rrdb"
    width: int = 64
    blocks: int = 16
    growth: int = 32              # RRDB: channels each dense layer adds
    norm: str = "none"            # SRResNet's BatchNorm ("batch") or none (EDSR, ESRGAN)
    bicubic_skip: bool = True     # predict the residual over bicubic upscaling
    d_width: int = 64

    def __post_init__(self):
        if self.scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8 (sub-pixel ×2 stages), not {self.scale}")
        if self.generator not in ("srresnet", "rrdb"):
            raise ValueError(f"generator must be srresnet or rrdb, not {self.generator!r}")


class ResidualBlock(nn.Module):
    """conv3 (BN) PReLU conv3 (BN), added to the input (SRResNet's block; EDSR drops the BN)."""

    def __init__(self, width: int, norm: str):
        super().__init__()
        bn = norm == "batch"
        layers = [nn.Conv2d(width, width, 3, 1, 1, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(width))
        layers += [nn.PReLU(width), nn.Conv2d(width, width, 3, 1, 1, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(width))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SubPixelUp(nn.Sequential):
    """×2: conv3 to 4× the channels, then pixel shuffle (Shi et al. 2016), PReLU."""

    def __init__(self, width: int):
        super().__init__(nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width))


class SRResNet(nn.Module):
    """SRResNet (Ledig et al. 2017): conv9 → B residual blocks → conv3 + long skip → sub-pixel ×2 stages → conv9.

    (N, C, h, w) in [-1, 1] → (N, C, s·h, s·w); with bicubic_skip the network adds its output to the bicubic
    upscale, so it only learns the missing detail (VDSR's residual), which trains several times faster.
    """

    def __init__(self, spec: SRSpec):
        super().__init__()
        w, c = spec.width, spec.channels
        self.scale, self.bicubic_skip = spec.scale, spec.bicubic_skip
        self.head = nn.Sequential(nn.Conv2d(c, w, 9, 1, 4), nn.PReLU(w))                      # (w, h, w)
        tail = [nn.Conv2d(w, w, 3, 1, 1, bias=spec.norm != "batch")]
        if spec.norm == "batch":
            tail.append(nn.BatchNorm2d(w))
        self.body = nn.Sequential(*(ResidualBlock(w, spec.norm) for _ in range(spec.blocks)), *tail)
        self.up = nn.Sequential(*(SubPixelUp(w) for _ in range(int(math.log2(spec.scale)))))  # (w, s·h, s·w)
        self.out = nn.Conv2d(w, c, 9, 1, 4)
        if spec.bicubic_skip:  # start at bicubic: the residual begins near zero
            nn.init.zeros_(self.out.bias)
            self.out.weight.data.mul_(0.1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        y = self.out(self.up(self.body(h) + h))
        if self.bicubic_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: 5 convs, each seeing every earlier output; the result scaled by 0.2."""

    def __init__(self, width: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width + i * growth, growth if i < 4 else width, 3, 1, 1) for i in range(5))

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, 1))
            if i < 4:
                feats.append(F.leaky_relu(y, 0.2))
        return x + 0.2 * y


class RRDB(nn.Module):
    """Residual-in-residual dense block (Wang et al. 2018): three dense blocks, the sum scaled by 0.2 (no BN)."""

    def __init__(self, width: int, growth: int):
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(width, growth) for _ in range(3)))

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """ESRGAN's generator: conv3 → B RRDBs → conv3 + long skip → (nearest ×2, conv3, LReLU) stages → conv3 LReLU conv3."""

    def __init__(self, spec: SRSpec):
        super().__init__()
        w, c = spec.width, spec.channels
        self.scale, self.bicubic_skip = spec.scale, spec.bicubic_skip
        self.head = nn.Conv2d(c, w, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(w, spec.growth) for _ in range(spec.blocks)), nn.Conv2d(w, w, 3, 1, 1))
        self.ups = nn.ModuleList(nn.Conv2d(w, w, 3, 1, 1) for _ in range(int(math.log2(spec.scale))))
        self.out = nn.Sequential(nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, c, 3, 1, 1))
        for m in self.modules():  # ESRGAN scales its initial weights by 0.1: deep residual stacks start stable
            if isinstance(m, nn.Conv2d):
                m.weight.data.mul_(0.1)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        h = h + self.body(h)
        for conv in self.ups:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        y = self.out(h)
        if self.bicubic_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y


def build_sr_generator(spec: SRSpec) -> nn.Module:
    return SRResNet(spec) if spec.generator == "srresnet" else RRDBNet(spec)


class VGGDiscriminator(nn.Module):
    """SRGAN's D: pairs of conv3 (stride 1, then 2) at widths w, 2w, 4w, 8w with LeakyReLU 0.2 and BN (none on
    the first), then a dense 16w layer and one logit. Average-pooled to 4×4 first, so any patch size works."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for i, c_out in enumerate((width, width, 2 * width, 2 * width, 4 * width, 4 * width, 8 * width, 8 * width)):
            stride = 1 if i % 2 == 0 else 2
            layers.append(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        self.features = nn.Sequential(*layers)                      # (8w, H/16, W/16)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(8 * width * 16, 16 * width),
                                  nn.LeakyReLU(0.2, inplace=True), nn.Linear(16 * width, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).view(-1)


class RandomFeatures(nn.Module):
    """The content loss's feature network: VGG-style conv3 + ReLU stages (32, 64, 128 channels, max-pooled between),
    weights drawn once from a fixed seed and never trained.

    No ImageNet-trained VGG can ship or be downloaded here. Features of a fixed random convolutional network
    still respond to edges, orientation and local texture at several scales (random-weight networks drive
    texture synthesis nearly as well as trained ones: He, Wang and Hopcroft 2016; Ustyuzhaninov et al. 2017),
    which is what SRGAN's content loss compares; the same seed gives the same network everywhere, so nothing is stored.
    """

    SEED = 20161104

    def __init__(self, channels: int):
        super().__init__()
        g = torch.Generator().manual_seed(self.SEED)
        widths = ((channels, 32), (32, 32), "pool", (32, 64), (64, 64), "pool", (64, 128), (128, 128))
        layers: list[nn.Module] = []
        for w in widths:
            if w == "pool":
                layers.append(nn.MaxPool2d(2))
                continue
            conv = nn.Conv2d(*w, 3, 1, 1)
            with torch.no_grad():  # He-normal, from this network's own generator (the training RNG is not touched)
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (w[0] * 9)))
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
        self.stages = nn.Sequential(*layers)
        self.taps = (3, 8, 13)  # after the ReLU of each stage's last conv
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, layer in enumerate(self.stages):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


def content_loss(feats: RandomFeatures, sr: Tensor, hr: Tensor) -> Tensor:
    """Mean L1 between the feature maps of SR and HR at each stage, each stage normalised by HR's mean magnitude."""
    total = sr.new_zeros(())
    for a, b in zip(feats(sr), feats(hr)):
        total = total + (a - b).abs().mean() / b.abs().mean().clamp_min(1e-6)
    return total / len(feats.taps)

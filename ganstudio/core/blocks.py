"""Layers the GAN families share: minibatch statistics for D, spectral normalisation, DCGAN's
initialisation and a cheaper CPU dropout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


class MinibatchStd(nn.Module):
    """Appends the batch's mean standard deviation as one constant feature (map) (Karras et al. 2018).

    Gives D a direct view of sample diversity, so a collapsed G is easy to reject.
    (N, C, H, W) -> (N, C+1, H, W); (N, F) -> (N, F+1). The std uses the biased estimator so a
    batch of 1 gives 0 instead of NaN; eps keeps sqrt differentiable there.
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = (x.var(dim=0, unbiased=False) + self.eps).sqrt()  # (C, H, W) or (F,)
        stat = std.mean().expand(x.shape[0], 1, *x.shape[2:])  # (N, 1, H, W) or (N, 1)
        return torch.cat([x, stat], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016 minibatch discrimination: (N, F) -> (N, F + kernels).

    Each sample is projected by T to `kernels` rows of `kernel_dim` numbers; for every kernel the
    feature is sum over the other samples of exp(-L1 distance), so near-duplicates light it up.
    A batch of 1 has no other samples and gets zeros.
    """

    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 8):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        # std 1/sqrt(F) keeps projected rows O(1): larger T puts every pair at exp(-large) = 0
        # and the layer starts with no gradient.
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) / math.sqrt(in_features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.kernel_dim)  # (N, B, Cd)
        l1 = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(-1)  # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0  # (N, B); minus exp(0) of each sample with itself
        return torch.cat([h, o], dim=1)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalise every Linear, Conv*/ConvTranspose* and Embedding weight in `module` (in place).

    Meant for D: its only Embedding is the projection one, whose weight acts on the features
    like a linear layer, so it is normalised too (as in Miyato & Koyama's projection D).
    """
    targets = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
               nn.ConvTranspose3d, nn.Embedding)
    for m in list(module.modules()):
        if isinstance(m, targets) and not parametrize.is_parametrized(m, "weight"):  # idempotent
            # ConvTranspose weights are (in, out, k, k): their output dim is 1.
            dim = 1 if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
            spectral_norm(m, dim=dim)
    return module


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv/linear weights N(0, 0.02), BN scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _BatchNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Dropout(nn.Dropout):
    """nn.Dropout's maths with a cheaper mask on the CPU.

    torch's CPU dropout draws its mask with bernoulli_, about 3x slower than
    uniform noise and a compare (128x64x14x14 on 2 threads: 11.6 ms vs 3.4 ms);
    in dcgan-tf's D that was a fifth of every training step.  Same
    distribution: keep with probability 1-p, scale kept units by 1/(1-p).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or self.p >= 1:
            return F.dropout(x, self.p, True)  # fused kernels elsewhere
        keep = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * keep

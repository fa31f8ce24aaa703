"""GAN objectives as pure functions of D's raw logits, plus the gradient penalties and weight clipping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganstudio.core.registry import Registry


@dataclass(frozen=True)
class Loss:
    """One GAN objective and what the training loop must do around it.

    d_loss(real_logits, fake_logits, real_target=1.0) -> scalar; real_target < 1 is one-sided label
    smoothing, honoured only where `supports_label_smoothing` (elsewhere it is ignored).
    g_loss(fake_logits) -> scalar, or g_loss(fake_logits, real_logits) when `relativistic`: the loss
    compares each fake with the real of its pair. Both average over the batch.
    """

    name: str
    why: str
    d_loss: Callable[..., Tensor]
    g_loss: Callable[[Tensor], Tensor]
    output: str  # "prob": report sigmoid(logits) as D(x); "critic": report the raw values
    penalty: str | None  # None | "gp" (WGAN-GP) | "r1" | "r1r2" (R1 at real and R2 at fake data)
    clip: bool  # clamp D's weights after each D step (original WGAN)
    supports_label_smoothing: bool
    relativistic: bool = False  # g_loss needs D's logits on the real batch too


# Every sigmoid-based loss is written with softplus / BCE-with-logits: log(sigmoid(t)) = -softplus(-t)
# and log(1 - sigmoid(t)) = -softplus(t) stay finite, with finite gradients, at logits of ±100,
# where sigmoid rounds to exactly 0 or 1 and log() of it would be -inf.


def _bce_d_loss(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """-E[t·log D(x) + (1-t)·log(1-D(x))] - E[log(1 - D(G(z)))]; t = real_target."""
    real_loss = F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))
    fake_loss = F.softplus(fake).mean()  # -log(1 - sigmoid(fake))
    return real_loss + fake_loss


def _minimax_g_loss(fake: Tensor) -> Tensor:
    """Saturating: G minimises E[log(1 - D(G(z)))] = -E[softplus(fake)] (Goodfellow et al. 2014)."""
    return -F.softplus(fake).mean()


def _ns_g_loss(fake: Tensor) -> Tensor:
    """Non-saturating: G minimises -E[log D(G(z))] = E[softplus(-fake)]."""
    return F.softplus(-fake).mean()


def _lsgan_d_loss(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """Mao et al. 2017 with 0-1 coding: ½E[(D(x) - t)²] + ½E[D(G(z))²]."""
    return 0.5 * (real - real_target).pow(2).mean() + 0.5 * fake.pow(2).mean()


def _lsgan_g_loss(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()


def _hinge_d_loss(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; real_target is ignored."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _wgan_d_loss(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """Critic maximises E[D(x)] - E[D(G(z))], i.e. minimises its negative; real_target is ignored."""
    return fake.mean() - real.mean()


def _critic_g_loss(fake: Tensor) -> Tensor:
    """-E[D(G(z))]: the generator loss of hinge and both WGANs."""
    return -fake.mean()


def _rp_d_loss(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """Relativistic pairing (Jolicoeur-Martineau 2019): E[softplus(-(D(x) - D(G(z))))], each real paired
    with one fake; real_target is ignored."""
    return F.softplus(fake - real).mean()


def _rp_g_loss(fake: Tensor, real: Tensor) -> Tensor:
    """E[softplus(-(D(G(z)) - D(x)))]: G raises each fake above the real it is paired with."""
    return F.softplus(real - fake).mean()


LOSSES: Registry = Registry("loss")

for _loss in (
    Loss("minimax", "The original saturating objective: G minimises log(1 - D(G(z))), whose gradient "
         "vanishes while D confidently rejects G's samples.",
         _bce_d_loss, _minimax_g_loss, "prob", None, False, True),
    Loss("ns", "Non-saturating GAN: G maximises log D(G(z)), the same fixed point as minimax with "
         "strong gradients early on; the usual default.",
         _bce_d_loss, _ns_g_loss, "prob", None, False, True),
    Loss("lsgan", "Least squares GAN: squared error to targets 1 (real) and 0 (fake) keeps "
         "gradients for samples far on the right side of the boundary.",
         _lsgan_d_loss, _lsgan_g_loss, "critic", None, False, True),
    Loss("hinge", "Hinge loss (SN-GAN, BigGAN): D only pushes logits past ±1, which pairs well with "
         "spectral normalisation.",
         _hinge_d_loss, _critic_g_loss, "critic", None, False, False),
    Loss("wgan", "Wasserstein GAN: a critic estimates the earth mover's distance, kept Lipschitz by "
         "clipping its weights.",
         _wgan_d_loss, _critic_g_loss, "critic", None, True, False),
    Loss("wgan-gp", "WGAN with a gradient penalty instead of clipping: pulls the critic's gradient "
         "norm towards 1 between real and fake samples (needs a D without BatchNorm).",
         _wgan_d_loss, _critic_g_loss, "critic", "gp", False, False),
    Loss("r1", "Non-saturating GAN with an R1 penalty on D's gradient at real data (Mescheder et "
         "al. 2018): stabilises training without changing the optimum.",
         _bce_d_loss, _ns_g_loss, "prob", "r1", False, True),
    Loss("rpgan-r1r2", "Relativistic pairing GAN with R1 and R2 penalties (R3GAN, Huang et al. 2024): D "
         "judges each real against a fake, so G cannot win by one sample that beats the average, and the "
         "penalties at real and fake data make it converge locally; the most mode-covering loss here.",
         _rp_d_loss, _rp_g_loss, "critic", "r1r2", False, False, relativistic=True),
):
    LOSSES.register(_loss.name, _loss)
del _loss


def _per_sample_shape(x: Tensor) -> tuple[int, ...]:
    return (x.shape[0],) + (1,) * (x.dim() - 1)  # (N, 1, 1, 1) for images, (N, 1) for points


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean over samples of (||∇ D(x̂)||₂ - 1)², x̂ between real and fake.

    One ε ~ U[0, 1] per sample. real and fake are detached: the penalty regularises D only, so it
    must not send gradients into G even if the caller passes a fake that still has G's graph.
    create_graph=True so the penalty itself can be backpropagated; the caller multiplies by λ.
    """
    real, fake = real.detach(), fake.detach()
    eps = torch.rand(_per_sample_shape(real), device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    out = D(x_hat, y)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)  # (N,)
    return (norm - 1.0).pow(2).mean()


def r1_penalty(D: nn.Module, real: Tensor, y: Tensor | None = None) -> Tensor:
    """R1 (Mescheder et al. 2018): mean over real samples of ||∇_x D(x)||²; the caller multiplies by γ/2."""
    x = real.detach().requires_grad_(True)
    out = D(x, y)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


@torch.no_grad()
def clip_weights(D: nn.Module, c: float) -> None:
    """Clamp every parameter of D to [-c, c] in place (original WGAN; c = 0.01 in the paper)."""
    for p in D.parameters():
        p.clamp_(-c, c)

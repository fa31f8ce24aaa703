"""Latent space tools: seeds to z, lerp/slerp paths, truncation, GANSpace directions, class grids, GIFs."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch

from ganstudio.core.inference import LoadedGenerator
from ganstudio.core.sampling import make_grid, to_uint8


def seed_to_z(seed: int, z_dim: int) -> torch.Tensor:
    """The latent of a seed, (z_dim,): the same seed gives the same z on every machine (CPU generator)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(z_dim, generator=g)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of direction, linear of length (White 2016).

    A straight line between two Gaussian latents passes near the origin, where the
    prior has almost no mass (norms shrink by up to 1/√2 halfway): G has never seen
    such z.  Following the great circle keeps the path on the shell the samples live on.
    """
    t = torch.as_tensor(t, dtype=a.dtype)
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    t_ = t.reshape(-1, 1) if t.ndim else t
    small = so.abs() < 1e-6  # (nearly) parallel: the circle is the line
    wa = torch.where(small, 1 - t_, torch.sin((1 - t_) * omega) / so.where(~small, torch.ones_like(so)))
    wb = torch.where(small, t_, torch.sin(t_ * omega) / so.where(~small, torch.ones_like(so)))
    direction = wa * ua + wb * ub
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return direction * (na + (nb - na) * t_)


def interpolate(keyframes: Sequence[torch.Tensor], frames: int, mode: str = "slerp") -> torch.Tensor:
    """A path through two or more keyframe latents, (frames, z_dim), first and last frames exact."""
    if len(keyframes) < 2:
        raise ValueError("interpolation needs at least two keyframes")
    if frames < 2:
        raise ValueError("interpolation needs at least two frames")
    if mode not in ("lerp", "slerp"):
        raise ValueError(f"unknown interpolation {mode!r}; valid: lerp, slerp")
    fn = slerp if mode == "slerp" else lerp
    segs = len(keyframes) - 1
    pos = torch.linspace(0, segs, frames)
    out = []
    for p in pos.tolist():
        i = min(int(p), segs - 1)
        out.append(fn(keyframes[i], keyframes[i + 1], p - i))
    return torch.stack(out)


def truncate(z: torch.Tensor, psi: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """The truncation trick: pull z toward the mean latent by ψ (1 = unchanged, 0 = the mean itself).

    Trades diversity for fidelity (Brock et al. 2019; Karras et al. 2019).
    """
    m = torch.zeros_like(z) if mean is None else mean
    return m + psi * (z - m)


@torch.inference_mode()
def render(gen: LoadedGenerator, z: torch.Tensor, y: torch.Tensor | None = None, embed: torch.Tensor | None = None) -> torch.Tensor:
    """G on a batch of latents (N, z_dim), optional labels or label embeddings; output as G gives it."""
    if embed is not None:
        return gen.G.forward_embedded(z, embed)
    if gen.num_classes and y is None:
        raise ValueError("this generator is conditional: give a class")
    return gen.G(z, y)


def class_grid(gen: LoadedGenerator, seeds: Sequence[int], psi: float = 1.0) -> torch.Tensor:
    """Rows classes, columns seeds: (classes·seeds, C, H, W); the same z down each column."""
    if not gen.num_classes:
        raise ValueError("a class grid needs a conditional model; this one was trained without labels")
    z = torch.stack([seed_to_z(s, gen.z_dim) for s in seeds])
    z = truncate(z, psi)
    k = gen.num_classes
    zz = z.repeat(k, 1)
    yy = torch.arange(k).repeat_interleave(len(seeds))
    return render(gen, zz, yy)


def class_blend(gen: LoadedGenerator, seed: int, class_a: int, class_b: int, frames: int) -> torch.Tensor:
    """Fixed z, label embedding moving from class a to class b: (frames, C, H, W)."""
    if not gen.num_classes:
        raise ValueError("class interpolation needs a conditional model")
    z = seed_to_z(seed, gen.z_dim).expand(frames, -1)
    with torch.inference_mode():
        ea, eb = gen.G.embed(torch.tensor([class_a, class_b])).unbind(0)
    t = torch.linspace(0, 1, frames).unsqueeze(1)
    return render(gen, z, embed=lerp(ea, eb, t))


def principal_directions(gen: LoadedGenerator, k: int = 8, n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace (Härkönen et al. 2020): PCA of G's first hidden activations, carried back to z.

    Samples n latents, records the output of G's first hidden layer, takes its top-k
    principal components, regresses z on the component scores (least squares) to get one
    z-direction per component, and orthonormalises them (QR, in order of variance).
    Returns (directions (k, z_dim) orthonormal, the components' standard deviations (k,)).
    """
    G = gen.G
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.z_dim, generator=g)
    y = torch.randint(0, gen.num_classes, (n,), generator=g) if gen.num_classes else None
    acts = [early_features(G, z[i : i + 500], None if y is None else y[i : i + 500]) for i in range(0, n, 500)]
    a = torch.cat(acts)
    a = a - a.mean(0)
    k = min(k, gen.z_dim, a.shape[1], n - 1)
    # PCA through the (N, N) Gram matrix: F is 12,544 for dcgan-tf, N a few thousand, and
    # unlike a randomised SVD this draws no random numbers (a training thread may be using them).
    evals, evecs = torch.linalg.eigh((a @ a.T).double())
    top = torch.argsort(evals, descending=True)[:k]
    s = evals[top].clamp_min(0).sqrt()
    scores = evecs[:, top] * s  # (N, k): each sample's coordinate on each component
    # z ≈ scores @ B: B (k, z_dim) maps a unit of each component back into latent space
    b = torch.linalg.lstsq(scores, z.double()).solution
    q, r = torch.linalg.qr(b.T)  # orthonormal columns spanning the same directions, in order
    dirs = (q * torch.sign(torch.diagonal(r)).unsqueeze(0)).T.float()  # keep each direction's sign
    stds = (s[:k] / math.sqrt(max(n - 1, 1))).float()
    return dirs, stds


@torch.inference_mode()
def early_features(G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """G's body run up to its first activation, flattened (N, F): the early features GANSpace uses.

    Runs the layers directly rather than through a forward hook, so another thread
    rendering with the same G at the same time cannot slip its activations in.
    """
    h = z if getattr(G, "embed", None) is None else torch.cat([z, G.embed(y)], dim=1)
    for m in G.body:
        h = m(h)
        if isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU)):
            return h.flatten(1)
    raise ValueError("could not find an early activation layer in this generator")


def diversity(samples: torch.Tensor) -> float:
    """Mean pairwise L2 distance between samples: what truncation costs, as one number."""
    from ganstudio.core.health import spread

    return spread(samples)


def gif_bytes(frames: torch.Tensor, fps: int = 24, scale: int = 4) -> bytes:
    """(N, C, H, W) in [-1, 1] → an animated GIF that loops, upscaled with nearest-neighbour."""
    from PIL import Image

    tiles = to_uint8(frames)
    images = [Image.fromarray(t).resize((t.shape[1] * scale, t.shape[0] * scale), Image.NEAREST) for t in tiles]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0)
    return buf.getvalue()


def strip(frames: torch.Tensor) -> np.ndarray:
    """The path as one row of images (uint8)."""
    return make_grid(frames, ncol=len(frames))

"""The procedural `shapes` set (dSprites-like): white shapes on black, drawn in code from five known factors.

Factors and their values (as in dSprites, Matthey et al. 2017):
    shape     3   square, ellipse, heart
    scale     6   0.5 … 1
    rotation 40   0 … 2π (not including 2π)
    x        32   left … right
    y        32   top … bottom
737,280 combinations; the built-in set is a fixed random draw of them, so every run sees the same
images, and `render` draws any other combination on demand (the FactorVAE score needs images that
share one factor). Images are binary at 64 px; smaller sides are the 64-px image averaged down,
which keeps sub-pixel positions visible as grey edges.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
NATIVE = 64
N_IMAGES = 30_000
SEED = 2017
_HALF_EXTENT = 0.15   # of the image side, at scale 1: an object about 19 px across at 64 px
_MARGIN = 0.2         # centres lie in [0.2, 0.8] of the side, so every object stays inside


def factor_values(idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """Factor indices (N, 5) int64 → their values: scale in [0.5, 1], rotation in radians, x and y in [0, 1]."""
    idx = idx.long()
    return {
        "shape": idx[:, 0],
        "scale": 0.5 + 0.5 * idx[:, 1].float() / (FACTOR_SIZES[1] - 1),
        "rotation": 2 * math.pi * idx[:, 2].float() / FACTOR_SIZES[2],
        "x": idx[:, 3].float() / (FACTOR_SIZES[3] - 1),
        "y": idx[:, 4].float() / (FACTOR_SIZES[4] - 1),
    }


def random_factors(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 5) factor indices drawn uniformly and independently."""
    return torch.stack([torch.randint(k, (n,), generator=generator) for k in FACTOR_SIZES], dim=1)


def render(idx: torch.Tensor, size: int = NATIVE, chunk: int = 2048) -> torch.Tensor:
    """Images (N, 1, size, size) in [-1, 1] of the factor indices `idx` (N, 5)."""
    if idx.dim() != 2 or idx.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"factor indices must have shape (N, {len(FACTOR_SIZES)}), not {tuple(idx.shape)}")
    for k, (name, n) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        if len(idx) and (int(idx[:, k].min()) < 0 or int(idx[:, k].max()) >= n):
            raise ValueError(f"factor {name} takes indices 0..{n - 1}")
    if size < 1 or size > NATIVE:
        raise ValueError(f"shapes are drawn at 1 to {NATIVE} px, not {size}")
    out = []
    for i in range(0, len(idx), chunk):
        img = _draw(idx[i:i + chunk])  # (n, 1, 64, 64) in {0, 1}
        if size != NATIVE:
            img = F.avg_pool2d(img, NATIVE // size) if NATIVE % size == 0 else F.interpolate(img, size=size, mode="area")
        out.append(img * 2 - 1)
    return torch.cat(out) if out else torch.empty(0, 1, size, size)


_WINDOW = 32  # every object lies within ±12 px of its centre at 64 px: only this window around it is tested


def _draw(idx: torch.Tensor) -> torch.Tensor:
    """Binary (n, 1, 64, 64) images: each shape's inside test on a window around its centre."""
    v = factor_values(idx)
    n = len(idx)
    cx = (_MARGIN + (1 - 2 * _MARGIN) * v["x"]) * NATIVE  # centre in pixels
    cy = (_MARGIN + (1 - 2 * _MARGIN) * v["y"]) * NATIVE
    ox = (cx.round().long() - _WINDOW // 2).clamp(0, NATIVE - _WINDOW)  # window origin (n,)
    oy = (cy.round().long() - _WINDOW // 2).clamp(0, NATIVE - _WINDOW)
    a = torch.arange(_WINDOW)
    px = (ox.view(n, 1, 1) + a.view(1, 1, -1)).float() + 0.5  # (n, 1, W) pixel centres
    py = (oy.view(n, 1, 1) + a.view(1, -1, 1)).float() + 0.5  # (n, W, 1)
    r = (_HALF_EXTENT * NATIVE * v["scale"]).view(n, 1, 1)
    cos, sin = v["rotation"].cos().view(n, 1, 1), v["rotation"].sin().view(n, 1, 1)
    dx, dy = px - cx.view(n, 1, 1), py - cy.view(n, 1, 1)
    u = (dx * cos + dy * sin) / r      # the object's own axes, 1 = its half extent: (n, W, W)
    w = (-dx * sin + dy * cos) / r
    inside = torch.zeros(n, _WINDOW, _WINDOW, dtype=torch.bool)
    for k, test in enumerate((_square, _ellipse, _heart)):
        rows = (v["shape"] == k).nonzero().flatten()
        if len(rows):
            inside[rows] = test(u[rows], w[rows])
    img = torch.zeros(n, NATIVE, NATIVE)
    rr = (oy.view(n, 1, 1) + a.view(1, -1, 1)).expand(n, _WINDOW, _WINDOW)
    cc = (ox.view(n, 1, 1) + a.view(1, 1, -1)).expand(n, _WINDOW, _WINDOW)
    img[torch.arange(n).view(n, 1, 1).expand_as(rr), rr, cc] = inside.float()
    return img.unsqueeze(1)


def _square(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), w.abs()) <= 0.8


def _ellipse(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return u.square() + (w / 0.5).square() <= 1.0


def _heart(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    x, y = 1.15 * u, -1.15 * w + 0.15  # (x² + y² − 1)³ ≤ x² y³, point down in the object's own frame
    return (x.square() + y.square() - 1).pow(3) - x.square() * y.pow(3) <= 0


def builtin_factors(n: int = N_IMAGES, seed: int = SEED) -> torch.Tensor:
    """The factor indices of the built-in set: the same draw every time."""
    return random_factors(n, torch.Generator().manual_seed(seed))

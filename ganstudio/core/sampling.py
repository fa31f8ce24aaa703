"""Turning generator output into pictures: sample grids and 2-D scatter plots."""

from __future__ import annotations

import math

import numpy as np
import torch


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] → uint8 (N, H, W, 3); grayscale is repeated to RGB."""
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
    a = np.clip((a + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return a


def make_grid(images: torch.Tensor | np.ndarray, ncol: int = 0, pad: int = 2, pad_value: int = 32) -> np.ndarray:
    """Tile (N, C, H, W) images in [-1, 1] into one uint8 (rows·(H+pad)+pad, ..., 3) picture."""
    tiles = to_uint8(images)
    n, h, w, _ = tiles.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), pad_value, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = tiles[i]
    return grid


def scatter_plot(points: np.ndarray, centers: np.ndarray | None, size: int = 320, sigma: float | None = None) -> np.ndarray:
    """A uint8 (size, size, 3) scatter of generated 2-D points (blue) over the real mode centres (red rings)."""
    img = np.full((size, size, 3), 255, np.uint8)
    ref = centers if centers is not None and len(centers) else points
    lo, hi = float(np.min(ref)), float(np.max(ref))
    span = max(hi - lo, 1e-3)
    lo, hi = lo - 0.25 * span, hi + 0.25 * span

    def px(v: np.ndarray) -> np.ndarray:
        return ((v - lo) / (hi - lo) * (size - 1)).round().astype(np.int64)

    # faint axes through 0 when in view
    if lo < 0 < hi:
        z = int(px(np.array(0.0)))
        img[:, z] = img[z, :] = 225
    pts = np.asarray(points, np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    xs, ys = px(pts[:, 0]), px(-pts[:, 1])  # image y grows downwards
    ok = (xs >= 1) & (xs < size - 1) & (ys >= 1) & (ys < size - 1)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            img[ys[ok] + dy, xs[ok] + dx] = (40, 90, 200)
    if centers is not None:
        r = max(3, int(round(3 * (sigma or 0.0) / (hi - lo) * size)))
        t = np.linspace(0, 2 * np.pi, 64)
        for cx, cy in centers:
            rx = px(np.array(cx)) + (r * np.cos(t)).round().astype(np.int64)
            ry = px(np.array(-cy)) + (r * np.sin(t)).round().astype(np.int64)
            keep = (rx >= 0) & (rx < size) & (ry >= 0) & (ry < size)
            img[ry[keep], rx[keep]] = (220, 40, 40)
    return img


def grid_columns(n: int, num_classes: int) -> int:
    """Columns of a sample grid: one class per row for conditional models (0 = square)."""
    return math.ceil(n / num_classes) if num_classes and n >= num_classes else 0


def conditional_labels(num_classes: int, count: int) -> torch.Tensor:
    """Labels for a class-per-row grid: each class repeated ceil(count / classes) times."""
    per = max(1, math.ceil(count / num_classes))
    return torch.arange(num_classes).repeat_interleave(per)

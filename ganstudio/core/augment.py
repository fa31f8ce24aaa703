"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) applied to both real and fake images before D."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DIFFAUG_POLICIES = ("color", "translation", "cutout")

# Fractions of the image size, as in the paper: shifts of up to 1/8, a cutout of 1/2.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform(n: int, like: Tensor) -> Tensor:
    return torch.rand(n, 1, 1, 1, device=like.device, dtype=like.dtype)  # (N, 1, 1, 1)


def _color(x: Tensor) -> Tensor:
    # Data is in [-1, 1]: brightness shifts by U(-0.5, 0.5), saturation scales the distance to the
    # grey of each pixel by U(0, 2), contrast the distance to the image mean by U(0.5, 1.5).
    n = x.shape[0]
    x = x + (_uniform(n, x) - 0.5)
    if x.shape[1] > 1:  # a 1-channel image has no saturation to change
        grey = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
        x = (x - grey) * (_uniform(n, x) * 2.0) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return (x - mean) * (_uniform(n, x) + 0.5) + mean


def shift_images(x: Tensor, dy: Tensor, dx: Tensor, sh: int, sw: int, mode: str = "constant") -> Tensor:
    """Image n's content moved down by dy[n] and right by dx[n] pixels (|dy| <= sh, |dx| <= sw); the
    uncovered border is filled by `mode` padding (zeros, or "reflect" for no visible border)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (sw, sw, sh, sh), mode=mode).permute(0, 2, 3, 1)  # (N, H+2sh, W+2sw, C)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy.view(n, 1, 1) + sh  # (N, H, 1) source rows
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx.view(n, 1, 1) + sw  # (N, 1, W) source cols
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    # Gathering by index keeps the op differentiable w.r.t. x (each output pixel copies one input).
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)


def _translation(x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    if sh == 0 and sw == 0:
        return x
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)  # content moves down by dy
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    return shift_images(x, dy, dx, sh, sw)


def _cutout(x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    # The square's centre is any pixel, so near the border part of it falls outside the image.
    cy = torch.randint(0, h, (n, 1), device=x.device)
    cx = torch.randint(0, w, (n, 1), device=x.device)
    y0, x0 = cy - ch // 2, cx - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h)
    xs = torch.arange(w, device=x.device).view(1, w)
    in_rows = (ys >= y0) & (ys < y0 + ch)  # (N, H)
    in_cols = (xs >= x0) & (xs < x0 + cw)  # (N, W)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # (N, H, W)
    return x * keep.unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def parse_policy(policy: str) -> list[str]:
    """'color, translation' -> ['color', 'translation']; ValueError listing the valid names otherwise."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [p for p in names if p not in _OPS]
    if bad:
        raise ValueError(f"unknown DiffAugment policy {', '.join(map(repr, bad))}; "
                         f"valid: {', '.join(DIFFAUG_POLICIES)} (comma-separated, '' for none)")
    return names


def diff_augment(x: Tensor, policy: str) -> Tensor:
    """Randomly augment a batch (N, C, H, W), differentiably, per sample, in the order of `policy`.

    Apply it to real and fake batches alike (D must never see un-augmented images it could tell
    apart); "" returns x unchanged. Draws from the global torch RNG of x's device, which the loop
    saves and restores for exact resume.
    """
    names = parse_policy(policy)
    if not names:
        return x
    if x.dim() != 4:
        raise ValueError(f"DiffAugment needs images (N, C, H, W), got shape {tuple(x.shape)}")
    for name in names:
        x = _OPS[name](x)
    return x

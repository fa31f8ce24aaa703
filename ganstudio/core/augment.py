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


class AdaptiveAugment:
    """Adaptive augmentation (ADA, Karras et al. 2020): each image D sees is augmented with probability
    p, and p follows D's overfitting, so a small folder gets as much augmentation as it needs and a
    large one none.

    The overfitting signal r is the share of D's verdicts that are right minus the share that are
    wrong (sign of the real logit, or of real minus its paired fake for a relativistic loss),
    averaged over INTERVAL D steps: r near 1 means D tells the training images apart from anything
    else. p rises while r is above `target` (0.6 in the paper) and falls below it, by up to 1 per
    SPEED_IMAGES real images. Both p and the running sums are state that a checkpoint keeps.
    """

    INTERVAL = 4
    SPEED_IMAGES = 20_000  # images over which p can go from 0 to 1: a CPU run shows a few hundred thousand

    def __init__(self, target: float, policy: str):
        self.target, self.policy = target, policy
        self.p = 0.0
        self._sum: Tensor | None = None  # sum of signs since the last adjustment (on D's device: no sync per step)
        self._n = 0
        self._steps = 0

    def __call__(self, x: Tensor) -> Tensor:
        if self.p <= 0.0:
            return x
        mask = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < self.p
        return torch.where(mask, diff_augment(x, self.policy), x)

    def observe(self, signs: Tensor) -> None:
        """One D step's verdicts, +1 right and -1 wrong per real image; adjusts p every INTERVAL steps."""
        s = signs.detach().float().sum()
        self._sum = s if self._sum is None else self._sum + s
        self._n += signs.numel()
        self._steps += 1
        if self._steps % self.INTERVAL == 0:
            r = float(self._sum) / max(1, self._n)
            step = (1.0 if r > self.target else -1.0) * self._n / self.SPEED_IMAGES
            self.p = min(1.0, max(0.0, self.p + step))
            self._sum, self._n = None, 0

    def state_dict(self) -> dict:
        return {"p": self.p, "sum": float(self._sum) if self._sum is not None else 0.0, "n": self._n, "steps": self._steps}

    def load_state_dict(self, s: dict) -> None:
        self.p, self._n, self._steps = float(s["p"]), int(s["n"]), int(s["steps"])
        self._sum = torch.tensor(float(s["sum"])) if self._n else None

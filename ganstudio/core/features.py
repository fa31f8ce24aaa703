"""Label-free image features for any dataset: a small encoder trained by self-supervision on the images themselves.

A user's folder has no classifier and often no labels, and Inception weights cannot ship with an
offline tool. So the features that FD, KID, precision/recall, density/coverage and diversity are
computed on come from an encoder trained on the run's own images with SimCLR's contrastive loss
(Chen et al. 2020): two random augmentations of an image must map close together and far from
every other image of the batch. What it learns is what tells this dataset's images apart, and a
checkerboard is far from all of them. Training takes a fixed number of steps (deterministic for a
seed, under two CPU-minutes); the encoder is cached beside the run as `features.pt`.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganstudio.core.checkpoint import atomic_write_bytes
from ganstudio.core.data import _fit_tensor

SIZE = 32  # the encoder sees every image at 32×32, whatever the dataset's size
FEATURES = 128
STEPS = 400
BATCH = 128
TEMPERATURE = 0.2
FORMAT = "ganstudio-features"
FORMAT_VERSION = 2  # 2: metrics read the trunk (version 1 encoders are trained again)


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Encoder(nn.Module):
    """(N, C, H, W) in [-1, 1] → (N, 128) features.

    SimCLR trains `trunk → top → project`; the metrics read the trunk's map averaged over space.
    The last block and the head specialise in the training task (telling one image's views from
    every other image's), and FD on their output ranked generators less like the classifiers
    did (Spearman 0.68 against 0.86 on Fashion-MNIST checkpoints): the trunk keeps what makes
    images look alike, which is what a generator must get right. The first block works at stride 2:
    it halves the encoder's cost and ranked checkpoints the same.
    """

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        w = width
        self.channels = channels
        self.trunk = nn.Sequential(
            _block(channels, w, stride=2),  # state size. w x 16 x 16
            _block(w, 2 * w), nn.MaxPool2d(2),  # state size. 2w x 8 x 8
            _block(2 * w, FEATURES), nn.MaxPool2d(2),  # state size. 128 x 4 x 4
        )
        self.top = nn.Sequential(_block(FEATURES, FEATURES), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # training only
        self.project = nn.Sequential(nn.Linear(FEATURES, FEATURES), nn.ReLU(inplace=True), nn.Linear(FEATURES, 64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(prepare(x, self.channels)).mean(dim=(2, 3))

    def views(self, x: torch.Tensor) -> torch.Tensor:
        """SimCLR's projections of already prepared (N, C, 32, 32) views."""
        return self.project(self.top(self.trunk(x)))


def prepare(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Any (N, 1|3, H, W) batch in [-1, 1] → (N, channels, 32, 32), fitted as datasets are (luma, resize, crop)."""
    return _fit_tensor(x.float().clamp(-1, 1), SIZE, channels)


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """SimCLR's views, sized for small images: a random crop of 50-100% of the area resized back,
    a mirror half the time, brightness and contrast jitter, and a little noise."""
    n = len(x)
    scale = torch.empty(n).uniform_(0.5, 1.0, generator=g).sqrt()  # side of the crop, as a share
    shift = (1 - scale)[:, None] * (torch.rand(n, 2, generator=g) * 2 - 1)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale * flip, scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    bright = torch.empty(n, 1, 1, 1).uniform_(-0.2, 0.2, generator=g)
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.7, 1.3, generator=g)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + bright
    return (out + 0.03 * torch.randn(out.shape, generator=g)).clamp(-1, 1)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner out of the 2N - 1 other views of the batch."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    n = len(a)
    sim.fill_diagonal_(-float("inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


@dataclass
class FeatureExtractor:
    """A trained encoder and what it was trained on."""

    net: Encoder
    meta: dict = field(default_factory=dict)  # key (what it was trained on), steps, seconds, final loss

    @torch.inference_mode()
    def features(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        self.net.eval()
        return torch.cat([self.net(x[i:i + batch]) for i in range(0, len(x), batch)]) if len(x) else torch.zeros(0, FEATURES)


def dataset_key(data) -> dict:
    """What a cached encoder must match to be reused: the dataset, its size and its image shape."""
    return {"dataset": str(data.name), "n": len(data), "shape": list(data.x.shape[1:]),
            "checksum": float(data.x[:: max(1, len(data) // 64)].double().sum())}


def train_features(x: torch.Tensor, key: dict | None = None, steps: int = STEPS, batch: int = BATCH, seed: int = 0,
                   progress: Callable[[int, float], None] | None = None) -> FeatureExtractor:
    """Train an encoder on images x (N, C, H, W) in [-1, 1] by SimCLR; the same x, steps and seed give the same weights."""
    if len(x) < 2:
        raise ValueError("self-supervised features need at least 2 images")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = Encoder(x.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    small = prepare(x, x.shape[1])  # crops are taken from the 32 px copy: cheap, and what the encoder sees
    batch = min(batch, len(x))
    t0 = time.perf_counter()
    loss = torch.zeros(())
    net.train()
    for step in range(steps):
        rows = torch.randint(len(small), (batch,), generator=g)
        views = small[rows]
        p = net.views(torch.cat([augment(views, g), augment(views, g)]))
        loss = nt_xent(p[:batch], p[batch:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None and (step + 1) % 50 == 0:
            progress(step + 1, float(loss))
    net.eval()
    return FeatureExtractor(net, {"key": key or {}, "steps": steps, "seconds": time.perf_counter() - t0,
                                  "loss": loss.item()})


def save_features(fx: FeatureExtractor, path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "channels": fx.net.channels,
                "state": fx.net.state_dict(), "meta": fx.meta}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_features(path: Path) -> FeatureExtractor | None:
    """A cached encoder, or None when the file is missing, damaged or of another format (it is then made again)."""
    try:
        s = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(s, dict) or s.get("format") != FORMAT or s.get("format_version") != FORMAT_VERSION:
            return None
        net = Encoder(int(s["channels"]))
        net.load_state_dict(s["state"])
        return FeatureExtractor(net.eval(), dict(s.get("meta", {})))
    except Exception:  # noqa: BLE001  (any unreadable cache is only a cache: it is trained again)
        return None


def features_for(data, cache_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> FeatureExtractor:
    """The encoder for `data`: cached beside the run when one was trained on this very data, else trained now (and cached)."""
    key = dataset_key(data)
    cached = cache_dir / "features.pt" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        fx = load_features(cached)
        if fx is not None and fx.meta.get("key") == key:
            return fx
    if progress:
        progress("training label-free features on the dataset (once, a minute or two; cached with the run)")
    fx = train_features(data.x, key, steps=STEPS)
    if cached is not None:
        try:
            save_features(fx, cached)
        except OSError:
            pass  # a read-only run folder: the features are used now and trained again next time
    return fx

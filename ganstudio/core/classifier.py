"""Domain classifiers: small CNNs that judge generated and translated 28 px images, and give features for metrics.

Inception weights cannot ship with an offline tool, so, as the MNIST-scale GAN literature does,
each built-in image set gets a small classifier of its own.  Its weights live in
`resources/classifiers/NAME.pt` (made by `benchmarks/train_classifiers.py`, which records the
held-out accuracy inside the file) and are loaded with `weights_only=True`.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganstudio.core.checkpoint import atomic_write_bytes
from ganstudio.core.data import resources_dir
from ganstudio.core.errors import UserError

SIZE = 28  # every classifier sees 1×28×28 in [-1, 1]; other inputs are converted by `prepare`
FORMAT = "ganstudio-classifier"
FORMAT_VERSION = 1
# Which augmentations keep a class a class: a mirrored shirt is a shirt, a mirrored 2 is not a digit.
MIRROR_SAFE = {"mnist": False, "fashion": True, "animals": True}


class ClassifierError(UserError):
    """A classifier file that is missing or unusable; str(e) is one clear line."""


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class DomainClassifier(nn.Module):
    """VGG-style CNN: (N, C, H, W) in [-1, 1] → logits (N, classes); `features` gives (N, 4·width)."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _conv_bn(1, w), _conv_bn(w, w), nn.MaxPool2d(2),  # state size. w x 14 x 14
            _conv_bn(w, 2 * w), _conv_bn(2 * w, 2 * w), nn.MaxPool2d(2),  # state size. 2w x 7 x 7
            _conv_bn(2 * w, 4 * w), _conv_bn(4 * w, 4 * w),  # state size. 4w x 7 x 7
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # state size. 4w
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(4 * w, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def prepare(x: torch.Tensor) -> torch.Tensor:
    """Any (N, 1|3, H, W) batch in [-1, 1] → (N, 1, 28, 28): colour to luma, other sizes resampled with antialiasing."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, 1 or 3, H, W), got shape {tuple(x.shape)}")
    x = x.float()
    if x.shape[1] == 3:
        x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(-1, 1)


@dataclass
class Classifier:
    """A trained domain classifier with what is known about it."""

    net: DomainClassifier
    dataset: str
    classes: tuple[str, ...]
    held_out_accuracy: float
    meta: dict = field(default_factory=dict)

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        self.net.eval()
        return torch.cat([self.net(x[i:i + batch]) for i in range(0, len(x), batch)]) if len(x) else torch.zeros(0, len(self.classes))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class index per image, (N,) int64."""
        return self.logits(x).argmax(1)

    @torch.inference_mode()
    def features(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        self.net.eval()
        return torch.cat([self.net.features(x[i:i + batch]) for i in range(0, len(x), batch)])

    def accuracy(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        return float((self.predict(x) == labels).float().mean()) if len(x) else float("nan")


# ---------------------------------------------------------------------------------------------
# Training


def _augment(x: torch.Tensor, gen: torch.Generator, mirror: bool) -> torch.Tensor:
    """Random small rotation, scale and shift per image (one affine grid for the batch), optional mirror."""
    n = len(x)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2.5 * 2 / SIZE)  # ±2.5 px
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if mirror else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Background is -1 (black): pad with it rather than with zeros (mid-grey).
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def train_classifier(x: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...], *, dataset: str = "",
                     epochs: int = 30, batch_size: int = 128, lr: float = 3e-3, width: int = 32,
                     mirror: bool = False, seed: int = 0, augment: bool = True,
                     held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
                     progress: Callable[[int, float, float | None], None] | None = None) -> Classifier:
    """Train a DomainClassifier on (N, 1|3, H, W) images in [-1, 1] with int labels.

    AdamW with a one-cycle schedule, label smoothing 0.1 and random affine augmentation: the
    recipe that reaches the accuracy floors on a few thousand 28 px images in minutes on a CPU.
    `augment=False` trains on the images as they are (TSTR's plain recipe: augmentation would add the
    variety a generator may lack). `progress(epoch, train_loss, held_out_accuracy_or_None)` is called after each epoch.
    The caller's global RNG state is left as it was (weight init and dropout draw from a fork).
    """
    with torch.random.fork_rng(devices=[]):
        return _train(x, labels, classes, dataset, epochs, batch_size, lr, width, mirror, seed, augment, held_out, progress)


def _train(x, labels, classes, dataset, epochs, batch_size, lr, width, mirror, seed, augment, held_out, progress) -> Classifier:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = prepare(x).contiguous()
    labels = labels.long()
    net = DomainClassifier(len(classes), width)
    steps_per_epoch = max(1, len(x) // batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2)
    clf = Classifier(net, dataset, tuple(classes), float("nan"))
    t0 = time.process_time()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb = _augment(x[idx], gen, mirror) if augment else x[idx]
            loss = F.cross_entropy(net.head(net.body(xb)), labels[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if progress is not None:  # the held-out pass costs as much as a small epoch: only when shown
            progress(epoch + 1, total / steps_per_epoch, clf.accuracy(*held_out) if held_out is not None else None)
    net.eval()
    if held_out is not None:
        clf.held_out_accuracy = clf.accuracy(*held_out)
    clf.meta = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "width": width, "mirror": mirror, "augment": augment,
                "seed": seed, "train_size": len(x), "held_out_size": len(held_out[0]) if held_out else 0,
                "cpu_seconds": round(time.process_time() - t0, 1)}
    return clf


# ---------------------------------------------------------------------------------------------
# Files


def classifier_path(dataset: str) -> Path:
    return resources_dir() / "classifiers" / f"{dataset}.pt"


def save_classifier(clf: Classifier, path: str | Path) -> None:
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "dataset": clf.dataset,
             "classes": list(clf.classes), "held_out_accuracy": clf.held_out_accuracy, "meta": dict(clf.meta),
             "width": clf.net.head[1].in_features // 4,
             "state_dict": {k: v.detach().clone() for k, v in clf.net.state_dict().items()}}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_classifier_file(path: str | Path) -> Classifier:
    """Load a classifier written by `save_classifier`, refusing anything else (weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise ClassifierError(f"no classifier file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is "not a classifier file"
        raise ClassifierError(f"{path.name}: not a readable classifier file ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ClassifierError(f"{path.name}: not a GAN Studio classifier file")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise ClassifierError(f"{path.name}: made by a newer GAN Studio (format {state['format_version']})")
    classes = tuple(state["classes"])
    net = DomainClassifier(len(classes), int(state["width"]))
    try:
        net.load_state_dict(state["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise ClassifierError(f"{path.name}: weights do not fit the classifier ({str(e).splitlines()[0]})") from None
    net.eval()
    return Classifier(net, state["dataset"], classes, float(state["held_out_accuracy"]), dict(state.get("meta", {})))


@lru_cache(maxsize=None)
def _cached(path: str, mtime: float) -> Classifier:
    return load_classifier_file(path)


def builtin_classifier(dataset: str) -> Classifier | None:
    """The shipped classifier of a built-in image set, or None when it has none (user data, 2-D points)."""
    path = classifier_path(dataset)
    if not path.is_file():
        return None
    return _cached(str(path), path.stat().st_mtime)

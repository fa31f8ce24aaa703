"""Training throughput: the studio loop (iter_train) vs a plain PyTorch loop, same dcgan-mnist model.

The plain loop is what a person writes from the PyTorch DCGAN example: a DataLoader over the
same in-memory MNIST tensor, BCE-with-logits, D on real then on fake.detach(), then G through
D.  A second plain loop indexes the tensor directly instead of using a DataLoader, so the
studio's own data path is not what wins the comparison.  The studio loop does everything it always does (metrics, per-layer gradient norms, sample
grids, checkpoints).  Both run alternately in one process so machine noise hits both alike.

    python benchmarks/throughput.py [--rounds 3] [--steps 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.data import load_dataset
from ganstudio.core.events import StepMetrics
from ganstudio.core.train import iter_train

FLOOR, GOAL = 1.0, 1.10


def textbook_models() -> tuple[nn.Module, nn.Module]:
    """The TensorFlow DCGAN tutorial architecture written the plain PyTorch way (nn.Dropout and all)."""
    G = nn.Sequential(
        nn.Linear(100, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3),
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, 1, 5, 2, 2, output_padding=1, bias=False), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1), nn.Flatten(0),
    )
    return G, D


def _batches(x: torch.Tensor, batch: int, loader: bool):
    """Real batches forever: through a DataLoader (the textbook way) or by indexing the tensor."""
    if loader:
        dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=batch, shuffle=True, drop_last=True)
        while True:
            for (real,) in dl:
                yield real
    while True:
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - batch + 1, batch):
            yield x[perm[i : i + batch]]


def plain_loop(x: torch.Tensor, steps: int, warmup: int, batch: int, seed: int, loader: bool = True) -> float:
    """Images per second of a textbook PyTorch GAN loop, timed after `warmup` steps."""
    torch.manual_seed(seed)
    G, D = textbook_models()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    step, t0 = 0, None
    while step < steps + warmup:
        for real in _batches(x, batch, loader):
            if step == warmup:
                t0 = time.perf_counter()
            if step == steps + warmup:
                break
            z = torch.randn(batch, 100)
            fake = G(z)
            opt_d.zero_grad()
            loss_d = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
            loss_g.backward()
            opt_g.step()
            # a plain loop logs its losses too
            _ = (loss_d.item(), loss_g.item())
            step += 1
    return steps * batch / (time.perf_counter() - t0)


def studio_loop(steps: int, warmup: int, threads: int, seed: int, workdir: Path) -> float:
    cfg = apply_overrides(
        PRESETS.get("dcgan-mnist").config(),
        # a sample grid and a checkpoint inside the timed window: the studio pays for them
        {"steps": steps + warmup, "seed": seed, "threads": threads, "sample_every": 50, "checkpoint_every": steps + warmup},
    )
    t0 = t_end = None
    first = None
    for ev in iter_train(cfg, workdir / f"run-{seed}-{time.monotonic_ns()}"):
        if isinstance(ev, StepMetrics):
            if first is None and ev.step >= warmup:  # the first log at or after the warm-up
                first, t0 = ev.step, time.perf_counter()
            t_end = time.perf_counter()
    return (steps + warmup - first) * cfg.batch_size / (t_end - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="timed steps per round and loop")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = load_dataset("mnist").x
    studio, plain, plain_idx = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            plain.append(plain_loop(x, args.steps, args.warmup, 128, seed=r))
            plain_idx.append(plain_loop(x, args.steps, args.warmup, 128, seed=r, loader=False))
            studio.append(studio_loop(args.steps, args.warmup, args.threads, seed=r, workdir=Path(tmp)))
            print(f"round {r + 1}: studio {studio[-1]:7.1f} img/s   plain (DataLoader) {plain[-1]:7.1f}   "
                  f"plain (indexing) {plain_idx[-1]:7.1f}   ratios {studio[-1] / plain[-1]:.3f} / {studio[-1] / plain_idx[-1]:.3f}", flush=True)
    ratio = statistics.median(s / p for s, p in zip(studio, plain))
    ratio_idx = statistics.median(s / p for s, p in zip(studio, plain_idx))
    print(f"median ratio studio / textbook loop (DataLoader) = {ratio:.3f}  (floor {FLOOR}, goal {GOAL})")
    print(f"median ratio studio / plain loop indexing an in-memory tensor = {ratio_idx:.3f}  (floor {FLOOR}, goal {GOAL})")
    print(json.dumps({
        "benchmark": "throughput",
        "studio_img_per_s": round(statistics.median(studio), 1),
        "plain_img_per_s": round(statistics.median(plain), 1),
        "plain_indexing_img_per_s": round(statistics.median(plain_idx), 1),
        "ratio": round(ratio, 3),
        "ratio_vs_indexing": round(ratio_idx, 3),
        "threads": args.threads,
        "goals": {"ratio": GOAL, "ratio_vs_indexing": GOAL, "ratio_floor": FLOOR},
        "goal_met": ratio >= GOAL and ratio_idx >= GOAL,
    }))


if __name__ == "__main__":
    main()

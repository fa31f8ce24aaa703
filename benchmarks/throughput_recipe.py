"""Throughput of the default recipe for a user's images: the studio loop vs a plain PyTorch loop of the same networks.

The studio trains exactly as `ganstudio train --dataset FOLDER` does (the `own-images` recipe,
nothing set), with a sample grid inside the timed window. The plain loop is what a person writes
for the same algorithm by hand: the same G and D (built by the project's model builder at the
same widths), an in-memory tensor indexed by a shuffled permutation, the relativistic pairing
loss, R1 + R2 every 4th D step, adaptive augmentation (the same augmentation ops, with p steered
by the sign of D's verdicts), an EMA of G and Adam. Each G forward serves the D step (detached)
and the G step, as a careful hand-written loop does. Both run alternately in one process, so
machine noise hits both alike.

The folders: colour-64 (600 RGB crops at 64 px, the heaviest a CPU user brings) and the
recipe's own Stacked-MNIST at 28 px.

    python benchmarks/throughput_recipe.py [--rounds 3] [--steps 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from own_images import make_folders  # noqa: E402

from ganstudio.core.augment import diff_augment  # noqa: E402
from ganstudio.core.config import PRESETS, apply_overrides, validate  # noqa: E402
from ganstudio.core.data import load_dataset  # noqa: E402
from ganstudio.core.events import StepMetrics  # noqa: E402
from ganstudio.core.families.gan import auto_width  # noqa: E402
from ganstudio.core.models import ModelSpec, build_models, nearest_size  # noqa: E402
from ganstudio.core.train import iter_train  # noqa: E402

GOAL = 1.0


def recipe_config(dataset: str, steps: int, seed: int, threads: int):
    preset = PRESETS.get("own-images")  # what default_preset gives a folder on the CPU
    cfg = apply_overrides(preset.config(), {"dataset": dataset, "seed": seed, "threads": threads, "device": "cpu",
                                            "steps": steps, "sample_every": 20, "checkpoint_every": 10**9})
    return validate(preset.refit(cfg, {"dataset", "seed", "threads", "device", "steps", "sample_every", "checkpoint_every"}))


def studio_loop(dataset: str, steps: int, warmup: int, threads: int, seed: int, workdir: Path) -> float:
    cfg = recipe_config(dataset, steps + warmup, seed, threads)
    t0 = t_end = first = None
    for ev in iter_train(cfg, workdir / f"run-{seed}-{time.monotonic_ns()}"):
        if isinstance(ev, StepMetrics):
            if first is None and ev.step >= warmup:
                first, t0 = ev.step, time.perf_counter()
            t_end = time.perf_counter()
    return (steps + warmup - first) * cfg.batch_size / (t_end - t0)


def plain_loop(x: torch.Tensor, steps: int, warmup: int, seed: int) -> float:
    """Images per second of the same recipe written by hand, timed after `warmup` steps."""
    torch.manual_seed(seed)
    size, channels = x.shape[-1], x.shape[1]
    spec = ModelSpec(channels=channels, image_size=size, g_width=auto_width(size), d_width=auto_width(size))
    G, D = build_models("dcgan", spec)
    G_ema = build_models("dcgan", spec)[0]
    G_ema.load_state_dict(G.state_dict())
    G_ema.requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.99))
    batch, gamma, every, p, signs = 64, 1.0, 4, 0.0, []

    def augment(imgs):
        if p <= 0:
            return imgs
        mask = torch.rand(imgs.shape[0], 1, 1, 1) < p
        return torch.where(mask, diff_augment(imgs, "translation,color,cutout"), imgs)

    def grad_sq(inp):
        inp = inp.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(D(inp).sum(), inp, create_graph=True)
        return g.flatten(1).pow(2).sum(1).mean()

    perm, pos, t0 = torch.randperm(len(x)), 0, None
    for step in range(steps + warmup):
        if step == warmup:
            t0 = time.perf_counter()
        if pos + batch > len(x):
            perm, pos = torch.randperm(len(x)), 0
        real = x[perm[pos:pos + batch]]
        pos += batch
        fake = G(torch.randn(batch, spec.z_dim))
        real_in, fake_in = augment(real), augment(fake.detach())
        lr_, lf_ = D(real_in), D(fake_in)
        loss_d = F.softplus(lf_ - lr_).mean()
        signs.append(torch.sign(lr_.detach() - lf_.detach()).mean())
        if len(signs) == 4:  # ADA: p follows the share of D's right verdicts
            p = min(1.0, max(0.0, p + (1 if float(torch.stack(signs).mean()) > 0.6 else -1) * 4 * batch / 20_000))
            signs.clear()
        if step % every == 0:
            loss_d = loss_d + every * 0.5 * gamma * (grad_sq(real_in) + grad_sq(fake_in))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with torch.no_grad():
            lr_g = D(real_in)
        loss_g = F.softplus(lr_g - D(augment(fake))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for pe, pg in zip(G_ema.parameters(), G.parameters()):
                pe.lerp_(pg, 1 - 0.999)
        _ = (loss_d.item(), loss_g.item())  # a plain loop logs its losses too
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per round and loop")
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ratios, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"colour-64": str(make_folders(Path(tmp) / "folders")["colour-64"]), "stacked-mnist": "stacked-mnist"}
        for name, dataset in folders.items():
            data = load_dataset(dataset)
            x = data.resized(nearest_size("dcgan", data.image_size), "").x  # as the recipe trains it
            studio, plain = [], []
            for r in range(args.rounds):
                plain.append(plain_loop(x, args.steps, args.warmup, seed=r))
                studio.append(studio_loop(dataset, args.steps, args.warmup, args.threads, seed=r, workdir=Path(tmp)))
                print(f"{name} round {r + 1}: studio {studio[-1]:6.1f} img/s   plain {plain[-1]:6.1f} img/s   "
                      f"ratio {studio[-1] / plain[-1]:.3f}", flush=True)
            ratios[name] = round(statistics.median(s / q for s, q in zip(studio, plain)), 3)
            rows.append({"folder": name, "image_size": x.shape[-1], "studio_img_per_s": round(statistics.median(studio), 1),
                         "plain_img_per_s": round(statistics.median(plain), 1), "ratio": ratios[name]})
    ratio = min(ratios.values())
    print(json.dumps({"benchmark": "throughput_recipe", "ratio_min": ratio, "folders": rows, "threads": args.threads,
                      "goals": {"ratio_min": GOAL}, "goal_met": ratio >= GOAL}))


if __name__ == "__main__":
    main()

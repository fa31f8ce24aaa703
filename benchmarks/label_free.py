"""Label-free features (core/features.py) against the shipped classifiers: do they rank generators alike?

For each built-in labelled set, one dcgan run is checkpointed at steps of rising quality; each
checkpoint is scored by FD on the shipped classifier's features and by FD on label-free features
trained on the real images alone. The goal is Spearman ≥ 0.9 between the two rankings, over ≥ 6
checkpoints, on every set. Also measured: the label-free encoder's training time, and precision
of a collapsed batch (one generated image repeated, and a checkerboard), which must not read as real.

    python benchmarks/label_free.py [--sets mnist,fashion,animals] [--steps 25,50,100,200,400,800,1600] [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ganstudio.core import metrics as M
from ganstudio.core.classifier import builtin_classifier
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.data import load_dataset
from ganstudio.core.events import CheckpointSaved, StepMetrics
from ganstudio.core.features import dataset_key, train_features
from ganstudio.core.inference import load_generator
from ganstudio.core.train import iter_train

SPEARMAN_GOAL, MIN_CHECKPOINTS, TRAIN_SECONDS_GOAL, COLLAPSED_PRECISION_GOAL = 0.9, 6, 120.0, 0.2


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return torch.tensor(r)

    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def checkpoints(dataset: str, steps: list[int], root: Path) -> list[Path]:
    """One dcgan run on `dataset`, its weights copied at each of `steps`."""
    cfg = apply_overrides(PRESETS.get("dcgan-fashion").config(), {
        "dataset": dataset, "steps": max(steps), "checkpoint_every": min(steps), "sample_every": 10**6,
        "log_every": 25, "threads": torch.get_num_threads()})
    want, out = set(steps), []
    for ev in iter_train(cfg, root / "run"):
        if isinstance(ev, CheckpointSaved):
            step = int(torch.load(ev.path, map_location="cpu", weights_only=True)["step"])
            if step in want:
                dst = root / f"step_{step}.pt"
                shutil.copyfile(ev.path, dst)
                out.append(dst)
                want.discard(step)
        elif isinstance(ev, StepMetrics):
            pass
    return out


def samples(path: Path, n: int) -> torch.Tensor:
    gen = load_generator(path)
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        return gen.G(torch.randn(n, gen.z_dim, generator=g)).float().clamp(-1, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="mnist,fashion,animals")
    ap.add_argument("--steps", default="25,50,100,200,400,800,1600")
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    rows, worst, slowest, worst_precision = {}, 1.0, 0.0, 0.0
    for name in args.sets.split(","):
        data = load_dataset(name)
        clf = builtin_classifier(name)
        t0 = time.process_time()
        fx = train_features(data.x, dataset_key(data))
        cpu = time.process_time() - t0
        perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
        real_a, real_b = data.x[perm[:args.n]], data.x[perm[args.n:2 * args.n]]
        fc_a, fs_a = clf.features(real_a), fx.features(real_a)
        with tempfile.TemporaryDirectory() as tmp:
            ckpts = checkpoints(name, steps, Path(tmp))
            fd_c, fd_s = [], []
            for ck in ckpts:
                x = samples(ck, args.n)
                fd_c.append(M.frechet_distance(fc_a, clf.features(x)))
                fd_s.append(M.frechet_distance(fs_a, fx.features(x)))
            last = samples(ckpts[-1], args.n)
        rho = spearman(fd_c, fd_s)
        # collapse: the final generator's first image repeated, and a checkerboard, against real features
        repeated = last[:1].expand(args.n, -1, -1, -1)
        yy, xx = torch.meshgrid(torch.arange(data.x.shape[2]), torch.arange(data.x.shape[3]), indexing="ij")
        board = (((yy // 4 + xx // 4) % 2).float() * 2 - 1).expand(args.n, data.x.shape[1], -1, -1)
        prec = {k: M.precision_recall(fs_a, fx.features(v))["precision"] for k, v in (("repeated", repeated), ("checkerboard", board))}
        prec_clf = {k: M.precision_recall(fc_a, clf.features(v))["precision"] for k, v in (("repeated", repeated), ("checkerboard", board))}
        floor = M.frechet_distance(fs_a, fx.features(real_b))
        rows[name] = {"spearman": round(rho, 3), "checkpoints": len(ckpts), "fd_classifier": [round(v, 2) for v in fd_c],
                      "fd_label_free": [round(v, 3) for v in fd_s], "fd_label_free_floor": round(floor, 3),
                      "features_cpu_s": round(cpu, 1), "precision_collapsed_label_free": {k: round(v, 3) for k, v in prec.items()},
                      "precision_collapsed_classifier": {k: round(v, 3) for k, v in prec_clf.items()}}
        print(f"{name}: Spearman {rho:.3f} over {len(ckpts)} checkpoints; features trained in {cpu:.0f} CPU-s; "
              f"FD classifier {rows[name]['fd_classifier']}; FD label-free {rows[name]['fd_label_free']} (floor {floor:.3f}); "
              f"precision of collapsed batches, label-free {prec}, classifier {prec_clf}", flush=True)
        worst = min(worst, rho) if len(ckpts) >= MIN_CHECKPOINTS else -1.0
        slowest = max(slowest, cpu)
        worst_precision = max(worst_precision, *prec.values())
    goals = {"spearman_min": SPEARMAN_GOAL, "features_cpu_s_max": TRAIN_SECONDS_GOAL, "collapsed_precision_max": COLLAPSED_PRECISION_GOAL}
    print(json.dumps({"benchmark": "label_free", "spearman_min": round(worst, 3), "features_cpu_s_max": round(slowest, 1),
                      "collapsed_precision_max": round(worst_precision, 3), "sets": rows, "goals": goals,
                      "goal_met": worst >= SPEARMAN_GOAL and slowest <= TRAIN_SECONDS_GOAL and worst_precision <= COLLAPSED_PRECISION_GOAL}))


if __name__ == "__main__":
    main()

"""Stacked-MNIST, the standard mode-collapse table: the default recipe for a user's images on 1,000 modes.

Stacked-MNIST puts three MNIST digits in the R, G and B channels (built in, procedural, 24,000
images at 28 px), so it has 10³ = 1,000 modes. PacGAN's protocol: generate 26,000 samples, read
each channel's digit with the shipped MNIST classifier, and count the modes hit and the reverse
KL of the mode histogram to uniform. PacGAN reports DCGAN at 99 modes (KL 3.4).

The run is the `own-images` recipe exactly as a user's folder gets it, with its length set by
the CPU budget (a user sets it with Steps); everything else is the recipe's. The table is taken
every `--every` steps on the kept checkpoints, so the recipe's own 3,000-step default shows next
to the end of the budget. Each seed runs in its own process on one thread, two at a time; the
background evaluation is off so the two jobs do not share a core with it.

The floor is the training set itself read the same way: 26,000 images drawn from it with
replacement (what a generator that reproduced its training set exactly would score), printed as
`kl_real`, so the gap between it and the generator's KL is the generator's.

    python benchmarks/stacked_mnist.py [--seeds 3] [--budget-min 30] [--every 3000] [--jobs 2] [--keep DIR] [--set key=value ...]

A partial run (fewer seeds, a larger budget, --set) never claims the goal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tuning import add_set_option, set_overrides  # noqa: E402

GOALS = {"modes": 990, "kl": 0.1, "budget_cpu_min": 30.0}
RECIPE = "own-images"


def run_seed(seed: int, budget_s: float, every: int, work: str, extra: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from _budget import train_within
    from ganstudio.core.config import PRESETS, apply_overrides, validate
    from ganstudio.core.inference import load_generator
    from ganstudio.core.scoring import STACKED_SAMPLES, stacked_modes

    preset = PRESETS.get(RECIPE)
    cfg = validate(apply_overrides(preset.config(), {"seed": seed, "threads": 1, "device": "cpu", "steps": 10**6,
                                                     "eval_every": 0, "sample_every": 10**9, "checkpoint_every": every,
                                                     **extra}))
    run = Path(work) / f"stacked-{seed}"
    step, cpu, _ = train_within(cfg, run, budget_s)
    rows = []
    ckpts = sorted((run / "checkpoints").glob("step_*.pt")) + [run / "checkpoints" / "latest.pt"]
    for path in ckpts:
        gen = load_generator(path)
        if rows and gen.step == rows[-1]["step"]:
            continue
        with torch.no_grad():
            imgs = torch.cat([gen.sample(1000, seed=10_000 + i)[0] for i in range(STACKED_SAMPLES // 1000)])
        m = stacked_modes(imgs)
        rows.append({"step": gen.step, "modes": int(m["modes"]), "kl": round(m["reverse_kl"], 3)})
    return {"seed": seed, "steps": step, "cpu_min": round(cpu / 60, 2), "table": rows, **rows[-1]}


def real_floor() -> dict:
    """Modes and KL of the training set read by the same classifier, 26,000 draws with replacement."""
    import torch

    from ganstudio.core.data import load_dataset
    from ganstudio.core.scoring import STACKED_SAMPLES, stacked_modes

    x = load_dataset("stacked-mnist").x
    idx = torch.randint(0, len(x), (STACKED_SAMPLES,), generator=torch.Generator().manual_seed(0))
    m = stacked_modes(x[idx])
    return {"modes": int(m["modes"]), "kl": round(m["reverse_kl"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budget-min", type=float, default=GOALS["budget_cpu_min"])
    ap.add_argument("--every", type=int, default=3000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="keep the runs (checkpoints) in this folder instead of a temporary one")
    add_set_option(ap)
    args = ap.parse_args()
    extra = set_overrides(ap, args)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = []
    floor = real_floor()
    print(f"training set read the same way: {floor['modes']} modes, KL {floor['kl']}", flush=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() if args.keep is None else contextlib.nullcontext(str(args.keep)) as tmp:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_seed, s, args.budget_min * 60, args.every, tmp, extra) for s in seeds]
            for f in as_completed(futures):
                r = f.result()
                results.append(r)
                table = ", ".join(f"{row['step']}: {row['modes']} modes KL {row['kl']}" for row in r["table"])
                print(f"seed {r['seed']}: {r['steps']} steps in {r['cpu_min']} CPU-min; {table}", flush=True)
    results.sort(key=lambda r: r["seed"])
    modes = statistics.mean(r["modes"] for r in results)
    kl = statistics.mean(r["kl"] for r in results)
    full = args.seeds >= 3 and args.budget_min <= GOALS["budget_cpu_min"] and not extra
    print(json.dumps({"benchmark": "stacked_mnist", "recipe": RECIPE, "modes": round(modes, 1), "kl": round(kl, 3),
                      "kl_real": floor["kl"], "budget_cpu_min": args.budget_min, "seeds": results, "goals": GOALS,
                      "goal_met": full and modes >= GOALS["modes"] and kl <= GOALS["kl"]}))


if __name__ == "__main__":
    sys.exit(main())

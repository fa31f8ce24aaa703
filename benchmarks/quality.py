"""Sample quality of the presets, judged as issue-level goals: TSTR for conditional models, modes for 2-D sets.

- ring8 / grid25: the PacGAN protocol (modes covered, % high quality, reverse KL) under a CPU
  budget per seed; this runs `benchmarks/quality_2d.py`'s protocol.
- cgan-mnist within 10 CPU-minutes of training: TSTR accuracy (a plain classifier, no augmentation,
  trained on 5,000 generated labelled digits, tested on the real held-out digits), goal ≥ 95%; the
  augmented recipe's accuracy is reported beside it.
- cgan-fashion (conditional DCGAN on Fashion-MNIST) within 60 CPU-minutes: TSTR goal ≥ 80%.
Each conditional run also reports FD / KID / precision / recall with the real-vs-real floor,
and the real-trained accuracy (the shipped classifier, same recipe, trained on real images).
Runs go two at a time, each in its own process on one thread (one per core of a 2-core
machine); budgets are CPU seconds of that process, so this changes wall time only.

    python benchmarks/quality.py [--only ring8,grid25,cgan-mnist,cgan-fashion] [--seeds 3] [--first-seed 0]
                                 [--budget-scale 1.0] [--jobs 2] [--threads 1] [--set key=value ...]

A partial run (--only, fewer seeds, a scaled budget, --set) never claims the goal.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_2d import BUDGET_S as BUDGET_2D  # noqa: E402  (the PacGAN protocol, shared)
from quality_2d import GOALS as GOALS_2D  # noqa: E402
from quality_2d import run_seed as run_2d_seed  # noqa: E402
from _tuning import add_set_option, set_overrides  # noqa: E402

from ganstudio.core.config import PRESETS, apply_overrides  # noqa: E402
from ganstudio.core.evaluate import evaluate  # noqa: E402
from ganstudio.core.events import RunFinished, StepMetrics  # noqa: E402
from ganstudio.core.train import iter_train  # noqa: E402

# CPU seconds of training per seed (the whole process, all its threads).
BUDGET_S = {"cgan-mnist": 600.0, "cgan-fashion": 3600.0}
GOALS = {**GOALS_2D, "cgan_mnist_tstr": 0.95, "cgan_fashion_tstr": 0.80}
SETS = ("ring8", "grid25", "cgan-mnist", "cgan-fashion")


def run_conditional(name: str, seed: int, budget_s: float, workdir: Path, threads: int, extra: dict) -> dict:
    never = 10**9
    cfg = apply_overrides(PRESETS.get(name).config(), {"seed": seed, "threads": threads, "sample_every": never,
                                                       "checkpoint_every": never, **extra})
    t0 = time.process_time()
    finished = None
    from ganstudio.core.events import Control

    control = Control()
    for ev in iter_train(cfg, workdir / f"{name}-{seed}", control):
        if isinstance(ev, StepMetrics) and time.process_time() - t0 >= budget_s:
            control.stop()
        elif isinstance(ev, RunFinished):
            finished = ev
    cpu = time.process_time() - t0
    ev = evaluate(finished.checkpoint, ("tstr", "fd", "kid", "pr"), n=2000, seed=seed)
    return {**ev.values, "steps": finished.step, "total_steps": cfg.steps, "cpu_s": cpu,
            "eval_s": sum(ev.seconds.values())}


def run_one(job: tuple) -> dict:
    """One seed of one set (a worker process's task under --jobs)."""
    name, seed, budget, extra, workdir, threads = job
    torch.set_num_threads(threads)
    if name in BUDGET_2D:
        return run_2d_seed(name, seed, budget, extra, Path(workdir))
    return run_conditional(name, seed, budget, Path(workdir), threads, extra)


def run_tasks(tasks: list[tuple], jobs: int) -> dict:
    """{(set, seed): result}: tasks in order, or `jobs` at a time in separate processes.

    CPU time is counted per process, so running seeds side by side changes the wall time, not
    the budget a seed gets. Each result is printed as it arrives.
    """
    results = {}

    def done(task, r):
        results[(task[0], task[1])] = r
        print(f"  finished {task[0]} seed {task[1]}", flush=True)

    if jobs <= 1:
        for t in tasks:
            done(t, run_one(t))
        return results
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, t): t for t in tasks}
        for f in as_completed(futures):
            done(futures[f], f.result())
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SETS), help="comma-separated subset of " + ", ".join(SETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget-scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per conditional run")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side, each in its own process (one per core)")
    add_set_option(ap)
    args = ap.parse_args()
    extra = set_overrides(ap, args)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in SETS]
    if bad:
        ap.error(f"unknown set {', '.join(bad)}; choose from {', '.join(SETS)}")

    out: dict = {"benchmark": "quality"}
    met = True
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        tasks = [(name, s, (BUDGET_2D if name in BUDGET_2D else BUDGET_S)[name] * args.budget_scale, extra, tmp,
                  1 if name in BUDGET_2D else args.threads) for name in names for s in seeds]
        results = run_tasks(tasks, args.jobs)
    for name in names:
        rows = [results[(name, s)] for s in seeds]
        if name in BUDGET_2D:
            for seed, r in zip(seeds, rows):
                print(f"{name} seed {seed}: {r['modes']}/{r['n_modes']} modes, {100 * r['high_quality']:.1f}% HQ, "
                      f"reverse KL {r['reverse_kl']:.4f}, {r['cpu_s']:.0f} CPU s", flush=True)
            modes = statistics.mean(r["modes"] for r in rows)
            hq = statistics.mean(r["high_quality"] for r in rows)
            ok = modes >= GOALS[f"{name}_modes"] and hq >= GOALS[f"{name}_hq"]
            out.update({f"{name}_modes": round(modes, 3), f"{name}_hq": round(hq, 4),
                        f"{name}_cpu_s": round(statistics.mean(r["cpu_s"] for r in rows), 1)})
            print(f"{name}: {modes:.2f} modes (goal {GOALS[f'{name}_modes']}), {100 * hq:.1f}% HQ "
                  f"(goal {100 * GOALS[f'{name}_hq']:.0f}%) -> {'met' if ok else 'MISSED'}", flush=True)
        else:
            budget = BUDGET_S[name] * args.budget_scale
            key = name.replace("-", "_") + "_tstr"
            for seed, r in zip(seeds, rows):
                print(f"{name} seed {seed}: TSTR {100 * r['tstr']:.1f}% plain, {100 * r['tstr_augmented']:.1f}% augmented "
                      f"(real-trained {100 * r['tstr_real']:.1f}%), "
                      f"FD {r['fd']:.2f} (real {r['fd_floor']:.2f}), precision {r['precision']:.2f} "
                      f"recall {r['recall']:.2f}; {r['steps']}/{r['total_steps']} steps in {r['cpu_s']:.0f} CPU s "
                      f"(budget {budget:.0f}); evaluation {r['eval_s']:.0f} s", flush=True)
            tstr = statistics.mean(r["tstr"] for r in rows)
            ok = tstr >= GOALS[key]
            out.update({key: round(tstr, 4), f"{key}_augmented": round(statistics.mean(r["tstr_augmented"] for r in rows), 4),
                        f"{key}_real": round(rows[0]["tstr_real"], 4),
                        key.replace("_tstr", "_fd"): round(statistics.mean(r["fd"] for r in rows), 3),
                        key.replace("_tstr", "_cpu_s"): round(statistics.mean(r["cpu_s"] for r in rows), 1)})
            print(f"{name}: TSTR {100 * tstr:.1f}% plain (goal ≥ {100 * GOALS[key]:.0f}%) -> {'met' if ok else 'MISSED'}", flush=True)
        met = met and ok
    full = set(names) == set(SETS) and args.seeds >= 3 and args.budget_scale == 1.0 and not extra
    print(json.dumps({**out, "seeds": args.seeds, "goals": GOALS, "goal_met": bool(met and full)}))


if __name__ == "__main__":
    main()

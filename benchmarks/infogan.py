"""InfoGAN: the MNIST codes as digit classifier and slant/width sliders, disentanglement on shapes, and throughput.

- mnist: the `infogan-mnist` preset (the paper's setup) for 10 CPU-minutes a seed. Its categorical
  code is read as a digit classifier: 500 samples per code value, each read by the shipped MNIST
  classifier, code values matched to digits by the best one-to-one matching. Each continuous code
  is traversed over its prior's range for 200 latents, and the rank correlation of the code with
  the digit's slant and with its width (image moments) is averaged over the latents; a code counts
  by the better of the two.
- shapes: `infogan-cr-shapes` (InfoGAN-CR) and `infogan-shapes` (plain) for 30 CPU-minutes a seed
  at 32 px, scored by MIG, SAP and the FactorVAE score of Q's reading of 15,000 fresh shapes
  (disentanglement_lib's protocols; published dSprites values: InfoGAN SAP 0.05, InfoGAN-CR 0.41).
- throughput: the studio loop against the same networks trained by a plain PyTorch loop of the same
  algorithm (the MNIST preset, one process, alternating rounds).

Each seed runs in its own process on one thread, `--jobs` at a time; budgets are that process's
CPU seconds, so running side by side changes the wall time only.

    python benchmarks/infogan.py [--only mnist,shapes,throughput] (shapes = shapes-cr,shapes-plain) [--seeds 3] [--jobs 2] [--budget-scale 1] [--keep DIR] [--set key=value ...]

A partial run (--only, fewer seeds, a scaled budget, --set) never claims the goals.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tuning import add_set_option, set_overrides  # noqa: E402

GOALS = {"mnist_code_accuracy": 0.95, "mnist_code_spearman_min": 0.8, "mnist_budget_cpu_min": 10.0,
         "shapes_cr_sap": 0.30, "shapes_cr_mig": 0.20, "shapes_budget_cpu_min": 30.0, "throughput_ratio": 1.0}
RUNS = {"mnist": [("infogan-mnist", 600.0, ("codes",))],
        "shapes-cr": [("infogan-cr-shapes", 1800.0, ("disentanglement",))],
        "shapes-plain": [("infogan-shapes", 1800.0, ("disentanglement",))]}
RUNS["shapes"] = RUNS["shapes-cr"] + RUNS["shapes-plain"]


def run_seed(preset: str, seed: int, budget_s: float, metrics: tuple, work: str, extra: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from _budget import train_within
    from ganstudio.core.config import PRESETS, apply_overrides, validate
    from ganstudio.core.evaluate import evaluate

    cfg = validate(apply_overrides(PRESETS.get(preset).config(), {"seed": seed, "threads": 1, "device": "cpu",
                                                                  "sample_every": 10**9, "checkpoint_every": 10**9, **extra}))
    run = Path(work) / f"{preset}-{seed}"
    step, cpu, last = train_within(cfg, run, budget_s)
    ev = evaluate(run, metrics, n=1000, seed=seed)
    keep = {k: round(v, 4) for k, v in ev.values.items() if k.startswith(("code_", "mig", "sap", "factorvae"))}
    return {"preset": preset, "seed": seed, "steps": step, "of_steps": cfg.steps, "cpu_min": round(cpu / 60, 2),
            "q_accuracy": round(last.get("info/accuracy", float("nan")), 3), **keep, "unavailable": ev.unavailable}


def plain_loop(meta: dict, x, steps: int, warmup: int, seed: int, batch: int, lr_g: float, lr_d: float) -> float:
    """Images per second of the same InfoGAN (the family's networks) in a hand-written loop."""
    import torch
    import torch.nn.functional as F

    from ganstudio.core.families import FAMILIES

    fam = FAMILIES.get("infogan")
    torch.manual_seed(seed)
    nets = fam.networks(meta)
    G, D = nets["G"], nets["D"]
    layout = fam.layout(meta)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    n_cat = [c.size for c in layout.categorical]
    n_cont = len(layout.continuous)

    def info(q, z):
        cats, cont = layout.decode(z)
        loss, o = 0.0, 0
        for k, y in zip(n_cat, cats):
            loss = loss + F.cross_entropy(q[:, o:o + k], y)
            o += k
        mu, log_std = q[:, o:o + n_cont], q[:, o + n_cont:o + 2 * n_cont].clamp(-4, 2)
        return loss + 0.1 * (log_std + 0.5 * ((cont - mu) / log_std.exp()).square()).mean(0).sum()

    perm, pos, t0 = torch.randperm(len(x)), 0, None
    for step in range(steps + warmup):
        if step == warmup:
            t0 = time.perf_counter()
        if pos + batch > len(x):
            perm, pos = torch.randperm(len(x)), 0
        real = x[perm[pos:pos + batch]]
        pos += batch
        z = torch.randn(batch, layout.z_dim)
        fake = G(z)
        lr_, _ = D(real)
        lf_, q = D(fake.detach())
        loss_d = F.softplus(-lr_).mean() + F.softplus(lf_).mean() + info(q, z)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        lf, q = D(fake)
        loss_g = F.softplus(-lf).mean() + info(q, z)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        _ = (loss_d.item(), loss_g.item())  # a plain loop logs its losses too
    return steps * batch / (time.perf_counter() - t0)


def studio_loop(steps: int, warmup: int, seed: int, workdir: Path) -> float:
    from ganstudio.core.config import PRESETS, apply_overrides, validate
    from ganstudio.core.events import StepMetrics
    from ganstudio.core.train import iter_train

    cfg = validate(apply_overrides(PRESETS.get("infogan-mnist").config(),
                                   {"steps": steps + warmup, "seed": seed, "threads": 1, "device": "cpu",
                                    "sample_every": 20, "checkpoint_every": 10**9}))
    t0 = t_end = first = None
    for ev in iter_train(cfg, workdir / f"run-{seed}-{time.monotonic_ns()}"):
        if isinstance(ev, StepMetrics):
            if first is None and ev.step >= warmup:
                first, t0 = ev.step, time.perf_counter()
            t_end = time.perf_counter()
    return (steps + warmup - first) * cfg.batch_size / (t_end - t0)


def throughput(rounds: int, steps: int, warmup: int) -> dict:
    import torch

    from ganstudio.core.config import PRESETS
    from ganstudio.core.data import load_dataset
    from ganstudio.core.families import FAMILIES

    torch.set_num_threads(1)
    cfg = PRESETS.get("infogan-mnist").config()
    data = load_dataset("mnist")
    meta = FAMILIES.get("infogan").describe(cfg, data)
    studio, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            plain.append(plain_loop(meta, data.x, steps, warmup, r, cfg.batch_size, cfg.lr_g, cfg.lr_d))
            studio.append(studio_loop(steps, warmup, r, Path(tmp)))
            print(f"throughput round {r + 1}: studio {studio[-1]:6.1f} img/s   plain {plain[-1]:6.1f} img/s   "
                  f"ratio {studio[-1] / plain[-1]:.3f}", flush=True)
    return {"studio_img_per_s": round(statistics.median(studio), 1), "plain_img_per_s": round(statistics.median(plain), 1),
            "ratio": round(statistics.median(s / p for s, p in zip(studio, plain)), 3)}


def mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return round(statistics.mean(vals), 4) if vals else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="mnist,shapes,throughput")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--budget-scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    ap.add_argument("--steps", type=int, default=60, help="timed throughput steps per round and loop (a multiple of the preset's log_every, 10)")
    ap.add_argument("--keep", type=Path, help="keep the runs in this folder instead of a temporary one")
    add_set_option(ap)
    args = ap.parse_args()
    extra = set_overrides(ap, args)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    jobs = [(preset, seed, budget * args.budget_scale, metrics)
            for part in parts if part in RUNS for preset, budget, metrics in RUNS[part]
            for seed in range(args.first_seed, args.first_seed + args.seeds)]
    results: list[dict] = []
    out: dict = {"benchmark": "infogan"}
    if jobs:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        with (tempfile.TemporaryDirectory() if args.keep is None else contextlib.nullcontext(str(args.keep))) as tmp, \
                ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_seed, *job, tmp, extra) for job in jobs]
            for f in as_completed(futures):
                r = f.result()
                results.append(r)
                print(json.dumps(r), flush=True)
    by = {p: sorted((r for r in results if r["preset"] == p), key=lambda r: r["seed"]) for p in {r["preset"] for r in results}}
    if "infogan-mnist" in by:
        rows = by["infogan-mnist"]
        codes = sorted({k.split("/")[1] for r in rows for k in r if k.startswith("code_spearman/")})
        per_code = {c: round(statistics.mean(max(r.get(f"code_spearman/{c}/slant", 0), r.get(f"code_spearman/{c}/width", 0))
                                             for r in rows), 4) for c in codes}
        out.update(mnist_code_accuracy=mean(rows, "code_accuracy"), mnist_code_spearman=per_code,
                   mnist_code_spearman_min=min(per_code.values()) if per_code else float("nan"),
                   mnist_steps=[r["steps"] for r in rows])
    for preset, tag in (("infogan-cr-shapes", "shapes_cr"), ("infogan-shapes", "shapes_plain")):
        if preset in by:
            rows = by[preset]
            out.update({f"{tag}_sap": mean(rows, "sap"), f"{tag}_mig": mean(rows, "mig"),
                        f"{tag}_factorvae": mean(rows, "factorvae"), f"{tag}_steps": [r["steps"] for r in rows]})
    if "throughput" in parts:
        t = throughput(args.rounds, args.steps, warmup=10)
        out.update(throughput_ratio=t["ratio"], throughput=t)
    out["seeds"] = results
    covered = {p for part in parts for p in (("shapes-cr", "shapes-plain") if part == "shapes" else (part,))}
    full = covered >= {"mnist", "shapes-cr", "shapes-plain", "throughput"} and args.seeds >= 3 and args.budget_scale <= 1 and not extra
    met = (out.get("mnist_code_accuracy", 0) >= GOALS["mnist_code_accuracy"]
           and out.get("mnist_code_spearman_min", 0) >= GOALS["mnist_code_spearman_min"]
           and out.get("shapes_cr_sap", 0) >= GOALS["shapes_cr_sap"] and out.get("shapes_cr_mig", 0) >= GOALS["shapes_cr_mig"]
           and out.get("throughput_ratio", 0) >= GOALS["throughput_ratio"])
    out.update(goals=GOALS, goal_met=bool(full and met))
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())

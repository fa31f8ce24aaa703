"""Training speed with another job on the machine: the default thread choice against fixed counts.

One busy process (a pure-Python loop, as another user's job would be) holds one core while
`dcgan-mnist` trains headless with threads = 1, every usable core, and 0 (the default, which picks
the cores that are not busy when training starts). Rounds alternate the three, side by side in one
run; the rate is the loop's own images/s over the logged steps after a warm-up.

    python benchmarks/threads_under_load.py [--rounds 3] [--steps 60]

Goal: the default reaches ≥ 0.9× the best fixed count under load (and the same on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganstudio.core.config import PRESETS  # noqa: E402
from ganstudio.core.events import RunStarted  # noqa: E402
from ganstudio.core.train import iter_train, usable_cores  # noqa: E402

GOAL = 0.9
WARMUP = 10


def rate(threads: int, steps: int, tmp: Path, tag: str) -> tuple[float, str]:
    cfg = replace(PRESETS.get("dcgan-mnist").config(), steps=steps, threads=threads, log_every=5,
                  sample_every=10**6, checkpoint_every=10**9)
    chose = ""
    run = tmp / tag
    for ev in iter_train(cfg, run):
        if isinstance(ev, RunStarted):
            chose = ev.threads
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    recs = [r for r in recs if r["step"] > WARMUP]
    images = sum(5 * cfg.batch_size for _ in recs)
    seconds = sum(5 * cfg.batch_size / r["img_per_s"] for r in recs)
    return images / seconds, chose


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args(argv)
    cores = len(usable_cores())
    counts = {"1 thread": 1, f"{cores} threads": cores, "default (0)": 0}
    results: dict[str, dict[str, list[float]]] = {"idle": {k: [] for k in counts}, "one busy core": {k: [] for k in counts}}
    chosen: dict[str, set] = {"idle": set(), "one busy core": set()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for load in results:
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "idle" else None
            time.sleep(1.0 if hog else 0.0)
            try:
                for r in range(args.rounds):
                    for name, n in counts.items():
                        v, chose = rate(n, args.steps, tmp, f"{load[:4]}-{n}-{r}")
                        results[load][name].append(v)
                        if n == 0:
                            chosen[load].add(chose)
                        print(f"{load:14s} round {r + 1}  {name:12s} {v:7.0f} img/s  {chose if n == 0 else ''}", flush=True)
            finally:
                if hog:
                    hog.kill()
                    hog.wait()
    out = {"benchmark": "threads_under_load", "cores": cores}
    ratios = {}
    for load, by in results.items():
        med = {k: statistics.median(v) for k, v in by.items()}
        best = max(v for k, v in med.items() if k != "default (0)")
        ratios[load] = med["default (0)"] / best
        key = load.replace(" ", "_")
        print(f"{load}: " + ", ".join(f"{k} {v:.0f} img/s" for k, v in med.items())
              + f"; default / best fixed {ratios[load]:.2f}; default chose {sorted(chosen[load])}")
        out[f"{key}_img_per_s"] = {k: round(v) for k, v in med.items()}
        out[f"{key}_default_vs_best"] = round(ratios[load], 3)
    out["goals"] = {"idle_default_vs_best": GOAL, "one_busy_core_default_vs_best": GOAL}
    out["goal_met"] = all(r >= GOAL for r in ratios.values())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Distributed training on CPU ranks: throughput for 1 and 2 ranks on the same total batch, and how
fast Ctrl-C ends every rank.

Both runs train `dcgan-mnist` under torchrun with the same total batch (2 ranks × batch/2 against
1 rank × batch) and the same number of cores (1 rank × 2 threads against 2 ranks × 1 thread), so
the efficiency is what the distributed engine costs or gains here. On a 2-core machine it cannot
scale: the point is correctness and overhead (gradient all-reduce through gloo, one agreed stop
flag a step). Ctrl-C: a 2-rank job gets SIGINT in its process group, as from a terminal; the time
is from the signal to torchrun exiting, which it does once every rank has (goal ≤ 2 s).

    python benchmarks/scaling.py [--batch 128] [--steps 150] [--stops 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"ctrl_c_to_exit_s": 2.0}


def env(threads: int) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return {**e, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}


def command(ranks: int, batch: int, steps: int, run_dir: Path, threads: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
            "-m", "ganstudio", "train", "--preset", "dcgan-mnist", "--batch-size", str(batch), "--steps", str(steps),
            "--run-dir", str(run_dir), "--set", f"threads={threads}", "--set", "log_every=10",
            "--set", "sample_every=100000", "--set", "checkpoint_every=100000"]


def throughput(ranks: int, total_batch: int, steps: int, tmp: Path) -> float:
    cores = os.cpu_count() or 2
    threads = max(1, cores // ranks)
    run_dir = tmp / f"speed{ranks}"
    r = subprocess.run(command(ranks, total_batch // ranks, steps, run_dir, threads), env=env(threads),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{ranks}-rank run failed:\n{r.stderr[-2000:]}")
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [rec["img_per_s"] for rec in records[2:]]  # past start-up
    return statistics.median(rates)


def ctrl_c(tmp: Path, i: int) -> float:
    run_dir = tmp / f"stop{i}"
    p = subprocess.Popen(command(2, 32, 10**7, run_dir, 1), env=env(1), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        if p.poll() is not None:
            raise SystemExit("the 2-rank job ended before it could be stopped")
        time.sleep(0.1)
    t0 = time.perf_counter()
    os.killpg(p.pid, signal.SIGINT)
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise SystemExit("a rank was still running 60 s after Ctrl-C") from None
    dt = time.perf_counter() - t0
    if not (run_dir / "checkpoints" / "latest.pt").is_file():
        raise SystemExit("Ctrl-C left no checkpoint")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128, help="total batch, split over the ranks")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--stops", type=int, default=3, help="Ctrl-C trials")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = throughput(1, args.batch, args.steps, tmp)
        print(f"1 rank  × {os.cpu_count() or 2} threads, batch {args.batch}: {one:7.1f} img/s", flush=True)
        two = throughput(2, args.batch, args.steps, tmp)
        print(f"2 ranks × 1 thread, batch {args.batch // 2} each: {two:7.1f} img/s", flush=True)
        eff = two / one
        print(f"efficiency (2 ranks ÷ 1 rank, same cores, same total batch): {eff:.2f}", flush=True)
        stops = []
        for i in range(args.stops):
            stops.append(ctrl_c(tmp, i))
            print(f"Ctrl-C → every rank exited, checkpoint written: {stops[-1]:.2f} s", flush=True)
    worst = max(stops)
    print(f"worst of {len(stops)}: {worst:.2f} s (goal ≤ {GOALS['ctrl_c_to_exit_s']} s)", flush=True)
    print(json.dumps({"benchmark": "scaling", "img_per_s_1_rank": round(one, 1), "img_per_s_2_ranks": round(two, 1),
                      "efficiency": round(eff, 3), "ctrl_c_to_exit_s": round(worst, 2),
                      "ctrl_c_median_s": round(statistics.median(stops), 2),
                      "goals": GOALS, "goal_met": worst <= GOALS["ctrl_c_to_exit_s"]}))


if __name__ == "__main__":
    main()

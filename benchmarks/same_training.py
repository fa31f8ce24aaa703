"""Does a refactor leave training unchanged? Every preset trained for a few steps by this tree and by
another git revision, compared by their sample grids (bytes) and logged losses.

A change that moves code without meaning to change what is trained (the family architecture, a
module split) must keep every sample grid byte-identical; logged values may differ only where a
change says so (e.g. a curve split into its terms).

    python benchmarks/same_training.py --against REV [--steps 20] [--presets a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run inside each tree (its own ganstudio first on sys.path): one JSON line per preset.
CHILD = r"""
import hashlib, json, sys, tempfile
from pathlib import Path
import torch
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.train import iter_train
torch.set_num_threads(1)
steps, wanted = int(sys.argv[1]), [n for n in sys.argv[2].split(",") if n]
for name in wanted or PRESETS.names():
    cfg = apply_overrides(PRESETS.get(name).config(), {"steps": steps, "seed": 1, "threads": 1, "log_every": 5,
                          "sample_every": steps, "checkpoint_every": steps, "batch_size": 32})
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "r"
        for _ in iter_train(cfg, run):
            pass
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        last = {k: round(v, 6) for k, v in sorted(rows[-1].items()) if k.startswith("loss/")}
        grids = b"".join(p.read_bytes() for p in sorted((run / "samples").glob("*.png")))
        print(json.dumps({"preset": name, "samples": hashlib.sha256(grids).hexdigest(), "losses": last}), flush=True)
"""


def digests(tree: Path, steps: int, presets: str) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(steps), presets], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout
    return {r["preset"]: r for r in map(json.loads, out.splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the git revision to compare with (e.g. HEAD~3)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--presets", default="", help="comma-separated (default: every preset of this tree)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), args.against], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            then = digests(other, args.steps, args.presets)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, capture_output=True)
    now = digests(ROOT, args.steps, args.presets)
    same = 0
    for name, r in now.items():
        old = then.get(name)
        if old is None:
            print(f"{name:<24} new preset (not in {args.against})")
            continue
        ok = old["samples"] == r["samples"]
        same += ok
        changed = {k: (old["losses"].get(k), v) for k, v in r["losses"].items() if old["losses"].get(k) != v}
        note = "" if not changed else "  logged values differ: " + ", ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items())
        print(f"{name:<24} samples {'identical' if ok else 'DIFFERENT'}{note}")
    common = sum(1 for n in now if n in then)
    print(json.dumps({"benchmark": "same_training", "against": args.against, "steps": args.steps, "presets": common,
                      "identical_samples": same, "goals": {"identical_samples": common}, "goal_met": same == common}))


if __name__ == "__main__":
    main()

"""Your own images, no flags: three folders this project was not tuned on, trained and judged without labels.

The folders are written fresh from vendored files, the way a user's would look:
- colour-64: 600 crops of 64×64 px from the 7 colour photographs, 60 of them RGBA with transparent corners;
- gray-37: 1,000 glyphs of random characters and faces at 37×37 px (an odd size no model builds at), grayscale PNG;
- small-100: 100 crops of 56×56 px from the 9 grayscale photographs and textures, saved as RGB JPEG.
Each trains exactly as `ganstudio train --dataset FOLDER` does (the preset chosen for a user's
folder, nothing set), for its preset's steps or a CPU budget, whichever ends first, in its own
process on one thread. It is then scored on label-free features (core/features.py): FD next to
the real-vs-real floor, recall, coverage, and feature diversity against real images; any
collapse warning during training is reported.

    python benchmarks/own_images.py [--budget-min 15] [--only colour-64,gray-37,small-100] [--jobs 2] [--seed 0] [--set key=value ...]

A run with --set (tuning a candidate recipe) never claims the goal.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tuning import add_set_option, set_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"recall_min": 0.3, "coverage_min": 0.5, "collapse_warnings": 0, "budget_cpu_min": 15.0}
COLOUR = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "ihc.png")
GRAY = ("camera.png", "coins.png", "moon.png", "page.png", "text.png", "brick.png", "grass.png", "gravel.png", "clock_motion.png")


def _crops(files: tuple[str, ...], n: int, size: int, rng: np.random.Generator) -> list[Image.Image]:
    photos = [Image.open(ROOT / "resources" / "datasets" / "photos" / f).convert("RGB") for f in files]
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        side = int(rng.integers(size, max(size + 1, min(img.size) // 2)))  # a crop of 1× to ½-image scale
        x0, y0 = int(rng.integers(0, img.size[0] - side + 1)), int(rng.integers(0, img.size[1] - side + 1))
        out.append(img.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.BICUBIC))
    return out


def make_folders(root: Path, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    out = {}
    d = out["colour-64"] = root / "colour-64"
    d.mkdir(parents=True)
    for i, img in enumerate(_crops(COLOUR, 600, 64, rng)):
        if i % 10 == 0:  # transparent corners: the alpha path
            a = np.full((64, 64), 255, np.uint8)
            yy, xx = np.mgrid[:64, :64]
            a[(yy - 31.5) ** 2 + (xx - 31.5) ** 2 > 34 ** 2] = 0
            img = Image.fromarray(np.dstack([np.asarray(img), a]), "RGBA")
        img.save(d / f"crop_{i:04d}.png")
    d = out["gray-37"] = root / "gray-37"
    d.mkdir()
    glyphs = np.load(ROOT / "resources" / "datasets" / "glyphs" / "latin_glyphs.npz")["images"]
    for i, row in enumerate(rng.choice(len(glyphs), 1000, replace=False)):
        Image.fromarray(glyphs[row]).resize((37, 37), Image.Resampling.BILINEAR).save(d / f"glyph_{i:04d}.png")
    d = out["small-100"] = root / "small-100"
    d.mkdir()
    for i, img in enumerate(_crops(GRAY, 100, 56, rng)):
        img.save(d / f"photo_{i:03d}.jpg", quality=90)
    return out


def run_one(name: str, folder: str, budget_s: float, seed: int, work: str, extra: dict | None = None) -> dict:
    import torch

    torch.set_num_threads(1)
    from ganstudio.core.config import PRESETS, apply_overrides, default_preset, validate
    from ganstudio.core.evaluate import evaluate
    from ganstudio.core.events import Control, HealthWarning, RunFinished, RunStarted, StepMetrics
    from ganstudio.core.train import iter_train

    preset = PRESETS.get(default_preset(folder, "cpu"))
    given = {"dataset": folder, "seed": seed, "threads": 1, "device": "cpu", **(extra or {})}
    cfg = validate(preset.refit(apply_overrides(preset.config(), given), set(given)))
    control, warnings, summary, step = Control(), [], "", 0
    t0, w0 = time.process_time(), time.perf_counter()
    run = Path(work) / f"run-{name}"
    for ev in iter_train(cfg, run, control):
        if isinstance(ev, RunStarted):
            summary = ev.dataset
        elif isinstance(ev, StepMetrics):
            step = ev.step
            if time.process_time() - t0 > budget_s:
                control.stop()
        elif isinstance(ev, HealthWarning):
            warnings.append(f"{ev.kind} at step {ev.step}: {ev.message}")
        elif isinstance(ev, RunFinished):
            pass
    cpu = time.process_time() - t0
    ev = evaluate(run / "checkpoints" / "latest.pt", ("fd", "pr", "diversity"), n=1000, cache_dir=run)
    v = ev.values
    return {"folder": name, "preset": preset.name, "summary": summary, "steps": step, "train_cpu_min": round(cpu / 60, 2),
            "train_wall_min": round((time.perf_counter() - w0) / 60, 2), "judge": ev.judge,
            "fd": round(v["fd"], 4), "fd_floor": round(v["fd_floor"], 4), "recall": round(v["recall"], 3),
            "coverage": round(v["coverage"], 3), "precision": round(v["precision"], 3),
            "diversity": round(v["diversity"], 3), "diversity_real": round(v["diversity_real"], 3),
            "collapse_warnings": [w for w in warnings if w.startswith("mode_collapse")], "warnings": warnings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=GOALS["budget_cpu_min"])
    ap.add_argument("--only", default="colour-64,gray-37,small-100")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    add_set_option(ap)
    args = ap.parse_args()
    extra = set_overrides(ap, args)
    wanted = args.only.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = make_folders(Path(tmp) / "folders", args.seed)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_one, n, str(folders[n]), args.budget_min * 60, args.seed, tmp, extra) for n in wanted]
            for f in as_completed(futures):
                r = f.result()
                rows.append(r)
                print(f"{r['folder']}: {r['summary']}; {r['steps']} steps in {r['train_cpu_min']} CPU-min ({r['preset']}); "
                      f"FD {r['fd']} (floor {r['fd_floor']}), recall {r['recall']}, coverage {r['coverage']}, "
                      f"precision {r['precision']}, diversity {r['diversity']} (real {r['diversity_real']}); "
                      f"collapse warnings: {len(r['collapse_warnings'])}", flush=True)
    rows.sort(key=lambda r: wanted.index(r["folder"]))
    recall, coverage = min(r["recall"] for r in rows), min(r["coverage"] for r in rows)
    collapses = sum(len(r["collapse_warnings"]) for r in rows)
    full = set(wanted) == {"colour-64", "gray-37", "small-100"} and args.budget_min <= GOALS["budget_cpu_min"] and not extra
    print(json.dumps({"benchmark": "own_images", "recall_min": recall, "coverage_min": coverage, "collapse_warnings": collapses,
                      "budget_cpu_min": args.budget_min, "folders": rows, "goals": GOALS,
                      "goal_met": full and recall >= GOALS["recall_min"] and coverage >= GOALS["coverage_min"] and collapses == 0}))


if __name__ == "__main__":
    sys.exit(main())

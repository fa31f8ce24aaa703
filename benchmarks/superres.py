"""Super-resolution goals: SRResNet and SRGAN at ×4 (and ×2) on the built-in photos, scored on the four held-out
photos; and the streamed tiler: peak memory of a 4000×3000 ×4 upscale, tiled vs one-pass difference, and
tiled throughput against a plain torch loop over the same tiles.

    python benchmarks/superres.py [--only train,tiling] [--scales 4,2] [--budget-scale 1] [--keep DIR] [--model RUN]

Each training runs in its own process on one thread (two at a time), stopped at its CPU budget
(`time.process_time`, 30 CPU-minutes by default) if its steps are not done by then; SRGAN starts from the
SRResNet run of its scale (`init_from`), as the papers do, and its budget is its own. Scores are the SR papers':
PSNR / SSIM on Y with `scale` px cropped, bicubic-downscaled inputs; sharpness is the mean Sobel gradient
magnitude over the original's. A partial run (--only, one scale, a scaled budget) never claims the goals.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_S = 1800.0
GOALS = {"x4_srresnet_gain_db": 1.0, "x4_srgan_psnr_between": True, "x4_srgan_sharpness_within": 0.15,
         "x4_bicubic_sharpness_below": 0.30, "budget_cpu_min": 30.0, "big_peak_rss_gb": 2.0,
         "tiled_max_diff_255": 1.0, "tiled_throughput_ratio": 1.0}


def train_one(preset: str, scale: int, budget_s: float, work: str, init_from: str = "") -> dict:
    import torch

    torch.set_num_threads(1)
    from _budget import train_within
    from ganstudio.core.config import PRESETS, apply_overrides, validate
    from ganstudio.core.evaluate import evaluate

    over = {"scale": scale, "threads": 1, "device": "cpu", "sample_every": 500, "checkpoint_every": 10**9}
    if init_from:
        over["init_from"] = init_from
    cfg = validate(apply_overrides(PRESETS.get(preset).config(), over))
    run = Path(work) / f"{preset}-x{scale}"
    step, cpu, _ = train_within(cfg, run, budget_s)
    ev = evaluate(run, n=10)
    return {"preset": preset, "scale": scale, "run": str(run), "steps": step, "of_steps": cfg.steps,
            "cpu_min": round(cpu / 60, 2), **{k: round(v, 4) for k, v in ev.values.items()}}


def train(scales: list[int], budget_s: float, work: str) -> dict[int, dict]:
    ctx = mp.get_context("spawn")
    out: dict[int, dict] = {}
    # a fresh process per training: each reads the presets as they are when it starts
    with ProcessPoolExecutor(max_workers=min(2, len(scales)), mp_context=ctx, max_tasks_per_child=1) as pool:
        psnr = {s: pool.submit(train_one, "srresnet", s, budget_s, work) for s in scales}
        gan = {}
        for s in scales:
            r = psnr[s].result()
            print(json.dumps(r), flush=True)
            gan[s] = pool.submit(train_one, "srgan", s, budget_s, work, r["run"])
        for s in scales:
            g = gan[s].result()
            print(json.dumps(g), flush=True)
            out[s] = {"srresnet": psnr[s].result(), "srgan": g}
    return out


# ---------------------------------------------------------------------------------------------- tiling


def _load(model: str):
    from ganstudio.core.upscale import load_upscaler

    return load_upscaler(model)


def tiling(model: str, work: str, rounds: int = 3) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from ganstudio.core.upscale import TILE, MARGIN, TILES_PER_CALL, strip_rows, upscale_array

    up = _load(model)
    img = np.asarray(Image.open(ROOT / "resources/datasets/photos/astronaut.png").convert("RGB"))  # 512×512
    with torch.inference_mode():
        whole = upscale_array(img, up, up.scale, up.channels, tile=0)
        tiled = upscale_array(img, up, up.scale, up.channels)
    diff = int(np.abs(whole.astype(np.int16) - tiled).max())
    del whole

    # throughput: the same tiles (with their context margins) through the network one by one, nothing blended
    h, w = img.shape[:2]
    ys, xs, tile, _ = strip_rows(h, w, up.scale)
    x = torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 127.5 - 1
    boxes = [(max(0, y0 - MARGIN), max(0, x0 - MARGIN), min(h, y0 + tile + MARGIN), min(w, x0 + tile + MARGIN))
             for y0 in ys for x0 in xs]

    def plain():
        with torch.inference_mode():
            for y0, x0, y1, x1 in boxes:
                up(x[None, :, y0:y1, x0:x1]).clamp(-1, 1)

    def ours():
        with torch.inference_mode():
            upscale_array(img, up, up.scale, up.channels)

    times = {"plain": [], "tiled": []}
    plain(), ours()  # warm-up
    for _ in range(rounds):
        for name, fn in (("plain", plain), ("tiled", ours)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ratio = float(np.median(times["plain"]) / np.median(times["tiled"]))

    # 4000×3000 → 16000×12000, streamed, in a child process whose peak RSS is read after it exits
    big = Path(work) / "big.png"
    if not big.exists():
        src = Image.open(ROOT / "resources/datasets/photos/hubble_deep_field.jpg").convert("RGB")
        src.resize((4000, 3000), Image.Resampling.BICUBIC).save(big, compress_level=1)
    out_dir = Path(work) / "big-out"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ganstudio", "upscale", model, str(big), "-o", str(out_dir),
                           "--max-pixels", "200000000"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9  # KiB on Linux
    outs = sorted(out_dir.glob("big*.png"))
    Image.MAX_IMAGE_PIXELS = None  # only the header is read here, to check the size
    size = Image.open(outs[-1]).size if outs else None
    return {"tiled_max_diff_255": diff, "tiled_throughput_ratio": round(ratio, 3), "tile": TILE, "margin": MARGIN,
            "tiles_per_call": TILES_PER_CALL, "plain_s": round(float(np.median(times["plain"])), 3),
            "tiled_s": round(float(np.median(times["tiled"])), 3), "big_rc": proc.returncode,
            "big_output": list(size) if size else None, "big_seconds": round(seconds, 1),
            "big_peak_rss_gb": round(rss_gb, 3), "big_stderr": proc.stderr.strip().splitlines()[-1:] if proc.returncode else []}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="train,tiling")
    ap.add_argument("--scales", default="4,2")
    ap.add_argument("--budget-scale", type=float, default=1.0)
    ap.add_argument("--keep", help="keep the runs in this folder (default: a temporary one)")
    ap.add_argument("--model", help="tiling: the ×4 model to use (default: the SRResNet ×4 this run trains)")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    scales = [int(s) for s in args.scales.split(",")]
    work = args.keep or tempfile.mkdtemp(prefix="superres-")
    os.makedirs(work, exist_ok=True)
    out: dict = {"benchmark": "superres"}
    results = {}
    if "train" in parts:
        results = train(scales, BUDGET_S * args.budget_scale, work)
        for s, r in results.items():
            p, g = r["srresnet"], r["srgan"]
            out.update({f"x{s}_bicubic_psnr": p["psnr_bicubic"], f"x{s}_srresnet_psnr": p["psnr"],
                        f"x{s}_srresnet_gain_db": round(p["psnr"] - p["psnr_bicubic"], 3), f"x{s}_srgan_psnr": g["psnr"],
                        f"x{s}_bicubic_ssim": p["ssim_bicubic"], f"x{s}_srresnet_ssim": p["ssim"], f"x{s}_srgan_ssim": g["ssim"],
                        f"x{s}_hr_sharpness": 1.0, f"x{s}_bicubic_sharpness": p["sharpness_bicubic"],
                        f"x{s}_srresnet_sharpness": p["sharpness"], f"x{s}_srgan_sharpness": g["sharpness"],
                        f"x{s}_srresnet_cpu_min": p["cpu_min"], f"x{s}_srgan_cpu_min": g["cpu_min"],
                        f"x{s}_srresnet_steps": f"{p['steps']}/{p['of_steps']}", f"x{s}_srgan_steps": f"{g['steps']}/{g['of_steps']}"})
    if "tiling" in parts:
        model = args.model or (results.get(4, {}).get("srresnet", {}).get("run"))
        if not model:
            raise SystemExit("tiling needs a ×4 model: pass --model RUN or include train with scale 4")
        out.update(tiling(model, work))
    met = {}
    if 4 in results:
        met["x4_srresnet_gain_db"] = out["x4_srresnet_gain_db"] >= GOALS["x4_srresnet_gain_db"]
        met["x4_srgan_psnr_between"] = out["x4_bicubic_psnr"] < out["x4_srgan_psnr"] < out["x4_srresnet_psnr"]
        met["x4_srgan_sharpness_within"] = abs(out["x4_srgan_sharpness"] - 1) <= GOALS["x4_srgan_sharpness_within"]
        met["x4_bicubic_sharpness_below"] = out["x4_bicubic_sharpness"] <= 1 - GOALS["x4_bicubic_sharpness_below"]
        met["budget_cpu_min"] = all(out[f"x{s}_{m}_cpu_min"] <= GOALS["budget_cpu_min"] for s in results for m in ("srresnet", "srgan"))
    if "tiling" in parts:
        met["big_peak_rss_gb"] = out["big_rc"] == 0 and out["big_peak_rss_gb"] <= GOALS["big_peak_rss_gb"]
        met["tiled_max_diff_255"] = out["tiled_max_diff_255"] <= GOALS["tiled_max_diff_255"]
        met["tiled_throughput_ratio"] = out["tiled_throughput_ratio"] >= GOALS["tiled_throughput_ratio"]
    full = {"train", "tiling"} <= parts and set(scales) >= {2, 4} and args.budget_scale <= 1
    out["met"] = met
    out["goals"] = GOALS
    out["goal_met"] = bool(full and met and all(met.values()))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Batch translation throughput: the studio's pipeline vs a plain torch loop over the same files and generator.

The plain loop opens each file with Pillow, converts it, runs the generator at the model's
size (resize in, resize out) and saves a PNG, one after another.  The pipeline decodes ahead
and encodes behind on worker threads while the generator runs.  Both use resize mode, so the
generator does the same work; quality goals of the issue (zebra share, L1, classifier
agreement) are not measured here yet.

    python benchmarks/translate.py [--images 200] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

GOAL = 1.0


def plain_loop(files, out_dir: Path, G, size: int) -> float:
    t0 = time.perf_counter()
    out_dir.mkdir()
    with torch.inference_mode():
        for f in files:
            img = Image.open(f).convert("RGB")
            w, h = img.size
            x = torch.from_numpy(np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
            y = G(x)[0]
            arr = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
            Image.fromarray(arr).resize((w, h), Image.BILINEAR).save(out_dir / f"{f.stem}.png")
    return len(files) / (time.perf_counter() - t0)


def pipeline(files, out_dir: Path, G, size: int) -> float:
    from ganstudio.core.translate import translate_files

    t0 = time.perf_counter()
    n = sum(1 for r in translate_files(files, out_dir, G, size, 3, mode="resize") if not r.error)
    assert n == len(files)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=120)
    ap.add_argument("--size", type=int, default=256, help="side of the input photos")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ganstudio.core.translation_models import TranslationSpec, build_generator

    G = build_generator("resnet", TranslationSpec(image_size=64, g_width=32, resnet_blocks=6)).eval()
    rng = np.random.default_rng(0)
    ratios, plain_r, pipe_r = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        src.mkdir()
        files = []
        for i in range(args.images):
            p = src / f"{i:04d}.jpg"
            Image.fromarray(rng.integers(0, 255, (args.size, args.size * 3 // 4, 3), dtype=np.uint8)).save(p, quality=90)
            files.append(p)
        for r in range(args.rounds):
            a = plain_loop(files, tmp / f"plain{r}", G, 64)
            b = pipeline(files, tmp / f"pipe{r}", G, 64)
            plain_r.append(a)
            pipe_r.append(b)
            ratios.append(b / a)
            print(f"round {r + 1}: pipeline {b:6.1f} img/s   plain loop {a:6.1f} img/s   ratio {b / a:.3f}", flush=True)
    ratio = float(np.median(ratios))
    print(f"median ratio pipeline / plain loop = {ratio:.3f}  (goal ≥ {GOAL})")
    print(json.dumps({"benchmark": "translate", "pipeline_img_per_s": round(float(np.median(pipe_r)), 1),
                      "plain_img_per_s": round(float(np.median(plain_r)), 1), "ratio": round(ratio, 3),
                      "goals": {"ratio": GOAL}, "goal_met": ratio >= GOAL}))


if __name__ == "__main__":
    main()

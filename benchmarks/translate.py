"""Image translation: batch throughput against a plain loop, and the quality of the two translation presets.

Throughput: the plain loop opens each file with Pillow, converts it, runs the generator at the
model's size (resize in, resize out) and saves a PNG, one after another.  The pipeline decodes
ahead and encodes behind on worker threads while the generator runs.  Both use resize mode, so
the generator does the same work.

Quality: each preset is trained from scratch with the studio loop (all cores), then scored on
its dataset's held-out images, which neither the generator nor the judging classifier saw:
- cyclegan-horse2zebra: share of translated horses the Animal-MNIST classifier calls "zebra"
  (goal ≥ 0.90; untranslated horses are printed as the floor), the cycle L1 |F(G(x)) − x| of
  those same horses in [-1, 1] units (goal ≤ 0.1), and the CPU time.  The zebra round trip
  |G(F(y)) − y| is printed too: it must hide a zebra's stripes inside a plain horse, and stays
  higher.
- pix2pix-edges2fashion: L1 to the target, and the share of outputs the Fashion-MNIST
  classifier puts in the target's class (the classifier's accuracy on the real targets is printed
  next to it).  A classifier trained by the judge's own recipe on the edge maps alone, scored on
  the same held-out rows, gives the ceiling: what the edges tell about the class, which no
  edges -> item -> judge chain can beat.  Goal: class agreement ≥ 0.95 of that ceiling
  (about 6 CPU-minutes more for the ceiling).

    python benchmarks/translate.py [--only speed|cyclegan|pix2pix] [--steps-scale 1.0]

In the JSON line, `cyclegan_cycle_l1_a` is a ceiling and the `_cpu_s` figures are reports,
every other goal a floor.  A partial run (--only, --steps-scale, --set) never claims the goal.
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

from _tuning import add_set_option, set_overrides  # benchmarks/ is the script's folder, first on sys.path

GOALS = {"ratio": 1.0, "cyclegan_zebra_share": 0.90, "cyclegan_cycle_l1_a": 0.1, "pix2pix_share_of_ceiling": 0.95}
QUALITY_PRESETS = {"cyclegan": "cyclegan-horse2zebra", "pix2pix": "pix2pix-edges2fashion"}


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


def train_and_score(preset: str, workdir: Path, steps_scale: float, threads: int, extra: dict) -> dict:
    """Train `preset` from scratch with the studio loop, then score its checkpoint on held-out images."""
    from ganstudio.core.config import PRESETS, apply_overrides
    from ganstudio.core.events import RunFinished, StepMetrics
    from ganstudio.core.train import iter_train
    from ganstudio.core.evaluate import evaluate

    never = 10**9
    base = PRESETS.get(preset).config()
    cfg = apply_overrides(base, {"threads": threads, "sample_every": never, "checkpoint_every": never,
                                 "steps": max(1, round(base.steps * steps_scale)), **extra})
    t0, w0 = time.process_time(), time.perf_counter()
    finished = None
    for ev in iter_train(cfg, workdir / preset):
        if isinstance(ev, StepMetrics) and ev.step % 500 == 0:
            print(f"  {preset}: step {ev.step}/{cfg.steps}  {time.perf_counter() - w0:.0f} s", flush=True)
        elif isinstance(ev, RunFinished):
            finished = ev
    cpu_s, wall_s = time.process_time() - t0, time.perf_counter() - w0
    ev = evaluate(finished.checkpoint)  # the family's own metrics, on the held-out images
    return {**ev.values, "n_a": ev.n, "steps": finished.step, "cpu_s": cpu_s, "wall_s": wall_s}


def edge_ceiling() -> float:
    """Held-out accuracy of a classifier trained on edges2fashion's A side (the edge maps) alone,
    with the recipe and training rows of the shipped Fashion-MNIST judge."""
    from ganstudio.core.classifier import builtin_classifier, train_classifier
    from ganstudio.core.data import evaluation_split, load_dataset
    from ganstudio.core.pairs import load_translation_data

    data = load_translation_data("edges2fashion", 32, 1)
    judge = builtin_classifier("fashion")
    ds = load_dataset("fashion")
    train, _ = evaluation_split(ds.labels)
    meta = judge.meta
    clf = train_classifier(data.a, ds.labels[train], judge.classes, dataset="edges2fashion edges", epochs=meta["epochs"],
                           batch_size=meta["batch_size"], lr=meta["lr"], width=meta["width"], mirror=meta["mirror"],
                           seed=meta["seed"], held_out=(data.held_out_a, data.held_out_labels))
    return float(clf.held_out_accuracy)


def speed(args) -> float:
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
    print(f"median ratio pipeline / plain loop = {ratio:.3f}  (goal ≥ {GOALS['ratio']})", flush=True)
    return {"pipeline_img_per_s": round(float(np.median(pipe_r)), 1), "plain_img_per_s": round(float(np.median(plain_r)), 1),
            "ratio": round(ratio, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("speed", "cyclegan", "pix2pix"))
    ap.add_argument("--images", type=int, default=120)
    ap.add_argument("--size", type=int, default=256, help="side of the input photos")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps-scale", type=float, default=1.0, help="multiply the presets' steps (0.05 for a smoke run)")
    add_set_option(ap)
    args = ap.parse_args()
    extra = set_overrides(ap, args)
    torch.set_num_threads(args.threads)
    res: dict = {"benchmark": "translate"}
    if args.only in (None, "speed"):
        res.update(speed(args))
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "cyclegan"):
            r = train_and_score(QUALITY_PRESETS["cyclegan"], Path(tmp), args.steps_scale, args.threads, extra)
            print(f"cyclegan-horse2zebra, {r['steps']} steps: {100 * r['a_to_b_share']:.1f}% of {r['n_a']} held-out horses "
                  f"called zebra after translation (goal ≥ {100 * GOALS['cyclegan_zebra_share']:.0f}%; "
                  f"{100 * r['a_as_b_before']:.1f}% before), {100 * r['b_to_a_share']:.1f}% of zebras called horse; "
                  f"cycle L1 of those horses {r['cycle_l1_a']:.4f} (goal ≤ {GOALS['cyclegan_cycle_l1_a']}), of the zebras {r['cycle_l1_b']:.4f}; "
                  f"{r['cpu_s']:.0f} CPU s, {r['wall_s']:.0f} s wall", flush=True)
            res.update({"cyclegan_zebra_share": round(r["a_to_b_share"], 4), "cyclegan_horse_share": round(r["b_to_a_share"], 4),
                        "cyclegan_zebra_share_before": round(r["a_as_b_before"], 4),
                        "cyclegan_cycle_l1_a": round(r["cycle_l1_a"], 4), "cyclegan_cycle_l1_b": round(r["cycle_l1_b"], 4),
                        "cyclegan_cpu_s": round(r["cpu_s"], 1),
                        "cyclegan_wall_s": round(r["wall_s"], 1)})
        if args.only in (None, "pix2pix"):
            r = train_and_score(QUALITY_PRESETS["pix2pix"], Path(tmp), args.steps_scale, args.threads, extra)
            print(f"pix2pix-edges2fashion, {r['steps']} steps: held-out L1 {r['l1']:.4f}; "
                  f"{100 * r['class_agreement']:.1f}% of {r['n_a']} outputs in the target's class "
                  f"(the classifier on the real targets: "
                  f"{100 * r['real_accuracy']:.1f}%); {r['cpu_s']:.0f} CPU s, {r['wall_s']:.0f} s wall", flush=True)
            res.update({"pix2pix_l1": round(r["l1"], 4), "pix2pix_class_agreement": round(r["class_agreement"], 4),
                        "pix2pix_real_accuracy": round(r["real_accuracy"], 4), "pix2pix_cpu_s": round(r["cpu_s"], 1),
                        "pix2pix_wall_s": round(r["wall_s"], 1)})
            c = edge_ceiling()
            share = r["class_agreement"] / c
            print(f"a classifier trained on the edge maps alone (the judge's recipe) names {100 * c:.1f}% of the "
                  f"held-out items, the most any edges -> item -> judge chain can reach; pix2pix reaches {share:.3f} "
                  f"of it (goal ≥ {GOALS['pix2pix_share_of_ceiling']})", flush=True)
            res.update({"pix2pix_edge_only_accuracy": round(c, 4), "pix2pix_share_of_ceiling": round(share, 4)})
    checks = {"ratio": lambda v, g: v >= g, "cyclegan_zebra_share": lambda v, g: v >= g,
              "cyclegan_cycle_l1_a": lambda v, g: v <= g, "pix2pix_share_of_ceiling": lambda v, g: v >= g}
    met = all(checks[k](res[k], g) for k, g in GOALS.items() if k in res)
    full = args.only is None and args.steps_scale == 1.0 and not extra
    print(json.dumps({**res, "goals": GOALS, "goal_met": bool(met and full)}))


if __name__ == "__main__":
    main()

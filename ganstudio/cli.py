"""`ganstudio ...` subcommands: train, sample, translate, eval, export, presets, datasets (the studio window imports Qt only when opened)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import ganstudio
from ganstudio.core.errors import UserError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(UserError):
    """Bad command-line input; reported as one line, exit 2."""


# ---------------------------------------------------------------- helpers


def _fmt_duration(seconds: float) -> str:
    if not seconds or seconds != seconds or seconds == float("inf"):
        return "--"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """One updating line on a terminal (a line per log record otherwise): step, img/s, losses, ETA."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.step0 = None
        self.last_print = 0.0
        self.width = 0

    def update(self, step: int, values: dict[str, float]) -> None:
        now = time.perf_counter()
        if self.step0 is None:
            self.step0, self.t0 = step, now
        if not self.tty and now - self.last_print < 5 and step < self.total:
            return  # a log file gets a line every few seconds, not every record
        self.last_print = now
        done = step - self.step0
        rate = done / (now - self.t0) if now > self.t0 and done else 0.0
        eta = (self.total - step) / rate if rate else float("nan")
        frac = step / self.total if self.total else 1.0
        bar = "#" * int(frac * 20)
        line = (
            f"step {step}/{self.total} [{bar:<20}] {frac:5.1%} | {values.get('img_per_s', 0):,.0f} img/s | "
            f"loss D {values.get('loss/d', float('nan')):.3f} G {values.get('loss/g', float('nan')):.3f} | "
            f"D(x) {values.get('d/real', float('nan')):.2f} D(G(z)) {values.get('d/fake', float('nan')):.2f} | ETA {_fmt_duration(eta)}"
        )
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


# ---------------------------------------------------------------- commands


def cmd_presets(args) -> int:
    from ganstudio.core.config import PRESETS, to_toml

    if args.name:
        preset = PRESETS.get(args.name)
        print(f"# preset {preset.name}: {preset.summary}")
        print(to_toml(preset.config()))
        return 0
    width = max(map(len, PRESETS.names()))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.summary}")
    return 0


def cmd_datasets(args) -> int:
    from ganstudio.core.data import list_datasets

    from ganstudio.core.pairs import list_translation_datasets

    rows = list_datasets()
    pairs = list_translation_datasets()
    width = max(len(n) for n, _ in rows + pairs)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    print("\nFor image-to-image translation (pix2pix, cyclegan):")
    for name, desc in pairs:
        print(f"{name:<{width}}  {desc}")
    print("\nOr give a path: a folder of images (one sub-folder per class for labels), "
          "MNIST-style IDX files, or an .npz with 'images' (and optional 'labels', 'classes').")
    return 0


def _build_train_config(args):
    from dataclasses import replace

    from ganstudio.core.config import PRESETS, apply_overrides, load_toml, validate
    from ganstudio.core.data import BUILTIN_DATASETS
    from ganstudio.core.train import resume_config

    flags = {
        "dataset": args.dataset, "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
        "device": args.device, "threads": args.threads, "log_every": args.log_every,
        "sample_every": args.sample_every, "checkpoint_every": args.checkpoint_every,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    overrides = {**_parse_sets(args.set), **flags}
    if args.resume:
        if args.preset or args.config:
            raise UsageError("--resume continues a run with its saved config; drop --preset/--config (use --set to change live settings)")
        if args.run_dir and Path(args.run_dir) != Path(args.resume):
            raise UsageError("--resume writes into the run it continues; drop --run-dir")
        p = Path(args.resume)
        if not p.exists():
            raise UsageError(f"--resume {args.resume}: no such run directory")
        if p.is_file() and p.name != "latest.pt":
            raise UsageError(f"--resume {args.resume}: give the run directory; a run continues from its checkpoints/latest.pt")
        return resume_config(p.parent.parent if p.is_file() else p, overrides), None
    preset = PRESETS.get(args.preset or "dcgan-mnist")
    cfg = preset.config()
    if args.config:
        cfg = load_toml(args.config, base=cfg)
    cfg = apply_overrides(cfg, overrides)
    if cfg.dataset not in BUILTIN_DATASETS and Path(cfg.dataset).exists():
        # stored absolute: the run can be resumed from any folder, and by the studio
        cfg = replace(cfg, dataset=str(Path(cfg.dataset).resolve()))
    return validate(cfg), preset.name if not args.config else Path(args.config).stem


def cmd_train(args) -> int:
    from ganstudio.core.checkpoint import RunDir, default_run_dir
    from ganstudio.core.events import (
        CheckpointSaved,
        Control,
        Evaluated,
        HealthWarning,
        RunFinished,
        RunStarted,
        SampleGrid,
        StepMetrics,
    )
    from ganstudio.core import distributed
    from ganstudio.core.train import iter_train

    ctx = distributed.from_env()  # one rank of a torchrun job, or the only process
    cfg, name = _build_train_config(args)
    if args.resume:
        run_path = RunDir.of_checkpoint(args.resume).path
    else:
        run_path = Path(args.run_dir) if args.run_dir else default_run_dir(name)
    control = Control()
    interrupted = {"n": 0, "first": 0.0}

    def on_signal(signum, frame):
        interrupted["n"] += 1
        now = time.monotonic()
        if interrupted["n"] == 1:
            interrupted["first"] = now
        # A second Ctrl-C quits at once; under torchrun the first one can arrive twice (from the
        # terminal and from torchrun forwarding it), so only a later one counts.
        if interrupted["n"] > 1 and signum == signal.SIGINT and (not ctx.active or now - interrupted["first"] > 2.0):
            raise KeyboardInterrupt
        control.stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    stream = sys.stderr if ctx.main else open(os.devnull, "w")  # noqa: SIM115 (closed below)
    progress = Progress(cfg.steps, stream=stream)
    finished = None
    last_sample = ""
    try:
        for ev in iter_train(cfg, RunDir(run_path), control, resume=bool(args.resume), ctx=ctx):
            if isinstance(ev, StepMetrics):
                progress.update(ev.step, ev.values)
            elif isinstance(ev, SampleGrid):
                last_sample = ev.path
            elif isinstance(ev, HealthWarning):
                progress.message(f"warning (step {ev.step}): {ev.message}\n  try: {ev.advice}" if ev.advice else f"warning: {ev.message}")
                if ev.kind == "nan":
                    control.stop()  # nobody is at a window to resume: end, keeping the last good checkpoint
            elif isinstance(ev, RunStarted):
                verb = "resuming" if ev.resumed else "training"
                progress.message(f"{verb} {ev.run_dir} on {ev.device} from step {ev.step}: {ev.dataset}")
                if ev.skipped:
                    progress.message(f"note: {ev.skipped}")
            elif isinstance(ev, Evaluated):
                from ganstudio.core.evaluate import headline

                progress.message(f"evaluation (step {ev.step}, {ev.seconds:.1f} s): " + headline(ev.values, ev.best, ev.error))
            elif isinstance(ev, CheckpointSaved) and args.verbose:
                progress.message(f"checkpoint: {ev.path}")
            elif isinstance(ev, RunFinished):
                finished = ev
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    progress.message("")
    if stream is not sys.stderr:
        stream.close()
    if finished is None:
        return 1
    if not ctx.main:  # rank 0 speaks for the job
        return EXIT_INTERRUPTED if finished.reason == "stopped" else (1 if finished.reason == "diverged" else 0)
    if finished.reason == "diverged":
        print(f"ganstudio: training diverged at step {finished.step}; last good checkpoint: {finished.checkpoint or 'none'}", file=sys.stderr)
        return 1
    print(f"run: {run_path}")
    if last_sample:
        print(f"samples: {last_sample}")
    print(f"checkpoint: {finished.checkpoint}")
    if finished.reason == "stopped":
        print(f"stopped at step {finished.step}; continue with: ganstudio train --resume {run_path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _parse_class(gen, value: str | None) -> int | None:
    if value is None:
        return None
    if not gen.num_classes:
        raise UsageError("--class needs a conditional model; this one was trained without labels")
    if value in gen.classes:
        return gen.classes.index(value)
    try:
        label = int(value)
    except ValueError:
        raise UsageError(f"--class {value!r}: not a class; classes: {', '.join(gen.classes)}") from None
    if not 0 <= label < gen.num_classes:
        raise UsageError(f"--class {label}: out of range 0..{gen.num_classes - 1} ({', '.join(gen.classes)})")
    return label


def cmd_sample(args) -> int:
    import io

    import numpy as np
    import torch

    from ganstudio.core import latent
    from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes
    from ganstudio.core.inference import load_generator
    from ganstudio.core.sampling import grid_columns, make_grid, scatter_plot

    if args.export_dataset:
        return _export_dataset(args)
    out = Path(args.output)
    suffix = out.suffix.lower()
    allowed = (".gif", ".png") if args.interpolate else (".png",) if args.class_grid else (".png", ".npy")
    if suffix not in allowed:
        kinds = {".png": ".png (a picture)", ".npy": ".npy (raw samples)", ".gif": ".gif (an animation)"}
        raise UsageError(f"-o {out}: the output must end in {' or '.join(kinds[a] for a in allowed)}")
    if not out.parent.exists():
        raise UsageError(f"-o {out}: folder {out.parent} does not exist")
    if args.n < 1 or args.frames < 2 or args.seeds < 1:
        raise UsageError("-n and --seeds must be at least 1, --frames at least 2")
    if not 0 <= args.truncation <= 1:
        raise UsageError("--truncation ψ must be in [0, 1] (1 = off, 0 = the mean sample)")
    gen = load_generator(args.checkpoint)
    label = _parse_class(gen, args.class_)

    if args.interpolate:
        if gen.kind == "points":
            raise UsageError("--interpolate needs an image model")
        a, b = args.interpolate
        keys = [latent.truncate(latent.seed_to_z(s, gen.z_dim), args.truncation) for s in (a, b)]
        z = latent.interpolate(keys, args.frames, "slerp" if args.slerp else "lerp")
        y = None
        if gen.num_classes:
            y = torch.full((args.frames,), 0 if label is None else label, dtype=torch.long)
        frames = latent.render(gen, z, y)
        data = latent.gif_bytes(frames, fps=args.fps) if suffix == ".gif" else png_bytes(latent.strip(frames))
        atomic_write_bytes(out, data)
        print(f"wrote {out} ({args.frames} frames, seed {a} → {b}, {'slerp' if args.slerp else 'lerp'}, step {gen.step})")
        return 0
    if args.class_grid:
        if not gen.num_classes:
            raise UsageError("--class-grid needs a conditional model; this one was trained without labels")
        seeds = list(range(args.seed, args.seed + args.seeds))
        x = latent.class_grid(gen, seeds, psi=args.truncation)
        atomic_write_bytes(out, png_bytes(make_grid(x, ncol=len(seeds))))
        print(f"wrote {out} ({gen.num_classes} classes × {len(seeds)} seeds from {args.seed}, step {gen.step})")
        return 0

    x, _ = gen.sample(args.n, seed=args.seed, label=label, psi=args.truncation)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, x.numpy().astype(np.float32))
        atomic_write_bytes(out, buf.getvalue())
    else:
        if gen.kind == "points":
            image = scatter_plot(x.numpy(), gen.centers, sigma=gen.sigma)
        else:
            image = make_grid(x, ncol=grid_columns(args.n, gen.num_classes) if label is None else 0)
        atomic_write_bytes(out, png_bytes(image))
    what = f"class {gen.classes[label] if gen.classes else label}, " if label is not None else ""
    print(f"wrote {out} ({args.n} samples, {what}seed {args.seed}, step {gen.step})")
    return 0


def _export_dataset(args) -> int:
    from ganstudio.core.synthetic import export_dataset

    if args.interpolate or args.class_grid or args.class_:
        raise UsageError("--export-dataset writes every class; it does not combine with --interpolate, --class-grid or --class")
    if not 0 <= args.truncation <= 1:
        raise UsageError("--truncation ψ must be in [0, 1] (1 = off, 0 = the mean sample)")
    res = export_dataset(args.checkpoint, args.export_dataset, args.n, seed=args.seed, psi=args.truncation,
                         tstr=not args.no_tstr, progress=lambda msg: print(msg, file=sys.stderr))
    sizes = ", ".join(f"{k} {v}" for k, v in res.counts.items())
    print(f"wrote {sum(res.counts.values()):,} images in {len(res.counts)} class folders to {res.path} "
          f"(step {res.step}, seed {args.seed}; {sizes})")
    if res.tstr is not None:
        print(f"TSTR: a classifier trained on these images scores {100 * res.tstr:.1f}% on real held-out images "
              f"(trained on real images: {100 * res.tstr_real:.1f}%)")
    elif res.tstr_note:
        print(res.tstr_note)
    return 0


def cmd_export(args) -> int:
    from ganstudio.core.export import FORMATS, export_model, format_for

    out = Path(args.output)
    fmt = args.format or format_for(out)
    if fmt is None:
        raise UsageError(f"-o {out}: say --format {' or '.join(FORMATS)} (or name the file .onnx or .pt)")
    res = export_model(args.checkpoint, fmt, out, direction=args.direction, overwrite=args.overwrite,
                       progress=lambda msg: print(msg + "…", file=sys.stderr))
    print(res.summary())
    for name, desc in res.inputs.items():
        print(f"  input  {name}: {desc}")
    for name, desc in res.outputs.items():
        print(f"  output {name}: {desc}")
    return 0


def cmd_translate(args) -> int:
    from ganstudio.core.translate import collect_inputs, default_output_dir, translate_files
    from ganstudio.core.inference import load_translator

    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing[:5])}")
    G, size, in_ch, names = load_translator(args.checkpoint, args.direction)
    out_dir = Path(args.output) if args.output else default_output_dir(args.inputs)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir}: is a file, not a folder")
    files = collect_inputs(args.inputs, exclude=out_dir)
    if not files:
        raise UsageError("no image files among the inputs")
    a, b = names if args.direction == "AtoB" else names[::-1]
    progress = Progress(len(files))
    done, failed = 0, []
    for i, r in enumerate(translate_files(files, out_dir, G, size, in_ch, mode="resize" if args.resize else "tile"), 1):
        if r.error:
            failed.append(f"{r.source} ({r.error})")
        else:
            done += 1
        progress.stream.write(f"\rtranslated {i}/{len(files)} {a} → {b}" + ("\n" if not progress.tty else ""))
    progress.message("")
    for f in failed:
        print(f"skipped: {f}", file=sys.stderr)
    if not done:
        print(f"ganstudio: error: nothing could be translated ({len(failed)} files failed)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {done} images to {out_dir}" + (f"; {len(failed)} skipped" if failed else ""))
    return 0


# (label, value key, floor key, format, note) rows of the eval table
_EVAL_ROWS = (
    ("Fréchet distance", "fd", "fd_floor", "{:.3f}", "lower is better"),
    ("KID", "kid", "kid_floor", "{:.5f}", "lower is better; ± {kid_std:.5f}"),
    ("classifier score", "is", "is_real", "{:.2f}", "higher is better (the Inception Score analog)"),
    ("precision", "precision", None, "{:.3f}", "share of samples that look real"),
    ("recall", "recall", None, "{:.3f}", "share of the real data the samples cover"),
    ("density", "density", None, "{:.3f}", "≈ 1 when samples sit where real data is dense"),
    ("coverage", "coverage", None, "{:.3f}", "share of real neighbourhoods with a sample"),
    ("diversity", "diversity", "diversity_real", "{:.3f}", "mean feature distance in a batch; near 0 = collapse"),
    ("TSTR accuracy", "tstr", "tstr_real", "{:.3f}", "classifier trained on samples, tested on real"),
    ("modes covered", "modes", None, "{:.0f}", "of {n_modes:.0f}"),
    ("high quality", "high_quality", None, "{:.3f}", "share within 3σ of a mode"),
    ("reverse KL", "reverse_kl", None, "{:.4f}", "of the mode histogram; 0 = uniform"),
)
_EVAL_METRIC_OF = {"fd": "fd", "kid": "kid", "is": "is", "precision": "pr", "recall": "pr", "density": "pr",
                   "coverage": "pr", "diversity": "diversity", "tstr": "tstr", "modes": "modes",
                   "high_quality": "modes", "reverse_kl": "modes"}


def format_evaluation(ev) -> str:
    """A plain-text table of an Evaluation: metric, value, real-vs-real reference, what it means."""
    v = ev.values
    rows = [("metric", "value", "real vs real", "")]
    for label, key, floor, fmt, note in _EVAL_ROWS:
        if key in v:
            ref = fmt.format(v[floor]) if floor and floor in v else ""
            rows.append((label, fmt.format(v[key]), ref, note.format(**v)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip() for r in rows]
    by_reason: dict[str, list[str]] = {}
    for metric, why in ev.unavailable.items():
        by_reason.setdefault(why, []).append(metric)
    for why, names in by_reason.items():
        lines.append(f"{', '.join(names)}: not computed: {why}")
    return "\n".join(lines)


_TRANSLATION_ROWS = (
    ("L1 to the target", "l1", "lower is better, in [-1, 1] pixel units"),
    ("in the target's class", "class_agreement", "share of outputs the classifier puts in the target's class"),
    ("classifier on the targets", "real_accuracy", "the same classifier on the real targets: the ceiling"),
    ("A → B called B", "a_to_b_share", "share of translated A images the classifier calls B"),
    ("B → A called A", "b_to_a_share", "share of translated B images the classifier calls A"),
    ("A called B before", "a_as_b_before", "untranslated A images called B: the floor"),
    ("cycle L1, A", "cycle_l1_a", "|F(G(a)) − a|, lower is better"),
    ("cycle L1, B", "cycle_l1_b", "|G(F(b)) − b|, lower is better"),
)


def _eval_translation(ckpt: Path, run_dir: Path | None, args) -> int:
    """`ganstudio eval` of a pix2pix/CycleGAN checkpoint: held-out L1, cycle L1 and classifier verdicts."""
    from ganstudio.core.evaluate import Evaluation, record
    from ganstudio.core.translation_eval import evaluate_translation

    t0 = time.perf_counter()
    r = evaluate_translation(ckpt)
    print(f"{ckpt} (step {r['step']}): {r['model']} on {r['dataset']}, {r['n_a']:,} {r['on']} images")
    rows = [(label, f"{r[key]:.4f}", note) for label, key, note in _TRANSLATION_ROWS if key in r]
    w0, w1 = max(len(a) for a, _, _ in rows), max(len(b) for _, b, _ in rows)
    for label, value, note in rows:
        print(f"{label:<{w0}}  {value:>{w1}}  {note}")
    seconds = time.perf_counter() - t0
    print(f"took {seconds:.1f} s")
    if run_dir is not None and not args.no_save:
        values = {k: float(v) for k, v in r.items() if isinstance(v, float)}
        ev = Evaluation(checkpoint=str(ckpt), step=r["step"], n=r["n_a"], values=values,
                        judge=f"{r['on']} images of {r['dataset']}", seconds={"total": seconds})
        print(f"wrote {record(run_dir, ev)}")
    return 0


def cmd_eval(args) -> int:
    import torch

    from ganstudio.core.checkpoint import RunDir
    from ganstudio.core.evaluate import evaluate, load_run_data, parse_metrics, record
    from ganstudio.core.inference import config_from_checkpoint, signature_of

    metrics = parse_metrics(args.metrics)
    if args.threads:
        torch.set_num_threads(args.threads)
    target = Path(args.checkpoint)
    if args.n < 10:
        raise UsageError(f"-n must be at least 10, not {args.n}")
    ckpt = RunDir(target).latest_checkpoint if target.is_dir() else target
    if not ckpt.is_file():
        raise UsageError(f"{target}: no checkpoint here (give a .pt file, or a run folder with checkpoints/latest.pt)")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None
    cfg, state = config_from_checkpoint(ckpt)
    if signature_of(state).kind == "translate":
        return _eval_translation(ckpt, run_dir, args)
    data = load_run_data(cfg, args.dataset)
    t0 = time.perf_counter()
    ev = evaluate(ckpt, metrics, args.n, seed=args.seed, data=data, cache_dir=run_dir,
                  progress=lambda msg: print(msg + "…", file=sys.stderr))
    what = f"{ev.n:,} generated vs {ev.n:,} real" if ev.judge else f"{ev.n:,} samples"
    print(f"{ckpt} (step {ev.step}), {what}" + (f"; features from {ev.judge}" if ev.judge else ""))
    print(format_evaluation(ev))
    print(f"took {time.perf_counter() - t0:.1f} s")
    if run_dir is not None and not args.no_save:
        print(f"wrote {record(run_dir, ev)}")
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganstudio",
        description="GAN Studio: with no command, opens the studio window; the commands below train, sample, translate, evaluate and export headless.",
    )
    p.add_argument("--version", action="version", version=f"ganstudio {ganstudio.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    pr = sub.add_parser("presets", help="list the training presets, or print one as an editable TOML config")
    pr.add_argument("name", nargs="?", help="print this preset's full config (save it, edit it, pass it to --config)")
    pr.set_defaults(func=cmd_presets)
    sub.add_parser("datasets", help="list the built-in datasets").set_defaults(func=cmd_datasets)
    st = sub.add_parser("studio", help="open the studio window (the default with no command)")
    st.add_argument("path", nargs="?", help="a run directory to open, or a dataset folder/file to select")

    t = sub.add_parser("train", help="train a GAN headless, writing a run directory",
                       description="Train a GAN. Writes RUN/config.toml, metrics.jsonl, samples/step_N.png and "
                                   "checkpoints/latest.pt. Ctrl-C saves a checkpoint and exits 130.")
    t.add_argument("--preset", help="start from a preset (see `ganstudio presets`; default dcgan-mnist)")
    t.add_argument("--config", help="a TOML config file (applied over the preset)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config field, e.g. --set lr_d=1e-4 (repeatable)")
    t.add_argument("--dataset", help="built-in name or a path (image folder, IDX file, .npz)")
    t.add_argument("--steps", type=int, help="total number of G updates (a resumed run continues up to it)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--run-dir", help="where to write the run (default runs/PRESET-DATE-TIME)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"))
    t.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    t.add_argument("--log-every", type=int)
    t.add_argument("--sample-every", type=int)
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("-v", "--verbose", action="store_true", help="also report each checkpoint written")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG grid or a .npy file")
    s.add_argument("checkpoint", help="a checkpoint file or a run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("-o", "--output", default="grid.png", help="output .png grid (scatter plot for 2-D models) or .npy raw samples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--class", dest="class_", metavar="K", help="class index or name (conditional models)")
    s.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="pull latents toward the mean: 1 = off, 0.7 = cleaner but less varied, 0 = the mean sample")
    s.add_argument("--interpolate", nargs=2, type=int, metavar=("SEED_A", "SEED_B"),
                   help="a walk between two seeds' latents: -o walk.gif (animation) or walk.png (strip)")
    s.add_argument("--slerp", action="store_true", help="spherical interpolation (keeps latent norms; default lerp)")
    s.add_argument("--frames", type=int, default=60, help="frames of the walk (default 60)")
    s.add_argument("--fps", type=int, default=24, help="GIF frame rate (default 24)")
    s.add_argument("--class-grid", action="store_true", help="rows classes × columns seeds (conditional models)")
    s.add_argument("--seeds", type=int, default=8, help="columns of the class grid: seeds --seed … --seed+N-1 (default 8)")
    s.add_argument("--export-dataset", metavar="DIR",
                   help="write -n labelled images (classes balanced) as DIR/<class>/*.png, with labels.csv and "
                        "dataset.json; conditional models; DIR must be new or empty")
    s.add_argument("--no-tstr", action="store_true",
                   help="with --export-dataset: skip the TSTR score (a classifier trained on the exported images)")
    s.set_defaults(func=cmd_sample)
    xp = sub.add_parser("export", help="export a generator to ONNX or TorchScript, checked against the checkpoint",
                        description="Export the generator (or a translation generator) of a checkpoint with a dynamic "
                                    "batch axis. The exported file is run by onnxruntime / the TorchScript interpreter "
                                    "and compared with the checkpoint (max difference ≤ 1e-4) before it is kept.")
    xp.add_argument("checkpoint", help="a checkpoint file or a run directory")
    xp.add_argument("--format", choices=("onnx", "torchscript"), help="default: from the file name (.onnx or .pt)")
    xp.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write (never overwritten unless --overwrite)")
    xp.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="which CycleGAN generator (default AtoB)")
    xp.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    xp.set_defaults(func=cmd_export)
    tr = sub.add_parser("translate", help="translate image files with a trained pix2pix or CycleGAN model",
                        description="Translate images (files or folders, recursively) with a pix2pix/CycleGAN checkpoint. "
                                    "Outputs keep each input's size; existing files are never overwritten.")
    tr.add_argument("checkpoint", help="a translation checkpoint file or its run directory")
    tr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and folders")
    tr.add_argument("-o", "--output", help="output folder (default: translated/ next to the first input)")
    tr.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="CycleGAN models translate both ways")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--tile", action="store_true", help="large images tile by tile with blended overlaps (default)")
    mode.add_argument("--resize", action="store_true", help="resize to the model's size and back instead (faster, softer)")
    tr.set_defaults(func=cmd_translate)

    ev = sub.add_parser("eval", help="score a generator: Fréchet distance, KID, precision/recall, TSTR, modes",
                        description="Evaluate a checkpoint against its real data with domain-classifier features; "
                                    "prints a table and adds it to RUN/eval.json.")
    ev.add_argument("checkpoint", help="a run directory or a checkpoint file")
    ev.add_argument("--metrics", default="fd,kid,is,pr,diversity,modes",
                    help="comma-separated: fd, kid, is, pr, tstr, modes, diversity, or all (tstr trains a "
                         "classifier, a few minutes on a CPU); metrics that do not apply say why")
    ev.add_argument("-n", type=int, default=2000, help="generated samples (and real ones) to compare (default 2000)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--dataset", help="real data to compare with (default: the run's own dataset)")
    ev.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: all cores)")
    ev.add_argument("--no-save", action="store_true", help="do not add the result to RUN/eval.json")
    ev.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or args.command == "studio":
        from ganstudio.ui.app import run_studio  # Qt is imported only here

        return run_studio(open_path=getattr(args, "path", None))
    try:
        return args.func(args)
    except UserError as e:
        from ganstudio.core.distributed import from_env

        if from_env().main:  # under torchrun, rank 0 speaks for the job
            print(f"ganstudio: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

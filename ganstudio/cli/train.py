"""`ganstudio train`: a preset or config plus --set overrides, headless, resumable, under torchrun too."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ganstudio.cli.common import EXIT_INTERRUPTED, UsageError
from ganstudio.cli.progress import Progress


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _build_train_config(args):
    from dataclasses import replace

    from ganstudio.core.config import PRESETS, apply_overrides, default_preset, load_toml, validate
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
    preset = PRESETS.get(args.preset or default_preset(overrides.get("dataset"), str(overrides.get("device", "auto"))))
    cfg = preset.config()
    if args.config:
        cfg = load_toml(args.config, base=cfg)
    cfg = apply_overrides(cfg, overrides)
    if not args.config:
        cfg = preset.refit(cfg, set(overrides))
    if cfg.dataset not in BUILTIN_DATASETS and Path(cfg.dataset).exists():
        # stored absolute: the run can be resumed from any folder, and by the studio
        cfg = replace(cfg, dataset=str(Path(cfg.dataset).resolve()))
    return validate(cfg), preset.name if not args.config else Path(args.config).stem


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
    control = Control(pause_on_divergence=False)  # nobody is at a window to resume: a NaN ends the run
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
    pace: list[tuple[int, float]] = []
    try:
        for ev in iter_train(cfg, RunDir(run_path), control, resume=bool(args.resume), ctx=ctx):
            if isinstance(ev, StepMetrics):
                progress.update(ev.step, ev.values)
                pace.append((ev.step, time.perf_counter()))
                if len(pace) == 2 and pace[1][0] > pace[0][0]:  # the first record holds start-up; time the second
                    per100 = 100 * (pace[1][1] - pace[0][1]) / (pace[1][0] - pace[0][0])
                    left = per100 * (cfg.steps - ev.step) / 100
                    progress.message(f"about {per100:.0f} s per 100 steps here; {cfg.steps - ev.step:,} steps to go ≈ {_duration(left)}")
            elif isinstance(ev, SampleGrid):
                last_sample = ev.path
            elif isinstance(ev, HealthWarning):
                progress.message(f"warning (step {ev.step}): {ev.message}\n  try: {ev.advice}" if ev.advice else f"warning: {ev.message}")
            elif isinstance(ev, RunStarted):
                verb = "resuming" if ev.resumed else "training"
                on = f"{ev.device}, {ev.threads}" if ev.threads else ev.device
                progress.message(f"{verb} {ev.run_dir} on {on} from step {ev.step}: {ev.dataset}")
                if ev.skipped:
                    progress.message(f"note: {ev.skipped}")
            elif isinstance(ev, Evaluated):
                from ganstudio.core.evaluate import headline

                progress.message(f"evaluation (step {ev.step}, {ev.seconds:.1f} s): " + headline(ev.values, cfg.family, ev.best, ev.error))
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
        again = (f"; continue from it with lower learning rates: ganstudio train --resume {run_path} --set lr_g=... --set lr_d=..."
                 if finished.checkpoint else "")
        print(f"ganstudio: training diverged at step {finished.step}; last good checkpoint: {finished.checkpoint or 'none'}{again}",
              file=sys.stderr)
        return 1
    print(f"run: {run_path}")
    if last_sample:
        print(f"samples: {last_sample}")
    print(f"checkpoint: {finished.checkpoint}")
    if finished.reason == "stopped":
        print(f"stopped at step {finished.step}; continue with: ganstudio train --resume {run_path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0

"""The one training loop: `iter_train` yields plain events; the CLI prints them, the studio draws them."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ganstudio.core import distributed, health
from ganstudio.core.checkpoint import RunDir
from ganstudio.core.config import TrainConfig, apply_overrides, resume_fields, to_toml, validate
from ganstudio.core.data import Dataset
from ganstudio.core.errors import CheckpointError, ConfigError, RunDirError, os_error_line
from ganstudio.core.events import (
    CheckpointSaved,
    Control,
    Evaluated,
    Event,
    HealthWarning,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    SampleGrid,
    SettingsChanged,
    StepMetrics,
    Stopping,
)
from ganstudio.core.families import FAMILIES
from ganstudio.core.inference import config_from_checkpoint, read_checkpoint  # noqa: F401  (re-exported)
from ganstudio.core.loop import Session, StepAborted

def usable_cores() -> list[int]:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return sorted(os.sched_getaffinity(0)) or [0]
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _cpu_times(cores: list[int]) -> dict[int, tuple[int, int]]:
    out = {}
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                ticks = [int(x) for x in fields[:8]]
                out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))  # (idle + iowait, all)
    return out


def busy_cores(cores: list[int], window: float = 0.1) -> float:
    """How many of `cores` other work keeps busy, from their idle time over `window` seconds (0 where
    the system does not say). This process's own use in that time (the studio drawing its window) is
    taken out: only other programs' work counts."""
    try:
        before, mine = _cpu_times(cores), time.process_time()
        t0 = time.perf_counter()
        time.sleep(window)
        after, mine = _cpu_times(cores), time.process_time() - mine
        elapsed = time.perf_counter() - t0
    except (OSError, ValueError, IndexError):
        return 0.0
    busy = 0.0
    for c, (idle, total) in after.items():
        if c in before and total > before[c][1]:
            busy += 1.0 - (idle - before[c][0]) / (total - before[c][1])
    return max(0.0, busy - mine / max(elapsed, 1e-6))


def auto_threads(data: Dataset) -> tuple[int, str]:
    """(threads, why) for threads=0: one for 2-D point models, else the cores not busy with other work.

    A point model's ops are microseconds long: splitting them across threads costs more in
    synchronisation than it gains. For images, a thread per core is fastest on an idle machine, but
    with another job on one of two cores, two threads ran 2-5x slower than one (each step waits for
    the thread that shares a core), so cores other work is using are left to it.
    """
    if getattr(data, "kind", "image") == "points":
        return 1, threads_text(1, "2-D points: small ops gain nothing from more")
    allowed = usable_cores()
    cores = len(allowed)
    busy = min(cores - 1, int(round(busy_cores(allowed)))) if cores > 1 else 0
    n = max(1, cores - busy)
    if cores == 1:
        return 1, threads_text(1, "1 core")
    return n, threads_text(n, f"all {cores} cores free" if busy <= 0 else f"{busy} of {cores} cores busy with other work")


def threads_text(n: int, why: str) -> str:
    """"2 threads (all 2 cores free)": the thread count training uses and why, as the CLI and status bar say it."""
    return f"{n} thread{'s' if n != 1 else ''} ({why})"


def sample_due(step: int, every: int) -> bool:
    """The fixed-noise grid is drawn every `every` steps, and before the first of those at steps
    1, 2, 5, 10, 20, 50, ...: a run's first grids change the most, and someone who has just pressed
    Train sees it learn within seconds instead of staring at noise until step `every`.
    (Drawing the grid uses no random numbers, so this changes nothing in the training itself.)"""
    if step % every == 0:
        return True
    if step >= every or step < 1:
        return False
    while step % 10 == 0:
        step //= 10
    return step in (1, 2, 5)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but no CUDA GPU is available (use --device cpu or auto)")
    return torch.device(name)


def check_resume_changes(saved: TrainConfig, cfg: TrainConfig) -> None:
    """Refuse changes a resume cannot make (family, model, data, optimiser shape) with the fields named."""
    if saved.family != cfg.family:
        raise ConfigError(f"cannot change family ({saved.family} → {cfg.family}) when resuming; start a new run instead")
    ok = resume_fields(cfg.family)
    before, after = saved.to_dict(), cfg.to_dict()
    diff = [k for k in before if before[k] != after[k] and k not in ok]
    if diff:
        raise ConfigError(f"cannot change {', '.join(diff)} when resuming (they shape the model or data); start a new run instead")


def resume_config(run_dir: str | Path, overrides: dict) -> TrainConfig:
    """The config a resume of `run_dir` trains with: the saved one, with `overrides` applied and checked."""
    run = RunDir(run_dir)
    if not run.latest_checkpoint.is_file():
        raise CheckpointError(f"{run.path}: no checkpoint to resume from (expected checkpoints/latest.pt)")
    saved, _ = config_from_checkpoint(run.latest_checkpoint)
    cfg = apply_overrides(saved, overrides)
    check_resume_changes(saved, cfg)
    return validate(cfg)


def iter_train(
    cfg: TrainConfig,
    run_dir: str | Path | RunDir,
    control: Control | None = None,
    *,
    resume: bool = False,
    data: Dataset | None = None,
    ctx=None,
) -> Iterator[Event]:
    """Train, yielding events; `resume=True` continues the run in `run_dir` from checkpoints/latest.pt.

    When resuming, `cfg` is the run's config with any RESUME_CHANGEABLE fields
    changed by the caller; other differences raise ConfigError.  Stop, pause,
    single steps and live settings come through `control` between steps.

    `ctx` (distributed.from_env() under torchrun) makes this one rank of a distributed job:
    every rank trains, only rank 0 reads and writes the run directory, and a stop on any rank
    (Ctrl-C, SIGTERM) ends all of them after the same step.
    """
    ctx = ctx or distributed.SINGLE
    control = control or Control()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if not ctx.active:
        yield from _prepare_and_run(cfg, run, control, resume, data, ctx, None)
        return
    owner = not distributed.initialized()  # a caller that joined the group itself also leaves it
    device = distributed.setup(ctx, cfg.device)
    finished = False
    try:
        yield from _prepare_and_run(cfg, run, control, resume, data, ctx, device)
        finished = True
    finally:
        if owner:
            distributed.shutdown(together=finished)


def _prepare_and_run(cfg, run: RunDir, control: Control, resume: bool, data, ctx, device) -> Iterator[Event]:
    # Setup errors are agreed: a rank that fails alone would leave the others waiting in a collective.
    state = None
    trainer = None
    error = None
    try:
        cfg = validate(cfg)
        if ctx.main:
            if resume:
                run.open_existing()
                saved_cfg, state = config_from_checkpoint(run.latest_checkpoint)
                check_resume_changes(saved_cfg, cfg)
            else:
                run.ensure_new()
        device = device or resolve_device(cfg.device)
        family = FAMILIES.get(cfg.family)
        data = family.fit_data(cfg, data) if data is not None else family.load_data(cfg, seed=cfg.seed)
        threads = (cfg.threads, threads_text(cfg.threads, f"threads = {cfg.threads}")) if cfg.threads else auto_threads(data)
        torch.set_num_threads(threads[0])
        trainer = Session(cfg, data, device, ctx)
        if not resume:
            trainer.start()  # every rank: the same weights from the same file
        if ctx.main:
            if resume:
                try:  # a checkpoint that does not fit this model is refused here, before anything is written
                    trainer.load_state_dict(state)
                except CheckpointError as e:
                    raise CheckpointError(f"{run.latest_checkpoint}: {e}") from None
            else:
                run.create()  # only now: bad data or a bad model spec leaves nothing behind
            run.lock()  # one writer per run: a second trainer of the same run is refused (writes nothing)
            run.claim()  # the first write of a resume: a refused one leaves the run as it was
    except Exception as e:
        if not ctx.active:
            run.close()  # a lock taken before the failure is released
            raise
        user_error = isinstance(e, (ConfigError, CheckpointError, OSError, ValueError))
        error = e
    if ctx.active:
        # (rank, message, a user's mistake?) of the first rank that failed, seen by all
        shared = distributed.first_error(ctx, None if error is None else
                                         (ctx.rank, str(error), user_error))
        if shared:
            if ctx.main and trainer is not None:
                run.close()
            rank, message, user = shared
            if rank == ctx.rank and not user:
                raise error
            raise ConfigError(message if rank == 0 else f"rank {rank}: {message}")
        trainer.distribute()  # collectives start here, with every rank known to be ready
        state = distributed.broadcast(ctx, state if resume else None)
    if ctx.main and not ctx.active:
        state = None  # loaded above
    loop = _run_loop(cfg, run, control, trainer, data, device, state, resume, threads[1])
    kept = str(run.latest_checkpoint) if resume else ""
    try:
        for ev in loop:
            if isinstance(ev, CheckpointSaved):
                kept = ev.path
            if ctx.main and isinstance(ev, HealthWarning) and ev.kind != "settings":
                # also on disk: the studio following this run from elsewhere shows the same warnings
                try:
                    run.append_health({"step": ev.step, "kind": ev.kind, "message": ev.message, "advice": ev.advice})
                except OSError:
                    pass  # a full disk must not end training over a warning; the event still goes out
            yield ev
    except OSError as e:  # a full disk or a folder gone read-only mid-run: every file written before is intact
        where = f"the last checkpoint written ({kept}) is kept" if kept else "no checkpoint was written"
        raise RunDirError(f"training stopped at step {trainer.step}: {os_error_line(e)}; {where}") from None
    finally:
        loop.close()  # a consumer that stops early: the loop saves what was trained
        if ctx.main:
            run.close()


def _run_loop(cfg, run: RunDir, control: Control, trainer: Session, data: Dataset, device, state, resume: bool,
              threads: str = "") -> Iterator[Event]:
    any_rank = distributed.any_rank
    ctx = trainer.ctx
    main = ctx.main  # only rank 0 writes: config, metrics, samples, checkpoints, evaluations
    if state is not None:  # the other ranks of a distributed resume (rank 0 loaded it while checking)
        trainer.load_state_dict(state)
        state = None
    if resume and main:
        run.truncate_metrics_after(trainer.step)
    if main:
        run.write_config(to_toml(cfg))
    monitor = health.HealthMonitor(cfg, trainer.family.d_output, trainer.real_ref)

    yield RunStarted(
        step=trainer.step, run_dir=str(run.path), total_steps=cfg.steps, device=str(device), config=cfg.to_dict(),
        dataset=data.fit_summary(), skipped=data.skipped_report(), resumed=resume,
        centers=None if getattr(data, "centers", None) is None else np.asarray(data.centers, np.float64),
        threads=threads if device.type == "cpu" else "",
    )

    last_ckpt = str(run.latest_checkpoint) if main and run.latest_checkpoint.exists() else ""
    saved_step = trainer.step if last_ckpt else -1

    broken: list[str] = []  # tensors a refused save found non-finite: the loop treats it as a divergence

    def save(periodic: bool) -> Iterator[Event]:
        nonlocal last_ckpt, saved_step
        # Both checks are agreed by every rank (collectives in step): never let a diverged state replace the last good checkpoint.
        if any_rank(ctx, not trainer.healthy()):
            if main:
                yield HealthWarning(step=trainer.step, kind="settings", advice="",
                                    message=f"checkpoint not written: training has diverged; {last_ckpt or 'no checkpoint'} is kept")
            return
        state = trainer.state_dict() if main else None  # only rank 0 writes; the others check their live state
        bad = trainer.nonfinite_state(state)
        if any_rank(ctx, bool(bad)) and not bad:
            bad = ["another rank's state"]
        if bad:
            broken[:] = bad
            return
        if not main:
            last_ckpt, saved_step = str(run.latest_checkpoint), trainer.step
            return
        path = run.save_checkpoint(trainer.step, state, periodic)
        last_ckpt, saved_step = str(path), trainer.step
        yield CheckpointSaved(step=trainer.step, path=str(run.checkpoint_path(trainer.step) if periodic else path))

    def diverge(step: int, cause: str) -> Iterator[Event]:
        """Report a divergence, then wait for the user where one can answer: returns "rollback" (the
        last good checkpoint is loaded, new settings kept) or "end"."""
        trainer.diverged = True
        wait = control.pause_on_divergence and not ctx.active and bool(last_ckpt)
        yield health.nan_warning(step, last_ckpt, cause, paused=wait)
        if not wait:
            return "end"
        control.pause()
        yield Paused(step=step, reason="diverged")
        action = control.wait_while_paused()
        while action == "save":  # the last good checkpoint is already on disk
            control.take_save_request()
            action = control.wait_while_paused()
        if action == "stop":
            return "end"
        good = read_checkpoint(last_ckpt)
        new_cfg = trainer.cfg
        trainer.load_state_dict(good)
        trainer.cfg = new_cfg
        run.truncate_metrics_after(trainer.step)
        yield Resumed(step=trainer.step)
        return "rollback"

    def sample() -> Iterator[Event]:
        if not main:
            return
        preview = trainer.preview()
        path = run.save_sample(trainer.step, preview.image)
        yield SampleGrid(step=trainer.step, image=preview.image, path=str(path), points=preview.points)
        warning = monitor.check_samples(trainer.step, preview.samples)
        if warning:
            yield warning

    evaluator = None  # a child process scoring step checkpoints (eval_every); created on first use

    def evaluate_step(step: int) -> None:
        nonlocal evaluator
        path = run.checkpoint_path(step)
        if not path.is_file():  # not written (a diverged state is never saved)
            return
        if evaluator is None:
            from ganstudio.core.evaluate import BackgroundEvaluator, best_score

            evaluator = BackgroundEvaluator(run.path, keep_best=trainer.cfg.keep_best, best=best_score(trainer.cfg.family))
        evaluator.keep_best = trainer.cfg.keep_best
        evaluator.submit(step, path)

    def evaluations(results: list[dict]) -> Iterator[Event]:
        for r in results:
            yield Evaluated(step=r["step"], checkpoint=r["checkpoint"], values=r["values"], seconds=r["seconds"],
                            best=r["best"], error=r["error"])
            warning = monitor.check_evaluation(r["step"], r["values"] or {})
            if warning:
                yield warning

    if trainer.step == 0:
        yield from sample()
        # A checkpoint from the start: a run that diverges early can still roll back.
        yield from save(periodic=False)

    reason = "completed"
    t_log = time.perf_counter()
    try:
        while trainer.step < trainer.cfg.steps:
            if broken:  # the last save found NaN or inf in the weights or optimiser state
                cause, broken[:] = health.nonfinite_cause(broken), []
                if (yield from diverge(trainer.step, cause)) == "end":
                    reason = "diverged"
                    break
                t_log = time.perf_counter()
            if any_rank(ctx, control.stop_requested):  # one tiny all-reduce a step in a distributed job
                reason = "stopped"
                break
            if control.take_save_request():
                yield from save(periodic=True)
            if control.paused:
                paused_at = time.perf_counter()
                yield Paused(step=trainer.step)
                action = control.wait_while_paused()
                t_log += time.perf_counter() - paused_at  # rates count training time, not time spent paused
                if action == "stop":
                    reason = "stopped"
                    break
                if action == "save":
                    continue  # saved at the top of the loop, then paused again
                if not control.paused:
                    yield Resumed(step=trainer.step)
            changes = control.take_changes()
            if changes:
                try:
                    trainer.apply_changes(changes)
                    run.write_config(to_toml(trainer.cfg))
                    yield SettingsChanged(step=trainer.step, changes=changes)
                except (ConfigError, TypeError) as e:
                    yield HealthWarning(step=trainer.step, kind="settings", message=f"setting change refused: {e}", advice="")

            cfg = trainer.cfg
            log = (trainer.step + 1) % cfg.log_every == 0 or trainer.step + 1 == cfg.steps
            try:
                # Mid-step aborts are for one process; ranks stop together, between steps.
                grads = trainer.train_step(log, abort=None if ctx.active else (lambda: control.stop_requested))
            except StepAborted:
                reason = "stopped"
                break
            step = trainer.step

            if log:
                if any_rank(ctx, not trainer.metrics_finite()):
                    yield StepMetrics(step=step, values=trainer.take_metrics(time.perf_counter() - t_log))
                    if (yield from diverge(step, "a loss became NaN or infinite")) == "end":
                        reason = "diverged"
                        break
                    t_log = time.perf_counter()
                    continue
                now = time.perf_counter()
                values = trainer.take_metrics(now - t_log)
                t_log = now
                values.update(grads)
                if main:
                    run.append_metrics({"step": step, **values})
                yield StepMetrics(step=step, values=values)
                for w in monitor.check_metrics(step, values):
                    yield w
            if sample_due(step, cfg.sample_every) or step == cfg.steps:
                yield from sample()
            evaluate_now = cfg.eval_every > 0 and step % cfg.eval_every == 0
            if step % cfg.checkpoint_every == 0 or evaluate_now:
                yield from save(periodic=True)  # a refused save (non-finite state) is handled at the loop's top
            if evaluate_now and main:
                evaluate_step(step)
            if evaluator is not None:
                yield from evaluations(evaluator.poll())
    except GeneratorExit:
        # The consumer closed us (window closed, Ctrl-C): keep what was trained, if sound.
        if evaluator is not None:
            evaluator.close()
        state = trainer.state_dict() if main and trainer.healthy() and trainer.step > saved_step else None
        if state is not None and not trainer.nonfinite_state(state):
            try:
                run.save_checkpoint(trainer.step, state, periodic=False)
            except OSError:
                pass  # closing on a full disk: latest.pt is still the last one written whole
        raise
    if reason == "stopped":
        yield Stopping(step=trainer.step)  # training has stopped; the checkpoint is written next
    if reason != "diverged" and saved_step != trainer.step:
        yield from save(periodic=False)
    if broken:
        yield health.nan_warning(trainer.step, last_ckpt, health.nonfinite_cause(broken), paused=False)
        reason = "diverged"
    if evaluator is not None:
        if reason == "completed":  # the last evaluation decides best.pt: let it finish
            yield from evaluations(evaluator.wait(timeout=600))
        evaluator.close()
    yield RunFinished(step=trainer.step, reason=reason, checkpoint=last_ckpt)

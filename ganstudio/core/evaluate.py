"""`ganstudio eval` and evaluation during training, for any family: the family's `evaluate` computes
the scores (ganstudio.core.scoring for generators, translation_eval for translators); this module
loads the checkpoint and what it needs, records results in RUN/eval.json, keeps the best checkpoint
and runs evaluations in a background process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ganstudio.core.checkpoint import atomic_write_text
from ganstudio.core.config import apply_overrides
from ganstudio.core.errors import UserError
from ganstudio.core.evaluation import TSTR_SAMPLES, EvalError, EvalRequest, Evaluation, Score
from ganstudio.core.families import FAMILIES, Family
from ganstudio.core.inference import config_from_checkpoint, load_generator, load_translator, signature_of


def parse_metrics(text: str | None, family: type[Family]) -> tuple[str, ...]:
    """'fd,kid' → ('fd', 'kid'); 'all' → every metric of the family; None or '' → its defaults.
    A name the family does not have raises EvalError listing the ones it has."""
    names = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    if names == ["all"]:
        return tuple(family.metrics)
    return check_metrics(names, family)


def check_metrics(names, family: type[Family]) -> tuple[str, ...]:
    """`names` without repeats, or the family's defaults when empty; EvalError for a name the family lacks."""
    names = tuple(dict.fromkeys(names))
    if not names:
        return family.default_metrics
    bad = [n for n in names if n not in family.metrics]
    if bad:
        raise EvalError(f"unknown metric {', '.join(bad)} for a {family.name} model; "
                        f"choose from {', '.join(family.metrics)} or all")
    return names


def load_run_data(cfg, dataset: str | None = None):
    """The real data a run was trained on (or `dataset` instead), as its family trains on it."""
    family = FAMILIES.get(cfg.family)
    try:
        return family.load_data(apply_overrides(cfg, {"dataset": dataset}) if dataset else cfg, seed=cfg.seed)
    except UserError as e:
        where = f"dataset {dataset}" if dataset else "the run's dataset"
        raise EvalError(f"{where} cannot be read here ({e}); pass another with --dataset") from None


def evaluate(checkpoint: str | Path, metrics: str | tuple[str, ...] | None = None, n: int = 2000, *, seed: int = 0,
             dataset: str | None = None, data=None, cache_dir: Path | None = None, tstr_samples: int = TSTR_SAMPLES,
             progress: Callable[[str], None] | None = None) -> Evaluation:
    """Score a checkpoint with `metrics` (its family's names, or text as `--metrics` takes it; None: the
    family's defaults) on n samples.

    The data is read only if a metric needs it: `data` as given, else `dataset`, else the run's own.
    """
    if n < 10:
        raise EvalError(f"-n must be at least 10 samples, not {n}")
    checkpoint = str(checkpoint)
    cfg, state = config_from_checkpoint(checkpoint)
    family = FAMILIES.get(cfg.family)
    wanted = parse_metrics(metrics, family) if isinstance(metrics, str) else check_metrics(metrics or (), family)
    loaded: list = [data] if data is not None else []

    def real_data():
        if not loaded:
            loaded.append(load_run_data(cfg, dataset))
        return loaded[0]

    req = EvalRequest(
        checkpoint=checkpoint, step=int(state.get("step", 0)), cfg=cfg, meta=state.get("meta") or {},
        signature=signature_of(state), metrics=wanted, n=n, seed=seed, cache_dir=cache_dir,
        say=progress or (lambda _msg: None), data=real_data,
        generator=lambda: load_generator(checkpoint, state=state),
        translator=lambda entry: load_translator(checkpoint, entry, state=state)[0],
        tstr_samples=tstr_samples)
    ev = family.evaluate(req)
    ev.family = family.name
    return ev


def headline(values: dict, family: str | None, best: bool = False, error: str = "") -> str:
    """One line of an evaluation's headline scores (those the family gives a short label)."""
    if error:
        return f"failed: {error}"
    parts = []
    for s in FAMILIES.get(family).scores if family in FAMILIES else ():
        if s.short and s.key in values:
            text = f"{s.short} {s.fmt.format(values[s.key])}"
            if s.reference in values:
                text += f" (reference {s.fmt.format(values[s.reference])})"
            parts.append(text)
    return ", ".join(parts) + ("  [best so far: checkpoints/best.pt]" if best else "")


def best_score(family: str) -> Score | None:
    """The score keep_best ranks checkpoints by, or None when the family names none."""
    cls = FAMILIES.get(family)
    return next((s for s in cls.scores if s.key == cls.best_by), None)


# ---------------------------------------------------------------------------------------------
# RUN/eval.json


def record(run_dir: str | Path, ev: Evaluation) -> Path:
    """Add an evaluation to RUN/eval.json (newest last), replacing one of the same step and sample count."""
    path = Path(run_dir) / "eval.json"
    history = read_history(run_dir)
    history = [h for h in history if not (h.get("step") == ev.step and h.get("n") == ev.n)]
    history.append(ev.to_dict())
    history.sort(key=lambda h: h.get("step", 0))
    atomic_write_text(path, json.dumps({"evaluations": history}, indent=1) + "\n")
    return path


def read_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "eval.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [h for h in data.get("evaluations", []) if isinstance(h, dict)]
    except (OSError, ValueError, AttributeError):
        return []


# ---------------------------------------------------------------------------------------------
# Periodic evaluation during training


PERIODIC_SAMPLES = 1000


def best_value(history: list[dict], n: int, score: Score) -> float:
    """The best value of `score` recorded with sample count n (the worst possible when none)."""
    vals = [h["values"][score.key] for h in history if h.get("n") == n and score.key in h.get("values", {})]
    if score.lower_is_better:
        return min(vals, default=float("inf"))
    return max(vals, default=float("-inf"))


def keep_if_best(run_dir: str | Path, checkpoint: str | Path, value: float, n: int, history: list[dict],
                 score: Score) -> bool:
    """Make checkpoint RUN/checkpoints/best.pt if its `score` beats every other recorded at the same n."""
    others = [h for h in history if Path(h.get("checkpoint", "")) != Path(checkpoint)]
    best = best_value(others, n, score)
    if not (value < best if score.lower_is_better else value > best):
        return False
    target = Path(run_dir) / "checkpoints" / "best.pt"
    tmp = target.with_name(f".best.pt.{os.getpid()}.tmp")
    try:  # a hard link shares the step checkpoint's bytes; a copy where links are not possible
        os.link(checkpoint, tmp)
    except OSError:
        shutil.copyfile(checkpoint, tmp)
    os.replace(tmp, target)
    return True


class BackgroundEvaluator:
    """Evaluates checkpoints in a child process (`ganstudio eval`, one CPU thread), one at a time, never blocking.

    submit() queues a checkpoint (a newer one replaces a queued, not yet started one);
    poll() returns finished results as dicts {step, checkpoint, values, seconds, best, error}.
    The child adds its result to RUN/eval.json, so a studio following the run sees it too.
    """

    def __init__(self, run_dir: str | Path, metrics: tuple[str, ...] = (), n: int = PERIODIC_SAMPLES,
                 keep_best: bool = False, best: Score | None = None, threads: int = 1):
        """`metrics` () = the family's defaults; `best` is the score keep_best ranks by."""
        self.run_dir = Path(run_dir)
        self.metrics, self.n, self.keep_best, self.best, self.threads = metrics, n, keep_best, best, threads
        self._proc: subprocess.Popen | None = None
        self._current: tuple[int, str] | None = None
        self._queued: tuple[int, str] | None = None
        self._started = 0.0

    @property
    def busy(self) -> bool:
        return self._proc is not None or self._queued is not None

    def submit(self, step: int, checkpoint: str | Path) -> None:
        self._queued = (step, str(checkpoint))
        self._start_next()

    def _start_next(self) -> None:
        if self._proc is not None or self._queued is None:
            return
        self._current, self._queued = self._queued, None
        cmd = [sys.executable, "-m", "ganstudio", "eval", self._current[1], "-n", str(self.n), "--threads", str(self.threads)]
        if self.metrics:
            cmd += ["--metrics", ",".join(self.metrics)]
        self._started = time.perf_counter()
        # Its own session: a Ctrl-C at the terminal is the training's to handle, which then closes this.
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      start_new_session=True)

    def poll(self) -> list[dict]:
        out = []
        if self._proc is not None and self._proc.poll() is not None:
            out.append(self._finish())
        self._start_next()
        return out

    def wait(self, timeout: float | None = None) -> list[dict]:
        """Let the running and queued evaluations finish (used when training ends)."""
        out = []
        deadline = None if timeout is None else time.perf_counter() + timeout
        while self._proc is not None:
            left = None if deadline is None else max(0.0, deadline - time.perf_counter())
            try:
                self._proc.wait(left)
            except subprocess.TimeoutExpired:
                self.close()
                break
            out += self.poll()
        return out

    def _finish(self) -> dict:
        proc, (step, ckpt) = self._proc, self._current
        self._proc = self._current = None
        seconds = time.perf_counter() - self._started
        err = proc.stderr.read() if proc.stderr else ""
        result = {"step": step, "checkpoint": ckpt, "values": {}, "seconds": seconds, "best": False, "error": ""}
        if proc.returncode != 0:
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            result["error"] = (lines[-1] if lines else f"evaluation exited with code {proc.returncode}")[:300]
            return result
        history = read_history(self.run_dir)
        # step -1: "whatever step the checkpoint holds" (Evaluate now on latest.pt)
        mine = [h for h in history if Path(h.get("checkpoint", "")) == Path(ckpt) and step in (-1, h.get("step"))]
        entry = mine[-1] if mine else None
        if entry is None:
            result["error"] = "evaluation finished without a result in eval.json"
            return result
        result["values"] = dict(entry.get("values", {}))
        result["step"] = entry.get("step", step)
        best = self.best
        if self.keep_best and best is not None and best.key in result["values"] and Path(ckpt).is_file():
            result["best"] = keep_if_best(self.run_dir, ckpt, result["values"][best.key], entry["n"], history, best)
        return result

    def close(self) -> None:
        """Stop a running evaluation (the run is going away); nothing half-written is left (eval.json is atomic)."""
        self._queued = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = self._current = None


class NearestIndex:
    """The training images of a generator's run, in its judge's features, for "is it copying?" lookups.

    Built once (the data read, the judge loaded or trained, every training image's features); then
    `lookup(images, k)` answers in milliseconds. Explore shows the current image's nearest ones.
    """

    def __init__(self, checkpoint: str | Path, dataset: str | None = None, cache_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None):
        from ganstudio.core import scoring

        cfg, _ = config_from_checkpoint(str(checkpoint))
        self.data = load_run_data(cfg, dataset)
        if getattr(self.data, "kind", "") != "image":
            raise EvalError("nearest training images need an image generator trained on images")
        self.judge, self.why = scoring.judge_for(self.data, cache_dir, progress)
        if self.judge is None:
            raise EvalError(f"no features to compare images with: {self.why}")
        self.bank = self.judge.features(self.data.x)

    def lookup(self, images, k: int = 4):
        """(distances, indices) (N, k) of each image's k nearest training images, nearest first."""
        from ganstudio.core import metrics as M

        return M.nearest(self.judge.features(images), self.bank, k)

    def grid(self, images, k: int = 4):
        """uint8 (H, W, 3): each image, then its k nearest training images, one row each."""
        import torch

        from ganstudio.core.sampling import make_grid

        _, idx = self.lookup(images, k)
        tiles = torch.cat([torch.cat([x[None].float(), self.data.x[i]]) for x, i in zip(images, idx)])
        return make_grid(tiles, ncol=k + 1)


def nearest_images(checkpoint: str | Path, rows: int = 8, k: int = 4, *, seed: int = 0, dataset: str | None = None,
                   cache_dir: Path | None = None, progress: Callable[[str], None] | None = None):
    """uint8 (H, W, 3): `rows` samples of a generator checkpoint, each followed by its k nearest training images."""
    from ganstudio.core import scoring

    gen = load_generator(str(checkpoint))
    if gen.kind != "image":
        raise EvalError("nearest training images need an image generator")
    index = NearestIndex(checkpoint, dataset, cache_dir, progress)
    samples, _ = scoring._sample(gen, rows, seed)
    return index.grid(samples, k)

"""Evaluate a generator checkpoint against its real data: feature metrics, TSTR and mode metrics, with what each cost.

Image features come from the dataset's domain classifier: the shipped one for a built-in set,
or one trained (and cached beside the run) on a user dataset's own labels.  Every distance is
reported next to its real-vs-real floor (two disjoint halves of the real data, same sample
count), which is the best a perfect generator could score at that count.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ganstudio.core import metrics as M
from ganstudio.core.checkpoint import atomic_write_text
from ganstudio.core.classifier import (
    MIRROR_SAFE,
    Classifier,
    ClassifierError,
    builtin_classifier,
    load_classifier_file,
    save_classifier,
    train_classifier,
)
from ganstudio.core.data import Dataset, DataError, evaluation_split, load_dataset
from ganstudio.core.errors import UserError
from ganstudio.core.metrics2d import mode_metrics
from ganstudio.core.inference import LoadedGenerator, config_from_checkpoint, load_generator

METRIC_NAMES = ("fd", "kid", "is", "pr", "tstr", "modes", "diversity")
# TSTR trains a classifier (minutes on a CPU), so it runs only when asked for by name.
DEFAULT_METRICS = ("fd", "kid", "is", "pr", "diversity", "modes")
FEATURE_METRICS = frozenset({"fd", "kid", "is", "pr", "diversity"})
MODES_SAMPLES = 2_500  # the PacGAN protocol's sample count
TSTR_SAMPLES = 5_000
DIVERSITY_BATCH = 256
USER_CLASSIFIER_EPOCHS = 15
MIN_PER_CLASS = 10  # fewer labelled images per class than this cannot train a useful judge


class EvalError(UserError):
    """An evaluation that cannot run as asked; str(e) is one clear line."""


@dataclass
class Evaluation:
    """One evaluation of one checkpoint; `values` hold plain floats keyed like `fd`, `fd_floor`, `precision`."""

    checkpoint: str
    step: int
    n: int
    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> why it could not be computed
    judge: str = ""  # where the features came from, in words
    seconds: dict[str, float] = field(default_factory=dict)  # cost of each metric (features are counted once, in "features")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# The judge: a classifier for the run's data


def parse_metrics(text: str) -> tuple[str, ...]:
    """'fd,kid' → ('fd', 'kid'); 'all' → every metric; unknown names raise EvalError listing the valid ones."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return METRIC_NAMES
    bad = [n for n in names if n not in METRIC_NAMES]
    if bad or not names:
        raise EvalError(f"unknown metric {', '.join(bad) or '(none given)'}; choose from {', '.join(METRIC_NAMES)} or all")
    return tuple(dict.fromkeys(names))


def judge_for(data: Dataset, cache_dir: Path | None = None,
              progress: Callable[[str], None] | None = None) -> tuple[Classifier | None, str]:
    """(classifier, description) for a dataset, or (None, why there is none).

    A user dataset with labels gets a classifier trained on its own training split, cached as
    `cache_dir/classifier.pt` and reused while the dataset keeps its size and classes.
    """
    if data.kind != "image":
        return None, "2-D points have no image features; they are scored by modes"
    clf = builtin_classifier(data.name)
    if clf is not None:
        return clf, f"the built-in {data.name} classifier ({100 * clf.held_out_accuracy:.1f}% on held-out images)"
    if data.labels is None or len(data.classes) < 2:
        return None, ("no classifier for this dataset and no labels to train one on "
                      "(a folder with one sub-folder per class has them)")
    counts = torch.bincount(data.labels, minlength=len(data.classes))
    if int(counts.min()) < MIN_PER_CLASS:
        return None, f"too few labelled images to train a classifier ({int(counts.min())} in the smallest class; need {MIN_PER_CLASS})"
    key = {"dataset": str(data.name), "n": len(data), "classes": list(data.classes), "shape": list(data.x.shape[1:])}
    cached = cache_dir / "classifier.pt" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            clf = load_classifier_file(cached)
            if clf.meta.get("key") == key:
                return clf, f"a classifier trained on this dataset's labels ({100 * clf.held_out_accuracy:.1f}% on held-out images)"
        except ClassifierError:
            pass  # made again below
    if progress:
        progress("training a classifier on the dataset's labels (once; cached with the run)")
    train, held = evaluation_split(data.labels)
    clf = train_classifier(data.x[train], data.labels[train], data.classes, dataset=str(data.name),
                           epochs=USER_CLASSIFIER_EPOCHS, mirror=False, held_out=(data.x[held], data.labels[held]))
    clf.meta["key"] = key
    if cached is not None:
        save_classifier(clf, cached)
    return clf, f"a classifier trained on this dataset's labels ({100 * clf.held_out_accuracy:.1f}% on held-out images)"


# ---------------------------------------------------------------------------------------------
# Evaluation


def _sample(gen: LoadedGenerator, n: int, seed: int, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    xs, ys = [], []
    labels = None
    if gen.num_classes:
        labels = torch.arange(n) % gen.num_classes  # balanced classes
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        for i in range(0, n, batch):
            z = torch.randn(min(batch, n - i), gen.z_dim, generator=g)
            y = None if labels is None else labels[i:i + len(z)]
            xs.append(gen.G(z, y).float().clamp(-1, 1))
            if y is not None:
                ys.append(y)
    return torch.cat(xs), (torch.cat(ys) if ys else None)


def load_run_data(cfg, dataset: str | None = None) -> Dataset:
    """The real data a run was trained on (or `dataset` instead), at the run's size and channels."""
    try:
        return load_dataset(dataset or cfg.dataset, cfg.image_size, cfg.channels, seed=cfg.seed)
    except DataError as e:
        raise EvalError(f"the run's dataset cannot be read here ({e}); pass another with --dataset") from None


def evaluate(checkpoint: str | Path, metrics: tuple[str, ...] = DEFAULT_METRICS, n: int = 2000, *, seed: int = 0,
             data: Dataset | None = None, cache_dir: Path | None = None, tstr_samples: int = TSTR_SAMPLES,
             progress: Callable[[str], None] | None = None) -> Evaluation:
    """Score a generator checkpoint with `metrics` on n generated and n real images."""
    if n < 10:
        raise EvalError(f"-n must be at least 10 samples, not {n}")
    checkpoint = str(checkpoint)
    cfg, state = config_from_checkpoint(checkpoint)
    gen = load_generator(checkpoint, state=state)  # refuses translation models with a clear message
    if data is None:
        data = load_run_data(cfg)
    out = Evaluation(checkpoint=checkpoint, step=gen.step, n=n)
    say = progress or (lambda _msg: None)

    if "modes" in metrics:
        if gen.kind == "points" and gen.centers is not None:
            t0 = time.perf_counter()
            pts, _ = _sample(gen, MODES_SAMPLES, seed)
            m = mode_metrics(pts.numpy(), gen.centers, gen.sigma)
            out.n = MODES_SAMPLES
            out.values.update(modes=float(m["modes"]), n_modes=float(m["n_modes"]),
                              high_quality=m["high_quality"], reverse_kl=m["reverse_kl"])
            out.seconds["modes"] = time.perf_counter() - t0
        else:
            out.unavailable["modes"] = "needs a 2-D point set with known modes (ring8, grid25)"

    wanted = [m for m in metrics if m in FEATURE_METRICS or m == "tstr"]
    clf = None
    if wanted:
        t0 = time.perf_counter()
        clf, out.judge = judge_for(data, cache_dir, say)
        if clf is None:
            for m in wanted:
                out.unavailable[m] = out.judge
            out.judge = ""
        out.seconds["judge"] = time.perf_counter() - t0

    if clf is not None and any(m in FEATURE_METRICS for m in metrics):
        say("computing features")
        t0 = time.perf_counter()
        half = min(n, len(data) // 2)
        if half < 10:
            raise EvalError(f"the dataset has {len(data)} images; feature metrics need at least 20")
        out.n = half
        perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
        real_a, real_b = data.x[perm[:half]], data.x[perm[half:2 * half]]
        fake, _ = _sample(gen, half, seed + 1)
        fa, fb, ff = clf.features(real_a), clf.features(real_b), clf.features(fake)
        out.seconds["features"] = time.perf_counter() - t0

        def timed(name: str, fn: Callable[[], None]) -> None:
            if name in metrics:
                t = time.perf_counter()
                fn()
                out.seconds[name] = time.perf_counter() - t

        def fd():
            out.values.update(fd=M.frechet_distance(fa, ff), fd_floor=M.frechet_distance(fa, fb))

        def kid():
            size = min(1000, half // 2)  # subsets smaller than the set, so their spread means something
            out.values["kid"], out.values["kid_std"] = M.kernel_inception_distance(fa, ff, subset_size=size, seed=seed)
            out.values["kid_floor"], _ = M.kernel_inception_distance(fa, fb, subset_size=size, seed=seed)

        def score():
            head = clf.net.head.eval()
            with torch.inference_mode():
                out.values["is"], out.values["is_std"] = M.classifier_score(head(ff))
                out.values["is_real"], _ = M.classifier_score(head(fa))

        def pr():
            out.values.update(M.precision_recall(fa, ff))

        def div():
            k = min(DIVERSITY_BATCH, half)
            out.values.update(diversity=M.diversity(ff[:k]), diversity_real=M.diversity(fa[:k]))

        for name, fn in (("fd", fd), ("kid", kid), ("is", score), ("pr", pr), ("diversity", div)):
            timed(name, fn)

    if "tstr" in metrics and clf is not None:
        if not gen.num_classes:
            out.unavailable["tstr"] = "needs a conditional model (one that takes a class, like cgan-mnist)"
        elif data.labels is None:
            out.unavailable["tstr"] = "needs a labelled dataset to test on"
        else:
            say(f"TSTR: training a classifier on {tstr_samples:,} generated images")
            t0 = time.perf_counter()
            x, y = _sample(gen, tstr_samples, seed + 2)
            out.values.update(tstr=tstr_accuracy(x, y, data, clf, seed), tstr_real=clf.held_out_accuracy)
            out.seconds["tstr"] = time.perf_counter() - t0
    return out


def tstr_accuracy(x: torch.Tensor, y: torch.Tensor, data: Dataset, judge: Classifier, seed: int = 0) -> float:
    """Train on synthetic, test on real: a fresh classifier, trained by the judge's recipe on the
    generated (x, y), scored on the real held-out images of `data` (which the judge did not see)."""
    _, held = evaluation_split(data.labels)
    synth = train_classifier(x, y, data.classes, dataset="generated", epochs=judge.meta.get("epochs", 30),
                             mirror=MIRROR_SAFE.get(data.name, False), seed=seed,
                             held_out=(data.x[held], data.labels[held]))
    return synth.held_out_accuracy


def headline(values: dict, best: bool = False, error: str = "") -> str:
    """One line of the headline metrics of an evaluation."""
    if error:
        return f"failed: {error}"
    parts = []
    if "fd" in values:
        parts.append(f"FD {values['fd']:.3f} (real {values.get('fd_floor', float('nan')):.3f})")
    if "kid" in values:
        parts.append(f"KID {values['kid']:.4f}")
    if "precision" in values:
        parts.append(f"precision {values['precision']:.2f} recall {values['recall']:.2f}")
    if "modes" in values:
        parts.append(f"{values['modes']:.0f}/{values['n_modes']:.0f} modes, {100 * values['high_quality']:.1f}% high quality")
    return ", ".join(parts) + ("  [best so far: checkpoints/best.pt]" if best else "")


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


PERIODIC_METRICS = ("fd", "kid", "is", "pr", "diversity", "modes")
PERIODIC_SAMPLES = 1000


def best_fd(history: list[dict], n: int) -> float:
    """The lowest Fréchet distance recorded with sample count n (inf when none)."""
    vals = [h["values"]["fd"] for h in history if h.get("n") == n and "fd" in h.get("values", {})]
    return min(vals, default=float("inf"))


def keep_if_best(run_dir: str | Path, checkpoint: str | Path, fd: float, n: int, history: list[dict]) -> bool:
    """Make checkpoint RUN/checkpoints/best.pt if its FD beats every other recorded at the same n."""
    others = [h for h in history if Path(h.get("checkpoint", "")) != Path(checkpoint)]
    if not fd < best_fd(others, n):
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

    def __init__(self, run_dir: str | Path, metrics: tuple[str, ...] = PERIODIC_METRICS, n: int = PERIODIC_SAMPLES,
                 keep_best: bool = False, threads: int = 1):
        self.run_dir = Path(run_dir)
        self.metrics, self.n, self.keep_best, self.threads = metrics, n, keep_best, threads
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
        cmd = [sys.executable, "-m", "ganstudio", "eval", self._current[1], "--metrics", ",".join(self.metrics),
               "-n", str(self.n), "--threads", str(self.threads)]
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
        if self.keep_best and "fd" in result["values"] and Path(ckpt).is_file():
            result["best"] = keep_if_best(self.run_dir, ckpt, result["values"]["fd"], entry["n"], history)
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

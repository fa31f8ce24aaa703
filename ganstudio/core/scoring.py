"""Scores of generated samples against real data: feature metrics, TSTR and mode metrics, with what each cost.

Any family whose signature generates (noise, and a class → sample) declares these as its metrics
(`GENERATED_METRICS`, `GENERATED_SCORES`) and scores with `score_generator`. Image features come
from the dataset's domain classifier: the shipped one for a built-in set, or one trained (and
cached beside the run) on a user dataset's own labels. Every distance is reported next to its
real-vs-real floor (two disjoint halves of the real data, same sample count), which is the best a
perfect generator could score at that count.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from ganstudio.core import metrics as M
from ganstudio.core.classifier import (
    MIRROR_SAFE,
    Classifier,
    ClassifierError,
    builtin_classifier,
    load_classifier_file,
    save_classifier,
    train_classifier,
)
from ganstudio.core.data import Dataset, evaluation_split
from ganstudio.core.evaluation import EvalError, Evaluation, Score
from ganstudio.core.features import FeatureExtractor, features_for
from ganstudio.core.metrics2d import mode_metrics

MODES_SAMPLES = 2_500  # the PacGAN protocol's sample count
DIVERSITY_BATCH = 256
USER_CLASSIFIER_EPOCHS = 15
MIN_PER_CLASS = 10  # fewer labelled images per class than this cannot train a useful judge
FEATURE_METRICS = frozenset({"fd", "kid", "is", "pr", "diversity", "copies"})

# what `--metrics` may name for a generator, and what each measures
GENERATED_METRICS = {
    "fd": "Fréchet distance between classifier features of samples and real images (lower is better)",
    "kid": "kernel inception distance: FD's unbiased cousin, reliable at small sample counts",
    "is": "classifier score (the Inception Score analog): confident and varied class predictions",
    "pr": "precision, recall, density and coverage: realism and coverage of the real data, separately",
    "diversity": "mean feature distance within a batch of samples; near 0 means mode collapse",
    "copies": "is it copying? the share of samples nearer a training image than 95% of other real images are (≈ 0.05 when not)",
    "tstr": "train a classifier on samples, test it on real images (conditional models; minutes on a CPU)",
    "modes": "modes covered and the KL of their histogram to uniform (ring8, grid25, stacked-mnist; PacGAN protocol)",
}
# TSTR trains a classifier (minutes on a CPU), so it runs only when asked for by name.
GENERATED_DEFAULT = ("fd", "kid", "is", "pr", "diversity", "copies", "modes")
GENERATED_SCORES = (
    Score("fd", "Fréchet distance", "{:.3f}", "lower is better", reference="fd_floor", short="FD", lower_is_better=True),
    Score("kid", "KID", "{:.5f}", "lower is better; ± {kid_std:.5f}", reference="kid_floor", short="KID", lower_is_better=True),
    Score("is", "classifier score", "{:.2f}", "higher is better (the Inception Score analog)", reference="is_real"),
    Score("precision", "precision", "{:.3f}", "share of samples that look real", short="precision"),
    Score("recall", "recall", "{:.3f}", "share of the real data the samples cover", short="recall"),
    Score("density", "density", "{:.3f}", "≈ 1 when samples sit where real data is dense"),
    Score("coverage", "coverage", "{:.3f}", "share of real neighbourhoods with a sample"),
    Score("diversity", "diversity", "{:.3f}", "mean feature distance in a batch; near 0 = collapse", reference="diversity_real"),
    Score("copies", "copies", "{:.3f}", "samples nearer a training image than 95% of new real images are; "
          "nearest-distance ratio {nearest_ratio:.2f}", reference="copies_real", lower_is_better=True),
    Score("tstr", "TSTR accuracy", "{:.3f}", "plain classifier trained on samples, tested on real", reference="tstr_real"),
    Score("tstr_augmented", "TSTR, augmented", "{:.3f}", "the same with random affine augmentation, which adds variety", reference="tstr_real"),
    Score("modes", "modes covered", "{:.0f}", "of {n_modes:.0f}", short="modes"),
    Score("high_quality", "high quality", "{:.3f}", "share within 3σ of a mode", short="high quality"),
    Score("reverse_kl", "reverse KL", "{:.4f}", "of the mode histogram; 0 = uniform", lower_is_better=True),
)


# Stacked-MNIST's modes are counted on this many samples, each channel read by the shipped MNIST
# classifier (the protocol of Srivastava et al. 2017 and PacGAN, Lin et al. 2018).
STACKED = ("stacked-mnist",)
STACKED_SAMPLES = 26_000


def stacked_modes(images: torch.Tensor) -> dict[str, float]:
    """Modes (of 1,000) and KL(mode histogram ‖ uniform) of (N, 3, H, W) Stacked-MNIST images: each
    channel is read as a digit, mode = 100·r + 10·g + b."""
    clf = builtin_classifier("mnist")
    n, c, h, w = images.shape
    digits = clf.predict(images.reshape(n * c, 1, h, w)).view(n, c)
    mode = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(mode, minlength=1000).double()
    p = counts[counts > 0] / n
    return {"modes": float((counts > 0).sum()), "n_modes": 1000.0, "reverse_kl": float((p * (p * 1000).log()).sum())}


# ---------------------------------------------------------------------------------------------
# The judge: a classifier for the run's data


def judge_for(data: Dataset, cache_dir: Path | None = None, progress: Callable[[str], None] | None = None,
              label_free: bool = True) -> tuple[Classifier | FeatureExtractor | None, str]:
    """(judge, description) for a dataset, or (None, why there is none). A judge has `features(x)`.

    A built-in set has its shipped classifier. A user dataset with labels gets a classifier trained
    on its own training split, cached as `cache_dir/classifier.pt` and reused while the dataset keeps
    its size and classes. Any other image set gets label-free features trained on it (features.py).
    """
    if data.kind != "image":
        return None, "2-D points have no image features; they are scored by modes"
    clf = builtin_classifier(data.name)
    if clf is not None:
        return clf, f"the built-in {data.name} classifier ({100 * clf.held_out_accuracy:.1f}% on held-out images)"
    counts = torch.bincount(data.labels, minlength=len(data.classes)) if data.labels is not None and len(data.classes) >= 2 else None
    if counts is None or int(counts.min()) < MIN_PER_CLASS:
        if label_free:
            return label_free_judge(data, cache_dir, progress)
        if counts is None:
            return None, "no classifier for this dataset and no labels to train one on (a folder with one sub-folder per class has them)"
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


def label_free_judge(data: Dataset, cache_dir: Path | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[FeatureExtractor, str]:
    fx = features_for(data, cache_dir, progress)
    return fx, f"label-free features trained on this dataset ({fx.meta.get('steps', 0)} self-supervised steps)"


# ---------------------------------------------------------------------------------------------
# Scoring a generator


def _sample(gen, n: int, seed: int, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    xs, ys = [], []
    labels = None
    if gen.num_classes:
        labels = torch.arange(n) % gen.num_classes  # balanced classes
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        for i in range(0, n, batch):
            z = torch.randn(min(batch, n - i), gen.z_dim, generator=g)
            y = None if labels is None else labels[i:i + len(z)]
            x = gen.G(z, y).float()
            if not torch.isfinite(x).all():
                raise EvalError("the generator's outputs hold NaN or infinite values (its weights have diverged); "
                                "evaluate an earlier checkpoint of the run")
            xs.append(x.clamp(-1, 1))
            if y is not None:
                ys.append(y)
    return torch.cat(xs), (torch.cat(ys) if ys else None)


def score_generator(req) -> Evaluation:
    """Score `req.generator()` (an inference.LoadedGenerator) with `req.metrics` on n generated and n real samples."""
    metrics, n, seed, say = req.metrics, req.n, req.seed, req.say
    gen = req.generator()
    out = Evaluation(checkpoint=req.checkpoint, step=gen.step, n=n)

    if "modes" in metrics:
        if gen.kind == "points" and gen.centers is not None:
            t0 = time.perf_counter()
            pts, _ = _sample(gen, MODES_SAMPLES, seed)
            m = mode_metrics(pts.numpy(), gen.centers, gen.sigma)
            out.n = MODES_SAMPLES
            out.values.update(modes=float(m["modes"]), n_modes=float(m["n_modes"]),
                              high_quality=m["high_quality"], reverse_kl=m["reverse_kl"])
            out.seconds["modes"] = time.perf_counter() - t0
        elif gen.kind == "image" and req.data().name in STACKED:
            t0 = time.perf_counter()
            imgs, _ = _sample(gen, STACKED_SAMPLES, seed)
            out.values.update(stacked_modes(imgs))
            out.seconds["modes"] = time.perf_counter() - t0
        else:
            out.unavailable["modes"] = "needs a set with known modes (ring8, grid25, stacked-mnist)"

    wanted = [m for m in metrics if m in FEATURE_METRICS or m == "tstr"]
    clf = data = None
    if wanted:
        data = req.data()
        t0 = time.perf_counter()
        clf, out.judge = judge_for(data, req.cache_dir, say)
        if clf is None:
            for m in wanted:
                out.unavailable[m] = out.judge
            out.judge = ""
        out.seconds["judge"] = time.perf_counter() - t0

    if clf is not None and any(m in FEATURE_METRICS for m in metrics):
        _feature_scores(out, gen, data, clf, metrics, n, seed, say)

    if "tstr" in metrics and clf is not None:
        if not isinstance(clf, Classifier):
            out.unavailable["tstr"] = "needs a labelled dataset to test on"
        elif not gen.num_classes:
            out.unavailable["tstr"] = "needs a conditional model (one that takes a class, like cgan-mnist)"
        elif data.labels is None:
            out.unavailable["tstr"] = "needs a labelled dataset to test on"
        else:
            say(f"TSTR: training a classifier on {req.tstr_samples:,} generated images")
            t0 = time.perf_counter()
            x, y = _sample(gen, req.tstr_samples, seed + 2)
            out.values.update(tstr=tstr_accuracy(x, y, data, clf, seed, augment=False),
                              tstr_augmented=tstr_accuracy(x, y, data, clf, seed), tstr_real=clf.held_out_accuracy)
            out.seconds["tstr"] = time.perf_counter() - t0
    out.subject = f"{out.n:,} generated vs {out.n:,} real" if out.judge else f"{out.n:,} samples"
    return out


def _feature_scores(out: Evaluation, gen, data: Dataset, clf: Classifier, metrics, n: int, seed: int, say) -> None:
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

    def fd():
        out.values.update(fd=M.frechet_distance(fa, ff), fd_floor=M.frechet_distance(fa, fb))

    def kid():
        size = min(1000, half // 2)  # subsets smaller than the set, so their spread means something
        out.values["kid"], out.values["kid_std"] = M.kernel_inception_distance(fa, ff, subset_size=size, seed=seed)
        out.values["kid_floor"], _ = M.kernel_inception_distance(fa, fb, subset_size=size, seed=seed)

    def score():
        if not isinstance(clf, Classifier):
            out.unavailable["is"] = "needs a classifier (a built-in set, or class sub-folders); label-free features have no classes"
            return
        head = clf.net.head.eval()
        with torch.inference_mode():
            out.values["is"], out.values["is_std"] = M.classifier_score(head(ff))
            out.values["is_real"], _ = M.classifier_score(head(fa))

    def pr():
        out.values.update(M.precision_recall(fa, ff))

    def div():
        k = min(DIVERSITY_BATCH, half)
        out.values.update(diversity=M.diversity(ff[:k]), diversity_real=M.diversity(fa[:k]))

    def copies():
        out.values.update(M.copy_share(fa, fb, ff))

    for name, fn in (("fd", fd), ("kid", kid), ("is", score), ("pr", pr), ("diversity", div), ("copies", copies)):
        if name in metrics:
            t = time.perf_counter()
            fn()
            out.seconds[name] = time.perf_counter() - t


def tstr_accuracy(x: torch.Tensor, y: torch.Tensor, data: Dataset, judge: Classifier, seed: int = 0,
                  augment: bool = True) -> float:
    """Train on synthetic, test on real: a fresh classifier, trained by the judge's recipe on the
    generated (x, y), scored on the real held-out images of `data` (which the judge did not see).
    augment=False is the plain recipe of the TSTR paper (Esteban et al. 2017): no random affine
    augmentation, which would add the variety the generator may lack."""
    _, held = evaluation_split(data.labels)
    synth = train_classifier(x, y, data.classes, dataset="generated", epochs=judge.meta.get("epochs", 30),
                             mirror=MIRROR_SAFE.get(data.name, False) and augment, seed=seed, augment=augment,
                             held_out=(data.x[held], data.labels[held]))
    return synth.held_out_accuracy

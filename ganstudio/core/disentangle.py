"""Disentanglement scores from known factors (MIG, SAP, the FactorVAE score) and the code checks on digits.

The representation of an image is what the model's encoder reads from it: for InfoGAN, Q's code
estimate (a categorical code's most likely value, each continuous code's mean). The protocols are
those of disentanglement_lib (Locatello et al. 2019), so the published dSprites values compare:
- MIG (Chen et al. 2018): each representation dimension binned into 20 equal-width bins; for each
  factor, the gap between the two dimensions with the most mutual information with it, over the
  factor's entropy; averaged over factors.
- SAP (Kumar et al. 2018): for each factor and each dimension, the held-out accuracy of a linear
  classifier that predicts the factor from that one dimension (the factors are discrete); the gap
  between the two best dimensions, averaged over factors.
- FactorVAE score (Kim & Mnih 2018): batches that share one factor's value; the dimension whose
  (globally normalised) variance is smallest votes for that factor; the accuracy of the majority
  vote classifier on held-out votes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

MIG_BINS = 20


# ---------------------------------------------------------------------------------------------
# MIG


def _discretize(reps: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    out = np.zeros(reps.shape, dtype=np.int64)
    for j in range(reps.shape[1]):
        col = reps[:, j]
        edges = np.histogram(col, bins)[1]
        out[:, j] = np.digitize(col, edges[:-1])
    return out


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Discrete mutual information (nats) of two integer arrays."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1)
    p = joint / joint.sum()
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum())


def _entropy(a: np.ndarray) -> float:
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mig(reps: np.ndarray, factors: np.ndarray) -> tuple[float, list[float]]:
    """(MIG, per factor) of representations (N, L) against discrete factors (N, F)."""
    if reps.shape[1] < 2:
        raise ValueError("MIG compares the two most informative dimensions: the representation needs at least 2")
    d = _discretize(reps)
    per = []
    for k in range(factors.shape[1]):
        h = _entropy(factors[:, k])
        if h == 0:
            continue  # a factor that never varies has nothing to capture
        mi = sorted((_mutual_info(d[:, j], factors[:, k]) for j in range(d.shape[1])), reverse=True)
        per.append((mi[0] - mi[1]) / h)
    return float(np.mean(per)), per


# ---------------------------------------------------------------------------------------------
# SAP


def _one_dim_accuracy(tr: np.ndarray, y_tr: np.ndarray, te: np.ndarray, y_te: np.ndarray, classes: int,
                      steps: int = 300) -> np.ndarray:
    """Held-out accuracy (L,) of a class-balanced multinomial logistic regression on each single dimension.

    In one dimension, the argmax of linear class scores cuts the line into intervals, as
    disentanglement_lib's LinearSVC does; all L dimensions are fitted at once.
    """
    mu, sd = tr.mean(0), tr.std(0) + 1e-8
    xtr = torch.tensor((tr - mu) / sd, dtype=torch.float32)  # (N, L)
    xte = torch.tensor((te - mu) / sd, dtype=torch.float32)
    ytr, yte = torch.tensor(y_tr), torch.tensor(y_te)
    n_l = xtr.shape[1]
    counts = torch.bincount(ytr, minlength=classes).float()
    weight = torch.where(counts > 0, counts.sum() / (classes * counts.clamp(min=1)), torch.zeros_like(counts))
    w = torch.zeros(n_l, classes, requires_grad=True)
    b = torch.zeros(n_l, classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.1)
    for _ in range(steps):
        logits = xtr[:, :, None] * w[None] + b[None]  # (N, L, C)
        loss = F.cross_entropy(logits.reshape(-1, classes), ytr.repeat_interleave(n_l), weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = (xte[:, :, None] * w[None] + b[None]).argmax(2)  # (N, L)
        return (pred == yte[:, None]).float().mean(0).numpy()


def sap(reps_tr: np.ndarray, f_tr: np.ndarray, reps_te: np.ndarray, f_te: np.ndarray,
        sizes: tuple[int, ...]) -> tuple[float, np.ndarray]:
    """(SAP, the score matrix (L, F)): per factor, the gap between the two dimensions that predict it best."""
    if reps_tr.shape[1] < 2:
        raise ValueError("SAP compares the two most predictive dimensions: the representation needs at least 2")
    matrix = np.stack([_one_dim_accuracy(reps_tr, f_tr[:, k], reps_te, f_te[:, k], sizes[k])
                       for k in range(f_tr.shape[1])], axis=1)
    top = np.sort(matrix, axis=0)[::-1]
    return float((top[0] - top[1]).mean()), matrix


# ---------------------------------------------------------------------------------------------
# FactorVAE score


def factorvae_score(represent: Callable[[np.ndarray], np.ndarray], sizes: tuple[int, ...], rng: np.random.Generator,
                    n_train: int = 800, n_eval: int = 800, batch: int = 64, n_var: int = 10_000) -> float:
    """The FactorVAE score of `represent` (factor indices (N, F) → representations (N, L)), which draws
    the images of those factors itself."""
    def draw(n):
        return np.stack([rng.integers(0, k, n) for k in sizes], axis=1)

    global_var = represent(draw(n_var)).var(0)
    active = global_var > 0
    if not active.any():
        return 0.0
    scale = np.sqrt(np.where(active, global_var, 1.0))

    def votes(n):
        out = np.zeros((n, 2), dtype=np.int64)
        for i in range(n):
            k = int(rng.integers(len(sizes)))
            f = draw(batch)
            f[:, k] = rng.integers(sizes[k])
            var = (represent(f) / scale).var(0)
            var[~active] = np.inf
            out[i] = (int(np.argmin(var)), k)
        return out

    tr, ev = votes(n_train), votes(n_eval)
    table = np.zeros((len(scale), len(sizes)), dtype=np.int64)
    np.add.at(table, (tr[:, 0], tr[:, 1]), 1)
    guess = table.argmax(1)
    return float((guess[ev[:, 0]] == ev[:, 1]).mean())


# ---------------------------------------------------------------------------------------------
# Codes on digits


def best_permutation_accuracy(confusion: np.ndarray) -> tuple[float, list[int]]:
    """(accuracy, mapping) of the best one-to-one matching of rows (code values) to columns (classes).

    confusion[i, j] counts samples of code value i read as class j; the matching maximises the
    matched count (an assignment problem, solved exactly by dynamic programming over column subsets,
    fine up to about 16 columns; a larger one falls back to a greedy matching).
    """
    n_r, n_c = confusion.shape
    total = confusion.sum()
    if total == 0:
        return 0.0, list(range(n_r))
    if n_c > 16 or n_r > n_c:
        mapping, used = [-1] * n_r, set()
        for i, j in sorted(((i, j) for i in range(n_r) for j in range(n_c)), key=lambda t: -confusion[t]):
            if mapping[i] < 0 and j not in used:
                mapping[i] = j
                used.add(j)
        got = sum(confusion[i, j] for i, j in enumerate(mapping) if j >= 0)
        return float(got / total), mapping
    best = {0: (0.0, [])}  # columns used (bitmask) → (matched count, mapping) after the first rows
    for i in range(n_r):
        nxt = {}
        for mask, (v, m) in best.items():
            for j in range(n_c):
                if mask & (1 << j):
                    continue
                key = mask | (1 << j)
                cand = v + confusion[i, j]
                if key not in nxt or cand > nxt[key][0]:
                    nxt[key] = (cand, m + [j])
        best = nxt
    v, m = max(best.values(), key=lambda t: t[0])
    return float(v / total), m


def digit_moments(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Slant and width of digits (N, 1, H, W) in [-1, 1] from their image moments.

    Ink is (x + 1) / 2. slant = μ11 / μ02, the shear that would make the digit upright; width = the
    horizontal standard deviation of the ink, in pixels.
    """
    ink = ((images[:, 0].float() + 1) / 2).clamp(min=0)
    n, h, w = ink.shape
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    m = ink.sum((1, 2)).clamp(min=1e-6)
    cx = (ink * xs).sum((1, 2)) / m
    cy = (ink * ys).sum((1, 2)) / m
    dx, dy = xs - cx.view(n, 1, 1), ys - cy.view(n, 1, 1)
    mu20 = (ink * dx * dx).sum((1, 2)) / m
    mu02 = (ink * dy * dy).sum((1, 2)) / m
    mu11 = (ink * dx * dy).sum((1, 2)) / m
    return {"slant": mu11 / mu02.clamp(min=1e-6), "width": mu20.sqrt()}


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation along the last dimension (rows of paired values)."""
    ra = a.argsort(-1).argsort(-1).float()
    rb = b.argsort(-1).argsort(-1).float()
    ra = ra - ra.mean(-1, keepdim=True)
    rb = rb - rb.mean(-1, keepdim=True)
    return (ra * rb).sum(-1) / (ra.square().sum(-1).sqrt() * rb.square().sum(-1).sqrt()).clamp(min=1e-12)

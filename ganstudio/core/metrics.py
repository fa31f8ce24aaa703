"""Sample-quality metrics on classifier features: Fréchet distance, KID, classifier score, precision/recall, density/coverage, diversity.

All functions take plain (N, D) feature tensors (or logits) and return floats, so they are
cheap to test against independent computations and do not care where the features came from.
"""

from __future__ import annotations

import math

import torch


def _cov(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.double()
    mu = f.mean(0)
    d = f - mu
    return mu, d.T @ d / max(1, len(f) - 1)


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix through its eigendecomposition."""
    w, v = torch.linalg.eigh((m + m.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """‖μ_r − μ_f‖² + tr(Σ_r + Σ_f − 2(Σ_r Σ_f)^½) of two feature sets (Heusel et al. 2017, "FID").

    tr((Σ_r Σ_f)^½) is computed as tr((A Σ_f A)^½) with A = Σ_r^½: that matrix is symmetric, so
    two real eigendecompositions do it without the complex square roots of scipy's sqrtm.
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples on each side")
    mu_r, s_r = _cov(real)
    mu_f, s_f = _cov(fake)
    a = _sqrtm_psd(s_r)
    tr_sqrt = torch.linalg.eigvalsh(a @ s_f @ a).clamp(min=0).sqrt().sum()
    value = (mu_r - mu_f).square().sum() + s_r.trace() + s_f.trace() - 2 * tr_sqrt
    return max(0.0, float(value))


def _poly_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD² with the cubic polynomial kernel, mean and std over random subsets (Bińkowski et al. 2018).

    Unlike the Fréchet distance it has no bias from the sample count, so small evaluations
    compare fairly with large ones.
    """
    real, fake = real.double(), fake.double()
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:m]]
        y = fake[torch.randperm(len(fake), generator=g)[:m]]
        kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
        mmd = ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
               + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean())
        values.append(float(mmd))
    t = torch.tensor(values)
    return float(t.mean()), float(t.std()) if len(t) > 1 else 0.0


def classifier_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """The Inception Score computed with a domain classifier: exp E[KL(p(y|x) ‖ p(y))], mean and std over splits.

    High when each sample is confidently one class and all classes appear; its ceiling is the
    number of classes.
    """
    p = logits.double().softmax(1)
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in p.chunk(splits):
        py = part.mean(0, keepdim=True)
        kl = (part * (part.clamp_min(1e-12).log() - py.clamp_min(1e-12).log())).sum(1).mean()
        scores.append(math.exp(float(kl)))
    t = torch.tensor(scores)
    return float(t.mean()), float(t.std()) if len(t) > 1 else 0.0


def _kth_radius(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    out = []
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i:i + chunk], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the row itself is at distance 0
    return torch.cat(out)


def _balls(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
           chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For the balls (centres, radii): how many each point falls in (len(points),), and whether each ball holds a point (len(centres),)."""
    counts = []
    hit = torch.zeros(len(centres), dtype=torch.bool)
    for i in range(0, len(points), chunk):
        inside = torch.cdist(points[i:i + chunk], centres) <= radii[None, :]
        counts.append(inside.sum(1))
        hit |= inside.any(0)
    return torch.cat(counts), hit


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict[str, float]:
    """k-NN manifold metrics: precision, recall (Kynkäänniemi et al. 2019), density, coverage (Naeem et al. 2020).

    Precision: share of fakes inside the real manifold (fidelity). Recall: share of reals inside
    the fake manifold (diversity). Density counts how many real neighbourhoods hold each fake
    (≈ 1 for a matching distribution, robust to real outliers); coverage is the share of real
    neighbourhoods that hold at least one fake.
    """
    real, fake = real.float(), fake.float()
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples on each side")
    r_real = _kth_radius(real, k)
    r_fake = _kth_radius(fake, k)
    in_real, real_hit = _balls(fake, real, r_real)  # one pass over fake × real distances
    in_fake, _ = _balls(real, fake, r_fake)
    return {
        "precision": float((in_real > 0).float().mean()),
        "recall": float((in_fake > 0).float().mean()),
        "density": float(in_real.float().sum() / (k * len(fake))),
        "coverage": float(real_hit.float().mean()),
    }


def diversity(features: torch.Tensor) -> float:
    """Mean pairwise distance of a batch's features: falls towards 0 as a generator collapses to few outputs."""
    f = features.float()
    if len(f) < 2:
        return 0.0
    d = torch.cdist(f, f)
    return float(d.sum() / (len(f) * (len(f) - 1)))


def nearest(query: torch.Tensor, bank: torch.Tensor, k: int = 1, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances, indices), each (len(query), k): every query row's k nearest rows of `bank`, nearest first."""
    d_out, i_out = [], []
    for i in range(0, len(query), chunk):
        d = torch.cdist(query[i:i + chunk].float(), bank.float())
        v, idx = d.topk(min(k, len(bank)), dim=1, largest=False)
        d_out.append(v)
        i_out.append(idx)
    return torch.cat(d_out), torch.cat(i_out)


def copy_share(train: torch.Tensor, other_real: torch.Tensor, fake: torch.Tensor, quantile: float = 0.05) -> dict[str, float]:
    """"Is it copying?": the share of generated samples nearer a training image than all but `quantile`
    of real images are to their nearest training image.

    Real images that were not in `train` set the yardstick: 5% of them are, by construction, that
    close to some training image, so a generator that makes new images scores about 0.05 and one
    that reproduces its training images scores near 1. Also returned: the median nearest-training
    distance of the samples over that of the real images (below 1 = closer than new real images are).
    """
    d_fake = nearest(fake, train)[0][:, 0]
    d_real = nearest(other_real, train)[0][:, 0]
    threshold = torch.quantile(d_real.double(), quantile).item()
    return {"copies": float((d_fake.double() < threshold).float().mean()), "copies_real": quantile,
            "nearest_ratio": float(d_fake.median() / d_real.median().clamp(min=1e-12))}

"""Mode coverage, sample quality and reverse KL of generated 2-D points (the PacGAN protocol)."""

from __future__ import annotations

import math

import numpy as np

HQ_SIGMAS = 3.0  # a sample within 3σ of its nearest centre is "high quality" (PacGAN, Lin et al. 2018)


def mode_metrics(points: np.ndarray, centers: np.ndarray, sigma: float) -> dict:
    """Score (N, 2) generated points against (M, 2) mode centres of std `sigma`.

    Returns {"modes": covered modes (int), "n_modes": M, "high_quality": fraction of points within
    3σ of their nearest centre, "reverse_kl": KL(p || uniform) of the high-quality points' mode
    histogram p}.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    c = np.asarray(centers, np.float64).reshape(-1, 2)
    m = len(c)
    if m == 0:
        raise ValueError("mode_metrics needs at least one centre")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    dist = np.linalg.norm(pts[:, None, :] - c[None, :, :], axis=2)  # (N, M)
    # A NaN or infinite point has no nearest centre: it counts as a sample, never as high quality.
    finite = np.isfinite(dist).all(axis=1)
    nearest = np.argmin(np.where(finite[:, None], dist, np.inf), axis=1) if len(pts) else np.zeros(0, np.int64)
    hq = finite & (dist[np.arange(len(pts)), nearest] <= HQ_SIGMAS * sigma)
    counts = np.bincount(nearest[hq], minlength=m)  # (M,) high-quality samples per mode
    n_hq = int(counts.sum())
    if n_hq:
        p = counts[counts > 0] / n_hq  # empty modes add 0·log 0 = 0
        reverse_kl = float(np.sum(p * np.log(p * m)))
    else:
        # No high-quality sample at all: score it as total collapse, the worst a histogram can do.
        reverse_kl = math.log(m)
    return {
        "modes": int(np.count_nonzero(counts)),
        "n_modes": m,
        "high_quality": n_hq / len(pts) if len(pts) else 0.0,
        "reverse_kl": max(reverse_kl, 0.0),  # rounding can give -1e-17 for a uniform histogram
    }

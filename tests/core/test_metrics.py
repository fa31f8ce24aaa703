"""Feature metrics against independent computations and the cases whose answer is known."""

import math

import numpy as np
import pytest
import torch

from ganstudio.core.metrics import (
    classifier_score,
    diversity,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
)


def _correlated(n, d, seed, shift=0.0, scale=1.0):
    """n draws (noise from `seed`) of one correlated Gaussian per dimension d, shifted and scaled."""
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(1000 + d)) / math.sqrt(d)
    return (torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) @ mix) * scale + shift


def _fd_textbook(x, y):
    """‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2 Σ √λ(Σ1 Σ2): the eigenvalues of the non-symmetric product, in numpy."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    lam = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(lam.real, 0, None)).sum()
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.3, 1.0), (0.0, 1.7), (1.0, 0.5)])
def test_frechet_distance_matches_the_textbook_formula_computed_another_way(shift, scale):
    x = _correlated(600, 24, 0)
    y = _correlated(500, 24, 1, shift, scale)
    assert frechet_distance(x, y) == pytest.approx(_fd_textbook(x.numpy(), y.numpy()), rel=1e-3)


def test_frechet_distance_of_gaussians_with_known_parameters():
    # Same covariance, means 2 apart in one direction: FD = ‖Δμ‖² = 4 (up to sampling noise).
    x = torch.randn(20000, 4, generator=torch.Generator().manual_seed(0))
    y = torch.randn(20000, 4, generator=torch.Generator().manual_seed(1)) + torch.tensor([2.0, 0, 0, 0])
    assert frechet_distance(x, y) == pytest.approx(4.0, abs=0.05)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_gap():
    a, b = _correlated(800, 16, 0), _correlated(800, 16, 0)[torch.randperm(800)]
    same, _ = kernel_inception_distance(_correlated(800, 16, 2), _correlated(800, 16, 3), subsets=20, subset_size=400)
    near, _ = kernel_inception_distance(a, _correlated(800, 16, 4, shift=0.2), subsets=20, subset_size=400)
    far, _ = kernel_inception_distance(a, _correlated(800, 16, 5, shift=1.0), subsets=20, subset_size=400)
    assert abs(same) < 0.01 < near < far
    assert kernel_inception_distance(a, b, subsets=5)[0] == pytest.approx(kernel_inception_distance(b, a, subsets=5)[0], abs=0.02)


def test_classifier_score_counts_confident_distinct_classes():
    confident = torch.eye(10).repeat(20, 1) * 50  # every class, each sample sure of its class
    assert classifier_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-3)
    one_class = torch.zeros(200, 10)
    one_class[:, 3] = 50  # collapsed to one class
    assert classifier_score(one_class, splits=1)[0] == pytest.approx(1.0, rel=1e-3)
    unsure = torch.zeros(200, 10)  # no sample knows its class
    assert classifier_score(unsure, splits=4)[0] == pytest.approx(1.0, rel=1e-6)


def test_precision_recall_density_coverage_on_known_cases():
    real = _correlated(400, 8, 0)
    same = precision_recall(real, real.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] >= 1.0
    far = precision_recall(real, _correlated(400, 8, 1, shift=50.0))
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # Real data in 4 far-apart clusters; a generator that only makes cluster 0 (mode collapse):
    # its samples are all real-looking (precision) but cover a quarter of the data (recall, coverage).
    centres = torch.eye(8)[:4] * 40
    real4 = torch.cat([_correlated(200, 8, 10 + i) + centres[i] for i in range(4)])
    collapsed = precision_recall(real4, _correlated(800, 8, 20) + centres[0])
    assert collapsed["precision"] > 0.85  # the tails of 800 fakes reach past 200 reals
    assert 0.2 < collapsed["recall"] < 0.3 and 0.2 < collapsed["coverage"] < 0.3


def test_diversity_falls_to_zero_for_a_collapsed_batch():
    assert diversity(torch.ones(16, 5)) == 0.0
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    assert diversity(x) == pytest.approx(math.sqrt(2 * 5), rel=0.15)  # E‖a−b‖ for unit Gaussians ≈ √(2d)


def test_metrics_refuse_too_few_samples():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="more than 3"):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2))


def test_copy_share_tells_a_generator_that_reproduces_its_training_images_from_one_that_makes_new_ones():
    from ganstudio.core.metrics import copy_share, nearest

    g = torch.Generator().manual_seed(0)
    train, other, new = (torch.randn(n, 16, generator=g) for n in (1000, 1000, 1000))
    d, i = nearest(train[:5] + 1e-4, train, k=2)
    assert i[:, 0].tolist() == [0, 1, 2, 3, 4] and (d[:, 0] < d[:, 1]).all()
    fresh = copy_share(train, other, new)
    assert abs(fresh["copies"] - 0.05) < 0.03 and 0.9 < fresh["nearest_ratio"] < 1.1
    copied = copy_share(train, other, train[:500] + 0.01 * torch.randn(500, 16, generator=g))
    assert copied["copies"] > 0.95 and copied["nearest_ratio"] < 0.1

"""Tests for ganstudio.core.metrics2d: the PacGAN mode/quality/reverse-KL scores on hand-made points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganstudio.core.data import grid25_centers, ring8_centers
from ganstudio.core.metrics2d import mode_metrics

SIGMA = 0.01


def test_ring8_centres_are_eight_distinct_points():
    c = ring8_centers()
    assert c.shape == (8, 2)
    assert len(np.unique(c.round(6), axis=0)) == 8


def test_samples_at_every_centre_cover_all_modes_with_zero_reverse_kl():
    c = ring8_centers()
    m = mode_metrics(np.repeat(c, 10, axis=0), c, SIGMA)
    assert m == {"modes": 8, "n_modes": 8, "high_quality": 1.0, "reverse_kl": 0.0}


def test_all_samples_at_one_centre_cover_one_mode():
    c = grid25_centers()
    m = mode_metrics(np.repeat(c[7:8], 100, axis=0), c, 0.05)
    assert (m["modes"], m["n_modes"], m["high_quality"]) == (1, 25, 1.0)
    assert m["reverse_kl"] == pytest.approx(math.log(25))


def test_points_four_sigmas_out_are_not_high_quality_and_give_finite_kl():
    c = ring8_centers()
    m = mode_metrics(c * (1 + 4 * SIGMA), c, SIGMA)  # each point 4σ radially outside its centre
    assert (m["modes"], m["high_quality"]) == (0, 0.0)
    assert m["reverse_kl"] == pytest.approx(math.log(8))  # no HQ sample scores as total collapse, not NaN


def test_points_just_inside_three_sigmas_count():
    c = ring8_centers()
    m = mode_metrics(c * (1 + 2.9 * SIGMA), c, SIGMA)
    assert (m["modes"], m["high_quality"]) == (8, 1.0)


def test_half_the_modes_evenly_gives_reverse_kl_log_2():
    c = ring8_centers()
    m = mode_metrics(np.repeat(c[::2], 5, axis=0), c, SIGMA)
    assert m["modes"] == 4
    assert m["reverse_kl"] == pytest.approx(math.log(2))


def test_quality_counts_every_sample_and_nan_points_are_never_high_quality():
    c = ring8_centers()
    pts = np.concatenate([c, np.full((8, 2), 5.0), np.full((4, 2), np.nan)])
    m = mode_metrics(pts, c, SIGMA)
    assert m["modes"] == 8
    assert m["high_quality"] == pytest.approx(8 / 20)
    assert m["reverse_kl"] == pytest.approx(0.0)

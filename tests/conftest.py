"""Shared fixtures: tiny, fast training configs."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def tiny_overrides():
    """Settings that make any preset run in well under a second per step."""
    return dict(batch_size=16, log_every=1, sample_every=1000, checkpoint_every=1000, sample_count=16, threads=2)

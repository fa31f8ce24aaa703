"""Tests for the template family: copy this file with the template when adding a family.

Each test trains a few steps of the family on a tiny budget and checks what a user would see:
finite losses on the declared curves, a preview, an exact resume, a sample from its signature.
"""

import numpy as np
import pytest
import torch

from ganstudio.core.config import apply_overrides, validate, TrainConfig
from ganstudio.core.events import SampleGrid, StepMetrics
from ganstudio.core.families import FAMILIES, register
from ganstudio.core.families.template import Template
from ganstudio.core.inference import load_generator
from ganstudio.core.train import iter_train, resume_config

if Template.name not in FAMILIES:
    register(Template)

TINY = dict(family=Template.name, dataset="ring8", steps=6, batch_size=32, log_every=1, sample_every=3,
            checkpoint_every=3, sample_count=64, threads=1)


def train(run, **over):
    cfg = validate(apply_overrides(TrainConfig(), {**TINY, **over}))
    return list(iter_train(cfg, run))


def test_it_trains_and_logs_its_declared_curves(tmp_path):
    events = train(tmp_path / "run")
    logs = [e.values for e in events if isinstance(e, StepMetrics)]
    declared = {k for keys in Template.curves.values() for k in keys}
    assert len(logs) == 6 and declared <= set(logs[-1]) and all(np.isfinite(logs[-1][k]) for k in declared)
    grids = [e for e in events if isinstance(e, SampleGrid)]
    assert [g.step for g in grids] == [0, 1, 2, 3, 6] and grids[-1].image.dtype == np.uint8  # 1, 2: early grids


def test_it_resumes_exactly(tmp_path):
    straight = [e.values["loss/d"] for e in train(tmp_path / "a") if isinstance(e, StepMetrics)]
    train(tmp_path / "b", steps=3)
    cfg = resume_config(tmp_path / "b", {"steps": 6})
    resumed = [e.values["loss/d"] for e in iter_train(cfg, tmp_path / "b", resume=True) if isinstance(e, StepMetrics)]
    assert resumed == straight[3:]


def test_its_signature_samples(tmp_path):
    train(tmp_path / "run")
    gen = load_generator(tmp_path / "run")
    x, _ = gen.sample(5, seed=1)
    assert x.shape == (5, 2) and torch.isfinite(x).all() and gen.kind == "points"


def test_an_option_it_does_not_have_fails_with_the_valid_names():
    with pytest.raises(ValueError, match="valid: .*fake_weight"):
        apply_overrides(TrainConfig(), {**TINY, "l1_weight": 3})

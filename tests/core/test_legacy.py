"""Checkpoints written before families (format 1, tests/data/v1) still sample, translate, export and resume."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ganstudio.core.events import RunFinished, StepMetrics
from ganstudio.core.inference import config_from_checkpoint, load_generator, load_translator
from ganstudio.core.train import iter_train, resume_config

V1 = Path(__file__).parents[1] / "data" / "v1"
REF = np.load(V1 / "reference.npz")


def test_a_format1_generator_samples_exactly_as_it_did():
    gen = load_generator(V1 / "cgan-mnist.pt")
    x, _ = gen.sample(10, seed=3)
    assert gen.num_classes == 10 and gen.classes[:2] == ("0", "1")
    np.testing.assert_array_equal(x.numpy(), REF["cgan-mnist"])  # the EMA weights, as the old loader used


@pytest.mark.parametrize("name,direction", [("pix2pix", "AtoB"), ("cyclegan", "AtoB"), ("cyclegan", "BtoA")])
def test_a_format1_translator_translates_exactly_as_it_did(name, direction):
    G, size, ch, names = load_translator(V1 / f"{name}.pt", direction)
    x = torch.rand(2, ch, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        np.testing.assert_array_equal(G(x).numpy(), REF[f"{name}-{direction}"])


def test_a_format1_config_reads_as_its_family():
    cfg, state = config_from_checkpoint(V1 / "cyclegan.pt")
    assert cfg.family == "cyclegan" and cfg.options.resnet_blocks == 1 and state["family"] == "cyclegan"
    cfg, _ = config_from_checkpoint(V1 / "cgan-mnist.pt")
    assert cfg.family == "gan" and cfg.options.model == "dcgan" and cfg.options.conditional and cfg.ema == 0.999


@pytest.mark.parametrize("name", ["cgan-mnist", "pix2pix", "cyclegan"])
def test_a_format1_run_resumes(tmp_path, name):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.pt").write_bytes((V1 / f"{name}.pt").read_bytes())
    (run / "config.toml").write_text("")
    cfg = resume_config(run, {"steps": 5, "threads": 1})
    events = list(iter_train(cfg, run, resume=True))
    steps = [e.step for e in events if isinstance(e, StepMetrics)]
    assert steps == [4, 5] and events[-1] == RunFinished(step=5, reason="completed", checkpoint=str(run / "checkpoints/latest.pt"))
    assert all(np.isfinite(v) for e in events if isinstance(e, StepMetrics) for v in e.values.values())

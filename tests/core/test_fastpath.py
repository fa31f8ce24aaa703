"""GPU fast paths (mixed precision, channels-last) take the same code paths on the CPU: bf16 autocast
trains, penalties stay in 32 bits, fp16 is refused without CUDA, and defaults are off on the CPU."""

import pytest
import torch

from ganstudio.core.config import PRESETS, ConfigError, apply_overrides
from ganstudio.core.events import RunFinished, StepMetrics
from ganstudio.core.fastpath import resolve
from ganstudio.core.train import iter_train

FAST = {"steps": 4, "batch_size": 8, "log_every": 1, "sample_every": 100, "checkpoint_every": 100, "threads": 1,
        "sample_count": 16}


def train(tmp_path, preset, **over):
    cfg = apply_overrides(PRESETS.get(preset).config(), {**FAST, **over})
    events = list(iter_train(cfg, tmp_path / preset))
    return [e for e in events if isinstance(e, StepMetrics)], next(e for e in events if isinstance(e, RunFinished))


def test_defaults_are_plain_fp32_on_the_cpu():
    cfg = PRESETS.get("dcgan-mnist").config()
    fp = resolve(cfg, torch.device("cpu"), [], image=True)
    assert fp.amp == "off" and not fp.channels_last and not fp.pin_memory and not fp.scalers


@pytest.mark.parametrize("preset", ["dcgan-mnist", "wgan-gp-fashion", "pix2pix-edges2fashion"])
def test_bf16_autocast_and_channels_last_train_on_the_cpu(tmp_path, preset):
    metrics, done = train(tmp_path, preset, amp="bf16", channels_last="on")
    assert done.reason == "completed" and done.step == 4
    for m in metrics:
        assert all(v == v and abs(v) != float("inf") for k, v in m.values.items() if k.startswith("loss/")), m.values
    if preset == "wgan-gp-fashion":
        assert metrics[-1].values["loss/gp"] > 0  # computed, in fp32


def test_bf16_run_resumes_with_amp_switched_off(tmp_path):
    from ganstudio.core.train import resume_config

    train(tmp_path, "dcgan-mnist", amp="bf16")
    cfg = resume_config(tmp_path / "dcgan-mnist", {"steps": 6, "amp": "off"})
    done = [e for e in iter_train(cfg, tmp_path / "dcgan-mnist", resume=True) if isinstance(e, RunFinished)][0]
    assert done.step == 6


def test_fp16_without_cuda_is_a_clear_config_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train(tmp_path, "dcgan-mnist", amp="fp16")
    assert not (tmp_path / "dcgan-mnist").exists()  # nothing written


def test_channels_last_converts_the_models():
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {"channels_last": "on"})
    conv = torch.nn.Conv2d(3, 8, 3)
    fp = resolve(cfg, torch.device("cpu"), [conv], image=True)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert fp.images(torch.zeros(2, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)

"""A diverged run never leaves a non-finite checkpoint as its last good one, and a NaN model that does
reach the tools (an old or edited file) is refused by sample, eval and export with one line."""

import glob

import pytest
import torch

from ganstudio import cli
from ganstudio.core.checkpoint import load_checkpoint, nonfinite_tensors, save_checkpoint
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.events import Control, HealthWarning, Paused, RunFinished
from ganstudio.core.export import ExportError, Exportable, _parity
from ganstudio.core.train import iter_train


def test_nonfinite_tensors_names_every_bad_tensor_in_a_nested_state():
    state = {"nets": {"G": {"w": torch.ones(3), "b": torch.tensor([1.0, float("nan")])}},
             "opts": {"g": {0: {"exp_avg_sq": torch.tensor([float("inf")]), "step": torch.tensor(3.0)}}},
             "ids": torch.arange(4), "note": "text"}
    assert nonfinite_tensors(state) == ["nets/G/b", "opts/g/0/exp_avg_sq"]
    assert nonfinite_tensors({"w": torch.zeros(2)}) == []


def test_the_issue_reproduction_keeps_only_finite_checkpoints_and_says_the_run_ended(tmp_path, capsys):
    """lr 1e6: Adam's second moment overflows at step 1 while every loss is still finite, and G's
    weights become NaN a step before its loss does; neither state may be saved."""
    run = tmp_path / "run"
    code = cli.main(["train", "--preset", "dcgan-mnist", "--steps", "60", "--log-every", "1", "--checkpoint-every", "1",
                     "--set", "lr_d=1e6", "--set", "lr_g=1e6", "--threads", "2", "--run-dir", str(run)])
    err = capsys.readouterr().err
    assert code == 1
    files = glob.glob(str(run / "checkpoints/*.pt"))
    assert files
    for f in files:
        assert nonfinite_tensors(load_checkpoint(f)) == [], f
    assert "diverged" in err and "ends here" in err and "paused" not in err
    assert f"--resume {run}" in err  # how to continue, from the kept checkpoint


def test_a_studio_run_pauses_at_a_nonfinite_state_and_resume_rolls_back(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(),
                          {**tiny_overrides, "steps": 6, "checkpoint_every": 1, "lr_d": 1e6, "lr_g": 1e6})
    control = Control()
    seen = []
    for ev in iter_train(cfg, tmp_path / "run", control):
        seen.append(ev)
        if isinstance(ev, Paused) and ev.reason == "diverged":
            control.set(lr_d=2e-4, lr_g=2e-4)
            control.resume()
    warn = [e for e in seen if isinstance(e, HealthWarning) and e.kind == "nan"]
    assert warn and "paused" in warn[0].message and "optimiser" in warn[0].message
    fin = seen[-1]
    assert isinstance(fin, RunFinished) and fin.reason == "completed" and fin.step == 6
    for f in glob.glob(str(tmp_path / "run/checkpoints/*.pt")):
        assert nonfinite_tensors(load_checkpoint(f)) == [], f


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory):
    """A real dcgan-mnist checkpoint whose generator weights were then made NaN (as an old version could save)."""
    run = tmp_path_factory.mktemp("nan") / "run"
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), dict(steps=1, batch_size=8, log_every=1, sample_every=1000,
                                                                    checkpoint_every=1000, sample_count=16, threads=2))
    for _ in iter_train(cfg, run):
        pass
    path = run / "checkpoints/latest.pt"
    state = load_checkpoint(path)
    for weights in (state["nets"]["G"], *state["ema"].values()):
        for t in weights.values():
            if t.is_floating_point():
                t.fill_(float("nan"))
    save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format_version", "kind")})
    return path


@pytest.mark.parametrize("command", [
    ["sample", "{ck}", "-n", "4", "-o", "{out}/s.png"],
    ["eval", "{ck}", "--metrics", "fd", "-n", "64"],
    ["export", "{ck}", "-o", "{out}/g.pt"],
])
def test_tools_refuse_a_nan_generator_with_one_line(nan_checkpoint, tmp_path, capsys, command):
    args = [a.format(ck=nan_checkpoint, out=tmp_path) for a in command]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "NaN" in err and str(nan_checkpoint) in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_export_parity_refuses_nan_outputs_instead_of_reporting_zero_difference(tmp_path):
    class Nan(torch.nn.Module):
        def forward(self, z):
            return z * float("nan")

    path = tmp_path / "nan.pt"
    torch.jit.save(torch.jit.script(Nan()), str(path))
    ex = Exportable(Nan(), (torch.zeros(2, 4),), lambda n: (torch.zeros(n, 4),), ("z",), "x", {}, {}, {})
    with pytest.raises(ExportError, match="NaN"):
        _parity(ex, "torchscript", path)

"""The training loop: presets run, runs are written, resume is exact, control works, divergence is caught."""

import json
import threading
import tomllib
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.checkpoint import RunDirError, load_checkpoint
from ganstudio.core.config import PRESETS, ConfigError, apply_overrides
from ganstudio.core.events import (
    CheckpointSaved,
    Resumed,
    Control,
    HealthWarning,
    Paused,
    RunFinished,
    RunStarted,
    SampleGrid,
    SettingsChanged,
    StepMetrics,
)
from ganstudio.core.train import iter_train

REQUIRED = ("loss/d", "loss/g", "d/real", "d/fake", "grad_norm/d", "grad_norm/g", "img_per_s")


def run_all(cfg, run_dir, control=None, **kw):
    return list(iter_train(cfg, run_dir, control, **kw))


@pytest.mark.parametrize("every_preset", PRESETS.names())
def test_every_preset_trains_three_steps(every_preset, tmp_path, tiny_overrides):
    name = every_preset
    cfg = apply_overrides(PRESETS.get(name).config(), {**tiny_overrides, "steps": 3, "sample_every": 3})
    events = run_all(cfg, tmp_path / "run")
    metrics = [e for e in events if isinstance(e, StepMetrics)]
    assert [m.step for m in metrics] == [1, 2, 3]
    from ganstudio.core.families import FAMILIES

    has_d = any(g.name == "d" for g in FAMILIES.get(cfg.family).groups(cfg))  # a PSNR-only SR model has no D
    required = REQUIRED if has_d else ("loss/g", "grad_norm/g", "img_per_s")
    for m in metrics:
        for key in required:
            assert np.isfinite(m.values[key]), (name, key)
        # per-layer gradient norms are reported for every network trained
        assert any(k.startswith("grad_norm/d/") for k in m.values) == has_d
        assert any(k.startswith("grad_norm/g/") for k in m.values)
    grids = [e for e in events if isinstance(e, SampleGrid)]
    assert [g.step for g in grids] == [0, 1, 2, 3]  # every sample_every, and at 1, 2, 5, 10, ... before the first
    assert grids[-1].image.dtype == np.uint8 and grids[-1].image.shape[2] == 3
    assert events[-1] == RunFinished(step=3, reason="completed", checkpoint=str(tmp_path / "run/checkpoints/latest.pt"))
    assert load_checkpoint(tmp_path / "run/checkpoints/latest.pt")["step"] == 3


def test_sample_schedule_is_dense_early_and_changes_nothing_in_training(tmp_path, tiny_overrides):
    from ganstudio.core.train import sample_due

    assert [s for s in range(1, 1001) if sample_due(s, 200)] == [1, 2, 5, 10, 20, 50, 100, 200, 400, 600, 800, 1000]
    # drawing a grid uses no random numbers: a run sampled at every step trains exactly as one never sampled
    nets = []
    for every in (1, 10**6):
        cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**tiny_overrides, "steps": 4, "sample_every": every})
        run_all(cfg, tmp_path / f"run{every}")
        nets.append(load_checkpoint(tmp_path / f"run{every}/checkpoints/latest.pt")["nets"]["G"])
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])


def test_run_directory_layout(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**tiny_overrides, "steps": 6, "sample_every": 3, "checkpoint_every": 3, "log_every": 2})
    run = tmp_path / "run"
    events = run_all(cfg, run)
    saved = tomllib.loads((run / "config.toml").read_text())
    assert saved["optim"]["batch_size"] == 16 and saved["gan"]["model"] == "dcgan-tf" and saved["model"]["family"] == "gan"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert all(k in records[0] for k in REQUIRED)
    # every sample_every (3), and at steps 1 and 2 before the first of those
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_0000000{s}.png" for s in (0, 1, 2, 3, 6)]
    grid = np.asarray(Image.open(run / "samples/step_00000006.png"))
    assert grid.shape == (2 + 4 * 30, 2 + 4 * 30, 3)  # 16 samples of 28 px, 4×4 with 2 px gaps
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.pt", "step_00000003.pt", "step_00000006.pt"]
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [0, 3, 6]  # a step-0 checkpoint too
    ck = load_checkpoint(run / "checkpoints/step_00000003.pt")
    assert ck["step"] == 3 and ck["family"] == "gan" and {"nets", "opts", "rng", "fixed", "config_toml", "meta"} <= set(ck)
    assert set(ck["nets"]) == {"G", "D"} and set(ck["opts"]) == {"g", "d"} and "z" in ck["fixed"]


def _losses(events, start):
    return {e.step: (e.values["loss/d"], e.values["loss/g"]) for e in events if isinstance(e, StepMetrics) and e.step > start}


@pytest.mark.parametrize(
    "preset,extra",
    [
        ("dcgan-mnist", {}),  # dropout in D: the global RNG state must be restored
        ("ring8", {"ema": 0.99, "instance_noise": 0.1, "label_smoothing": 0.1, "lr_decay": True}),
        ("wgan-gp-fashion", {"diffaugment": "translation,cutout", "n_critic": 2}),
        ("cgan-fashion", {"mode_seeking": 1.0}),  # aux classifier, DiffAugment, EMA, paired classes
        ("pix2pix-edges2fashion", {"batch_size": 4, "jitter": 2, "mirror": True}),  # U-Net dropout, jitter
        ("cyclegan-horse2zebra", {"batch_size": 2, "pool_size": 4, "resnet_blocks": 2, "jitter": 1, "mirror": True}),  # two samplers, image pools
    ],
)
def test_resume_is_exact(preset, extra, tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get(preset).config(), {**tiny_overrides, **extra, "steps": 40})
    straight = run_all(cfg, tmp_path / "straight")
    # stop after step 20 (as a user would), then resume to 40: schedules tied to the total stay the same
    control = Control()
    for ev in iter_train(cfg, tmp_path / "split", control):
        if isinstance(ev, StepMetrics) and ev.step == 20:
            control.stop()
    assert ev.reason == "stopped" and ev.step == 20
    resumed = run_all(cfg, tmp_path / "split", resume=True)
    assert isinstance(resumed[0], RunStarted) and resumed[0].resumed and resumed[0].step == 20
    a, b = _losses(straight, 20), _losses(resumed, 20)
    assert sorted(a) == list(range(21, 41))
    assert a == b
    # the resumed run's metrics file reads as one run: steps 1..40 once each
    steps = [json.loads(line)["step"] for line in (tmp_path / "split/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41))


def test_existing_run_is_never_overwritten(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 2})
    run_all(cfg, tmp_path / "run")
    before = (tmp_path / "run/checkpoints/latest.pt").read_bytes()
    with pytest.raises(RunDirError, match="already holds a run"):
        run_all(cfg, tmp_path / "run")
    assert (tmp_path / "run/checkpoints/latest.pt").read_bytes() == before


def test_bad_dataset_leaves_nothing_behind(tmp_path, tiny_overrides):
    from ganstudio.core.data import DataError

    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**tiny_overrides, "dataset": str(tmp_path / "nope")})
    with pytest.raises(DataError):
        run_all(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resume_refuses_a_model_change(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 2})
    run_all(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="g_width"):
        run_all(apply_overrides(cfg, {"g_width": 32, "steps": 4}), tmp_path / "run", resume=True)


def test_pause_step_live_lr_and_stop_from_another_thread(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 100_000})
    control = Control()
    seen = []
    gen = iter_train(cfg, tmp_path / "run", control)
    for ev in gen:
        seen.append(ev)
        if isinstance(ev, StepMetrics) and ev.step == 5:
            control.pause()
        if isinstance(ev, Paused) and ev.step == 5:
            # another thread grants one step and changes the learning rate while we are paused
            threading.Timer(0.05, lambda: (control.set(lr_d=1e-5), control.step())).start()
        if isinstance(ev, Paused) and ev.step == 6:
            threading.Timer(0.05, control.stop).start()
    steps = [e.step for e in seen if isinstance(e, StepMetrics)]
    assert steps == [1, 2, 3, 4, 5, 6]  # exactly one step while paused
    changed = [e for e in seen if isinstance(e, SettingsChanged)]
    assert changed and changed[0].changes == {"lr_d": 1e-5}
    assert [e for e in seen if isinstance(e, StepMetrics)][-1].values["lr/d"] == pytest.approx(1e-5)
    fin = seen[-1]
    assert isinstance(fin, RunFinished) and fin.reason == "stopped" and fin.step == 6
    ck = load_checkpoint(fin.checkpoint)
    assert ck["step"] == 6
    assert "lr_d = 1e-05" in ck["config_toml"]


def test_divergence_pauses_and_keeps_the_last_good_checkpoint(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 1000, "checkpoint_every": 4})
    control = Control()
    seen = []
    for ev in iter_train(cfg, tmp_path / "run", control):
        seen.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.step == 4:
            control.set(lr_d=1e38, lr_g=1e38)  # blows the weights up
        if isinstance(ev, Paused) and ev.reason == "diverged":
            control.stop()
    warn = [e for e in seen if isinstance(e, HealthWarning) and e.kind == "nan"]
    assert warn and "diverged" in warn[0].message and "latest.pt" in warn[0].message
    fin = seen[-1]
    assert fin.reason == "diverged"
    good = load_checkpoint(tmp_path / "run/checkpoints/latest.pt")
    assert good["step"] == 4
    assert all(torch.isfinite(v).all() for v in good["nets"]["G"].values() if v.is_floating_point())


def test_resume_after_divergence_rolls_back_and_continues(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 12, "checkpoint_every": 4})
    control = Control()
    seen = []
    for ev in iter_train(cfg, tmp_path / "run", control):
        seen.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.step == 4 and not any(isinstance(e, Paused) for e in seen):
            control.set(lr_d=1e38, lr_g=1e38)
        if isinstance(ev, Paused) and ev.reason == "diverged":
            control.set(lr_d=1e-4, lr_g=1e-4)  # the user lowers the rates and resumes
            control.resume()
    fin = seen[-1]
    assert fin.reason == "completed" and fin.step == 12
    last = [e for e in seen if isinstance(e, StepMetrics)][-1]
    assert np.isfinite(last.values["loss/d"])
    assert [e.step for e in seen if isinstance(e, Resumed)] == [4]  # rolled back to the good checkpoint
    steps = [json.loads(line)["step"] for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))  # the diverged records are gone, the new ones written


def test_a_save_request_or_close_after_divergence_never_overwrites_the_good_checkpoint(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 1000, "checkpoint_every": 4})
    control = Control()
    gen = iter_train(cfg, tmp_path / "run", control)
    for ev in gen:
        if isinstance(ev, CheckpointSaved) and ev.step == 4:
            control.set(lr_d=1e38, lr_g=1e38)
        if isinstance(ev, HealthWarning) and ev.kind == "nan":
            control.save_checkpoint()  # the user presses Save on a diverged run...
        if isinstance(ev, Paused) and ev.reason == "diverged":
            break  # ...then closes the window
    gen.close()
    good = load_checkpoint(tmp_path / "run/checkpoints/latest.pt")
    assert good["step"] == 4
    assert all(torch.isfinite(v).all() for v in good["nets"]["G"].values() if v.is_floating_point())
    assert not (tmp_path / "run/checkpoints/step_00000005.pt").exists()


def test_two_trainers_of_one_run_are_refused(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 100_000})
    first = iter_train(cfg, tmp_path / "run", Control())
    while not isinstance(next(first), CheckpointSaved):  # locked since RunStarted; step-0 checkpoint written
        pass
    with pytest.raises(RunDirError, match="being trained by process"):
        run_all(replace(cfg, steps=3), tmp_path / "run", resume=True)
    first.close()
    assert load_checkpoint(tmp_path / "run/checkpoints/latest.pt")["step"] == 0


def test_stop_mid_step_undoes_the_step_and_resume_stays_exact(tmp_path, tiny_overrides, monkeypatch):
    from ganstudio.core import loop as T

    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**tiny_overrides, "batch_size": 64, "steps": 12, "checkpoint_every": 5})
    straight = run_all(cfg, tmp_path / "straight")
    # Stop arrives while step 6 is running, after its first D gradient: the abort poll answers yes then.
    real_step = T.Session.train_step

    def stop_during_step_6(self, log, abort=None):
        if self.step == 5:
            return real_step(self, log, abort=lambda: True)
        return real_step(self, log, abort)

    monkeypatch.setattr(T.Session, "train_step", stop_during_step_6)
    events = run_all(cfg, tmp_path / "split")
    monkeypatch.undo()
    assert events[-1].reason == "stopped" and events[-1].step == 5
    stopped = load_checkpoint(tmp_path / "split/checkpoints/latest.pt")
    reference = load_checkpoint(tmp_path / "straight/checkpoints/step_00000005.pt")
    for net in ("G", "D"):  # weights and BatchNorm statistics exactly as after step 5
        for k, v in reference["nets"][net].items():
            assert torch.equal(stopped["nets"][net][k], v), (net, k)
    assert torch.equal(stopped["rng"]["torch"], reference["rng"]["torch"])
    resumed = run_all(cfg, tmp_path / "split", resume=True)
    a, b = _losses(straight, 5), _losses(resumed, 5)
    assert a == b and sorted(a) == list(range(6, 13))


def test_save_checkpoint_on_request_while_paused(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("ring8").config(), {**tiny_overrides, "steps": 100_000})
    control = Control()
    saved = []
    for ev in iter_train(cfg, tmp_path / "run", control):
        if isinstance(ev, StepMetrics) and ev.step == 3:
            control.pause()
        if isinstance(ev, Paused) and not saved:
            control.save_checkpoint()  # pressed while paused: written without another step
        if isinstance(ev, CheckpointSaved) and ev.step > 0:  # (step 0 is the run's first checkpoint)
            saved.append(ev)
            control.stop()
    assert [e.step for e in saved][:1] == [3]
    assert load_checkpoint(tmp_path / "run/checkpoints/step_00000003.pt")["step"] == 3


def test_sample_grid_uses_batch_statistics_and_leaves_running_stats_alone(tmp_path, tiny_overrides):
    from ganstudio.core.data import load_dataset
    from ganstudio.core.loop import Session

    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**tiny_overrides, "steps": 3})
    tr = Session(cfg, load_dataset("mnist"), torch.device("cpu"))
    for _ in range(2):
        tr.train_step(False)
    G = tr.nets["G"]
    before = {k: v.clone() for k, v in G.state_dict().items()}
    x = tr.preview().samples
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # nothing tracked
    assert G.training  # back in training mode
    # normalised per batch: the grid's samples share the fixed batch's statistics, not the lagging averages
    G.eval()
    with torch.no_grad():
        lagging = G(tr.family.fixed_z)
    assert not torch.allclose(x, lagging)


def test_health_warnings_are_written_to_the_run_for_followers(tmp_path):
    """A warning raised while training lands in RUN/health.jsonl; a resume drops those past its checkpoint."""
    from ganstudio.core.checkpoint import RunDir
    from ganstudio.core.config import PRESETS, apply_overrides
    from ganstudio.core.events import HealthWarning

    cfg = apply_overrides(PRESETS.get("ring8").config(), {"steps": 30, "log_every": 1, "sample_every": 1000,
                                                          "threads": 1, "lr_g": 1e9, "lr_d": 1e9})
    control = Control()
    warnings = []
    for ev in iter_train(cfg, tmp_path / "r", control):
        if isinstance(ev, HealthWarning):
            warnings.append(ev)
            control.stop()
    assert warnings, "an lr of 1e9 should raise a health warning"
    lines = [json.loads(x) for x in (tmp_path / "r" / "health.jsonl").read_text().splitlines()]
    assert [(r["step"], r["kind"]) for r in lines] == [(w.step, w.kind) for w in warnings if w.kind != "settings"]
    RunDir(tmp_path / "r").truncate_metrics_after(-1)
    assert (tmp_path / "r" / "health.jsonl").read_text() == ""


def test_auxiliary_classifier_learns_to_name_real_classes(tmp_path):
    """AC-GAN: D's class head, trained on real images only, comes to name the classes of held-back
    real digits, and G's loss carries the term that asks D to name the class G was given."""
    from ganstudio.core.data import load_dataset
    from ganstudio.core.models import ModelSpec, build_models

    cfg = apply_overrides(PRESETS.get("cgan-mnist").config(),
                          dict(aux_weight=1.0, steps=60, batch_size=32, log_every=10, sample_every=1000,
                               checkpoint_every=1000, threads=2, ema=0.0))
    events = run_all(cfg, tmp_path / "run")
    logs = [e.values for e in events if isinstance(e, StepMetrics)]
    assert "loss/aux_d" in logs[-1] and "loss/aux_g" in logs[-1]
    assert logs[-1]["loss/aux_d"] < 0.75 * logs[0]["loss/aux_d"]  # from ~ln 10 = 2.3 towards 0
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    spec = ModelSpec(**state["meta"]["spec"])
    assert spec.aux_classifier
    _, D = build_models(state["meta"]["model"], spec)
    D.load_state_dict(state["nets"]["D"])
    D.eval()
    data = load_dataset("mnist")
    x, y = data.x[-500:], data.labels[-500:]
    with torch.no_grad():
        _, cls = D(x, y, classify=True)
    assert float((cls.argmax(1) == y).float().mean()) > 0.3  # chance is 0.1; ~0.5 after 60 steps


def test_auxiliary_classifier_needs_a_conditional_model(tmp_path, tiny_overrides):
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), tiny_overrides)
    from ganstudio.core.config import validate

    with pytest.raises(ConfigError, match="aux_weight"):
        validate(apply_overrides(cfg, {"aux_weight": 1.0}))


def test_mode_seeking_loss_is_the_inverse_distance_ratio():
    from ganstudio.core.families.gan import mode_seeking_loss

    a, b = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)
    za, zb = torch.zeros(2, 3), torch.full((2, 3), 2.0)
    # mean |a - b| = 0.5, mean |za - zb| = 2: ratio 0.25, loss 4
    assert float(mode_seeking_loss(a, b, za, zb)) == pytest.approx(4.0, rel=1e-4)


def test_mode_seeking_spreads_the_samples_of_each_class(tmp_path):
    """MSGAN: with the same seed and budget, G's samples of one class differ more from each other."""
    from ganstudio.core.models import ModelSpec, build_models

    def spread(weight):
        cfg = apply_overrides(PRESETS.get("cgan-mnist").config(),
                              dict(mode_seeking=weight, steps=60, batch_size=32, log_every=10, sample_every=1000,
                                   checkpoint_every=1000, threads=1, ema=0.0))
        events = run_all(cfg, tmp_path / f"run{weight}")
        if weight:
            assert "loss/mode_seeking" in [e for e in events if isinstance(e, StepMetrics)][-1].values
        state = load_checkpoint(tmp_path / f"run{weight}" / "checkpoints" / "latest.pt")
        G, _ = build_models(state["meta"]["model"], ModelSpec(**state["meta"]["spec"]))
        G.load_state_dict(state["nets"]["G"])
        G.eval()
        z = torch.randn(200, cfg.options.z_dim, generator=torch.Generator().manual_seed(5))
        y = torch.arange(200) % 10
        with torch.no_grad():
            x = G(z, y)
        return float(sum(x[y == c].std(0).mean() for c in range(10)) / 10)

    plain, seeking = spread(0.0), spread(1.0)
    assert seeking > 1.2 * plain  # measured 0.18 against 0.13 (0.16 against 0.10 at seed 1)


def test_gradient_penalty_pairs_real_and_fake_of_one_class_under_mode_seeking(monkeypatch, tiny_overrides):
    """Mode seeking relabels half the fakes; a conditional critic's penalty must still interpolate
    a real and a fake of the same class and score the mix under that class."""
    import ganstudio.core.families.gan as train_mod
    from ganstudio.core.loop import Session
    from ganstudio.core.data import load_dataset

    data = load_dataset("mnist")
    cfg = apply_overrides(PRESETS.get("cgan-mnist").config(),
                          {**tiny_overrides, "threads": 1, "loss": "wgan-gp", "n_critic": 2, "gp_weight": 10.0,
                           "mode_seeking": 1.0, "ema": 0.0, "steps": 3})
    tr = Session(cfg, data, torch.device("cpu"))
    made = []
    tr.nets["G"].register_forward_hook(lambda m, args, out: made.append((args[1].clone(), out.detach().clone())))
    seen = []
    real_gp = train_mod.gradient_penalty

    def spy(D, real, fake, y=None):
        seen.append((real.clone(), fake.clone(), y.clone(), made[-1]))
        return real_gp(D, real, fake, y)

    monkeypatch.setattr(train_mod, "gradient_penalty", spy)
    tr.train_step(False)
    assert len(seen) == cfg.options.n_critic
    flat = data.x.flatten(1)
    for real, fake, y, (g_y, g_out) in seen:
        half = len(y) // 2
        assert torch.equal(y[:half], y[half:2 * half])  # the mode-seeking pairs share their class
        assert torch.equal(fake, g_out) and torch.equal(y, g_y)  # the fakes were made for these labels
        rows = torch.cdist(real.flatten(1), flat).argmin(1)
        assert torch.equal(data.labels[rows], y)  # and every real partner is of that class too


def test_default_threads_leave_a_busy_core_to_the_job_using_it():
    import os
    import subprocess
    import sys
    import time

    from ganstudio.core.data import load_dataset
    from ganstudio.core.train import auto_threads, usable_cores

    cores = len(usable_cores())
    if cores < 2 or not os.path.exists("/proc/stat"):
        pytest.skip("needs two cores and /proc/stat")
    data = load_dataset("ring8")
    assert auto_threads(data)[0] == 1  # 2-D points: one thread whatever the load
    images = load_dataset("mnist")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        n, why = auto_threads(images)
    finally:
        hog.kill()
        hog.wait()
    assert n == cores - 1 and "busy with other work" in why, (n, why)

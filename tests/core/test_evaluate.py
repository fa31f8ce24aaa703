"""Evaluating checkpoints: which metrics apply, their floors, TSTR, the user-data judge, RUN/eval.json."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.data import load_dataset
from ganstudio.core.evaluate import evaluate, parse_metrics, read_history, record
from ganstudio.core.evaluation import EvalError, Evaluation
from ganstudio.core.families import FAMILIES
from ganstudio.core.scoring import judge_for
from ganstudio.core.train import iter_train


def _train(preset, run, tiny_overrides, **over):
    cfg = apply_overrides(PRESETS.get(preset).config(), {**tiny_overrides, "steps": 2, **over})
    for _ in iter_train(cfg, run):
        pass
    return run / "checkpoints" / "latest.pt"


@pytest.fixture(scope="module")
def cgan_ckpt(tmp_path_factory):
    over = dict(batch_size=16, log_every=1, sample_every=1000, checkpoint_every=1000, sample_count=16, threads=2)
    return _train("cgan-mnist", tmp_path_factory.mktemp("ev") / "cgan", over)


def test_an_untrained_generator_scores_far_from_real_next_to_the_real_floor(cgan_ckpt):
    ev = evaluate(cgan_ckpt, n=300)
    v = ev.values
    assert ev.n == 300 and ev.step == 2 and "mnist classifier" in ev.judge
    # Two halves of real MNIST are close; two steps of training are not.
    assert v["fd_floor"] < 0.1 * v["fd"]
    assert v["kid_floor"] < v["kid"]
    assert v["is_real"] > 3 > v["is"] >= 1
    assert v["precision"] < 0.2 and v["coverage"] < 0.2
    assert v["diversity"] < v["diversity_real"]
    assert ev.unavailable == {"modes": "needs a set with known modes (ring8, grid25, stacked-mnist)"}
    assert set(ev.seconds) >= {"features", "fd", "kid", "is", "pr", "diversity"}


def test_tstr_trains_on_samples_and_tests_on_real(cgan_ckpt):
    ev = evaluate(cgan_ckpt, ("tstr",), n=100, tstr_samples=200)
    assert 0 <= ev.values["tstr"] <= 0.5  # two steps of training draw nothing a classifier can learn digits from
    assert 0 <= ev.values["tstr_augmented"] <= 0.5  # nor with augmentation
    assert ev.values["tstr_real"] >= 0.98  # the reference: the same recipe trained on real digits


def test_points_are_scored_by_modes_and_feature_metrics_say_why_not(tmp_path, tiny_overrides):
    ckpt = _train("ring8", tmp_path / "ring", tiny_overrides)
    ev = evaluate(ckpt, ("modes", "fd", "tstr"))
    assert ev.values["n_modes"] == 8 and 0 <= ev.values["modes"] <= 8 and ev.n == 2500
    assert "no image features" in ev.unavailable["fd"] and "no image features" in ev.unavailable["tstr"]


def test_tstr_needs_a_conditional_model(tmp_path, tiny_overrides):
    ckpt = _train("dcgan-mnist", tmp_path / "dc", tiny_overrides)
    ev = evaluate(ckpt, ("tstr",), n=50)
    assert "conditional" in ev.unavailable["tstr"]


def test_user_data_without_labels_gets_label_free_features_trained_once_and_cached(tmp_path, monkeypatch):
    from ganstudio.core import features

    monkeypatch.setattr(features, "STEPS", 5)
    folder = tmp_path / "flat"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    data = load_dataset(str(folder))
    fx, why = judge_for(data, tmp_path)
    assert isinstance(fx, features.FeatureExtractor) and "label-free" in why
    assert fx.features(data.x).shape == (12, features.FEATURES)
    stamp = (tmp_path / "features.pt").stat().st_mtime_ns
    again, _ = judge_for(data, tmp_path)
    assert (tmp_path / "features.pt").stat().st_mtime_ns == stamp  # reused, not retrained
    assert torch.equal(again.features(data.x), fx.features(data.x))
    # without label-free features (TSTR wants a classifier) it says why there is no judge
    none, why = judge_for(data, label_free=False)
    assert none is None and "no labels" in why


def test_user_data_with_labels_gets_a_classifier_trained_once_and_cached(tmp_path):
    folder = tmp_path / "shapes"
    for cls, draw in (("bright", 230), ("dark", 40)):
        (folder / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(np.full((16, 16), draw + i, np.uint8)).save(folder / cls / f"{i}.png")
    data = load_dataset(str(folder))
    clf, why = judge_for(data, tmp_path)
    assert clf is not None and "trained on this dataset's labels" in why
    assert (tmp_path / "classifier.pt").is_file()
    stamp = (tmp_path / "classifier.pt").stat().st_mtime_ns
    again, _ = judge_for(data, tmp_path)
    assert (tmp_path / "classifier.pt").stat().st_mtime_ns == stamp  # reused, not retrained
    assert torch.equal(again.logits(data.x), clf.logits(data.x))


def test_metric_names_are_the_familys_own():
    gan, cyclegan = FAMILIES.get("gan"), FAMILIES.get("cyclegan")
    assert parse_metrics("fd, KID", gan) == ("fd", "kid")
    assert "tstr" in parse_metrics("all", gan) and "tstr" not in parse_metrics("", gan)  # TSTR only when asked for
    with pytest.raises(EvalError, match="unknown metric fid for a gan model; choose from fd, kid"):
        parse_metrics("fid", gan)
    assert parse_metrics("", cyclegan) == ("cycle", "classes")
    with pytest.raises(EvalError, match="unknown metric fd for a cyclegan model; choose from cycle, classes or all"):
        parse_metrics("fd", cyclegan)


def test_every_family_declares_scores_for_what_it_evaluates():
    for name in FAMILIES:
        fam = FAMILIES.get(name)
        keys = {s.key for s in fam.scores}
        assert set(fam.default_metrics) <= set(fam.metrics), name
        assert not fam.best_by or fam.best_by in keys, name
        assert all(s.fmt.format(0.5) and s.label for s in fam.scores), name


def test_eval_json_keeps_every_step_and_replaces_a_repeat(cgan_ckpt, tmp_path):
    for step, fd in ((200, 9.0), (100, 12.0), (200, 8.0)):
        record(tmp_path, Evaluation(checkpoint="x.pt", step=step, n=50, values={"fd": fd}))
    hist = read_history(tmp_path)
    assert [(h["step"], h["values"]["fd"]) for h in hist] == [(100, 12.0), (200, 8.0)]
    assert json.loads((tmp_path / "eval.json").read_text())["evaluations"] == hist
    (tmp_path / "eval.json").write_text("{broken")
    assert read_history(tmp_path) == []


def test_training_with_eval_every_scores_in_the_background_and_keeps_the_best(tmp_path, tiny_overrides):
    from ganstudio.core.events import Evaluated, RunFinished

    cfg = apply_overrides(PRESETS.get("cgan-mnist").config(),
                          {**tiny_overrides, "steps": 4, "eval_every": 2, "keep_best": True})
    events = list(iter_train(cfg, tmp_path / "run"))
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert isinstance(events[-1], RunFinished)
    assert [e.step for e in evals] == [2, 4] and not any(e.error for e in evals)
    assert all(e.values["fd"] > e.values["fd_floor"] for e in evals)
    best = min(evals, key=lambda e: e.values["fd"])
    assert [e.best for e in evals].count(True) >= 1 and best.best
    ckpts = tmp_path / "run" / "checkpoints"
    assert (ckpts / "step_00000002.pt").is_file()  # eval steps keep their checkpoint
    from ganstudio.core.checkpoint import load_checkpoint

    assert load_checkpoint(ckpts / "best.pt")["step"] == best.step  # best.pt is the lowest-FD checkpoint


def test_a_collapsed_generator_is_warned_about_at_the_first_evaluation(tmp_path, tiny_overrides):
    from ganstudio.core.events import Evaluated, HealthWarning
    from ganstudio.core.health import HealthMonitor

    # two steps of training: every sample is the same grey blob, whatever its noise
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**tiny_overrides, "steps": 2, "eval_every": 2})
    events = list(iter_train(cfg, tmp_path / "run"))
    first = next(i for i, e in enumerate(events) if isinstance(e, Evaluated))
    after = events[first + 1]
    assert isinstance(after, HealthWarning) and after.kind == "mode_collapse" and "cover" in after.message
    # a healthy evaluation (real images against real images) raises nothing
    monitor = HealthMonitor(cfg, "prob", None)
    assert monitor.check_evaluation(10, {"diversity": 9.0, "diversity_real": 10.0, "coverage": 0.9}) is None
    assert monitor.check_evaluation(20, {"diversity": 1.0, "diversity_real": 10.0, "coverage": 0.9}) is not None

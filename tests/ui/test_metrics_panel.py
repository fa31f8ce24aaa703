"""The Metrics view: evaluations from RUN/eval.json over steps, Evaluate now, and live evaluation while training."""

import json

import pytest

from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.train import iter_train
from ganstudio.ui.metrics_panel import MetricsPanel


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("mp") / "run"
    cfg = apply_overrides(PRESETS.get("cgan-mnist").config(),
                          {"steps": 3, "batch_size": 16, "threads": 2, "log_every": 1, "sample_every": 1000})
    for _ in iter_train(cfg, run):
        pass
    return run


def _history(run, rows):
    evs = [{"checkpoint": f"step_{s}.pt", "step": s, "n": 1000, "values": {"fd": fd, "fd_floor": 0.5, "precision": p},
            "unavailable": {}, "judge": "", "seconds": {"features": 2.0, "fd": 0.5}} for s, fd, p in rows]
    (run / "eval.json").write_text(json.dumps({"evaluations": evs}))


def test_plots_fd_over_steps_with_the_real_floor_and_the_best_step(qtbot, tmp_path):
    _history(tmp_path, [(100, 40.0, 0.2), (200, 12.0, 0.6), (300, 15.0, 0.7)])
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.follow(tmp_path)
    x, y = panel.line.getData()
    assert list(x) == [100, 200, 300] and list(y) == [40.0, 12.0, 15.0]
    assert list(panel.floor.getData()[1]) == [0.5, 0.5, 0.5]
    assert list(panel.best.getData()[0]) == [200]  # lowest FD
    assert "step 300" in panel.summary.text() and "Best Fréchet distance: step 200" in panel.summary.text()
    assert "2.5 s" in panel.summary.text()  # the cost of the last evaluation
    panel.metric_combo.setCurrentIndex(panel.metric_combo.findData("precision"))
    assert list(panel.best.getData()[0]) == [300]  # higher precision is better
    # Another process adds an evaluation: the panel picks it up on its next poll.
    _history(tmp_path, [(100, 40.0, 0.2), (200, 12.0, 0.6), (300, 15.0, 0.7), (400, 9.0, 0.8)])
    panel.metric_combo.setCurrentIndex(panel.metric_combo.findData("fd"))
    qtbot.waitUntil(lambda: list(panel.line.getData()[0]) == [100, 200, 300, 400], timeout=5000)
    panel.shutdown()


def test_evaluate_now_scores_the_latest_checkpoint_in_the_background(qtbot, cgan_run):
    panel = MetricsPanel(interval_ms=200)
    qtbot.addWidget(panel)
    panel.follow(cgan_run)
    assert panel.eval_button.isEnabled()
    panel.eval_button.click()
    assert panel.eval_button.text() == "Evaluating…"
    qtbot.waitUntil(lambda: panel.eval_button.text() == "Evaluate now", timeout=90_000)
    saved = json.loads((cgan_run / "eval.json").read_text())["evaluations"]
    assert saved[-1]["step"] == 3 and "fd" in saved[-1]["values"]
    assert list(panel.line.getData()[0]) == [3]
    panel.shutdown()


def test_a_run_without_checkpoint_says_so(qtbot, tmp_path):
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.follow(tmp_path)
    with qtbot.waitSignal(panel.evaluation_failed) as sig:
        panel.eval_button.click()
    assert "no checkpoint" in sig.args[0]
    panel.shutdown()

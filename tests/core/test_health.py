"""Health checks: each problem is reported once, with advice, only when it persists."""

import torch

from ganstudio.core.config import TrainConfig
from ganstudio.core.health import PERSIST, HealthMonitor, spread


def monitor(steps=1000):
    real = torch.randn(64, 1, 8, 8)
    return HealthMonitor(TrainConfig(steps=steps), "prob", real)


def test_d_overpowering_is_reported_once_after_it_persists():
    m = monitor()
    winning = {"d/real": 0.999, "d/fake": 0.001, "grad_norm/g": 1.0}
    reports = [m.check_metrics(step, winning) for step in range(1, 3 * PERSIST)]
    kinds = [w.kind for ws in reports for w in ws]
    assert kinds == ["d_overpowering"]
    assert reports.index([w for w in reports if w][0]) == PERSIST - 1
    first = [w for ws in reports for w in ws][0]
    assert "lr_d" in first.advice and "D(x) = 0.999" in first.message
    # it clears, then returns: reported again
    m.check_metrics(100, {"d/real": 0.6, "d/fake": 0.4, "grad_norm/g": 1.0})
    again = [m.check_metrics(200 + s, winning) for s in range(PERSIST)]
    assert sum(len(ws) for ws in again) == 1


def test_balanced_training_reports_nothing():
    m = monitor()
    for step in range(50):
        assert m.check_metrics(step, {"d/real": 0.7, "d/fake": 0.3, "grad_norm/g": 0.5 + 0.01 * step}) == []


def test_vanishing_generator_gradient():
    m = monitor()
    out = []
    for step in range(PERSIST):
        out += m.check_metrics(step, {"d/real": 0.7, "d/fake": 0.3, "grad_norm/g": 2.0})
    for step in range(PERSIST, 3 * PERSIST):
        out += m.check_metrics(step, {"d/real": 0.7, "d/fake": 0.3, "grad_norm/g": 1e-6})
    assert [w.kind for w in out] == ["vanishing_g_grad"]
    assert "non-saturating" in out[0].advice


def test_mode_collapse_hint_on_identical_samples_after_warmup():
    m = monitor(steps=1000)
    collapsed = torch.zeros(64, 1, 8, 8) + 0.3
    assert m.check_samples(50, collapsed) is None  # too early to judge
    w = m.check_samples(400, collapsed)
    assert w is not None and w.kind == "mode_collapse" and "0%" in w.message
    assert m.check_samples(400, torch.randn(64, 1, 8, 8)) is None


def test_spread_is_mean_pairwise_distance():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert abs(spread(x) - 5.0) < 1e-9

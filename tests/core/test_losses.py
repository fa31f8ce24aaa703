"""GAN losses on hand-made logits, the gradient penalties on Ds with known gradients, and clipping."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.losses import LOSSES, Loss, clip_weights, gradient_penalty, r1_penalty
from ganstudio.core.registry import UnknownNameError

LOG2 = math.log(2.0)


def t(*v):
    return torch.tensor(v, dtype=torch.float32)


def close(a, b):
    return math.isclose(float(torch.as_tensor(a).detach()), float(b), rel_tol=1e-5, abs_tol=1e-6)


def test_registry_and_flags():
    assert LOSSES.names() == ["minimax", "ns", "lsgan", "hinge", "wgan", "wgan-gp", "r1", "rpgan-r1r2"]
    flags = {n: (l.output, l.penalty, l.clip, l.supports_label_smoothing) for n, l in LOSSES.items()}
    assert flags == {
        "minimax": ("prob", None, False, True),
        "ns": ("prob", None, False, True),
        "lsgan": ("critic", None, False, True),
        "hinge": ("critic", None, False, False),
        "wgan": ("critic", None, True, False),
        "wgan-gp": ("critic", "gp", False, False),
        "r1": ("prob", "r1", False, True),
        "rpgan-r1r2": ("critic", "r1r2", False, False),
    }
    assert [n for n, l in LOSSES.items() if l.relativistic] == ["rpgan-r1r2"]
    assert all(isinstance(l, Loss) and l.name == n and l.why.endswith(".") for n, l in LOSSES.items())
    with pytest.raises(UnknownNameError, match="valid: minimax, ns"):
        LOSSES.get("relativistic")


def test_ns_and_minimax_at_zero_logits():
    ns, mm = LOSSES.get("ns"), LOSSES.get("minimax")
    assert close(ns.d_loss(t(0, 0), t(0, 0)), 2 * LOG2)
    assert close(mm.d_loss(t(0, 0), t(0, 0)), 2 * LOG2)
    assert close(ns.g_loss(t(0, 0)), LOG2)  # -log D = -log ½
    assert close(mm.g_loss(t(0, 0)), -LOG2)  # log(1 - D) = log ½


def test_minimax_g_loss_is_log_one_minus_d():
    mm = LOSSES.get("minimax")
    f = t(-2.0, 1.5)
    assert close(mm.g_loss(f), torch.log(1 - torch.sigmoid(f)).mean())
    # G lowers its loss by making D believe: higher fake logits, lower loss
    assert mm.g_loss(t(3.0)) < mm.g_loss(t(0.0)) < mm.g_loss(t(-3.0))
    # ... but the gradient saturates where D confidently rejects fakes (the reason for "ns")
    f = t(-8.0).requires_grad_()
    mm.g_loss(f).backward()
    g_mm = f.grad.abs().item()
    f = t(-8.0).requires_grad_()
    LOSSES.get("ns").g_loss(f).backward()
    assert g_mm < 1e-3 < f.grad.abs().item()


def test_bce_d_loss_by_hand_and_label_smoothing():
    ns = LOSSES.get("ns")
    r, f = t(1.0, -0.5), t(0.3, -2.0)
    sig = torch.sigmoid
    by_hand = -torch.log(sig(r)).mean() - torch.log(1 - sig(f)).mean()
    assert close(ns.d_loss(r, f), by_hand)
    smoothed = -(0.9 * torch.log(sig(r)) + 0.1 * torch.log(1 - sig(r))).mean() - torch.log(1 - sig(f)).mean()
    assert close(ns.d_loss(r, f, 0.9), smoothed)
    assert close(ns.d_loss(r, f, 0.9), F.binary_cross_entropy(sig(r), torch.full((2,), 0.9))
                 + F.binary_cross_entropy(sig(f), torch.zeros(2)))
    assert not close(ns.d_loss(r, f, 0.9), ns.d_loss(r, f))


def test_relativistic_pairing_compares_each_fake_with_its_real():
    rp = LOSSES.get("rpgan-r1r2")
    assert close(rp.d_loss(t(0, 0), t(0, 0)), LOG2) and close(rp.g_loss(t(0, 0), t(0, 0)), LOG2)
    # D: softplus(fake - real) per pair; a pair with real far above its fake costs D nothing
    assert close(rp.d_loss(t(10.0, 0.0), t(-10.0, 0.0)), (math.log1p(math.exp(-20.0)) + LOG2) / 2)
    # only the differences matter: shifting every logit leaves both losses unchanged
    assert close(rp.d_loss(t(1.0, 2.0), t(0.5, 3.0)), rp.d_loss(t(6.0, 7.0), t(5.5, 8.0)))
    assert close(rp.g_loss(t(0.5, 3.0), t(1.0, 2.0)), (math.log1p(math.exp(0.5)) + math.log1p(math.exp(-1.0))) / 2)


def test_lsgan_values():
    ls = LOSSES.get("lsgan")
    assert close(ls.d_loss(t(1, 0), t(0, 1)), 0.5 * 0.5 + 0.5 * 0.5)
    assert close(ls.d_loss(t(1, 0), t(0, 1), 0.9), 0.5 * (0.01 + 0.81) / 2 + 0.25)
    assert close(ls.g_loss(t(1, 0)), 0.25)


def test_hinge_values():
    h = LOSSES.get("hinge")
    # relu(1 - [0.5, 2]) = [0.5, 0]; relu(1 + [-2, 0.5]) = [0, 1.5]
    assert close(h.d_loss(t(0.5, 2.0), t(-2.0, 0.5)), 0.25 + 0.75)
    assert close(h.g_loss(t(-2.0, 0.5)), 0.75)
    assert close(h.d_loss(t(0.5, 2.0), t(-2.0, 0.5), 0.9), 1.0)  # no label smoothing: ignored


def test_wgan_values():
    for name in ("wgan", "wgan-gp"):
        w = LOSSES.get(name)
        assert close(w.d_loss(t(3.0, 1.0), t(-1.0, 0.0)), -0.5 - 2.0)
        assert close(w.g_loss(t(-1.0, 0.0)), 0.5)


@pytest.mark.parametrize("name", ["minimax", "ns", "lsgan", "hinge", "wgan", "wgan-gp", "r1", "rpgan-r1r2"])
def test_saturated_logits_stay_finite(name):
    loss = LOSSES.get(name)
    for rv, fv in [(100.0, -100.0), (-100.0, 100.0), (100.0, 100.0), (-100.0, -100.0)]:
        r = t(rv, rv).requires_grad_()
        f = t(fv, fv).requires_grad_()
        d = loss.d_loss(r, f, 0.9)
        g = loss.g_loss(f, r) if loss.relativistic else loss.g_loss(f)
        d.backward()
        g.backward()
        assert torch.isfinite(d) and torch.isfinite(g), (rv, fv)
        assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all(), (rv, fv)


class LinearD(nn.Module):
    """D(x) = w·x: its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


class QuadraticD(nn.Module):
    """D(x) = ½||x||²: its input gradient is x."""

    def forward(self, x, y=None):
        return 0.5 * x.flatten(1).pow(2).sum(1)


@pytest.mark.parametrize("shape", [(5, 2), (5, 1, 2, 2)])
def test_gradient_penalty_on_linear_d(shape):
    n_in = math.prod(shape[1:])
    D = LinearD(torch.arange(1.0, n_in + 1.0))
    real, fake = torch.randn(shape), torch.randn(shape)
    gp = gradient_penalty(D, real, fake)
    norm = torch.linalg.vector_norm(D.w.detach())
    assert close(gp, (norm - 1) ** 2)
    # create_graph=True: the penalty trains D; d/dw (||w|| - 1)² = 2(||w|| - 1) w / ||w||
    gp.backward()
    assert torch.allclose(D.w.grad, 2 * (norm - 1) * D.w.detach() / norm, rtol=1e-5)


def test_gradient_penalty_interpolates_per_sample():
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    torch.manual_seed(1)
    gp = gradient_penalty(QuadraticD(), real, fake)
    torch.manual_seed(1)
    eps = torch.rand(4, 1, 1, 1)  # one ε per sample, broadcast over the image
    x_hat = eps * real + (1 - eps) * fake
    assert close(gp, ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean())


def test_gradient_penalty_sends_nothing_to_g():
    g_param = nn.Parameter(torch.ones(3, 2))
    fake = g_param * torch.randn(3, 2)  # still attached to "G"
    gradient_penalty(LinearD(torch.ones(2)), torch.randn(3, 2), fake).backward()
    assert g_param.grad is None


def test_gradient_penalty_passes_labels():
    seen = []

    class CondD(nn.Module):
        def forward(self, x, y=None):
            seen.append(y)
            return x.sum(1)

    y = torch.tensor([0, 1])
    gradient_penalty(CondD(), torch.randn(2, 2), torch.randn(2, 2), y)
    r1_penalty(CondD(), torch.randn(2, 2), y)
    assert seen[0] is y and seen[1] is y


def test_r1_penalty_by_hand():
    D = LinearD(t(3.0, 4.0))
    r1 = r1_penalty(D, torch.randn(6, 2))
    assert close(r1, 25.0)  # ||w||² = 9 + 16
    r1.backward()
    assert torch.allclose(D.w.grad, 2 * t(3.0, 4.0))  # d/dw ||w||²
    real = torch.randn(3, 1, 2, 2)
    assert close(r1_penalty(QuadraticD(), real), real.flatten(1).pow(2).sum(1).mean())


def test_clip_weights():
    D = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    with torch.no_grad():
        D[0].weight.fill_(0.5)
        D[0].weight[0, 0] = -0.3
        D[0].weight[1, 1] = 0.004
    clip_weights(D, 0.01)
    for p in D.parameters():
        assert p.abs().max() <= 0.01
    assert D[0].weight[0, 0] == -0.01 and D[0].weight[0, 1] == 0.01
    assert D[0].weight[1, 1].item() == pytest.approx(0.004)  # inside the box: untouched

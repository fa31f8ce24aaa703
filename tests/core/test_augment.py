"""DiffAugment: identity, shapes, differentiability, what each transform does, reproducibility."""

import pytest
import torch

from ganstudio.core.augment import DIFFAUG_POLICIES, diff_augment

ALL = ",".join(DIFFAUG_POLICIES)


def test_empty_policy_is_identity():
    x = torch.randn(2, 3, 8, 8)
    assert diff_augment(x, "") is x
    assert diff_augment(x, " , ") is x
    pts = torch.randn(5, 2)
    assert diff_augment(pts, "") is pts  # points pass through when nothing is asked


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL, "cutout, color"])
@pytest.mark.parametrize("shape", [(4, 1, 28, 28), (3, 3, 32, 32), (2, 3, 16, 24)])
def test_shape_and_gradient(policy, shape):
    torch.manual_seed(0)
    x = torch.rand(shape).mul(2).sub(1).requires_grad_()
    out = diff_augment(x, policy)
    assert out.shape == shape and out.dtype == x.dtype
    out.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_moves_content_with_zero_padding():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel; shifts are at most 16/8 = 2 pixels
    out = diff_augment(x, "translation")
    positions = set()
    for img in out[:, 0]:
        ys, xs = torch.nonzero(img, as_tuple=True)
        assert len(ys) == 1 and img.sum() == 1.0  # moved, not blurred
        dy, dx = ys.item() - 8, xs.item() - 8
        assert abs(dy) <= 2 and abs(dx) <= 2
        positions.add((dy, dx))
    assert len(positions) > 5  # each sample gets its own shift
    ones = diff_augment(torch.ones(32, 1, 16, 16), "translation")
    assert (ones == 0).any()  # the border that came in is zero padding


def test_cutout_zeros_one_square():
    torch.manual_seed(0)
    out = diff_augment(torch.ones(32, 3, 16, 16), "cutout")
    for img in out:
        assert torch.equal(img[0], img[1]) and torch.equal(img[0], img[2])  # same hole in all channels
        zeros = img[0] == 0
        ys, xs = torch.nonzero(zeros, as_tuple=True)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        assert zeros[y0:y1, x0:x1].all() and zeros.sum() == (y1 - y0) * (x1 - x0)  # a solid rectangle
        assert 4 <= y1 - y0 <= 8 and 4 <= x1 - x0 <= 8  # half the size, clipped at the border
        assert set(img.unique().tolist()) == {0.0, 1.0}
    assert (out[:, 0] == 0).sum(dim=(1, 2)).eq(64).any()  # some squares lie fully inside


def test_color_on_grey_image_is_per_sample_brightness():
    torch.manual_seed(0)
    x = torch.full((8, 1, 4, 4), 0.2)
    out = diff_augment(x, "color")
    # a flat image has no contrast to change and one channel has no saturation: only brightness
    flat = out.flatten(1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat), atol=1e-6)
    shift = flat[:, 0] - 0.2
    assert (shift.abs() <= 0.5).all() and shift.std() > 0.05


def test_same_seed_same_output():
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(7)
    a = diff_augment(x, ALL)
    torch.manual_seed(7)
    b = diff_augment(x, ALL)
    assert torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, ALL))


def test_unknown_policy_lists_valid_ones():
    with pytest.raises(ValueError, match="'flip'.*valid: color, translation, cutout"):
        diff_augment(torch.zeros(1, 1, 4, 4), "color,flip")


def test_points_are_rejected():
    with pytest.raises(ValueError, match=r"needs images \(N, C, H, W\)"):
        diff_augment(torch.zeros(5, 2), "translation")


def test_adaptive_augmentation_follows_ds_overfitting_and_resumes_exactly():
    from ganstudio.core.augment import AdaptiveAugment

    ada = AdaptiveAugment(0.6, "translation,color")
    x = torch.rand(64, 3, 16, 16) * 2 - 1
    assert ada(x) is x  # p starts at 0: nothing is augmented
    for _ in range(40):  # D right about every real image: it is memorising them
        ada.observe(torch.ones(64))
    assert ada.p == pytest.approx(40 * 64 / ada.SPEED_IMAGES)
    torch.manual_seed(0)
    out = ada(x)
    changed = (out != x).flatten(1).any(1).float().mean()
    assert 0.0 < changed < 0.5  # about p of the images, each all or nothing
    saved = ada.state_dict()
    for _ in range(400):  # D right only half the time, below the target: p falls back to 0
        ada.observe(torch.cat([torch.ones(32), -torch.ones(32)]))
    assert ada.p == 0.0
    again = AdaptiveAugment(0.6, "translation,color")
    again.load_state_dict(saved)
    assert again.p == pytest.approx(40 * 64 / ada.SPEED_IMAGES)


def test_ada_needs_a_policy_and_trains(tmp_path, tiny_overrides):
    from ganstudio.core.config import PRESETS, apply_overrides, validate
    from ganstudio.core.errors import ConfigError
    from ganstudio.core.events import StepMetrics
    from ganstudio.core.train import iter_train

    with pytest.raises(ConfigError, match="ada_target: adaptive augmentation applies the diffaugment policy"):
        validate(apply_overrides(PRESETS.get("dcgan-mnist").config(), {"ada_target": 0.6}))
    cfg = apply_overrides(PRESETS.get("own-images").config(), {**tiny_overrides, "dataset": "mnist", "steps": 8,
                                                             "ada_target": 0.6, "eval_every": 0})
    steps = [e for e in iter_train(cfg, tmp_path / "run") if isinstance(e, StepMetrics)]
    assert all("aug/p" in e.values and 0.0 <= e.values["aug/p"] <= 1.0 for e in steps)

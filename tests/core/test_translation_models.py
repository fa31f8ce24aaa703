"""Shapes, contracts, losses, schedule, image pool and spec validation of the translation networks."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from ganstudio.core.registry import UnknownNameError
from ganstudio.core.translation_models import (
    TRANSLATION_MODELS,
    TRANSLATION_WHY,
    ImagePool,
    TranslationSpec,
    bce_d_loss,
    bce_g_loss,
    build_generator,
    build_patchgan,
    l1,
    linear_decay,
    lsgan_d_loss,
    lsgan_g_loss,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These nets run ops on 1x1-4x4 maps, where the 2-thread pool's hand-off costs ~20 ms per
    # op on a busy 2-core box (a U-Net forward took 0.9 s); one thread runs it in 10 ms.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _spec(**kw):
    return dataclasses.replace(TranslationSpec(g_width=8, d_width=8), **kw)


def _img(n, c, s, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, s, s, generator=g) * 2 - 1


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_registry_names_and_tooltips():
    assert TRANSLATION_MODELS.names() == ["unet", "resnet", "patchgan"]
    assert set(TRANSLATION_WHY) == set(TRANSLATION_MODELS.names())
    with pytest.raises(UnknownNameError, match="valid: unet, resnet, patchgan"):
        build_generator("unet2", TranslationSpec())
    with pytest.raises(ValueError, match="discriminator"):
        build_generator("patchgan", TranslationSpec())


@pytest.mark.parametrize("name", ["unet", "resnet"])
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("cin,cout", [(1, 1), (3, 3), (1, 3)])
def test_generator_shapes_and_range(name, size, cin, cout):
    spec = _spec(in_channels=cin, out_channels=cout, image_size=size)
    g = build_generator(name, spec)
    assert (g.in_channels, g.out_channels) == (cin, cout)
    y = g(_img(2, cin, size))
    assert y.shape == (2, cout, size, size)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("depth", [0, 3, 5])
def test_unet_depths(depth):
    spec = _spec(image_size=32, unet_depth=depth)
    g = build_generator("unet", spec)
    assert g.depth == (depth or 5)
    assert g(_img(1, 3, 32)).shape == (1, 3, 32, 32)
    # a non-square input whose sides 2^depth divides passes through too
    assert g(torch.zeros(1, 3, 32, 64)).shape == (1, 3, 32, 64)


def test_unet_batchnorm_at_batch_one_full_depth():
    # the innermost level is 1x1: without a norm there, batch norm at batch 1 still trains
    g = build_generator("unet", _spec(image_size=32, norm="batch"))
    assert g.train()(_img(1, 3, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("blocks", [0, 2, 9])
def test_resnet_blocks(blocks):
    g = build_generator("resnet", _spec(image_size=32, resnet_blocks=blocks))
    n_blocks = sum(type(m).__name__ == "ResnetBlock" for m in g.modules())
    assert n_blocks == blocks
    assert g(_img(1, 3, 32)).shape == (1, 3, 32, 32)
    # any multiple of 4 works
    g = build_generator("resnet", _spec(image_size=36, resnet_blocks=blocks))
    assert g(_img(1, 3, 36)).shape == (1, 3, 36, 36)


@pytest.mark.parametrize("down", [0, 1, 2, 3])
def test_resnet_downsampling_levels(down):
    g = build_generator("resnet", _spec(image_size=32, resnet_blocks=1, resnet_down=down))
    strided = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == down
    block = next(m for m in g.modules() if type(m).__name__ == "ResnetBlock")
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == g.body[1].out_channels * 2 ** down  # width doubles per level
    assert g(_img(2, 3, 32)).shape == (2, 3, 32, 32)


def test_resnet_generator_keeps_the_weight_names_older_checkpoints_use():
    # Checkpoints written before resnet_down existed hold two levels under these names.
    sd = build_generator("resnet", _spec(image_size=32, resnet_blocks=1, g_width=8)).state_dict()
    assert sd["body.1.weight"].shape == (8, 3, 7, 7)
    assert sd["body.4.weight"].shape == (16, 8, 3, 3)
    assert sd["body.7.weight"].shape == (32, 16, 3, 3)
    assert any(k.startswith("body.10.") for k in sd)  # the first residual block
    assert sd["body.11.weight"].shape == (32, 16, 3, 3)  # ConvTranspose2d(32 → 16)
    assert sd["body.18.weight"].shape == (3, 8, 7, 7)


def test_patchgan_map_shapes():
    spec = _spec(image_size=64)
    d = build_patchgan(6, spec)  # pix2pix: (input, output) pair concatenated
    assert d(_img(2, 6, 64)).shape == (2, 1, 6, 6)  # 64 / 2^3 - 2
    d1 = build_patchgan(1, dataclasses.replace(spec, d_layers=1))
    assert d1(_img(2, 1, 64)).shape == (2, 1, 30, 30)
    d4 = build_patchgan(3, dataclasses.replace(spec, d_layers=4))
    assert d4(_img(1, 3, 64)).shape == (1, 1, 2, 2)
    # 256 px with 3 layers: the 30x30 map of 70x70 patches from the paper
    full = build_patchgan(3, TranslationSpec(d_width=4, image_size=256))
    assert full(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_init_is_normal_002():
    torch.manual_seed(0)
    d = build_patchgan(3, TranslationSpec())
    w = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.001
    assert abs(w.mean().item()) < 0.001


def test_unet_skip_connections_carry_local_detail():
    torch.manual_seed(0)
    g = build_generator("unet", _spec(image_size=64, g_width=16)).eval()
    # cut the bottleneck: the innermost encoder map becomes 0 whatever the input, so any
    # dependence of the output on the input must travel through the skips
    inner = g.downs[-1][1]
    with torch.no_grad():
        inner.weight.zero_()
        inner.bias.zero_()
        x = _img(1, 3, 64)
        x2 = x.clone()
        x2[0, :, 20, 20] += 1.0
        diff = (g(x2) - g(x)).abs().sum(1)[0]  # (64, 64)
    near, far = diff[16:25, 16:25].max(), diff[40:, 40:].max()
    assert near > 1e-3  # the change reaches the output
    assert near > 2 * far  # most strongly at the same place: the shallow skips are local


def test_eval_deterministic_train_dropout_stochastic():
    g = build_generator("unet", _spec(image_size=32))
    x = _img(2, 3, 32)
    with torch.no_grad():
        g.eval()
        assert torch.equal(g(x), g(x))
        g.train()
        assert not torch.allclose(g(x), g(x))
    g0 = build_generator("unet", _spec(image_size=32, dropout=0.0)).train()
    with torch.no_grad():
        assert torch.equal(g0(x), g0(x))  # no dropout: instance norm alone is deterministic


def test_default_sizes_parameter_counts():
    # recorded for the docs; a change here means the architecture changed
    s = TranslationSpec()
    assert _n_params(build_generator("unet", s)) == 7_313_603
    assert _n_params(build_generator("resnet", s)) == 1_965_059
    assert _n_params(build_patchgan(6, s)) == 695_777


# ---------------------------------------------------------------------------- losses and schedule


def test_losses_against_hand_computation():
    r = torch.tensor([[[[1.0, 0.0], [2.0, -1.0]]]])  # (1, 1, 2, 2)
    f = torch.tensor([[[[0.0, 1.0]]]])  # (1, 1, 1, 2): patch maps need not match
    # real: (0 + 1 + 1 + 4) / 4 = 1.5; fake: (0 + 1) / 2 = 0.5
    assert lsgan_d_loss(r, f).item() == pytest.approx(0.5 * (1.5 + 0.5))
    assert lsgan_g_loss(f).item() == pytest.approx((1 + 0) / 2)
    sp = F.softplus
    exp_d = 0.5 * ((sp(-r)).mean() + sp(f).mean())
    assert bce_d_loss(r, f).item() == pytest.approx(exp_d.item())
    # log(1 + e^0) = log 2 for a zero logit
    assert bce_d_loss(torch.zeros(3), torch.zeros(5)).item() == pytest.approx(math.log(2))
    assert bce_g_loss(torch.tensor([0.0, 0.0])).item() == pytest.approx(math.log(2))
    # stable for huge logits: a perfect D has zero loss, not NaN
    assert bce_d_loss(torch.tensor([1e4]), torch.tensor([-1e4])).item() == 0.0
    assert bce_g_loss(torch.tensor([-1e4])).item() == pytest.approx(1e4)
    assert l1(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(1.5)


def test_linear_decay():
    assert linear_decay(0, 100) == 1.0
    assert linear_decay(50, 100) == 1.0
    assert linear_decay(75, 100) == pytest.approx(0.5)
    assert linear_decay(100, 100) == 0.0
    assert linear_decay(150, 100) == 0.0
    with pytest.raises(ValueError, match="total"):
        linear_decay(0, 0)


# ---------------------------------------------------------------------------- image pool


def _batches(n_batches, bs=4, start=0):
    # image k is filled with the value k, so every returned image says which one it is
    return [torch.arange(start + b * bs, start + (b + 1) * bs, dtype=torch.float32)[:, None, None, None]
            .expand(bs, 1, 2, 2).clone() for b in range(n_batches)]


def _ids(t):
    return [int(v) for v in t[:, 0, 0, 0]]


def test_pool_passthrough_while_filling_then_stored_or_new():
    pool = ImagePool(10, torch.Generator().manual_seed(1))
    seen: set[int] = set()
    batches = _batches(8, bs=4)
    returned_old = 0
    for b, x in enumerate(batches):
        out = pool.query(x)
        assert out.shape == x.shape
        new = _ids(x)
        got = _ids(out)
        if b < 2:  # first 8 images: the pool is filling
            assert got == new
        for g, n in zip(got, new):
            # the new image or an earlier one (possibly stored earlier in this same batch)
            assert g == n or g in seen
            returned_old += g != n
            seen.add(n)
        assert len(pool) <= 10
    assert len(pool) == 10
    assert returned_old > 0  # p=0.5 swaps happened
    # the fill boundary can fall inside a batch: image 10 of batch 2 is the first that may be swapped
    pool2 = ImagePool(10, torch.Generator().manual_seed(1))
    for x in batches[:2]:
        pool2.query(x)
    out = _ids(pool2.query(batches[2]))
    assert out[:2] == [8, 9]


def test_pool_size_zero_is_passthrough_and_detached():
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    out = ImagePool(0).query(x)
    assert torch.equal(out, x) and not out.requires_grad
    with pytest.raises(ValueError, match="pool size"):
        ImagePool(-1)


def test_pool_same_seed_same_choices():
    runs = []
    for _ in range(2):
        pool = ImagePool(5, torch.Generator().manual_seed(42))
        runs.append([_ids(pool.query(x)) for x in _batches(6, bs=3)])
    assert runs[0] == runs[1]
    other = ImagePool(5, torch.Generator().manual_seed(43))
    assert [_ids(other.query(x)) for x in _batches(6, bs=3)] != runs[0]


def test_pool_does_not_touch_global_rng():
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    pool = ImagePool(2)
    for x in _batches(4, bs=3):
        pool.query(x)
    assert torch.equal(torch.rand(3), a)


def test_pool_state_dict_round_trip_resumes_exactly():
    batches = _batches(10, bs=3)
    pool = ImagePool(6, torch.Generator().manual_seed(7))
    for x in batches[:4]:
        pool.query(x)
    state = pool.state_dict()
    expected = [_ids(pool.query(x)) for x in batches[4:]]

    resumed = ImagePool(6, torch.Generator().manual_seed(999))  # a different seed: the state wins
    resumed.load_state_dict(state)
    assert [_ids(resumed.query(x)) for x in batches[4:]] == expected
    with pytest.raises(ValueError, match="size"):
        ImagePool(5).load_state_dict(state)


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name,kw,msg", [
    ("unet", dict(image_size=48, unet_depth=6), r"unet_depth=6 .*divisible by 2\^6 = 64.*48"),
    ("unet", dict(image_size=48), r"power-of-two image_size.*48"),
    ("unet", dict(unet_depth=-1), "unet_depth"),
    ("unet", dict(image_size=32, unet_depth=6), "divisible by 2"),
    ("unet", dict(dropout=1.0), "dropout"),
    ("unet", dict(norm="layer"), "norm must be one of instance, batch"),
    ("resnet", dict(image_size=30), "resnet_down=2 needs image_size divisible by 4, not 30"),
    ("resnet", dict(image_size=28, resnet_down=3), "divisible by 8, not 28"),
    ("resnet", dict(image_size=4, resnet_down=2), "at least 8"),
    ("resnet", dict(resnet_down=5), "resnet_down must be 0 to 4"),
    ("resnet", dict(resnet_blocks=-1), "resnet_blocks"),
    ("resnet", dict(in_channels=0), "in_channels"),
    ("resnet", dict(g_width=0), "g_width"),
])
def test_bad_generator_specs_name_the_problem(name, kw, msg):
    with pytest.raises(ValueError, match=msg):
        build_generator(name, TranslationSpec(**kw))


def test_unet_48px_works_with_a_depth_that_fits():
    g = build_generator("unet", _spec(image_size=48, unet_depth=4))
    assert g(_img(1, 3, 48)).shape == (1, 3, 48, 48)


@pytest.mark.parametrize("in_ch,kw,msg", [
    (6, dict(image_size=16), r"d_layers=3 needs image_size at least 24, not 16"),
    (6, dict(d_layers=0), "d_layers"),
    (0, dict(), "in_channels"),
    (3, dict(d_width=0), "d_width"),
    (3, dict(norm="group"), "norm"),
])
def test_bad_patchgan_specs_name_the_problem(in_ch, kw, msg):
    with pytest.raises(ValueError, match=msg):
        build_patchgan(in_ch, TranslationSpec(**kw))


def test_jitter_moves_pairs_together_within_the_shift():
    from ganstudio.core.families._translation import jitter_pairs

    torch.manual_seed(0)
    a = torch.full((64, 1, 16, 16), -1.0)
    a[:, :, 7, 5] = 1.0  # one bright pixel left of centre
    b = torch.cat([a, -a], 1)  # a 2-channel partner that must stay aligned with a
    ja, jb = jitter_pairs(a, b, shift=2, mirror=True)
    assert ja.shape == a.shape and jb.shape == b.shape
    assert torch.equal(jb[:, :1], ja) and torch.equal(jb[:, 1:], -ja)  # A and B moved as one
    ys, xs = [], []
    for img in ja[:, 0]:
        (y, x), = (img == 1).nonzero().tolist()  # reflect padding cannot duplicate a pixel this far in
        ys.append(y)
        xs.append(min(x, 15 - x) if x > 7 else x)  # undo the mirror
    assert set(ys) == set(range(5, 10))  # every shift in -2..2 is drawn, none beyond
    assert set(xs) <= set(range(3, 8))
    mirrored = sum(int((img == 1).nonzero()[0, 1]) > 7 for img in ja[:, 0])
    assert 16 < mirrored < 48  # about half


def test_jitter_of_unpaired_batches_is_independent_and_off_means_unchanged():
    from ganstudio.core.families._translation import jitter_pairs

    torch.manual_seed(1)
    a = torch.randn(32, 3, 8, 8)
    ja, jb = jitter_pairs(a, a.clone(), shift=1, mirror=True, paired=False)
    assert not torch.equal(ja, jb)
    same_a, same_b = jitter_pairs(a, a.clone(), shift=0, mirror=False)
    assert torch.equal(same_a, a) and torch.equal(same_b, a)

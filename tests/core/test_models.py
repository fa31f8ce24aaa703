"""Shapes, contracts and spec validation of the registered GAN models."""

import pytest
import torch
from torch import nn

from ganstudio.core.blocks import MinibatchDiscrimination, MinibatchStd, apply_spectral_norm
from ganstudio.core import resgan  # noqa: F401  (registers resnet)
from ganstudio.core.models import MODEL_WHY, MODELS, ModelSpec, build_models, check_image_size, nearest_size, supported_sizes
from ganstudio.core.registry import UnknownNameError


def _labels(n, k):
    return torch.arange(n) % k


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_registry_names_and_tooltips():
    assert MODELS.names() == ["mlp", "dcgan", "dcgan-tf", "resnet"]
    assert set(MODEL_WHY) == set(MODELS.names())
    assert all(s.endswith(".") for s in MODEL_WHY.values())


# (model, image_size, expected D feature count for width 8; dcgan-tf ignores widths)
IMAGE_CASES = [
    ("mlp", 28, 32), ("mlp", 32, 32), ("mlp", 64, 32),
    ("dcgan", 28, 16 * 7 * 7), ("dcgan", 32, 32 * 4 * 4), ("dcgan", 64, 64 * 4 * 4),
    ("dcgan-tf", 28, 128 * 7 * 7),
    ("dcgan", 16, 16 * 4 * 4), ("dcgan", 56, 32 * 7 * 7),
    ("resnet", 24, 32 * 6 * 6), ("resnet", 28, 32 * 7 * 7), ("resnet", 40, 64 * 5 * 5), ("resnet", 64, 64 * 4 * 4),
]


@pytest.mark.parametrize("name,size,n_feat", IMAGE_CASES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_image_models_shapes_and_ranges(name, size, n_feat, channels, num_classes):
    torch.manual_seed(0)
    spec = ModelSpec(channels=channels, image_size=size, z_dim=16, num_classes=num_classes,
                     g_width=8, d_width=8)
    G, D = build_models(name, spec)
    assert G.z_dim == 16
    y = _labels(3, 10) if num_classes else None
    z = torch.randn(3, 16)
    x = G(z, y)
    assert x.shape == (3, channels, size, size) == (3, *G.out_shape)
    assert G.eval()(z, y).abs().max() <= 1.0  # tanh output, or resnet's linear one clamped outside training
    G.train()
    logits, feats = D(x, y, features=True)
    assert logits.shape == (3,) and feats.shape == (3, n_feat)
    if name == "dcgan-tf":  # its fixed Dropout(0.3) draws new masks in training and is off in eval
        assert not torch.equal(D(x, y), logits)
        D.eval()
        assert torch.equal(D(x, y), D(x, y))
    else:
        assert torch.equal(D(x, y), logits)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("num_classes", [0, 4])
@pytest.mark.parametrize("cond_d", ["projection", "concat"])
def test_points_model(num_classes, cond_d):
    spec = ModelSpec(kind="points", z_dim=2, num_classes=num_classes, g_width=32, d_width=24,
                     cond_d=cond_d, d_dropout=0.1)
    G, D = build_models("mlp", spec)
    y = _labels(5, 4) if num_classes else None
    pts = G(torch.randn(5, 2), y)
    assert pts.shape == (5, 2) and G.out_shape == (2,)
    logits, feats = D(pts, y, features=True)
    assert logits.shape == (5,) and feats.shape == (5, 24)
    # points are a linear output: not squashed into [-1, 1]
    assert isinstance(G.body[-1], nn.Linear)


def test_mlp_default_widths_follow_goodfellow_sizes():
    G, D = build_models("mlp", ModelSpec())
    g_lin = [m for m in G.modules() if isinstance(m, nn.Linear)]
    d_lin = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in g_lin] == [256, 512, 1024, 784]
    assert [m.out_features for m in d_lin] == [512, 256, 1]


def test_dcgan_tf_layers_match_tutorial_exactly():
    G, D = build_models("dcgan-tf", ModelSpec())
    g = [m for m in G.body]
    assert [type(m).__name__ for m in g] == [
        "Linear", "BatchNorm1d", "LeakyReLU", "Unflatten",
        "ConvTranspose2d", "BatchNorm2d", "LeakyReLU",
        "ConvTranspose2d", "BatchNorm2d", "LeakyReLU",
        "ConvTranspose2d", "Tanh",
    ]
    assert (g[0].in_features, g[0].out_features, g[0].bias) == (100, 12544, None)
    assert g[1].num_features == 12544
    assert all(m.negative_slope == 0.3 for m in g if isinstance(m, nn.LeakyReLU))
    convs = [m for m in g if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding)
            for m in convs] == [
        (256, 128, (5, 5), (1, 1), (2, 2), (0, 0)),
        (128, 64, (5, 5), (2, 2), (2, 2), (1, 1)),
        (64, 1, (5, 5), (2, 2), (2, 2), (1, 1)),
    ]
    assert all(m.bias is None for m in convs)

    d = list(D.trunk)
    assert [type(m).__name__ for m in d] == ["Conv2d", "LeakyReLU", "Dropout"] * 2
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
            for m in d if isinstance(m, nn.Conv2d)] == [
        (1, 64, (5, 5), (2, 2), (2, 2)), (64, 128, (5, 5), (2, 2), (2, 2))]
    assert all(m.p == 0.3 for m in d if isinstance(m, nn.Dropout))
    assert (D.fc.in_features, D.fc.out_features) == (128 * 7 * 7, 1)
    # Trainable parameter counts of the tutorial's model summaries.
    assert _n_params(G) == 2_305_472
    assert _n_params(D) == 212_865
    assert not D.has_batchnorm


def test_dcgan_tf_channels_argument():
    G, D = build_models("dcgan-tf", ModelSpec(channels=3))
    assert G.body[-2].out_channels == 3 and D.trunk[0].in_channels == 3


def test_conditional_generator_depends_on_label():
    for name in MODELS.names():
        G, _ = build_models(name, ModelSpec(num_classes=10, z_dim=8, g_width=8, d_width=8))
        G.eval()
        z = torch.randn(1, 8).expand(2, 8)
        x = G(z, torch.tensor([3, 7]))
        assert not torch.allclose(x[0], x[1]), name


@pytest.mark.parametrize("cond_d", ["projection", "concat"])
def test_conditional_discriminator_depends_on_label(cond_d):
    _, D = build_models("dcgan", ModelSpec(num_classes=10, cond_d=cond_d, g_width=8, d_width=8))
    x = torch.randn(1, 1, 28, 28).expand(2, -1, -1, -1)
    out = D(x, torch.tensor([0, 9]))
    assert out[0] != out[1]


def test_conditional_models_require_labels():
    G, D = build_models("mlp", ModelSpec(num_classes=10))
    with pytest.raises(ValueError, match="conditional .*10 classes.*pass y"):
        G(torch.randn(2, 100))
    with pytest.raises(ValueError, match="conditional"):
        D(torch.randn(2, 1, 28, 28))


def test_unconditional_models_ignore_labels():
    G, D = build_models("mlp", ModelSpec())
    z, y = torch.randn(2, 100), torch.tensor([1, 2])
    assert torch.equal(G(z, y), G(z))


def test_embed_dim_auto_and_explicit():
    G, _ = build_models("mlp", ModelSpec(num_classes=10))
    assert G.embed.embedding_dim == 10
    G, _ = build_models("dcgan", ModelSpec(num_classes=10, g_width=8, d_width=8))
    assert G.embed.embedding_dim == 50
    G, _ = build_models("dcgan", ModelSpec(num_classes=10, z_dim=20, embed_dim=7, g_width=8, d_width=8))
    assert G.embed.embedding_dim == 7


def test_dcgan_init_and_progression():
    torch.manual_seed(0)
    G, D = build_models("dcgan", ModelSpec(image_size=64, channels=3))
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [512, 256, 128, 64, 3]
    assert abs(convs[1].weight.std().item() - 0.02) < 0.002
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01
    d_convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in d_convs] == [64, 128, 256, 512]


def test_has_batchnorm():
    small = dict(g_width=8, d_width=8)
    assert not build_models("dcgan", ModelSpec(**small))[1].has_batchnorm
    _, D = build_models("dcgan", ModelSpec(d_batchnorm=True, **small))
    assert D.has_batchnorm
    # BN only in hidden layers: not on the input conv
    assert not isinstance(D.trunk[1], nn.BatchNorm2d)
    assert not build_models("mlp", ModelSpec())[1].has_batchnorm
    assert not build_models("dcgan-tf", ModelSpec())[1].has_batchnorm


def test_spectral_norm_bounds_singular_values():
    torch.manual_seed(0)
    _, D = build_models("dcgan", ModelSpec(num_classes=10, spectral_norm=True, g_width=8, d_width=8))
    x, y = torch.randn(4, 1, 28, 28), _labels(4, 10)
    for _ in range(15):  # one power iteration per training-mode forward
        D(x, y)
    D.eval()
    normed = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert len(normed) == 4  # 2 convs, the final linear and the projection embedding
    for m in normed:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1.0) < 0.05, m


def test_apply_spectral_norm_is_idempotent_and_covers_linear():
    m = apply_spectral_norm(apply_spectral_norm(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))))
    assert len(m[0].parametrizations.weight) == 1


def test_minibatch_std_layer():
    layer = MinibatchStd()
    one = layer(torch.randn(1, 4, 3, 3))
    assert one.shape == (1, 5, 3, 3) and torch.allclose(one[:, 4], torch.zeros(1, 3, 3), atol=1e-3)
    x = torch.randn(3, 6)
    out = layer(x)
    assert out.shape == (3, 7)
    assert torch.allclose(out[:, 6], x.std(0, unbiased=False).mean().expand(3), atol=1e-5)


def test_minibatch_discrimination_layer():
    layer = MinibatchDiscrimination(6, kernels=4, kernel_dim=3)
    assert layer(torch.randn(1, 6)).shape == (1, 10)
    assert torch.equal(layer(torch.randn(1, 6))[:, 6:], torch.zeros(1, 4))  # nobody to compare with
    dup = torch.randn(1, 6).expand(3, 6)
    assert torch.allclose(layer(dup)[:, 6:], torch.full((3, 4), 2.0))  # two identical neighbours each


@pytest.mark.parametrize("minibatch", ["std", "discrimination"])
@pytest.mark.parametrize("name", ["mlp", "dcgan", "dcgan-tf"])
@pytest.mark.parametrize("n", [1, 3])
def test_minibatch_layers_in_d(minibatch, name, n):
    _, D = build_models(name, ModelSpec(minibatch=minibatch, g_width=8, d_width=8))
    x = torch.randn(n, 1, 28, 28, requires_grad=True)
    logits, feats = D(x, features=True)
    assert logits.shape == (n,) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name,spec,message", [
    ("dcgan", ModelSpec(image_size=48), "dcgan builds at image_size 8, 14, 16, 28, 32, 56, 64, 112, 128, 224, 256; not 48 (nearest: 56"),
    ("resnet", ModelSpec(image_size=25), "resnet builds at image_size 16, 20, 24, 28,"),
    ("dcgan-tf", ModelSpec(image_size=32), "dcgan-tf is the 28-px TensorFlow tutorial model"),
    ("dcgan", ModelSpec(kind="points"), "dcgan is an image model; use 'mlp' for kind='points'"),
    ("mlp", ModelSpec(kind="voxels"), "kind must be 'image' or 'points'"),
    ("mlp", ModelSpec(cond_d="bilinear", num_classes=3), "cond_d must be one of projection, concat"),
    ("mlp", ModelSpec(minibatch="stddev"), "minibatch must be one of none, std, discrimination"),
    ("mlp", ModelSpec(d_batchnorm=True), "d_batchnorm applies to dcgan only"),
    ("dcgan-tf", ModelSpec(d_dropout=0.3), "fixed Dropout"),
    ("mlp", ModelSpec(d_dropout=1.0), "d_dropout must be in"),
    ("mlp", ModelSpec(z_dim=0), "z_dim must be at least 1"),
    ("mlp", ModelSpec(num_classes=1), "num_classes=1"),
])
def test_bad_specs_name_the_problem(name, spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_models(name, spec)


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownNameError, match="mlp, dcgan, dcgan-tf, resnet"):
        build_models("stylegan", ModelSpec())


def test_generator_single_sample_preview_in_eval_mode():
    for name in MODELS.names():
        G, _ = build_models(name, ModelSpec(g_width=8, d_width=8))
        G.eval()
        assert G(torch.randn(1, 100)).shape == (1, 1, 28, 28)


def test_fast_dropout_keeps_the_distribution_of_nn_dropout():
    from ganstudio.core.blocks import Dropout

    torch.manual_seed(0)
    drop = Dropout(0.3).train()
    x = torch.ones(200_000)
    y = drop(x)
    kept = (y > 0).float().mean().item()
    assert abs(kept - 0.7) < 0.005
    assert torch.allclose(y[y > 0], torch.full_like(y[y > 0], 1 / 0.7))
    assert abs(y.mean().item() - 1.0) < 0.01  # expectation preserved
    assert torch.equal(drop.eval()(x), x)


def test_a_size_a_model_cannot_build_goes_to_the_nearest_one_it_can():
    assert supported_sizes("mlp") is None and nearest_size("mlp", 37) == 37
    assert nearest_size("dcgan-tf", 64) == 28
    assert nearest_size("dcgan", 25) == 28 and nearest_size("dcgan", 64) == 64 and nearest_size("dcgan", 100) == 112
    assert nearest_size("resnet", 25) == 24 and nearest_size("resnet", 37) == 40 and nearest_size("resnet", 64) == 64
    for name in ("dcgan", "resnet"):
        for size in range(8, 300):
            check_image_size(name, nearest_size(name, size))  # the nearest size is always one it accepts
        for size in (25, 37, 99):
            near = nearest_size(name, size)
            G, D = build_models(name, ModelSpec(channels=3, image_size=near, g_width=4, d_width=4))
            x = G(torch.randn(2, 100))
            assert x.shape == (2, 3, near, near) and D(x).shape == (2,)


def test_resnet_blocks_start_as_the_identity_and_have_no_normalisation():
    G, D = build_models("resnet", ModelSpec(channels=3, image_size=32, g_width=8, d_width=8))
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.LayerNorm)) for m in [*G.modules(), *D.modules()])
    blocks = [m for m in G.modules() if isinstance(m, resgan.ResBlock)]
    x = torch.randn(2, blocks[0].conv1.in_channels, 4, 4)
    assert blocks and torch.equal(blocks[0](x), x)
    # each sample is computed on its own: one image alone equals the same image in a batch
    z = torch.randn(4, 100)
    assert torch.allclose(G(z[:1]), G(z)[:1], atol=1e-6)

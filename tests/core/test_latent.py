"""Latent tools: seeds, lerp vs slerp, truncation, GANSpace directions, class grids, GIF export."""

import io

from pathlib import Path

import pytest
import torch
from PIL import Image

from ganstudio.core import latent as L
from ganstudio.core.checkpoint import CheckpointError
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.inference import load_generator
from ganstudio.core.train import iter_train


@pytest.fixture(scope="module")
def cgan(tmp_path_factory):
    run = tmp_path_factory.mktemp("latent") / "cgan"
    cfg = apply_overrides(PRESETS.get("cgan-mnist").config(), {"steps": 3, "batch_size": 16, "threads": 2})
    for _ in iter_train(cfg, run):
        pass
    return run


def test_same_seed_same_latent_and_image(cgan):
    gen = load_generator(str(cgan))
    assert torch.equal(L.seed_to_z(42, 100), L.seed_to_z(42, 100))
    assert not torch.equal(L.seed_to_z(42, 100), L.seed_to_z(43, 100))
    y = torch.tensor([3])
    a = L.render(gen, L.seed_to_z(42, 100)[None], y)
    b = L.render(load_generator(str(cgan)), L.seed_to_z(42, 100)[None], y)
    assert torch.equal(a, b)
    # the CLI's `sample --seed 42` draws the same first latent
    x, _ = gen.sample(1, seed=42, label=3)
    assert torch.equal(x, a)


def test_slerp_keeps_latent_norms_where_lerp_shrinks_them():
    a, b = L.seed_to_z(1, 512), L.seed_to_z(2, 512)
    mid_lerp = L.lerp(a, b, 0.5).norm() / ((a.norm() + b.norm()) / 2)
    mid_slerp = L.slerp(a, b, 0.5).norm() / ((a.norm() + b.norm()) / 2)
    assert mid_lerp < 0.75  # near-orthogonal Gaussian latents: ~1/√2
    assert abs(mid_slerp - 1) < 1e-4
    path = L.interpolate([a, b, L.seed_to_z(3, 512)], 9, "slerp")
    assert path.shape == (9, 512)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], L.seed_to_z(3, 512), atol=1e-5)
    assert torch.allclose(path[4], b, atol=1e-5)  # the middle keyframe is hit exactly
    with pytest.raises(ValueError, match="lerp, slerp"):
        L.interpolate([a, b], 5, "cubic")


def test_truncation_zero_gives_the_mean_image_and_costs_diversity(cgan):
    gen = load_generator(str(cgan))
    z = torch.stack([L.seed_to_z(s, gen.z_dim) for s in range(8)])
    y = torch.full((8,), 5)
    mean_imgs = L.render(gen, L.truncate(z, 0.0), y)
    assert torch.allclose(mean_imgs, mean_imgs[:1].expand_as(mean_imgs))
    full = L.diversity(L.render(gen, z, y))
    half = L.diversity(L.render(gen, L.truncate(z, 0.5), y))
    assert 0 < half < full


def test_principal_directions_are_orthonormal_and_change_the_image(cgan):
    gen = load_generator(str(cgan))
    d, stds = L.principal_directions(gen, k=5, n=600)
    assert d.shape == (5, gen.z_dim)
    assert torch.allclose(d @ d.T, torch.eye(5), atol=1e-5)
    assert (stds[:-1] >= stds[1:]).all()  # in order of explained variance
    z = L.seed_to_z(0, gen.z_dim)[None]
    y = torch.tensor([1])
    base = L.render(gen, z, y)
    moved = L.render(gen, z + 3 * d[:1], y)
    assert (moved - base).abs().mean() > 1e-3
    again, _ = L.principal_directions(gen, k=5, n=600)
    assert torch.allclose(again, d)  # reproducible


def test_class_grid_rows_are_classes(cgan):
    gen = load_generator(str(cgan))
    x = L.class_grid(gen, seeds=[0, 1, 2])
    assert x.shape == (10 * 3, 1, 28, 28)
    rows = x.view(10, 3, -1)
    assert not torch.allclose(rows[0], rows[1])  # same seeds, different class → different images
    blend = L.class_blend(gen, seed=0, class_a=2, class_b=7, frames=5)
    assert torch.allclose(blend[0], L.render(gen, L.seed_to_z(0, 100)[None], torch.tensor([2]))[0], atol=1e-5)
    assert torch.allclose(blend[-1], L.render(gen, L.seed_to_z(0, 100)[None], torch.tensor([7]))[0], atol=1e-5)


def test_gif_has_the_frames_asked_for(cgan):
    gen = load_generator(str(cgan))
    z = L.interpolate([L.seed_to_z(1, 100), L.seed_to_z(2, 100)], 12, "slerp")
    frames = L.render(gen, z, torch.zeros(12, dtype=torch.long))
    im = Image.open(io.BytesIO(L.gif_bytes(frames, scale=2)))
    assert im.n_frames == 12 and im.size == (56, 56)


def test_unconditional_model_refuses_class_tools(tmp_path):
    run = tmp_path / "r"
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {"steps": 1, "batch_size": 8, "threads": 2})
    for _ in iter_train(cfg, run):
        pass
    gen = load_generator(str(run))
    with pytest.raises(ValueError, match="conditional"):
        L.class_grid(gen, [0])


def test_translation_checkpoint_gives_a_clear_message():
    with pytest.raises(CheckpointError, match="image-translation model"):
        load_generator(str(Path(__file__).parents[1] / "data" / "v1" / "pix2pix.pt"))


def test_loading_a_generator_draws_nothing_from_the_global_rng(cgan):
    import torch

    before = torch.get_rng_state()
    gen = load_generator(str(cgan))
    assert torch.equal(torch.get_rng_state(), before)  # a training thread's random stream is untouched
    assert all(p.device.type == "cpu" for p in gen.G.parameters())

"""Config: TOML round trip, overrides with types, validation errors that name the field."""

import pytest

from ganstudio.core.config import PRESETS, ConfigError, TrainConfig, apply_overrides, field_info, from_toml, load_toml, to_toml, validate


def test_toml_round_trip_of_every_preset():
    for name in PRESETS.names():
        cfg = PRESETS.get(name).config()
        assert from_toml(to_toml(cfg)) == cfg


def test_every_field_has_a_why_for_the_tooltip():
    for name, meta in field_info().items():
        assert meta["why"].endswith("."), name


def test_overrides_are_typed():
    cfg = apply_overrides(TrainConfig(), {"lr_d": "1e-4", "steps": "1e4", "spectral_norm": "true", "loss": "hinge"})
    assert cfg.lr_d == 1e-4 and cfg.steps == 10000 and cfg.spectral_norm is True and cfg.loss == "hinge"


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"lr": "1"}, "unknown config key 'lr'.*lr_g"),
        ({"steps": "2.5"}, "steps: expected an integer"),
        ({"spectral_norm": "maybe"}, "spectral_norm: expected true/false"),
        ({"batch_size": "many"}, "batch_size: expected a number"),
    ],
)
def test_bad_overrides_name_the_field(overrides, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(TrainConfig(), overrides)


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"loss": "nope"}, "loss: unknown 'nope'; valid: .*hinge"),
        ({"model": "vit"}, "model: unknown 'vit'; valid: .*dcgan"),
        ({"batch_size": 0}, "batch_size: must be ≥ 1"),
        ({"loss": "wgan-gp", "label_smoothing": 0.1}, "label_smoothing"),
        ({"loss": "wgan-gp", "d_batchnorm": True}, "BatchNorm"),
        ({"ema": 1.5}, "ema"),
        ({"diffaugment": "rotate"}, "diffaugment: unknown policy 'rotate'"),
        ({"minibatch": "huge"}, "minibatch"),
    ],
)
def test_validation_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        validate(apply_overrides(TrainConfig(), overrides))


def test_bad_toml_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("steps = [oops")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(p)
    with pytest.raises(ConfigError, match="not found"):
        load_toml(tmp_path / "missing.toml")


def test_preset_dcgan_mnist_is_the_tensorflow_tutorial_setup():
    cfg = PRESETS.get("dcgan-mnist").config()
    assert (cfg.model, cfg.batch_size, cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2, cfg.loss) == ("dcgan-tf", 128, 2e-4, 2e-4, 0.5, 0.999, "ns")


def test_wgan_presets_use_the_papers_defaults():
    clip = PRESETS.get("wgan-clip-mnist").config()
    assert (clip.loss, clip.optimizer, clip.lr_d, clip.clip_value, clip.n_critic) == ("wgan", "rmsprop", 5e-5, 0.01, 5)
    gp = PRESETS.get("wgan-gp-fashion").config()
    assert (gp.loss, gp.gp_weight, gp.n_critic, gp.lr_d, gp.beta1, gp.beta2) == ("wgan-gp", 10.0, 5, 1e-4, 0.0, 0.9)


def test_a_users_folder_gets_the_own_images_recipe_and_presets_drop_the_size_of_their_own_data(tmp_path):
    from ganstudio.core.config import default_preset

    assert default_preset(None) == default_preset("mnist") == default_preset("ring8") == "dcgan-mnist"
    assert default_preset(str(tmp_path), "cpu") == "own-images"
    p2p = PRESETS.get("pix2pix-edges2fashion")
    own = apply_overrides(p2p.config(), {"dataset": str(tmp_path)})
    assert own.image_size == 32 and p2p.refit(own).image_size == 0  # another dataset keeps its own size
    assert p2p.refit(own, {"image_size"}).image_size == 32  # ... unless the user asked for this one
    assert p2p.refit(p2p.config()) == p2p.config()  # the preset's own data keeps the preset's size
    cfg = PRESETS.get("own-images").config()
    assert cfg.options.model == "dcgan" and cfg.options.loss == "rpgan-r1r2" and cfg.options.g_width == 0

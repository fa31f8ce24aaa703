"""InfoGAN: codes carried in z, the Q head, InfoGAN-CR, the shapes set and the disentanglement scores."""

import numpy as np
import pytest
import torch

from ganstudio import cli
from ganstudio.core import disentangle, shapes
from ganstudio.core.codes import CodeError, CodeInput, parse_layout
from ganstudio.core.config import PRESETS, apply_overrides, validate
from ganstudio.core.data import load_dataset
from ganstudio.core.errors import ConfigError
from ganstudio.core.evaluate import evaluate
from ganstudio.core.events import SampleGrid, StepMetrics
from ganstudio.core.inference import load_generator
from ganstudio.core.train import iter_train, resume_config

TINY = dict(steps=6, batch_size=16, log_every=1, sample_every=3, checkpoint_every=3, threads=1)


def train(run, preset="infogan-mnist", **over):
    cfg = validate(apply_overrides(PRESETS.get(preset).config(), {**TINY, **over}))
    return list(iter_train(cfg, run))


# ------------------------------------------------------------------ codes in z


def test_codes_drawn_with_z_follow_their_priors():
    layout = parse_layout(4, "10", 2, "uniform")
    z = torch.randn(20_000, layout.z_dim, generator=torch.Generator().manual_seed(0))
    cats, cont = layout.decode(z)
    counts = torch.bincount(cats[0], minlength=10).float() / len(z)
    assert counts.min() > 0.08 and counts.max() < 0.12  # every digit value equally likely
    assert cont.min() >= -1 and cont.max() <= 1
    assert abs(float(cont.mean())) < 0.02 and abs(float(cont.var()) - 1 / 3) < 0.02  # U(-1, 1)
    x = CodeInput(layout)(z[:5])
    assert torch.equal(x[:, 4:14].argmax(1), cats[0][:5]) and torch.equal(x[:, 4:14].sum(1), torch.ones(5))


def test_setting_a_code_reads_back_and_leaves_the_rest():
    layout = parse_layout(3, "4", 1, "uniform", "digit,slant")
    z = torch.randn(6, layout.z_dim)
    z2 = layout.set(layout.set(z, 0, 2), 1, 0.5)
    assert torch.equal(layout.get(z2, 0), torch.full((6,), 2.0))
    assert torch.allclose(layout.get(z2, 1), torch.full((6,), 0.5), atol=1e-5)
    assert torch.equal(z2[:, :3], z[:, :3])  # the noise is untouched
    assert layout.index("slant") == 1 and layout.index("0") == 0
    with pytest.raises(CodeError, match="no code named 'tilt'; this model's codes are digit, slant"):
        layout.index("tilt")
    with pytest.raises(CodeError, match="digit takes values 0..3, not 7"):
        layout.set(z, 0, 7)


@pytest.mark.parametrize("cat, cont, names, message", [
    ("1", 0, "", "a code takes 2 to 1000 values, not 1"),
    ("ten", 0, "", "'ten' is not a count of values"),
    ("", 0, "", "needs at least one code"),
    ("10", 2, "digit,slant", "2 names for 3 codes"),
    ("", 70, "", "70 codes is more than 64"),
])
def test_a_code_layout_that_does_not_fit_is_refused_clearly(cat, cont, names, message):
    with pytest.raises(ConfigError, match=message):
        validate(apply_overrides(PRESETS.get("infogan-mnist").config(),
                                 {"categorical": cat, "continuous": cont, "code_names": names}))


def test_the_cli_refuses_a_bad_code_count_with_exit_2(tmp_path, capsys):
    assert cli.main(["train", "--preset", "infogan-mnist", "--run-dir", str(tmp_path / "r"), "--set", "categorical=1"]) == 2
    assert "a code takes 2 to 1000 values" in capsys.readouterr().err and not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="needs at least 2 codes"):
        validate(apply_overrides(PRESETS.get("infogan-mnist").config(), {"categorical": "", "continuous": 1, "cr_weight": 1.0}))


# ------------------------------------------------------------------ training


def test_it_trains_logs_info_and_previews_one_row_per_category(tmp_path):
    events = train(tmp_path / "run")
    logs = [e.values for e in events if isinstance(e, StepMetrics)]
    assert {"loss/info", "info/accuracy", "info/continuous", "loss/d", "loss/g"} <= set(logs[-1])
    assert all(np.isfinite(v) for v in logs[-1].values())
    grid = [e for e in events if isinstance(e, SampleGrid)][-1].image
    assert grid.shape == (10 * 30 + 2, 10 * 30 + 2, 3)  # 10 digit values × 10 fixed latents of 28 px + 2 px gaps


def test_q_learns_to_read_the_categorical_code(tmp_path):
    events = train(tmp_path / "run", steps=40, width=16, noise_dim=8, log_every=10, sample_every=1000)
    acc = [e.values["info/accuracy"] for e in events if isinstance(e, StepMetrics)]
    assert acc[0] < 0.5 and acc[-1] > 0.9  # chance is 0.1


def test_it_resumes_exactly_with_the_contrastive_regulariser(tmp_path):
    over = dict(dataset="shapes", image_size=32, width=8, cr_weight=1.0, cr_start=2)
    straight = [e.values["loss/g"] for e in train(tmp_path / "a", "infogan-shapes", **over) if isinstance(e, StepMetrics)]
    train(tmp_path / "b", "infogan-shapes", **{**over, "steps": 3})
    cfg = resume_config(tmp_path / "b", {"steps": 6})
    resumed = [e.values for e in iter_train(cfg, tmp_path / "b", resume=True) if isinstance(e, StepMetrics)]
    assert [v["loss/g"] for v in resumed] == straight[3:]
    assert "loss/cr" in resumed[-1] and "cr/accuracy" in resumed[-1]


def test_a_spectral_d_has_no_batchnorm_and_its_encoder_reloads(tmp_path):
    from ganstudio.core.families.infogan import InfoGAN
    from ganstudio.core.inference import load_entry

    train(tmp_path / "run", "infogan-shapes", width=8, d_norm="spectral", cr_weight=1.0, cr_start=0, steps=4)
    ld = load_entry(tmp_path / "run", "encode")
    assert ld.meta["d_norm"] == "spectral"
    kinds = {type(m).__name__ for m in ld.net.modules()}
    assert not kinds & {"BatchNorm1d", "BatchNorm2d"}
    assert hasattr(ld.net.body[0], "parametrizations")  # spectral-normalised weights
    codes = ld.net.encode(load_dataset("shapes", image_size=32).x[:8], InfoGAN.layout(ld.meta))
    assert codes.shape == (8, 5) and torch.isfinite(codes).all()


# ------------------------------------------------------------------ using the model


def test_sample_traverse_draws_rows_of_values_and_columns_of_seeds(tmp_path, capsys):
    train(tmp_path / "run", code_names="digit,slant,width")
    out = tmp_path / "t.png"
    assert cli.main(["sample", str(tmp_path / "run"), "--traverse", "digit", "--seeds", "4", "-o", str(out)]) == 0
    from PIL import Image

    assert Image.open(out).size == (4 * 30 + 2, 10 * 30 + 2)
    assert "digit: all 10 values × seeds 0..3" in capsys.readouterr().out
    gif = tmp_path / "t.gif"
    assert cli.main(["sample", str(tmp_path / "run"), "--traverse", "2", "--values", "5", "-o", str(gif)]) == 0
    assert Image.open(gif).n_frames == 5
    assert cli.main(["sample", str(tmp_path / "run"), "--traverse", "tilt", "-o", str(out)]) == 2
    assert "no code named 'tilt'; this model's codes are digit, slant, width" in capsys.readouterr().err


def test_traverse_on_a_model_without_codes_says_so(tmp_path, capsys):
    run = tmp_path / "gan"
    cfg = validate(apply_overrides(PRESETS.get("dcgan-mnist").config(), {**TINY, "steps": 2}))
    list(iter_train(cfg, run))
    assert cli.main(["sample", str(run), "--traverse", "0", "-o", str(tmp_path / "x.png")]) == 2
    assert "needs a model with latent codes" in capsys.readouterr().err


def test_the_exported_generator_draws_the_codes_the_same_way(tmp_path):
    train(tmp_path / "run")
    gen = load_generator(tmp_path / "run")
    assert cli.main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "g.pt")]) == 0
    ts = torch.jit.load(str(tmp_path / "g.pt"))
    z = gen.codes.set(torch.randn(3, gen.z_dim), 0, 4)
    with torch.inference_mode():
        assert torch.allclose(ts(z), gen.G(z), atol=1e-5)


def test_eval_scores_the_codes(tmp_path, capsys):
    train(tmp_path / "run", steps=3)
    ev = evaluate(tmp_path / "run", ("codes",), n=200)
    assert 0.1 <= ev.values["code_accuracy"] <= 1.0 and 0.0 <= ev.values["code_spearman"] <= 1.0
    assert {"code_spearman/c1/slant", "code_spearman/c2/width"} <= set(ev.values)


# ------------------------------------------------------------------ the shapes set and the scores


def test_shapes_factors_move_the_picture_as_named():
    base = torch.tensor([[1, 3, 0, 10, 10]]).repeat(2, 1)
    ink = lambda x: (x + 1) / 2  # noqa: E731
    xs = torch.arange(64.0)

    def centre(img):
        w = ink(img)[0]  # (64, 64)
        return float((w.sum(0) * xs).sum() / w.sum()), float((w.sum(1) * xs).sum() / w.sum())

    moved = base.clone()
    moved[1, 3] = 25  # x
    a, b = shapes.render(moved)
    assert centre(b)[0] > centre(a)[0] + 15 and abs(centre(b)[1] - centre(a)[1]) < 1
    bigger = base.clone()
    bigger[1, 1] = 5  # scale
    a, b = ink(shapes.render(bigger))
    assert b.sum() > 1.5 * a.sum()
    kinds = shapes.render(torch.tensor([[k, 5, 0, 16, 16] for k in range(3)]))
    assert all(not torch.equal(kinds[i], kinds[j]) for i in range(3) for j in range(i))
    with pytest.raises(ValueError, match="factor rotation takes indices 0..39"):
        shapes.render(torch.tensor([[0, 0, 40, 0, 0]]))


def test_the_shapes_set_carries_its_factors_at_32_px():
    ds = load_dataset("shapes", image_size=32)
    assert ds.x.shape == (30_000, 1, 32, 32) and ds.factors.shape == (30_000, 5)
    assert ds.factor_names == ("shape", "scale", "rotation", "x", "y") and ds.classes == ("square", "ellipse", "heart")
    assert torch.equal(ds.labels, ds.factors[:, 0])
    assert float(ds.x.min()) == -1.0 and float(ds.x.max()) == 1.0


def test_mig_and_sap_reward_one_factor_per_dimension_and_not_mixtures():
    rng = np.random.default_rng(0)
    sizes = (3, 6, 10)
    f = np.stack([rng.integers(0, k, 4000) for k in sizes], 1)
    clean = f + rng.normal(0, 0.05, f.shape)        # each dimension one factor
    mixed = f @ rng.normal(size=(3, 3))             # every dimension a blend of all
    noise = rng.normal(size=f.shape)
    m_clean, m_mixed, m_noise = (disentangle.mig(r, f)[0] for r in (clean, mixed, noise))
    assert m_clean > 0.8 and m_mixed < 0.4 and m_noise < 0.05
    s_clean = disentangle.sap(clean[:3000], f[:3000], clean[3000:], f[3000:], sizes)[0]
    s_noise = disentangle.sap(noise[:3000], f[:3000], noise[3000:], f[3000:], sizes)[0]
    assert s_clean > 0.5 and s_noise < 0.05


def test_the_factorvae_score_finds_which_dimension_holds_each_factor():
    rng = np.random.default_rng(1)
    sizes = (4, 8, 8)
    perm = [2, 0, 1]
    good = lambda f: f[:, perm] + rng.normal(0, 0.01, f.shape)  # noqa: E731
    bad = lambda f: rng.normal(size=f.shape)  # noqa: E731
    assert disentangle.factorvae_score(good, sizes, rng, n_train=200, n_eval=200, n_var=2000) > 0.95
    assert disentangle.factorvae_score(bad, sizes, rng, n_train=200, n_eval=200, n_var=2000) < 0.6


def test_the_best_matching_of_code_values_to_classes_is_found():
    conf = np.zeros((10, 10), dtype=np.int64)
    perm = np.random.default_rng(0).permutation(10)
    conf[np.arange(10), perm] = 90
    conf[np.arange(10), (perm + 1) % 10] = 10  # each value sometimes read as a neighbour
    acc, mapping = disentangle.best_permutation_accuracy(conf)
    assert acc == pytest.approx(0.9) and mapping == perm.tolist()


def test_slant_and_width_come_from_the_image_moments():
    img = -torch.ones(3, 1, 28, 28)
    for r in range(6, 22):
        img[0, 0, r, 13:15] = 1                     # upright bar
        img[1, 0, r, 13 + (21 - r) // 3:15 + (21 - r) // 3] = 1  # leaning right (top further right)
        img[2, 0, r, 10:18] = 1                     # wide block
    m = disentangle.digit_moments(img)
    assert abs(float(m["slant"][0])) < 1e-6 and float(m["slant"][1]) < -0.1
    assert float(m["width"][2]) > 2 * float(m["width"][0])


def test_disentanglement_is_scored_from_what_q_reads_of_known_factors(tmp_path):
    from ganstudio.core.evaluation import Evaluation
    from ganstudio.core.families.infogan import InfoGAN, disentanglement_scores
    from ganstudio.core.inference import load_entry

    train(tmp_path / "run", "infogan-shapes", steps=2, width=8)
    ld = load_entry(tmp_path / "run", "encode")
    out = Evaluation("x", 0, 0)
    data = load_dataset("shapes", image_size=32)
    disentanglement_scores(ld.net, InfoGAN.layout(ld.meta), data, 0, out, lambda _m: None, n_fit=600, n_test=300, votes=30)
    assert all(0.0 <= out.values[k] <= 1.0 for k in ("mig", "sap", "factorvae"))
    mnist = load_dataset("mnist")
    out = Evaluation("x", 0, 0)
    disentanglement_scores(ld.net, InfoGAN.layout(ld.meta), mnist, 0, out, lambda _m: None)
    assert out.unavailable["mig"] == "needs a dataset with known factors (the built-in shapes set)"

"""Super-resolution: photos and patches, the SR networks, SRResNet → SRGAN training with network interpolation,
the papers' scores, and streamed tiled upscaling of files (alpha, gray, 16-bit, limits, no overwrites)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.events import RunFinished, StepMetrics
from ganstudio.core.photos import PatchSampler, degrade, gradient_magnitude, load_photos, psnr_ssim
from ganstudio.core.sr_models import RandomFeatures, SRSpec, build_sr_generator
from ganstudio.core.train import iter_train
from ganstudio.core.upscale import PNGStream, load_upscaler, upscale_array, upscale_files

TINY = dict(g_width=8, g_blocks=2, d_width=8, lr_patch=8, batch_size=4, log_every=1, sample_every=1000,
            checkpoint_every=1000, threads=2)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """Six small 'photos' (smooth colour fields with edges), one gray, and a broken file."""
    d = tmp_path_factory.mktemp("photos")
    r = np.random.RandomState(0)
    yy, xx = np.mgrid[0:72, 0:96]
    for i in range(6):
        img = np.stack([128 + 100 * np.sin(xx / (5 + i) + c) * np.cos(yy / (7 + c)) for c in range(3)], 2)
        img += r.randn(72, 96, 3) * 4
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(d / f"p{i}.png")
    Image.fromarray((128 + 90 * np.sin(xx / 4)).astype(np.uint8), "L").save(d / "gray.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return d


def _train(cfg_over, run_dir, photo_dir, preset="srresnet", steps=4):
    cfg = apply_overrides(PRESETS.get(preset).config(), {**TINY, "dataset": str(photo_dir), "steps": steps, **cfg_over})
    return list(iter_train(cfg, run_dir))


@pytest.fixture(scope="module")
def psnr_run(tmp_path_factory, photo_dir):
    run = tmp_path_factory.mktemp("runs") / "psnr"
    events = _train({"steps": 6}, run, photo_dir)
    assert isinstance(events[-1], RunFinished)
    return run


# ---------------------------------------------------------------- photos and patches


def test_a_photo_folder_loads_at_its_own_sizes_with_skips_named_and_some_held_out(photo_dir):
    data = load_photos(str(photo_dir))
    assert data.channels == 3  # one colour photo makes a colour set; the gray one is repeated
    assert len(data.images) + len(data.held_out) == 7 and len(data.held_out) == 1
    assert all(t.dtype == torch.uint8 and t.shape == (3, 72, 96) for t in data.images)
    assert [s.reason for s in data.skipped] and "broken.jpg" in data.skipped[0].path
    assert "6 photos" in data.summary() and "+1 held out" in data.summary() and "1 file skipped" in data.summary()


def test_the_builtin_photos_hold_out_four_named_pictures():
    data = load_photos("photos")
    assert sorted(data.held_out_names) == ["camera", "chelsea", "gravel", "rocket"]
    assert len(data.images) == 12 and not set(data.names) & set(data.held_out_names)


def test_patches_and_degradation_are_reproducible_and_the_options_change_the_input():
    imgs = [torch.randint(0, 256, (3, 50, 60), dtype=torch.uint8)]
    a, b = PatchSampler(imgs, 16, 5, seed=3), PatchSampler(imgs, 16, 5, seed=3)
    pa = a.next()
    assert pa.shape == (5, 3, 16, 16) and torch.equal(pa, b.next())
    state = a.state_dict()
    nxt = a.next()
    a.load_state_dict(state)
    assert torch.equal(a.next(), nxt)  # the checkpointed state replays the same patches
    hr = pa.float() / 127.5 - 1
    torch.manual_seed(0)
    clean = degrade(hr, 4)
    assert clean.shape == (5, 3, 4, 4)
    for kw in ({"blur": 2.0}, {"noise": 20.0}, {"jpeg": 10}):
        torch.manual_seed(0)
        assert not torch.allclose(degrade(hr, 4, **{"blur": 0.0, "noise": 0.0, "jpeg_quality": 0, **{
            ("jpeg_quality" if k == "jpeg" else k): v for k, v in kw.items()}}), clean, atol=1e-3), kw


def test_scores_follow_the_papers_convention():
    r = np.random.RandomState(0)
    hr = (r.rand(64, 64, 3) * 255).astype(np.uint8)
    assert psnr_ssim(hr, hr[::-1].copy(), 4)[1] < 0.2 and psnr_ssim(hr, hr, 4)[1] == pytest.approx(1.0)
    noisy = np.clip(hr + r.randn(*hr.shape) * 8, 0, 255).astype(np.uint8)
    p, s = psnr_ssim(noisy, hr, 4)
    assert 25 < p < 40 and s < 1
    blurred = np.asarray(Image.fromarray(hr).resize((16, 16), Image.BICUBIC).resize((64, 64), Image.BICUBIC))
    assert gradient_magnitude(blurred) < 0.7 * gradient_magnitude(hr)  # blur is measured as less sharp


def test_the_content_features_are_the_same_network_whatever_the_rng():
    torch.manual_seed(5)
    a = RandomFeatures(3)
    torch.manual_seed(6)
    b = RandomFeatures(3)
    x = torch.rand(1, 3, 16, 16)
    assert all(torch.equal(u, v) for u, v in zip(a(x), b(x)))  # nothing to ship: the seed is the network
    assert not any(p.requires_grad for p in a.parameters())


@pytest.mark.parametrize("kind", ["srresnet", "rrdb"])
def test_generators_upscale_any_size_and_start_at_bicubic(kind):
    torch.manual_seed(0)
    net = build_sr_generator(SRSpec(generator=kind, scale=2, width=8, blocks=1, growth=4)).eval()
    x = torch.rand(2, 3, 13, 17) * 2 - 1
    with torch.no_grad():
        y = net(x)
    bic = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    assert y.shape == (2, 3, 26, 34)
    assert (y - bic).abs().mean() < 0.1  # the residual starts small: an untrained model is bicubic, not noise


# ---------------------------------------------------------------- training


def test_srresnet_trains_on_a_folder_and_reports_psnr_against_bicubic(psnr_run):
    import json

    recs = [json.loads(ln) for ln in (psnr_run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    steps = [r for r in recs if "psnr/model" in r.get("values", r)]
    assert steps, recs[:2]
    assert (psnr_run / "checkpoints/latest.pt").is_file()


def test_a_resume_replays_the_same_patches(tmp_path, photo_dir):
    # lr_decay off: its schedule depends on the total steps, which this test changes on resume
    full = _train({"steps": 6, "checkpoint_every": 3, "lr_decay": False}, tmp_path / "a", photo_dir)
    _train({"steps": 3, "checkpoint_every": 3, "lr_decay": False}, tmp_path / "b", photo_dir)
    cfg = apply_overrides(PRESETS.get("srresnet").config(), {**TINY, "dataset": str(photo_dir), "steps": 6, "lr_decay": False})
    resumed = list(iter_train(cfg, tmp_path / "b", resume=True))
    la = [e.values["loss/g"] for e in full if isinstance(e, StepMetrics)][3:]
    lb = [e.values["loss/g"] for e in resumed if isinstance(e, StepMetrics)]
    assert la == pytest.approx(lb, rel=1e-5, abs=1e-7)


def test_srgan_starts_from_the_psnr_run_and_interpolates_between_them(tmp_path, photo_dir, psnr_run):
    events = _train({"init_from": str(psnr_run), "steps": 3}, tmp_path / "gan", photo_dir, preset="srgan")
    m = [e for e in events if isinstance(e, StepMetrics)]
    assert all(k in m[-1].values for k in ("loss/adv", "loss/d", "loss/content", "d/real"))
    psnr, gan = load_upscaler(psnr_run), load_upscaler(tmp_path / "gan")
    assert gan.interpolable and not psnr.interpolable
    x = torch.rand(1, 3, 12, 12) * 2 - 1
    with torch.no_grad():
        gan.set_alpha(0.0)
        at0 = gan(x)
        gan.set_alpha(1.0)
        at1 = gan(x)
        gan.set_alpha(0.5)
        half = gan(x)
        ref = psnr(x)
    assert torch.allclose(at0, ref, atol=1e-5)  # α = 0 is exactly the PSNR model it started from
    assert not torch.allclose(at1, ref, atol=1e-4)  # three adversarial steps moved it
    assert (half - ref).abs().mean() < (at1 - ref).abs().mean()
    with pytest.raises(Exception, match="PSNR start"):
        psnr.set_alpha(0.5)


def test_init_from_refuses_another_generator_with_the_difference_named(tmp_path, photo_dir, psnr_run):
    from ganstudio.core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="width 8 there, 16 here"):
        _train({"init_from": str(psnr_run), "g_width": 16}, tmp_path / "bad", photo_dir, preset="srgan")
    assert not (tmp_path / "bad").exists()  # nothing written for a refused start


def test_eval_scores_the_held_out_photos_against_bicubic(psnr_run, photo_dir):
    from ganstudio.core.evaluate import evaluate

    ev = evaluate(psnr_run, n=10)
    for k in ("psnr", "psnr_bicubic", "ssim", "ssim_bicubic", "sharpness", "sharpness_bicubic"):
        assert np.isfinite(ev.values[k]), k
    assert abs(ev.values["psnr"] - ev.values["psnr_bicubic"]) < 3  # six steps: still near its bicubic start
    assert "held-out" in ev.subject


# ---------------------------------------------------------------- upscaling


def _model(kind="srresnet", scale=4):
    torch.manual_seed(1)
    net = build_sr_generator(SRSpec(generator=kind, scale=scale, width=16, blocks=3, growth=8)).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.05)  # far from bicubic, so tile borders would show if they were wrong
    return net


@pytest.mark.parametrize("kind", ["srresnet", "rrdb"])
def test_tiled_upscaling_matches_one_pass_within_one_level(kind):
    net = _model(kind)
    img = (np.random.RandomState(0).rand(150, 131, 3) * 255).astype(np.uint8)
    with torch.inference_mode():
        whole = upscale_array(img, net, 4, 3, tile=0)
        tiled = upscale_array(img, net, 4, 3, tile=48)
    assert tiled.shape == whole.shape == (600, 524, 3)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def test_png_stream_writes_exact_pixels_in_every_mode():
    for c, mode in ((1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")):
        a = (np.random.RandomState(c).rand(21, 33, c) * 255).astype(np.uint8)
        buf = io.BytesIO()
        png = PNGStream(buf, 33, 21, c)
        png.write(a[:5])
        png.write(a[5:])
        png.close()
        im = Image.open(io.BytesIO(buf.getvalue()))
        assert im.mode == mode and np.array_equal(np.asarray(im).reshape(a.shape), a)


class _Up:
    """A loaded-upscaler stand-in around a bare network."""

    def __init__(self, net, scale=4, channels=3):
        self.net, self.scale, self.channels, self.interpolable = net, scale, channels, False

    def __call__(self, x):
        return self.net(x)


def test_files_keep_alpha_and_grayness_convert_16_bit_and_never_overwrite(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    r = np.random.RandomState(0)
    rgba = (r.rand(20, 24, 4) * 255).astype(np.uint8)
    rgba[:10, :, 3] = 0
    rgba[10:, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(src / "a.png")
    Image.fromarray((r.rand(18, 22) * 255).astype(np.uint8), "L").save(src / "g.png")
    Image.fromarray((r.rand(16, 16) * 65535).astype(np.uint16)).save(src / "deep.png")
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    res = {r.source.rsplit("/", 1)[-1]: r for r in upscale_files(sorted(src.iterdir()), out, _Up(_model()))}
    assert (out / "a.png").read_bytes() == b"keep me"  # the existing file is untouched; the result took a new name
    a = Image.open(res["a.png"].output)
    assert res["a.png"].output.endswith("a-1.png") and a.mode == "RGBA" and a.size == (96, 80)
    alpha = np.asarray(a)[..., 3]
    assert alpha[:30].max() <= 5 and alpha[50:].min() >= 250  # transparent stays transparent, opaque opaque
    g = Image.open(res["g.png"].output)
    assert g.mode == "L" and g.size == (88, 72)
    assert res["deep.png"].note == "16-bit converted to 8-bit" and Image.open(res["deep.png"].output).mode == "L"
    assert res["bad.png"].error and not res["bad.png"].output
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_48_bit_rgb_png_is_converted_with_a_note(tmp_path):
    import struct
    import zlib

    from ganstudio.core.upscale import decode_for_upscale

    h, w = 6, 5
    a = (np.random.RandomState(0).rand(h, w, 3) * 65535).astype(">u2")
    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    (tmp_path / "deep.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                                        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    d = decode_for_upscale(tmp_path / "deep.png")
    assert d.pixels.shape == (6, 5, 3) and d.note == "16-bit converted to 8-bit"
    assert np.abs(d.pixels.astype(int) - (a.astype(int) >> 8)).max() <= 1  # the high byte, as 8 bits


def test_an_output_over_the_pixel_limit_is_refused_with_its_size(tmp_path):
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "x.png")
    (r,) = upscale_files([tmp_path / "x.png"], tmp_path / "o", _Up(_model()), max_pixels=10_000)
    assert "160×120 = 19,200 px" in r.error and "10,000" in r.error and not r.output
    assert not list((tmp_path / "o").iterdir())


def test_cli_upscale_and_translate_route_and_refuse_clearly(tmp_path, psnr_run, capsys):
    from ganstudio.cli import main

    Image.fromarray((np.random.RandomState(0).rand(20, 20, 3) * 255).astype(np.uint8)).save(tmp_path / "p.png")
    assert main(["upscale", str(psnr_run), str(tmp_path / "p.png"), "-o", str(tmp_path / "o")]) == 0
    assert Image.open(tmp_path / "o/p.png").size == (80, 80)
    assert main(["translate", str(psnr_run), str(tmp_path / "p.png"), "-o", str(tmp_path / "o")]) == 0
    assert Image.open(tmp_path / "o/p-1.png").size == (80, 80)
    capsys.readouterr()
    assert main(["upscale", str(psnr_run), str(tmp_path / "p.png"), "--scale", "2"]) == 2
    assert "upscales ×4" in capsys.readouterr().err
    assert main(["upscale", str(psnr_run), str(tmp_path / "p.png"), "--interpolate", "0.5"]) == 2
    assert "no PSNR start" in capsys.readouterr().err
    assert main(["upscale", str(psnr_run), str(tmp_path / "p.png"), "--interpolate", "2"]) == 2
    assert "[0, 1]" in capsys.readouterr().err


def test_export_runs_the_upscaler_and_describes_its_larger_output(psnr_run, tmp_path):
    from ganstudio.core.export import export_model

    res = export_model(psnr_run, "torchscript", tmp_path / "sr.pt")
    assert res.inputs["image"].startswith("(N, 3, 8, 8)") and res.outputs["translated"].startswith("(N, 3, 32, 32)")
    assert (tmp_path / "sr.pt").is_file()

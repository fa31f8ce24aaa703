"""The command line: exit codes, files written, clear one-line errors, Ctrl-C, and a Qt-free import."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
import pytest
from PIL import Image

from ganstudio import __version__
from ganstudio.cli import main

FAST = ["--threads", "2", "--log-every", "1"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ganstudio", *args], capture_output=True, text=True, timeout=120)


def test_version_presets_datasets(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("gan-mlp-mnist", "dcgan-mnist", "cgan-mnist", "dcgan-fashion", "wgan-clip-mnist", "wgan-gp-fashion", "ring8", "grid25"):
        assert name in out
    assert main(["presets", "wgan-gp-fashion"]) == 0
    toml_text = capsys.readouterr().out
    from ganstudio.core.config import PRESETS, from_toml

    assert from_toml(toml_text) == PRESETS.get("wgan-gp-fashion").config()
    assert main(["presets", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion", "animals", "ring8", "grid25", "edges2fashion", "horse2zebra"):
        assert name in out


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "cgan"
    code = main(["train", "--preset", "cgan-mnist", "--steps", "4", "--batch-size", "16", "--run-dir", str(run), *FAST])
    assert code == 0
    return run


def test_train_writes_a_run(cgan_run, capsys):
    assert (cgan_run / "checkpoints/latest.pt").is_file()
    assert (cgan_run / "samples/step_00000004.png").is_file()
    lines = (cgan_run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]


def test_resume_continues_to_the_new_total(cgan_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(cgan_run, run)
    assert main(["train", "--resume", str(run), "--steps", "6", *FAST]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_sample_png_npy_and_class(cgan_run, tmp_path, capsys):
    png = tmp_path / "grid.png"
    assert main(["sample", str(cgan_run), "-n", "20", "-o", str(png)]) == 0
    img = np.asarray(Image.open(png))
    assert img.shape == (2 + 10 * 30, 2 + 2 * 30, 3)  # one row per class, 2 columns
    npy = tmp_path / "s.npy"
    assert main(["sample", str(cgan_run / "checkpoints/latest.pt"), "-n", "8", "--class", "3", "-o", str(npy)]) == 0
    x = np.load(npy)
    assert x.shape == (8, 1, 28, 28) and x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1
    # same seed, same samples; another seed differs
    npy2 = tmp_path / "s2.npy"
    main(["sample", str(cgan_run), "-n", "8", "--class", "3", "-o", str(npy2)])
    assert np.array_equal(np.load(npy2), x)
    main(["sample", str(cgan_run), "-n", "8", "--class", "3", "--seed", "1", "-o", str(npy2)])
    assert not np.array_equal(np.load(npy2), x)


def test_sample_points_model(tmp_path, capsys):
    run = tmp_path / "ring"
    assert main(["train", "--preset", "ring8", "--steps", "3", "--run-dir", str(run), *FAST]) == 0
    out = tmp_path / "pts.npy"
    assert main(["sample", str(run), "-n", "100", "-o", str(out)]) == 0
    assert np.load(out).shape == (100, 2)
    assert main(["sample", str(run), "-o", str(tmp_path / "scatter.png")]) == 0
    assert Image.open(tmp_path / "scatter.png").size == (320, 320)


@pytest.mark.parametrize(
    "args,match",
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'; valid: .*dcgan-mnist"),
        (["train", "--set", "lr=1"], "unknown config key 'lr'"),
        (["train", "--set", "noequals"], "--set expects key=value"),
        (["train", "--dataset", "/no/such/folder"], "no such dataset or path"),
        (["train", "--config", "/no/such.toml"], "config file not found"),
        (["train", "--resume", "/no/such/run"], "no such run directory"),
        (["train", "--resume", "."], "no checkpoint"),
        (["sample", "/no/such.pt"], "not found"),
        (["sample", "README.md", "-o", "x.jpg"], "must end in .png"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ganstudio: error:")
    import re

    assert re.search(match, err), err
    assert not (tmp_path / "runs").exists()  # nothing written


def test_sample_class_on_unconditional_model_exits_2(tmp_path, capsys):
    run = tmp_path / "ring"
    main(["train", "--preset", "ring8", "--steps", "2", "--run-dir", str(run), *FAST])
    assert main(["sample", str(run), "--class", "1", "-o", str(tmp_path / "x.png")]) == 2
    assert "conditional" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_hostile_checkpoint_exits_2(tmp_path, capsys):
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"kind": "ganstudio-train", "x": Evil()}, tmp_path / "evil.pt")
    assert main(["sample", str(tmp_path / "evil.pt"), "-o", str(tmp_path / "g.png")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "g.png").exists()


def test_existing_run_dir_exits_2_and_is_untouched(cgan_run, capsys):
    before = (cgan_run / "checkpoints/latest.pt").stat().st_mtime_ns
    assert main(["train", "--preset", "cgan-mnist", "--run-dir", str(cgan_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (cgan_run / "checkpoints/latest.pt").stat().st_mtime_ns == before


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "train", "--preset", "ring8", "--steps", "1000000", "--run-dir", str(run), *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    from ganstudio.core.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoints/latest.pt")["step"] > 0


def test_core_and_cli_import_without_qt():
    code = (
        "import sys, pkgutil, importlib, ganstudio.core, ganstudio.cli\n"
        "for m in pkgutil.iter_modules(ganstudio.core.__path__): importlib.import_module('ganstudio.core.' + m.name)\n"
        "print([m for m in ('PySide6', 'pyqtgraph') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_no_display_gives_a_clear_message_not_a_qt_abort():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "ganstudio"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "no display" in r.stderr and "ganstudio train" in r.stderr


def test_sample_interpolation_gif_and_class_grid(cgan_run, tmp_path, capsys):
    gif = tmp_path / "walk.gif"
    assert main(["sample", str(cgan_run), "--interpolate", "1", "2", "--slerp", "--frames", "7", "--class", "4", "-o", str(gif)]) == 0
    assert Image.open(gif).n_frames == 7
    strip = tmp_path / "walk.png"
    assert main(["sample", str(cgan_run), "--interpolate", "1", "2", "--frames", "5", "-o", str(strip)]) == 0
    assert Image.open(strip).size == (2 + 5 * 30, 32)
    grid = tmp_path / "grid.png"
    assert main(["sample", str(cgan_run), "--class-grid", "--seeds", "4", "--truncation", "0.7", "-o", str(grid)]) == 0
    assert Image.open(grid).size == (2 + 4 * 30, 2 + 10 * 30)
    assert main(["sample", str(cgan_run), "--truncation", "2", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["sample", str(cgan_run), "--class-grid", "-o", str(tmp_path / "x.gif")]) == 2
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.gif").exists()


def test_resume_from_an_older_step_file_is_refused_clearly(tmp_path, capsys):
    old = tmp_path / "run/checkpoints/step_00000004.pt"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    assert main(["train", "--resume", str(old)]) == 2
    assert "give the run directory" in capsys.readouterr().err


def test_a_relative_dataset_path_is_stored_absolute(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(folder / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "dcgan-mnist", "--dataset", "pics", "--steps", "1", "--batch-size", "2", "--run-dir", "r", *FAST]) == 0
    import tomllib

    saved = tomllib.loads((tmp_path / "r/config.toml").read_text())["data"]["dataset"]
    assert saved == str(folder.resolve())
    monkeypatch.chdir("/")  # resumable from anywhere
    assert main(["train", "--resume", str(tmp_path / "r"), "--steps", "2", *FAST]) == 0


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cyc") / "run"
    assert main(["train", "--preset", "cyclegan-horse2zebra", "--steps", "3", "--batch-size", "2",
                 "--set", "resnet_blocks=2", "--run-dir", str(run), *FAST]) == 0
    return run


def test_translate_keeps_sizes_never_overwrites_and_reports_bad_files(cyclegan_run, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.zeros((90, 45), np.uint8)).save(src / "h.png")
    (src / "bad.png").write_text("not an image")
    out = tmp_path / "out"
    assert main(["translate", str(cyclegan_run), str(src), "-o", str(out)]) == 0
    assert Image.open(out / "h.png").size == (45, 90)
    assert "bad.png (not an image)" in capsys.readouterr().err
    assert main(["translate", str(cyclegan_run), str(src), "-o", str(out), "--direction", "BtoA", "--resize"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["h-1.png", "h.png"]  # the first result is kept


def test_translate_bad_input_exits_2(cyclegan_run, cgan_run, tmp_path, capsys):
    (tmp_path / "junk.png").write_text("x")
    assert main(["translate", str(cyclegan_run), str(tmp_path / "junk.png"), "-o", str(tmp_path / "o")]) == 2
    assert "nothing could be translated" in capsys.readouterr().err
    assert main(["translate", str(cyclegan_run), str(tmp_path / "missing.png")]) == 2
    assert main(["translate", str(cgan_run), str(tmp_path / "junk.png")]) == 2
    assert "not an image-translation model" in capsys.readouterr().err
    # the translation model in the noise sampler: a clear message too
    assert main(["sample", str(cyclegan_run), "-o", str(tmp_path / "g.png")]) == 2
    assert "image-translation model" in capsys.readouterr().err


def test_eval_prints_a_table_and_writes_eval_json(cgan_run, capsys):
    assert main(["eval", str(cgan_run), "-n", "200", "--metrics", "fd,kid,pr,modes"]) == 0
    out = capsys.readouterr().out
    assert "Fréchet distance" in out and "real vs real" in out and "precision" in out
    assert "modes: not computed: needs a set with known modes" in out
    saved = json.loads((cgan_run / "eval.json").read_text())["evaluations"]
    assert saved[-1]["step"] == 4 and saved[-1]["n"] == 200 and "fd_floor" in saved[-1]["values"]


@pytest.mark.parametrize("args,match", [
    (["--metrics", "fid"], "unknown metric fid"),
    (["-n", "3"], "-n must be at least 10"),
    (["--dataset", "/no/such/data"], "dataset /no/such/data cannot be read here"),
])
def test_eval_bad_input_exits_2(cgan_run, args, match, capsys):
    before = (cgan_run / "eval.json").read_text() if (cgan_run / "eval.json").exists() else None
    assert main(["eval", str(cgan_run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganstudio: error:") and match in err and len(err.splitlines()) == 1
    after = (cgan_run / "eval.json").read_text() if (cgan_run / "eval.json").exists() else None
    assert before == after  # nothing written


def test_eval_of_a_translation_model_scores_its_held_out_images(cyclegan_run, capsys):
    assert main(["eval", str(cyclegan_run)]) == 0
    out = capsys.readouterr().out
    assert "cyclegan on horse2zebra, 100 held-out images" in out and "cycle L1, A" in out and "A → B called B" in out
    saved = json.loads((cyclegan_run / "eval.json").read_text())["evaluations"][-1]
    assert saved["step"] == 3 and 0 <= saved["values"]["a_to_b_share"] <= 1


def test_export_writes_a_checked_file_and_refuses_bad_targets(cgan_run, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["export", str(cgan_run), "--format", "onnx", "-o", str(tmp_path / "g.onnx")]) == 0
    out = capsys.readouterr().out
    assert "ONNX opset 18" in out and "parity: max |difference|" in out and "input  y: (N,) int64" in out
    before = (tmp_path / "g.onnx").read_bytes()
    assert main(["export", str(cgan_run), "-o", str(tmp_path / "g.onnx")]) == 2  # exists
    assert main(["export", str(cgan_run), "-o", str(tmp_path / "g.bin")]) == 2  # format unknown
    assert main(["export", str(cgan_run), "-o", str(tmp_path / "no" / "g.pt")]) == 2  # no such folder
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [ln for ln in err if ln.startswith("ganstudio: error:")] == err[-4:] and len(err[-4:]) == 4
    assert "already exists" in err[-4] and "--format" in err[-3] and "does not exist" in err[-2]
    assert (tmp_path / "g.onnx").read_bytes() == before
    assert main(["export", str(cgan_run), "-o", str(tmp_path / "g.pt")]) == 0  # TorchScript from the suffix
    assert "TorchScript" in capsys.readouterr().out


def test_a_reader_that_stops_early_gets_no_traceback():
    import subprocess
    import sys

    p = subprocess.run(f"{sys.executable} -m ganstudio families gan | head -n 1", shell=True, capture_output=True, text=True)
    assert p.stdout.startswith("gan: ") and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr


def test_a_folder_of_odd_size_colour_images_trains_with_no_flags(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (25, 25, 4), dtype=np.uint8), "RGBA").save(folder / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(folder), "--steps", "4", "--batch-size", "8", "--run-dir", str(run),
                 "--set", "eval_every=0", *FAST]) == 0
    err = capsys.readouterr().err
    assert "20 images 25×25 RGBA → trained at 28×28 RGB on white (25 px → 28 px, the nearest size dcgan builds at)" in err
    assert "s per 100 steps here" in err
    from ganstudio.core.inference import load_generator

    gen = load_generator(run / "checkpoints" / "latest.pt")
    assert gen.G(torch.randn(2, gen.z_dim)).shape == (2, 3, 28, 28)
    saved = (run / "config.toml").read_text()
    assert 'loss = "rpgan-r1r2"' in saved  # the own-images recipe, not the MNIST tutorial model


def test_a_translation_preset_keeps_a_folders_own_size(tmp_path, capsys):
    root = tmp_path / "pairs"
    for side in ("A", "B"):
        (root / side).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (64, 64), 40 * i if side == "A" else 250 - 40 * i).save(root / side / f"{i}.png")
    run = tmp_path / "p2p"
    assert main(["train", "--preset", "pix2pix-edges2fashion", "--dataset", str(root), "--steps", "2", "--batch-size", "2",
                 "--run-dir", str(run), "--set", "g_width=8", "--set", "d_width=8", *FAST]) == 0
    assert "6 pairs 1×64×64 → 1×64×64" in capsys.readouterr().err


def test_eval_shows_the_nearest_training_images_of_each_sample(cgan_run, tmp_path, capsys):
    out = tmp_path / "nearest.png"
    assert main(["eval", str(cgan_run), "-n", "100", "--metrics", "copies", "--no-save", "--nearest", str(out)]) == 0
    text = capsys.readouterr().out
    assert "copies" in text and "nearest training images" in text
    grid = np.asarray(Image.open(out))
    assert grid.shape == (8 * 30 + 2, 5 * 30 + 2, 3)  # 8 samples, each with its 4 nearest: 28 px tiles, 2 px gaps
    assert main(["eval", str(cgan_run), "--nearest", str(out)]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err


def test_nearest_training_images_find_a_sample_that_is_a_training_image():
    from ganstudio.core.classifier import builtin_classifier
    from ganstudio.core.data import load_dataset
    from ganstudio.core.metrics import nearest

    data, clf = load_dataset("mnist"), builtin_classifier("mnist")
    d, idx = nearest(clf.features(data.x[[7, 700, 4000]]), clf.features(data.x), k=2)
    assert idx[:, 0].tolist() == [7, 700, 4000] and d[:, 0].max() < 0.01 * d[:, 1].min()  # itself, at (rounding-)zero distance

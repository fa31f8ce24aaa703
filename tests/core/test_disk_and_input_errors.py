"""Disks that fill up or are read-only, sizes that do not fit the model or memory, out-of-range settings,
refused resumes and file modes: one clear line and exit 2 from the CLI, and nothing already written lost."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio import cli
from ganstudio.core import checkpoint, images
from ganstudio.core.checkpoint import load_checkpoint, save_checkpoint
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.train import iter_train

RING = dict(steps=2, batch_size=16, log_every=1, sample_every=1000, checkpoint_every=1000, sample_count=16, threads=1)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _tree(folder: Path) -> dict:
    """Every file and folder under `folder` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def ring_run(tmp_path):
    run = tmp_path / "run"
    for _ in iter_train(apply_overrides(PRESETS.get("ring8").config(), RING), run):
        pass
    return run


@pytest.fixture
def full_disk(monkeypatch):
    """After `after` more successful atomic writes, every write fails as on a full disk (ENOSPC from /dev/full)."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    budget = {"left": None}
    real = checkpoint.create_temp

    def create(path):
        tmp, fd = real(path)
        if budget["left"] is not None:
            if budget["left"] <= 0:
                os.close(fd)
                return tmp, os.open("/dev/full", os.O_WRONLY)
            budget["left"] -= 1
        return tmp, fd

    monkeypatch.setattr(checkpoint, "create_temp", create)
    return lambda after: budget.update(left=after)


# ------------------------------------------------------------------ full disk, read-only folders


def test_a_disk_that_fills_up_while_training_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path, full_disk, capsys):
    run = tmp_path / "run"
    full_disk(4)  # config, owner, step-0 sample and checkpoint; then the disk is full
    code = cli.main(["train", "--preset", "ring8", "--steps", "50", "--checkpoint-every", "5", "--log-every", "5",
                     "--batch-size", "16", "--threads", "1", "--run-dir", str(run)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert "No space left on device" in err and "latest.pt" in err and "is kept" in err
    assert load_checkpoint(run / "checkpoints/latest.pt")["step"] == 0  # intact, and loadable
    assert not [p for p in run.rglob("*.tmp")]  # no half-written temp file left behind


def test_resume_of_a_run_on_a_read_only_disk_is_refused_and_writes_nothing(ring_run, read_only, capsys):
    before = _tree(ring_run)
    read_only(ring_run)
    assert cli.main(["train", "--resume", str(ring_run), "--steps", "4"]) == 2
    err = _one_line(capsys)
    assert str(ring_run) in err and "Read-only file system" in err
    assert _tree(ring_run) == before


def test_sample_into_a_read_only_folder_is_one_line(ring_run, tmp_path, read_only, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    read_only(out)
    assert cli.main(["sample", str(ring_run), "-n", "4", "-o", str(out / "s.png")]) == 2
    err = _one_line(capsys)
    assert f"cannot write {out / 's.png'}: Read-only file system" in err
    assert list(out.iterdir()) == []


def test_eval_that_cannot_record_prints_its_scores_and_keeps_eval_json(ring_run, full_disk, capsys):
    assert cli.main(["eval", str(ring_run), "-n", "100"]) == 0
    first = (ring_run / "eval.json").read_bytes()
    capsys.readouterr()
    full_disk(0)
    assert cli.main(["eval", str(ring_run), "-n", "120"]) == 2
    out, err = capsys.readouterr()
    assert "modes covered" in out  # computed, and shown
    assert "No space left on device" in err and "eval.json" in err and "not recorded" in err
    assert len(err.strip().splitlines()) == 1
    assert (ring_run / "eval.json").read_bytes() == first


def test_export_names_a_read_only_filesystem_as_such(ring_run, tmp_path, monkeypatch, capsys):
    class ReadOnlyFs:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    monkeypatch.setattr(os, "statvfs", lambda *a: ReadOnlyFs())
    assert cli.main(["export", str(ring_run), "-o", str(tmp_path / "g.pt")]) == 2
    assert "read-only file system" in _one_line(capsys)


# ------------------------------------------------------------------ sizes and memory


def test_a_size_the_model_refuses_is_refused_before_any_data_is_loaded(tmp_path, monkeypatch, capsys):
    import ganstudio.core.data as data

    def never(*a, **k):
        raise AssertionError("the dataset was loaded before the size was checked")

    monkeypatch.setattr(data, "load_dataset", never)
    for preset, size in (("dcgan-mnist", 1024), ("pix2pix-edges2fashion", 48)):
        assert cli.main(["train", "--preset", preset, "--set", f"image_size={size}", "--run-dir", str(tmp_path / "r")]) == 2
        assert "image_size" in _one_line(capsys)
    assert not (tmp_path / "r").exists()


def test_loading_more_than_memory_holds_is_refused_with_the_size_that_fits(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(images, "available_memory", lambda: 2 * 10**9)
    assert cli.main(["train", "--preset", "gan-mlp-mnist", "--set", "image_size=512", "--steps", "1",
                     "--run-dir", str(tmp_path / "r")]) == 2
    err = _one_line(capsys)
    assert "mnist" in err and "5,000 images at 512×512" in err and "GB" in err and "px or less fits" in err
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setattr(images, "available_memory", lambda: 10_000)
    for dataset, preset in ((folder, "gan-mlp-mnist"), (folder, "pix2pix-edges2fashion")):
        code = cli.main(["train", "--preset", preset, "--set", f"dataset={dataset}", "--set", "image_size=64",
                         "--steps", "1", "--run-dir", str(tmp_path / "r")])
        assert code == 2 and "memory" in _one_line(capsys)
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ settings, refused resumes, modes


@pytest.mark.parametrize("setting", ["beta1=2", "beta2=1", "beta1=-0.5", "ema=1", "label_smoothing=1.5", "d_dropout=1"])
def test_out_of_range_optimiser_settings_are_refused_by_name(tmp_path, capsys, setting):
    assert cli.main(["train", "--preset", "gan-mlp-mnist", "--set", setting, "--run-dir", str(tmp_path / "r")]) == 2
    assert _one_line(capsys).startswith(f"ganstudio: error: {setting.split('=')[0]}: must be in [0.0, 1.0)")
    assert not (tmp_path / "r").exists()


def _reshaped(path: Path) -> None:
    state = load_checkpoint(path)
    name = next(iter(state["nets"]["G"]))
    state["nets"]["G"][name] = torch.zeros(3, 3, 3)
    save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format_version", "kind")})


def _malformed(path: Path) -> None:
    state = load_checkpoint(path)
    state["step"] = "abc"
    save_checkpoint(path, {k: v for k, v in state.items() if k not in ("format_version", "kind")})


@pytest.mark.parametrize("damage", [_reshaped, _malformed])
def test_a_refused_resume_writes_nothing(ring_run, capsys, damage):
    damage(ring_run / "checkpoints/latest.pt")
    before = _tree(ring_run)
    assert cli.main(["train", "--resume", str(ring_run), "--steps", "4"]) == 2
    _one_line(capsys)
    assert _tree(ring_run) == before
    assert not (ring_run / ".lock").exists()


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_written_files_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        run = tmp_path / "run"
        for _ in iter_train(apply_overrides(PRESETS.get("ring8").config(), RING), run):
            pass
        assert cli.main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.png")]) == 0
    finally:
        os.umask(old)
    want = 0o666 & ~mask
    for p in (run / "config.toml", run / "checkpoints/latest.pt", tmp_path / "s.png"):
        assert p.stat().st_mode & 0o777 == want, p


def test_a_file_with_only_a_kind_is_called_incomplete_by_every_command(tmp_path, capsys):
    path = tmp_path / "k.pt"
    torch.save({"kind": "ganstudio-train"}, path)
    messages = set()
    for args in (["sample", str(path), "-o", str(tmp_path / "s.png")], ["eval", str(path)],
                 ["export", str(path), "-o", str(tmp_path / "g.pt")],
                 ["translate", str(path), str(tmp_path), "-o", str(tmp_path / "out")]):
        assert cli.main(args) == 2
        messages.add(_one_line(capsys))
    assert len(messages) == 1
    msg = messages.pop()
    assert "incomplete checkpoint" in msg and "image-translation" not in msg and "?" not in msg

"""Synthetic labelled datasets from a conditional generator (`ganstudio sample --export-dataset`)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.cli import main
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.data import load_dataset
from ganstudio.core.events import RunFinished
from ganstudio.core.inference import load_generator
from ganstudio.core.synthetic import SyntheticDatasetError, export_dataset, folder_name
from ganstudio.core.train import iter_train


def _train(root: Path, preset: str) -> Path:
    cfg = apply_overrides(PRESETS.get(preset).config(), dict(steps=2, batch_size=8, log_every=1, sample_every=1000,
                                                            checkpoint_every=1000, threads=2))
    return Path([ev for ev in iter_train(cfg, root / preset) if isinstance(ev, RunFinished)][-1].checkpoint)


@pytest.fixture(scope="module")
def fashion_ckpt(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("syn"), "cgan-fashion")


def test_class_folders_hold_the_generators_images_for_their_class(fashion_ckpt, tmp_path):
    out = tmp_path / "synthetic"
    res = export_dataset(fashion_ckpt, out, 25, seed=3, tstr=False)
    gen = load_generator(str(fashion_ckpt))
    # classes balanced, the remainder to the first classes; names made safe for every filesystem
    assert res.counts[folder_name("T-shirt/top", 0)] == 3 and sum(res.counts.values()) == 25
    assert "T-shirt_top" in res.counts and (out / "T-shirt_top").is_dir()
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert len(rows) == 25 and rows[0]["class_name"] == "T-shirt/top"
    # image i of the export is G(z_i, y_i) of the seed's latent stream, quantised to 8 bits
    g = torch.Generator().manual_seed(3)
    z = torch.randn(25, gen.z_dim, generator=g)
    y = torch.arange(25) % 10
    with torch.no_grad():
        want = ((gen.G(z, y).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    row = next(r for r in rows if r["class_index"] == "4")  # the first sample of class 4 is sample 4
    got = np.asarray(Image.open(out / row["file"]))
    assert np.array_equal(got, want[4, 0].numpy())
    info = json.loads((out / "dataset.json").read_text())
    assert info["n"] == 25 and info["seed"] == 3 and info["step"] == 2 and info["classes"][0] == "T-shirt/top"
    # and GAN Studio reads it back as a labelled dataset of 25 images in 10 classes
    data = load_dataset(str(out))
    assert len(data) == 25 and data.labels is not None and len(data.classes) == 10


def test_existing_folders_are_never_written_into(fashion_ckpt, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(SyntheticDatasetError, match="not an empty folder"):
        export_dataset(fashion_ckpt, out, 10, tstr=False)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    export_dataset(fashion_ckpt, empty, 10, tstr=False)  # an empty folder is fine
    assert len(list(empty.rglob("*.png"))) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "taken"]  # no temporary folder left


def test_cli_exports_and_reports_tstr(fashion_ckpt, tmp_path, capsys):
    assert main(["sample", str(fashion_ckpt), "--export-dataset", str(tmp_path / "d"), "-n", "100"]) == 0
    out = capsys.readouterr().out
    assert "wrote 100 images in 10 class folders" in out
    assert "TSTR: a classifier trained on these images scores" in out and "trained on real images: 8" in out
    assert "when trained with augmentation" in out  # the plain recipe first, the augmented one beside it


def test_cli_refuses_unconditional_models_and_bad_combinations(tmp_path, fashion_ckpt, capsys):
    dcgan = _train(tmp_path, "dcgan-fashion")
    assert main(["sample", str(dcgan), "--export-dataset", str(tmp_path / "d"), "-n", "10"]) == 2
    assert "needs a conditional model" in capsys.readouterr().err
    assert main(["sample", str(fashion_ckpt), "--export-dataset", str(tmp_path / "d"), "--class", "1"]) == 2
    assert not (tmp_path / "d").exists()

"""ONNX / TorchScript export: parity with the checkpoint, dynamic batch, metadata, and clear errors."""

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from ganstudio.core import export as E
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.events import RunFinished
from ganstudio.core.inference import load_generator
from ganstudio.core.train import iter_train
from ganstudio.core.inference import load_translator

ort = pytest.importorskip("onnxruntime")


def _train(tmp_path_factory, preset: str, **extra) -> Path:
    run = tmp_path_factory.mktemp(preset) / "run"
    cfg = apply_overrides(PRESETS.get(preset).config(), dict(steps=2, batch_size=4, log_every=1, sample_every=1000,
                                                            checkpoint_every=1000, threads=2, **extra))
    fin = [ev for ev in iter_train(cfg, run) if isinstance(ev, RunFinished)][-1]
    return Path(fin.checkpoint)


@pytest.fixture(scope="module")
def dcgan_ckpt(tmp_path_factory):
    return _train(tmp_path_factory, "dcgan-mnist")


@pytest.fixture(scope="module")
def cgan_ckpt(tmp_path_factory):
    return _train(tmp_path_factory, "cgan-mnist")


@pytest.fixture(scope="module")
def pix2pix_ckpt(tmp_path_factory):
    # a tiny pix2pix: width 8, so a step is milliseconds
    return _train(tmp_path_factory, "pix2pix-edges2fashion", g_width=8, d_width=8)


def _reference(ckpt: Path):
    """(inputs for batch 5, the checkpoint's own output), computed without the export module."""
    g = torch.Generator().manual_seed(7)
    from ganstudio.core.inference import read_checkpoint, signature_of

    if signature_of(read_checkpoint(ckpt)).kind == "translate":
        G, size, in_ch, _ = load_translator(str(ckpt))
        x = torch.rand(5, in_ch, size, size, generator=g) * 2 - 1
        with torch.no_grad():
            return (x,), G(x)
    gen = load_generator(str(ckpt))
    z = torch.randn(5, gen.z_dim, generator=g)
    y = torch.tensor([3, 1, 4, 1, 5]) if gen.num_classes else None
    with torch.no_grad():
        out = gen.G(z, y)
    return ((z, y) if gen.num_classes else (z,)), out


@pytest.mark.parametrize("which", ["dcgan_ckpt", "cgan_ckpt", "pix2pix_ckpt"])
def test_exported_files_reproduce_the_checkpoint_at_any_batch_size(which, request, tmp_path):
    ckpt = request.getfixturevalue(which)
    inputs, want = _reference(ckpt)

    res = E.export_model(ckpt, "onnx", tmp_path / "g.onnx")
    assert res.max_diff <= E.PARITY_TOLERANCE and res.opset == E.ONNX_OPSET
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)  # the batch axis is symbolic
    got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)})[0]
    assert got.shape == tuple(want.shape)
    assert np.abs(got - want.numpy()).max() <= 1e-4

    res = E.export_model(ckpt, "torchscript", tmp_path / "g.pt")
    assert res.max_diff <= E.PARITY_TOLERANCE
    with pytest.warns(FutureWarning):  # torch.jit.load announces its deprecation; it still loads
        ts = torch.jit.load(str(tmp_path / "g.pt"))
    with torch.no_grad():
        assert (ts(*inputs) - want).abs().max() <= 1e-4

    for f in ("g.onnx", "g.pt"):
        meta = E.read_metadata(tmp_path / f)
        assert meta["step"] == 2 and meta["value_range"] == [-1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx", "g.pt"]  # no temporary files left


def test_conditional_export_describes_its_classes(cgan_ckpt, tmp_path):
    res = E.export_model(cgan_ckpt, "onnx", tmp_path / "c.onnx")
    assert set(res.inputs) == {"z", "y"} and "int64" in res.inputs["y"]
    meta = E.read_metadata(tmp_path / "c.onnx")
    assert meta["num_classes"] == 10 and meta["classes"][:3] == ["0", "1", "2"] and meta["z_dim"] == 100


def test_an_existing_file_is_never_replaced_unless_asked(dcgan_ckpt, tmp_path):
    target = tmp_path / "g.onnx"
    target.write_bytes(b"precious")
    with pytest.raises(E.ExportError, match="already exists"):
        E.export_model(dcgan_ckpt, "onnx", target)
    assert target.read_bytes() == b"precious"
    E.export_model(dcgan_ckpt, "torchscript", target.with_suffix(".pt"))
    E.export_model(dcgan_ckpt, "torchscript", target.with_suffix(".pt"), overwrite=True)


def _unwritable_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / "locked"
        d.mkdir()
        d.chmod(0o500)
        return d
    probe = Path("/sys") / f"ganstudio-{uuid.uuid4().hex}"
    try:
        probe.touch()
        probe.unlink()
    except OSError:
        return Path("/sys")  # read-only even for root
    pytest.skip("no folder here that root cannot write to")


def test_no_write_access_is_one_clear_message(dcgan_ckpt, tmp_path):
    d = _unwritable_dir(tmp_path)
    with pytest.raises(E.ExportError, match="cannot write") as e:
        E.export_model(dcgan_ckpt, "torchscript", d / "g.pt")
    assert str(d) in str(e.value) and "\n" not in str(e.value)
    assert not (d / "g.pt").exists()


def test_an_unsupported_op_is_one_clear_message_and_nothing_is_written(dcgan_ckpt, tmp_path, monkeypatch):
    class Zeta(torch.nn.Module):  # torch.special.zeta has no ONNX translation
        def forward(self, z):
            return torch.special.zeta(z.abs() + 2, torch.ones_like(z))

    real = E.load_exportable

    def patched(checkpoint, direction="AtoB"):
        ex = real(checkpoint, direction)
        ex.module = Zeta()
        return ex

    monkeypatch.setattr(E, "load_exportable", patched)
    with pytest.raises(E.ExportError) as e:
        E.export_model(dcgan_ckpt, "onnx", tmp_path / "g.onnx")
    msg = str(e.value)
    assert msg.startswith("ONNX export failed") and "zeta" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_a_parity_failure_keeps_nothing(dcgan_ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr(E, "_parity", lambda ex, fmt, path: 0.5)
    with pytest.raises(E.ExportError, match="differs from the checkpoint by up to 0.5"):
        E.export_model(dcgan_ckpt, "torchscript", tmp_path / "g.pt")
    assert list(tmp_path.iterdir()) == []


def test_cyclegan_exports_either_direction(tmp_path_factory, tmp_path):
    ckpt = _train(tmp_path_factory, "cyclegan-horse2zebra", resnet_blocks=1, g_width=8, d_width=8)
    a = E.export_model(ckpt, "onnx", tmp_path / "ab.onnx", direction="AtoB")
    b = E.export_model(ckpt, "onnx", tmp_path / "ba.onnx", direction="BtoA")
    assert a.max_diff <= E.PARITY_TOLERANCE and b.max_diff <= E.PARITY_TOLERANCE
    assert (a.metadata["source"], a.metadata["target"]) == tuple(reversed((b.metadata["source"], b.metadata["target"])))

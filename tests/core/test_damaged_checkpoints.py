"""Damaged and malformed checkpoints: refused with one clear line naming the file, whatever the damage,
in the core and in every CLI command that reads one (Explore: tests/ui/test_explorer.py)."""

import io
import random
import zipfile

import pytest
import torch

from ganstudio import cli
from ganstudio.core.checkpoint import CheckpointError, load_checkpoint
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.inference import read_checkpoint
from ganstudio.core.train import iter_train


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A real ring8 run's checkpoint (two steps)."""
    run = tmp_path_factory.mktemp("dmg") / "run"
    cfg = apply_overrides(PRESETS.get("ring8").config(), dict(steps=2, batch_size=16, log_every=1, sample_every=1000,
                                                              checkpoint_every=1000, sample_count=16, threads=1))
    for _ in iter_train(cfg, run):
        pass
    return run / "checkpoints" / "latest.pt"


def _refused(path) -> str:
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_random_bytes_after_every_first_byte_are_refused(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "r.pt"
    for first in range(256):
        path.write_bytes(bytes([first]) + rng.randbytes(1000))
        _refused(path)


def test_a_valid_archive_with_a_garbage_pickle_is_refused(tmp_path, good):
    # the weights-only unpickler itself meets garbage: the archive's checksums are right, its pickle is not
    rng = random.Random(1)
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    pickle_name = next(n for n in members if n.endswith("data.pkl"))
    path = tmp_path / "g.pt"
    for first in range(256):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for name, data in members.items():
                z.writestr(name, bytes([first]) + rng.randbytes(200) if name == pickle_name else data)
        path.write_bytes(buf.getvalue())
        _refused(path)


def test_every_truncation_is_refused(tmp_path, good):
    data = good.read_bytes()
    path = tmp_path / "t.pt"
    for k in range(1, 40):
        path.write_bytes(data[: len(data) * k // 40])
        _refused(path)


def test_damage_inside_the_weights_is_caught_by_the_checksums(tmp_path):
    from ganstudio.core.checkpoint import save_checkpoint

    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 3, "w": torch.randn(100_000)})
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 4096] = bytes(b ^ 0x5A for b in raw[mid:mid + 4096])
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="damaged checkpoint.*checksum") as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("field,value,match", [
    ("step", "abc", "'step' is 'abc', not a whole number"),
    ("step", -4, "'step' is -4"),
    ("nets", {"G": "weights"}, "'nets' is dict, not network name"),
    ("config_toml", None, "'config_toml' is None"),
    ("family", 7, "'family' is 7"),
])
def test_malformed_fields_are_refused_in_one_place(tmp_path, good, field, value, match):
    state = torch.load(good, weights_only=True)
    state[field] = value
    path = tmp_path / "m.pt"
    torch.save(state, path)
    assert match in _refused(path)


def test_every_command_that_reads_a_checkpoint_refuses_a_damaged_one(tmp_path, good, capsys):
    state = torch.load(good, weights_only=True)
    state["step"] = "abc"
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"Q" + random.Random(2).randbytes(1000))
    for path in (bad, junk):
        for args in (["sample", str(path), "-o", str(tmp_path / "s.png")], ["eval", str(path)],
                     ["export", str(path), "-o", str(tmp_path / "g.onnx")]):
            capsys.readouterr()
            assert cli.main(args) == 2, args
            err = capsys.readouterr().err.strip()
            assert err.startswith("ganstudio: error:") and str(path) in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "g.onnx").exists()

"""Checkpoints: atomic writes, and loading that refuses anything but plain weights."""

import os
import pickle

import pytest
import torch

from ganstudio.core.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint


class Hostile:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "kind": "ganstudio-train", "G": Hostile(marker)}, path)
    with pytest.raises(CheckpointError, match="refused.*could run code"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": Hostile(tmp_path / "x")}))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"not a checkpoint at all", "not a readable checkpoint")])
def test_garbage_files_give_a_clear_error(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"step": 3, "w": torch.randn(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated|not a readable"):
        load_checkpoint(path)


def test_foreign_torch_file_is_not_a_ganstudio_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a GAN Studio checkpoint"):
        load_checkpoint(path)


def test_newer_format_asks_for_an_update(tmp_path):
    path = tmp_path / "new.pt"
    torch.save({"format_version": 99, "kind": "ganstudio-train"}, path)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)


def test_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {"step": 1})

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left behind


def test_atomic_write_replaces_whole(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write_bytes(p, b"old")
    atomic_write_bytes(p, b"new contents")
    assert p.read_bytes() == b"new contents"

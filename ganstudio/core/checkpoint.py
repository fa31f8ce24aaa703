"""Run directories and checkpoints: atomic writes, and loading that never runs code from a file."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import secrets
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganstudio.core.errors import CheckpointError, RunDirError, WriteError  # noqa: F401  (raised here, caught by callers)

FORMAT_VERSION = 2  # 2: families (named networks, optimiser groups and parts); 1 is upgraded on reading
CHECKPOINT_KIND = "ganstudio-train"




# ---------------------------------------------------------------- atomic files


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write via a temp file in the same folder, fsync, rename: a kill leaves old or new, never half.

    fsync=False keeps the all-or-nothing rename but skips the flush to disk, for files that
    can be made again (translated images), where a sync per file would cost more than the work.
    The file gets the usual mode (0666 less the umask), as any program's files do. A failure
    (full disk, read-only folder) raises WriteError naming `path`, and leaves any old file as it was.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp, fd = create_temp(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            _remove(tmp)
        raise WriteError(e.errno, e.strerror or str(e), str(path)) from e
    except BaseException:
        if tmp is not None:
            _remove(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


def create_temp(path: Path) -> tuple[Path, int]:
    """A new, unique hidden file beside `path`, created with mode 0666 so the umask decides (mkstemp forces 0600)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _remove(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- checkpoints


def nonfinite_tensors(tree: Any, prefix: str = "") -> list[str]:
    """Paths ("nets/G/body.0.weight") of the floating-point tensors in `tree` holding NaN or ±inf.

    One device sync for the whole tree: a check before every save costs next to nothing.
    """
    named: list[tuple[str, torch.Tensor]] = []

    def walk(v, path):
        if isinstance(v, torch.Tensor):
            if v.is_floating_point() or v.is_complex():
                named.append((path, v))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{path}/{k}" if path else str(k))
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{path}/{i}" if path else str(i))

    walk(tree, prefix)
    if not named:
        return []
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, t) in enumerate(named):
        by_device.setdefault(t.device, []).append(i)
    ok = [True] * len(named)
    for idx in by_device.values():
        flags = torch.stack([torch.isfinite(named[i][1]).all() for i in idx]).cpu().tolist()
        for i, flag in zip(idx, flags):
            ok[i] = flag
    return [path for (path, _), good in zip(named, ok) if not good]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    state = {"format_version": FORMAT_VERSION, "kind": CHECKPOINT_KIND, **state}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`: plain tensors and containers only.

    A file holding any other Python object (which could run code while
    unpickling) is refused with CheckpointError, as is anything corrupt.
    """
    p = Path(path)
    if p.is_dir():
        for candidate in (p / "checkpoints" / "latest.pt", p / "latest.pt"):
            if candidate.is_file():
                p = candidate
                break
        else:
            raise CheckpointError(f"{path}: no checkpoint in this folder (expected checkpoints/latest.pt)")
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: empty file, not a checkpoint")
    _check_archive(p)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" in str(e).lower():  # the unpickler met a class or function reference
            raise CheckpointError(
                f"{p}: refused: the file holds Python objects other than plain weights, "
                "which could run code when loaded; GAN Studio only loads plain tensors"
            ) from None
        raise CheckpointError(f"{p}: not a readable checkpoint (not a torch file, or corrupt)") from None
    except MemoryError:
        raise CheckpointError(f"{p}: not a readable checkpoint (it asks for more memory than there is)") from None
    except Exception as e:  # noqa: BLE001  the weights-only unpickler fails in many ways on damaged bytes
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{p}: not a readable checkpoint (corrupt or truncated: {first[:120]})") from None
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{p}: not a GAN Studio checkpoint")
    version = state.get("format_version")
    if version is None:
        held = ", ".join(sorted(map(str, state))[:6])
        raise CheckpointError(f"{p}: incomplete checkpoint: it has no format_version (its fields: {held}), "
                              "so it is not a whole GAN Studio checkpoint")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{p}: malformed checkpoint: 'format_version' is {version!r}, not a format number")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {version} is newer than this GAN Studio understands ({FORMAT_VERSION}); update GAN Studio"
        )
    return state


def _check_archive(p: Path) -> None:
    """A checkpoint is a zip archive (torch.save's format): refuse anything else before unpickling a
    byte of it, and verify every member's CRC, so damage anywhere in the file is caught, not loaded."""
    try:
        with zipfile.ZipFile(p) as z:
            bad = z.testzip()
    except zipfile.BadZipFile:
        raise CheckpointError(f"{p}: not a readable checkpoint (not a torch archive, or truncated)") from None
    except (OSError, EOFError, ValueError, RuntimeError, zlib.error) as e:
        raise CheckpointError(f"{p}: not a readable checkpoint (corrupt: {str(e)[:120] or type(e).__name__})") from None
    if bad is not None:
        raise CheckpointError(f"{p}: damaged checkpoint: its part {bad!r} fails its checksum (a bad copy or a failing disk); "
                              "use another checkpoint of the run")


# ---------------------------------------------------------------- run directory


_STEP_RE = re.compile(r"step_(\d+)\.(pt|png)$")


class RunDir:
    """The files of one run: config.toml, metrics.jsonl, samples/, checkpoints/."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._metrics_file = None
        self._lock_fd: int | None = None

    @classmethod
    def of_checkpoint(cls, path: str | Path) -> "RunDir | None":
        """The run a checkpoint file belongs to (RUN/checkpoints/X.pt), or None for a loose file."""
        p = Path(path)
        if p.is_dir():
            return cls(p)
        return cls(p.parent.parent) if p.parent.name == "checkpoints" else None

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def latest_checkpoint(self) -> Path:
        return self.checkpoints_dir / "latest.pt"

    def has_run(self) -> bool:
        return self.latest_checkpoint.exists() or self.metrics_path.exists()

    def ensure_new(self) -> None:
        """Refuse a path that is a file or already holds another run (nothing is overwritten)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {self.path} is a file")
        if self.has_run():
            raise RunDirError(
                f"{self.path} already holds a run; continue it with --resume {self.path} or choose another --run-dir"
            )

    def create(self) -> None:
        """Make the folders of a new run."""
        self.ensure_new()
        try:
            self.samples_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"cannot create run directory {self.path}: {e.strerror or e}") from None

    def open_existing(self) -> None:
        """Check there is a run to resume; nothing is written (claim does that, once the resume is known to work)."""
        if not self.latest_checkpoint.is_file():
            raise RunDirError(f"{self.path}: no checkpoint to resume from (expected {self.latest_checkpoint})")

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:08d}.png"

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"step_{step:08d}.pt"

    def write_config(self, toml_text: str) -> None:
        atomic_write_text(self.config_path, toml_text)

    def append_metrics(self, record: dict) -> None:
        if self._metrics_file is None:
            self._metrics_file = open(self.metrics_path, "a", encoding="utf-8")
        self._metrics_file.write(json.dumps(record, allow_nan=True) + "\n")
        self._metrics_file.flush()

    @property
    def health_path(self) -> Path:
        return self.path / "health.jsonl"

    def append_health(self, record: dict) -> None:
        """A health warning, for whoever follows the run from outside the training process."""
        with open(self.health_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")

    def truncate_metrics_after(self, step: int) -> None:
        """Drop metric and health records past `step` (written after the checkpoint a resume starts from)."""
        self._close_metrics()  # the file is replaced: later records must go to the new one
        for path in (self.metrics_path, self.health_path):
            if not path.exists():
                continue
            keep = []
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        if json.loads(line).get("step", 0) <= step:
                            keep.append(line if line.endswith("\n") else line + "\n")
                    except json.JSONDecodeError:
                        continue  # a line cut by a kill mid-write
            atomic_write_text(path, "".join(keep))

    def _close_metrics(self) -> None:
        f, self._metrics_file = self._metrics_file, None
        if f is not None:
            f.close()

    @property
    def owner_path(self) -> Path:
        return self.path / ".lock"

    def lock(self) -> None:
        """Hold an exclusive lock on the run folder while training: a second process training the
        same run is refused. The folder itself is locked, so taking the lock writes nothing."""
        if self._lock_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # no flock on this platform: run unlocked
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            raise RunDirError(f"cannot open run directory {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            try:
                who = self.owner_path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                who = ""
            raise RunDirError(f"{self.path} is being trained by {who or 'another process'}; "
                              "wait for it to finish or stop it first") from None
        self._lock_fd = fd

    def claim(self) -> None:
        """The first write of a training process, once everything was checked: the folders, and who
        holds the lock. A read-only or full disk is refused here in one line, before any training."""
        try:
            self.samples_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.owner_path, f"process {os.getpid()}\n")
        except OSError as e:
            raise RunDirError(f"cannot write to run directory {self.path}: {e.strerror or e}") from None

    def close(self) -> None:
        """Flush and close the metrics file and release the run lock."""
        try:
            self._close_metrics()
        except OSError:
            pass  # a full disk: every record written so far is on disk, line by line
        if self._lock_fd is not None:
            _remove(self.owner_path)
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def save_sample(self, step: int, image: np.ndarray) -> Path:
        p = self.sample_path(step)
        atomic_write_bytes(p, png_bytes(image))
        return p

    def save_checkpoint(self, step: int, state: dict, periodic: bool) -> Path:
        """Write latest.pt (and step_N.pt when periodic) atomically."""
        save_checkpoint(self.latest_checkpoint, state)
        if periodic:
            target = self.checkpoint_path(step)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:  # a hard link shares the bytes just written: no second copy on disk
                os.link(self.latest_checkpoint, tmp)
                os.replace(tmp, target)
            except OSError:
                save_checkpoint(target, state)
        return self.latest_checkpoint

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        out = []
        with open(self.metrics_path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def sample_steps(self) -> list[int]:
        if not self.samples_dir.exists():
            return []
        return sorted(int(m.group(1)) for p in self.samples_dir.iterdir() if (m := _STEP_RE.match(p.name)))


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path

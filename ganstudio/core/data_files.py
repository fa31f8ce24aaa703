"""Array files as image sets: MNIST-style IDX files and .npz archives, validated field by field."""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ganstudio.core.errors import DataError
from ganstudio.core.images import uint8_to_unit

IDX_IMAGES = re.compile(r"images[-.]idx3-ubyte(\.gz)?$")


def _read_idx(path: Path, magic: int, header: int) -> tuple[np.ndarray, bytes]:
    """Return (big-endian header uint32s, raw data) after checking magic and length."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path.name}: cannot read ({'truncated or corrupt gzip' if path.name.endswith('.gz') else e})") from None
    if len(raw) < header:
        raise DataError(f"{path.name}: truncated IDX file ({len(raw)} bytes, shorter than its {header}-byte header)")
    head = np.frombuffer(raw[:header], dtype=">u4")
    if int(head[0]) != magic:
        raise DataError(f"{path.name}: not an IDX {'image' if magic == 0x803 else 'label'} file "
                        f"(magic 0x{int(head[0]):08x}, expected 0x{magic:08x})")
    expected = header + int(np.prod(head[1:].astype(np.int64)))
    if len(raw) != expected:
        what = "truncated IDX file" if len(raw) < expected else "IDX file longer than its header says"
        raise DataError(f"{path.name}: {what} (expected {expected:,} bytes, got {len(raw):,})")
    return head, raw[header:]


def _labels_beside(images: Path) -> Path | None:
    stem = images.name[:-3] if images.name.endswith(".gz") else images.name
    stem = stem.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    gz = images.name.endswith(".gz")
    for name in ((stem + ".gz", stem) if gz else (stem, stem + ".gz")):
        if (images.parent / name).is_file():
            return images.parent / name
    return None


def read_idx(images: Path) -> tuple[torch.Tensor, np.ndarray | None, tuple[str, ...], str]:
    """An IDX image file (and the labels file beside it, if any) -> (images (N, 1, H, W) in [-1, 1], labels, classes, source)."""
    head, data = _read_idx(images, 0x00000803, 16)
    n, rows, cols = (int(v) for v in head[1:])
    if n == 0 or rows == 0 or cols == 0:
        raise DataError(f"{images.name}: IDX file holds no image ({n}×{rows}×{cols})")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(n, 1, rows, cols)
    labels_path, labels, classes = _labels_beside(images), None, ()
    if labels_path is not None:
        lhead, ldata = _read_idx(labels_path, 0x00000801, 8)
        if int(lhead[1]) != n:
            raise DataError(f"{labels_path.name}: {int(lhead[1]):,} labels for {n:,} images in {images.name}")
        labels = np.frombuffer(ldata, dtype=np.uint8)
        classes = tuple(str(k) for k in range(int(labels.max()) + 1))
    source = f"IDX file {images}" + ("" if labels is not None else " (no labels file beside it)")
    return uint8_to_unit(arr), labels, classes, source


def read_npz(path: Path) -> tuple[torch.Tensor, np.ndarray | None, tuple[str, ...], str]:
    """An .npz with 'images' (and optional 'labels', 'classes') -> (images (N, C, H, W) in [-1, 1], labels, classes, source)."""
    try:
        # allow_pickle=False: an .npz may come from anywhere, and unpickling runs arbitrary code.
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if "images" not in keys:
                raise DataError(f"{path.name}: no 'images' array (found: {', '.join(keys) or 'nothing'})")
            images = z["images"]
            labels = z["labels"] if "labels" in keys else None
            classes = z["classes"] if "classes" in keys else None
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise DataError(f"{path.name}: holds Python objects (pickled arrays are refused for safety); "
                            "save plain numeric arrays") from None
        raise DataError(f"{path.name}: not a readable .npz file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path.name}: not a readable .npz file ({e})") from None

    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4:
        # (N, H, W, C) is numpy/PIL's layout and wins when both ends could be channels.
        if images.shape[3] in (1, 3, 4):
            images = images.transpose(0, 3, 1, 2)
        elif images.shape[1] not in (1, 3, 4):
            raise DataError(f"{path.name}: images of shape {images.shape} have no channel axis of 1, 3 or 4")
    else:
        raise DataError(f"{path.name}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W), "
                        f"got shape {images.shape}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise DataError(f"{path.name}: images array is empty (shape {images.shape})")

    kind = images.dtype.kind
    if images.dtype == np.uint8:
        x, range_note = uint8_to_unit(images), "uint8 0..255"
    elif kind in "iu":
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{path.name}: integer images must lie in 0..255 (found {lo}..{hi})")
        x, range_note = uint8_to_unit(images.astype(np.uint8)), "integers 0..255"
    elif kind == "f":
        if not np.isfinite(images).all():
            raise DataError(f"{path.name}: images contain NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        if lo >= 0.0 and hi <= 1.0:
            # All-non-negative data in [0, 1] could also be [-1, 1] without negatives; [0, 1] is far likelier.
            x, range_note = x.mul(2.0).sub_(1.0), "float, assumed range [0, 1]"
        elif lo >= -1.0 and hi <= 1.0:
            range_note = "float, assumed range [-1, 1]"
        else:
            raise DataError(f"{path.name}: float images must lie in [0, 1] or [-1, 1] (found {lo:g}..{hi:g})")
    else:
        raise DataError(f"{path.name}: images have dtype {images.dtype}; use uint8 or float")

    if x.shape[1] == 4:  # RGBA: composite over white, as image files are
        alpha = (x[:, 3:] + 1) / 2
        x = x[:, :3] * alpha + (1 - alpha)

    n = x.shape[0]
    class_names: tuple[str, ...] = ()
    if labels is not None:
        if labels.ndim != 1 or labels.shape[0] != n:
            raise DataError(f"{path.name}: labels must be one integer per image ({n:,}), got shape {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise DataError(f"{path.name}: labels must be integers, got dtype {labels.dtype}")
        if labels.min() < 0:
            raise DataError(f"{path.name}: labels must be 0 or more (found {int(labels.min())})")
        k = int(labels.max()) + 1
        if classes is not None:
            if classes.ndim != 1 or classes.dtype.kind not in "US":
                raise DataError(f"{path.name}: classes must be a 1-D array of strings")
            class_names = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist())
            if len(class_names) < k:
                raise DataError(f"{path.name}: {len(class_names)} class names for labels up to {k - 1}")
        else:
            class_names = tuple(str(i) for i in range(k))
    source = f"{path} ({range_note})"
    return x, labels, class_names, source


# ---------------------------------------------------------------------------------------------
# Image files


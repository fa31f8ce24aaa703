"""Datasets: built-in sets, image folders, IDX and .npz files, decoded uniformly into tensors in [-1, 1]."""

from __future__ import annotations

import gzip
import os
import re
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from ganstudio.core.errors import UserError
from ganstudio.core.registry import Registry


class DataError(UserError):
    """Bad or unusable dataset; str(e) is one clear line for the user."""


class _Unusable(DataError):
    """One image file that cannot be used; `reason` is the short text shown in skip reports."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{Path(path).name}: {reason}")
        self.reason = reason


# Pillow's own default limit; checked against the header size before any pixel is decoded.
MAX_PIXELS = 89_478_485

# Above this, "native" user images are fitted to 64 px: the size the models are built for.
NATIVE_MAX_SIZE = 64
# A requested size above this is a typo, not a wish: 5,000 images at 4096 px would need 335 GB.
MAX_IMAGE_SIZE = 1024

# Files that are plainly not images are left out without a report; anything else that fails is reported.
IGNORED_SUFFIXES = frozenset({".txt", ".md", ".json", ".csv", ".db", ".ini"})

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_IDX_IMAGES = re.compile(r"images[-.]idx3-ubyte(\.gz)?$")
# ITU-R 601-2 luma, the weights Pillow's RGB -> L conversion uses, so arrays and files agree.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str  # short: "empty file", "not an image", "truncated image", "too large (...)", ...


@dataclass(eq=False)  # tensors do not compare with ==; two datasets are equal only if identical
class Dataset:
    name: str  # built-in name, or the path as given
    kind: str  # "image" or "points"
    x: torch.Tensor  # float32, contiguous; images (N, C, H, W) in [-1, 1]; points (N, 2)
    labels: torch.Tensor | None  # int64 (N,) or None when unlabelled
    classes: tuple[str, ...]  # class names, () when unlabelled
    skipped: list[SkippedFile] = field(default_factory=list)  # files that could not be used, with why
    centers: np.ndarray | None = None  # (M, 2) mode centres for procedural point sets
    sigma: float | None = None  # their std
    source: str = ""  # one line of provenance, or the folder path

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.labels is not None else 0

    @property
    def image_size(self) -> int:
        return int(self.x.shape[2]) if self.kind == "image" else 0

    @property
    def channels(self) -> int:
        return int(self.x.shape[1]) if self.kind == "image" else 0

    def summary(self) -> str:
        n = len(self)
        if self.kind == "points":
            modes = len(self.centers) if self.centers is not None else 0
            text = f"{self.name}: {n:,} points" + (f", {modes} modes" if modes else "")
        else:
            _, c, h, w = self.x.shape
            text = f"{self.name}: {n:,} images {c}×{h}×{w}"
            if self.num_classes:
                text += f", {_plural(self.num_classes, 'class', 'classes')}"
        if self.skipped:
            text += f" + {_plural(len(self.skipped), 'file')} skipped"
        return text

    def skipped_report(self, limit: int = 10) -> str:
        return _skipped_report(self.skipped, self.source, limit)


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def _skipped_report(skipped: list[SkippedFile], root: str, limit: int = 10) -> str:
    if not skipped:
        return ""
    shown = "; ".join(f"{_display_path(s.path, root)} ({s.reason})" for s in skipped[:limit])
    more = f"; and {len(skipped) - limit:,} more" if len(skipped) > limit else ""
    return f"{_plural(len(skipped), 'file')} skipped: {shown}{more}"


def _display_path(path: str, root: str) -> str:
    # Relative to the dataset folder, so "cats/a.png" tells which class folder holds it.
    try:
        return Path(path).relative_to(root).as_posix() if root else Path(path).name
    except ValueError:
        return Path(path).name


# ---------------------------------------------------------------------------------------------
# Built-in datasets


BUILTIN_DATASETS: Registry[tuple[str, Callable[..., Dataset]]] = Registry("dataset")


def list_datasets() -> list[tuple[str, str]]:
    return [(name, desc) for name, (desc, _) in BUILTIN_DATASETS.items()]


def resources_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    # An installed wheel carries ganstudio/resources; a source checkout has resources/ beside the package.
    inside = package / "resources"
    return inside if inside.is_dir() else package.parent / "resources"


def point_centers(name: str) -> np.ndarray | None:
    """Mode centres of a built-in 2-D point set (None for anything else)."""
    makers = {"ring8": ring8_centers, "grid25": grid25_centers}
    return makers[name]() if name in makers else None


def ring8_centers() -> np.ndarray:
    # 2πk/8 for k = 0..7; linspace(0, 2π, 8) would repeat angle 0 as 2π and give only 7 modes.
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25_centers() -> np.ndarray:
    g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    xx, yy = np.meshgrid(g, g, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _gaussian_mixture(name, centers, sigma, source, n_points, seed) -> Dataset:
    if n_points < 1:
        raise DataError(f"n_points must be at least 1 (got {n_points})")
    g = torch.Generator().manual_seed(seed)
    c = torch.as_tensor(centers, dtype=torch.float32)
    mode = torch.randint(len(c), (n_points,), generator=g)
    x = c[mode] + sigma * torch.randn(n_points, 2, generator=g)
    return Dataset(name, "points", x.contiguous(), None, (), [], centers=centers, sigma=sigma, source=source)


def _builtin_file(name: str, rel: str) -> Path:
    path = resources_dir() / "datasets" / rel
    if not path.exists():
        raise DataError(f"built-in dataset {name} is missing its data file {path} (broken install?)")
    return path


def _register_builtins() -> None:
    def images(name, rel, source, classes=None):
        def load(image_size=0, channels=0, seed=0, n_points=0):
            ds = load_dataset(str(_builtin_file(name, rel)), image_size or 28, channels or 1)
            ds.name, ds.source = name, source
            if classes is not None:
                ds.classes = classes
            return ds
        return load

    BUILTIN_DATASETS.register("mnist", (
        "MNIST handwritten digits: 5,000 real images, 10 classes (CC BY-SA 3.0)",
        images("mnist", "mnist_5k.npz", "MNIST, 5,000 digits (CC BY-SA 3.0)")))
    BUILTIN_DATASETS.register("fashion", (
        "Fashion-MNIST test split: 10,000 clothing images, 10 classes (MIT)",
        images("fashion", "fashion-mnist/t10k-images-idx3-ubyte.gz",
               "Fashion-MNIST test split, 10,000 clothing images (MIT, Zalando SE)", FASHION_CLASSES)))
    BUILTIN_DATASETS.register("animals", (
        "Animal-MNIST: 10,000 animal silhouettes, 10 classes bear..zebra (MIT)",
        images("animals", "animal_mnist.npz", "Animal-MNIST, 10,000 animal silhouettes (MIT, SinaSR-6)")))

    def ring8(image_size=0, channels=0, seed=0, n_points=100_000):
        return _gaussian_mixture("ring8", ring8_centers(), 0.01,
                                 "8 Gaussians on a circle of radius 1, σ 0.01 (PacGAN protocol)", n_points, seed)

    def grid25(image_size=0, channels=0, seed=0, n_points=100_000):
        return _gaussian_mixture("grid25", grid25_centers(), 0.05,
                                 "25 Gaussians on a 5×5 grid of spacing 2, σ 0.05 (PacGAN protocol)", n_points, seed)

    BUILTIN_DATASETS.register("ring8", ("8 Gaussians on a ring (2-D points, mode-collapse test)", ring8))
    BUILTIN_DATASETS.register("grid25", ("25 Gaussians on a 5×5 grid (2-D points, mode-collapse test)", grid25))


def evaluation_split(labels: torch.Tensor, fraction: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (train, held_out) of a labelled set: `fraction` of every class held out, the same rows every time.

    Built-in translation sets and the domain classifiers share this split, so a translation is
    judged on images that neither its generator nor its judge was trained on.  Both index
    tensors are sorted, so rows keep the file's order.
    """
    train, held = [], []
    for c in labels.unique(sorted=True).tolist():
        rows = (labels == c).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed + int(c)))]
        n_held = int(len(rows) * fraction)
        held.append(rows[len(rows) - n_held:])
        train.append(rows[:len(rows) - n_held])
    return torch.cat(train).sort().values, torch.cat(held).sort().values


# ---------------------------------------------------------------------------------------------
# Entry point


def load_dataset(spec: str, image_size: int = 0, channels: int = 0, *, seed: int = 0,
                 n_points: int = 100_000) -> Dataset:
    """Load a built-in dataset by name, or a folder / IDX file / .npz by path.

    image_size and channels of 0 mean native (see `_native_size`); otherwise every image is
    resized (short side, then centre crop) and converted to that many channels (1 or 3).
    A built-in name wins over a same-named folder in the working directory: write ./mnist for that.
    """
    if not 0 <= image_size <= MAX_IMAGE_SIZE:
        raise DataError(f"image size must be 1 to {MAX_IMAGE_SIZE} px, or 0 for native (got {image_size})")
    if channels not in (0, 1, 3):
        raise DataError(f"channels must be 1 (grayscale), 3 (colour) or 0 for native (got {channels})")
    spec = str(spec)
    if spec in BUILTIN_DATASETS:
        _, loader = BUILTIN_DATASETS.get(spec)
        return loader(image_size=image_size, channels=channels, seed=seed, n_points=n_points)

    path = Path(spec).expanduser()
    if not path.exists():
        if spec.lower() in BUILTIN_DATASETS:
            return load_dataset(spec.lower(), image_size, channels, seed=seed, n_points=n_points)
        raise DataError(
            f"no such dataset or path: {spec}; built-in datasets: {', '.join(BUILTIN_DATASETS.names())}")
    if path.is_dir():
        idx = sorted(p for p in path.iterdir() if _IDX_IMAGES.search(p.name) and not p.name.startswith("."))
        if len(idx) == 1:
            return _load_idx(spec, idx[0], image_size, channels)
        if len(idx) > 1:
            raise DataError(f"{spec} holds {len(idx)} IDX image files ({', '.join(p.name for p in idx)}); "
                            "give the path of the one to load")
        return _load_folder(spec, path, image_size, channels)
    if _IDX_IMAGES.search(path.name):
        return _load_idx(spec, path, image_size, channels)
    if path.suffix.lower() == ".npz":
        return _load_npz(spec, path, image_size, channels)
    raise DataError(f"{spec}: not a dataset; give a folder of images, an .npz file, "
                    f"an IDX *-images-idx3-ubyte[.gz] file or a built-in name "
                    f"({', '.join(BUILTIN_DATASETS.names())})")


# ---------------------------------------------------------------------------------------------
# Arrays (built-ins, IDX, npz) -> tensors


def _native_size(sizes: set[tuple[int, int]]) -> int:
    """One shared square size up to 64 is kept; anything else (mixed, non-square, large) becomes 64."""
    if len(sizes) == 1:
        h, w = next(iter(sizes))
        if h == w and h <= NATIVE_MAX_SIZE:
            return h
    return NATIVE_MAX_SIZE


def _fit_tensor(x: torch.Tensor, size: int, channels: int, chunk: int = 2048) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] with C in 1/3 -> (N, channels, size, size): short side to size, centre crop."""
    if channels == 1 and x.shape[1] == 3:
        x = torch.tensordot(x, torch.tensor(_LUMA, dtype=x.dtype), dims=([1], [0])).unsqueeze(1)
    n, c, h, w = x.shape
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        top, left = (nh - size) // 2, (nw - size) // 2
        out = torch.empty(n, c, size, size, dtype=x.dtype)
        # Chunked so a large set never holds a second full-size copy; antialias filters when shrinking.
        for i in range(0, n, chunk):
            r = F.interpolate(x[i:i + chunk], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
            out[i:i + chunk] = r[:, :, top:top + size, left:left + size]
        x = out.clamp_(-1.0, 1.0)
    if channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def _uint8_to_unit(a: np.ndarray) -> torch.Tensor:
    a = np.ascontiguousarray(a)
    if not a.flags.writeable:  # IDX data is a read-only view of the file bytes; torch wants writable
        a = a.copy()
    return torch.from_numpy(a).to(torch.float32).div_(127.5).sub_(1.0)


def _images_dataset(name, images_nchw: torch.Tensor, labels, classes, image_size, channels, source) -> Dataset:
    n, c, h, w = images_nchw.shape
    size = image_size or _native_size({(h, w)})
    ch = channels or (1 if c == 1 else 3)
    x = _fit_tensor(images_nchw, size, ch)
    lab = torch.from_numpy(labels.astype(np.int64)) if labels is not None else None
    return Dataset(name, "image", x, lab, tuple(classes) if lab is not None else (), [], source=source)


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


def _load_idx(name: str, images: Path, image_size: int, channels: int) -> Dataset:
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
    return _images_dataset(name, _uint8_to_unit(arr), labels, classes, image_size, channels, source)


def _load_npz(name: str, path: Path, image_size: int, channels: int) -> Dataset:
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
        x, range_note = _uint8_to_unit(images), "uint8 0..255"
    elif kind in "iu":
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{path.name}: integer images must lie in 0..255 (found {lo}..{hi})")
        x, range_note = _uint8_to_unit(images.astype(np.uint8)), "integers 0..255"
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
    return _images_dataset(name, x, labels, class_names, image_size, channels, source)


# ---------------------------------------------------------------------------------------------
# Image files


def decode_image(path, size: int, channels: int, background=(255, 255, 255)) -> np.ndarray:
    """One image file -> uint8 (size, size, channels); raises DataError naming the file and why."""
    if size < 1:
        raise DataError(f"image size must be at least 1 (got {size})")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3 (got {channels})")
    with _bomb_warnings_as_errors():
        arr, _ = _decode(Path(path), size, channels, _rgb(background))
    return arr


def _rgb(background) -> tuple[int, int, int]:
    if isinstance(background, int):
        return (background, background, background)
    r, g, b = background[:3]
    return (int(r), int(g), int(b))


class _bomb_warnings_as_errors(warnings.catch_warnings):
    """Pillow's DecompressionBombWarning raised as an error, only inside this block.

    Warning filters are process-wide, so the folder loader enters this once around the whole
    thread pool rather than per worker (catch_warnings is not thread-safe).
    """

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return out


def _too_large(pixels: int | None) -> str:
    return f"too large ({pixels:,} px > limit {MAX_PIXELS:,})" if pixels else f"too large (over {MAX_PIXELS:,} px)"


def decode_full(path, channels: int = 0, background=(255, 255, 255)) -> tuple[np.ndarray, bool]:
    """One image file at its own size and aspect -> (uint8 (H, W, C), gray_origin), made uniform as for
    datasets (EXIF rotation, palette/alpha/CMYK/16-bit converted); raises DataError naming the file and why."""
    if channels not in (0, 1, 3):
        raise DataError(f"channels must be 0, 1 or 3 (got {channels})")
    with _bomb_warnings_as_errors():
        return _decode(Path(path), 0, channels, _rgb(background), fit=False)


def _decode(path: Path, size: int, channels: int, background: tuple[int, int, int], fit: bool = True) -> tuple[np.ndarray, bool]:
    """Decode one file -> (uint8 (H, W, C), gray_origin).

    size 0: keep a square image up to 64 px as it is, fit anything else to 64 (see _native_size).
    channels 0: 1 if the image is grayscale in origin, else 3.  fit=False keeps the image's own size.
    Raises _Unusable with the short reason for the skip report.
    """
    try:
        if path.stat().st_size == 0:
            raise _Unusable(path, "empty file")
        img = Image.open(path)
    except _Unusable:
        raise
    except UnidentifiedImageError:
        raise _Unusable(path, "not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        m = re.search(r"\((\d+) pixels\)", str(e))
        raise _Unusable(path, _too_large(int(m.group(1)) if m else None)) from None
    except PermissionError:
        raise _Unusable(path, "unreadable (permission denied)") from None
    except Exception as e:  # plugins raise many types (OSError, SyntaxError, ValueError) on broken headers
        raise _Unusable(path, f"corrupt image ({_short(e)})") from None

    with img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise _Unusable(path, _too_large(w * h))
        target = size or NATIVE_MAX_SIZE
        if fit and img.format == "JPEG" and min(w, h) > target:
            img.draft(None, (target, target))  # DCT-domain downscale: both sides stay >= target
        try:
            img.load()  # force the full decode now, so a truncated file is caught here
        except Exception as e:
            msg = str(e)
            if isinstance(e, EOFError) or "truncat" in msg:
                raise _Unusable(path, "truncated image") from None
            raise _Unusable(path, f"corrupt image ({_short(e)})") from None
        try:
            if img.getexif().get(0x0112, 1) != 1:
                img = ImageOps.exif_transpose(img)
        except Exception:  # malformed EXIF: the pixels are still good, keep them unrotated
            pass
        img, gray = _uniform_mode(img, background)
        if channels == 1 and img.mode != "L":
            img = img.convert("L")
        elif channels == 3 and img.mode != "RGB":
            img = img.convert("RGB")
        w, h = img.size
        if not fit or (size == 0 and w == h and w <= NATIVE_MAX_SIZE):
            out = img
        else:
            out = ImageOps.fit(img, (target, target), method=Image.Resampling.BILINEAR)
        arr = np.asarray(out, dtype=np.uint8)
    return (arr[:, :, None] if arr.ndim == 2 else arr), gray


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:80]


def _uniform_mode(img: Image.Image, background: tuple[int, int, int]) -> tuple[Image.Image, bool]:
    """Any Pillow mode -> 'L' (grayscale in origin) or 'RGB', alpha composited over background."""
    mode = img.mode
    if mode == "P" or mode == "PA":
        pal = np.array(img.getpalette("RGB") or [0, 0, 0], dtype=np.uint8).reshape(-1, 3)
        used = np.flatnonzero(np.bincount(np.asarray(img if mode == "P" else img.getchannel("P")).ravel(),
                                          minlength=len(pal))[: len(pal)])
        gray = bool((pal[used] == pal[used][:, :1]).all())
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        img = _composite(img, background) if has_alpha else img
        return (img.convert("L") if gray else img), gray
    if mode == "1":
        return img.convert("L"), True
    if mode == "L":
        return img, True
    if mode in ("LA", "La"):
        if mode == "La":
            img = img.convert("LA")
        base = Image.new("L", img.size, int(round(sum(c * k for c, k in zip(background, _LUMA)))))
        base.paste(img.getchannel("L"), mask=img.getchannel("A"))
        return base, True
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(img), mode), "L"), True
    if mode == "RGB":
        return img, False
    if mode in ("RGBA", "RGBa"):
        return _composite(img.convert("RGBA"), background), False
    try:  # CMYK, YCbCr, RGBX, HSV, ...
        return img.convert("RGB"), False
    except (ValueError, OSError):
        raise _Unusable(getattr(img, "filename", "") or "image", f"unsupported image mode {mode}") from None


def _composite(rgba: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    base = Image.new("RGB", rgba.size, background)
    base.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return base


def _to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit integer or float pixels -> uint8 by scaling their range, never by clipping."""
    if mode.startswith("I;16"):
        return (a.astype(np.float32) / 257.0).round().astype(np.uint8)
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        return (a * 255.0).round().astype(np.uint8)
    if lo >= 0 and hi <= 65535 and mode != "F":
        # 32-bit 'I' almost always carries 16-bit data (TIFFs, older Pillow's 16-bit PNGs).
        return (a / 257.0).round().astype(np.uint8)
    if hi > lo:
        return ((a - lo) * (255.0 / (hi - lo))).round().astype(np.uint8)
    return np.clip(a, 0, 255).round().astype(np.uint8)


def _image_files(folder: Path) -> list[Path]:
    """Candidate image files under folder, recursively, sorted; hidden entries and plain non-images left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and Path(f).suffix.lower() not in IGNORED_SUFFIXES:
                out.append(Path(dirpath) / f)
    return sorted(out)


def _load_folder(name: str, folder: Path, image_size: int, channels: int) -> Dataset:
    """Flat folder -> unlabelled; sub-folders -> one class each, named by folder, sorted; files decoded in order."""
    top_files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() not in IGNORED_SUFFIXES)
    class_files = {d.name: _image_files(d) for d in sorted(folder.iterdir())
                   if d.is_dir() and not d.name.startswith(".")}
    class_files = {k: v for k, v in class_files.items() if v}  # empty folders are not classes

    skipped: list[SkippedFile] = []
    if class_files:
        skipped += [SkippedFile(str(p), "outside class folders") for p in top_files]
        jobs = [(p, c) for c, files in class_files.items() for p in files]
    else:
        jobs = [(p, "") for p in top_files]
    if not jobs:
        raise DataError(f"no image files in {name}")

    results = _decode_many([p for p, _ in jobs], image_size, channels)
    arrays, gray, label_of = [], [], []
    for (p, c), r in zip(jobs, results):
        if isinstance(r, str):
            skipped.append(SkippedFile(str(p), r))
        else:
            arrays.append(r[0])
            gray.append(r[1])
            label_of.append(c)
    if not arrays:
        raise DataError(f"no usable image in {name}: {_skipped_report(skipped, str(folder))}")

    size = image_size or _native_size({a.shape[:2] for a in arrays})
    ch = channels or (1 if all(gray) else 3)
    batch = np.empty((len(arrays), size, size, ch), dtype=np.uint8)
    for i, a in enumerate(arrays):
        if a.shape[0] != size or a.shape[1] != size:  # a small native square, where the set needs 64
            a = np.asarray(Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).resize(
                (size, size), Image.Resampling.BILINEAR))
            a = a[:, :, None] if a.ndim == 2 else a
        batch[i] = a if a.shape[2] == ch else np.repeat(a, ch, axis=2)  # only 1 -> 3 happens here
    x = _uint8_to_unit(batch).permute(0, 3, 1, 2).contiguous()

    labels, classes = None, ()
    if class_files:
        classes = tuple(sorted(set(label_of)))  # a class folder with no usable image is not a class
        index = {c: i for i, c in enumerate(classes)}
        labels = torch.tensor([index[c] for c in label_of], dtype=torch.int64)
    return Dataset(name, "image", x, labels, classes, skipped, source=str(folder))


def _decode_many(paths: list[Path], size: int, channels: int) -> list[tuple[np.ndarray, bool] | str]:
    """Decode in a thread pool (Pillow releases the GIL while decoding); results keep the input order."""
    def one(p: Path):
        try:
            return _decode(p, size, channels, (255, 255, 255))
        except _Unusable as e:
            return e.reason

    with _bomb_warnings_as_errors():
        if len(paths) < 8:
            return [one(p) for p in paths]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return list(pool.map(one, paths))


_register_builtins()

"""Datasets: built-in sets, image folders, IDX and .npz files, decoded uniformly into tensors in [-1, 1]."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio.core.data_files import IDX_IMAGES, read_idx, read_npz
from ganstudio.core.errors import DataError
from ganstudio.core.images import (
    IGNORED_SUFFIXES,
    LUMA,
    MAX_IMAGE_SIZE,
    NATIVE_MAX_SIZE,
    check_memory,
    decode_many,
    image_files,
    uint8_to_unit,
)
from ganstudio.core.paths import resources_dir  # noqa: F401  (re-exported)
from ganstudio.core.registry import Registry



FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)



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
    origin: str = ""  # what the files were: "64×64 RGBA", "100×80 to 640×480 RGB and L"
    alpha: bool = False  # some files had transparency, composited over white
    fit_note: str = ""  # why the images were resized, when they were
    factors: torch.Tensor | None = None  # (N, F) int64 indices of known generative factors (the shapes set)
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()  # how many values each factor takes

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

    def fit_summary(self) -> str:
        """"612 images 64×64 RGBA → trained at 64×64 RGB on white": what the files were and what the
        models see, with why when they differ; the summary for points."""
        if self.kind != "image":
            return self.summary()
        _, c, h, _ = self.x.shape
        text = f"{_plural(len(self), 'image')} {self.origin or f'{h}×{h}'} → trained at {h}×{h} {'RGB' if c == 3 else 'grayscale'}"
        if self.alpha:
            text += " on white"
        if self.fit_note:
            text += f" ({self.fit_note})"
        if self.num_classes:
            text += f", {_plural(self.num_classes, 'class', 'classes')}"
        if self.skipped:
            text += f"; {_plural(len(self.skipped), 'file')} skipped"
        return text

    def resized(self, size: int, why: str) -> "Dataset":
        """This set with every image fitted to size×size (short side, centre crop), `why` in the summary."""
        if self.kind != "image" or size == self.image_size:
            return self
        check_memory(self.name, len(self), self.channels, size)
        return replace(self, x=_fit_tensor(self.x, size, self.channels), fit_note="; ".join(filter(None, (self.fit_note, why))))


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
            path = _builtin_file(name, rel)
            arrays = read_npz(path) if path.suffix == ".npz" else read_idx(path)
            ds = _images_dataset(name, *arrays, image_size or 28, channels or 1)
            ds.source = source
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

    def stacked(image_size=0, channels=0, seed=0, n_points=0):
        mnist = BUILTIN_DATASETS.get("mnist")[1](image_size=image_size or 28, channels=1)
        x, _ = stack_digits(mnist.x, mnist.labels, STACKED_N, STACKED_SEED)
        return Dataset("stacked-mnist", "image", x if channels != 1 else x.mean(1, keepdim=True), None, (),
                       source="Stacked-MNIST: three MNIST digits as the R, G and B channels, 1,000 modes (Metz et al. 2017)")

    BUILTIN_DATASETS.register("stacked-mnist", (
        f"Stacked-MNIST: {STACKED_N:,} colour images, three random digits as R, G, B: 1,000 modes to cover (procedural)",
        stacked))

    def shapes_set(image_size=0, channels=0, seed=0, n_points=0):
        from ganstudio.core import shapes

        size = image_size or shapes.NATIVE
        factors = shapes.builtin_factors()
        if size > shapes.NATIVE:
            raise DataError(f"shapes are drawn at up to {shapes.NATIVE} px, not {size}")
        check_memory("shapes", len(factors), 1, size)
        x = shapes.render(factors, size)
        return Dataset("shapes", "image", x if channels != 3 else x.repeat(1, 3, 1, 1), factors[:, 0].clone(),
                       shapes.SHAPE_NAMES, factors=factors, factor_names=shapes.FACTOR_NAMES,
                       factor_sizes=shapes.FACTOR_SIZES,
                       source=f"shapes: {len(factors):,} procedural dSprites-like shapes with known factors "
                              "(shape, scale, rotation, x, y; Matthey et al. 2017)")

    BUILTIN_DATASETS.register("shapes", (
        "shapes: 30,000 white shapes on black, 64 px (32 px with image_size 32), with their five known factors "
        "shape, scale, rotation, x, y (procedural, dSprites-like)", shapes_set))

    def ring8(image_size=0, channels=0, seed=0, n_points=100_000):
        return _gaussian_mixture("ring8", ring8_centers(), 0.01,
                                 "8 Gaussians on a circle of radius 1, σ 0.01 (PacGAN protocol)", n_points, seed)

    def grid25(image_size=0, channels=0, seed=0, n_points=100_000):
        return _gaussian_mixture("grid25", grid25_centers(), 0.05,
                                 "25 Gaussians on a 5×5 grid of spacing 2, σ 0.05 (PacGAN protocol)", n_points, seed)

    BUILTIN_DATASETS.register("ring8", ("8 Gaussians on a ring (2-D points, mode-collapse test)", ring8))
    BUILTIN_DATASETS.register("grid25", ("25 Gaussians on a 5×5 grid (2-D points, mode-collapse test)", grid25))


# Stacked-MNIST: images drawn once with a fixed seed, so every run and every seed sees the same set.
STACKED_N = 24_000
STACKED_SEED = 1000


def stack_digits(x: torch.Tensor, labels: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, H, W) images whose R, G, B channels are three random digits of x (N, 1, H, W), and the
    (n, 3) digits they show: mode 100·r + 10·g + b of 1,000."""
    rows = torch.randint(len(x), (n, 3), generator=torch.Generator().manual_seed(seed))
    return x[rows.flatten(), 0].view(n, 3, *x.shape[2:]).contiguous(), labels[rows]


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
        idx = sorted(p for p in path.iterdir() if IDX_IMAGES.search(p.name) and not p.name.startswith("."))
        if len(idx) == 1:
            return _images_dataset(spec, *read_idx(idx[0]), image_size, channels)
        if len(idx) > 1:
            raise DataError(f"{spec} holds {len(idx)} IDX image files ({', '.join(p.name for p in idx)}); "
                            "give the path of the one to load")
        return _load_folder(spec, path, image_size, channels)
    if IDX_IMAGES.search(path.name):
        return _images_dataset(spec, *read_idx(path), image_size, channels)
    if path.suffix.lower() == ".npz":
        return _images_dataset(spec, *read_npz(path), image_size, channels)
    raise DataError(f"{spec}: not a dataset; give a folder of images, an .npz file, "
                    f"an IDX *-images-idx3-ubyte[.gz] file or a built-in name "
                    f"({', '.join(BUILTIN_DATASETS.names())})")


# ---------------------------------------------------------------------------------------------
# Arrays (built-ins, IDX, npz) and folders -> tensors


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
        x = torch.tensordot(x, torch.tensor(LUMA, dtype=x.dtype), dims=([1], [0])).unsqueeze(1)
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


def _images_dataset(name, images_nchw: torch.Tensor, labels, classes, source, image_size, channels) -> Dataset:
    n, c, h, w = images_nchw.shape
    size = image_size or _native_size({(h, w)})
    ch = channels or (1 if c == 1 else 3)
    if (size, ch) != (h, c):
        check_memory(name, n, ch, size)
    x = _fit_tensor(images_nchw, size, ch)
    lab = torch.from_numpy(labels.astype(np.int64)) if labels is not None else None
    note = "" if (h, w) == (size, size) else _size_note(f"{h}×{w}", size, image_size)
    return Dataset(name, "image", x, lab, tuple(classes) if lab is not None else (), [], source=source,
                   origin=f"{h}×{w} {'grayscale' if c == 1 else 'RGB'}", fit_note=note)


def _size_note(was: str, size: int, asked: int) -> str:
    if asked:
        return f"{was} resized to {size} px (image_size = {asked})"
    return f"{was} fitted to {size} px, the CPU-sized default; set image_size for more"


# Pillow's mode names as a person says them
MODE_NAMES = {"1": "1-bit", "L": "grayscale", "LA": "grayscale+alpha", "La": "grayscale+alpha", "P": "palette",
              "PA": "palette+alpha", "I;16": "16-bit grayscale", "I;16B": "16-bit grayscale", "I": "32-bit grayscale",
              "F": "float grayscale", "RGBa": "RGBA"}


def _origin(origins: list, sizes: set[tuple[int, int]]) -> tuple[str, str, bool]:
    """("64×64", "RGBA", has_alpha) for a folder's files of (width, height) `sizes`: one size or the
    range, modes by how common."""
    if len(sizes) == 1:
        w, h = next(iter(sizes))
        size = f"{w}×{h}"
    else:
        lo, hi = min(sizes, key=lambda s: s[0] * s[1]), max(sizes, key=lambda s: s[0] * s[1])
        size = f"{lo[0]}×{lo[1]} to {hi[0]}×{hi[1]}"
    counts: dict[str, int] = {}
    for o in origins:
        mode = MODE_NAMES.get(o.mode, o.mode)
        counts[mode] = counts.get(mode, 0) + 1
    modes = sorted(counts, key=lambda m: -counts[m])
    shown = modes[0] if len(modes) == 1 else ", ".join(modes[:-1][:3]) + f" and {modes[-1]}"
    return size, shown, any(o.alpha for o in origins)


def _load_folder(name: str, folder: Path, image_size: int, channels: int) -> Dataset:
    """Flat folder -> unlabelled; sub-folders -> one class each, named by folder, sorted; files decoded in order."""
    top_files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() not in IGNORED_SUFFIXES)
    class_files = {d.name: image_files(d) for d in sorted(folder.iterdir())
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

    check_memory(name, len(jobs), channels or 3, image_size or NATIVE_MAX_SIZE, bytes_per_value=5)
    results = decode_many([p for p, _ in jobs], image_size, channels)
    arrays, gray, label_of, origins = [], [], [], []
    for (p, c), r in zip(jobs, results):
        if isinstance(r, str):
            skipped.append(SkippedFile(str(p), r))
        else:
            arrays.append(r[0])
            gray.append(r[1])
            origins.append(r[2])
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
    x = uint8_to_unit(batch).permute(0, 3, 1, 2).contiguous()

    labels, classes = None, ()
    if class_files:
        classes = tuple(sorted(set(label_of)))  # a class folder with no usable image is not a class
        index = {c: i for i, c in enumerate(classes)}
        labels = torch.tensor([index[c] for c in label_of], dtype=torch.int64)
    sizes = {(o.width, o.height) for o in origins}
    was, modes, alpha = _origin(origins, sizes)
    note = "" if sizes == {(size, size)} else _size_note(was if len(sizes) == 1 else "mixed sizes", size, image_size)
    return Dataset(name, "image", x, labels, classes, skipped, source=str(folder), origin=f"{was} {modes}", alpha=alpha,
                   fit_note=note)


_register_builtins()

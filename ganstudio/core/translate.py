"""Batch image translation: any size in, same size out, tile by tile with blended overlaps, never overwriting."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganstudio.core.errors import DataError
from ganstudio.core.images import decode_full

# A generator at its training size: (N, C_in, S, S) in [-1, 1] → (N, C_out, S, S) in [-1, 1].
TranslateFn = Callable[[torch.Tensor], torch.Tensor]

RESIZE_BATCH = 8  # images per generator call in resize mode

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def _to_unit(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) → float (C, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float() / 127.5 - 1.0  # a writable copy


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (C, H, W) in [-1, 1] → uint8 (H, W, C)."""
    return ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def _match_channels(img: np.ndarray, channels: int) -> np.ndarray:
    if img.shape[2] == channels:
        return img
    if channels == 1:
        return (img[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)[..., None]
    return np.repeat(img, 3, axis=2)


def tile_starts(length: int, size: int, overlap: int) -> list[int]:
    """Tile origins covering [0, length) with tiles of `size` overlapping by at least `overlap`."""
    if length <= size:
        return [0]
    n = math.ceil((length - overlap) / (size - overlap))
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def blend_window(size: int, overlap: int) -> torch.Tensor:
    """(size, size) weights: 1 in the middle, a raised-cosine ramp over `overlap` px at each edge.

    Overlapping tiles are averaged with these weights, so a tile's border (where a
    convolutional generator sees padding, not image) counts least and seams vanish.
    """
    ramp = torch.ones(size)
    if overlap > 0:
        t = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        ramp[:overlap] = 0.5 - 0.5 * torch.cos(math.pi * t)
        ramp[-overlap:] = ramp[:overlap].flip(0)
    return ramp[:, None] * ramp[None, :]


def translate_array(img: np.ndarray, fn: TranslateFn, size: int, in_channels: int, mode: str = "tile",
                    overlap: int | None = None, batch: int = 16) -> np.ndarray:
    """uint8 (H, W, C) → uint8 (H, W, C_out) at the input's own size and aspect.

    mode "tile": cut into overlapping size×size tiles (reflect-padded when the image is
    smaller than a tile), translate them in batches, blend.  mode "resize": squash to
    size×size, translate once, stretch back (faster, softer).
    """
    if mode not in ("tile", "resize"):
        raise ValueError(f"unknown mode {mode!r}; valid: tile, resize")
    img = _match_channels(img, in_channels)
    h, w, _ = img.shape
    x = _to_unit(img)  # (C, H, W)
    if mode == "resize":
        return resize_batch([img], fn, size, in_channels)[0]
    # pad small images up to one tile (reflect keeps the statistics of the border)
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        mode_pad = "reflect" if (ph < h and pw < w) else "replicate"
        x = torch.nn.functional.pad(x[None], (0, pw, 0, ph), mode=mode_pad)[0]
    H, W = x.shape[1:]
    ov = size // 4 if overlap is None else overlap
    ys, xs = tile_starts(H, size, ov), tile_starts(W, size, ov)
    win = blend_window(size, ov if (len(ys) > 1 or len(xs) > 1) else 0)
    origins = [(y0, x0) for y0 in ys for x0 in xs]
    acc = None
    weight = torch.zeros(H, W)
    for i in range(0, len(origins), batch):
        chunk = origins[i : i + batch]
        tiles = torch.stack([x[:, y0 : y0 + size, x0 : x0 + size] for y0, x0 in chunk])
        out = fn(tiles).float()
        if acc is None:
            acc = torch.zeros(out.shape[1], H, W)
        for (y0, x0), t in zip(chunk, out):
            acc[:, y0 : y0 + size, x0 : x0 + size] += t * win
            weight[y0 : y0 + size, x0 : x0 + size] += win
    return _to_uint8((acc / weight.clamp_min(1e-8))[:, :h, :w])


def resize_batch(imgs: Sequence[np.ndarray], fn: TranslateFn, size: int, in_channels: int) -> list[np.ndarray]:
    """Resize mode for several images at once: each squashed to size×size, one generator call for all,
    each output stretched back to its own image's size."""
    xs, shapes = [], []
    for img in imgs:
        img = _match_channels(img, in_channels)
        shapes.append(img.shape[:2])
        x = _to_unit(img)[None]
        xs.append(torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    ys = fn(torch.cat(xs)).float()
    return [_to_uint8(torch.nn.functional.interpolate(y[None], size=hw, mode="bilinear", align_corners=False)[0])
            for y, hw in zip(ys, shapes)]


def unique_path(path: Path, taken: set[Path] | None = None) -> Path:
    """`path`, or `name-1.png`, `name-2.png`, … : an existing file is never overwritten."""
    taken = taken or set()
    if not path.exists() and path not in taken:
        return path
    for n in range(1, 100_000):
        p = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not p.exists() and p not in taken:
            return p
    raise OSError(f"no free file name for {path}")


def collect_inputs(items: Sequence[str | Path], exclude: Path | None = None) -> list[Path]:
    """Files as given and image files found recursively in folders (sorted, de-duplicated).

    Files under `exclude` (the output folder, often inside the input folder) are left out,
    so translating a folder twice does not translate the first run's results.
    """
    out: list[Path] = []
    seen = set()
    skip = exclude.resolve() if exclude is not None else None
    for item in items:
        p = Path(item)
        found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in q.relative_to(p).parts)) if p.is_dir() else [p]
        for q in found:
            if skip is not None and skip in q.resolve().parents:
                continue
            if q.resolve() not in seen:
                seen.add(q.resolve())
                out.append(q)
    return out


def default_output_dir(inputs: Sequence[str | Path]) -> Path:
    """`translated/` next to the first input (inside it when the input is a folder)."""
    first = Path(inputs[0])
    return (first if first.is_dir() else first.parent) / "translated"


@dataclass(frozen=True)
class FileResult:
    source: str
    output: str      # '' when it failed
    error: str       # '' when it worked: the reason, in a few words


def translate_files(
    inputs: Sequence[Path], out_dir: Path, fn: TranslateFn, size: int, in_channels: int, *, mode: str = "tile",
    cancel: Callable[[], bool] | None = None, workers: int = 2,
) -> Iterator[FileResult]:
    """Translate files one by one (decode and encode overlap with the generator on worker threads).

    Yields a FileResult per input as it is done; a bad file gives an error result and
    the batch goes on.  `cancel` is checked between images.
    """
    from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[Path] = set()
    lock = threading.Lock()

    def decode(p: Path):
        try:
            img, _ = decode_full(p)
            return img
        except DataError as e:
            return str(e).split(": ", 1)[-1]

    def write(src: Path, img: np.ndarray) -> FileResult:
        with lock:  # names are claimed in order, so two inputs called a.png never collide
            target = unique_path(out_dir / f"{src.stem}.png", taken)
            taken.add(target)
        arr = img[..., 0] if img.shape[2] == 1 else img
        try:
            atomic_write_bytes(target, png_bytes(arr), fsync=False)  # whole or absent; re-creatable, so no sync
        except OSError as e:
            return FileResult(str(src), "", f"cannot write {target.name}: {e.strerror or e}")
        return FileResult(str(src), str(target), "")

    # Resize mode runs the generator on several images at once (one call for a batch is
    # far cheaper on a CPU than one per image); tile mode batches each image's tiles.
    step = RESIZE_BATCH if mode == "resize" else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded: dict[int, object] = {}

        def prefetch(upto: int) -> None:  # read ahead while translating
            for k in range(len(decoded), min(upto, len(inputs))):
                decoded[k] = pool.submit(decode, inputs[k])

        pending: list = []  # the previous batch's results (writes overlapping this batch's translation)
        for i0 in range(0, len(inputs), step):
            if cancel is not None and cancel():
                break
            prefetch(i0 + 2 * step)
            chunk = list(range(i0, min(i0 + step, len(inputs))))
            imgs = {k: decoded[k].result() for k in chunk}
            results: dict[int, object] = {k: FileResult(str(inputs[k]), "", v) for k, v in imgs.items() if isinstance(v, str)}
            good = [k for k in chunk if k not in results]
            try:
                with torch.inference_mode():
                    if mode == "resize":
                        outs = resize_batch([imgs[k] for k in good], fn, size, in_channels) if good else []
                    else:
                        outs = [translate_array(imgs[k], fn, size, in_channels, mode) for k in good]
                for k, out in zip(good, outs):
                    results[k] = pool.submit(write, inputs[k], out)
            except (RuntimeError, ValueError) as e:
                for k in good:
                    results[k] = FileResult(str(inputs[k]), "", f"translation failed ({str(e).splitlines()[0][:80]})")
            for r in pending:
                yield r if isinstance(r, FileResult) else r.result()
            pending = [results[k] for k in chunk]
        for r in pending:
            yield r if isinstance(r, FileResult) else r.result()

"""Image files decoded uniformly: any Pillow mode, EXIF rotation, alpha over a background, 16-bit
and float pixels scaled, decompression bombs and broken files refused with a short reason."""

from __future__ import annotations

import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ganstudio.core.errors import DataError

# Pillow's own default limit; checked against the header size before any pixel is decoded.
MAX_PIXELS = 89_478_485

# Above this, "native" user images are fitted to 64 px: the size the models are built for.
NATIVE_MAX_SIZE = 64
# A requested size above this is a typo, not a wish: 5,000 images at 4096 px would need 335 GB.
MAX_IMAGE_SIZE = 1024

# Files that are plainly not images are left out without a report; anything else that fails is reported.
IGNORED_SUFFIXES = frozenset({".txt", ".md", ".json", ".csv", ".db", ".ini"})
# ITU-R 601-2 luma, the weights Pillow's RGB -> L conversion uses, so arrays and files agree.
LUMA = (0.299, 0.587, 0.114)


class Unusable(DataError):
    """One image file that cannot be used; `reason` is the short text shown in skip reports."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{Path(path).name}: {reason}")
        self.reason = reason



# A dataset may take this share of the memory free when it is loaded; the rest is for the models and the studio.
MEMORY_SHARE = 0.7


def available_memory() -> int | None:
    """Bytes free for new allocations: MemAvailable on Linux, else the physical total; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(what: str, n: int, channels: int, size: int, bytes_per_value: int = 4) -> None:
    """DataError before loading `n` images of `channels`×`size`² values that would not fit in memory.

    bytes_per_value: 4 for the float32 tensor a set trains from, 5 where uint8 pixels are held as well.
    """
    need = n * channels * size * size * bytes_per_value
    free = available_memory()
    if free is None or need <= MEMORY_SHARE * free:
        return
    fits = int((MEMORY_SHARE * free / max(1, n * channels * bytes_per_value)) ** 0.5)
    hint = f"image_size {fits} px or less fits" if fits >= 1 else "use fewer images"
    raise DataError(f"{what}: {n:,} images at {size}×{size} px ({channels} channel{'s' if channels != 1 else ''}) "
                    f"would need {need / 1e9:.1f} GB of memory, and {free / 1e9:.1f} GB is free; "
                    f"choose a smaller image_size ({hint})")


def uint8_to_unit(a: np.ndarray) -> torch.Tensor:
    a = np.ascontiguousarray(a)
    if not a.flags.writeable:  # IDX data is a read-only view of the file bytes; torch wants writable
        a = a.copy()
    return torch.from_numpy(a).to(torch.float32).div_(127.5).sub_(1.0)



def decode_image(path, size: int, channels: int, background=(255, 255, 255)) -> np.ndarray:
    """One image file -> uint8 (size, size, channels); raises DataError naming the file and why."""
    if size < 1:
        raise DataError(f"image size must be at least 1 (got {size})")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3 (got {channels})")
    with _bomb_warnings_as_errors():
        arr, _, _ = _decode(Path(path), size, channels, _rgb(background))
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
        return _decode(Path(path), 0, channels, _rgb(background), fit=False)[:2]


class Origin(NamedTuple):
    """What a file was before decoding made it uniform: its size, Pillow mode and whether it had alpha."""

    width: int
    height: int
    mode: str
    alpha: bool


def _decode(path: Path, size: int, channels: int, background: tuple[int, int, int],
            fit: bool = True) -> tuple[np.ndarray, bool, Origin]:
    """Decode one file -> (uint8 (H, W, C), gray_origin, Origin).

    size 0: keep a square image up to 64 px as it is, fit anything else to 64 (see _native_size).
    channels 0: 1 if the image is grayscale in origin, else 3.  fit=False keeps the image's own size.
    Raises Unusable with the short reason for the skip report.
    """
    try:
        if path.stat().st_size == 0:
            raise Unusable(path, "empty file")
        img = Image.open(path)
    except Unusable:
        raise
    except UnidentifiedImageError:
        raise Unusable(path, "not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        m = re.search(r"\((\d+) pixels\)", str(e))
        raise Unusable(path, _too_large(int(m.group(1)) if m else None)) from None
    except PermissionError:
        raise Unusable(path, "unreadable (permission denied)") from None
    except Exception as e:  # plugins raise many types (OSError, SyntaxError, ValueError) on broken headers
        raise Unusable(path, f"corrupt image ({_short(e)})") from None

    with img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise Unusable(path, _too_large(w * h))
        target = size or NATIVE_MAX_SIZE
        if fit and img.format == "JPEG" and min(w, h) > target:
            img.draft(None, (target, target))  # DCT-domain downscale: both sides stay >= target
        try:
            img.load()  # force the full decode now, so a truncated file is caught here
        except Exception as e:
            msg = str(e)
            if isinstance(e, EOFError) or "truncat" in msg:
                raise Unusable(path, "truncated image") from None
            raise Unusable(path, f"corrupt image ({_short(e)})") from None
        try:
            turn = img.getexif().get(0x0112, 1)
            if turn != 1:
                img = ImageOps.exif_transpose(img)
                if turn in (5, 6, 7, 8):  # a quarter turn: the file's width is the picture's height
                    w, h = h, w
        except Exception:  # malformed EXIF: the pixels are still good, keep them unrotated
            pass
        origin = Origin(w, h, img.mode,
                        img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info)
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
    return (arr[:, :, None] if arr.ndim == 2 else arr), gray, origin


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
        base = Image.new("L", img.size, int(round(sum(c * k for c, k in zip(background, LUMA)))))
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
        raise Unusable(getattr(img, "filename", "") or "image", f"unsupported image mode {mode}") from None


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



def image_files(folder: Path) -> list[Path]:
    """Candidate image files under folder, recursively, sorted; hidden entries and plain non-images left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and Path(f).suffix.lower() not in IGNORED_SUFFIXES:
                out.append(Path(dirpath) / f)
    return sorted(out)



def decode_many(paths: list[Path], size: int, channels: int) -> list[tuple[np.ndarray, bool, Origin] | str]:
    """Decode in a thread pool (Pillow releases the GIL while decoding); results keep the input order."""
    def one(p: Path):
        try:
            return _decode(p, size, channels, (255, 255, 255))
        except Unusable as e:
            return e.reason

    with _bomb_warnings_as_errors():
        if len(paths) < 8:
            return [one(p) for p in paths]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return list(pool.map(one, paths))


"""Upscaling photos with a super-resolution model, streamed: tiles with context margins, cross-faded where they
overlap, finished rows written to the PNG as they are done, so memory stays bounded by one row of tiles
whatever the output size. Alpha is upscaled beside the colour and kept; grayscale stays grayscale."""

from __future__ import annotations

import math
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganstudio.core.errors import CheckpointError, DataError
from ganstudio.core.translate import tile_starts, unique_path
from ganstudio.core.images import MAX_PIXELS, Unusable, _bomb_warnings_as_errors, _short, _too_large, _uniform_mode

# LR tile side, context margin and cross-fade band (input px). The margin keeps each tile's own border (where
# the network sees zero padding, not image) out of the result; measured on the shipped ×4 model, 16 px of
# context and a 16 px fade leave tiled and untiled results within 1/255 of each other.
TILE, MARGIN, BAND = 128, 16, 16
TILES_PER_CALL = 4   # tiles batched into one network call
PSNR_SUFFIX = "_psnr"  # a GAN checkpoint keeps its PSNR start as network "<G>_psnr", for interpolation


# ---------------------------------------------------------------------------------------------- the model


@dataclass
class Upscaler:
    """A super-resolution generator rebuilt from a checkpoint, on the CPU in eval mode.

    `alpha` is ESRGAN's network interpolation (Wang et al. 2018): the weights (1 − α)·θ_PSNR + α·θ_GAN, from
    the PSNR-trained start (smooth, faithful) to the GAN-trained end (sharp, invented detail). Models trained
    without a PSNR start (`init_from`) have only α = 1.
    """
    net: torch.nn.Module
    scale: int
    channels: int
    step: int
    family: str
    gan_weights: dict
    psnr_weights: dict | None
    alpha: float = 1.0

    @property
    def interpolable(self) -> bool:
        return self.psnr_weights is not None

    def set_alpha(self, alpha: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise DataError(f"interpolation α must be in [0, 1] (0 = the PSNR model, 1 = the GAN), not {alpha}")
        if alpha != 1.0 and self.psnr_weights is None:
            raise DataError("this model has no PSNR start to interpolate from: network interpolation needs a GAN "
                            "model trained with init_from set to a PSNR-only (srresnet) run")
        if alpha == self.alpha:
            return
        if alpha == 1.0:
            blended = self.gan_weights
        else:
            blended = {k: torch.lerp(p.float(), self.gan_weights[k].float(), alpha).to(p.dtype)
                       if p.is_floating_point() else self.gan_weights[k] for k, p in self.psnr_weights.items()}
        self.net.load_state_dict(blended)
        self.alpha = alpha

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_upscaler(path, alpha: float = 1.0, state: dict | None = None) -> Upscaler:
    """The upscaling network of a super-resolution checkpoint (CheckpointError for any other model)."""
    from ganstudio.core.inference import load_entry, read_checkpoint

    state = state if state is not None else read_checkpoint(path)
    ld = load_entry(path, kind="translate", state=state)
    scale = upscale_factor(ld.entry)
    if scale <= 1:
        raise CheckpointError(f"{path}: a {ld.family} model translates at the same size; it does not upscale "
                              "(use `ganstudio translate`)")
    gan = {k: v.clone() for k, v in ld.net.state_dict().items()}
    psnr = state["nets"].get(ld.entry.net + PSNR_SUFFIX)
    up = Upscaler(ld.net, scale, ld.entry.inputs[0].shape[0], ld.step, ld.family, gan,
                  {k: v.float() if v.is_floating_point() else v for k, v in psnr.items()} if psnr else None)
    up.set_alpha(alpha)
    return up


def upscale_factor(entry) -> int:
    """How many times larger an entry's output side is than its input's (1 for a same-size translator)."""
    return max(1, entry.outputs[0].shape[-1] // max(1, entry.inputs[0].shape[-1]))


# ---------------------------------------------------------------------------------------------- tiling


def _weights(starts: list[int], tile: int, length: int, scale: int, band: int) -> list[torch.Tensor]:
    """Per tile, the (out_len,) output-pixel weights along one axis: 1 inside, a raised-cosine cross-fade of
    `band` input px centred in each overlap with a neighbour, 0 beyond. They sum to 1 at every pixel."""
    out = []
    for i, s in enumerate(starts):
        e = min(s + tile, length)
        pos = (torch.arange(s * scale, e * scale, dtype=torch.float64) + 0.5) / scale  # input coordinates
        w = torch.ones(len(pos), dtype=torch.float64)
        for j, rising in ((i - 1, True), (i + 1, False)):
            if 0 <= j < len(starts):
                lo, hi = (s, min(starts[j] + tile, length)) if rising else (starts[j], e)
                c, b = (lo + hi) / 2, min(band, hi - lo)
                t = ((pos - (c - b / 2)) / max(b, 1e-9)).clamp(0, 1)
                ramp = 0.5 - 0.5 * torch.cos(math.pi * t)
                w = w * (ramp if rising else 1 - ramp)
        out.append(w.float())
    return out


def strip_rows(h: int, w: int, scale: int, tile: int = TILE, margin: int = MARGIN, band: int = BAND):
    """The tile grid of an h×w input: (row starts, column starts, tile side, overlap). Tiles overlap by the
    cross-fade band; each also reads `margin` px of context around itself, so even at the far edge of a fade
    a tile's pixels have `margin` px of real image around them."""
    tile = max(tile, band + 8)
    return tile_starts(h, tile, band), tile_starts(w, tile, band), tile, band


def _run_tiles(fn, x: torch.Tensor, boxes: list[tuple[int, int, int, int]], batch: int) -> list[torch.Tensor]:
    """fn over the (y0, x0, y1, x1) crops of x (C, H, W), batched when the crops are the same size."""
    outs: list[torch.Tensor] = []
    for i in range(0, len(boxes), batch):
        chunk = boxes[i:i + batch]
        crops = [x[:, y0:y1, x0:x1] for y0, x0, y1, x1 in chunk]
        if all(c.shape == crops[0].shape for c in crops):
            outs.extend(fn(torch.stack(crops)).float())
        else:
            outs.extend(fn(c[None]).float()[0] for c in crops)
    return outs


def iter_upscaled(img: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor], scale: int, model_channels: int,
                  alpha: np.ndarray | None = None, tile: int = TILE, margin: int = MARGIN, band: int = BAND,
                  batch: int = TILES_PER_CALL, cancel: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
    """uint8 (H, W, C) (C 1 or 3) → the (s·H, s·W, C [+1 alpha]) result as uint8 strips of whole rows, top to bottom.

    Each tile row is run, weighted and added to an accumulator of one tile row's height; the rows no later
    tile touches are emitted and dropped, so memory is about one strip of output whatever the image's size.
    A grayscale image through a colour model is run as gray RGB and returned as gray; a colour image through a
    grayscale model is run channel by channel. `alpha` (H, W) uint8 is upscaled bicubically beside it.
    """
    h, w, c = img.shape
    # kept as uint8 (H·W·C bytes); each tile's crop is made float only when it runs
    x = torch.from_numpy(img if img.flags.writeable else img.copy()).permute(2, 0, 1)            # (C, H, W) uint8
    a = None if alpha is None else torch.from_numpy(alpha if alpha.flags.writeable else alpha.copy())[None]

    def run(t: torch.Tensor) -> torch.Tensor:  # (N, C, h, w) uint8 → (N, C, s·h, s·w) in [-1, 1]
        t = t.float().div_(127.5).sub_(1.0)
        if c == 1 and model_channels == 3:
            out = (fn(t.expand(-1, 3, -1, -1)).float() * _LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
        elif c == 3 and model_channels == 1:
            n, _, th, tw = t.shape
            out = fn(t.reshape(n * 3, 1, th, tw)).float().reshape(n, 3, th * scale, tw * scale)
        else:
            out = fn(t)
        return out.clamp(-1, 1)

    ys, xs, tile, _ = strip_rows(h, w, scale, tile, margin, band)
    wy, wx = _weights(ys, tile, h, scale, band), _weights(xs, tile, w, scale, band)
    c_out = c + (a is not None)
    acc = torch.zeros(c_out, 0, w * scale)
    acc_y0 = 0  # output row of acc's first row
    for r, y0 in enumerate(ys):
        if cancel is not None and cancel():
            return
        y1 = min(y0 + tile, h)
        need = y1 * scale - acc_y0
        if acc.shape[1] < need:
            acc = torch.cat([acc, torch.zeros(c_out, need - acc.shape[1], w * scale)], 1)
        row = [((max(0, y0 - margin), max(0, x0 - margin), min(h, y1 + margin), min(w, x0 + tile + margin)), x0, wxi)
               for x0, wxi in zip(xs, wx)]
        for i in range(0, len(row), batch):  # each batch of tiles is added as soon as it is run: only `batch` outputs live
            chunk = row[i:i + batch]
            outs = _run_tiles(run, x, [b for b, _, _ in chunk], batch)
            for ((by0, bx0, by1, bx1), x0, wxi), o in zip(chunk, outs):
                if a is not None:
                    al = F.interpolate(a[None, :, by0:by1, bx0:bx1].float().div_(127.5).sub_(1.0), scale_factor=scale,
                                       mode="bicubic", align_corners=False)[0]
                    o = torch.cat([o, al])
                x1 = min(x0 + tile, w)
                core = o[:, (y0 - by0) * scale:(y1 - by0) * scale, (x0 - bx0) * scale:(x1 - bx0) * scale]
                acc[:, y0 * scale - acc_y0:y1 * scale - acc_y0, x0 * scale:x1 * scale] += core * (wy[r][:, None] * wxi[None, :])
        done = (ys[r + 1] if r + 1 < len(ys) else h) * scale  # rows above the next tile row's start are final
        k = done - acc_y0
        if k > 0:
            yield ((acc[:, :k].clamp_(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
            acc, acc_y0 = acc[:, k:].clone(), done


_LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's RGB → L


def upscale_array(img: np.ndarray, fn, scale: int, model_channels: int, alpha: np.ndarray | None = None,
                  tile: int = TILE, **kw) -> np.ndarray:
    """The whole (s·H, s·W, C) uint8 result in memory (previews, evaluation); tile 0 runs the image in one call."""
    if tile == 0:
        tile = max(img.shape[:2])
        kw = {**kw, "margin": 0}
    return np.concatenate(list(iter_upscaled(img, fn, scale, model_channels, alpha, tile=tile, **kw)), 0)


# ---------------------------------------------------------------------------------------------- files


class PNGStream:
    """A PNG written row strip by row strip (8-bit gray, gray+alpha, RGB or RGBA), so the whole image never
    has to be in memory. Rows are Sub-filtered and deflated as they arrive."""

    COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}

    def __init__(self, f, width: int, height: int, channels: int, level: int = 3):
        self.f, self.width, self.height, self.channels = f, width, height, channels
        self.rows = 0
        self.z = zlib.compressobj(level)
        f.write(b"\x89PNG\r\n\x1a\n")
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, self.COLOR_TYPE[channels], 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self.f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    def write(self, strip: np.ndarray) -> None:
        """uint8 (rows, width, channels)."""
        rows = strip.reshape(len(strip), self.width * self.channels)
        sub = rows.copy()
        sub[:, self.channels:] -= rows[:, :-self.channels]   # PNG filter 1 (Sub): each byte minus its left neighbour's
        data = np.concatenate([np.ones((len(rows), 1), np.uint8), sub], 1)
        out = self.z.compress(data.tobytes())
        if out:
            self._chunk(b"IDAT", out)
        self.rows += len(rows)

    def close(self) -> None:
        if self.rows != self.height:
            raise ValueError(f"PNG stream got {self.rows} of {self.height} rows")
        self._chunk(b"IDAT", self.z.flush())
        self._chunk(b"IEND", b"")


@dataclass(frozen=True)
class Decoded:
    """An image for upscaling: colour or gray pixels, alpha kept apart, and what conversion it needed."""
    pixels: np.ndarray            # uint8 (H, W, 1 or 3)
    alpha: np.ndarray | None      # uint8 (H, W)
    note: str                     # "" or e.g. "16-bit converted to 8-bit"


def decode_for_upscale(path: Path) -> Decoded:
    """Decode a file keeping its alpha (not composited) and its grayness; Unusable with the reason otherwise."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        if path.stat().st_size == 0:
            raise Unusable(path, "empty file")
        with _bomb_warnings_as_errors():
            img = Image.open(path)
    except Unusable:
        raise
    except FileNotFoundError:
        raise Unusable(path, "no such file") from None
    except UnidentifiedImageError:
        raise Unusable(path, "not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Unusable(path, _too_large(None)) from None
    except PermissionError:
        raise Unusable(path, "unreadable (permission denied)") from None
    except Exception as e:  # noqa: BLE001  plugins raise many types on broken headers
        raise Unusable(path, f"corrupt image ({_short(e)})") from None
    with img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise Unusable(path, _too_large(w * h))
        deep = any(";16" in str(getattr(t, "args", t[3] if len(t) > 3 else "")) for t in (img.tile or []))
        try:
            img.load()
        except Exception as e:  # noqa: BLE001
            if isinstance(e, EOFError) or "truncat" in str(e):
                raise Unusable(path, "truncated image") from None
            raise Unusable(path, f"corrupt image ({_short(e)})") from None
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # noqa: BLE001  malformed EXIF: keep the pixels unrotated
            pass
        mode = img.mode
        note = "16-bit converted to 8-bit" if deep or mode.startswith("I;16") or mode in ("I", "F") else ""
        alpha = None
        if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA") if mode not in ("LA", "La") else img.convert("LA")
            alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint8)
            if alpha.min() == 255:
                alpha = None  # fully opaque: nothing to keep
            base = rgba.convert("L") if rgba.mode == "LA" else rgba.convert("RGB")
            if base.mode == "RGB" and _is_gray(base):
                base = base.convert("L")
        else:
            base, _ = _uniform_mode(img, (255, 255, 255))
        arr = np.asarray(base, dtype=np.uint8)
    return Decoded(arr[..., None] if arr.ndim == 2 else arr, alpha, note)


def _is_gray(img) -> bool:
    a = np.asarray(img)
    return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())


@dataclass(frozen=True)
class UpscaleResult:
    source: str
    output: str      # '' when it failed
    error: str       # '' when it worked: the reason, in a few words
    note: str = ""   # a conversion made on the way ("16-bit converted to 8-bit")
    size: tuple[int, int] = (0, 0)  # output (width, height)


def upscale_file(src: Path, out_dir: Path, up: Upscaler, *, max_pixels: int = MAX_PIXELS, tile: int = TILE,
                 taken: set | None = None, lock: threading.Lock | None = None,
                 cancel: Callable[[], bool] | None = None) -> UpscaleResult:
    """One file → out_dir/<stem>.png at `up.scale`× its size (a new name if that exists: nothing is overwritten).

    The PNG is streamed into a hidden temporary file and linked to its name only when whole, so a failure
    (full disk, cancel) leaves nothing behind. An output over `max_pixels` is refused before any work.
    """
    from ganstudio.core.checkpoint import _remove, create_temp

    try:
        dec = decode_for_upscale(src)
    except Unusable as e:
        return UpscaleResult(str(src), "", e.reason)
    h, w = dec.pixels.shape[:2]
    oh, ow = h * up.scale, w * up.scale
    if oh * ow > max_pixels:
        return UpscaleResult(str(src), "", f"the ×{up.scale} result would be {ow:,}×{oh:,} = {ow * oh:,} px, over the "
                                           f"decompression limit of {max_pixels:,} px; raise the limit (--max-pixels) to upscale it")
    lock = lock or threading.Lock()
    taken = taken if taken is not None else set()
    with lock:
        target = unique_path(out_dir / f"{src.stem}.png", taken)
        taken.add(target)
    tmp = None
    try:
        tmp, fd = create_temp(target)
        with os.fdopen(fd, "wb") as f:
            png = PNGStream(f, ow, oh, dec.pixels.shape[2] + (dec.alpha is not None))
            with torch.inference_mode():
                for strip in iter_upscaled(dec.pixels, up, up.scale, up.channels, dec.alpha, tile=tile, cancel=cancel):
                    png.write(strip)
            if png.rows != oh:
                _remove(tmp)
                return UpscaleResult(str(src), "", "cancelled")
            png.close()
        _claim(tmp, target)
    except OSError as e:
        if tmp is not None:
            _remove(tmp)
        return UpscaleResult(str(src), "", f"cannot write {target.name}: {e.strerror or e}")
    except (RuntimeError, ValueError) as e:
        if tmp is not None:
            _remove(tmp)
        return UpscaleResult(str(src), "", f"upscaling failed ({str(e).splitlines()[0][:80]})")
    except BaseException:
        if tmp is not None:
            _remove(tmp)
        raise
    return UpscaleResult(str(src), str(target), "", dec.note, (ow, oh))


def _claim(tmp: Path, target: Path) -> None:
    """Give the finished temporary file its name, never replacing a file that appeared there meanwhile."""
    try:
        os.link(tmp, target)  # fails if target exists
    except FileExistsError:
        raise OSError(17, "a file of that name appeared while upscaling", str(target)) from None
    except OSError:  # a file system without hard links: the name was free a moment ago
        if target.exists():
            raise
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def upscale_files(inputs: Sequence[Path], out_dir: Path, up: Upscaler, *, max_pixels: int = MAX_PIXELS,
                  tile: int = TILE, cancel: Callable[[], bool] | None = None) -> Iterator[UpscaleResult]:
    """Upscale files one by one (each streamed), yielding a result per file; a bad file gives its reason and the batch goes on."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[Path] = set()
    for src in inputs:
        if cancel is not None and cancel():
            break
        yield upscale_file(Path(src), out_dir, up, max_pixels=max_pixels, tile=tile, taken=taken, cancel=cancel)

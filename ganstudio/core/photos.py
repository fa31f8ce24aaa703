"""Photographs at their own size for super-resolution: the built-in `photos` set or any folder, random
HR patches with their degraded LR inputs, and the SR papers' scores (PSNR and SSIM on Y, gradient sharpness)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganstudio.core.data import SkippedFile, _plural, _skipped_report
from ganstudio.core.errors import DataError
from ganstudio.core.images import Unusable, _bomb_warnings_as_errors, _decode, image_files
from ganstudio.core.paths import resources_dir
from ganstudio.core.registry import Registry

# Built-in photos kept out of training, so scores are on pictures the model has not seen: two colour, two gray,
# one of them a texture (the hardest case for a ×4 model: gravel's detail is below the LR image's resolution).
BUILTIN_HELD_OUT = ("chelsea", "rocket", "camera", "gravel")
# A user folder keeps every 10th image (sorted by name) for evaluation once it has this many.
HOLD_OUT_FROM = 5


@dataclass(eq=False)  # tensors do not compare with ==
class PhotoSet:
    """Whole photographs, each uint8 (C, H, W) with C the set's channels (grayscale photos repeated in a colour set)."""

    name: str
    images: list[torch.Tensor]
    names: list[str]
    held_out: list[torch.Tensor] = field(default_factory=list)
    held_out_names: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    source: str = ""
    kind: str = "photos"

    @property
    def channels(self) -> int:
        return int(self.images[0].shape[0])

    def __len__(self) -> int:
        return len(self.images)

    def pixels(self) -> int:
        return sum(int(t.shape[1] * t.shape[2]) for t in self.images)

    def summary(self) -> str:
        sides = [max(t.shape[1:]) for t in self.images]
        text = (f"{self.name}: {_plural(len(self.images), 'photo')} of {min(sides)}–{max(sides)} px, "
                f"{'RGB' if self.channels == 3 else 'grayscale'}, {self.pixels() / 1e6:.1f} Mpx")
        if self.held_out:
            text += f" (+{len(self.held_out)} held out: {', '.join(self.held_out_names[:6])})"
        if self.skipped:
            text += f" + {_plural(len(self.skipped), 'file')} skipped"
        return text

    fit_summary = summary

    def thumbnails(self, count: int, side: int = 96) -> torch.Tensor:
        """Up to `count` photos, each its centre square resized to side×side: (N, C, side, side) in [-1, 1]."""
        out = []
        for t in self.images[:: max(1, len(self.images) // max(1, count))][:count]:
            h, w = t.shape[1:]
            s = min(h, w)
            sq = t[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].float()[None] / 127.5 - 1
            out.append(F.interpolate(sq, size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0])
        return torch.stack(out).clamp(-1, 1)

    def skipped_report(self, limit: int = 10) -> str:
        return _skipped_report(self.skipped, self.source, limit)


PHOTO_SETS: Registry[tuple[str, str]] = Registry("photo set")  # name → (description, folder under resources/)
PHOTO_SETS.register("photos", (
    "16 public-domain / CC0 photographs and textures (7 colour, 9 grayscale, 172–1411 px) for super-resolution; "
    f"{', '.join(BUILTIN_HELD_OUT)} are held out", "datasets/photos"))


def list_photo_sets() -> list[tuple[str, str]]:
    return [(name, desc) for name, (desc, _) in PHOTO_SETS.items()]


def load_photos(spec: str, channels: int = 0, min_side: int = 16) -> PhotoSet:
    """A built-in photo set by name or a folder of photos (recursively; any format, mode and size Pillow reads).

    channels 0: 3 if any photo is in colour, else 1. Photos smaller than `min_side` on a side are skipped,
    with the reason. Raises DataError when nothing usable is left.
    """
    if channels not in (0, 1, 3):
        raise DataError(f"channels must be 1 (grayscale), 3 (colour) or 0 for the photos' own (got {channels})")
    spec = str(spec)
    builtin = spec in PHOTO_SETS or (not Path(spec).expanduser().exists() and spec.lower() in PHOTO_SETS)
    if builtin:
        folder = resources_dir() / PHOTO_SETS.get(spec.lower())[1]
        source = "built-in (see resources/datasets/README.md)"
    else:
        folder = Path(spec).expanduser()
        if not folder.exists():
            raise DataError(f"no such photo folder or set: {spec}; built-in: {', '.join(PHOTO_SETS.names())}")
        if not folder.is_dir():
            raise DataError(f"{spec}: not a folder; give a folder of photos or a built-in set ({', '.join(PHOTO_SETS.names())})")
        source = str(folder)
    files = image_files(folder)
    decoded, skipped = [], []
    with _bomb_warnings_as_errors():
        for p in files:
            try:
                arr, gray, _ = _decode(p, 0, 0, (255, 255, 255), fit=False)
            except Unusable as e:
                skipped.append(SkippedFile(str(p), e.reason))
                continue
            if min(arr.shape[:2]) < min_side:
                skipped.append(SkippedFile(str(p), f"too small for super-resolution ({arr.shape[1]}×{arr.shape[0]} px, "
                                                   f"at least {min_side} px a side)"))
                continue
            decoded.append((p, arr, gray))
    if not decoded:
        why = f"; {len(skipped)} skipped, e.g. {Path(skipped[0].path).name}: {skipped[0].reason}" if skipped else ""
        raise DataError(f"{spec}: no usable photos{why}")
    c = channels or (1 if all(g for _, _, g in decoded) else 3)
    names = [p.stem for p, _, _ in decoded]
    if builtin:
        held = [i for i, n in enumerate(names) if n in BUILTIN_HELD_OUT]
    else:
        held = list(range(9, len(decoded), 10)) if len(decoded) >= HOLD_OUT_FROM else []
        if len(decoded) >= HOLD_OUT_FROM and not held:
            held = [len(decoded) - 1]
    tensors = [_chw(arr, c) for _, arr, _ in decoded]
    keep = [i for i in range(len(decoded)) if i not in held]
    return PhotoSet(spec, [tensors[i] for i in keep], [names[i] for i in keep],
                    [tensors[i] for i in held], [names[i] for i in held], skipped, source)


def _chw(arr: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 (H, W, C) → uint8 (channels, H, W): gray repeated to RGB, or RGB to luma."""
    if arr.shape[2] != channels:
        if channels == 3:
            arr = np.repeat(arr, 3, axis=2)
        else:
            arr = (arr[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)[..., None]
    return torch.from_numpy(np.array(arr, dtype=np.uint8)).permute(2, 0, 1).contiguous()  # a writable copy


# ---------------------------------------------------------------------------------------------- patches


class PatchSampler:
    """Random HR patches: a photo drawn uniformly (so one large photo does not dominate), a position in it
    uniformly, and one of the 8 flips/quarter turns. Its own RNG, saved in checkpoints: a resume sees the
    same patches. In a distributed job each rank draws from its own stream (`batch_size` is per rank); the
    checkpoint holds rank 0's, and the other ranks derive theirs from it on a resume."""

    def __init__(self, images: list[torch.Tensor], patch: int, batch_size: int, seed: int, rank: int = 0):
        self.rank = rank
        self.images = [t for t in images if min(t.shape[1:]) >= patch]
        if not self.images:
            biggest = max(min(t.shape[1:]) for t in images)
            raise DataError(f"every photo is smaller than a {patch}-px training patch (the largest short side is "
                            f"{biggest} px); lower lr_patch or use larger photos")
        self.patch, self.batch_size = patch, batch_size
        self.gen = torch.Generator().manual_seed(seed + 7919 * rank)

    def next(self) -> torch.Tensor:
        """uint8 (batch, C, patch, patch)."""
        p = self.patch
        r = torch.rand(self.batch_size, 4, generator=self.gen).tolist()
        turns = torch.randint(0, 8, (self.batch_size,), generator=self.gen).tolist()
        out = []
        for (ri, ry, rx, _), t in zip(r, turns):
            img = self.images[min(int(ri * len(self.images)), len(self.images) - 1)]
            h, w = img.shape[1:]
            y, x = int(ry * (h - p + 1)), int(rx * (w - p + 1))
            crop = img[:, y:y + p, x:x + p]
            if t & 4:
                crop = crop.flip(-1)
            out.append(torch.rot90(crop, t & 3, (1, 2)))
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, s: dict) -> None:
        self.gen.set_state(s["gen"])
        if self.rank:  # rank 0's stream, moved to one of this rank's own
            self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=self.gen)) + 7919 * self.rank)


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The SR papers' degradation: bicubic with antialiasing (as MATLAB's imresize), (N, C, H, W) float."""
    return F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)


def upscale_bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image of (N, C, H, W) blurred by its own σ (N,) px, reflect-padded."""
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t[None] ** 2 / (2 * sigma.to(x)[:, None].clamp_min(1e-3) ** 2))
    k = k / k.sum(1, keepdim=True)  # (N, K)
    n, c, h, w = x.shape
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    kk = k.repeat_interleave(c, 0)
    y = F.conv2d(y, kk[:, None, None, :], groups=n * c)
    y = F.conv2d(y, kk[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def jpeg(x: torch.Tensor, quality: list[int]) -> torch.Tensor:
    """Each image of (N, C, H, W) in [-1, 1] through a JPEG encode and decode at its own quality."""
    from PIL import Image

    out = []
    for img, q in zip(x, quality):
        a = ((img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).save(buf, "JPEG", quality=int(q))
        b = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.uint8)
        b = b[..., None] if b.ndim == 2 else b
        out.append(torch.from_numpy(b.copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.device, x.dtype) / 127.5 - 1.0


def degrade(hr: torch.Tensor, scale: int, blur: float = 0.0, noise: float = 0.0, jpeg_quality: int = 0) -> torch.Tensor:
    """HR (N, C, H, W) in [-1, 1] → LR: an optional Gaussian blur (σ up to `blur` HR px), bicubic downscaling,
    optional Gaussian noise (σ up to `noise`/255) and an optional JPEG round trip (quality `jpeg_quality`…95).
    Strengths are drawn per image from torch's RNG, which checkpoints keep."""
    n = len(hr)
    if blur > 0:
        hr = gaussian_blur(hr, 0.2 + torch.rand(n) * max(0.0, blur - 0.2))
    lr = downscale(hr, scale)
    if noise > 0:
        sigma = torch.rand(n, 1, 1, 1, device=lr.device) * (2 * noise / 255)
        lr = lr + torch.randn_like(lr) * sigma
    lr = lr.clamp(-1, 1)
    if jpeg_quality:
        q = torch.randint(jpeg_quality, 96, (n,)).tolist()
        lr = jpeg(lr, q)
    return lr


def modcrop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """(C, H, W) cropped to a multiple of `scale` on each side, as SR test sets are."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


# ---------------------------------------------------------------------------------------------- scores


def _y(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) → float64 Y in [16, 235] (ITU-R BT.601, as MATLAB's rgb2ycbcr); gray is taken as R = G = B."""
    from skimage.color import rgb2ycbcr

    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return rgb2ycbcr(img)[..., 0]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (C, H, W) in [-1, 1] → uint8 (H, W, C), rounded as saving a PNG does."""
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def psnr_ssim(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[float, float]:
    """PSNR (dB) and SSIM on the Y channel with `border` px cropped on every side (the SR papers' convention:
    border = scale), by scikit-image: SSIM with Wang et al.'s Gaussian window σ 1.5 on Y's 8-bit range."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ys, yh = _y(sr), _y(hr)
    if border:
        ys, yh = ys[border:-border, border:-border], yh[border:-border, border:-border]
    psnr = peak_signal_noise_ratio(yh, ys, data_range=255)
    ssim = structural_similarity(yh, ys, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    return float(psnr), float(ssim)


def gradient_magnitude(img: np.ndarray, border: int = 0) -> float:
    """Mean |∇Y| (Sobel, in Y's 8-bit units) of uint8 (H, W, C): how much edge and texture an image carries.
    A blurry upscale falls well below the true image; an over-sharpened one rises above it."""
    from skimage.filters import sobel_h, sobel_v

    y = _y(img)
    g = np.hypot(sobel_h(y), sobel_v(y))
    if border:
        g = g[border:-border, border:-border]
    return float(g.mean())

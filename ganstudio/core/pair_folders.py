"""Translation data from the user's folders: A/ and B/ (or trainA/ and trainB/) sub-folders, paired by
file name or unpaired, or one folder of side-by-side AB images; sizes and channels chosen per side."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ganstudio.core.data import DataError, SkippedFile, _plural, _skipped_report
from ganstudio.core.images import check_memory, decode_full, image_files, uint8_to_unit
from ganstudio.core.translation_data import SEED_B, TranslationData, shuffled

# Native user images larger than this (or of mixed sizes) are fitted to it: a pix2pix U-Net at
# 128 px still trains on a CPU, 256 px (the papers' size) does not.
TRANSLATION_NATIVE_MAX = 128
# auto pairing: A/ and B/ are paired when at least this share of their names match
PAIRED_MATCH_SHARE = 0.9
# a side-by-side AB image is 2:1 give or take this share (odd widths, a cropped column)
AB_RATIO_TOLERANCE = 0.1
# names listed in one problem line before "… and N more"
LIST_LIMIT = 5
# Sub-folder names of the two domains, in order of preference; matched case-insensitively.
DOMAIN_DIRS = (("A", "B"), ("trainA", "trainB"))
# A user's folder keeps this share of its images (pairs) out of training, for `eval` to score.
HELD_OUT_SHARE = 0.1
# ... once it has this many: below it every image is needed for training, and eval says it scores training images.
HELD_OUT_MIN = 20
SEED_HELD = 4321


def _direction_names(folder: Path) -> tuple[str, str]:
    # CycleGAN's folders are named "horse2zebra", "summer2winter_yosemite": keep the words when there.
    left, sep, right = folder.name.partition("2")
    if sep and left.isalpha() and right and "2" not in right and left != right.split("_")[0]:
        return left, right.split("_")[0]
    return "A", "B"


def domain_dirs(spec: str, folder: Path) -> tuple[Path, Path] | None:
    subdirs = {d.name.lower(): d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    for a, b in DOMAIN_DIRS:
        da, db = subdirs.get(a.lower()), subdirs.get(b.lower())
        if da and db:
            return da, db
        if da or db:
            have, lack = (da, b) if da else (db, a)
            raise DataError(f"{spec} has a {have.name}/ sub-folder but no {lack}/ beside it; "
                            f"a translation set needs both domains")
    return None


def _capped(names: list[str], limit: int = LIST_LIMIT) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … and {len(names) - limit:,} more" if len(names) > limit else "")


def _files_by_key(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Image files under folder keyed by their path without suffix ("x", "sub/x"); also the duplicates left out."""
    out: dict[str, Path] = {}
    dups: list[str] = []
    for p in image_files(folder):
        key = p.relative_to(folder).with_suffix("").as_posix()
        if key in out:  # x.png and x.jpg: the first in sorted order wins
            dups.append(p.relative_to(folder).as_posix())
        else:
            out[key] = p
    return out, dups


@dataclass
class _Side:
    """Decoded images of one domain, each possibly shrunk already; sizes are the originals (w, h)."""
    arrays: list[np.ndarray] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    gray: list[bool] = field(default_factory=list)

    def add(self, arr: np.ndarray, gray: bool, image_size: int) -> None:
        h, w = arr.shape[:2]
        self.sizes.append((w, h))
        self.gray.append(gray or _looks_gray(arr))
        self.arrays.append(_preshrink(arr, image_size))


def _looks_gray(arr: np.ndarray) -> bool:
    # RGB files that hold gray pixels (the edge half of edges2shoes, a JPEG of a sketch) count as
    # grayscale; the mean spread tolerates JPEG chroma noise.
    if arr.shape[2] == 1:
        return True
    spread = arr.max(axis=2).astype(np.int16) - arr.min(axis=2)
    return float(spread.mean()) <= 2.0


def _fit(arr: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, C) -> (size, size, C): short side to size, centre crop (as the image-folder loader does)."""
    if arr.shape[0] == size and arr.shape[1] == size:
        return arr
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def _preshrink(arr: np.ndarray, image_size: int) -> np.ndarray:
    # The final size is image_size, or at most the native cap: shrink now, so a folder of 1024 px
    # photos never sits in memory at full size.
    if image_size:
        return _fit(arr, image_size)
    if max(arr.shape[:2]) > TRANSLATION_NATIVE_MAX:
        return _fit(arr, TRANSLATION_NATIVE_MAX)
    return arr


def _decode(path: Path) -> tuple[np.ndarray, bool] | str:
    """Full-size decode (EXIF, palette, alpha, CMYK, 16-bit handled by data.decode_full), or the skip reason."""
    try:
        return decode_full(path)
    except DataError as e:
        return getattr(e, "reason", str(e))


def _native_size(sizes: list[tuple[int, int]]) -> tuple[int, str]:
    distinct = set(sizes)
    if len(distinct) == 1:
        w, h = next(iter(distinct))
        if w == h and w <= TRANSLATION_NATIVE_MAX:
            return w, ""
        why = f"{w}×{h} images"
    else:
        why = f"{len(distinct)} different image sizes"
    return TRANSLATION_NATIVE_MAX, f"{why} fitted to {TRANSLATION_NATIVE_MAX} px, the CPU-sized default"


def _stack(side: _Side, size: int, channels: int) -> torch.Tensor:
    ch = channels or (1 if all(side.gray) else 3)
    batch = np.empty((len(side.arrays), size, size, ch), dtype=np.uint8)
    for i, arr in enumerate(side.arrays):
        arr = _fit(arr, size)
        if arr.shape[2] == 3 and ch == 1:
            arr = np.asarray(Image.fromarray(arr).convert("L"), dtype=np.uint8)[:, :, None]
        batch[i] = arr if arr.shape[2] == ch else np.repeat(arr, ch, axis=2)
    return uint8_to_unit(batch).permute(0, 3, 1, 2).contiguous()


def _finish(spec: str, folder: Path, paired: bool, side_a: _Side, side_b: _Side, names: tuple[str, str],
            image_size: int, channels: int, skipped: list[SkippedFile], problems: list[str]) -> TranslationData:
    note = ""
    size = image_size
    if not size:
        size, note = _native_size(side_a.sizes + side_b.sizes)
    a, b = _stack(side_a, size, channels), _stack(side_b, size, channels)
    if not paired:
        b = shuffled(b, SEED_B)  # never index-aligned, even when the folders happen to be
    (a, held_a), (b, held_b) = split_held_out(a, b, paired)
    return TranslationData(spec, paired, a, b, names, skipped, problems, held_out_a=held_a, held_out_b=held_b,
                           source=str(folder), size_note=note)


def split_held_out(a: torch.Tensor, b: torch.Tensor, paired: bool) -> tuple[tuple[torch.Tensor, torch.Tensor | None], ...]:
    """((train_a, held_a), (train_b, held_b)): HELD_OUT_SHARE of a user's images kept out of training, so
    `eval` judges the translator on images it never saw. The same rows every time (a fixed seed); paired
    sets hold out whole pairs. A side with fewer than HELD_OUT_MIN images keeps them all (held None)."""
    def rows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        k = int(n * HELD_OUT_SHARE)
        if n < HELD_OUT_MIN or k < 1:
            return None
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return perm[k:].sort().values, perm[:k].sort().values

    ra = rows(len(a), SEED_HELD)
    rb = ra if paired else rows(len(b), SEED_HELD + 1)
    if ra is None or rb is None:
        return (a, None), (b, None)
    return ((a[ra[0]].contiguous(), a[ra[1]].contiguous()), (b[rb[0]].contiguous(), b[rb[1]].contiguous()))


def load_domain_folders(spec: str, folder: Path, dirs: tuple[Path, Path], image_size: int, channels: int,
                         paired: bool | None) -> TranslationData:
    dir_a, dir_b = dirs
    la, lb = dir_a.name, dir_b.name
    files_a, dups_a = _files_by_key(dir_a)
    files_b, dups_b = _files_by_key(dir_b)
    if not files_a or not files_b:
        empty = la if not files_a else lb
        raise DataError(f"no usable pair in {spec}: {empty}/ holds no image files")
    problems: list[str] = []
    for label, dups in ((la, dups_a), (lb, dups_b)):
        if dups:
            problems.append(f"{_plural(len(dups), 'file')} in {label} repeat another file's name "
                            f"with a different extension (left out): {_capped(dups)}")
    common = sorted(files_a.keys() & files_b.keys())
    if paired is None:
        paired = len(common) >= PAIRED_MATCH_SHARE * len(files_a.keys() | files_b.keys())
    n = 2 * len(common) if paired else len(files_a) + len(files_b)
    check_memory(spec, n, channels or 3, image_size or TRANSLATION_NATIVE_MAX, bytes_per_value=5)
    skipped: list[SkippedFile] = []
    side_a, side_b = _Side(), _Side()

    if paired:
        if not common:
            raise DataError(f"no usable pair in {spec}: none of the {len(files_a):,} files in {la}/ has a partner "
                            f"with the same name in {lb}/ (e.g. {files_a[min(files_a)].name} vs "
                            f"{files_b[min(files_b)].name}); load it unpaired (paired=False)")
        for label, other, root, files, partners in ((la, lb, dir_a, files_a, files_b),
                                                    (lb, la, dir_b, files_b, files_a)):
            lonely = [files[k].relative_to(root).as_posix() for k in sorted(files.keys() - partners.keys())]
            if lonely:
                verb = "has" if len(lonely) == 1 else "have"
                problems.append(f"{_plural(len(lonely), 'file')} in {label} {verb} no partner in {other}: "
                                f"{_capped(lonely)}")
        unreadable, mismatched = [], []
        for key in common:
            pa, pb = files_a[key], files_b[key]
            ra, rb = _decode(pa), _decode(pb)
            for p, r in ((pa, ra), (pb, rb)):
                if isinstance(r, str):
                    skipped.append(SkippedFile(str(p), r))
            if isinstance(ra, str) or isinstance(rb, str):
                unreadable.append(key)
                continue
            side_a.add(ra[0], ra[1], image_size)
            side_b.add(rb[0], rb[1], image_size)
            (wa, ha), (wb, hb) = side_a.sizes[-1], side_b.sizes[-1]
            if (wa, ha) != (wb, hb):
                mismatched.append(f"{la}/{pa.name} {wa}×{ha} vs {lb}/{pb.name} {wb}×{hb}")
        if unreadable:
            problems.append(f"{_plural(len(unreadable), 'pair')} left out because one side could not be read "
                            f"(see skipped files): {_capped(unreadable)}")
        if mismatched:
            head = "size mismatch" if len(mismatched) == 1 else f"size mismatch in {len(mismatched):,} pairs"
            problems.append(f"{head}: {_capped(mismatched)} (resized to the model size)")
        if not side_a.arrays:
            raise DataError(f"no usable pair in {spec}: every pair has an unreadable side; "
                            f"{_skipped_report(skipped, str(folder))}")
    else:
        for label, files, side in ((la, files_a, side_a), (lb, files_b, side_b)):
            for key in sorted(files):
                r = _decode(files[key])
                if isinstance(r, str):
                    skipped.append(SkippedFile(str(files[key]), r))
                else:
                    side.add(r[0], r[1], image_size)
            if not side.arrays:
                raise DataError(f"no usable image in {spec}/{label}: {_skipped_report(skipped, str(folder))}")
    return _finish(spec, folder, paired, side_a, side_b, _direction_names(folder), image_size, channels,
                   skipped, problems)


def load_side_by_side(spec: str, folder: Path, image_size: int, channels: int,
                       paired: bool | None) -> TranslationData:
    """pix2pix's format: every image holds A on its left half and B on its right half."""
    files = image_files(folder)
    if not files:
        raise DataError(f"no usable pair in {spec}: no A/ and B/ (or trainA/ and trainB/) sub-folders, "
                        "and no image files")
    check_memory(spec, 2 * len(files), channels or 3, image_size or TRANSLATION_NATIVE_MAX, bytes_per_value=5)
    skipped: list[SkippedFile] = []
    side_a, side_b = _Side(), _Side()
    not_ab: list[str] = []
    decoded = 0
    for p in files:
        r = _decode(p)
        if isinstance(r, str):
            skipped.append(SkippedFile(str(p), r))
            continue
        decoded += 1
        arr, gray = r
        h, w = arr.shape[:2]
        if abs(w / (2 * h) - 1) > AB_RATIO_TOLERANCE:
            not_ab.append(f"{p.relative_to(folder).as_posix()} {w}×{h}")
            continue
        half = w // 2
        # An odd width drops the middle column, so both halves are the same size.
        side_a.add(np.ascontiguousarray(arr[:, :half]), gray, image_size)
        side_b.add(np.ascontiguousarray(arr[:, w - half:]), gray, image_size)
    if not decoded:
        raise DataError(f"no usable pair in {spec}: {_skipped_report(skipped, str(folder))}")
    if len(side_a.arrays) < PAIRED_MATCH_SHARE * decoded:
        raise DataError(f"no usable pair in {spec}: no A/ and B/ (or trainA/ and trainB/) sub-folders, and only "
                        f"{len(side_a.arrays):,} of {decoded:,} images are side-by-side AB pairs "
                        f"(width twice the height)")
    problems = []
    if not_ab:
        problems.append(f"{_plural(len(not_ab), 'image')} not side by side (width not twice the height), "
                        f"left out: {_capped(not_ab)}")
    return _finish(spec, folder, paired is not False, side_a, side_b, _direction_names(folder), image_size,
                   channels, skipped, problems)

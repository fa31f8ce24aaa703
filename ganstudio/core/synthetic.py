"""A labelled synthetic dataset from a conditional generator: one folder of PNGs per class.

The folder is what GAN Studio (and torchvision's ImageFolder) read as a labelled dataset, so it
can augment a real training set or train a classifier directly. Beside the class folders:
`labels.csv` (file, class index, class name) and `dataset.json` (which checkpoint, step, seed and
how many images made it). The folder is written under a temporary name and renamed when complete,
so an interrupted export never leaves a half dataset under the name asked for, and an existing
non-empty folder is never written into.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

import ganstudio

from ganstudio.core.errors import UserError

BATCH = 500


class SyntheticDatasetError(UserError):
    """A dataset export that cannot be done as asked; str(e) is one clear line."""


@dataclass
class SyntheticDataset:
    path: Path
    counts: dict[str, int]  # class folder -> images
    step: int
    seconds: float
    tstr: float | None = None  # accuracy on real held-out images of a classifier trained on these, no augmentation
    tstr_augmented: float | None = None  # the same with random affine augmentation (which adds variety of its own)
    tstr_real: float | None = None  # the same recipe trained on real images
    tstr_note: str = ""  # why there is no TSTR, or which judge was used


def folder_name(name: str, index: int) -> str:
    """A class name as a portable folder name ('T-shirt/top' → 'T-shirt_top'); the index if nothing is left."""
    safe = re.sub(r"[^\w.+-]+", "_", name).strip("._")
    return safe or str(index)


def export_dataset(checkpoint: str | Path, out: str | Path, n: int, *, seed: int = 0, psi: float = 1.0,
                   tstr: bool = True, progress: Callable[[str], None] | None = None) -> SyntheticDataset:
    """Write n generated images (classes balanced) of a conditional checkpoint as class folders of PNGs."""
    from ganstudio.core.inference import load_generator

    say = progress or (lambda _msg: None)
    out = Path(out)
    if n < 1:
        raise SyntheticDatasetError(f"-n must be at least 1, not {n}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SyntheticDatasetError(f"{out} already exists and is not an empty folder; choose a new folder "
                                    "(nothing was overwritten)")
    if not out.parent.is_dir():
        raise SyntheticDatasetError(f"folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise SyntheticDatasetError(f"cannot write to {out.parent}: permission denied")
    gen = load_generator(str(checkpoint))
    if not gen.num_classes:
        raise SyntheticDatasetError("--export-dataset needs a conditional model (one that takes a class, like "
                                    "cgan-mnist); this one was trained without labels")
    if gen.kind != "image":
        raise SyntheticDatasetError("--export-dataset needs an image model")
    K = gen.num_classes
    names = list(gen.classes) if len(gen.classes) == K else [str(k) for k in range(K)]
    folders = [folder_name(c, k) for k, c in enumerate(names)]
    if len(set(folders)) < K:  # two class names that differ only in punctuation
        folders = [f"{k:02d}_{f}" for k, f in enumerate(folders)]

    t0 = time.perf_counter()
    labels = torch.arange(n) % K  # balanced: the first n % K classes get one more
    g = torch.Generator().manual_seed(seed)
    tmp = out.parent / f".{out.name}.part-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    xs = []
    try:
        for f in folders:
            (tmp / f).mkdir(parents=True)
        rows = io.StringIO()
        table = csv.writer(rows, lineterminator="\n")
        table.writerow(["file", "class_index", "class_name"])
        index = [0] * K
        with torch.inference_mode():
            for i in range(0, n, BATCH):
                y = labels[i:i + BATCH]
                z = torch.randn(len(y), gen.z_dim, generator=g) * psi
                x = gen.G(z, y).float().clamp(-1, 1)
                u8 = ((x + 1) * 127.5).round().to(torch.uint8)  # what the PNGs hold, exactly
                xs.append(u8)
                for img, k in zip(u8.numpy(), y.tolist()):
                    rel = f"{folders[k]}/{index[k]:06d}.png"
                    index[k] += 1
                    arr = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
                    Image.fromarray(arr).save(tmp / rel, optimize=False)
                    table.writerow([rel, k, names[k]])
                say(f"{min(i + BATCH, n):,} / {n:,} images")
        (tmp / "labels.csv").write_text(rows.getvalue(), encoding="utf-8")
        info = {"producer": f"GAN Studio {ganstudio.__version__}", "checkpoint": str(Path(checkpoint).resolve()),
                "step": gen.step, "seed": seed, "truncation": psi, "n": n, "classes": names, "folders": folders}
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if out.is_dir():
            out.rmdir()  # empty (checked above); rename needs the name free
        os.replace(tmp, out)
    except OSError as e:
        raise SyntheticDatasetError(f"cannot write the dataset to {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = SyntheticDataset(out, {f: c for f, c in zip(folders, index)}, gen.step, time.perf_counter() - t0)
    if tstr:
        _score(result, checkpoint, torch.cat(xs), labels, seed, say)
    return result


def _score(result: SyntheticDataset, checkpoint, u8: torch.Tensor, labels: torch.Tensor, seed: int, say) -> None:
    """TSTR of the written images against the run's real data, when a judge exists for it."""
    from ganstudio.core.evaluate import load_run_data
    from ganstudio.core.evaluation import EvalError
    from ganstudio.core.scoring import judge_for, tstr_accuracy
    from ganstudio.core.inference import config_from_checkpoint

    try:
        cfg, _ = config_from_checkpoint(checkpoint)
        data = load_run_data(cfg)
    except (EvalError, ValueError) as e:
        result.tstr_note = f"no TSTR: {e}"
        return
    if data.labels is None:
        result.tstr_note = "no TSTR: the run's dataset has no labels to test on"
        return
    clf, judge = judge_for(data, label_free=False)  # TSTR needs a classifier of the real classes
    if clf is None:
        result.tstr_note = f"no TSTR: {judge}"
        return
    if len(u8) < 10 * len(data.classes):
        result.tstr_note = "no TSTR: too few images to train a classifier (at least 10 per class)"
        return
    say(f"TSTR: training two classifiers (plain and augmented) on the {len(u8):,} exported images")
    x = u8.float() / 127.5 - 1
    result.tstr = tstr_accuracy(x, labels, data, clf, seed, augment=False)
    result.tstr_augmented = tstr_accuracy(x, labels, data, clf, seed)
    result.tstr_real = clf.held_out_accuracy
    result.tstr_note = judge

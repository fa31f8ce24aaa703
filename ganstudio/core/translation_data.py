"""TranslationData: the A → B images a translation family trains on, paired or not, with what was skipped and why."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganstudio.core.data import SkippedFile, _plural, _skipped_report

# fixed seeds: unpaired domains are shuffled so that row i of A and row i of B are unrelated
SEED_B = 5678


@dataclass(eq=False)  # tensors do not compare with ==
class TranslationData:
    name: str
    paired: bool
    a: torch.Tensor  # float32 (N_A, C_A, H, W) in [-1, 1]
    b: torch.Tensor  # paired: (N_A, C_B, H, W), row i is a[i]'s partner; unpaired: (N_B, C_B, H, W)
    direction_names: tuple[str, str]  # ("edges", "fashion"), ("horse", "zebra"), ("A", "B")
    skipped: list[SkippedFile]
    problems: list[str]  # pairing problems, one line each; reported before training, not fatal
    held_out_a: torch.Tensor | None = None  # built-ins: the last 10% kept for evaluation
    held_out_b: torch.Tensor | None = None
    held_out_labels: torch.Tensor | None = None  # built-ins: classes of held_out_b (classifier check)
    source: str = ""  # one line of provenance, or the folder path
    size_note: str = ""  # why native images were fitted to another size, shown in the summary
    judge: str = ""  # built-ins: the image set whose classifier scores translations ("fashion", "animals")

    def summary(self) -> str:
        a_dims = "×".join(str(d) for d in self.a.shape[1:])
        b_dims = "×".join(str(d) for d in self.b.shape[1:])
        if self.paired:
            text = f"{self.name}: {_plural(len(self.a), 'pair')} {a_dims} → {b_dims}"
        else:
            na, nb = self.direction_names
            text = (f"{self.name}: {len(self.a):,} {na} → {len(self.b):,} {nb} images, unpaired, "
                    f"{a_dims} → {b_dims}")
        if self.held_out_a is not None and self.held_out_b is not None:
            ha, hb = len(self.held_out_a), len(self.held_out_b)
            text += f" (+{ha:,} held out)" if self.paired else f" (+{ha:,} / +{hb:,} held out)"
        if self.size_note:
            text += f" ({self.size_note})"
        if self.skipped:
            text += f" + {_plural(len(self.skipped), 'file')} skipped"
        if self.problems:
            text += f", {_plural(len(self.problems), 'pairing problem')}"
        return text

    def fit_summary(self) -> str:
        return self.summary()

    def skipped_report(self, limit: int = 10) -> str:
        return _skipped_report(self.skipped, self.source, limit)


def shuffled(x: torch.Tensor, seed: int) -> torch.Tensor:
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))].contiguous()

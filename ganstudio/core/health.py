"""Training health checks: divergence, an overpowering D, a vanishing G gradient, mode collapse."""

from __future__ import annotations

import torch

from ganstudio.core.events import HealthWarning

# What to try, in the order the classic troubleshooting lists give it.
ADVICE = {
    "nan": "Lower both learning rates (e.g. halve them), then Resume: training rolls back to the last good checkpoint. "
    "WGAN-GP or spectral normalisation are more stable losses.",
    "d_overpowering": "Lower D's learning rate (lr_d), add one-sided label smoothing (0.1) or instance noise, "
    "use DiffAugment on small datasets, or give G more capacity.",
    "vanishing_g_grad": "Use the non-saturating loss (ns) instead of minimax, lower lr_d, add instance noise, "
    "or switch to WGAN-GP / hinge with spectral norm, whose gradients do not vanish.",
    "mode_collapse": "Try minibatch std or minibatch discrimination, lower lr_g, feature matching, "
    "or WGAN-GP; an EMA of G also smooths oscillation between modes.",
}

# where no one can press Resume (the CLI, a distributed job): the run ends and is resumed by hand
NAN_ENDED_ADVICE = ("Resume the run with both learning rates lowered (e.g. halved), e.g. ganstudio train --resume RUN "
                    "--set lr_g=... --set lr_d=...: it continues from the last good checkpoint. "
                    "WGAN-GP or spectral normalisation are more stable losses.")

PERSIST = 5            # consecutive log records a condition must hold before it is reported
D_CONFIDENT = 0.98     # D(x) above this while D(G(z)) below 1 - this: D wins every round
G_GRAD_FLOOR = 1e-3    # G's gradient norm below this fraction of its early level counts as vanished
DIVERSITY_FLOOR = 0.2  # generated samples' spread below this fraction of the real data's
FEATURE_DIVERSITY_FLOOR = 0.5  # an evaluation's feature diversity below this fraction of the real images'
COVERAGE_FLOOR = 0.1  # ... or its coverage below this: few real neighbourhoods hold any sample


def reference_batch(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """A fixed real batch of the samples `x`, whose spread is the yardstick of sample diversity."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[: max(2, min(n, len(x)))]
    return x[idx].float().cpu()


def spread(x: torch.Tensor) -> float:
    """Mean pairwise L2 distance between samples (flattened)."""
    flat = x.reshape(len(x), -1).double()
    if len(flat) < 2:
        return 0.0
    d = torch.cdist(flat, flat)
    return float(d.sum() / (len(flat) * (len(flat) - 1)))


def nan_warning(step: int, last_checkpoint: str, cause: str = "a loss became NaN or infinite",
                paused: bool = True) -> HealthWarning:
    """The divergence warning; `paused` says whether the run waits for the user or ends here."""
    where = f"the last good checkpoint ({last_checkpoint}) is kept" if last_checkpoint else "no checkpoint was saved yet"
    then = "Training is paused" if paused else "Training ends here"
    return HealthWarning(
        step=step, kind="nan",
        message=f"Training diverged at step {step}: {cause}. {then}; {where}.",
        advice=ADVICE["nan"] if paused else NAN_ENDED_ADVICE,
    )


def nonfinite_cause(paths: list[str]) -> str:
    """"3 tensors of G's weights and optimiser g's state became NaN or infinite" for paths from nonfinite_tensors."""
    where = []
    for p in paths:
        kind, name = (p.split("/") + ["", ""])[:2]
        what = {"nets": f"{name}'s weights", "ema": f"{name}'s average", "opts": f"optimiser {name}'s state"}.get(kind, kind)
        if what not in where:
            where.append(what)
    n = len(paths)
    return f"{n} tensor{'s' if n != 1 else ''} of {' and '.join(where)} became NaN or infinite"


class HealthMonitor:
    """Watches logged metrics and sample grids; reports each problem once until it clears."""

    def __init__(self, cfg, output_kind: str, real_ref: torch.Tensor):
        self.cfg = cfg
        self.output_kind = output_kind
        self.real_spread = spread(real_ref) if real_ref is not None else 0.0  # 0: no diversity check
        self.counts = {"d_overpowering": 0, "vanishing_g_grad": 0}
        self.armed = {k: True for k in ADVICE}
        self.g_grad_early: list[float] = []

    def _report(self, kind: str, holds: bool, step: int, message: str) -> HealthWarning | None:
        if not holds:
            self.armed[kind] = True
            return None
        if not self.armed[kind]:
            return None
        self.armed[kind] = False
        return HealthWarning(step=step, kind=kind, message=message, advice=ADVICE[kind])

    def _persistent(self, kind: str, holds: bool) -> bool:
        self.counts[kind] = self.counts[kind] + 1 if holds else 0
        return self.counts[kind] >= PERSIST

    def check_metrics(self, step: int, v: dict[str, float]) -> list[HealthWarning]:
        out = []
        if self.output_kind == "prob" and "d/real" in v and "d/fake" in v:  # a family may log neither
            holds = self._persistent("d_overpowering", v["d/real"] > D_CONFIDENT and v["d/fake"] < 1 - D_CONFIDENT)
            w = self._report(
                "d_overpowering", holds, step,
                f"D is overpowering G: D(x) = {v['d/real']:.3f} on real and D(G(z)) = {v['d/fake']:.3f} on fakes for "
                f"{PERSIST} records in a row, so G gets little useful signal.",
            )
            if w:
                out.append(w)
        g = v.get("grad_norm/g")
        if g is not None:
            if len(self.g_grad_early) < PERSIST:
                self.g_grad_early.append(g)
            else:
                early = max(self.g_grad_early)
                holds = self._persistent("vanishing_g_grad", g < G_GRAD_FLOOR * early or g < 1e-8)
                w = self._report(
                    "vanishing_g_grad", holds, step,
                    f"G's gradient has vanished: its norm is {g:.2e}, under {G_GRAD_FLOOR:g}× its early level ({early:.2e}); "
                    "G has almost stopped learning.",
                )
                if w:
                    out.append(w)
        return out

    def check_evaluation(self, step: int, values: dict[str, float]) -> HealthWarning | None:
        """Collapse judged on features, from an evaluation: pixels miss it (a checkerboard in three colour
        schemes has a real-looking pixel spread), features do not. Fires on the first evaluation that shows it."""
        div, real, cov = values.get("diversity"), values.get("diversity_real"), values.get("coverage")
        if div is None and cov is None:
            return None
        low_div = div is not None and real and div < FEATURE_DIVERSITY_FLOOR * real
        low_cov = cov is not None and cov < COVERAGE_FLOOR
        parts = []
        if low_div:
            parts.append(f"their features are {div / real:.0%} as varied as real images' (below {FEATURE_DIVERSITY_FLOOR:.0%})")
        if low_cov:
            parts.append(f"they cover {cov:.0%} of the real images' neighbourhoods (below {COVERAGE_FLOOR:.0%})")
        return self._report("mode_collapse", bool(parts), step,
                            f"Possible mode collapse at step {step}: {' and '.join(parts)}; G may be producing only a few distinct outputs.")

    def check_samples(self, step: int, samples: torch.Tensor) -> HealthWarning | None:
        # Early samples of a fresh G are all alike by construction; judge only after a warm-up.
        if step < max(200, self.cfg.steps // 10) or self.real_spread <= 0:
            return None
        ratio = spread(samples) / self.real_spread
        return self._report(
            "mode_collapse", ratio < DIVERSITY_FLOOR, step,
            f"Possible mode collapse: the fixed-noise samples are {ratio:.0%} as varied as real data "
            f"(below {DIVERSITY_FLOOR:.0%}); G may be producing only a few distinct outputs.",
        )

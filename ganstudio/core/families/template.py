"""A family to copy: the smallest complete GAN system (an MLP G and D, non-saturating loss).

To add a family: copy this file to `families/NAME.py`, set `name`, and change what differs. Put the
`@register` decorator on the class and the studio finds it: the Setup picker lists it with its
options and tooltips, the curves panel draws its `curves`, `ganstudio train --set family=NAME`
trains it, and sample / Explore / export use its `signature`. Copy `tests/core/test_family_template.py`
beside it for its tests. (This template is not registered, so it stays out of the picker.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core import health, scoring
from ganstudio.core.batches import BatchSampler
from ganstudio.core.families.base import Entry, Family, OptGroup, Phase, Port, Preview, Signature, Terms
from ganstudio.core.models import Generator
from ganstudio.core.options import option
from ganstudio.core.sampling import make_grid, scatter_plot


@dataclass(frozen=True)
class TemplateOptions:
    # every option: a default that works, a group for the Setup form, and the one sentence on why it exists
    z_dim: int = option(16, "model", "Size of the noise vector G turns into a sample.", minimum=1)
    width: int = option(64, "model", "Hidden units in each layer of G and D.", minimum=1)
    fake_weight: float = option(1.0, "loss", "Weight of D's loss on fakes; live, so it can be changed while training.", minimum=0.0, live=True)


class Template(Family):
    name = "template"
    title = "Template (MLP GAN)"
    summary = "The smallest complete family: an MLP generator and discriminator with the non-saturating loss."
    Options = TemplateOptions
    curves = {"Loss": ("loss/d", "loss/g"), "D output": ("d/real", "d/fake")}
    ema_nets = ("G",)          # the loop keeps an EMA of these when cfg.ema > 0
    presets = {}               # name → (summary, overrides), listed by `ganstudio presets`
    # what `ganstudio eval` computes: a generator reuses the generated-sample scores (FD, modes, ...)
    metrics, default_metrics, scores = scoring.GENERATED_METRICS, scoring.GENERATED_DEFAULT, scoring.GENERATED_SCORES
    best_by = "fd"             # the score keep_best ranks checkpoints by
    reference_column = "real vs real"  # what the scores are read against (the eval table heading)

    @classmethod
    def evaluate(cls, req):
        return scoring.score_generator(req)

    # load_data: the base class reads cfg.dataset with load_dataset and passes it through fit_data

    @classmethod
    def describe(cls, cfg, data) -> dict:
        # plain data only: checkpoints keep it, and networks() / signature() rebuild from it alone
        shape = [2] if data.kind == "points" else [data.channels, data.image_size, data.image_size]
        return {"z_dim": cfg.options.z_dim, "width": cfg.options.width, "shape": shape, "kind": data.kind,
                "centers": None if data.centers is None else [list(map(float, c)) for c in data.centers],
                "sigma": data.sigma, "classes": []}

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        w, n = meta["width"], math.prod(meta["shape"])
        out = nn.Tanh() if meta["kind"] == "image" else nn.Identity()
        body = nn.Sequential(nn.Linear(meta["z_dim"], w), nn.ReLU(), nn.Linear(w, n), out, nn.Unflatten(1, tuple(meta["shape"])))
        D = nn.Sequential(nn.Flatten(), nn.Linear(n, w), nn.LeakyReLU(0.2), nn.Linear(w, 1))
        return {"G": Generator(body, meta["z_dim"], out_shape=tuple(meta["shape"])), "D": D}

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        out = Port("points", "points", (2,)) if meta["kind"] == "points" else Port("image", "image", tuple(meta["shape"]))
        return Signature("generate", (Entry("sample", "G", (Port("z", "noise", (meta["z_dim"],)),), (out,)),))

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        return [OptGroup("d", ("D",), "lr_d"), OptGroup("g", ("G",), "lr_g")]

    def __init__(self, cfg, data, meta, device, fast, ctx):
        super().__init__(cfg, data, meta, device, fast, ctx)
        self.x = data.x.to(device)
        self.sampler = BatchSampler(len(self.x), cfg.batch_size, cfg.seed + 1, device, ctx)
        self.fixed_z = torch.randn(cfg.sample_count, meta["z_dim"], generator=torch.Generator().manual_seed(cfg.seed + 2))

    def phases(self) -> list[Phase]:
        return [Phase("d", "d"), Phase("g", "g", frozen=("D",))]

    def loss(self, phase: Phase, repeat: int, nets) -> Terms:
        z = torch.randn(self.sampler.batch_size, self.meta["z_dim"], device=self.device)
        fake = nets.train["G"](z)
        if phase.name == "d":
            real = self.x.index_select(0, self.sampler.next())
            lr, lf = nets.train["D"](real), nets.train["D"](fake.detach())
            loss = F.softplus(-lr).mean() + self.cfg.options.fake_weight * F.softplus(lf).mean()
            return Terms(loss, {"loss/d": loss, "d/real": torch.sigmoid(lr.detach()).mean(),
                                "d/fake": torch.sigmoid(lf.detach()).mean()})
        loss = F.softplus(-nets["D"](fake)).mean()
        return Terms(loss, {"loss/g": loss})

    def parts(self) -> dict:
        return {"sampler": self.sampler}

    def fixed(self) -> dict[str, torch.Tensor]:
        return {"z": self.fixed_z}

    def set_fixed(self, fixed: dict[str, torch.Tensor]) -> None:
        self.fixed_z = fixed["z"]

    def real_reference(self, n: int, seed: int) -> torch.Tensor:
        return health.reference_batch(self.data.x, n, seed)

    @torch.no_grad()
    def preview(self, nets) -> Preview:
        samples = nets["G"](self.fixed_z.to(self.device)).float().cpu()
        if self.meta["kind"] == "points":
            pts = samples.numpy()
            return Preview(samples, scatter_plot(pts, self.data.centers, sigma=self.data.sigma), pts)
        return Preview(samples, make_grid(samples))

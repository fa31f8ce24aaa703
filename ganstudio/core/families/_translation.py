"""What pix2pix and CycleGAN share: paired or unpaired image data, jitter and mirroring, the
input | output | target preview, and image → image entry points. Not a family itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ganstudio.core import health
from ganstudio.core.augment import shift_images
from ganstudio.core.batches import BatchSampler
from ganstudio.core.families.base import Entry, Family, Port, Preview, Signature
from ganstudio.core.options import option
from ganstudio.core.sampling import make_grid
from ganstudio.core.translation_eval import score_translator
from ganstudio.core.translation_models import TranslationSpec, build_generator

PREVIEW_ROWS = 4  # examples per direction in the preview grid
CPU_NOTE = (
    "Translation defaults are sized for a CPU: half-width networks (g_width, d_width 32), built-in sets "
    "at their native 28 px, your own images at up to 128 px. On a GPU, raise image_size, g_width and "
    "d_width (the papers use 256 px and 64).")


@dataclass(frozen=True)
class TranslationOptions:
    g_width: int = option(64, "model", "Base width of G; wider learns more detail but trains slower.", minimum=1)
    d_width: int = option(64, "model", "Base width of D; keep it close to G's so neither overpowers the other.", minimum=1)
    norm: str = option("instance", "translation", "Normalisation in the translation networks: instance norm keeps each image's contrast its own.", choices=("instance", "batch"))
    jitter: int = option(0, "translation", "Random jitter: each training pair is shifted by up to this many pixels (edges reflected), the same shift for A and B when paired; the paper's resize-and-crop, so G sees more variety than the files hold (Isola et al. 2017). 0 = off.", minimum=0, live=True)
    mirror: bool = option(False, "translation", "Mirror training pairs left-right at random (A and B together when paired), as the paper does; leave off for images whose meaning flips (text, digits).", live=True)


def jitter_pairs(a: torch.Tensor, b: torch.Tensor, shift: int, mirror: bool, paired: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """pix2pix's random jitter and mirroring of a batch: each image moves by up to `shift` pixels
    (reflect-padded, so no black borders) and is mirrored with probability 1/2. Paired batches move
    A[i] and B[i] together, so the pair stays aligned. Draws from torch's RNG, which checkpoints keep."""
    def draw(n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        offs = torch.randint(-shift, shift + 1, (n, 2), device=device) if shift else None
        flips = torch.rand(n, device=device) < 0.5 if mirror else None
        return offs, flips

    def apply(x: torch.Tensor, offs: torch.Tensor | None, flips: torch.Tensor | None) -> torch.Tensor:
        if offs is not None:
            mode = "reflect" if shift < min(x.shape[-2:]) else "replicate"
            x = shift_images(x, offs[:, 0], offs[:, 1], shift, shift, mode)
        return x if flips is None else torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)

    oa, fa = draw(len(a), a.device)
    ob, fb = (oa, fa) if paired else draw(len(b), b.device)
    return apply(a, oa, fa), apply(b, ob, fb)


def rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def translation_spec(o, data, reverse: bool = False, **extra) -> dict:
    ca, cb = data.a.shape[1], data.b.shape[1]
    return asdict(TranslationSpec(
        in_channels=cb if reverse else ca, out_channels=ca if reverse else cb, image_size=data.a.shape[-1],
        g_width=o.g_width, d_width=o.d_width, norm=o.norm, **extra))


def image_entry(name: str, net: str, spec: dict, source: str, target: str) -> Entry:
    size = spec["image_size"]
    return Entry(name, net, (Port("image", "image", (spec["in_channels"], size, size), f"in [-1, 1], domain {source}"),),
                 (Port("translated", "image", (spec["out_channels"], size, size), f"in [-1, 1], domain {target}"),),
                 source=source, target=target)


class TranslationFamily(Family):
    """Image → image on paired (pix2pix) or unpaired (CycleGAN) data; a subclass adds the networks and losses."""

    task = "translate"
    generator_kind = "unet"   # translation_models.build_generator kind of the entry networks
    cpu_note = CPU_NOTE

    @classmethod
    def check(cls, cfg) -> None:
        if not cfg.image_size:
            return
        # The networks at the asked size, built on the meta device (no memory) from a stand-in of the
        # data's shape: a size the model refuses is refused before thousands of images are loaded at it.
        from types import SimpleNamespace

        from ganstudio.core.errors import ConfigError

        c, s = cfg.channels or 3, cfg.image_size
        probe = SimpleNamespace(a=torch.empty(1, c, s, s, device="meta"), b=torch.empty(1, c, s, s, device="meta"),
                                paired=True, name=cfg.dataset, direction_names=("A", "B"))
        try:
            with torch.device("meta"):
                cls.networks(cls.describe(cfg, probe))
        except ValueError as e:
            raise ConfigError(f"image_size: {e}") from None

    @classmethod
    def load_data(cls, cfg, seed: int = 0):
        from ganstudio.core.pairs import load_translation_data

        return load_translation_data(cfg.dataset, cfg.image_size, cfg.channels)

    @classmethod
    def evaluate(cls, req):
        return score_translator(req)

    @classmethod
    def entry_network(cls, meta: dict, entry: Entry):
        """Only the network an entry runs (inference loads no discriminator)."""
        spec = meta["spec_ba"] if entry.name == "BtoA" else meta["spec"]
        return build_generator(cls.generator_kind, TranslationSpec(**spec))

    @classmethod
    def _entries(cls, meta: dict, both: bool) -> Signature:
        a, b = meta["direction_names"]
        entries = [image_entry("AtoB", "G", meta["spec"], a, b)]
        if both:
            entries.append(image_entry("BtoA", "F", meta["spec_ba"], b, a))
        return Signature("translate", tuple(entries))

    @staticmethod
    def _upgrade_common(s: dict) -> dict:
        return {
            "meta": {"spec": s["translation_spec"], "spec_ba": s.get("translation_spec_ba"),
                     "direction_names": list(s.get("direction_names", ("A", "B")))},
            "parts": {k: s[k] for k in ("sampler", "sampler_b", "pool_a", "pool_b") if s.get(k) is not None},
            "opts": {"g": s["opt_g"], "d": s["opt_d"]},
            "ema": {},
            "fixed": {},
        }

    def __init__(self, cfg, data, meta, device, fast, ctx):
        super().__init__(cfg, data, meta, device, fast, ctx)
        if fast.pin_memory:
            self.a, self.b = (t.pin_memory().to(device, non_blocking=True) for t in (data.a, data.b))
        else:
            self.a, self.b = data.a.to(device), data.b.to(device)
        self.sampler = BatchSampler(len(self.a), cfg.batch_size, cfg.seed + 1, device, ctx)
        self.sampler_b = None if data.paired else BatchSampler(len(self.b), cfg.batch_size, cfg.seed + 4, device, ctx)
        for smp in (self.sampler, self.sampler_b):
            if smp is not None:
                smp.pin = fast.pin_memory
        # the preview: the first held-out examples (training ones when nothing is held out)
        src_a = data.held_out_a if data.held_out_a is not None and len(data.held_out_a) else data.a
        src_b = data.held_out_b if data.held_out_b is not None and len(data.held_out_b) else data.b
        self.fixed_a, self.fixed_b = src_a[:PREVIEW_ROWS].clone(), src_b[:PREVIEW_ROWS].clone()
        self._scratch: dict = {}

    def parts(self) -> dict:
        return {"sampler": self.sampler, **({"sampler_b": self.sampler_b} if self.sampler_b is not None else {})}

    def data_count(self) -> int:
        return len(self.a)

    def dataset_info(self) -> dict:
        return {"name": self.data.name, "n": len(self.a), "paired": self.data.paired}

    def real_reference(self, n: int, seed: int) -> torch.Tensor:
        return health.reference_batch(self.data.b, n, seed)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (A, B) training batch, jittered and mirrored as the options ask."""
        o = self.cfg.options
        idx = self.sampler.next()
        a = self.a.index_select(0, idx)
        b = self.b.index_select(0, idx if self.sampler_b is None else self.sampler_b.next())
        if o.jitter or o.mirror:
            a, b = jitter_pairs(a, b, o.jitter, o.mirror, paired=self.sampler_b is None)
        return self.fast.images(a), self.fast.images(b)

    @torch.no_grad()
    def preview(self, nets) -> Preview:
        """Rows of input | output | target (pix2pix) or A | G(A) | F(G(A)) and B | F(B) | G(F(B))."""
        gens = [nets[k] for k in ("G", "F") if k in nets]
        was = [m.training for m in gens]
        for m in gens:
            m.eval()
        try:
            rows = [torch.stack(triple, 1).flatten(0, 1) for triple in self.preview_rows(nets)]  # (rows·3, 3, H, W)
            samples = torch.cat(rows).float().cpu()
        finally:
            for m, w in zip(gens, was):
                m.train(w)
        return Preview(samples, make_grid(samples, ncol=3))

    def preview_rows(self, nets) -> list[tuple[torch.Tensor, ...]]:
        raise NotImplementedError


"""InfoGAN (Chen et al. 2016): latent codes made recoverable from the image by a Q head, so each code
becomes a slider that means something (digit, slant, width); with InfoGAN-CR's contrastive regulariser
(Lin et al. 2020) as an option."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core import disentangle, health, scoring
from ganstudio.core.batches import BatchSampler
from ganstudio.core.blocks import apply_spectral_norm, dcgan_init
from ganstudio.core.codes import CodeError, CodeInput, CodeLayout, parse_layout, traverse
from ganstudio.core.errors import ConfigError
from ganstudio.core.evaluation import Evaluation, Score
from ganstudio.core.families.base import Entry, Family, OptGroup, Phase, Port, Preview, Signature, Terms, register
from ganstudio.core.losses import LOSSES
from ganstudio.core.models import Generator, nearest_size, size_levels
from ganstudio.core.options import option
from ganstudio.core.sampling import make_grid

SIZES = (4, 7)  # sides are 4·2^k or 7·2^k (28 px = 7·2², 32 = 4·2³, 64 = 4·2⁴), as for dcgan


@dataclass(frozen=True)
class InfoGANOptions:
    noise_dim: int = option(62, "codes", "Plain noise entries of G's input: what the codes do not explain (the paper's MNIST setup: 62).", minimum=0)
    categorical: str = option("10", "codes", "Categorical codes, as counts of values separated by commas ('10', '10,3'; empty for none): each becomes a picker, e.g. the digit on MNIST.")
    continuous: int = option(2, "codes", "Continuous codes: each becomes a slider, e.g. slant and width on MNIST.", minimum=0)
    continuous_prior: str = option("uniform", "codes", "Prior of the continuous codes: uniform on [-1, 1] (the paper's) or standard normal.", choices=("uniform", "normal"))
    code_names: str = option("", "codes", "Names of the codes, separated by commas, categorical first (empty: category, c1, c2, …); they can be renamed in Explore once the model shows what each one learned.")
    info_weight: float = option(1.0, "loss", "λ of the mutual-information term: how much G and Q are rewarded when Q reads the codes back from the image (the paper's 1).", minimum=0.0, live=True)
    continuous_weight: float = option(0.1, "loss", "The continuous codes' share of λ: their Gaussian log-likelihood is on a larger scale than a categorical code's cross-entropy, so the paper weighs them lower.", minimum=0.0, live=True)
    cr_weight: float = option(0.0, "loss", "InfoGAN-CR's contrastive regulariser (Lin et al. 2020): a network H is shown two images whose codes agree in one code only and must say which; G is rewarded when it can, which makes each code change one thing. Weight α; 0 = plain InfoGAN.", minimum=0.0, live=True)
    cr_start: int = option(0, "loss", "The step from which the contrastive regulariser applies: InfoGAN-CR lets the plain InfoGAN settle first.", minimum=0, live=True)
    loss: str = option("ns", "loss", "The adversarial objective (penalty-free losses only: BatchNorm in D mixes the per-sample gradients a penalty needs).", choices=("ns", "minimax", "lsgan", "hinge"))
    d_norm: str = option("batch", "model", "How D (and InfoGAN-CR's H) are normalised: BatchNorm as in the paper's MNIST networks, or spectral normalisation without BatchNorm as in InfoGAN-CR's reference D, which keeps D from overpowering G on sharp-edged sets such as shapes.", choices=("batch", "spectral"))
    width: int = option(64, "model", "Base width of G and D: channels of G's last hidden layer and D's first, doubling per level (the paper's MNIST networks at 64).", minimum=8)


def code_layout(o: InfoGANOptions) -> CodeLayout:
    try:
        return parse_layout(o.noise_dim, o.categorical, o.continuous, o.continuous_prior, o.code_names)
    except CodeError as e:
        raise ConfigError(str(e)) from None


# ---------------------------------------------------------------------------------------------
# Networks: the paper's MNIST networks, grown by one stride-2 level per doubling of the side


def _bn(kind, ch: int, on: bool) -> list[nn.Module]:
    return [kind(ch)] if on else []


def conv_levels(in_channels: int, size: int, width: int, bn: bool) -> tuple[list[nn.Module], int]:
    """The stride-2 convolutions D and H share, down to the base side: (layers, channels out)."""
    _, levels = size_levels(size, SIZES)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.1, True)]  # (N, w, s/2, s/2)
    ch = width
    for _ in range(levels - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not bn), *_bn(nn.BatchNorm2d, ch * 2, bn), nn.LeakyReLU(0.1, True)]
        ch *= 2
    return layers, ch


class InfoD(nn.Module):
    """D(x) → (logits (N,), Q's output (N, q_dim)): one convolutional body, a real/fake head and a Q head.

    Q's output: the logits of each categorical code, then the mean and log-std of each continuous code.
    """

    def __init__(self, channels: int, size: int, width: int, q_dim: int, norm: str = "batch"):
        super().__init__()
        base, _ = size_levels(size, SIZES)
        bn = norm == "batch"  # "spectral": no BatchNorm here; the family spectral-normalises the weights after init
        layers, ch = conv_levels(channels, size, width, bn)
        layers += [nn.Flatten(), nn.Linear(ch * base * base, 1024, bias=not bn), *_bn(nn.BatchNorm1d, 1024, bn),
                   nn.LeakyReLU(0.1, True)]
        self.body = nn.Sequential(*layers)  # (N, 1024)
        self.head = nn.Linear(1024, 1)
        self.q = nn.Sequential(nn.Linear(1024, 128, bias=not bn), *_bn(nn.BatchNorm1d, 128, bn), nn.LeakyReLU(0.1, True),
                               nn.Linear(128, q_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.head(h).squeeze(1), self.q(h)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, layout: CodeLayout) -> torch.Tensor:
        """What Q reads from images (N, C, H, W): per code, the most likely category (as a float) or the mean."""
        q = self.q(self.body(x)).float()
        out, o = [], 0
        for c in layout.categorical:
            out.append(q[:, o:o + c.size].argmax(1).float())
            o += c.size
        n = len(layout.continuous)
        return torch.stack(out + list(q[:, o:o + n].unbind(1)), 1) if out or n else q[:, :0]


class PairH(nn.Module):
    """InfoGAN-CR's H: two images stacked as channels → logits of which code they share (N, n_codes)."""

    def __init__(self, channels: int, size: int, width: int, n_codes: int, norm: str = "batch"):
        super().__init__()
        base, _ = size_levels(size, SIZES)
        layers, ch = conv_levels(2 * channels, size, width, norm == "batch")
        layers += [nn.Flatten(), nn.Linear(ch * base * base, 256), nn.LeakyReLU(0.1, True), nn.Linear(256, n_codes)]
        self.net = nn.Sequential(*layers)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([a, b], 1))


def build_g(layout: CodeLayout, channels: int, size: int, width: int) -> Generator:
    base, levels = size_levels(size, SIZES)
    ch = width * 2 ** (levels - 1)  # 128 at 7×7 for 28 px (the paper), 256 at 4×4 for 32 px
    layers: list[nn.Module] = [
        CodeInput(layout),  # (N, z_dim) → (N, noise + one-hot categories + continuous values)
        nn.Linear(layout.z_dim, 1024, bias=False), nn.BatchNorm1d(1024), nn.ReLU(True),
        nn.Linear(1024, ch * base * base, bias=False), nn.BatchNorm1d(ch * base * base), nn.ReLU(True),
        nn.Unflatten(1, (ch, base, base)),
    ]
    for _ in range(levels - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]  # (N, C, s, s)
    return Generator(nn.Sequential(*layers), layout.z_dim, out_shape=(channels, size, size))


def q_dim(layout: CodeLayout) -> int:
    return sum(c.size for c in layout.categorical) + 2 * len(layout.continuous)


def info_loss(q: torch.Tensor, layout: CodeLayout, cats: list[torch.Tensor], cont: torch.Tensor,
              continuous_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """−(a lower bound of) the mutual information between codes and image, up to the codes' entropy:
    cross-entropy of each categorical code plus the Gaussian negative log-likelihood of each continuous one."""
    q = q.float()
    total = q.new_zeros(())
    out: dict[str, torch.Tensor] = {}
    o = 0
    if cats:
        ce, acc = q.new_zeros(()), q.new_zeros(())
        for c, y in zip(layout.categorical, cats):
            logits = q[:, o:o + c.size]
            ce = ce + F.cross_entropy(logits, y)
            acc = acc + (logits.detach().argmax(1) == y).float().mean()
            o += c.size
        out["info/categorical"] = ce
        out["info/accuracy"] = acc / len(cats)
        total = total + ce
    n = cont.shape[1]
    if n:
        mu, log_std = q[:, o:o + n], q[:, o + n:o + 2 * n].clamp(-4.0, 2.0)
        nll = (log_std + 0.5 * ((cont.float() - mu) / log_std.exp()).square()).mean(0).sum()
        out["info/continuous"] = nll
        total = total + continuous_weight * nll
    out["loss/info"] = total
    return total, out


def share_one_code(z: torch.Tensor, other: torch.Tensor, layout: CodeLayout, which: torch.Tensor) -> torch.Tensor:
    """`other` with, in each row, the slots of code `which[row]` copied from `z`: pairs that agree in one code."""
    out = other.clone()
    for i, c in enumerate(layout.codes):
        rows = which == i
        o = layout.offset(i)
        out[rows, o:o + c.slots] = z[rows, o:o + c.slots]
    return out


# ---------------------------------------------------------------------------------------------
# What `ganstudio eval` reports

CODE_METRICS = {
    "codes": "the categorical code as a classifier (best matching of its values to the judge's classes) and each "
             "continuous code's rank correlation with slant or width along a traversal",
    "disentanglement": "MIG, SAP and the FactorVAE score of Q's code estimates against the data's known factors (the shapes set)",
}
CODE_SCORES = (
    Score("code_accuracy", "categorical code as classifier", "{:.3f}", "best matching of code values to classes", short="code acc"),
    Score("code_spearman", "continuous codes vs slant/width", "{:.3f}", "|Spearman| of the weakest code along its traversal"),
    Score("mig", "MIG", "{:.3f}", "mutual information gap; 1 = each factor in one code", short="MIG"),
    Score("sap", "SAP", "{:.3f}", "separated attribute predictability", short="SAP"),
    Score("factorvae", "FactorVAE score", "{:.3f}", "majority-vote accuracy"),
)
TRAVERSAL_STEPS = 9
TRAVERSAL_BASES = 200
CODE_SAMPLES = 500  # per categorical value


def code_scores(G: nn.Module, layout: CodeLayout, judge, channels: int, seed: int, out: Evaluation) -> None:
    """`codes`: categorical accuracy through the judge and continuous codes against image moments."""
    g = torch.Generator().manual_seed(seed)
    cat = layout.categorical
    if cat:
        c = cat[0]
        i = layout.codes.index(c)
        n_cls = len(getattr(judge, "classes", ()) or ())
        if judge is None or not hasattr(judge, "predict"):
            out.unavailable["code_accuracy"] = "needs a classifier of the data (a built-in labelled set, or class sub-folders)"
        elif n_cls != c.size:
            out.unavailable["code_accuracy"] = f"{c.name} takes {c.size} values and the classifier knows {n_cls} classes"
        else:
            conf = np.zeros((c.size, n_cls), dtype=np.int64)
            for v in range(c.size):
                z = layout.set(torch.randn(CODE_SAMPLES, layout.z_dim, generator=g), i, v)
                with torch.inference_mode():
                    pred = judge.predict(G(z).float().clamp(-1, 1))
                conf[v] = np.bincount(pred.numpy(), minlength=n_cls)
            acc, mapping = disentangle.best_permutation_accuracy(conf)
            out.values["code_accuracy"] = acc
    cont = layout.continuous
    if cont and channels == 1:
        worst = 1.0
        for c in cont:
            i = layout.codes.index(c)
            values = c.values(TRAVERSAL_STEPS)
            base = torch.randn(TRAVERSAL_BASES, layout.z_dim, generator=g)
            imgs = traverse(G, layout, i, values, base)  # (T · B, 1, H, W), value-major
            m = disentangle.digit_moments(imgs)
            x = torch.tensor(values).repeat_interleave(TRAVERSAL_BASES).view(TRAVERSAL_STEPS, TRAVERSAL_BASES).T
            best = 0.0
            for what in ("slant", "width"):
                rho = disentangle.spearman(x, m[what].view(TRAVERSAL_STEPS, TRAVERSAL_BASES).T)  # (B,)
                r = abs(float(torch.nan_to_num(rho).mean()))
                out.values[f"code_spearman/{c.name}/{what}"] = r
                best = max(best, r)
            worst = min(worst, best)
        out.values["code_spearman"] = worst
    elif cont:
        out.unavailable["code_spearman"] = "slant and width are measured on grayscale images"


def disentanglement_scores(D: InfoD, layout: CodeLayout, data, seed: int, out: Evaluation, say,
                           n_fit: int = 10_000, n_test: int = 5_000, votes: int = 800) -> None:
    """`disentanglement`: MIG, SAP and the FactorVAE score of Q's reading of fresh shapes with known factors
    (disentanglement_lib's sample counts: 10,000 to fit, 5,000 to test; `votes` FactorVAE votes each to fit and test)."""
    if data.factors is None:
        for k in ("mig", "sap", "factorvae"):
            out.unavailable[k] = "needs a dataset with known factors (the built-in shapes set)"
        return
    if len(layout.codes) < 2:
        for k in ("mig", "sap", "factorvae"):
            out.unavailable[k] = "compares codes with each other: the model needs at least 2 codes"
        return
    from ganstudio.core import shapes

    size, channels = data.image_size, data.channels
    rng = np.random.default_rng(seed)

    def represent(f: np.ndarray) -> np.ndarray:
        x = shapes.render(torch.from_numpy(f), size)
        if channels == 3:
            x = x.repeat(1, 3, 1, 1)
        return torch.cat([D.encode(x[i:i + 1000], layout) for i in range(0, len(x), 1000)]).numpy()

    sizes = tuple(data.factor_sizes)
    t0 = time.perf_counter()
    say(f"disentanglement: reading codes from {n_fit + n_test:,} shapes")
    f_tr = np.stack([rng.integers(0, k, n_fit) for k in sizes], 1)
    f_te = np.stack([rng.integers(0, k, n_test) for k in sizes], 1)
    r_tr, r_te = represent(f_tr), represent(f_te)
    out.values["mig"], _ = disentangle.mig(r_tr, f_tr)
    out.values["sap"], _ = disentangle.sap(r_tr, f_tr, r_te, f_te, sizes)
    out.seconds["mig_sap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("disentanglement: FactorVAE votes")
    out.values["factorvae"] = disentangle.factorvae_score(represent, sizes, rng, n_train=votes, n_eval=votes)
    out.seconds["factorvae"] = time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# The family


@register
class InfoGAN(Family):
    """Noise and codes → image; D and Q share one body, and Q learns to read the codes back."""

    name = "infogan"
    title = "InfoGAN (codes you can name)"
    summary = ("A GAN whose generator also takes latent codes that a Q head must read back from the image, "
               "so each code learns one meaningful factor, such as the digit or its slant (Chen et al. 2016).")
    Options = InfoGANOptions
    curves = {
        "Loss": ("loss/d", "loss/g", "loss/info", "loss/cr"),
        "Codes": ("info/accuracy", "info/categorical", "info/continuous", "cr/accuracy"),
        "D output": ("d/real", "d/fake"),
    }
    ema_nets = ("G",)
    metrics = {**scoring.GENERATED_METRICS, **CODE_METRICS}
    default_metrics = (*scoring.GENERATED_DEFAULT, "codes")
    scores = (*scoring.GENERATED_SCORES, *CODE_SCORES)
    best_by, reference_column = "fd", "real vs real"
    cpu_note = "The MNIST preset trains in about 10 CPU-minutes; the shapes presets in about 30 at 32 px."
    presets = {
        "infogan-mnist": ("The paper's MNIST setup (Chen et al. 2016): 62 noise entries, one 10-value code (the digit) and two "
                          "continuous codes (slant, width), lr G 1e-3 / D 2e-4; half the paper's widths and batch 64, so that "
                          "4,000 updates fit in 10 CPU-minutes (the paper's networks at batch 128 made 1,230 in that time, and "
                          "the digit code was still mixing digits). width=64 batch_size=128 is the paper's exactly.",
                          dict(dataset="mnist", family="infogan", noise_dim=62, categorical="10", continuous=2,
                               lr_g=1e-3, lr_d=2e-4, beta1=0.5, beta2=0.999, batch_size=64, width=32, steps=4000,
                               sample_every=250)),
        "infogan-shapes": ("Plain InfoGAN on the shapes set at 32 px: five continuous codes for its five factors, "
                           "with InfoGAN-CR's reference D, spectral-normalised (a BatchNorm D overpowered G "
                           "here and G's pictures decayed into noise), so that the two presets differ only by the regulariser.",
                           dict(dataset="shapes", image_size=32, family="infogan", noise_dim=5, categorical="", continuous=5,
                                d_norm="spectral", lr_g=1e-3, lr_d=2e-4, beta1=0.5, beta2=0.999,
                                batch_size=64, width=32, steps=9000, sample_every=250)),
        "infogan-cr-shapes": ("InfoGAN-CR on the shapes set at 32 px (Lin et al. 2020): the contrastive regulariser makes "
                              "each of the five codes change one factor, the variant that disentangles best in published tables.",
                              dict(dataset="shapes", image_size=32, family="infogan", noise_dim=5, categorical="", continuous=5,
                                   d_norm="spectral", lr_g=1e-3, lr_d=2e-4, beta1=0.5, beta2=0.999,
                                   batch_size=64, width=32, steps=9000, cr_weight=1.0, cr_start=1000, sample_every=250)),
    }

    # ------------------------------------------------------------ declarations

    @staticmethod
    def registries() -> dict:
        return {"loss": LOSSES}

    @classmethod
    def check(cls, cfg) -> None:
        layout = code_layout(cfg.options)
        if cfg.options.cr_weight > 0 and len(layout.codes) < 2:
            raise ConfigError("cr_weight: the contrastive regulariser tells codes apart; it needs at least 2 codes")
        if layout.z_dim > 4096:
            raise ConfigError(f"noise_dim: G's input would have {layout.z_dim} entries; keep it under 4,096")
        if cfg.image_size:
            try:
                size_levels(cfg.image_size, SIZES)
            except ValueError:
                raise ConfigError(f"image_size: infogan builds at 4·2^k or 7·2^k px (28, 32, 64, …), not {cfg.image_size}; "
                                  "or 0 to fit the data") from None

    @classmethod
    def inert(cls, cfg) -> dict[str, str]:
        o, out = cfg.options, {}
        if not o.continuous:
            out["continuous_prior"] = out["continuous_weight"] = "the model has no continuous codes (continuous = 0)"
        if o.cr_weight == 0:
            out["cr_start"] = "the contrastive regulariser is off (cr_weight = 0)"
        return out

    @classmethod
    def fit_data(cls, cfg, data):
        from ganstudio.core.errors import DataError

        if data.kind != "image":
            raise DataError(f"infogan draws images; {data.name} is a set of 2-D points (use the gan family for those)")
        size = nearest_size("dcgan", data.image_size)  # the same sides as dcgan
        return data.resized(size, f"{data.image_size} px → {size} px, the nearest size infogan builds at")

    @classmethod
    def describe(cls, cfg, data) -> dict:
        layout = code_layout(cfg.options)
        return {"codes": layout.to_meta(), "channels": data.channels, "image_size": data.image_size,
                "width": cfg.options.width, "d_norm": cfg.options.d_norm, "classes": list(data.classes)}

    @classmethod
    def layout(cls, meta: dict) -> CodeLayout:
        return CodeLayout.from_meta(meta["codes"])

    @classmethod
    def networks(cls, meta: dict) -> dict[str, nn.Module]:
        layout = cls.layout(meta)
        c, s, w, norm = meta["channels"], meta["image_size"], meta["width"], meta.get("d_norm", "batch")
        nets = {"G": build_g(layout, c, s, w), "D": InfoD(c, s, w, q_dim(layout), norm),
                "H": PairH(c, s, w, len(layout.codes), norm)}
        for m in nets.values():
            dcgan_init(m)  # N(0, 0.02) weights, BN scale N(1, 0.02), as the paper's DCGAN-style networks
        if norm == "spectral":
            apply_spectral_norm(nets["D"])
            apply_spectral_norm(nets["H"])
        return nets

    @classmethod
    def signature(cls, meta: dict) -> Signature:
        layout = cls.layout(meta)
        c, s = meta["channels"], meta["image_size"]
        z = Port("z", "noise", (layout.z_dim,), f"standard normal; entries {layout.noise}.. carry the codes "
                 f"({'; '.join(x.describe() for x in layout.codes)})")
        image = Port("image", "image", (c, s, s), "in [-1, 1]")
        codes = Port("codes", "codes", (len(layout.codes),), "Q's reading: each categorical code's value, each continuous code's mean")
        return Signature("generate", (Entry("sample", "G", (z,), (image,)), Entry("encode", "D", (image,), (codes,))))

    @classmethod
    def groups(cls, cfg) -> list[OptGroup]:
        # H cooperates with G (both are rewarded when H names the shared code), so it steps with G
        return [OptGroup("d", ("D",), "lr_d"), OptGroup("g", ("G", "H"), "lr_g")]

    @classmethod
    def evaluate(cls, req):
        gen_metrics = tuple(m for m in req.metrics if m not in CODE_METRICS)
        if gen_metrics:
            from dataclasses import replace

            out = scoring.score_generator(replace(req, metrics=gen_metrics))
        else:
            gen = req.generator()
            out = Evaluation(checkpoint=req.checkpoint, step=gen.step, n=0)
        layout = cls.layout(req.meta)
        if "codes" in req.metrics:
            t0 = time.perf_counter()
            data = req.data()
            judge, _ = scoring.judge_for(data, req.cache_dir, req.say, label_free=False)
            code_scores(req.generator().G, layout, judge, data.channels, req.seed, out)
            out.seconds["codes"] = time.perf_counter() - t0
        if "disentanglement" in req.metrics:
            from ganstudio.core.inference import load_entry

            D = load_entry(req.checkpoint, "encode").net
            disentanglement_scores(D, layout, req.data(), req.seed, out, req.say)
        said = [out.subject] if out.subject else []
        if "codes" in req.metrics:
            said.append(f"codes: {CODE_SAMPLES} samples per category, {TRAVERSAL_BASES} traversals per continuous code")
        if "disentanglement" in req.metrics and "mig" in out.values:
            said.append("15,000 fresh shapes read by Q")
        out.subject = "; ".join(said)
        return out

    # ------------------------------------------------------------ training

    def __init__(self, cfg, data, meta, device, fast, ctx):
        super().__init__(cfg, data, meta, device, fast, ctx)
        self.codes = self.layout(meta)
        self.x = data.x.to(device)
        self.sampler = BatchSampler(len(self.x), cfg.batch_size, cfg.seed + 1, device, ctx)
        self.columns = 10
        self.fixed_z = torch.randn(self.columns, self.codes.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 2))
        self._fake = None

    def phases(self) -> list[Phase]:
        return [Phase("d", "d"), Phase("g", "g", frozen=("D",))]

    def parts(self) -> dict:
        return {"sampler": self.sampler}

    def fixed(self) -> dict[str, torch.Tensor]:
        return {"z": self.fixed_z}

    def set_fixed(self, fixed: dict[str, torch.Tensor]) -> None:
        self.fixed_z = fixed["z"]

    def real_reference(self, n: int, seed: int) -> torch.Tensor:
        return health.reference_batch(self.data.x, n, seed)

    def dataset_info(self) -> dict:
        return {"name": self.data.name, "n": len(self.data), "kind": "image"}

    def loss(self, phase: Phase, repeat: int, nets) -> Terms:
        o, adv, fp = self.cfg.options, LOSSES.get(self.cfg.options.loss), self.fast
        B = self.sampler.batch_size
        if phase.name == "d":
            real = fp.images(self.x.index_select(0, self.sampler.next()))
            z = torch.randn(B, self.codes.z_dim, device=self.device)
            fake = nets.train["G"](z)  # kept for the G step: one G forward serves both
            self._fake = (z, fake)
            lr_, _ = nets.train["D"](real)
            lf_, q = nets.train["D"](fake.detach())
            cats, cont = self.codes.decode(z)
            info, vals = info_loss(q, self.codes, cats, cont, o.continuous_weight)
            loss_d = adv.d_loss(lr_, lf_)
            out = {"loss/d": loss_d, **{k: v for k, v in vals.items() if k.startswith("info/")}}
            if adv.output == "prob":
                out["d/real"], out["d/fake"] = torch.sigmoid(lr_.detach()).mean(), torch.sigmoid(lf_.detach()).mean()
            else:
                out["d/real"], out["d/fake"] = lr_.detach().mean(), lf_.detach().mean()
            return Terms(loss_d + o.info_weight * info, out)
        z, fake = self._fake
        self._fake = None
        lf, q = nets.train["D"](fake)
        cats, cont = self.codes.decode(z)
        info, vals = info_loss(q, self.codes, cats, cont, o.continuous_weight)
        loss_g = adv.g_loss(lf)
        total = loss_g + o.info_weight * info
        out = {"loss/g": loss_g, "loss/info": vals["loss/info"]}
        if o.cr_weight > 0 and self.step >= o.cr_start:
            half = max(1, B // 2)
            which = torch.randint(len(self.codes.codes), (half,), device=self.device)
            z2 = share_one_code(z[:half], torch.randn(half, self.codes.z_dim, device=self.device), self.codes, which)
            logits = nets.train["H"](fake[:half], nets.train["G"](z2))
            cr = F.cross_entropy(logits.float(), which)
            out["loss/cr"] = cr
            out["cr/accuracy"] = (logits.detach().argmax(1) == which).float().mean()
            total = total + o.cr_weight * cr
        return Terms(total, out)

    # ------------------------------------------------------------ preview

    @torch.no_grad()
    def preview(self, nets) -> Preview:
        """Rows are the values of the first categorical code, columns the fixed latents; without a
        categorical code, each row traverses one continuous code over its prior's range."""
        G = nets["G"]
        was = G.training
        G.eval()
        try:
            base = self.fixed_z.to(self.device)
            if self.codes.categorical:
                i = self.codes.codes.index(self.codes.categorical[0])
                imgs = traverse(G, self.codes, i, self.codes.codes[i].values(), base)
                ncol = len(base)
            else:
                rows = []
                for i, c in enumerate(self.codes.codes):
                    vals = c.values(self.columns)
                    z = torch.cat([self.codes.set(base[:1], i, v) for v in vals])
                    rows.append(G(z).float())
                imgs, ncol = torch.cat(rows), self.columns
        finally:
            G.train(was)
        imgs = imgs.cpu()
        return Preview(imgs, make_grid(imgs, ncol=ncol))

